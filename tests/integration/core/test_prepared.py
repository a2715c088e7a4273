"""Prepared statements give what SQLAlchemy gives: the same rows, converted the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Boolean, Column, Connection, Date, Float, Integer, MetaData, Table, Text, bindparam, insert, select

from citybrain.core.db.prepared import Prepared
from citybrain.core.db.session import Database
from citybrain.core.db.types import JSONType, UTCDateTime


def test_a_prepared_select_reads_what_sqlalchemy_reads(connection: Connection, db: Database) -> None:
    table = Table(
        "test_prepared",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", Text),
        Column("born", Date),
        Column("seen", UTCDateTime()),
        Column("active", Boolean),
        Column("score", Float),
        Column("extra", JSONType),
    )
    table.create(connection)
    rows = [
        {"id": 1, "name": "张三", "born": date(1990, 1, 2), "seen": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "active": True},
        {"id": 2, "name": None, "born": None, "seen": None, "active": False, "score": 1.5, "extra": {"k": ["v", 1]}},
    ]
    connection.execute(insert(table), [{"score": None, "extra": None, **r} for r in rows])
    stmt = select(table).where(table.c.id >= bindparam("low")).order_by(table.c.id).limit(bindparam("size", type_=Integer()))

    prepared = Prepared(stmt, connection.dialect)
    expected = [tuple(r) for r in connection.execute(stmt, {"low": 1, "size": 5})]

    assert prepared.rows(db.read_connection(), {"low": 1, "size": 5}) == expected
    assert expected[0][3] == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert prepared.rows(db.read_connection(), {"low": 2, "size": 5}) == expected[1:]

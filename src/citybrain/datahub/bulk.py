"""Writing validated rows into a resource's table in bulk, numbering every change.

Two ways, chosen when the load starts (with the resource's row locked, so the answer holds):

- **first load**, into an empty table: each batch goes straight into the table as soon as it is
  validated, its rows numbered in file order — on PostgreSQL by ``COPY`` of a CSV that Polars
  writes, on SQLite by ``executemany`` of plain tuples. The change rows follow: on PostgreSQL
  by ``COPY`` batch by batch, on SQLite by one ``INSERT … SELECT`` from the table at the end; the
  caller builds the key index last, which is several times faster than keeping it up row by row;
- **merge**, into a table that has rows: the batches go the same way into a temporary staging
  table, and a few set-based statements do the rest inside the database: find the new keys and
  the changed rows, number them (inserts in file order, then updates in file order, then — when
  replacing — deletes in key order), insert, update, delete and log the changes. (``UPDATE … FROM``
  needs SQLite 3.33 or later.)

For the same file into an empty table both ways give the same table and the same change rows
(tested). A merge writes nothing to the resource's table until the whole file has proved valid; a
first load stops writing at the first problem and the caller's savepoint undoes what it wrote.
Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import polars as pl
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from citybrain.core.db.base import utcnow
from citybrain.core.db.types import UTCDateTime
from citybrain.datahub import tables
from citybrain.datahub.models import Change, Resource
from citybrain.datahub.schemas import TableSchema

#: the file order of a staged row
ORD = "_ord"
_CHANGES: Table = Change.__table__  # type: ignore[assignment]


@dataclass
class Counts:
    """What a load did to the table, in rows."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


def choose(connection: Connection, table: Table) -> Literal["first_load", "merge"]:
    """First load into an empty table, merge into one with rows."""
    key = next(iter(table.c))
    return "merge" if connection.execute(select(key).limit(1)).first() is not None else "first_load"


# -- how rows reach a table: the driver's bulk path --------------------------------------------------


class _Sink(Protocol):
    def write(self, frame: pl.DataFrame) -> None: ...


class _ExecuteManySink:
    """SQLite: ``executemany`` of plain tuples (Polars makes them in Rust), with dates and
    timestamps as the text SQLAlchemy's SQLite types store."""

    def __init__(self, raw: Any, table: str, columns: list[str], types: dict[str, str]) -> None:
        self.raw, self.columns, self.types = raw, columns, types
        quoted = ", ".join(f'"{c}"' for c in columns)
        self.sql = f'INSERT INTO "{table}" ({quoted}) VALUES ({", ".join("?" for _ in columns)})'  # noqa: S608 - our names

    def write(self, frame: pl.DataFrame) -> None:
        frame = frame.select(self.columns).with_columns(
            [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in self.types.items() if t == "date"]
            + [pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%6f") for c, t in self.types.items() if t == "datetime"]
        )
        cursor = self.raw.cursor()
        try:
            cursor.executemany(self.sql, frame.iter_rows())
        finally:
            cursor.close()


class _CopySink:
    """PostgreSQL: ``COPY … FROM STDIN (FORMAT csv)`` of each batch, the CSV written by Polars.
    Validation turned empty strings into nulls, and an unquoted empty CSV field is NULL to COPY."""

    def __init__(self, raw: Any, table: str, columns: list[str], types: dict[str, str]) -> None:
        self.raw, self.columns, self.types = raw, columns, types
        quoted = ", ".join(f'"{c}"' for c in columns)
        self.sql = f'COPY "{table}" ({quoted}) FROM STDIN WITH (FORMAT csv)'

    def write(self, frame: pl.DataFrame) -> None:
        utc = [
            pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00") for c, t in self.types.items() if t == "datetime"
        ]
        body = frame.select(self.columns).with_columns(utc).write_csv(include_header=False, null_value="").encode()
        with self.raw.cursor() as cursor, cursor.copy(self.sql) as copy:
            copy.write(body)


def _sink(session: Session, table: Table, columns: list[str], types: dict[str, str]) -> _Sink:
    raw = session.connection().connection.dbapi_connection
    if session.get_bind().dialect.name == "postgresql":
        return _CopySink(raw, table.name, columns, types)
    return _ExecuteManySink(raw, table.name, columns, types)


# -- the load ----------------------------------------------------------------------------------------


class BulkLoad:
    """One import's writes into one resource's table (see the module's description): ``add`` each
    validated batch in file order, then ``finish`` once the whole file has proved valid."""

    def __init__(self, session: Session, resource: Resource, table: Table, schema: TableSchema, *, import_id: int) -> None:
        self.session, self.resource, self.table, self.schema, self.import_id = session, resource, table, schema, import_id
        self.fields = [f.name for f in schema.fields]
        self.key = list(schema.primary_key)
        self.types = {f.name: f.type for f in schema.fields}
        self.dialect = session.get_bind().dialect.name
        conn = session.connection()
        # Lock the resource's counter for the rest of the transaction (on SQLite the write lock
        # does it): no one else numbers this resource's changes, or writes its table, until commit.
        self.base = int(
            conn.execute(
                update(Resource).where(Resource.id == resource.id).values(change_seq=Resource.change_seq).returning(Resource.change_seq)
            ).scalar_one()
        )
        self.way = choose(conn, table)
        self.rows = 0
        self.at = utcnow()
        if self.way == "first_load":
            self._sink = _sink(session, table, [*self.fields, tables.SEQ], self.types)
        else:
            self.stage = _staging_table(table)
            self.stage.create(conn)
            self._sink = _sink(session, self.stage, [*self.fields, ORD], self.types)
        # PostgreSQL checks the change log's two foreign keys row by row (some 3 µs each: most of
        # a first load's time there), so a first load logs each batch as it goes and the server
        # does that while the next batch is validated. SQLite's checks are cheap, and one
        # INSERT … SELECT at the end is its fastest way (0.6 s a million rows, against 1.8 s
        # by executemany).
        self._log_batches = self.way == "first_load" and self.dialect == "postgresql"
        if self._log_batches:
            self._changes = _sink(session, _CHANGES, ["resource_id", "seq", "op", "key", "import_id", "at"], {})

    def add(self, frame: pl.DataFrame) -> None:
        """Write one batch of validated rows (the file's next rows)."""
        if self.way == "first_load":
            seq = pl.int_range(self.base + 1 + self.rows, self.base + 1 + self.rows + frame.height, dtype=pl.Int64)
            self._sink.write(frame.with_columns(seq.alias(tables.SEQ)))
            if self._log_batches:
                self._changes.write(
                    frame.select(
                        pl.lit(self.resource.id).alias("resource_id"),
                        seq.alias("seq"),
                        pl.lit("insert").alias("op"),
                        self._key_json_expr().alias("key"),
                        pl.lit(self.import_id).alias("import_id"),
                        pl.lit(self.at.strftime("%Y-%m-%d %H:%M:%S.%f+00")).alias("at"),
                    )
                )
        else:
            self._sink.write(frame.with_columns(pl.int_range(self.rows, self.rows + frame.height, dtype=pl.Int64).alias(ORD)))
        self.rows += frame.height

    def finish(self, *, replace: bool) -> Counts:
        """Number and log the changes, and (merge) apply them to the table. ``replace``: rows whose
        keys the file did not hold are deleted too."""
        conn = self.session.connection()
        if self.way == "first_load":
            if not self._log_batches:
                conn.execute(self._log(self.table, self.table.c[tables.SEQ], literal("insert", String(8))))
            counts = Counts(inserted=self.rows)
        else:
            counts = self._merge(conn, replace=replace)
        last = self.base + counts.inserted + counts.updated + counts.deleted
        conn.execute(update(Resource).where(Resource.id == self.resource.id).values(change_seq=last))
        self.session.expire(self.resource, ["change_seq"])
        return counts

    def _merge(self, conn: Connection, *, replace: bool) -> Counts:
        t, s = self.table, self.stage
        same_key = and_(*[t.c[k] == s.c[k] for k in self.key])
        new = t.c[tables.SEQ].is_(None)
        changed = _changed_table(t)
        changed.create(conn)
        order = func.row_number().over(order_by=[case((new, 0), else_=1), s.c[ORD]])
        conn.execute(
            insert(changed).from_select(
                [*self.fields, "_op", "_n"],
                select(*[s.c[f] for f in self.fields], case((new, "insert"), else_="update"), order)
                .select_from(s.outerjoin(t, same_key))
                .where(or_(new, *[s.c[f].is_distinct_from(t.c[f]) for f in self.fields if f not in self.key])),
            )
        )
        inserted, updated = (
            int(n or 0)
            for n in conn.execute(
                select(func.count().filter(changed.c._op == "insert"), func.count().filter(changed.c._op == "update"))
            ).one()
        )
        base = bindparam("base", self.base, type_=BigInteger())
        c_key = and_(*[t.c[k] == changed.c[k] for k in self.key])
        conn.execute(
            insert(t).from_select(
                [*self.fields, tables.SEQ],
                select(*[changed.c[f] for f in self.fields], base + changed.c._n).where(changed.c._op == "insert"),
            )
        )
        if updated:
            values: dict[str, Any] = {f: changed.c[f] for f in self.fields if f not in self.key}
            conn.execute(update(t).values({**values, tables.SEQ: base + changed.c._n}).where(c_key, changed.c._op == "update"))
        conn.execute(self._log(changed, base + changed.c._n, changed.c._op))
        deleted = 0
        if replace:
            # both are probed by key once per row of the table: without an index SQLite would
            # scan them once per row
            Index("ix_datahub_import_stage_key", *[s.c[k] for k in self.key]).create(conn)
            gone = _gone_table(t, self.key)
            gone.create(conn)
            after = inserted + updated
            conn.execute(
                insert(gone).from_select(
                    [*self.key, "_n"],
                    select(*[t.c[k] for k in self.key], after + func.row_number().over(order_by=[t.c[k] for k in self.key])).where(
                        ~exists().where(same_key)
                    ),
                )
            )
            deleted = int(conn.execute(select(func.count()).select_from(gone)).scalar_one())
            Index("ix_datahub_import_gone_key", *[gone.c[k] for k in self.key]).create(conn)
            if deleted:
                conn.execute(self._log(gone, base + gone.c._n, literal("delete", String(8))))
                conn.execute(delete(t).where(exists().where(and_(*[t.c[k] == gone.c[k] for k in self.key]))))
            gone.drop(conn)
        changed.drop(conn)
        s.drop(conn)
        return Counts(inserted=inserted, updated=updated, unchanged=self.rows - inserted - updated, deleted=deleted)

    def _key_json(self, source: Table) -> ColumnElement[Any]:
        """The change row's key as JSON, ``{"field": value}``: numbers as numbers, dates as
        ``YYYY-MM-DD``, timestamps as ISO 8601 in UTC (``…T01:00:00.000000+00:00``), the same on
        both backends and the same as :meth:`_key_json_expr` makes in Polars."""
        parts: list[ColumnElement[Any]] = []
        for k in self.key:
            value: ColumnElement[Any] = source.c[k]
            if self.types[k] == "datetime":
                if self.dialect == "postgresql":
                    value = func.to_char(func.timezone("UTC", value), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
                else:
                    value = func.replace(value, " ", "T").concat("+00:00")
            parts += [literal_column(f"'{k}'"), value]  # field names are [a-z][a-z0-9_]*
        return func.jsonb_build_object(*parts) if self.dialect == "postgresql" else func.json_object(*parts)

    def _key_json_expr(self) -> pl.Expr:
        """:meth:`_key_json` as a Polars expression over a validated batch."""
        parts = []
        for k in self.key:
            value = pl.col(k)
            if self.types[k] == "datetime":
                value = value.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%6f+00:00")
            elif self.types[k] == "date":
                value = value.dt.strftime("%Y-%m-%d")
            parts.append(value.alias(k))
        return pl.struct(parts).struct.json_encode()

    def _log(self, source: Table, seq: ColumnElement[Any], op: ColumnElement[Any]) -> Any:
        """``INSERT INTO datahub_changes … SELECT`` one change row for each row of ``source``."""
        at = bindparam("at", self.at, type_=UTCDateTime())
        rows = select(literal(self.resource.id, Integer()), seq, op, self._key_json(source), literal(self.import_id, Integer()), at)
        return insert(_CHANGES).from_select(["resource_id", "seq", "op", "key", "import_id", "at"], rows)


def _staging_table(table: Table) -> Table:
    columns = [Column(c.name, c.type) for c in table.columns if c.name != tables.SEQ]
    return Table("datahub_import_stage", MetaData(), *columns, Column(ORD, BigInteger()), prefixes=["TEMPORARY"])


def _changed_table(table: Table) -> Table:
    columns = [Column(c.name, c.type) for c in table.columns if c.name != tables.SEQ]
    return Table(
        "datahub_import_changed", MetaData(), *columns, Column("_op", String(8)), Column("_n", BigInteger()), prefixes=["TEMPORARY"]
    )


def _gone_table(table: Table, key: list[str]) -> Table:
    columns = [Column(k, table.c[k].type) for k in key]
    return Table("datahub_import_gone", MetaData(), *columns, Column("_n", BigInteger()), prefixes=["TEMPORARY"])

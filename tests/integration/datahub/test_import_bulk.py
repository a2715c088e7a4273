"""The two ways an import writes (first load into an empty table, merge into one with rows), across
many batches: the same table and change rows either way, numbering, and all-or-nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from citybrain.datahub import bulk, ingest
from citybrain.datahub.models import Change, Resource
from citybrain.datahub.tables import table_name
from tests.builders.datahub import Actors, import_file, make_actors, person_draft

SCHEMA = {
    "fields": [
        {"name": "station", "title": "站点", "sensitivity": "public", "required": True},
        {"name": "observed_at", "title": "时间", "type": "datetime", "sensitivity": "public", "required": True},
        {"name": "day", "title": "日期", "type": "date", "sensitivity": "public"},
        {"name": "aqi", "title": "AQI", "type": "integer", "sensitivity": "public"},
        {"name": "pm25", "title": "PM2.5", "type": "number", "sensitivity": "public"},
        {"name": "ok", "title": "有效", "type": "boolean", "sensitivity": "public"},
        {"name": "note", "title": "备注", "sensitivity": "public"},
    ],
    "primary_key": ["station", "observed_at"],
}
HEADER = "station,observed_at,day,aqi,pm25,ok,note"


def line(i: int, *, aqi: int | None = None) -> str:
    """Reading ``i``: station S0-S2, hour ``i`` of 2026-11-01 in Asia/Shanghai (distinct keys),
    some values empty, and a note with a quoted comma and newline in every fourth."""
    empty = i % 5 == 0
    note = f'"第{i}条, 含逗号\n和换行"' if i % 4 == 0 else ("" if i % 4 == 1 else f"记录{i}")
    values = ["2026-11-25", str(aqi or 50 + i), f"{i / 4:.2f}", ("是", "false")[i % 2]]
    return f"S{i % 3},2026-11-01 {i:02d}:00:00,{','.join('' if empty else v for v in values)},{note}"


def csv_of(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def utc(hour: int) -> str:
    """The change key's form of hour ``hour`` (may be negative) of 2026-11-01 UTC."""
    from datetime import UTC, datetime, timedelta

    return (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@pytest.fixture(autouse=True)
def _small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 4)


def _resource(client: TestClient, actors: Actors) -> int:
    created = client.post("/api/v1/datahub/resources", json=person_draft(table_schema=SCHEMA), headers=actors.steward)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _table(session: Session, rid: int) -> list[tuple[Any, ...]]:
    """The resource's rows in change order (none when a rejected first import left no table)."""
    if not inspect(session.connection()).has_table(table_name(rid)):
        return []
    return [tuple(r) for r in session.execute(text(f"SELECT * FROM {table_name(rid)} ORDER BY _seq"))]  # noqa: S608 - our table


def _changes(session: Session, rid: int) -> list[tuple[int, str, dict[str, Any]]]:
    found = session.scalars(select(Change).where(Change.resource_id == rid).order_by(Change.seq))
    return [(c.seq, c.op, c.key) for c in found]


def _import(client: TestClient, actors: Actors, rid: int, content: bytes, mode: str = "upsert") -> dict[str, Any]:
    response = import_file(client, actors, rid, content, mode=mode)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_first_load_and_merge_give_the_same_table_and_changes(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    actors = make_actors(client, session)
    fast, merged = _resource(client, actors), _resource(client, actors)
    content = csv_of([line(i) for i in range(18)])

    first = _import(client, actors, fast, content)
    monkeypatch.setattr(bulk, "choose", lambda _conn, _table: "merge")
    second = _import(client, actors, merged, content)

    assert (first["inserted"], second["inserted"], second["updated"], second["unchanged"]) == (18, 18, 0, 0)
    rows = _table(session, fast)
    assert rows == _table(session, merged)
    assert _changes(session, fast) == _changes(session, merged)
    assert _changes(session, fast) == [(i + 1, "insert", {"station": f"S{i % 3}", "observed_at": utc(i - 8)}) for i in range(18)]
    assert [r[-1] for r in rows] == list(range(1, 19))  # _seq: file order
    assert rows[0][-2] == "第0条, 含逗号\n和换行"


def test_a_merge_numbers_inserts_then_updates_then_deletes_across_batches(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    rid = _resource(client, actors)
    _import(client, actors, rid, csv_of([line(i) for i in range(10)]))

    # 0, 1, 3 unchanged; 2 and 4 changed; 5-9 missing (replace deletes them); 10-13 new
    second = [line(0), line(1), line(2, aqi=99), line(3), line(4, aqi=98), *(line(i) for i in range(10, 14))]
    body = _import(client, actors, rid, csv_of(second), mode="replace")

    assert (body["inserted"], body["updated"], body["unchanged"], body["deleted"]) == (4, 2, 3, 5)
    inserts = [(11 + n, "insert", {"station": f"S{i % 3}", "observed_at": utc(i - 8)}) for n, i in enumerate(range(10, 14))]
    updates = [(15, "update", {"station": "S2", "observed_at": utc(2 - 8)}), (16, "update", {"station": "S1", "observed_at": utc(4 - 8)})]
    gone = sorted((f"S{i % 3}", i) for i in range(5, 10))  # in key order
    deletes = [(17 + n, "delete", {"station": s, "observed_at": utc(i - 8)}) for n, (s, i) in enumerate(gone)]
    assert _changes(session, rid)[10:] == inserts + updates + deletes
    assert session.get(Resource, rid).change_seq == 21  # type: ignore[union-attr]
    rows = {(r[0], r[-1]): r for r in _table(session, rid)}
    assert len(rows) == 9
    assert (rows[("S2", 15)][3], rows[("S1", 16)][3]) == (99, 98)


def test_a_repeated_key_in_a_later_batch_rejects_a_first_load_whole(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    rid = _resource(client, actors)
    content = csv_of([line(i) for i in range(9)] + [line(2, aqi=70)])

    response = import_file(client, actors, rid, content)

    assert response.status_code == 422
    problems = response.json()["import"]["problems"]
    assert [(p["row"], p["field"], p["reason"]) for p in problems] == [(11, "station,observed_at", "datahub.import.duplicate_key")]
    assert _table(session, rid) == []
    assert _changes(session, rid) == []
    assert session.get(Resource, rid).change_seq == 0  # type: ignore[union-attr]
    assert _import(client, actors, rid, csv_of([line(i) for i in range(9)]))["inserted"] == 9  # a first load again
    assert _changes(session, rid)[0][0] == 1


def test_a_file_unreadable_after_rows_were_written_leaves_nothing(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    actors = make_actors(client, session)
    rid = _resource(client, actors)
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", 256)
    content = csv_of([line(i) for i in range(12)]) + b"S9,2026-11-30 00:00:00,,,,,\xff\xfe\n"

    response = import_file(client, actors, rid, content)

    assert response.status_code == 422
    assert response.json()["import"]["problems"][0]["reason"] == "datahub.import.unreadable"
    assert _table(session, rid) == []
    assert _changes(session, rid) == []


def test_a_rejected_merge_changes_nothing_and_the_next_merge_works(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    rid = _resource(client, actors)
    _import(client, actors, rid, csv_of([line(i) for i in range(6)]))
    before = _table(session, rid)

    rejected = import_file(client, actors, rid, csv_of([line(1, aqi=7), line(7), "S1,not a time,,,,,", line(8)]))

    assert rejected.status_code == 422
    assert [(p["row"], p["reason"]) for p in rejected.json()["import"]["problems"]] == [(4, "datahub.import.not_datetime")]
    assert _table(session, rid) == before
    body = _import(client, actors, rid, csv_of([line(1, aqi=7), line(7)]))
    assert (body["inserted"], body["updated"]) == (1, 1)
    assert [(seq, op) for seq, op, _ in _changes(session, rid)[6:]] == [(7, "insert"), (8, "update")]

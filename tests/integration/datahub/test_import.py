"""Validated, all-or-nothing imports with a report of rejected rows, upserts and the change sequence."""

from __future__ import annotations

import csv
import io
import json

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from citybrain.datahub.models import Change
from citybrain.datahub.tables import table_name
from tests.builders.datahub import import_file, make_actors, person_csv, person_draft, resident_id


def _rows(session: Session, rid: int) -> list[tuple[str, str, str]]:
    table = f"SELECT id_number, name, district FROM {table_name(rid)} ORDER BY id_number"  # noqa: S608 - our own table name
    return [tuple(r) for r in session.execute(text(table))]


def _changes(session: Session, rid: int) -> list[tuple[int, str]]:
    return [(c.seq, c.op) for c in session.scalars(select(Change).where(Change.resource_id == rid).order_by(Change.seq))]


@pytest.fixture
def resource(client: TestClient, session: Session) -> tuple[object, int]:
    actors = make_actors(client, session)
    rid = client.post("/api/v1/datahub/resources", json=person_draft(), headers=actors.steward).json()["id"]
    return actors, rid


def test_a_valid_file_is_imported_and_every_row_numbered(client: TestClient, session: Session, resource: tuple[object, int]) -> None:
    actors, rid = resource
    people = [(resident_id(i), f"张{i}", "历下区") for i in range(1, 6)]

    response = import_file(client, actors, rid, person_csv(people))  # type: ignore[arg-type]

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["rows_read"], body["inserted"], body["updated"]) == ("succeeded", 5, 5, 0)
    assert _rows(session, rid) == sorted(people)
    assert _changes(session, rid) == [(i, "insert") for i in range(1, 6)]


def test_a_file_with_bad_rows_writes_nothing_and_reports_every_one(
    client: TestClient, session: Session, resource: tuple[object, int]
) -> None:
    actors, rid = resource
    import_file(client, actors, rid, person_csv([(resident_id(1), "张一", "历下区")]))  # type: ignore[arg-type]
    good = resident_id(2)
    bad_checksum = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [
        (resident_id(1), "张一改", "市中区"),  # a valid update that must not be applied
        (bad_checksum, "李二", "历下区"),  # line 3
        (resident_id(3), "", "历下区"),  # line 4: name missing
        (resident_id(4), "王四", "火星区"),  # line 5: not in the enumeration
        (resident_id(3), "赵五", "历下区"),  # line 6: duplicate key
    ]

    response = import_file(client, actors, rid, person_csv(rows))  # type: ignore[arg-type]

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "datahub.import.rejected"
    summary = problem["import"]
    assert summary["status"] == "rejected"
    assert summary["rows_rejected"] == 4
    found = {(p["row"], p["field"], p["reason"]) for p in summary["problems"]}
    assert found == {
        (3, "id_number", "datahub.import.bad_resident_id"),
        (4, "name", "datahub.import.required"),
        (5, "district", "datahub.import.not_in_enum"),
        (6, "id_number", "datahub.import.duplicate"),
    }
    masked = next(p["value"] for p in summary["problems"] if p["row"] == 3)
    assert masked == bad_checksum[:6] + "********" + bad_checksum[-4:]
    assert _rows(session, rid) == [(resident_id(1), "张一", "历下区")]
    assert _changes(session, rid) == [(1, "insert")]

    report = client.get(summary["report_url"], headers=actors.steward)  # type: ignore[attr-defined]
    assert report.status_code == 200
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["row", "field", "value", "原因", "reason"]
    assert len(lines) == 5
    assert bad_checksum not in report.text
    assert client.get(summary["report_url"], headers=actors.other).status_code == 403  # type: ignore[attr-defined]


def test_reimporting_updates_changed_rows_and_continues_the_sequence(
    client: TestClient, session: Session, resource: tuple[object, int]
) -> None:
    actors, rid = resource
    first = [(resident_id(i), f"张{i}", "历下区") for i in range(1, 4)]
    import_file(client, actors, rid, person_csv(first))  # type: ignore[arg-type]

    second = [first[0], (resident_id(2), "张二改名", "历下区"), first[2], (resident_id(9), "新人", "市中区")]
    body = import_file(client, actors, rid, person_csv(second)).json()  # type: ignore[arg-type]

    assert (body["inserted"], body["updated"], body["unchanged"], body["deleted"]) == (1, 1, 2, 0)
    assert _changes(session, rid)[3:] == [(4, "insert"), (5, "update")]
    assert (resident_id(2), "张二改名", "历下区") in _rows(session, rid)


def test_replace_deletes_rows_missing_from_the_file(client: TestClient, session: Session, resource: tuple[object, int]) -> None:
    actors, rid = resource
    people = [(resident_id(i), f"张{i}", "历下区") for i in range(1, 4)]
    import_file(client, actors, rid, person_csv(people))  # type: ignore[arg-type]

    body = import_file(client, actors, rid, person_csv(people[:1]), mode="replace").json()  # type: ignore[arg-type]

    assert (body["deleted"], body["unchanged"]) == (2, 1)
    assert _rows(session, rid) == people[:1]
    assert [op for _, op in _changes(session, rid)] == ["insert"] * 3 + ["delete"] * 2


def test_xlsx_and_json_files_are_imported_too(client: TestClient, session: Session, resource: tuple[object, int]) -> None:
    actors, rid = resource
    frame = pl.DataFrame({"id_number": [resident_id(1), resident_id(2)], "name": ["张一", "张二"], "district": ["历下区", "市中区"]})
    xlsx = io.BytesIO()
    frame.write_excel(xlsx)
    records = json.dumps([{"id_number": resident_id(3), "name": "张三", "district": "历下区"}], ensure_ascii=False).encode()

    assert import_file(client, actors, rid, xlsx.getvalue(), name="people.xlsx").json()["inserted"] == 2  # type: ignore[arg-type]
    assert import_file(client, actors, rid, records, name="people.json").json()["inserted"] == 1  # type: ignore[arg-type]
    assert len(_rows(session, rid)) == 3


def test_a_file_that_does_not_fit_the_schema_is_refused_whole(client: TestClient, session: Session, resource: tuple[object, int]) -> None:
    actors, rid = resource

    unknown = import_file(client, actors, rid, b"id_number,name,colour\n1,2,3\n")  # type: ignore[arg-type]
    wrong_type = import_file(client, actors, rid, b"x", name="people.pdf")  # type: ignore[arg-type]

    assert unknown.status_code == 422
    assert unknown.json()["import"]["problems"][0]["reason"] == "datahub.import.unknown_columns"
    assert "colour" in unknown.json()["import"]["problems"][0]["message"]
    assert wrong_type.json()["import"]["problems"][0]["reason"] == "datahub.import.unknown_format"
    assert session.scalar(select(func.count()).select_from(Change).where(Change.resource_id == rid)) == 0


def test_only_the_provider_imports(client: TestClient, session: Session, resource: tuple[object, int]) -> None:
    actors, rid = resource
    response = client.post(
        f"/api/v1/datahub/resources/{rid}/imports",
        files={"file": ("p.csv", person_csv([(resident_id(1), "张一", "历下区")]), "text/csv")},
        headers=actors.other,  # type: ignore[attr-defined]
    )
    assert response.status_code == 403


def test_every_type_round_trips_through_the_bulk_path_and_the_update_path(client: TestClient, session: Session) -> None:
    from datetime import UTC, date, datetime

    from citybrain.datahub import tables
    from citybrain.datahub.schemas import TableSchema

    actors = make_actors(client, session)
    schema = {
        "fields": [
            {"name": "station", "title": "站点", "sensitivity": "public", "required": True},
            {"name": "observed_at", "title": "时间", "type": "datetime", "sensitivity": "public"},
            {"name": "day", "title": "日期", "type": "date", "sensitivity": "public"},
            {"name": "aqi", "title": "AQI", "type": "integer", "sensitivity": "public"},
            {"name": "pm25", "title": "PM2.5", "type": "number", "sensitivity": "public"},
            {"name": "ok", "title": "有效", "type": "boolean", "sensitivity": "public"},
        ],
        "primary_key": ["station"],
    }
    rid = client.post("/api/v1/datahub/resources", json=person_draft(table_schema=schema), headers=actors.steward).json()["id"]
    header = b"station,observed_at,day,aqi,pm25,ok\n"

    first = import_file(client, actors, rid, header + b"S1,2026-11-25 08:00:00,2026-11-25,57,12.5,true\nS2,,,,,\n")
    second = import_file(client, actors, rid, header + b"S1,2026-11-25 09:00:00,2026-11-25,60,13.0,\xe5\x90\xa6\nS2,,,,,\n")

    assert (first.json()["inserted"], second.json()["updated"], second.json()["unchanged"]) == (2, 1, 1)
    table = tables.data_table(rid, TableSchema.from_descriptor(schema))
    rows = {r.station: r for r in session.execute(select(table))}
    assert rows["S1"].observed_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
    assert rows["S1"].day == date(2026, 11, 25)
    assert (rows["S1"].aqi, rows["S1"].pm25, rows["S1"].ok) == (60, 13.0, False)
    assert (rows["S2"].observed_at, rows["S2"].aqi, rows["S2"].ok) == (None, None, None)

"""Base registries: sources joined by key, keyless rows linked by Splink, provenance per field,
conflicts a steward decides, all through the API on both backends."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from tests.builders.core import login, make_user
from tests.builders.datahub import Actors, import_file, make_actors, publish

D = "/api/v1/datahub"
R = f"{D}/registries"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞文辉斌宇浩凯俊峰晨欣怡雪梅琳婷倩慧颖佳瑞博思源"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董"


def _people(n: int) -> list[dict[str, str]]:
    from stdnum.cn import ric

    out = []
    for i in range(n):
        born = date(1990, 1, 1) + timedelta(days=97 * i)
        body = f"370102{born:%Y%m%d}{i:03d}"
        out.append(
            {
                "id_number": body + ric.calc_check_digit(body + "0"),
                "name": SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i * 11) % len(GIVEN)],
                "gender": "男" if i % 2 else "女",
                "birth_date": born.isoformat(),
                "district": "历下区",
            }
        )
    return out


def _csv(rows: list[dict[str, Any]], header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in header})
    return out.getvalue().encode()


def _f(name: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "sensitivity": extra.pop("sensitivity", "internal"), **extra}


def _draft(name: str, fields: list[dict[str, Any]], key: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "summary": f"{name}（测试）",
        "classification": "department",
        "category_path": ["人口"],
        "update_cycle": "daily",
        "sharing": "conditional",
        "sharing_conditions": "依法履职",
        "open_attribute": "closed",
        "tags": ["人口"],
        "table_schema": {"fields": fields, "primary_key": key},
    }


HOUSEHOLD = [
    _f("id_number", "公民身份号码", sensitivity="sensitive_personal", identifier="resident_id", required=True),
    _f("name", "姓名", sensitivity="personal", required=True),
    _f("gender", "性别"),
    _f("birth_date", "出生日期", type="date", sensitivity="personal"),
    _f("district", "区县"),
]
INSURANCE = [
    _f("insured_no", "社保个人编号", required=True),
    _f("id_number", "公民身份号码", sensitivity="sensitive_personal", identifier="resident_id"),
    _f("name", "姓名", sensitivity="personal"),
    _f("gender", "性别"),
    _f("birth_date", "出生日期", type="date", sensitivity="personal"),
    _f("phone", "联系电话", sensitivity="personal", identifier="mobile"),
]


def _bureau_steward(client: TestClient, session: Session, actors: Actors) -> dict[str, str]:
    user = make_user(session, actors.bureau, username=f"bsteward{actors.bureau.id}", roles=["data_steward"])
    session.commit()
    return login(client, user.username)


def _population(client: TestClient, session: Session) -> tuple[Actors, dict[str, str], list[dict[str, str]], dict[str, str]]:
    """Household registration of 80 people; social insurance of 60 of them, two names keyed in
    differently, five without the ID number (one with a birth date off by a day), and one stranger."""
    actors = make_actors(client, session)
    people = _people(80)
    household = publish(client, actors, _draft("户籍人口", HOUSEHOLD, ["id_number"]))
    assert import_file(client, actors, household, _csv(people, [f["name"] for f in HOUSEHOLD])).status_code == 201
    insured: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for i, p in enumerate(people[:60]):
        row = {**p, "insured_no": f"SB{i:04d}", "phone": f"139{i:08d}"}
        if i in (3, 4):
            row["name"] = p["name"][:-1] + "某"
        if 50 <= i < 55:
            row["id_number"] = None
            truth[f"SB{i:04d}"] = p["id_number"]
        insured.append(row)
    insured[54]["birth_date"] = (date.fromisoformat(people[54]["birth_date"]) + timedelta(days=1)).isoformat()
    insured.append({"insured_no": "SB9999", "name": "欧阳无名", "gender": "男", "birth_date": "1999-09-09", "phone": "13999999999"})
    insurance = publish(client, actors, _draft("社保参保", INSURANCE, ["insured_no"]))
    assert import_file(client, actors, insurance, _csv(insured, [f["name"] for f in INSURANCE])).status_code == 201
    steward = _bureau_steward(client, session, actors)
    assert client.post(f"{R}/setup", headers=steward).status_code == 200
    codes = {r["id"]: r["code"] for r in client.get(f"{D}/resources", headers=steward).json()["items"]}
    sources = [
        (codes[household], 1, {"keys": [["id_number"]], "fields": {f: f for f in ("name", "gender", "birth_date", "district")}}),
        (codes[insurance], 2, {"keys": [["id_number"]], "fields": {f: f for f in ("name", "gender", "birth_date", "phone")}}),
    ]
    for code, priority, mapping in sources:
        added = client.post(
            f"{R}/population/sources", json={"resource_code": code, "priority": priority, "mapping": mapping}, headers=steward
        )
        assert added.status_code == 201, added.text
    return actors, steward, people, truth


def test_consolidation_joins_by_key_links_the_rest_and_keeps_provenance(client: TestClient, session: Session) -> None:
    _, steward, people, truth = _population(client, session)

    run = client.post(f"{R}/population/consolidate", headers=steward)
    assert run.status_code == 200, run.text
    figures = run.json()
    assert figures["records"] == 80
    assert figures["keyed"] == 80 + 55
    # four keyless rows agree on name, birth date and gender with one record: linked by Splink;
    # the one with a birth date off by a day and the stranger are not linked automatically
    assert figures["linked_probabilistically"] == 4
    assert figures["to_review"] + figures["unlinked"] == 2
    assert figures["conflicts"] == 2
    assert figures["inserted"] == 80

    record = client.get(f"{R}/population/records/{people[52]['id_number']}", params={"purpose": "核对基础库"}, headers=steward)
    assert record.status_code == 200, record.text
    body = record.json()
    # the phone came from the keyless insurance row that Splink linked to this person
    assert body["provenance"]["phone"]["resource"].endswith("/00002")
    assert body["provenance"]["name"]["version"] == 1
    assert body["values"]["phone"] == "139****0052"  # masked unless asked in clear
    assert body["values"]["birth_date"] == people[52]["birth_date"][:4] + "-**-**"
    assert body["values"]["name"] != people[52]["name"]
    assert [link["method"] for link in body["links"]] == ["probabilistic"]
    assert truth["SB0052"] == people[52]["id_number"]

    clear = client.get(
        f"{R}/population/records/{people[52]['id_number']}", params={"purpose": "核对基础库", "clear": "true"}, headers=steward
    ).json()
    assert clear["values"]["name"] == people[52]["name"]
    assert clear["values"]["phone"] == "13900000052"
    # both reads are in the person's access trail, with the purpose
    admin_trail = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "datahub.registry.record_read", AuditEntry.purpose == "核对基础库")
    )
    assert admin_trail == 2

    figures = client.get(f"{D}/figures", headers=steward).json()
    assert figures["base_registries"] == 6
    assert figures["registry_records"] == 80
    assert figures["landed_records"] == 80 + 61  # the departments' rows, not the registry's own

    again = client.post(f"{R}/population/consolidate", headers=steward).json()
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)


def test_a_steward_decides_a_conflict_and_the_decision_holds(client: TestClient, session: Session) -> None:
    _, steward, people, _ = _population(client, session)
    client.post(f"{R}/population/consolidate", headers=steward)

    page = client.get(f"{R}/population/conflicts", params={"kind": "value"}, headers=steward).json()
    assert page["total"] == 2
    conflict = next(c for c in page["items"] if c["key"] == people[3]["id_number"])
    assert conflict["field"] == "name"
    assert conflict["chosen"] == people[3]["name"]  # the household registration is trusted most
    assert sorted(v["value"] for v in conflict["candidates"]["values"]) == sorted([people[3]["name"], people[3]["name"][:-1] + "某"])

    refused = client.post(f"{R}/population/conflicts/{conflict['id']}/resolve", json={"value": "张三"}, headers=steward)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"][-1] == "value"
    assert client.get(f"{R}/population/conflicts", headers=steward).json()["total"] >= 2  # nothing changed

    decided = client.post(
        f"{R}/population/conflicts/{conflict['id']}/resolve",
        json={"value": people[3]["name"][:-1] + "某", "note": "本人到窗口核实"},
        headers=steward,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "resolved"

    run = client.post(f"{R}/population/consolidate", headers=steward).json()
    assert run["conflicts"] == 1
    assert run["updated"] == 1
    record = client.get(
        f"{R}/population/records/{people[3]['id_number']}", params={"purpose": "核对基础库", "clear": "true"}, headers=steward
    ).json()
    assert record["values"]["name"] == people[3]["name"][:-1] + "某"
    assert "steward" in record["provenance"]["name"]


def test_a_possible_match_is_confirmed_by_a_steward(client: TestClient, session: Session) -> None:
    _, steward, people, _ = _population(client, session)
    client.post(f"{R}/population/consolidate", headers=steward)
    matches = client.get(f"{R}/population/conflicts", params={"kind": "match"}, headers=steward).json()["items"]
    off_by_a_day = next(m for m in matches if m["candidates"]["source_row"] == "[SB0054]")
    best = off_by_a_day["candidates"]["candidates"][0]
    assert best["key"] == people[54]["id_number"]
    # the steward sees the row and the candidate side by side: the birth dates differ by a day
    assert best["row"]["birth_date"] == people[54]["birth_date"]
    assert off_by_a_day["candidates"]["row"]["birth_date"] != people[54]["birth_date"]
    wrong = client.post(f"{R}/population/conflicts/{off_by_a_day['id']}/resolve", json={"key": people[0]["id_number"]}, headers=steward)
    assert wrong.status_code == 422
    ok = client.post(f"{R}/population/conflicts/{off_by_a_day['id']}/resolve", json={"key": people[54]["id_number"]}, headers=steward)
    assert ok.status_code == 200, ok.text
    run = client.post(f"{R}/population/consolidate", headers=steward).json()
    assert run["linked_by_steward"] == 1


def test_registries_are_the_bureaus_and_their_schemas_are_fixed(client: TestClient, session: Session) -> None:
    actors, steward, _, _ = _population(client, session)
    listed = client.get(R, headers=actors.other).json()
    assert [r["kind"] for r in listed] == ["population", "legal_entity", "credit", "geography", "economy", "licence"]
    population = listed[0]
    assert population["key"] == ["id_number"]
    assert population["linkage"] is True
    assert [s["priority"] for s in population["sources"]] == [1, 2]

    assert client.post(f"{R}/population/consolidate", headers=actors.steward).status_code == 403
    assert client.get(f"{R}/population/conflicts", headers=actors.steward).status_code == 403
    bad = client.post(
        f"{R}/population/sources",
        json={
            "resource_code": population["sources"][0]["resource_code"],
            "priority": 1,
            "mapping": {"keys": [["nope"]], "fields": {"name": "name"}},
        },
        headers=steward,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "mapping", "keys", 0, 0]

    registry_resource = population["resource_id"]
    current = client.get(f"{D}/resources/{registry_resource}", headers=steward).json()["current"]
    changed = {
        k: current[k] for k in ("name", "summary", "classification", "category_path", "update_cycle", "sharing", "open_attribute", "tags")
    }
    changed["sharing_conditions"] = current["sharing_conditions"]
    changed["table_schema"] = {"fields": [{"name": "x", "title": "x"}], "primary_key": ["x"]}
    refused = client.put(f"{D}/resources/{registry_resource}", json=changed, headers=steward)
    assert refused.status_code == 409
    assert refused.json()["code"] == "datahub.registry.schema_fixed"


def test_the_registry_pages_show_records_with_provenance_and_decide_conflicts(client: TestClient, session: Session) -> None:
    from citybrain.core.web import csrf
    from tests.builders.core import PASSWORD

    actors, steward, people, _ = _population(client, session)
    client.post(f"{R}/population/consolidate", headers=steward)
    conflict = next(c for c in client.get(f"{R}/population/conflicts", headers=steward).json()["items"] if c["kind"] == "value")

    client.get("/login")
    token = client.cookies.get(csrf.COOKIE) or ""
    username = f"bsteward{actors.bureau.id}"
    login = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert login.status_code == 303

    listing = client.get("/datahub/registries")
    assert listing.status_code == 200
    assert "人口基础库" in listing.text
    assert "电子证照基础库" in listing.text

    page = client.get("/datahub/registries/population", params={"key": people[52]["id_number"], "purpose": "核对"})
    assert page.status_code == 200
    assert "139****0052" in page.text  # masked unless asked in clear
    assert "/00002</code> v1" in page.text  # the phone's provenance: the insurance resource, version 1
    assert "字段值冲突" in page.text

    decided = client.post(
        f"/datahub/registries/population/conflicts/{conflict['id']}/resolve",
        data={"csrf_token": token, "choice": conflict["candidates"]["values"][1]["value"], "note": "窗口核实"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    resolved = client.get(f"{R}/population/conflicts", params={"status": "resolved"}, headers=steward).json()["items"]
    assert [c["id"] for c in resolved] == [conflict["id"]]

    refused = client.post(
        f"/datahub/registries/population/conflicts/{conflict['id']}/resolve",
        data={"csrf_token": token, "choice": "x"},
        follow_redirects=False,
    )
    assert refused.status_code == 409  # already decided

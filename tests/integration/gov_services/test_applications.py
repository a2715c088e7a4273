"""Applications through the API (issue #5 §1, §2, §4): the public guide, materials filled from the
registries through governed services (in the citizen's trail), form validation in zh-CN and
English, uploads checked by content, instant decisions with their reasons and licences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.gov_services import applications, catalogue
from citybrain.gov_services.models import Application, ApplicationEvent, Licence
from citybrain.settings import Settings
from tests.builders.gov_services import NOT_A_PDF, PDF, PNG, GovCity, make_gov_city

G = "/api/v1/gov"


def _city(client: TestClient, session: Session, settings: Settings) -> GovCity:
    return make_gov_city(client, session, settings.files_dir)


def _apply(client: TestClient, headers: dict[str, str], item: str, id_number: str | None = None, form: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"item": item, "id_number": id_number}
    if form is not None:
        body["form"] = form
    response = client.post(f"{G}/applications", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_guide_is_public_and_searchable(client: TestClient, session: Session, settings: Settings) -> None:
    _city(client, session, settings)
    everything = client.get(f"{G}/items").json()
    assert {i["code"] for i in everything} >= {i["code"] for i in catalogue.DEMO_ITEMS}
    found = client.get(f"{G}/items", params={"q": "优待证"}).json()
    assert [i["code"] for i in found] == ["elderly_preferential_card"]
    assert client.get(f"{G}/items", params={"q": "民政局 津贴"}).json()[0]["code"] == "senior_allowance"
    assert client.get(f"{G}/items", params={"q": "no such thing"}).json() == []
    guide = client.get(f"{G}/items/restaurant_bundle").json()
    assert guide["promised_days"] == 10
    assert guide["instant"] is False
    assert guide["materials"][0]["key"] == "floor_plan"
    assert client.get(f"{G}/items/nothing_here").status_code == 404


def test_instant_approval_fills_from_registry_decides_and_issues(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    app = _apply(client, city.senior, "elderly_preferential_card", city.senior_id, form={"phone": "13912345678"})
    assert app["status"] == "approved"
    assert app["instant"] is True
    household = app["materials"]["household"]
    assert household["status"] == "filled"
    assert household["values"]["birth_date"] == "1946-03-01"
    assert app["facts"] == {"age": 80, "household_district": "历下区"}
    decision = app["decision"]
    assert decision["outcome"] == "approved"
    assert decision["rules"][0]["id"] == "elderly_card_approve"
    assert "60" in decision["reasons"][0]
    assert decision["facts"]["age"] == 80
    [licence] = app["licences"]
    assert licence["kind_name"] == "济南市老年人优待证"
    assert licence["fields"] == {"户籍所在区县": "历下区"}
    verdict = client.post(f"{G}/licences/verify", json={"code": licence["code"]}).json()
    assert verdict["valid"] is True
    row = session.scalar(select(Licence).where(Licence.licence_id == licence["licence_id"]))
    assert row is not None
    assert row.application_id == session.scalar(select(Application.id).where(Application.number == app["number"]))
    assert [e["kind"] for e in app["timeline"]][:4] == ["started", "filled", "submitted", "decided"]
    # the fill is a governed call of 市民政局 with the grant's purpose: it is in the citizen's trail
    trail = client.get("/api/v1/datahub/my-trail", headers=city.senior).json()
    assert any(t["purpose"] == catalogue.GRANT_PURPOSE and t["service"] == "base.population.lookup" for t in trail), trail
    # the ID number is never stored in clear
    stored = session.scalar(select(Application).where(Application.number == app["number"]))
    assert stored is not None
    assert city.senior_id not in (stored.sealed_identifier or "")
    assert city.senior_id not in str(stored.materials)


def test_refusal_shows_reasons_and_manual_review_starts_the_process(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    app = _apply(client, city.young, "elderly_preferential_card", city.young_id, form={"phone": "13912345678"})
    assert app["status"] == "rejected"
    assert app["licences"] == []
    assert app["decision"]["rules"][0]["id"] == "elderly_card_too_young"
    assert "未满60周岁" in app["decision"]["reasons"][0]
    reviewed = client.post(f"{G}/applications/{app['number']}/manual-review", json={"reason": "我的出生日期登记有误"}, headers=city.young)
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert body["status"] == "in_progress"
    assert [t["task"] for t in body["tasks"]] == ["accept"]
    assert body["tasks"][0]["department"] == "济南市行政审批服务局"
    again = client.post(f"{G}/applications/{app['number']}/manual-review", json={"reason": "x"}, headers=city.young)
    assert again.status_code == 409


def test_first_hit_policy_and_decision_outputs_on_the_licence(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    app = _apply(client, city.senior, "senior_allowance", city.senior_id, form={"phone": "13912345678", "bank_account": "6217001234567890"})
    assert app["decision"]["hit_policy"] == "FIRST"
    assert app["decision"]["outputs"]["monthly_amount"] == 100
    assert app["licences"][0]["fields"] == {"每月津贴（元）": 100}


def test_form_errors_name_fields_in_both_languages_and_change_nothing(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    at_once = client.post(
        f"{G}/applications",
        json={"item": "birth_registration", "id_number": city.senior_id, "form": {"child_order": "two"}},
        headers=city.senior,
    )
    assert at_once.status_code == 422
    assert session.scalar(select(Application.id)) is None  # not even a draft
    draft = _apply(client, city.senior, "birth_registration", city.senior_id)
    assert draft["status"] == "draft"
    bad = {"spouse_name": "王", "child_order": 0, "phone": "12345"}
    zh = client.post(f"{G}/applications/{draft['number']}/submit", json={"form": bad}, headers={**city.senior, "Accept-Language": "zh-CN"})
    assert zh.status_code == 422
    assert zh.headers["content-type"].startswith("application/problem+json")
    errors = {tuple(e["loc"]): e["message"] for e in zh.json()["errors"]}
    assert errors == {
        ("body", "form", "spouse_name"): "至少 2 个字符。",
        ("body", "form", "child_order"): "不能小于 1。",
        ("body", "form", "phone"): "格式不对。",
    }
    en = client.post(
        f"{G}/applications/{draft['number']}/submit",
        json={"form": {"phone": "13912345678"}},
        headers={**city.senior, "Accept-Language": "en"},
    )
    assert {e["message"] for e in en.json()["errors"]} == {"Required."}
    assert {tuple(e["loc"])[-1] for e in en.json()["errors"]} == {"spouse_name", "child_order"}
    after = client.get(f"{G}/applications/{draft['number']}", headers=city.senior).json()
    assert after["status"] == "draft"
    assert after["form"] == {}
    assert after["decision"] is None
    done = client.post(
        f"{G}/applications/{draft['number']}/submit",
        json={"form": {"spouse_name": "李明", "child_order": 2, "has_residence_permit": False, "phone": "13912345678"}},
        headers=city.senior,
    ).json()
    assert done["status"] == "approved"
    assert done["licences"][0]["fields"] == {"孩次": 2}


def test_uploads_are_checked_by_content_and_stored_by_hash(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    draft = _apply(client, city.senior, "elderly_preferential_card", city.senior_id)
    url = f"{G}/applications/{draft['number']}/materials/photo"
    fake = client.post(url, files={"file": ("photo.pdf", NOT_A_PDF, "application/pdf")}, headers=city.senior)
    assert fake.status_code == 422
    assert fake.json()["errors"][0]["loc"] == ["body", "file"]
    assert client.get(f"{G}/applications/{draft['number']}", headers=city.senior).json()["materials"]["photo"]["status"] == "missing"
    ok = client.post(url, files={"file": ("photo.exe", PNG, "application/x-msdownload")}, headers=city.senior)
    assert ok.status_code == 200, ok.text
    photo = ok.json()["materials"]["photo"]
    assert photo["status"] == "uploaded"
    assert photo["media_type"] == "image/png"
    assert len(photo["sha256"]) == 64
    assert (settings.files_dir / photo["sha256"][:2] / photo["sha256"]).read_bytes() == PNG
    download = client.get(url, headers=city.senior)
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")
    # someone else can neither upload to nor read this application
    assert client.post(url, files={"file": ("a.pdf", PDF, "application/pdf")}, headers=city.young).status_code == 404
    assert client.get(url, headers=city.young).status_code == 404
    too_big = client.post(url, files={"file": ("big.pdf", PDF + b"0" * (10 * 1024 * 1024), "application/pdf")}, headers=city.senior)
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["message"].startswith("文件过大")


def test_only_ones_own_identity_fills_materials(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    response = client.post(f"{G}/applications", json={"item": "elderly_preferential_card", "id_number": city.young_id}, headers=city.senior)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "id_number"]
    assert session.scalar(select(Application.id)) is None
    # a company cannot apply for a citizen's item, nor a citizen for the company bundle
    assert client.post(f"{G}/applications", json={"item": "elderly_preferential_card"}, headers=city.company).status_code == 403
    assert (
        client.post(f"{G}/applications", json={"item": "restaurant_bundle", "id_number": city.senior_id}, headers=city.senior).status_code
        == 403
    )


def test_credit_and_licence_facts(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    form = {"business_name": "泉城小吃", "business_scope": "餐饮服务", "address": "历下区泉城路8号"}
    first = _apply(client, city.young, "individual_business_registration", city.young_id, form=form)
    assert first["status"] == "approved", first["decision"]
    assert first["facts"] == {"age": 36, "credit_status": "正常", "existing_licences": []}
    assert first["materials"]["credit"]["status"] == "filled"
    assert first["materials"]["credit"]["rows"] == []
    # the licence just issued is now a fact: a second registration is refused by the rules
    second = _apply(client, city.young, "individual_business_registration", city.young_id, form=form)
    assert second["facts"]["existing_licences"] == ["个体工商户营业执照"]
    assert second["status"] == "rejected"


def test_residence_certificate_and_statistics(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    ok = _apply(client, city.senior, "residence_certificate", city.senior_id, form={"residence_months": 24, "use": "就业"})
    short = _apply(client, city.young, "residence_certificate", city.young_id, form={"residence_months": 3, "use": "就业"})
    assert ok["status"] == "approved"
    assert ok["licences"][0]["fields"]["居住地址"] == "历下区泉城路1号"
    assert short["status"] == "rejected"
    assert "3个月" in short["decision"]["reasons"][0]
    rated = client.post(f"{G}/applications/{ok['number']}/rating", json={"rating": 5, "comment": "很快"}, headers=city.senior)
    assert rated.status_code == 200
    assert rated.json()["rating"] == 5
    assert client.post(f"{G}/applications/{ok['number']}/rating", json={"rating": 4}, headers=city.senior).status_code == 409
    figures = client.get(f"{G}/statistics", headers=city.senior).json()
    assert figures["applications"] == 2
    assert figures["instant"] == 2
    assert figures["instant_approval_rate"] == 1.0
    assert figures["on_time_rate"] == 1.0
    assert figures["satisfaction"] == 5.0
    assert figures["ratings"] == 1
    [item] = figures["items"]
    assert item["code"] == "residence_certificate"
    assert item["approved"] == 1
    assert item["rejected"] == 1
    assert item["department"] == "市公安局"
    assert applications.statistics(session) == figures
    # the operations center shows them through the government services' service.py, rates in percent
    from citybrain.operations_center import service as ops

    shown = ops.domain_figures(session)["gov"]
    assert (shown["applications"], shown["instant_approval_pct"], shown["on_time_pct"], shown["satisfaction"]) == (2, 100.0, 100.0, 5.0)
    assert shown["issued"] == 1
    points = {p["name"]: p["value"] for p in ops.figure_points(ops.domain_figures(session))}
    assert points["gov.instant_approval_pct"] == 100.0


def test_publishing_refuses_bad_items_and_writes_nothing(client: TestClient, session: Session, settings: Settings) -> None:
    city = _city(client, session, settings)
    steward = city.staff  # staff may not publish
    item = dict(catalogue.DEMO_ITEMS[0], code="bad_item")
    assert client.put(f"{G}/items", json=item, headers=steward["jn.mzj"]).status_code == 403
    from citybrain.core.auth import service as auth
    from tests.builders.core import login, make_user

    make_user(session, auth.get_org(session, city.orgs["jn.mzj"]), username="mzjsteward", roles=["data_steward"])
    session.commit()
    headers = login(client, "mzjsteward")
    broken = dict(item, form_schema={"type": "object", "properties": {"bad name": {"type": "string"}}})
    response = client.put(f"{G}/items", json=broken, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "form_schema"]
    unmapped = dict(item, lane_orgs={})
    response = client.put(f"{G}/items", json=unmapped, headers=headers)
    assert response.status_code == 422
    assert "济南市行政审批服务局" in response.json()["errors"][0]["message"]
    no_facts = dict(item, facts={})
    assert client.put(f"{G}/items", json=no_facts, headers=headers).json()["errors"][0]["loc"] == ["body", "facts"]
    assert client.get(f"{G}/items/bad_item").status_code == 404
    other_department = dict(item, department_code="jn.gaj")
    assert client.put(f"{G}/items", json=other_department, headers=headers).status_code == 403
    assert client.put(f"{G}/items", json=item, headers=headers).status_code == 200
    assert client.get(f"{G}/items/bad_item").json()["name"] == item["name"]


def test_events_are_recorded_for_every_fill(client: TestClient, session: Session, settings: Settings, tmp_path: Path) -> None:
    city = _city(client, session, settings)
    app = _apply(client, city.young, "individual_business_registration", city.young_id)
    kinds = session.scalars(select(ApplicationEvent.note).where(ApplicationEvent.kind == "filled")).all()
    assert sorted(kinds) == ["base.credit.query", "base.population.lookup"]
    # each fill is an audited personal read with the grant's purpose; submitting is audited too
    reads = session.scalars(select(AuditEntry).where(AuditEntry.action == "datahub.service.lookup", AuditEntry.personal.is_(True))).all()
    assert any(e.purpose == catalogue.GRANT_PURPOSE for e in reads)
    form = {"business_name": "泉城小吃", "business_scope": "餐饮服务", "address": "历下区泉城路8号"}
    client.post(f"{G}/applications/{app['number']}/submit", json={"form": form}, headers=city.young)
    audited = session.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == app["number"])).all()
    assert audited == ["gov.application.submitted"]


def _steward(client: TestClient, session: Session, city: GovCity) -> dict[str, str]:
    from citybrain.core.auth import service as auth
    from tests.builders.core import login, make_user

    make_user(session, auth.get_org(session, city.orgs["jn.mzj"]), username=f"mzj{city.usernames['senior']}", roles=["data_steward"])
    session.commit()
    return login(client, f"mzj{city.usernames['senior']}")


def test_a_department_publishes_its_own_rules_and_overlaps_are_refused(client: TestClient, session: Session, settings: Settings) -> None:
    from importlib import resources

    city = _city(client, session, settings)
    headers = _steward(client, session, city)
    shipped = (resources.files("citybrain.gov_services") / "dmn" / "elderly_preferential_card.dmn").read_text(encoding="utf-8")
    stricter = shipped.replace("&gt;= 60", "&gt;= 90").replace("&lt; 60", "&lt; 90")
    item = dict(catalogue.DEMO_ITEMS[0], code="elderly_card_strict", dmn=stricter)
    assert client.put(f"{G}/items", json=item, headers=headers).status_code == 200
    app = _apply(client, city.senior, "elderly_card_strict", city.senior_id, form={"phone": "13912345678"})
    assert app["status"] == "rejected"  # 80 is too young under the department's own table
    assert app["decision"]["rules"][0]["id"] == "elderly_card_too_young"
    # rule 2 (<= 90) now overlaps rule 1 (>= 90) at 90: refused at publishing, naming both rules
    overlapping = shipped.replace("&gt;= 60", "&gt;= 90").replace("&lt; 60", "&lt;= 90")
    refused = client.put(f"{G}/items", json=dict(item, dmn=overlapping), headers={**headers, "Accept-Language": "en"})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["loc"] == ["body", "dmn"]
    assert "rules 1 and 2 both match 年龄（周岁）=90" in error["message"]
    assert "rules 2 and 3" in error["message"]
    still = _apply(client, city.senior, "elderly_card_strict", city.senior_id, form={"phone": "13912345678"})
    assert still["status"] == "rejected"  # the item kept its published table


def test_uploaded_processes_cannot_run_python(client: TestClient, session: Session, settings: Settings) -> None:
    from importlib import resources

    city = _city(client, session, settings)
    headers = _steward(client, session, city)
    shipped = (resources.files("citybrain.gov_services") / "processes" / "simple_item.bpmn").read_text(encoding="utf-8")
    own = dict(catalogue.DEMO_ITEMS[0], code="elderly_card_own_process", bpmn=shipped)
    assert client.put(f"{G}/items", json=own, headers=headers).status_code == 200
    scripted = shipped.replace(
        '<bpmn:userTask id="review" name="审查"/>',
        '<bpmn:scriptTask id="review" name="审查"><bpmn:script>__import__("os").system("id")</bpmn:script></bpmn:scriptTask>',
    )
    refused = client.put(f"{G}/items", json=dict(own, code="elderly_card_script", bpmn=scripted), headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "bpmn"]
    assert "scriptTask" in refused.json()["errors"][0]["message"]
    assert client.get(f"{G}/items/elderly_card_script").status_code == 404

"""Applications that flow through departments (issue #5 §2, §3): work queues per department and
role, 受理/审查/决定, 补正 and its answer, withdrawal, the restaurant bundle's call activities and
parallel branches, joint review with deemed consent, statutory timers fired by the periodic job
with escalation, and a case resumed from the database in a fresh session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.db.base import utcnow
from citybrain.core.db.session import Database
from citybrain.gov_services import applications
from citybrain.gov_services.models import Application, WorkTask
from citybrain.settings import Settings
from tests.builders.gov_services import PDF, PNG, GovCity, make_gov_city
from tests.conftest import TEST_SECRET

G = "/api/v1/gov"


def _queue(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"{G}/queue", headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def _do(
    client: TestClient, headers: dict[str, str], number: str, task: str, decision: str | None = "approve", note: str = ""
) -> dict[str, Any]:
    [entry] = [e for e in _queue(client, headers) if e["number"] == number and e["task"]["task"] == task]
    response = client.post(
        f"{G}/applications/{number}/tasks/{entry['task']['task_id']}", json={"decision": decision, "note": note}, headers=headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _manual_case(client: TestClient, city: GovCity) -> str:
    """An elderly card refused by the rules, then sent to a person: the simple_item process."""
    app = client.post(
        f"{G}/applications",
        json={"item": "elderly_preferential_card", "id_number": city.young_id, "form": {"phone": "13912345678"}},
        headers=city.young,
    ).json()
    assert client.post(f"{G}/applications/{app['number']}/manual-review", json={"reason": "复核"}, headers=city.young).status_code == 200
    number: str = app["number"]
    return number


def test_accept_review_decide_through_the_departments_queue(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    number = _manual_case(client, city)
    mzj = city.staff["jn.mzj"]
    # the task is in 市民政局's queue (the item maps the process's department lane to it), nowhere else
    assert [e["task"]["task"] for e in _queue(client, mzj) if e["number"] == number] == ["accept"]
    assert [e for e in _queue(client, city.staff["jn.scjgj"]) if e["number"] == number] == []
    assert client.get(f"{G}/queue", headers=city.young).status_code == 403
    entry = next(e for e in _queue(client, mzj) if e["number"] == number)
    assert entry["task"]["due_at"] is not None
    assert entry["task"]["role"] == "受理"
    # staff of another department cannot complete it, and cannot see the application
    other = client.post(
        f"{G}/applications/{number}/tasks/{entry['task']['task_id']}", json={"decision": "approve"}, headers=city.staff["jn.scjgj"]
    )
    assert other.status_code == 404
    assert client.get(f"{G}/applications/{number}", headers=city.staff["jn.scjgj"]).status_code == 404
    _do(client, mzj, number, "accept")
    _do(client, mzj, number, "review", None, "户籍复核无误")
    done = _do(client, mzj, number, "decide", "approve", "经人工复核准予办理")
    assert done["status"] == "approved"
    assert [lic["kind_name"] for lic in done["licences"]] == ["济南市老年人优待证"]
    kinds = [e["kind"] for e in done["timeline"]]
    assert kinds.count("task_completed") == 3
    assert kinds[-2:] == ["completed", "licence_issued"] or kinds[-2:] == ["licence_issued", "completed"]
    assert any(e["note"] == "户籍复核无误" for e in done["timeline"])
    assert done["tasks"] == []
    # a staff read of a citizen's application is audited as personal, with its purpose
    assert client.get(f"{G}/applications/{number}", headers=mzj).status_code == 200


def test_roles_decide_who_works_which_lane(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    company = client.post(
        f"{G}/applications",
        json={"item": "restaurant_bundle"},
        headers=city.company,
    ).json()
    client.post(
        f"{G}/applications/{company['number']}/materials/floor_plan", files={"file": ("plan.png", PNG, "image/png")}, headers=city.company
    )
    submitted = client.post(
        f"{G}/applications/{company['number']}/submit",
        json={"form": {"shop_name": "泉城小馆", "address": "历下区泉城路10号", "seats": 40, "signage_text": "泉城小馆"}},
        headers=city.company,
    ).json()
    assert submitted["status"] == "in_progress"
    number = submitted["number"]
    _do(client, city.staff["jn.xzspj"], number, "accept")
    # a reviewer-only member of 市场监管局 sees the 审查 task but not a 决定 one
    tasks = {e["task"]["task"] for e in _queue(client, city.reviewer_only) if e["number"] == number}
    assert tasks == {"review"}
    _do(client, city.reviewer_only, number, "review", None)
    assert [e for e in _queue(client, city.reviewer_only) if e["number"] == number] == []
    decide = next(e for e in _queue(client, city.staff["jn.scjgj"]) if e["number"] == number)
    refused = client.post(
        f"{G}/applications/{number}/tasks/{decide['task']['task_id']}", json={"decision": "approve"}, headers=city.reviewer_only
    )
    assert refused.status_code == 403


def test_restaurant_bundle_passes_four_departments_and_issues_four_licences(
    client: TestClient, session: Session, settings: Settings
) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    draft = client.post(f"{G}/applications", json={"item": "restaurant_bundle"}, headers=city.company).json()
    number = draft["number"]
    form = {"shop_name": "泉城小馆", "address": "历下区泉城路10号", "seats": 40, "signage_text": "泉城小馆"}
    missing = client.post(f"{G}/applications/{number}/submit", json={"form": form}, headers=city.company)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body", "materials", "floor_plan"]
    client.post(
        f"{G}/applications/{number}/materials/floor_plan", files={"file": ("plan.pdf", PDF, "application/pdf")}, headers=city.company
    )
    assert client.post(f"{G}/applications/{number}/submit", json={"form": form}, headers=city.company).json()["status"] == "in_progress"
    window, market, fire, city_mgmt = (city.staff[c] for c in ("jn.xzspj", "jn.scjgj", "jn.xfzd", "jn.cgj"))
    _do(client, window, number, "accept")
    # parallel: three departments' reviews are open at once (the food permit waits for the licence)
    open_tasks = client.get(f"{G}/applications/{number}", headers=city.company).json()["tasks"]
    assert sorted((t["process_id"], t["task"]) for t in open_tasks) == [
        ("business_licence", "review"),
        ("fire_safety", "review"),
        ("outdoor_signage", "review"),
    ]
    assert {t["department"] for t in open_tasks} == {"济南市市场监督管理局", "济南市消防救援支队", "济南市城市管理局"}
    for headers in (fire, city_mgmt):
        _do(client, headers, number, "review", None)
        _do(client, headers, number, "decide")
    _do(client, market, number, "review", None)
    after_licence = _do(client, market, number, "decide")
    assert {lic["kind_name"] for lic in after_licence["licences"]} == {
        "营业执照",
        "公众聚集场所投入使用、营业前消防安全检查合格证",
        "户外招牌设置许可",
    }
    # the chained part: the food business permit starts once the business licence is granted
    assert [t["process_id"] for t in after_licence["tasks"]] == ["food_business_permit"]
    _do(client, market, number, "review", None)
    _do(client, market, number, "decide")
    done = _do(client, window, number, "deliver", None)
    assert done["status"] == "approved"
    assert len(done["licences"]) == 4
    assert {lic["issuer_code"] for lic in done["licences"]} == {"jn.scjgj", "jn.xfzd", "jn.cgj"}
    parts = [e for e in done["timeline"] if e["kind"] == "part_ended"]
    assert sorted(e["name"] or "" for e in parts) != []
    assert len(parts) == 4
    company_wallet = client.get(f"{G}/wallet", headers=city.company).json()
    assert len(company_wallet) == 4


def test_bundle_refused_part_ends_in_refusal(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    draft = client.post(f"{G}/applications", json={"item": "restaurant_bundle"}, headers=city.company).json()
    number = draft["number"]
    client.post(
        f"{G}/applications/{number}/materials/floor_plan", files={"file": ("plan.pdf", PDF, "application/pdf")}, headers=city.company
    )
    form = {"shop_name": "泉城小馆", "address": "历下区泉城路10号", "seats": 40, "signage_text": "泉城小馆"}
    client.post(f"{G}/applications/{number}/submit", json={"form": form}, headers=city.company)
    _do(client, city.staff["jn.xzspj"], number, "accept")
    _do(client, city.staff["jn.scjgj"], number, "review", None)
    _do(client, city.staff["jn.scjgj"], number, "decide", "reject")  # no business licence: no food permit either
    for code in ("jn.xfzd", "jn.cgj"):
        _do(client, city.staff[code], number, "review", None)
        _do(client, city.staff[code], number, "decide")
    done = _do(client, city.staff["jn.xzspj"], number, "notify_refusal", None)
    assert done["status"] == "rejected"
    assert {lic["kind_name"] for lic in done["licences"]} == {"公众聚集场所投入使用、营业前消防安全检查合格证", "户外招牌设置许可"}


def test_supplement_request_answer_and_withdraw(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    number = _manual_case(client, city)
    mzj = city.staff["jn.mzj"]
    asked = _do(client, mzj, number, "accept", "request_more", "请补充本人近期免冠照片")
    assert asked["status"] == "supplement"
    assert asked["tasks"] == []
    assert [e for e in _queue(client, mzj) if e["number"] == number] == []
    assert asked["timeline"][-1]["kind"] == "supplement_requested"
    assert asked["timeline"][-1]["note"] == "请补充本人近期免冠照片"
    upload = client.post(
        f"{G}/applications/{number}/materials/photo",
        files={"file": ("me.jpg", b"\xff\xd8\xff\xe0" + b"0" * 32, "image/jpeg")},
        headers=city.young,
    )
    assert upload.status_code == 200, upload.text
    answered = client.post(f"{G}/applications/{number}/supplement", json={"reason": "已上传照片"}, headers=city.young).json()
    assert answered["status"] == "in_progress"
    assert [t["task"] for t in answered["tasks"]] == ["accept"]
    withdrawn = client.post(f"{G}/applications/{number}/withdraw", json={"reason": "不再需要"}, headers=city.young).json()
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["tasks"] == []
    assert [e for e in _queue(client, mzj) if e["number"] == number] == []
    assert client.post(f"{G}/applications/{number}/withdraw", json={"reason": "again"}, headers=city.young).status_code == 409


def test_statutory_timer_flags_then_escalates_on_the_periodic_job(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    number = _manual_case(client, city)
    mzj = city.staff["jn.mzj"]
    _do(client, mzj, number, "accept")
    app = session.scalar(select(Application).where(Application.number == number))
    assert app is not None
    assert app.next_timer_due is not None
    assert applications.tick(session, secret=TEST_SECRET, now=utcnow() + timedelta(days=1)) == 0
    # day 11: the non-interrupting warning fires, the review goes on, flagged overdue-at-risk
    assert applications.tick(session, secret=TEST_SECRET, now=utcnow() + timedelta(days=11)) == 1
    [task] = session.scalars(select(WorkTask).where(WorkTask.application_id == app.id)).all()
    assert task.task == "review"
    # day 16: the statutory deadline takes the case from the reviewer to the supervisor (督办)
    assert applications.tick(session, secret=TEST_SECRET, now=utcnow() + timedelta(days=16)) == 1
    session.commit()
    [task] = session.scalars(select(WorkTask).where(WorkTask.application_id == app.id)).all()
    assert task.task == "escalated_review"
    assert task.role == "督办"
    timeline = client.get(f"{G}/applications/{number}", headers=city.young).json()["timeline"]
    fired = [(e["name"], e["outcome"]) for e in timeline if e["kind"] == "timer_fired"]
    assert fired == [("审查时限预警", "overdue"), ("审查法定时限届满", "interrupted")]
    assert app.next_timer_due is None
    # the approver (督办 lane) finishes it
    _do(client, mzj, number, "escalated_review", None)
    assert _do(client, mzj, number, "decide", "reject")["status"] == "rejected"


def test_joint_review_deemed_consent_after_five_days(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    draft = client.post(f"{G}/applications", json={"item": "construction_joint_review"}, headers=city.company).json()
    number = draft["number"]
    client.post(f"{G}/applications/{number}/materials/drawings", files={"file": ("d.pdf", PDF, "application/pdf")}, headers=city.company)
    client.post(
        f"{G}/applications/{number}/submit", json={"form": {"project_name": "泉城花园", "floor_area": 12000.5}}, headers=city.company
    )
    _do(client, city.staff["jn.zjj"], number, "accept")
    reviews = client.get(f"{G}/applications/{number}", headers=city.company).json()["tasks"]
    assert sorted(t["department"] for t in reviews) == ["济南市消防救援支队", "济南市生态环境局", "济南市自然资源和规划局"]
    _do(client, city.staff["jn.zrzyj"], number, "planning_review", "approve")
    assert applications.tick(session, secret=TEST_SECRET, now=utcnow() + timedelta(days=6)) == 1
    session.commit()
    after = client.get(f"{G}/applications/{number}", headers=city.company).json()
    assert [t["task"] for t in after["tasks"]] == ["decide"]
    assert sum(1 for e in after["timeline"] if e["kind"] == "timer_fired") == 2
    done = _do(client, city.staff["jn.zjj"], number, "decide")
    assert done["status"] == "approved"
    assert [lic["kind_name"] for lic in done["licences"]] == ["建筑工程施工许可证"]


def test_a_case_resumes_from_the_database_in_a_fresh_session(
    client: TestClient, session: Session, settings: Settings, db: Database
) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    number = _manual_case(client, city)
    _do(client, city.staff["jn.mzj"], number, "accept")
    # as after a restart: no parsed process kept in memory, a new session reading only the row
    applications.process_definition.cache_clear()
    with db.sessionmaker() as fresh:
        app = fresh.scalar(select(Application).where(Application.number == number))
        assert app is not None
        assert app.instance_state is not None
        [task] = fresh.scalars(select(WorkTask).where(WorkTask.application_id == app.id)).all()
        from citybrain.core.auth.principal import cli_principal

        applications.complete_task(fresh, cli_principal(), number, task.task_id, decision=None, secret=TEST_SECRET)
        fresh.commit()
    assert [t["task"] for t in client.get(f"{G}/applications/{number}", headers=city.young).json()["tasks"]] == ["decide"]

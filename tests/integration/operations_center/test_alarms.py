"""Alarms: threshold rules checked on ingestion, no-data rules checked periodically, the steps
open → acknowledged → assigned → closed with notes (each audited), and what reaches the screens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.core.db.session import Database
from citybrain.operations_center import jobs
from citybrain.operations_center.live import Hub, hub
from tests.builders.core import make_org
from tests.builders.operations_center import make_ops_actors, make_rule, point, run_async

API = "/api/v1/ops"


def test_a_breach_opens_one_alarm_that_recovers_and_is_worked_to_closed(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    rule = make_rule(session, "water.level_m", threshold=3.2, severity="critical")
    fire = make_org(session, code="t.xfzd.alarm", name="市消防救援支队")
    session.commit()
    pushed = client.post(f"{API}/metrics", json={"points": [point("water.level_m", 3.5, district="370105")]}, headers=actors.key)
    assert pushed.json() == {"accepted": 1, "alarms_opened": 1}
    # a second breach in the same district does not open another alarm
    again = client.post(f"{API}/metrics", json={"points": [point("water.level_m", 3.6, district="370105")]}, headers=actors.key)
    assert again.json()["alarms_opened"] == 0
    alarms = client.get(f"{API}/alarms", headers=actors.viewer).json()
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm["rule_id"], alarm["status"], alarm["severity"], alarm["value"], alarm["last_value"]) == (
        rule.id,
        "open",
        "critical",
        3.5,
        3.6,
    )
    # back under the threshold: recovered, still open until someone closes it
    client.post(f"{API}/metrics", json={"points": [point("water.level_m", 2.9, district="370105")]}, headers=actors.key)
    assert client.get(f"{API}/alarms/{alarm['id']}", headers=actors.viewer).json()["recovered_at"] is not None

    # viewers may not work alarms; steps out of order are refused
    assert client.post(f"{API}/alarms/{alarm['id']}/acknowledge", json={}, headers=actors.viewer).status_code == 403
    assert client.post(f"{API}/alarms/{alarm['id']}/close", json={}, headers=actors.staff).status_code == 409
    assert (
        client.post(f"{API}/alarms/{alarm['id']}/acknowledge", json={"note": "值班员已查看"}, headers=actors.staff).json()["status"]
        == "acknowledged"
    )
    assert client.post(f"{API}/alarms/{alarm['id']}/acknowledge", json={}, headers=actors.staff).status_code == 409
    assigned = client.post(
        f"{API}/alarms/{alarm['id']}/assign", json={"org_code": fire.code, "note": "请消防支队处置"}, headers=actors.staff
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assigned_org_name"] == "市消防救援支队"
    assert client.post(f"{API}/alarms/{alarm['id']}/notes", json={"note": "已到场"}, headers=actors.staff).status_code == 201
    assert client.post(f"{API}/alarms/{alarm['id']}/close", json={"note": "水位回落"}, headers=actors.staff).json()["status"] == "closed"
    detail = client.get(f"{API}/alarms/{alarm['id']}", headers=actors.viewer).json()
    assert [n["action"] for n in detail["notes"]] == ["opened", "acknowledged", "assigned", "note", "closed"]
    assert detail["notes"][2]["text"] == "请消防支队处置"
    assert client.get(f"{API}/alarms", headers=actors.viewer).json() == []
    audited = list(session.scalars(select(AuditEntry.action).where(AuditEntry.subject_type == "ops.alarm").order_by(AuditEntry.seq)))
    assert audited == ["ops.alarm.opened", "ops.alarm.acknowledged", "ops.alarm.assigned", "ops.alarm.note", "ops.alarm.closed"]
    # closed: a new breach opens a new alarm
    assert (
        client.post(f"{API}/metrics", json={"points": [point("water.level_m", 3.4, district="370105")]}, headers=actors.key).json()[
            "alarms_opened"
        ]
        == 1
    )


def test_a_rule_for_one_district_ignores_the_others(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    make_rule(session, "air.aqi", threshold=150, district="370102", severity="warning")
    session.commit()
    points = [point("air.aqi", 180, district="370105"), point("air.aqi", 160, district="370102")]
    assert client.post(f"{API}/metrics", json={"points": points}, headers=actors.key).json()["alarms_opened"] == 1
    (alarm,) = client.get(f"{API}/alarms", headers=actors.viewer).json()
    assert alarm["district"] == "370102"


def test_a_rule_needs_what_its_kind_needs(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    missing = client.post(f"{API}/rules", json={"name": "r", "kind": "threshold", "metric": "a.b"}, headers=actors.admin)
    assert missing.status_code == 422
    assert "comparator" in missing.text
    assert "threshold" in missing.text
    nodata = client.post(f"{API}/rules", json={"name": "r", "kind": "nodata", "metric": "a.b", "window_s": 60}, headers=actors.admin)
    assert nodata.status_code == 201


def test_no_data_rules_open_when_a_metric_goes_silent(client: TestClient, session: Session, db: Database) -> None:
    actors = make_ops_actors(client, session)
    make_rule(session, "water.level_m", kind="nodata", window_s=60, comparator=None, threshold=None, district="370112")
    session.commit()
    now = datetime.now(UTC)
    client.post(
        f"{API}/metrics",
        json={"points": [point("water.level_m", 2.0, district="370112", at=now - timedelta(seconds=30))]},
        headers=actors.key,
    )
    assert jobs.check(db, now=now)["alarms_opened"] == 0
    assert jobs.check(db, now=now + timedelta(seconds=45))["alarms_opened"] == 1
    assert jobs.check(db, now=now + timedelta(seconds=50))["alarms_opened"] == 0  # still the same one
    (alarm,) = client.get(f"{API}/alarms", headers=actors.viewer).json()
    assert alarm["value"] is None
    assert alarm["district_name"] is None or alarm["district"] == "370112"


def test_ingested_values_and_alarms_reach_the_stream_after_commit(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    make_rule(session, "water.level_m", threshold=3.0)
    session.commit()

    async def listen() -> list[tuple[str, object]]:
        received: list[tuple[str, object]] = []
        source = hub.messages()
        task = asyncio.ensure_future(source.__anext__())
        await asyncio.sleep(0)  # subscribed
        push = asyncio.to_thread(
            client.post, f"{API}/metrics", json={"points": [point("water.level_m", 3.3, district="370105")]}, headers=actors.key
        )
        response = await push
        assert response.status_code == 201
        received.append(await asyncio.wait_for(task, 5))
        received.append(await asyncio.wait_for(source.__anext__(), 5))
        await source.aclose()
        return received

    kinds = dict(run_async(lambda: listen()))
    assert set(kinds) == {"alarm", "points"}
    assert kinds["points"] == [{"name": "water.level_m", "district": "370105", "value": 3.3, "unit": None, "t": kinds["points"][0]["t"]}]  # type: ignore[index]
    # a refused batch sends nothing
    bad = client.post(f"{API}/metrics", json={"points": [point("water.level_m", 3.3, district="37")]}, headers=actors.key)
    assert bad.status_code == 422


def test_a_slow_connection_keeps_the_newest_messages() -> None:
    local = Hub()

    async def run() -> list[int]:
        source = local.messages()
        first = asyncio.ensure_future(source.__anext__())
        await asyncio.sleep(0)
        for i in range(400):
            local.publish("points", i)
        await asyncio.sleep(0.05)
        got = [(await first)[1]]
        while True:
            try:
                got.append((await asyncio.wait_for(source.__anext__(), 0.05))[1])
            except TimeoutError:
                break
        await source.aclose()
        return got  # type: ignore[return-value]

    got = run_async(lambda: run())
    assert got[-1] == 399
    assert len(got) <= 257


def test_no_data_counts_silence_only_from_when_the_checks_started(client: TestClient, session: Session, db: Database) -> None:
    make_ops_actors(client, session)
    make_rule(session, "river.flow", kind="nodata", window_s=60, comparator=None, threshold=None)
    session.commit()
    started = datetime.now(UTC)
    assert jobs.check(db, now=started + timedelta(seconds=30), watching_since=started)["alarms_opened"] == 0
    assert jobs.check(db, now=started + timedelta(seconds=61), watching_since=started)["alarms_opened"] == 1


def test_the_stream_holds_no_request_session() -> None:
    """Each open screen keeps its stream for hours: a request session held that long would keep a
    worker thread each (40 by default) and, on SQLite, the write lock."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    from citybrain.core.web.deps import get_session
    from citybrain.operations_center.api import router

    def calls(dependant: Dependant) -> set[object]:
        found = {dependant.call}
        for sub in dependant.dependencies:
            found |= calls(sub)
        return found

    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.path == f"{API}/stream"]
    assert len(routes) == 1
    assert get_session not in calls(routes[0].dependant)

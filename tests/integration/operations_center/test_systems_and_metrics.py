"""Connected systems through the API: registration with an API key, heartbeats, status history and
uptime, health probes (httpx MockTransport) with backoff; metric batches (all or nothing), series
with aggregation and tags, latest values, retention."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.core.db.session import Database
from citybrain.operations_center import jobs, service
from citybrain.operations_center.models import MetricPoint, StatusChange
from tests.builders.operations_center import make_ops_actors, make_system, point, run_async

API = "/api/v1/ops"


def test_register_a_system_and_push_with_its_key(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    body = {
        "code": "aqi-net",
        "name": "空气质量监测网",
        "kind": "sensor_network",
        "owner_org_code": actors.department_code,
        "contact": "监测站",
    }
    created = client.post(f"{API}/systems", json=body, headers=actors.admin)
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    assert key.startswith("cbk_")
    assert created.json()["status"] == "unknown"
    # a viewer may not register systems
    assert client.post(f"{API}/systems", json={**body, "code": "other"}, headers=actors.viewer).status_code == 403
    beat = client.post(
        f"{API}/heartbeat", json={"status": "up", "metrics": [point("air.aqi", 72, district="370102")]}, headers={"X-API-Key": key}
    )
    assert beat.status_code == 200, beat.text
    assert beat.json() == {"accepted": 1, "alarms_opened": 0}
    listed = client.get(f"{API}/systems", params={"status": "up"}, headers=actors.viewer).json()
    assert [s["code"] for s in listed["items"]] == ["aqi-net"]
    assert listed["items"][0]["last_seen_at"] is not None
    # the points carry the system that pushed them
    assert session.scalar(select(MetricPoint.system_id).where(MetricPoint.name == "air.aqi")) == created.json()["id"]
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("ops.%"))))
    assert "ops.system.registered" in actions


def test_heartbeat_needs_a_system_key_and_the_push_scope(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    # the admin holds every scope but is no system
    refused = client.post(f"{API}/heartbeat", json={"status": "up"}, headers=actors.admin)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"{API}/metrics", json={"points": [point("x.y", 1)]}, headers=actors.viewer).status_code == 403
    assert client.post(f"{API}/metrics", json={"points": [point("x.y", 1)]}).status_code == 401


def test_status_history_uptime_and_silent_systems(client: TestClient, session: Session, db: Database) -> None:
    actors = make_ops_actors(client, session)
    system = actors.system
    # a day two days ago: registered just before t0
    t0 = datetime.now(UTC) - timedelta(days=2)
    for change in session.scalars(select(StatusChange).where(StatusChange.system_id == system.id)):
        change.at = t0 - timedelta(seconds=1)
    service.set_status(session, system, "up", source="heartbeat", message=None, now=t0)
    service.set_status(session, system, "down", source="heartbeat", message="pump", now=t0 + timedelta(hours=18))
    service.set_status(session, system, "up", source="heartbeat", message=None, now=t0 + timedelta(hours=21))
    session.flush()
    found = service.uptime(session, system, window_s=86_400, now=t0 + timedelta(hours=24))
    assert round(found.shares["up"], 4) == round(21 / 24, 4)
    assert round(found.shares["down"], 4) == round(3 / 24, 4)
    assert [c.status for c in found.history[:3]] == ["up", "down", "up"]
    # a pushing system that stops sending heartbeats is marked down by the periodic check
    system.last_seen_at = datetime.now(UTC) - timedelta(seconds=system.heartbeat_timeout_s + 5)
    session.commit()
    assert jobs.check(db) == {"silent": 1, "alarms_opened": 0}
    session.expire_all()
    assert service.get_system(session, system.id).status == "down"
    last = session.scalars(select(StatusChange).where(StatusChange.system_id == system.id).order_by(StatusChange.id.desc())).first()
    assert last is not None
    assert last.source == "timeout"
    api = client.get(f"{API}/systems/{system.id}/uptime", headers=actors.viewer)
    assert api.status_code == 200
    assert api.json()["history"][0]["status"] == "down"


def test_probes_set_status_and_back_off(client: TestClient, session: Session, db: Database) -> None:
    actors = make_ops_actors(client, session)
    answers = {"code": 200}

    def handler(request: httpx.Request) -> httpx.Response:
        if answers["code"] == 0:
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(answers["code"], json={"ok": answers["code"] == 200})

    system, _key = make_system(session, actors.department_code, health_url="http://127.0.0.1:9/healthz", probe_interval_s=30)
    session.commit()

    async def probe_all(now: datetime) -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await jobs.run_probes(db, http, now=now)

    now = datetime.now(UTC) + timedelta(seconds=1)
    assert run_async(lambda: probe_all(now)) == 1
    session.expire_all()
    assert service.get_system(session, system.id).status == "up"
    answers["code"] = 503
    waits = []
    for _ in range(3):
        due = service.get_system(session, system.id).next_probe_at
        assert due is not None
        at = due + timedelta(seconds=1)
        run_async(lambda at=at: probe_all(at))  # type: ignore[misc]
        session.expire_all()
        probed = service.get_system(session, system.id)
        assert probed.status == "down"
        assert probed.next_probe_at is not None
        waits.append(probed.next_probe_at)
    # each failure in a row doubles the wait (60, 120, 240 s after a 30 s interval)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(waits)]
    assert gaps[1] > gaps[0] * 1.8
    answers["code"] = 0  # a timeout is down too, with the reason
    due = service.get_system(session, system.id).next_probe_at
    assert due is not None
    run_async(lambda: probe_all(due + timedelta(seconds=1)))
    session.expire_all()
    assert (service.get_system(session, system.id).status_message or "").startswith("timeout after")


def test_a_batch_with_one_bad_point_stores_nothing_and_names_it(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    future = datetime.now(UTC) + timedelta(hours=1)
    bad = [
        point("water.level_m", 2.1, district="370105"),
        point("water.level_m", 2.2, district="3701"),
        point("water.level_m", 2.3, at=future),
    ]
    response = client.post(f"{API}/metrics", json={"points": bad}, headers=actors.key)
    assert response.status_code == 422
    problem = response.json()
    fields = {e["field"] if "field" in e else str(e.get("loc")) for e in problem["errors"]}
    assert any("points.1.tags.district" in f for f in fields), problem
    assert any("points.2.time" in f for f in fields), problem
    assert session.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.name == "water.level_m")) == 0
    # a value that is no number is refused by the schema, naming the point
    typed = client.post(f"{API}/metrics", json={"points": [point("a.b", 1), {"name": "a.b", "value": "high"}]}, headers=actors.key)
    assert typed.status_code == 422
    assert "points.1.value" in typed.text


def test_series_aggregates_by_bucket_and_tags(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    points = []
    for minute in range(3):
        for second, value in ((0, 10.0), (30, 20.0)):
            at = t0 + timedelta(minutes=minute, seconds=second)
            points.append(point("air.aqi", value + minute, district="370102", at=at, station="s1"))
            points.append(point("air.aqi", 100.0, district="370105", at=at, station="s2"))
    assert client.post(f"{API}/metrics", json={"points": points}, headers=actors.key).status_code == 201
    params = {"start": t0.isoformat(), "end": (t0 + timedelta(minutes=3)).isoformat(), "bucket_s": 60}
    lixia = client.get(f"{API}/metrics/air.aqi/series", params={**params, "agg": "avg", "district": "370102"}, headers=actors.viewer).json()
    assert [p["value"] for p in lixia["points"]] == [15.0, 16.0, 17.0]
    assert [p["count"] for p in lixia["points"]] == [2, 2, 2]
    both_max = client.get(f"{API}/metrics/air.aqi/series", params={**params, "agg": "max"}, headers=actors.viewer).json()
    assert [p["value"] for p in both_max["points"]] == [100.0, 100.0, 100.0]
    summed = client.get(
        f"{API}/metrics/air.aqi/series", params={**params, "agg": "sum", "district": "370102"}, headers=actors.viewer
    ).json()
    assert [p["value"] for p in summed["points"]] == [30.0, 32.0, 34.0]
    last = client.get(f"{API}/metrics/air.aqi/series", params={**params, "agg": "last", "tag": "station:s1"}, headers=actors.viewer).json()
    assert [p["value"] for p in last["points"]] == [20.0, 21.0, 22.0]
    latest = client.get(f"{API}/metrics/latest", params={"name": "air.aqi"}, headers=actors.viewer).json()
    assert {(r["district"], r["value"]) for r in latest} == {("370102", 22.0), ("370105", 100.0)}
    bad = client.get(
        f"{API}/metrics/air.aqi/series",
        params={**params, "bucket_s": 1, "start": (t0 - timedelta(days=1)).isoformat()},
        headers=actors.viewer,
    )
    assert bad.status_code == 422


def test_retention_rolls_old_points_up_into_hourly_means(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    now = datetime.now(UTC)
    old = (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    points = [
        point("grid.cases", float(v), district="370102", at=old + timedelta(minutes=10 * i)) for i, v in enumerate((1, 2, 3, 4, 5, 6))
    ]
    points.append(point("grid.cases", 9.0, district="370102", at=now - timedelta(minutes=5)))
    assert client.post(f"{API}/metrics", json={"points": points}, headers=actors.key).status_code == 201
    done = service.downsample(session, now=now)
    assert done["rolled_up"] == 6
    assert done["written"] == 1
    rows = session.execute(
        select(MetricPoint.value, MetricPoint.count, MetricPoint.resolution_s)
        .where(MetricPoint.name == "grid.cases")
        .order_by(MetricPoint.t_ms)
    ).all()
    assert [tuple(r) for r in rows] == [(3.5, 6, 3600), (9.0, 1, 0)]
    # an hourly point counts with its weight in a series
    series = service.series(session, "grid.cases", start=old - timedelta(hours=1), end=now, bucket_s=86_400 * 4, agg="count")
    assert sum(c for _t, _v, c in series) == 7
    assert service.downsample(session, now=now + timedelta(days=100))["deleted"] == 2

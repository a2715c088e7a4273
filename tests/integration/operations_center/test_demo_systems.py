"""The demo's systems push through the public API with their own keys (no back door), the
platforms report their domains' figures, and the traffic twin reaches the screens."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2 as httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.db.session import Database
from citybrain.operations_center import jobs, service
from citybrain.operations_center.feeder import DISTRICTS, Feeder
from citybrain.operations_center.live import Hub
from citybrain.operations_center.models import MetricPoint
from tests.builders.operations_center import make_ops_actors, make_system, run_async


def test_the_feeder_pushes_heartbeats_and_points_through_the_api(client: TestClient, session: Session, db: Database, app: FastAPI) -> None:
    actors = make_ops_actors(client, session)
    air, air_key = make_system(session, actors.department_code, code="air-quality")
    hub_system, hub_key = make_system(session, actors.department_code, code="datahub")
    session.commit()
    calls: list[str] = []
    asgi = httpx.ASGITransport(app=app)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            calls.append(f"{request.method} {request.url.path} {request.headers.get('x-api-key', '-')}")
            return await asgi.handle_async_request(request)

    feeder = Feeder("http://testserver", {"air-quality": air_key, "datahub": hub_key}, db, app)

    async def one_round() -> None:
        async with httpx.AsyncClient(base_url="http://testserver", transport=Recording()) as http:
            await feeder.step(http, 2.0, beat=True, with_figures=True)

    run_async(lambda: one_round())
    assert sorted(c.split()[1] for c in calls) == ["/api/v1/ops/heartbeat"] * 2 + ["/api/v1/ops/metrics"] * 2
    assert {c.split()[2] for c in calls} == {air_key, hub_key}  # every call with its system's own key
    session.expire_all()
    assert service.get_system(session, air.id).status == "up"
    aqi_districts = set(session.scalars(select(MetricPoint.district).where(MetricPoint.name == "air.aqi", MetricPoint.system_id == air.id)))
    assert aqi_districts == set(DISTRICTS)
    # the data hub's platform reports the hub's own figures, read through its service
    landed = session.scalar(
        select(MetricPoint.value).where(MetricPoint.name == "datahub.landed_records", MetricPoint.system_id == hub_system.id)
    )
    figures = service.domain_figures(session)
    assert landed == figures["datahub"]["landed_records"]


class FakeTwin:
    """What the operations center uses of the live twin (traffic.service.live_twin)."""

    def __init__(self, snapshots: list[dict[str, Any]]) -> None:
        self._snapshots = snapshots

    def status(self) -> dict[str, Any]:
        return {"info": {"junctions": {"J1": {"x": 0.0, "y": 0.0}, "J2": {"x": 300.0, "y": 0.0}}}, "latest": self._snapshots[-1]}

    async def snapshots(self) -> Any:
        for snapshot in self._snapshots:
            yield snapshot
        await asyncio.sleep(3600)


def test_the_twin_is_relayed_to_the_screens_at_most_once_a_second() -> None:
    snapshot = {"t": 10.0, "vehicles": 40, "arrived": 3, "mean_speed_mps": 10.0, "junctions": {"J1": {"queue": 2}, "J2": {"queue": 20}}}
    app = FastAPI()
    app.state.traffic_twin = FakeTwin([snapshot, {**snapshot, "t": 11.0}])
    local = Hub()

    async def run() -> None:
        task = asyncio.create_task(jobs.traffic_relay(app, local))
        await asyncio.sleep(0.2)
        task.cancel()

    run_async(lambda: run())
    relayed = local.latest("traffic")
    assert relayed["t"] == 10.0  # the second snapshot came within the same second
    assert relayed["mean_speed_kmh"] == 36.0
    assert relayed["junctions"]["J2"]["level"] == "jammed"
    assert relayed["layout"]["J2"] == {"x": 300.0, "y": 0.0}

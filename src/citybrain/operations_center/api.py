"""The operations-center API: connected systems (register, heartbeats, status and uptime), metric
points (batch ingestion, series, latest values), alarms and their steps, scenarios, and the live
stream the screens listen to."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow
from citybrain.core.web.deps import CACHED_SECURITY, SessionDep, require, require_cached
from citybrain.core.web.params import IdPath, Limit, Offset
from citybrain.operations_center import service
from citybrain.operations_center.live import hub
from citybrain.operations_center.schemas import (
    AGGREGATIONS,
    DISTRICT,
    METRIC_NAME,
    AlarmAssign,
    AlarmDetail,
    AlarmNoteIn,
    AlarmRead,
    AlarmStep,
    BucketRead,
    HeartbeatIn,
    IngestResult,
    LatestRead,
    MetricInfo,
    NoteRead,
    PointIn,
    RuleCreate,
    RuleRead,
    ScenarioIn,
    ScenarioRead,
    SeriesRead,
    StatusChangeRead,
    SystemCreate,
    SystemPage,
    SystemRead,
    SystemRegistered,
    UptimeRead,
)

router = APIRouter(prefix="/api/v1/ops", tags=["operations_center"])

MetricRef = Annotated[str, Path(pattern=METRIC_NAME, max_length=100, description="metric name, e.g. air.aqi")]
ScenarioRef = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
DistrictQuery = Annotated[str | None, Query(pattern=DISTRICT, description="district code (GB/T 2260), e.g. 370102")]


# -- systems ------------------------------------------------------------------------------------------


@router.post("/systems", status_code=status.HTTP_201_CREATED)
def register_system(session: SessionDep, body: SystemCreate, principal: Principal = require(service.ADMIN)) -> SystemRegistered:
    """Register a connected system under its owner department; the answer holds its API key
    (scope ops:push), shown this once."""
    system, key = service.register_system(session, principal, body)
    return SystemRegistered(**SystemRead.model_validate(system).model_dump(), api_key=key)


@router.get("/systems")
def list_systems(
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 100,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(up|degraded|down|unknown)$")] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{2,32}$")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="owner department's code")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    _: Principal = require(service.READ),
) -> SystemPage:
    """Connected systems, filtered by status, kind, owner department and text."""
    from citybrain.core.auth import service as auth

    owner_id = auth.get_org_by_code(session, owner).id if owner else None
    rows, total = service.list_systems(session, status=status_, kind=kind, owner_org_id=owner_id, q=q, offset=offset, limit=limit)
    return SystemPage(items=[SystemRead.model_validate(s) for s in rows], total=total)


@router.get("/systems/{system_id}/uptime")
def system_uptime(
    session: SessionDep,
    system_id: IdPath,
    window_s: Annotated[int, Query(ge=60, le=90 * 86_400)] = 86_400,
    _: Principal = require(service.READ),
) -> UptimeRead:
    """A system's status history and the share of the window it spent up, degraded, down, unknown."""
    system = service.get_system(session, system_id)
    found = service.uptime(session, system, window_s=window_s)
    return UptimeRead(
        system=SystemRead.model_validate(system),
        window_s=window_s,
        history=[StatusChangeRead.model_validate(c) for c in found.history],
        **found.shares,
    )


@router.post("/systems/{system_id}/keys", status_code=status.HTTP_201_CREATED)
def issue_key(session: SessionDep, system_id: IdPath, principal: Principal = require(service.ADMIN)) -> dict[str, str]:
    """Another API key for a system (rotation: revoke the old one afterwards)."""
    return {"api_key": service.issue_key(session, principal, system_id)}


@router.post("/heartbeat")
def heartbeat(session: SessionDep, body: HeartbeatIn, principal: Principal = require(service.PUSH)) -> IngestResult:
    """A connected system says it is up (or degraded, or down), with metric points if it likes.
    Only a system's API key can send one: the key says which system it is."""
    return IngestResult(**service.heartbeat(session, principal, body))


# -- metrics ------------------------------------------------------------------------------------------


class Batch(BaseModel):
    points: list[PointIn] = Field(min_length=1, max_length=service.MAX_BATCH)


@router.post("/metrics", status_code=status.HTTP_201_CREATED)
def ingest(session: SessionDep, body: Batch, principal: Principal = require(service.PUSH)) -> IngestResult:
    """Ingest a batch of metric points, all or nothing: any bad point refuses the batch, and the
    problem document names each bad point by index and field."""
    return IngestResult(**service.ingest(session, principal, body.points))


@router.get("/metrics")
def list_metrics(session: SessionDep, _: Principal = require(service.READ)) -> list[MetricInfo]:
    """The metrics kept: name, unit, points and newest time."""
    return [MetricInfo(**m) for m in service.list_metrics(session)]


@router.get("/metrics/{name}/series")
def metric_series(
    session: SessionDep,
    name: MetricRef,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket_s: Annotated[int, Query(ge=1, le=86_400)] = 60,
    agg: Annotated[str, Query(pattern="^(" + "|".join(AGGREGATIONS) + ")$")] = "avg",
    district: DistrictQuery = None,
    domain: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[list[str] | None, Query(max_length=8, description="other tags as key:value (repeat)")] = None,
    _: Principal = require(service.READ),
) -> SeriesRead:
    """A metric from ``start`` (default an hour ago) to ``end`` (default now) in buckets of
    ``bucket_s`` seconds, aggregated (avg, sum, min, max, last, count) over the points with the
    tags asked for."""
    from citybrain.core.errors import FieldError
    from citybrain.operations_center.errors import UnknownMetricQuery

    end = end or utcnow()
    start = start or end - timedelta(hours=1)
    tags: dict[str, str] = {}
    for item in tag or []:
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise UnknownMetricQuery("ops.bad_tag", errors=[FieldError(("query", "tag"), "ops.bad_tag", {"value": item[:40]})])
        tags[key] = value
    rows = service.series(session, name, start=start, end=end, bucket_s=bucket_s, agg=agg, district=district, domain=domain, tags=tags)
    unit = next((m["unit"] for m in service.latest(session, [name], by_district=False, within_s=90 * 86_400)), None)
    return SeriesRead(name=name, agg=agg, bucket_s=bucket_s, unit=unit, points=[BucketRead(t=t, value=v, count=c) for t, v, c in rows])


@router.get("/metrics/latest")
def metric_latest(
    session: SessionDep,
    name: Annotated[list[str], Query(min_length=1, max_length=50)],
    by_district: bool = True,
    _: Principal = require(service.READ),
) -> list[LatestRead]:
    """The newest value of each metric named (in each district, unless ``by_district=false``)."""
    return [LatestRead(**row) for row in service.latest(session, name, by_district=by_district)]


# -- alarms -------------------------------------------------------------------------------------------


@router.post("/rules", status_code=status.HTTP_201_CREATED)
def create_rule(session: SessionDep, body: RuleCreate, principal: Principal = require(service.ADMIN)) -> RuleRead:
    """A threshold rule (metric, comparator, threshold) or a no-data rule (metric, window_s)."""
    return RuleRead.model_validate(service.create_rule(session, principal, body))


@router.get("/rules")
def list_rules(session: SessionDep, _: Principal = require(service.READ)) -> list[RuleRead]:
    return [RuleRead.model_validate(r) for r in service.list_rules(session)]


@router.get("/alarms")
def list_alarms(
    session: SessionDep,
    active: bool = True,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(open|acknowledged|assigned|closed)$")] = None,
    limit: Limit = 100,
    _: Principal = require(service.READ),
) -> list[AlarmRead]:
    """Alarms, the active (not closed) ones by default, critical first."""
    return service.list_alarms(session, active=active, status=status_, limit=limit)


@router.get("/alarms/{alarm_id}")
def get_alarm(session: SessionDep, alarm_id: IdPath, _: Principal = require(service.READ)) -> AlarmDetail:
    alarm = service.get_alarm(session, alarm_id)
    notes = [NoteRead.model_validate(n) for n in service.alarm_notes(session, alarm.id)]
    return AlarmDetail(**service.alarm_read(session, alarm).model_dump(), notes=notes)


@router.post("/alarms/{alarm_id}/acknowledge")
def acknowledge(
    session: SessionDep, alarm_id: IdPath, body: AlarmStep | None = None, principal: Principal = require(service.HANDLE)
) -> AlarmRead:
    """open → acknowledged."""
    return service.alarm_read(session, service.acknowledge(session, principal, alarm_id, body.note if body else None))


@router.post("/alarms/{alarm_id}/assign")
def assign(session: SessionDep, alarm_id: IdPath, body: AlarmAssign, principal: Principal = require(service.HANDLE)) -> AlarmRead:
    """acknowledged → assigned to a department (or re-assigned)."""
    return service.alarm_read(session, service.assign(session, principal, alarm_id, body.org_code, body.note))


@router.post("/alarms/{alarm_id}/close")
def close(
    session: SessionDep, alarm_id: IdPath, body: AlarmStep | None = None, principal: Principal = require(service.HANDLE)
) -> AlarmRead:
    """acknowledged or assigned → closed."""
    return service.alarm_read(session, service.close(session, principal, alarm_id, body.note if body else None))


@router.post("/alarms/{alarm_id}/notes", status_code=status.HTTP_201_CREATED)
def add_note(session: SessionDep, alarm_id: IdPath, body: AlarmNoteIn, principal: Principal = require(service.HANDLE)) -> NoteRead:
    return NoteRead.model_validate(service.add_note(session, principal, alarm_id, body.note))


# -- scenarios ----------------------------------------------------------------------------------------


@router.get("/scenarios")
def list_scenarios(
    session: SessionDep, group: Annotated[str | None, Query(pattern=r"^[a-z_]{2,32}$")] = None, _: Principal = require(service.READ)
) -> list[ScenarioRead]:
    return [ScenarioRead.model_validate(s) for s in service.list_scenarios(session, group=group)]


@router.get("/scenarios/{code}")
def get_scenario(session: SessionDep, code: ScenarioRef, _: Principal = require(service.READ)) -> ScenarioRead:
    return ScenarioRead.model_validate(service.get_scenario(session, code))


@router.put("/scenarios/{code}")
def put_scenario(session: SessionDep, code: ScenarioRef, body: ScenarioIn, principal: Principal = require(service.ADMIN)) -> ScenarioRead:
    """Create or replace a scenario from its YAML or JSON definition (its ``code`` must be the URL's)."""
    return ScenarioRead.model_validate(service.save_scenario(session, principal, body.source, code=code))


# -- the screens ---------------------------------------------------------------------------------------


@router.get("/screen")
def screen_state(request: Request, session: SessionDep, _: Principal = require(service.READ)) -> dict[str, Any]:
    """Everything the big screen shows at once: domain figures, KPI values, district values of the
    map's metrics, active alarms, systems, the traffic twin and when data last arrived."""
    from citybrain.operations_center import screen

    return screen.state(session, request.app)


@router.get("/stream", response_class=Response, responses={200: {"content": {"text/event-stream": {}}}}, openapi_extra=CACHED_SECURITY)
async def stream(request: Request, _: Principal = require_cached(service.READ)) -> Response:
    """Server-sent events for the screens: ``points`` (the newest value of each metric and district
    of each ingested batch), ``alarm`` (an alarm opened or changed), ``system`` (a status change),
    ``traffic`` (the live twin, once a second) and ``ping`` every 10 s when nothing happens.
    Browsers reconnect by themselves (``retry: 2000``). The caller is checked in a transaction of
    its own (``require_cached``): a long-lived stream must not hold the request's session, or each
    open screen would keep a worker thread (and on SQLite the write lock) until it disconnects."""
    from starlette.responses import StreamingResponse

    async def events() -> Any:
        yield "retry: 2000\n\n"
        source = hub.messages()
        try:
            while not await request.is_disconnected():
                try:
                    kind, data = await asyncio.wait_for(source.__anext__(), timeout=10)
                except TimeoutError:
                    yield "event: ping\ndata: {}\n\n"
                    continue
                yield f"event: {kind}\ndata: {service.json_dumps(data)}\n\n"
        finally:
            await source.aclose()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

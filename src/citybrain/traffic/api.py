"""The traffic API: networks, controllers, evaluation runs, green-wave and tidal plans, the live twin."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request, Response, UploadFile, status

from citybrain.core.auth.principal import Principal
from citybrain.core.web.deps import CACHED_SECURITY, SessionDep, SettingsDep, require, require_cached
from citybrain.core.web.params import IdPath
from citybrain.traffic import service
from citybrain.traffic.schemas import (
    NETWORK_CODE,
    BuiltinImport,
    CommandCreate,
    CommandRead,
    GreenWaveCreate,
    NetworkDetail,
    NetworkRead,
    PlanRead,
    RunCreate,
    RunRead,
    TidalCreate,
)

router = APIRouter(prefix="/api/v1/traffic", tags=["traffic"])

NetworkRef = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="the network's code or id")]
#: an upload larger than this is refused before it is parsed (the Jinan 3x4 flow is 1.3 MB)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def _run_queue(request: Request) -> object | None:
    return getattr(request.app.state, "traffic_runs", None)


@router.get("/networks")
def list_networks(session: SessionDep, _: Principal = require(service.READ)) -> list[NetworkRead]:
    """Every road network under management."""
    return [NetworkRead.model_validate(n) for n in service.list_networks(session)]


@router.post("/networks/builtin", status_code=status.HTTP_201_CREATED)
def import_builtin(
    session: SessionDep, settings: SettingsDep, body: BuiltinImport, principal: Principal = require(service.PLAN)
) -> NetworkRead:
    """Import a public data set by name (``jinan_3x4``: the real Jinan 3x4 network and its recorded
    one-hour flow), converted from CityFlow to SUMO."""
    network = service.import_builtin(
        session, principal, body.dataset, data_dir=settings.data_dir, var_dir=settings.var_dir, code=body.code, name=body.name
    )
    return NetworkRead.model_validate(network)


@router.post("/networks", status_code=status.HTTP_201_CREATED)
def import_network(
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(pattern=NETWORK_CODE)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    kind: Annotated[Literal["cityflow", "sumo"], Form(description="cityflow: roadnet + flow JSON; sumo: .net.xml + .rou.xml")],
    network_file: Annotated[UploadFile, Form(description="CityFlow roadnet JSON or SUMO .net.xml")],
    demand_file: Annotated[UploadFile, Form(description="CityFlow flow JSON or SUMO .rou.xml")],
    principal: Principal = require(service.PLAN),
) -> NetworkRead:
    """Import a network from uploaded files: a CityFlow roadnet and flow (converted to SUMO via
    netconvert) or an existing SUMO network and routes."""
    from citybrain.core.errors import FieldError
    from citybrain.traffic.errors import BadNetworkFiles

    bodies = []
    for field_name, upload in (("network_file", network_file), ("demand_file", demand_file)):
        body = upload.file.read(MAX_UPLOAD_BYTES + 1)
        if len(body) > MAX_UPLOAD_BYTES:
            raise BadNetworkFiles(errors=[FieldError(("body", field_name), "traffic.file_too_large", {"limit_mb": MAX_UPLOAD_BYTES >> 20})])
        bodies.append((upload.filename or field_name, body))
    network = service.import_uploaded(
        session, principal, code=code, name=name, kind=kind, first=bodies[0], second=bodies[1], var_dir=settings.var_dir
    )
    return NetworkRead.model_validate(network)


@router.get("/networks/{network}")
def get_network(session: SessionDep, network: NetworkRef, _: Principal = require(service.READ)) -> NetworkDetail:
    """A network with its layout (nodes, edges, signalised junctions and their phases)."""
    return NetworkDetail.model_validate(service.get_network(session, network))


@router.get("/controllers")
def controllers(_: Principal = require(service.READ)) -> list[dict[str, str]]:
    """The registered signal controllers."""
    from citybrain.traffic.controllers.registry import CONTROLLERS

    return [{"name": e.name, "summary": e.summary} for e in CONTROLLERS.values()]


@router.post("/networks/{network}/runs", status_code=status.HTTP_202_ACCEPTED)
def create_run(
    request: Request, session: SessionDep, network: NetworkRef, body: RunCreate, principal: Principal = require(service.PLAN)
) -> RunRead:
    """Queue an evaluation: every chosen controller on the network, once per seed, in SUMO
    (teleporting off). Follow it with ``GET /runs/{id}``; it runs in the background."""
    found = service.get_network(session, network)
    run = service.create_run(session, principal, found, controllers=body.controllers, seeds=body.seeds, duration_s=body.duration_s)
    session.commit()
    queue = _run_queue(request)
    if queue is not None:
        queue.submit()  # type: ignore[attr-defined]
    return RunRead.model_validate(run)


@router.get("/networks/{network}/runs")
def list_runs(session: SessionDep, network: NetworkRef, _: Principal = require(service.READ)) -> list[RunRead]:
    """The network's evaluations, newest first."""
    return [RunRead.model_validate(r) for r in service.runs_of(session, service.get_network(session, network))]


@router.get("/runs/{run_id}")
def get_run(session: SessionDep, run_id: IdPath, _: Principal = require(service.READ)) -> RunRead:
    """An evaluation: its progress while it runs, every controller's figures when done."""
    return RunRead.model_validate(service.get_run(session, run_id))


@router.get("/figures")
def figures(session: SessionDep, _: Principal = require(service.READ)) -> dict[str, object]:
    """The traffic figures for the operations center."""
    return vars(service.figures(session))


def _queued(request: Request) -> None:
    queue = _run_queue(request)
    if queue is not None:
        queue.submit()  # type: ignore[attr-defined]


@router.post("/greenwave", status_code=status.HTTP_201_CREATED)
def plan_greenwave(
    request: Request, session: SessionDep, settings: SettingsDep, body: GreenWaveCreate, principal: Principal = require(service.PLAN)
) -> PlanRead:
    """Two-way green-wave offsets for an arterial (MAXBAND, a MILP solved with HiGHS): offsets per
    junction, the cycle, both bandwidths. With ``check`` the plan is run in SUMO against all-zero and
    random offsets in the background (stops per vehicle, travel times); follow ``GET /greenwave/{id}``."""
    network = service.get_network(session, body.network)
    params = body.model_dump(mode="json", exclude={"check", "name"})
    plan = service.plan_greenwave(
        session, principal, name=body.name, params=params, network=network, var_dir=settings.var_dir, check=body.check
    )
    session.commit()
    _queued(request)
    return PlanRead.model_validate(plan)


@router.get("/greenwave")
def list_greenwave(session: SessionDep, _: Principal = require(service.READ)) -> list[PlanRead]:
    """Green-wave plans, newest first."""
    return [PlanRead.model_validate(p) for p in service.plans(session, "greenwave")]


@router.get("/greenwave/{plan_id}")
def get_greenwave(session: SessionDep, plan_id: IdPath, _: Principal = require(service.READ)) -> PlanRead:
    """A green-wave plan with its SUMO check when done."""
    return PlanRead.model_validate(service.get_plan(session, plan_id, "greenwave"))


@router.get("/greenwave/{plan_id}/diagram.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def greenwave_diagram(session: SessionDep, settings: SettingsDep, plan_id: IdPath, _: Principal = require(service.READ)) -> Response:
    """The plan's time-space diagram: distance along the arterial against time, reds at each
    junction, the outbound and inbound bands."""
    plan = service.get_plan(session, plan_id, "greenwave")
    assert plan.network_id is not None
    network = service.get_network(session, plan.network_id)
    return Response(service.greenwave_diagram(plan, network, settings.var_dir), media_type="image/png")


@router.post("/tidal", status_code=status.HTTP_201_CREATED)
def plan_tidal(request: Request, session: SessionDep, body: TidalCreate, principal: Principal = require(service.PLAN)) -> PlanRead:
    """A reversible-lane (潮汐车道) schedule from directional 15-minute counts: which lane, toward
    which direction, which hours, with the rule and its thresholds. Without counts, the demo
    corridor's compressed day is used. With ``check`` it is run in SUMO against no reversal."""
    network = service.get_network(session, body.network) if body.network else None
    params = body.model_dump(mode="json", exclude={"check", "name", "network"})
    plan = service.plan_tidal(session, principal, name=body.name, params=params, network=network, check=body.check)
    session.commit()
    _queued(request)
    return PlanRead.model_validate(plan)


@router.get("/tidal")
def list_tidal(session: SessionDep, _: Principal = require(service.READ)) -> list[PlanRead]:
    """Tidal-lane plans, newest first."""
    return [PlanRead.model_validate(p) for p in service.plans(session, "tidal")]


@router.get("/tidal/{plan_id}")
def get_tidal(session: SessionDep, plan_id: IdPath, _: Principal = require(service.READ)) -> PlanRead:
    """A tidal-lane plan with its SUMO check when done."""
    return PlanRead.model_validate(service.get_plan(session, plan_id, "tidal"))


def _twin(request: Request) -> object:
    from citybrain.traffic.errors import TwinNotRunning

    live = getattr(request.app.state, "traffic_twin", None)
    if live is None:
        raise TwinNotRunning()
    return live


@router.get("/twin")
def twin_status(request: Request, _: Principal = require(service.READ)) -> dict[str, object]:
    """The live digital twin: whether it runs, on which network, its junctions and the last snapshot
    (simulated time, vehicles, each junction's signal state, phase, queue, mode and controller)."""
    live = getattr(request.app.state, "traffic_twin", None)
    if live is None:
        return {"running": False, "network": None, "error": None, "info": None, "latest": None, "speed": None}
    return live.status()  # type: ignore[attr-defined, no-any-return]


@router.get("/twin/stream", response_class=Response, responses={200: {"content": {"text/event-stream": {}}}}, openapi_extra=CACHED_SECURITY)
async def twin_stream(request: Request, _: Principal = require_cached(service.READ)) -> Response:
    """Server-sent events: one ``snapshot`` event per simulated second (``data`` as in ``GET /twin``'s
    ``latest``), and a ``ping`` every 15 s when nothing happens. Browsers reconnect by themselves.
    The caller is checked without a request session (``require_cached``): a stream open for hours
    must not hold a database session and its worker thread."""
    import asyncio
    import json

    from starlette.responses import StreamingResponse

    live = _twin(request)

    async def events() -> object:
        yield "retry: 2000\n\n"
        source = live.snapshots()  # type: ignore[attr-defined]
        try:
            while not await request.is_disconnected():
                try:
                    snapshot = await asyncio.wait_for(source.__anext__(), timeout=15)
                except TimeoutError:
                    yield "event: ping\ndata: {}\n\n"
                    continue
                yield f"event: snapshot\ndata: {json.dumps(snapshot, separators=(',', ':'))}\n\n"
        finally:
            await source.aclose()

    return StreamingResponse(
        events(),  # type: ignore[arg-type]
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


JunctionRef = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:#-]{1,64}$", description="the junction's (traffic light's) id")]


@router.post("/twin/junctions/{junction}/commands", status_code=status.HTTP_201_CREATED)
async def twin_command(
    request: Request, session: SessionDep, junction: JunctionRef, body: CommandCreate, principal: Principal = require(service.READ)
) -> CommandRead:
    """Command a junction of the live twin (远程调控): ``force`` a phase or ``hold`` the current green
    for ``duration_s`` (capped at the maximum red), ``release`` it to its controller, or switch its
    ``controller``. Needs the traffic-operator role; every command, and every refusal, is audited."""
    from starlette.concurrency import run_in_threadpool

    from citybrain.core.errors import FieldError, Forbidden, ValidationFailed

    live = _twin(request)
    network = service.get_network(session, live.network_id)  # type: ignore[attr-defined]
    if not principal.has(service.CONTROL):
        service.refuse_command(session, principal, network, junction, body.action)
        raise Forbidden("auth.missing_scope", keep_changes=True, scope=service.CONTROL)
    if body.action in ("force", "controller") and not body.value:
        raise ValidationFailed(errors=[FieldError(("body", "value"), "validation.missing")])
    duration = body.duration_s if body.action in ("force", "hold") else None
    ack = await run_in_threadpool(live.command, junction, body.action, body.value, duration)  # type: ignore[attr-defined]
    command = service.record_command(
        session, principal, network, junction, action=body.action, value=body.value, duration_s=duration, ack=ack
    )
    if command is None:
        key = str(ack.get("error") or "traffic.twin_not_running")
        session.commit()  # the failed attempt stays in the audit log
        if key in ("traffic.twin_not_running", "traffic.twin_timeout"):
            from citybrain.traffic.errors import TwinNotRunning

            raise TwinNotRunning(key)
        raise ValidationFailed(
            key,
            keep_changes=True,
            errors=[FieldError(("body", "value" if "phase" in key or "controller" in key else "path"), key, {})],
            junction=junction,
            phase=body.value or "",
            name=body.value or "",
        )
    return CommandRead.model_validate(command)


@router.get("/twin/commands")
def twin_commands(request: Request, session: SessionDep, _: Principal = require(service.READ)) -> list[CommandRead]:
    """The latest commands sent to the live twin's junctions, newest first."""
    live = _twin(request)
    network = service.get_network(session, live.network_id)  # type: ignore[attr-defined]
    return [CommandRead.model_validate(c) for c in service.recent_commands(session, network)]

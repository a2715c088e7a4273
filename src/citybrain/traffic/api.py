"""The traffic API: networks, controllers, evaluation runs, green-wave and tidal plans, the live twin."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request, UploadFile, status

from citybrain.core.auth.principal import Principal
from citybrain.core.web.deps import SessionDep, SettingsDep, require
from citybrain.core.web.params import IdPath
from citybrain.traffic import service
from citybrain.traffic.schemas import NETWORK_CODE, BuiltinImport, NetworkDetail, NetworkRead, RunCreate, RunRead

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

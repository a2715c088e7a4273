"""The traffic pages: networks, a network with its map and comparisons, a comparison's result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citybrain.core.auth.principal import Principal
from citybrain.core.web.deps import SessionDep, SettingsDep, require
from citybrain.core.web.pages import CsrfChecked
from citybrain.core.web.params import IdPath
from citybrain.core.web.templating import render
from citybrain.traffic import service

router = APIRouter(prefix="/traffic")

NetworkRef = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


@router.get("", response_class=HTMLResponse)
def networks(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    rows = service.list_networks(session)
    latest = {n.id: service.latest_result(session, n) for n in rows}
    return render(
        request,
        "traffic/networks.html",
        networks=rows,
        latest=latest,
        can_plan=principal.has(service.PLAN),
        builtin=service.BUILTIN,
        figures=service.figures(session),
    )


@router.post("/import", response_class=HTMLResponse, dependencies=[CsrfChecked])
def import_builtin(
    session: SessionDep, settings: SettingsDep, dataset: Annotated[str, Form(max_length=64)], principal: Principal = require(service.PLAN)
) -> Response:
    network = service.import_builtin(session, principal, dataset, data_dir=settings.data_dir, var_dir=settings.var_dir)
    session.commit()
    return RedirectResponse(f"/traffic/networks/{network.code}", status_code=303)


@router.get("/networks/{network}", response_class=HTMLResponse)
def network_page(request: Request, session: SessionDep, network: NetworkRef, principal: Principal = require(service.READ)) -> Response:
    found = service.get_network(session, network)
    latest = service.latest_result(session, found)
    return render(
        request,
        "traffic/network.html",
        network=found,
        runs=service.runs_of(session, found),
        latest=latest,
        controllers=service.controller_names(),
        can_plan=principal.has(service.PLAN),
    )


@router.post("/networks/{network}/runs", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def queue_run(request: Request, session: SessionDep, network: NetworkRef, principal: Principal = require(service.PLAN)) -> Response:
    form = await request.form()
    chosen = [str(v) for v in form.getlist("controllers")]
    seeds = [int(s) for s in str(form.get("seeds") or "1,2,3").split(",") if s.strip().isdigit()][:10] or [1]
    duration = max(60, min(4 * 3600, int(str(form.get("duration_s") or "3600")) if str(form.get("duration_s") or "").isdigit() else 3600))
    found = service.get_network(session, network)
    run = service.create_run(session, principal, found, controllers=chosen or None, seeds=seeds, duration_s=duration)
    session.commit()
    queue = getattr(request.app.state, "traffic_runs", None)
    if queue is not None:
        queue.submit()
    return RedirectResponse(f"/traffic/runs/{run.id}", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, session: SessionDep, run_id: IdPath, _: Principal = require(service.READ)) -> Response:
    run = service.get_run(session, run_id)
    network = service.get_network(session, run.network_id)
    return render(request, "traffic/run.html", run=run, network=network)


def _float(value: object, default: float) -> float:
    try:
        return float(str(value))
    except ValueError:
        return default


@router.get("/greenwave", response_class=HTMLResponse)
def greenwave_list(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    networks = service.list_networks(session)
    return render(
        request,
        "traffic/greenwave_list.html",
        plans=service.plans(session, "greenwave"),
        networks=networks,
        can_plan=principal.has(service.PLAN),
        default_row=",".join(f"intersection_{i}_1" for i in range(1, 5)),
    )


@router.post("/greenwave", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def greenwave_create(
    request: Request, session: SessionDep, settings: SettingsDep, principal: Principal = require(service.PLAN)
) -> Response:
    form = await request.form()
    network = service.get_network(session, str(form.get("network") or ""))
    cycle_min, cycle_max = _float(form.get("cycle_min"), 60), _float(form.get("cycle_max"), 120)
    params = {
        "network": network.code,
        "junctions": [j.strip() for j in str(form.get("junctions") or "").split(",") if j.strip()],
        "red_outbound_s": _float(form.get("red_outbound_s"), 36),
        "red_inbound_s": _float(form.get("red_inbound_s"), 36),
        "reds": None,
        "cycle_s": [cycle_min, cycle_max],
        "speed_mps": None,
        "volume_ratio": _float(form.get("volume_ratio"), 1.0),
        "demand": {"through_outbound_vph": 500.0, "through_inbound_vph": 500.0, "cross_vph": 200.0},
        "seeds": [0, 1, 2],
    }
    plan = service.plan_greenwave(
        session,
        principal,
        name=str(form.get("name") or "绿波方案")[:200],
        params=params,
        network=network,
        var_dir=settings.var_dir,
        check=form.get("check") is not None,
    )
    session.commit()
    queue = getattr(request.app.state, "traffic_runs", None)
    if queue is not None:
        queue.submit()
    return RedirectResponse(f"/traffic/greenwave/{plan.id}", status_code=303)


@router.get("/greenwave/{plan_id}", response_class=HTMLResponse)
def greenwave_page(request: Request, session: SessionDep, plan_id: IdPath, _: Principal = require(service.READ)) -> Response:
    plan = service.get_plan(session, plan_id, "greenwave")
    network = service.get_network(session, plan.network_id) if plan.network_id else None
    return render(request, "traffic/greenwave.html", plan=plan, network=network)


@router.get("/tidal", response_class=HTMLResponse)
def tidal_list(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    from citybrain.traffic.tidal import Corridor

    return render(
        request,
        "traffic/tidal_list.html",
        plans=service.plans(session, "tidal"),
        can_plan=principal.has(service.PLAN),
        corridor_capacity=round(Corridor().lane_capacity_vph()),
    )


@router.post("/tidal", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def tidal_create(request: Request, session: SessionDep, principal: Principal = require(service.PLAN)) -> Response:
    from citybrain.core.errors import FieldError, ValidationFailed

    form = await request.form()
    counts = None
    text = str(form.get("counts") or "").strip()
    if text:
        a, b = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            cells = [c.strip() for c in line.replace("\t", ",").split(",") if c.strip()]
            if not cells or not cells[0].replace(".", "", 1).isdigit():
                continue  # a header or an empty line
            if len(cells) < 2:
                raise ValidationFailed(errors=[FieldError(("form", "counts", number), "traffic.counts_line", {"line": number})])
            a.append(_float(cells[0], -1))
            b.append(_float(cells[1], -1))
        counts = {"a": a, "b": b, "start_s": int(_float(form.get("start_h"), 0) * 3600) // 900 * 900, "name_a": "进城", "name_b": "出城"}
    params = {
        "counts": counts,
        "section": {
            "lanes_a": int(_float(form.get("lanes_a"), 2)),
            "lanes_b": int(_float(form.get("lanes_b"), 2)),
            "lane_capacity_vph": _float(form.get("lane_capacity_vph"), 1800),
        },
        "rule": None,
        "seed": 0,
    }
    plan = service.plan_tidal(
        session, principal, name=str(form.get("name") or "潮汐车道方案")[:200], params=params, check=form.get("check") is not None
    )
    session.commit()
    queue = getattr(request.app.state, "traffic_runs", None)
    if queue is not None:
        queue.submit()
    return RedirectResponse(f"/traffic/tidal/{plan.id}", status_code=303)


@router.get("/tidal/{plan_id}", response_class=HTMLResponse)
def tidal_page(request: Request, session: SessionDep, plan_id: IdPath, _: Principal = require(service.READ)) -> Response:
    from citybrain.traffic.tidal import clock

    return render(request, "traffic/tidal.html", plan=service.get_plan(session, plan_id, "tidal"), clock=clock)


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    live = getattr(request.app.state, "traffic_twin", None)
    network = service.get_network(session, live.network_id) if live is not None else None
    return render(
        request,
        "traffic/live.html",
        live=live.status() if live is not None else None,
        network=network,
        commands=service.recent_commands(session, network) if network is not None else [],
        can_control=principal.has(service.CONTROL),
        controllers=service.controller_names(),
    )

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

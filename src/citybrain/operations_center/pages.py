"""The operations-center pages: the big screen (一屏统览, 1920×1080 and 3840×1080), the scenarios
with their admin editor, connected systems with filters, and the live alarm list."""

from __future__ import annotations

import json
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citybrain.core.auth.principal import Principal
from citybrain.core.errors import CitybrainError
from citybrain.core.web.deps import SessionDep, SettingsDep, require
from citybrain.core.web.pages import CsrfChecked
from citybrain.core.web.params import IdPath
from citybrain.core.web.templating import render
from citybrain.operations_center import screen, service

router = APIRouter(prefix="/ops")

ScenarioRef = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]


def _districts_geojson(data_dir: FilePath) -> dict[str, object] | None:
    """Jinan's 12 districts (GCJ-02, as DataV publishes them and Chinese screens draw them), or
    None when the public data set is absent."""
    path = data_dir / "geo" / "jinan_370100_districts.gcj02.geojson"
    if not path.exists():
        return None
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@router.get("/screen", response_class=HTMLResponse)
def screen_page(
    request: Request,
    session: SessionDep,
    wide: bool = False,
    rotate: bool = True,
    dwell: Annotated[int | None, Query(ge=3, le=600, description="seconds on each view, for every view")] = None,
    principal: Principal = require(service.READ),
) -> Response:
    """The big screen: 1920×1080 (``?wide=1``: 3840×1080), scaled to fit the window; it rotates
    through the scenarios (``?rotate=0``: it stays on the overview), each for its own dwell time
    unless ``?dwell=`` sets one for all."""
    return render(
        request,
        "ops/screen.html",
        state=screen.state(session, request.app),
        wide=wide,
        rotate=rotate,
        dwell=dwell,
        can_handle=principal.has(service.HANDLE),
    )


@router.get("/geo/districts.json")
def districts_geojson(settings: SettingsDep, _: Principal = require(service.READ)) -> Response:
    """The district boundaries the screens' maps are drawn from (public data, read from
    ``CITYBRAIN_DATA_DIR/geo``); 404 when the data set is absent."""
    data = _districts_geojson(settings.data_dir)
    if data is None:
        from citybrain.core.errors import NotFound

        raise NotFound("ops.no_boundaries")
    return Response(json.dumps(data, ensure_ascii=False), media_type="application/geo+json", headers={"Cache-Control": "max-age=3600"})


@router.get("/scenarios/{code}", response_class=HTMLResponse)
def scenario_page(request: Request, session: SessionDep, code: ScenarioRef, principal: Principal = require(service.READ)) -> Response:
    """One scenario on its own screen (1920×1080, scaled)."""
    scenario = service.get_scenario(session, code)
    return render(
        request,
        "ops/screen.html",
        state=screen.state(session, request.app),
        wide=False,
        rotate=False,
        only=scenario.code,
        can_handle=principal.has(service.HANDLE),
    )


@router.get("/scenarios", response_class=HTMLResponse)
def scenarios_page(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    return render(request, "ops/scenarios.html", scenarios=service.list_scenarios(session), can_edit=principal.has(service.ADMIN))


@router.get("/scenarios/{code}/edit", response_class=HTMLResponse)
def scenario_edit(request: Request, session: SessionDep, code: ScenarioRef, _: Principal = require(service.ADMIN)) -> Response:
    scenario = service.get_scenario(session, code)
    return render(
        request, "ops/scenario_edit.html", code=scenario.code, source=scenario.source, errors=[], saved=request.query_params.get("saved")
    )


@router.post("/scenarios/{code}/edit", response_class=HTMLResponse, dependencies=[CsrfChecked])
def scenario_save(
    request: Request,
    session: SessionDep,
    code: ScenarioRef,
    source: Annotated[str, Form(min_length=2, max_length=100_000)],
    principal: Principal = require(service.ADMIN),
) -> Response:
    """Save an edited definition; a bad one is shown again with each field's error, and nothing changes."""
    from citybrain.core.i18n import translate
    from citybrain.core.web.problems import language_of

    try:
        service.save_scenario(session, principal, source, code=code)
    except CitybrainError as error:
        session.rollback()
        lang = language_of(request)
        errors = [(".".join(str(p) for p in e.loc[1:]) or "(document)", translate(e.key, lang, e.params)) for e in error.errors]
        return render(request, "ops/scenario_edit.html", status_code=422, code=code, source=source, errors=errors, saved=None)
    return RedirectResponse(f"/ops/scenarios/{code}/edit?saved=1", status_code=303)


@router.get("", response_class=HTMLResponse)
def systems_page(
    request: Request,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern=r"^(up|degraded|down|unknown)?$")] = None,
    kind: Annotated[str | None, Query(pattern=r"^([a-z_]{2,32})?$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    _: Principal = require(service.READ),
) -> Response:
    """Connected systems with their status, filtered by status, kind and text."""
    rows, total = service.list_systems(session, status=status or None, kind=kind or None, q=q or None, limit=500)
    uptimes = {s.id: service.uptime(session, s).shares for s in rows}
    kinds = sorted({s.kind for s in service.list_systems(session, limit=500)[0]})
    return render(
        request,
        "ops/systems.html",
        systems=rows,
        total=total,
        uptimes=uptimes,
        counts=service.status_counts(session),
        kinds=kinds,
        filters={"status": status or "", "kind": kind or "", "q": q or ""},
        figures=service.figures(session),
    )


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    """The live alarm list (new alarms arrive over the stream), with each alarm's steps."""
    from citybrain.core.auth import service as auth
    from citybrain.core.auth.models import OrgKind

    departments = auth.list_organisations(session, kind=OrgKind.DEPARTMENT, limit=200)[0]
    return render(
        request,
        "ops/alarms.html",
        alarms=service.list_alarms(session, limit=200),
        closed=service.list_alarms(session, active=False, status="closed", limit=20),
        rules=service.list_rules(session),
        departments=departments,
        can_handle=principal.has(service.HANDLE),
    )


@router.post("/alarms/{alarm_id}/{step}", response_class=HTMLResponse, dependencies=[CsrfChecked])
def alarm_step(
    session: SessionDep,
    alarm_id: IdPath,
    step: Annotated[str, Path(pattern=r"^(acknowledge|assign|close|note)$")],
    note: Annotated[str, Form(max_length=2000)] = "",
    org_code: Annotated[str, Form(max_length=64)] = "",
    principal: Principal = require(service.HANDLE),
) -> Response:
    text = note.strip() or None
    if step == "acknowledge":
        service.acknowledge(session, principal, alarm_id, text)
    elif step == "assign":
        service.assign(session, principal, alarm_id, org_code, text)
    elif step == "close":
        service.close(session, principal, alarm_id, text)
    elif text:
        service.add_note(session, principal, alarm_id, text)
    return RedirectResponse(f"/ops/alarms#alarm-{alarm_id}", status_code=303)

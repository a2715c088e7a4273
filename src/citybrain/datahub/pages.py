"""The catalogue's pages: browse and search with facets, a resource's detail, the work queues."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citybrain.core.auth.principal import AUDIT_READ, Principal
from citybrain.core.db.base import utcnow
from citybrain.core.errors import CitybrainError, ValidationFailed
from citybrain.core.i18n import translate
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.pages import CsrfChecked
from citybrain.core.web.params import IdPath
from citybrain.core.web.templating import render
from citybrain.datahub import dataservices, forms, imports, service
from citybrain.datahub.schemas import Classification, OpenAttribute, ResourceDraft, ResourceType, Sharing, UpdateCycle

router = APIRouter(prefix="/datahub")

E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], value: str) -> E | None:
    """A facet value from a query string; empty or unknown means "any"."""
    try:
        return kind(value) if value else None
    except ValueError:
        return None


@router.get("", response_class=HTMLResponse)
def catalogue(
    request: Request,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    provider: Annotated[str, Query(max_length=12)] = "",
    classification: Annotated[str, Query(max_length=16)] = "",
    sharing: Annotated[str, Query(max_length=16)] = "",
    resource_type: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    _: Principal = require(service.READ),
) -> Response:
    provider_id = int(provider) if provider.isdigit() else None
    size = 20
    result = service.search_published(
        session,
        q=q.strip() or None,
        provider_org_id=provider_id,
        classification=_choice(Classification, classification),
        sharing=_choice(Sharing, sharing),
        resource_type=_choice(ResourceType, resource_type),
        offset=(page - 1) * size,
        limit=size,
    )
    providers = service.org_names(session, {int(k) for k in result.facets.get("provider", {})})
    chosen = {"q": q, "provider": provider, "classification": classification, "sharing": sharing, "resource_type": resource_type}
    return render(
        request,
        "datahub/catalogue.html",
        result=result,
        providers=providers,
        chosen=chosen,
        page=page,
        pages=max(1, -(-result.total // size)),
    )


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, settings: SettingsDep, principal: Principal = require(service.READ)) -> Response:
    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    reviewing = service.is_bureau(principal, bureau) and principal.has(service.REVIEW)
    return render(request, "datahub/queue.html", items=service.work_queue(session, principal, bureau), reviewing=reviewing)


@router.get("/resources/{resource_id}", response_class=HTMLResponse)
def detail(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    resource_id: IdPath,
    version: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    principal: Principal = require(service.READ),
) -> Response:
    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    view = service.get_resource(session, principal, resource_id, bureau, version=version)
    insider = service.can_see_drafts(view.resource, principal, bureau)
    return render(
        request,
        "datahub/detail.html",
        view=view,
        schema_fields=(view.version.table_schema or {}).get("fields", []),
        primary_key=(view.version.table_schema or {}).get("primaryKey", []),
        versions=service.list_versions(session, principal, resource_id, bureau),
        reviews=service.review_history(session, principal, resource_id, bureau) if insider else [],
        can_submit=principal.has(service.WRITE) and view.resource.provider_org_id == principal.org_id,
        imports=service.list_imports(session, principal, resource_id)[:10]
        if principal.has(service.WRITE) and view.resource.provider_org_id == principal.org_id
        else [],
        can_review=principal.has(service.REVIEW) and service.is_bureau(principal, bureau),
    )


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(form_fields)]

CHOICES = {
    "classification": list(Classification),
    "resource_type": list(ResourceType),
    "update_cycle": list(UpdateCycle),
    "sharing": list(Sharing),
    "open_attribute": list(OpenAttribute),
}


def _edit_page(request: Request, values: dict[str, str], *, resource_id: int | None, error: CitybrainError | None = None) -> Response:
    lang = getattr(request.state, "lang", "zh-CN")
    problems = []
    if error is not None:
        problems = [f"{'.'.join(str(p) for p in e.loc if p != 'body')}: {translate(e.key, lang, e.params)}" for e in error.errors] or [
            translate(error.key, lang, error.params)
        ]
    return render(
        request,
        "datahub/edit.html",
        status_code=422 if error else 200,
        values=values,
        resource_id=resource_id,
        choices=CHOICES,
        problems=problems,
    )


@router.get("/new", response_class=HTMLResponse)
def new_resource(request: Request, _: Principal = require(service.WRITE)) -> Response:
    defaults = {"classification": "department", "update_cycle": "irregular", "sharing": "unconditional", "open_attribute": "closed"}
    return _edit_page(request, defaults, resource_id=None)


@router.post("/new", response_class=HTMLResponse, dependencies=[CsrfChecked])
def create_resource(request: Request, session: SessionDep, values: FormFields, principal: Principal = require(service.WRITE)) -> Response:
    try:
        view = service.create_draft(session, principal, ResourceDraft.model_validate(forms.draft_from_form(values)))
    except ValidationFailed as exc:
        return _edit_page(request, values, resource_id=None, error=exc)
    return RedirectResponse(f"/datahub/resources/{view.resource.id}", status_code=303)


@router.get("/resources/{resource_id}/edit", response_class=HTMLResponse)
def edit_resource(
    request: Request, session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = require(service.WRITE)
) -> Response:
    view = service.get_resource(session, principal, resource_id, service.bureau_org_id(session, settings.bureau_org_code))
    v = view.version
    values = {
        "name": v.name,
        "name_en": v.name_en or "",
        "summary": v.summary,
        "classification": v.classification,
        "category_path": "/".join(v.category_path),
        "resource_type": v.resource_type,
        "update_cycle": v.update_cycle,
        "sharing": v.sharing,
        "sharing_conditions": v.sharing_conditions or "",
        "no_sharing_basis": v.no_sharing_basis or "",
        "open_attribute": v.open_attribute,
        "tags": "，".join(v.tags),
        "fields": forms.format_fields(v.table_schema),
    }
    return _edit_page(request, values, resource_id=resource_id)


@router.post("/resources/{resource_id}/edit", response_class=HTMLResponse, dependencies=[CsrfChecked])
def save_resource(
    request: Request, session: SessionDep, resource_id: IdPath, values: FormFields, principal: Principal = require(service.WRITE)
) -> Response:
    try:
        service.save_version(session, principal, resource_id, ResourceDraft.model_validate(forms.draft_from_form(values)))
    except ValidationFailed as exc:
        return _edit_page(request, values, resource_id=resource_id, error=exc)
    return RedirectResponse(f"/datahub/resources/{resource_id}", status_code=303)


@router.post("/resources/{resource_id}/import", response_class=HTMLResponse, dependencies=[CsrfChecked])
def import_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    resource_id: IdPath,
    file: UploadFile,
    mode: Annotated[str, Form(max_length=8)] = "upsert",
    principal: Principal = require(service.WRITE),
) -> Response:
    record = imports.import_upload(session, principal, resource_id, file.file, file.filename, files_root=settings.files_dir, mode=mode)
    return RedirectResponse(f"/datahub/imports/{record.id}", status_code=303)


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_result(request: Request, session: SessionDep, import_id: IdPath, principal: Principal = require(service.WRITE)) -> Response:
    record = service.get_import(session, principal, import_id)
    return render(request, "datahub/import.html", record=record)


@router.post("/resources/{resource_id}/submit", dependencies=[CsrfChecked])
def submit(session: SessionDep, resource_id: IdPath, principal: Principal = require(service.WRITE)) -> Response:
    service.submit(session, principal, resource_id)
    return RedirectResponse(f"/datahub/resources/{resource_id}", status_code=303)


@router.post("/resources/{resource_id}/approve", dependencies=[CsrfChecked])
def approve(session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = require(service.REVIEW)) -> Response:
    service.approve(session, principal, resource_id, service.bureau_org_id(session, settings.bureau_org_code))
    return RedirectResponse(f"/datahub/resources/{resource_id}", status_code=303)


@router.post("/resources/{resource_id}/return", dependencies=[CsrfChecked])
def return_for_changes(
    session: SessionDep,
    settings: SettingsDep,
    resource_id: IdPath,
    reason: Annotated[str, Form(min_length=2, max_length=2000)],
    principal: Principal = require(service.REVIEW),
) -> Response:
    service.return_for_changes(session, principal, resource_id, reason.strip(), service.bureau_org_id(session, settings.bureau_org_code))
    return RedirectResponse(f"/datahub/resources/{resource_id}", status_code=303)


open_router = APIRouter(prefix="/open")


@open_router.get("", response_class=HTMLResponse, dependencies=[Public])
def open_data(request: Request, session: SessionDep, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Open data, for anyone, without login."""
    result = service.search_published(session, q=q.strip() or None, open_only=True, limit=500)
    return render(request, "datahub/open.html", result=result, q=q)


@open_router.get("/resources/{resource_id}", response_class=HTMLResponse, dependencies=[Public])
def open_detail(request: Request, session: SessionDep, resource_id: IdPath) -> Response:
    view = service.get_open_resource(session, resource_id)
    schema = view.version.table_schema or {}
    return render(
        request, "datahub/open_detail.html", view=view, schema_fields=schema.get("fields", []), primary_key=schema.get("primaryKey", [])
    )


@router.get("/services", response_class=HTMLResponse)
def services_page(request: Request, session: SessionDep, principal: Principal = require(service.READ)) -> Response:
    """Data services to apply for, and this organisation's applications."""
    rows = dataservices.list_services(session)
    names = {s.id: s.code for s in rows}
    applications = dataservices.applications_for(session, principal)
    subscriptions = dataservices.subscriptions_for(session, principal)
    now = utcnow()
    granted = sorted(
        {
            names[g.service_id]
            for g in dataservices.grants_for(session, principal)
            if g.consumer_org_id == principal.org_id and g.revoked_at is None and g.expires_at > now and g.service_id in names
        }
    )
    return render(
        request,
        "datahub/services.html",
        services=rows,
        applications=applications,
        service_codes=names,
        subscriptions=subscriptions,
        granted_codes=granted,
        orgs=service.org_names(
            session, {a.consumer_org_id for a in applications} | {v.subscription.consumer_org_id for v in subscriptions}
        ),
    )


@router.post("/subscriptions", dependencies=[CsrfChecked])
def subscribe_page(
    session: SessionDep,
    code: Annotated[str, Form(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")],
    name: Annotated[str, Form(min_length=1, max_length=100)],
    start: Annotated[str, Form(pattern="^(beginning|now)$")] = "beginning",
    principal: Principal = require(service.CALL),
) -> Response:
    dataservices.subscribe(session, principal, code, name=name, start=start)
    return RedirectResponse("/datahub/services#subscriptions", status_code=303)


@router.post("/subscriptions/{subscription_id}/cancel", dependencies=[CsrfChecked])
def cancel_subscription_page(session: SessionDep, subscription_id: IdPath, principal: Principal = require(service.CALL)) -> Response:
    dataservices.cancel_subscription(session, principal, subscription_id)
    return RedirectResponse("/datahub/services#subscriptions", status_code=303)


@router.post("/services/{code}/apply", response_class=HTMLResponse, dependencies=[CsrfChecked])
def apply_page(
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")],
    fields: Annotated[str, Form(max_length=2000)],
    purpose: Annotated[str, Form(min_length=4, max_length=2000)],
    scenario: Annotated[str, Form(min_length=2, max_length=2000)],
    clear_fields: Annotated[str, Form(max_length=2000)] = "",
    principal: Principal = require(service.APPLY),
) -> Response:
    def split(text: str) -> list[str]:
        return [f.strip() for f in text.replace("，", ",").split(",") if f.strip()]

    dataservices.apply(
        session,
        principal,
        code,
        fields=split(fields),
        clear_fields=split(clear_fields),
        purpose=purpose.strip(),
        scenario=scenario.strip(),
        bureau_id=service.bureau_org_id(session, settings.bureau_org_code),
    )
    return RedirectResponse("/datahub/services", status_code=303)


@router.post("/applications/{application_id}/decide", dependencies=[CsrfChecked])
def decide_page(
    session: SessionDep,
    application_id: IdPath,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=2000)] = "",
    principal: Principal = require(service.DECIDE),
) -> Response:
    if decision == "approve":
        dataservices.approve(session, principal, application_id, rate_per_minute=60, days=365)
    else:
        dataservices.reject(session, principal, application_id, reason.strip() or "未说明")
    return RedirectResponse("/datahub/services", status_code=303)


@router.get("/trail", response_class=HTMLResponse)
def trail_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    id_number: Annotated[str, Query(max_length=18)] = "",
    _: Principal = require(AUDIT_READ),
) -> Response:
    """Who read a person's data: organisation, time, service and purpose."""
    entries = service.access_trail(session, settings.resolved_secret_key(), id_number) if id_number.strip() else None
    return render(request, "datahub/trail.html", entries=entries, id_number=id_number)


@router.post("/resources/{resource_id}/services", dependencies=[CsrfChecked])
def create_service_page(
    session: SessionDep,
    resource_id: IdPath,
    code: Annotated[str, Form(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    kind: Annotated[str, Form(pattern="^(lookup|query|verify)$")],
    match_fields: Annotated[str, Form(max_length=500)] = "",
    principal: Principal = require(service.WRITE),
) -> Response:
    fields = [f.strip() for f in match_fields.replace("，", ",").split(",") if f.strip()]
    dataservices.create_service(session, principal, resource_id, code=code, name=name.strip(), kind=kind, match_fields=fields)
    return RedirectResponse("/datahub/services", status_code=303)


# -- base registries -------------------------------------------------------------------------------


@router.get("/registries", response_class=HTMLResponse)
def registries_page(request: Request, session: SessionDep, settings: SettingsDep, principal: Principal = require(service.READ)) -> Response:
    """The six base registries: records, sources, the last consolidation and what waits for a steward."""
    from citybrain.datahub import registries

    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    rows = [(r, registries.spec(r.kind), registries.sources(session, r.kind)) for r in registries.list_registries(session)]
    return render(
        request,
        "datahub/registries.html",
        rows=rows,
        counts=registries.figures(session),
        open_counts=registries.open_conflict_counts(session),
        steward=principal.has(service.WRITE) and service.is_bureau(principal, bureau),
    )


@router.post("/registries/{kind}/consolidate", dependencies=[CsrfChecked])
def consolidate_page(
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, PathParam(pattern=r"^[a-z_]{2,16}$")],
    principal: Principal = require(service.WRITE),
) -> Response:
    from citybrain.datahub import registries

    registries.consolidate(
        session, principal, service.bureau_org_id(session, settings.bureau_org_code), kind, files_root=settings.files_dir
    )
    return RedirectResponse(f"/datahub/registries/{kind}", status_code=303)


@router.get("/registries/{kind}", response_class=HTMLResponse)
def registry_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, PathParam(pattern=r"^[a-z_]{2,16}$")],
    key: Annotated[str, Query(max_length=64)] = "",
    purpose: Annotated[str, Query(max_length=500)] = "",
    clear: Annotated[bool, Query()] = False,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    principal: Principal = require(service.READ),
) -> Response:
    """One registry: its sources, the last run, a record with its provenance, and the conflict queue."""
    from citybrain.datahub import registries

    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    registry = registries.get(session, kind)
    steward = principal.has(service.WRITE) and service.is_bureau(principal, bureau)
    record, error = None, None
    if key.strip() and steward:
        try:
            record = registries.record(
                session,
                principal,
                bureau,
                kind,
                key.strip(),
                purpose=purpose.strip(),
                secret=settings.resolved_secret_key(),
                clear=clear,
            )
        except CitybrainError as exc:
            error = exc
    size = 20
    conflicts, total = (
        registries.list_conflicts(session, principal, bureau, kind, offset=(page - 1) * size, limit=size) if steward else ([], 0)
    )
    return render(
        request,
        "datahub/registry.html",
        registry=registry,
        spec=registries.spec(kind),
        sources=registries.sources(session, kind),
        records=registries.figures(session).get(kind, 0),
        steward=steward,
        record=record,
        error=error,
        key=key,
        purpose=purpose,
        clear=clear,
        conflicts=conflicts,
        total=total,
        page=page,
        pages=max(1, -(-total // size)),
        fields={f["name"]: f for f in registries.spec(kind).fields},
    )


@router.post("/registries/{kind}/conflicts/{conflict_id}/resolve", dependencies=[CsrfChecked])
def resolve_page(
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, PathParam(pattern=r"^[a-z_]{2,16}$")],
    conflict_id: IdPath,
    choice: Annotated[str, Form(min_length=1, max_length=2000)],
    note: Annotated[str, Form(max_length=2000)] = "",
    page: Annotated[int, Form(ge=1, le=10_000)] = 1,
    principal: Principal = require(service.WRITE),
) -> Response:
    """A steward's decision from the queue: a value, a candidate record, or "none of them"."""
    from citybrain.datahub import registries
    from citybrain.datahub.models import RegistryConflict

    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    conflict = session.get(RegistryConflict, conflict_id)
    is_match = conflict is not None and conflict.kind == "match"
    registries.resolve(
        session,
        principal,
        bureau,
        kind,
        conflict_id,
        value=None if is_match else choice,
        key=choice if is_match and choice != "-" else None,
        no_match=is_match and choice == "-",
        note=note.strip() or None,
    )
    return RedirectResponse(f"/datahub/registries/{kind}?page={page}", status_code=303)


@router.get("/usage", response_class=HTMLResponse)
def usage_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    principal: Principal = require(service.READ),
) -> Response:
    """Calls per service, consumer and day; the most used services; refused calls. A provider sees
    its own services, the data bureau all of them."""
    report = service.usage_report(session, principal, service.bureau_org_id(session, settings.bureau_org_code), days)
    chart = {
        "days": [d.isoformat() for d, _, _ in report.daily],
        "calls": [c for _, c, _ in report.daily],
        "refused": [r for _, _, r in report.daily],
    }
    return render(request, "datahub/usage.html", report=report, chart=chart, days=days)


@router.get("/my-trail", response_class=HTMLResponse)
def my_trail_page(request: Request, session: SessionDep, principal: Principal = require("")) -> Response:
    """A citizen's own data trail (like Estonia's data tracker): who read my data, when and why."""
    return render(request, "datahub/my_trail.html", entries=service.my_trail(session, principal))

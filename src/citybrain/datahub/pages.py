"""The catalogue's pages: browse and search with facets, a resource's detail, the work queues."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citybrain.core.auth.principal import Principal
from citybrain.core.web.deps import Public, SessionDep, SettingsDep
from citybrain.core.web.pages import CsrfChecked, page_requires
from citybrain.core.web.params import IdPath
from citybrain.core.web.templating import render
from citybrain.datahub import service
from citybrain.datahub.schemas import Classification, ResourceType, Sharing

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
    _: Principal = page_requires(service.READ),
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
def queue(request: Request, session: SessionDep, settings: SettingsDep, principal: Principal = page_requires(service.READ)) -> Response:
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
    principal: Principal = page_requires(service.READ),
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
        can_review=principal.has(service.REVIEW) and service.is_bureau(principal, bureau),
    )


@router.post("/resources/{resource_id}/submit", dependencies=[CsrfChecked])
def submit(session: SessionDep, resource_id: IdPath, principal: Principal = page_requires(service.WRITE)) -> Response:
    service.submit(session, principal, resource_id)
    return RedirectResponse(f"/datahub/resources/{resource_id}", status_code=303)


@router.post("/resources/{resource_id}/approve", dependencies=[CsrfChecked])
def approve(
    session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = page_requires(service.REVIEW)
) -> Response:
    service.approve(session, principal, resource_id, service.bureau_org_id(session, settings.bureau_org_code))
    return RedirectResponse(f"/datahub/resources/{resource_id}", status_code=303)


@router.post("/resources/{resource_id}/return", dependencies=[CsrfChecked])
def return_for_changes(
    session: SessionDep,
    settings: SettingsDep,
    resource_id: IdPath,
    reason: Annotated[str, Form(min_length=2, max_length=2000)],
    principal: Principal = page_requires(service.REVIEW),
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

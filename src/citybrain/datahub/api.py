"""``/api/v1/datahub``: the resource catalogue and its review workflow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from citybrain.core.auth.principal import Principal
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.params import IdPath, IdQuery, Limit, Offset
from citybrain.datahub import service
from citybrain.datahub.schemas import (
    Classification,
    ResourceDraft,
    ResourcePage,
    ResourceRead,
    ResourceType,
    ResourceVersionRead,
    ReturnRequest,
    ReviewEventRead,
    Sharing,
)
from citybrain.settings import Settings

router = APIRouter(prefix="/api/v1/datahub", tags=["datahub: catalogue"])


def _bureau(session: Session, settings: Settings) -> int | None:
    return service.bureau_org_id(session, settings.bureau_org_code)


def to_read(view: service.ResourceView) -> ResourceRead:
    r = view.resource
    return ResourceRead(
        id=r.id,
        code=r.code,
        provider_org_id=r.provider_org_id,
        provider_name=view.provider_name,
        status=r.status,
        latest_version=r.latest_version,
        published_version=r.published_version,
        first_published_on=r.first_published_on,
        current=ResourceVersionRead.model_validate(view.version),
    )


@router.get("/resources")
def search_resources(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="words to find, Chinese or English")] = None,
    provider_org_id: IdQuery = None,
    classification: Classification | None = None,
    sharing: Sharing | None = None,
    resource_type: ResourceType | None = None,
    offset: Offset = 0,
    limit: Limit = 20,
    _: Principal = require(service.READ),
) -> ResourcePage:
    """Search the published catalogue; facet counts by provider, classification, sharing and type."""
    result = service.search_published(
        session,
        q=q,
        provider_org_id=provider_org_id,
        classification=classification,
        sharing=sharing,
        resource_type=resource_type,
        offset=offset,
        limit=limit,
    )
    return ResourcePage(items=[to_read(v) for v in result.items], total=result.total, facets=result.facets)


@router.post("/resources", status_code=status.HTTP_201_CREATED)
def create_resource(session: SessionDep, data: ResourceDraft, principal: Principal = require(service.WRITE)) -> ResourceRead:
    """Draft a new resource of the caller's organisation (version 1)."""
    return to_read(service.create_draft(session, principal, data))


@router.get("/resources/{resource_id}")
def get_resource(
    session: SessionDep,
    settings: SettingsDep,
    resource_id: IdPath,
    version: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    principal: Principal = require(service.READ),
) -> ResourceRead:
    """The published version (or, for its provider and the data bureau, the latest); ``version``
    picks an older one."""
    return to_read(service.get_resource(session, principal, resource_id, _bureau(session, settings), version=version))


@router.put("/resources/{resource_id}")
def save_resource(
    session: SessionDep, resource_id: IdPath, data: ResourceDraft, principal: Principal = require(service.WRITE)
) -> ResourceRead:
    """Save a change: a new version, in draft until it is submitted and approved."""
    return to_read(service.save_version(session, principal, resource_id, data))


@router.get("/resources/{resource_id}/versions")
def list_versions(
    session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = require(service.READ)
) -> list[ResourceVersionRead]:
    """Every version the caller may read, newest first."""
    rows = service.list_versions(session, principal, resource_id, _bureau(session, settings))
    return [ResourceVersionRead.model_validate(v) for v in rows]


@router.get("/resources/{resource_id}/reviews")
def review_history(
    session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = require(service.READ)
) -> list[ReviewEventRead]:
    """Submissions, approvals and returns with their reasons (provider and data bureau only)."""
    return [ReviewEventRead.model_validate(e) for e in service.review_history(session, principal, resource_id, _bureau(session, settings))]


@router.post("/resources/{resource_id}/submit")
def submit(session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = require(service.WRITE)) -> ResourceRead:
    """Send the latest version to the data bureau for review."""
    service.submit(session, principal, resource_id)
    return to_read(service.get_resource(session, principal, resource_id, _bureau(session, settings)))


@router.post("/resources/{resource_id}/approve")
def approve(
    session: SessionDep, settings: SettingsDep, resource_id: IdPath, principal: Principal = require(service.REVIEW)
) -> ResourceRead:
    """Publish the version under review (reviewers of the data bureau)."""
    bureau = _bureau(session, settings)
    service.approve(session, principal, resource_id, bureau)
    return to_read(service.get_resource(session, principal, resource_id, bureau))


@router.post("/resources/{resource_id}/return")
def return_for_changes(
    session: SessionDep, settings: SettingsDep, resource_id: IdPath, data: ReturnRequest, principal: Principal = require(service.REVIEW)
) -> ResourceRead:
    """Send the version under review back to its provider, saying why."""
    bureau = _bureau(session, settings)
    service.return_for_changes(session, principal, resource_id, data.reason, bureau)
    return to_read(service.get_resource(session, principal, resource_id, bureau))


@router.get("/queue")
def work_queue(session: SessionDep, settings: SettingsDep, principal: Principal = require(service.READ)) -> list[ResourceRead]:
    """What waits for the caller: resources in review (data bureau reviewers) or drafts and
    returned resources of the caller's organisation (stewards)."""
    return [to_read(v) for v in service.work_queue(session, principal, _bureau(session, settings))]


open_router = APIRouter(prefix="/api/v1/datahub/open", tags=["datahub: open data"])


@open_router.get("", dependencies=[Public])
def open_resources(
    session: SessionDep, q: Annotated[str | None, Query(max_length=200)] = None, offset: Offset = 0, limit: Limit = 20
) -> ResourcePage:
    """Open data: published resources whose open attribute is "open", for anyone, without login."""
    result = service.search_published(session, q=q, open_only=True, offset=offset, limit=limit)
    return ResourcePage(items=[to_read(v) for v in result.items], total=result.total, facets=result.facets)


@open_router.get(
    "/catalog.jsonld", dependencies=[Public], response_class=Response, responses={200: {"content": {"application/ld+json": {}}}}
)
def dcat_jsonld(session: SessionDep, settings: SettingsDep) -> Response:
    """The open-data catalogue as DCAT-AP 2.1.1 in JSON-LD."""
    graph = service.open_catalogue_graph(session, settings.base_url, settings.bureau_org_code)
    return Response(graph.serialize(format="json-ld"), media_type="application/ld+json")


@open_router.get("/catalog.ttl", dependencies=[Public], response_class=Response, responses={200: {"content": {"text/turtle": {}}}})
def dcat_turtle(session: SessionDep, settings: SettingsDep) -> Response:
    """The open-data catalogue as DCAT-AP 2.1.1 in Turtle."""
    graph = service.open_catalogue_graph(session, settings.base_url, settings.bureau_org_code)
    return Response(graph.serialize(format="turtle"), media_type="text/turtle; charset=utf-8")

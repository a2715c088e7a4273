"""``/api/v1/datahub``: the resource catalogue and its review workflow."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from citybrain.core.auth.principal import Principal
from citybrain.core.files import service as files_service
from citybrain.core.i18n import translate
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.params import IdPath, IdQuery, Limit, Offset
from citybrain.datahub import imports, service
from citybrain.datahub.errors import ImportRejected, ResourceNotFound
from citybrain.datahub.models import DataImport
from citybrain.datahub.schemas import (
    Classification,
    ImportProblem,
    ImportRead,
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


def import_read(record: DataImport, lang: str) -> ImportRead:
    problems = [
        ImportProblem(
            row=p.get("row"),
            field=p.get("field"),
            value=p.get("value"),
            reason=p["reason"],
            message=translate(p["reason"], lang, p.get("params") or {}),
        )
        for p in record.first_errors
    ]
    return ImportRead(
        id=record.id,
        resource_id=record.resource_id,
        version=record.version,
        filename=record.filename,
        file_format=record.file_format,
        mode=record.mode,
        status=record.status,  # type: ignore[arg-type]
        rows_read=record.rows_read,
        rows_rejected=record.rows_rejected,
        errors_count=record.errors_count,
        inserted=record.inserted,
        updated=record.updated,
        deleted=record.deleted,
        unchanged=record.unchanged,
        report_url=f"/api/v1/datahub/imports/{record.id}/report.csv" if record.report_file_id else None,
        started_at=record.started_at,
        finished_at=record.finished_at,
        problems=problems,
    )


@router.post(
    "/resources/{resource_id}/imports",
    status_code=status.HTTP_201_CREATED,
    responses={422: {"description": "rejected: nothing was written; the body lists the problems and links the full report"}},
)
def import_rows(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    resource_id: IdPath,
    file: UploadFile,
    mode: Annotated[Literal["upsert", "replace"], Form()] = "upsert",
    principal: Principal = require(service.WRITE),
) -> ImportRead:
    """Import a CSV, XLSX or JSON file into the resource's table, all or nothing.

    ``upsert`` inserts new keys and updates changed rows; ``replace`` also deletes rows whose keys
    the file does not hold. A file with any invalid row writes nothing and answers 422 with the
    problems (row, field, value masked when personal, reason) and a link to the full report.
    """
    record = imports.import_upload(session, principal, resource_id, file.file, file.filename, files_root=settings.files_dir, mode=mode)
    lang = getattr(request.state, "lang", "zh-CN")
    body = import_read(record, lang)
    if record.status == "rejected":
        raise ImportRejected(body.model_dump(mode="json"))
    return body


@router.get("/resources/{resource_id}/imports")
def list_imports(
    session: SessionDep, request: Request, resource_id: IdPath, principal: Principal = require(service.WRITE)
) -> list[ImportRead]:
    """The resource's imports, newest first (its provider only)."""
    lang = getattr(request.state, "lang", "zh-CN")
    return [import_read(r, lang) for r in service.list_imports(session, principal, resource_id)]


@router.get("/imports/{import_id}")
def get_import(session: SessionDep, request: Request, import_id: IdPath, principal: Principal = require(service.WRITE)) -> ImportRead:
    return import_read(service.get_import(session, principal, import_id), getattr(request.state, "lang", "zh-CN"))


@router.get("/imports/{import_id}/report.csv", response_class=FileResponse, responses={200: {"content": {"text/csv": {}}}})
def import_report(
    session: SessionDep, settings: SettingsDep, import_id: IdPath, principal: Principal = require(service.WRITE)
) -> FileResponse:
    """Every rejected row of an import as CSV: row, field, value (masked when personal), reason."""
    record = service.get_import(session, principal, import_id)
    if record.report_file_id is None:
        raise ResourceNotFound(id=import_id)
    stored = files_service.get(session, principal, record.report_file_id)
    return FileResponse(
        files_service.blob_path(settings.files_dir, stored.sha256),
        media_type="text/csv",
        filename=stored.name,
        content_disposition_type="attachment",
    )


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

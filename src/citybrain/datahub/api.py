"""``/api/v1/datahub``: the resource catalogue and its review workflow."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.auth.principal import AUDIT_READ, Principal
from citybrain.core.errors import FieldError, NotFound, ValidationFailed
from citybrain.core.files import service as files_service
from citybrain.core.i18n import translate
from citybrain.core.web.deps import (
    CACHED_SECURITY,
    Public,
    SessionDep,
    SettingsDep,
    get_audit_writer,
    get_database,
    get_settings,
    require,
    require_cached,
)
from citybrain.core.web.hot import hot_get
from citybrain.core.web.params import IdPath, IdQuery, Limit, Offset
from citybrain.datahub import dataservices, imports, registries, service
from citybrain.datahub.errors import ImportRejected, ResourceNotFound
from citybrain.datahub.models import AccessApplication, DataImport, Registry, Resource
from citybrain.datahub.schemas import (
    ApplicationCreate,
    ApplicationRead,
    ApprovalRequest,
    CallRead,
    ChangesRead,
    Classification,
    ConflictPage,
    ConflictRead,
    ConflictResolve,
    ConsolidationRead,
    GoldenLinkRead,
    GoldenRecordRead,
    GrantRead,
    ImportProblem,
    ImportRead,
    LookupParams,
    QueryParams,
    RegistryRead,
    RegistrySourceCreate,
    RegistrySourceRead,
    ResourceDraft,
    ResourcePage,
    ResourceRead,
    ResourceType,
    ResourceVersionRead,
    ReturnRequest,
    ReviewEventRead,
    ServiceCreate,
    ServiceRead,
    Sharing,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUsageRead,
    TrailRead,
    UsageRead,
    VerifyRead,
    VerifyRequest,
)
from citybrain.settings import Settings

router = APIRouter(prefix="/api/v1/datahub", tags=["datahub: catalogue"])

ServiceCode = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")]


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


services_router = APIRouter(prefix="/api/v1/datahub", tags=["datahub: data services"])


@services_router.post("/resources/{resource_id}/services", status_code=status.HTTP_201_CREATED)
def create_service(
    session: SessionDep, resource_id: IdPath, data: ServiceCreate, principal: Principal = require(service.WRITE)
) -> ServiceRead:
    """Publish a key lookup, filtered query or yes/no verification over a published table resource."""
    row = dataservices.create_service(
        session, principal, resource_id, code=data.code, name=data.name, kind=data.kind, match_fields=list(data.match_fields)
    )
    return ServiceRead.model_validate(row)


@services_router.get("/services")
def list_services(session: SessionDep, _: Principal = require(service.READ)) -> list[ServiceRead]:
    return [ServiceRead.model_validate(s) for s in dataservices.list_services(session)]


@services_router.post("/services/{code}/applications", status_code=status.HTTP_201_CREATED)
def apply(
    session: SessionDep, settings: SettingsDep, code: ServiceCode, data: ApplicationCreate, principal: Principal = require(service.APPLY)
) -> ApplicationRead:
    """Apply to use a service: the fields, which personal ones unmasked, the purpose and scenario."""
    row = dataservices.apply(
        session,
        principal,
        code,
        fields=list(data.fields),
        clear_fields=list(data.clear_fields),
        purpose=data.purpose,
        scenario=data.scenario,
        bureau_id=_bureau(session, settings),
    )
    return ApplicationRead.model_validate(row)


@services_router.get("/applications")
def list_applications(session: SessionDep, principal: Principal = require(service.READ)) -> list[ApplicationRead]:
    """Applications the caller's organisation made or has to decide."""
    return [ApplicationRead.model_validate(a) for a in dataservices.applications_for(session, principal)]


@services_router.post("/applications/{application_id}/approve")
def approve_application(
    session: SessionDep, application_id: IdPath, data: ApprovalRequest, principal: Principal = require(service.DECIDE)
) -> ApplicationRead:
    """Approve (the reviewing organisation: the data bureau or the provider); a grant follows."""
    grant = dataservices.approve(session, principal, application_id, rate_per_minute=data.rate_per_minute, days=data.days)
    return ApplicationRead.model_validate(session.get(AccessApplication, grant.application_id))


@services_router.post("/applications/{application_id}/reject")
def reject_application(
    session: SessionDep, application_id: IdPath, data: ReturnRequest, principal: Principal = require(service.DECIDE)
) -> ApplicationRead:
    return ApplicationRead.model_validate(dataservices.reject(session, principal, application_id, data.reason))


#: The governed calls themselves, by far the busiest routes: mounted ahead of every other route
#: (see ``Domain.hot_api_router``).
calls_router = APIRouter(prefix="/api/v1/datahub", tags=["datahub: data services"])


def _gateway(request: Request) -> dataservices.Gateway:
    """The app's governed-call gateway, made on first use (a plain function, not a dependency: the
    hot routes take no more dependencies than they need)."""
    found: dataservices.Gateway | None = getattr(request.app.state, "datahub_gateway", None)
    if found is None:
        secret = get_settings(request).resolved_secret_key()
        found = request.app.state.datahub_gateway = dataservices.Gateway(get_database(request), get_audit_writer(request), secret)
    return found


@hot_get(calls_router, "/services/{code}/lookup", scope=service.CALL, params=LookupParams, response=CallRead)
async def lookup(request: Request, principal: Principal, params: LookupParams) -> CallRead:
    """Look one row up by its key, with the granted fields (personal ones masked unless granted).
    The read is in the audit log (committed) before the answer is sent; 503 if it cannot be."""
    result = await _gateway(request).call(principal, params.code, fields=_fields(params.fields), key=params.key)
    return CallRead.model_construct(rows=result.rows, masked=result.masked or [])


@hot_get(calls_router, "/services/{code}/query", scope=service.CALL, params=QueryParams, response=CallRead)
async def query(request: Request, principal: Principal, params: QueryParams) -> CallRead:
    """Rows matching every ``where`` (field:value), a page at a time."""
    filters = {}
    for item in params.where or []:
        name, sep, value = item.partition(":")
        if not sep:
            raise ValidationFailed(
                "error.validation", errors=[FieldError(("query", "where"), "datahub.service.bad_where", {"where": item})]
            )
        filters[name] = value
    result = await _gateway(request).call(
        principal,
        params.code,
        fields=_fields(params.fields),
        filters=filters,
        limit=min(params.limit, dataservices.MAX_QUERY_ROWS),
        offset=params.offset,
    )
    return CallRead.model_construct(rows=result.rows, masked=result.masked or [])


@calls_router.post("/services/{code}/verify", openapi_extra=CACHED_SECURITY)
async def verify(
    request: Request, code: ServiceCode, data: VerifyRequest, principal: Principal = require_cached(service.CALL)
) -> VerifyRead:
    """Yes or no: does a row with these values exist? Reveals nothing else."""
    result = await _gateway(request).call(principal, code, values=dict(data.values))
    return VerifyRead(match=bool(result.match))


@services_router.get("/access-trail")
def access_trail(
    session: SessionDep,
    settings: SettingsDep,
    id_number: Annotated[str, Query(min_length=15, max_length=18)],
    _: Principal = require(AUDIT_READ),
) -> list[TrailRead]:
    """Which organisation read a person's data, when, through which service and why."""
    return [TrailRead(**vars(e)) for e in service.access_trail(session, settings.resolved_secret_key(), id_number)]


@services_router.get("/usage")
def usage(session: SessionDep, settings: SettingsDep, principal: Principal = require(service.READ)) -> list[UsageRead]:
    """Calls, rows and refusals per service, consumer and day."""
    return [
        UsageRead(
            service=s.code,
            consumer_org_id=u.consumer_org_id,
            day=u.day,
            calls=u.calls,
            rows=u.rows,
            refused=u.refused,
            exchanged=u.exchanged,
        )
        for u, s in dataservices.usage(session, principal, _bureau(session, settings))
    ]


def _fields(text: str | None) -> list[str] | None:
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


@services_router.get("/services/{code}/changes")
def changes(
    session: SessionDep,
    settings: SettingsDep,
    code: ServiceCode,
    since: Annotated[int, Query(ge=0, le=2**62, description="the cursor: the last sequence number already received")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    principal: Principal = require(service.CALL),
) -> ChangesRead:
    """Exchange: the resource's inserts, updates and deletes after ``since``, in order, with the
    granted fields (masked as granted). Resume with ``next``; the same cursor gives the same page."""
    page = dataservices.changes(session, principal, code, secret=settings.resolved_secret_key(), since=since, limit=limit)
    return ChangesRead(changes=page.changes, next=page.next, more=page.more, masked=page.masked)


@services_router.get("/figures")
def figures(session: SessionDep, _: Principal = require(service.READ)) -> dict[str, int]:
    """The data hub's figures for the operations center (computed from the records)."""
    return service.figures(session)


@services_router.get(
    "/services/{code}/snapshot",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def snapshot(
    session: SessionDep,
    settings: SettingsDep,
    code: ServiceCode,
    format: Annotated[Literal["csv", "parquet"], Query()] = "csv",  # noqa: A002 - the query parameter's name
    principal: Principal = require(service.CALL),
) -> Response:
    """Exchange: a full snapshot of the granted fields (masked as granted) as CSV or Parquet. The
    ``X-Change-Seq`` header is the cursor it is current to: pull ``changes?since=`` it afterwards."""
    body, seq = dataservices.snapshot(session, principal, code, secret=settings.resolved_secret_key(), fmt=format)
    media = "application/vnd.apache.parquet" if format == "parquet" else "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={"X-Change-Seq": str(seq), "Content-Disposition": f'attachment; filename="{code}.{format}"'},
    )


def _subscription_read(view: dataservices.SubscriptionView, usage: list[SubscriptionUsageRead] | None = None) -> SubscriptionRead:
    row = view.subscription
    return SubscriptionRead(
        id=row.id,
        service=view.service_code,
        consumer_org_id=row.consumer_org_id,
        name=row.name,
        status=row.status,
        cursor=row.cursor,
        latest=view.latest,
        lag=view.lag,
        exchanged_today=view.exchanged_today,
        exchanged_total=view.exchanged_total,
        created_at=row.created_at,
        last_pulled_at=row.last_pulled_at,
        usage=usage or [],
    )


@services_router.post("/subscriptions", status_code=status.HTTP_201_CREATED)
def subscribe(session: SessionDep, data: SubscriptionCreate, principal: Principal = require(service.CALL)) -> SubscriptionRead:
    """Exchange: subscribe to a granted service's changes. The server keeps the subscription's
    cursor; pull with ``GET /subscriptions/{id}/changes``."""
    row = dataservices.subscribe(session, principal, data.service, name=data.name, start=data.start)
    return _subscription_read(dataservices.get_subscription(session, principal, row.id))


@services_router.get("/subscriptions")
def list_subscriptions(session: SessionDep, principal: Principal = require(service.READ)) -> list[SubscriptionRead]:
    """Subscriptions the caller's organisation holds, and those to the services it provides."""
    return [_subscription_read(v) for v in dataservices.subscriptions_for(session, principal)]


@services_router.get("/subscriptions/{subscription_id}")
def get_subscription(session: SessionDep, subscription_id: IdPath, principal: Principal = require(service.READ)) -> SubscriptionRead:
    """One subscription with its pulls and records exchanged per day."""
    view = dataservices.get_subscription(session, principal, subscription_id)
    usage = [SubscriptionUsageRead.model_validate(u) for u in dataservices.subscription_usage(session, subscription_id)]
    return _subscription_read(view, usage)


@services_router.get("/subscriptions/{subscription_id}/changes")
def pull_subscription(
    session: SessionDep,
    settings: SettingsDep,
    subscription_id: IdPath,
    since: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="the last change already applied; acknowledges it (default: the stored cursor)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    principal: Principal = require(service.CALL),
) -> ChangesRead:
    """Exchange: the subscription's changes after ``since`` or, without it, after its stored cursor.
    Pulling with ``since=N`` acknowledges the changes up to ``N``: a consumer that lost its own
    cursor resumes from the acknowledged one. The same ``since`` gives the same page."""
    page = dataservices.pull(session, principal, subscription_id, secret=settings.resolved_secret_key(), since=since, limit=limit)
    return ChangesRead(changes=page.changes, next=page.next, more=page.more, masked=page.masked)


@services_router.post("/subscriptions/{subscription_id}/cancel")
def cancel_subscription(session: SessionDep, subscription_id: IdPath, principal: Principal = require(service.CALL)) -> SubscriptionRead:
    """End a subscription; what it exchanged stays counted."""
    dataservices.cancel_subscription(session, principal, subscription_id)
    return _subscription_read(dataservices.get_subscription(session, principal, subscription_id))


@services_router.get("/grants")
def list_grants(session: SessionDep, principal: Principal = require(service.READ)) -> list[GrantRead]:
    """Grants the caller's organisation holds, decided, or provides data through."""
    return [GrantRead.model_validate(g) for g in dataservices.grants_for(session, principal)]


@services_router.post("/grants/{grant_id}/revoke")
def revoke_grant(session: SessionDep, grant_id: IdPath, principal: Principal = require(service.DECIDE)) -> GrantRead:
    """End a grant at once: the consumer's next call is refused."""
    return GrantRead.model_validate(dataservices.revoke_grant(session, principal, grant_id))


# -- base registries -------------------------------------------------------------------------------

registries_router = APIRouter(prefix="/api/v1/datahub/registries", tags=["datahub: base registries"])


def registry_read(session: Session, registry: Registry, counts: dict[str, int], open_counts: dict[str, int]) -> RegistryRead:

    spec = registries.spec(registry.kind)
    resource = session.get(Resource, registry.resource_id)
    assert resource is not None
    return RegistryRead(
        kind=registry.kind,
        name=spec.name,
        name_en=spec.name_en,
        resource_id=resource.id,
        resource_code=resource.code,
        key=list(spec.key),
        linkage=spec.match is not None,
        records=counts.get(registry.kind, 0),
        open_conflicts=open_counts.get(registry.kind, 0),
        last_run_at=registry.last_run_at,
        last_run=registry.last_run or {},
        sources=[
            RegistrySourceRead(resource_id=r.id, resource_code=r.code, priority=s.priority, mapping=s.mapping)
            for s, r in registries.sources(session, registry.kind)
        ],
    )


RegistryKindPath = Annotated[
    Literal["population", "legal_entity", "credit", "geography", "economy", "licence"], Path(description="which base registry")
]


@registries_router.get("")
def list_registries(session: SessionDep, _: Principal = require(service.READ)) -> list[RegistryRead]:
    """The six base registries: records, sources, the last consolidation and open conflicts."""
    counts, open_counts = registries.figures(session), registries.open_conflict_counts(session)
    return [registry_read(session, r, counts, open_counts) for r in registries.list_registries(session)]


@registries_router.post("/setup")
def setup_registries(session: SessionDep, settings: SettingsDep, principal: Principal = require(service.WRITE)) -> list[RegistryRead]:
    """Create the six base registries that do not exist yet (the data bureau's stewards)."""
    rows = registries.setup(session, principal, _bureau(session, settings))
    counts, open_counts = registries.figures(session), registries.open_conflict_counts(session)
    return [registry_read(session, r, counts, open_counts) for r in rows]


@registries_router.get("/{kind}")
def get_registry(session: SessionDep, kind: RegistryKindPath, _: Principal = require(service.READ)) -> RegistryRead:

    return registry_read(session, registries.get(session, kind), registries.figures(session), registries.open_conflict_counts(session))


@registries_router.post("/{kind}/sources", status_code=status.HTTP_201_CREATED)
def add_registry_source(
    session: SessionDep,
    settings: SettingsDep,
    kind: RegistryKindPath,
    data: RegistrySourceCreate,
    principal: Principal = require(service.WRITE),
) -> RegistrySourceRead:
    """Feed the registry from a published table resource (the data bureau's stewards)."""
    resource = session.scalar(select(Resource).where(Resource.code == data.resource_code))
    if resource is None:
        raise ResourceNotFound(id=data.resource_code)
    row = registries.add_source(
        session, principal, _bureau(session, settings), kind, resource.id, priority=data.priority, mapping=data.mapping
    )
    return RegistrySourceRead(resource_id=resource.id, resource_code=resource.code, priority=row.priority, mapping=row.mapping)


@registries_router.post("/{kind}/consolidate")
def consolidate_registry(
    session: SessionDep, settings: SettingsDep, kind: RegistryKindPath, principal: Principal = require(service.WRITE)
) -> ConsolidationRead:
    """Rebuild the registry's records from its sources: link, pick values, flag conflicts, load."""
    run = registries.consolidate(session, principal, _bureau(session, settings), kind, files_root=settings.files_dir)
    return ConsolidationRead(**run.__dict__)


@registries_router.get("/{kind}/conflicts")
def list_registry_conflicts(
    session: SessionDep,
    settings: SettingsDep,
    kind: RegistryKindPath,
    state: Annotated[Literal["open", "resolved"], Query(alias="status")] = "open",
    conflict_kind: Annotated[Literal["value", "match"] | None, Query(alias="kind")] = None,
    offset: Offset = 0,
    limit: Limit = 20,
    principal: Principal = require(service.WRITE),
) -> ConflictPage:
    """What stewards must decide: sources that disagree on a value, rows that may be a record."""
    items, total = registries.list_conflicts(
        session, principal, _bureau(session, settings), kind, status=state, conflict_kind=conflict_kind, offset=offset, limit=limit
    )
    return ConflictPage(items=[ConflictRead.model_validate(c) for c in items], total=total)


@registries_router.post("/{kind}/conflicts/{conflict_id}/resolve")
def resolve_registry_conflict(
    session: SessionDep,
    settings: SettingsDep,
    kind: RegistryKindPath,
    conflict_id: IdPath,
    data: ConflictResolve,
    principal: Principal = require(service.WRITE),
) -> ConflictRead:
    """Decide a conflict; the decision holds from the next consolidation while the sources agree with it."""
    row = registries.resolve(
        session,
        principal,
        _bureau(session, settings),
        kind,
        conflict_id,
        value=data.value,
        key=data.key,
        no_match=data.no_match,
        note=data.note,
    )
    return ConflictRead.model_validate(row)


@registries_router.get("/{kind}/records/{key}")
def get_registry_record(
    session: SessionDep,
    settings: SettingsDep,
    kind: RegistryKindPath,
    key: Annotated[str, Path(min_length=1, max_length=64, description="the record's key; composite keys joined by |")],
    purpose: Annotated[str, Query(min_length=2, max_length=500, description="why the record is read (audited)")],
    clear: Annotated[bool, Query(description="show personal fields unmasked (audited as such)")] = False,
    principal: Principal = require(service.WRITE),
) -> GoldenRecordRead:
    """One registry record with each field's provenance; reads of a person's record are audited."""
    view = registries.record(
        session,
        principal,
        _bureau(session, settings),
        kind,
        key,
        purpose=purpose,
        secret=settings.resolved_secret_key(),
        clear=clear,
    )
    return GoldenRecordRead(
        kind=view.kind,
        key=view.key,
        values=view.values,
        provenance=view.provenance,
        sources=view.sources,
        masked=view.masked,
        conflicts=[ConflictRead.model_validate(c) for c in view.conflicts],
        links=[GoldenLinkRead.model_validate(link) for link in view.links],
    )


@services_router.get("/my-trail")
def my_trail(session: SessionDep, principal: Principal = require("")) -> list[TrailRead]:
    """The caller's own data trail: who read their personal data, when, through which service and why
    (citizen accounts bound to a resident ID number; others get 404)."""
    entries = service.my_trail(session, principal)
    if entries is None:
        raise NotFound("datahub.my_trail.not_bound")
    return [TrailRead(**vars(e)) for e in entries]

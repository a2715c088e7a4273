"""The resource catalogue: drafts, versions, the review workflow, search with facets.

A data steward of the provider drafts; every save is a new version. Submitting sends the latest
version to review; a reviewer of the data bureau approves it (it becomes the published version) or
returns it with a reason. Published resources are listed to every logged-in organisation; drafts
only to their provider and the data bureau's reviewers. Services never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rdflib import Graph
from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from citybrain.core import events
from citybrain.core.audit import service as audit
from citybrain.core.auth import service as auth
from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow
from citybrain.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from citybrain.datahub import dcat, search
from citybrain.datahub.errors import NotBureau, NotProvider, ResourceNotFound, WrongStatus
from citybrain.datahub.models import DataImport, Registry, Resource, ResourceVersion, ReviewEvent, SearchTerm
from citybrain.datahub.schemas import ResourceDraft, Status

READ = "datahub:read"
WRITE = "datahub:write"
REVIEW = "datahub:review"
APPLY = "datahub:apply"  # ask for a data service
DECIDE = "datahub:decide"  # decide applications (the data bureau's reviewers, the provider's stewards)
CALL = "datahub:call"  # call a data service within a grant

SUBJECT = "datahub.resource"

FACETS = ("provider", "classification", "sharing", "resource_type")


@dataclass(frozen=True)
class ResourceView:
    """A resource with one of its versions (and its provider's name)."""

    resource: Resource
    version: ResourceVersion
    provider_name: str


def is_bureau(principal: Principal, bureau_org_id: int | None) -> bool:
    return principal.org_id is not None and principal.org_id == bureau_org_id


def bureau_org_id(session: Session, bureau_code: str) -> int | None:
    try:
        return auth.get_org_by_code(session, bureau_code).id
    except NotFound:  # no bureau organisation: nobody reviews
        return None


def _version_row(resource: Resource, number: int, data: ResourceDraft, principal: Principal) -> ResourceVersion:
    return ResourceVersion(
        resource_id=resource.id,
        version=number,
        name=data.name,
        name_en=data.name_en,
        summary=data.summary,
        classification=data.classification,
        category_path=list(data.category_path),
        resource_type=data.resource_type,
        update_cycle=data.update_cycle,
        sharing=data.sharing,
        sharing_conditions=data.sharing_conditions,
        no_sharing_basis=data.no_sharing_basis,
        open_attribute=data.open_attribute,
        tags=list(dict.fromkeys(data.tags)),
        table_schema=data.table_schema.descriptor() if data.table_schema else None,
        change_note=data.change_note,
        created_by=principal.actor_ref(),
    )


def _next_code(session: Session, provider_code: str) -> str:
    count = session.scalar(select(func.count()).select_from(Resource).where(Resource.code.like(f"{provider_code}/%"))) or 0
    n = count + 1
    while session.scalar(select(Resource.id).where(Resource.code == f"{provider_code}/{n:05d}")) is not None:
        n += 1
    return f"{provider_code}/{n:05d}"


def create_draft(session: Session, principal: Principal, data: ResourceDraft) -> ResourceView:
    """A new resource of the caller's organisation, as version 1 in draft."""
    if principal.org_id is None:
        raise NotProvider()
    provider = auth.get_org(session, principal.org_id)
    code = data.code or _next_code(session, provider.code)
    if session.scalar(select(Resource.id).where(Resource.code == code)) is not None:
        raise Conflict("datahub.code_taken", code=code)
    resource = Resource(code=code, provider_org_id=provider.id, status=Status.DRAFT, latest_version=1)
    session.add(resource)
    session.flush()
    version = _version_row(resource, 1, data, principal)
    session.add(version)
    session.flush()
    audit.record(session, principal, "datahub.resource.drafted", subject_type=SUBJECT, subject_id=resource.id, detail={"code": code})
    return ResourceView(resource, version, provider.name)


def _get(session: Session, resource_id: int) -> Resource:
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise ResourceNotFound(id=resource_id)
    return resource


def _require_provider(resource: Resource, principal: Principal) -> None:
    if resource.provider_org_id != principal.org_id:
        raise NotProvider()


def save_version(session: Session, principal: Principal, resource_id: int, data: ResourceDraft) -> ResourceView:
    """Save a change as a new version (back in draft). A published version stays published until
    its successor is approved; a resource under review cannot change."""
    resource = _get(session, resource_id)
    _require_provider(resource, principal)
    if resource.status == Status.IN_REVIEW:
        raise WrongStatus(status=resource.status)
    if session.scalar(select(Registry.kind).where(Registry.resource_id == resource.id)) is not None:
        raise Conflict("datahub.registry.schema_fixed")
    if data.code and data.code != resource.code:
        raise ValidationFailed("error.validation", errors=[FieldError(("body", "code"), "datahub.code_fixed")])
    resource.latest_version += 1
    resource.status = Status.DRAFT
    version = _version_row(resource, resource.latest_version, data, principal)
    session.add(version)
    session.flush()
    audit.record(
        session, principal, "datahub.resource.revised", subject_type=SUBJECT, subject_id=resource.id, detail={"version": version.version}
    )
    return ResourceView(resource, version, auth.get_org(session, resource.provider_org_id).name)


def _event(session: Session, resource: Resource, principal: Principal, action: str, reason: str | None = None) -> None:
    session.add(
        ReviewEvent(
            resource_id=resource.id,
            version=resource.latest_version,
            action=action,
            actor=principal.actor_ref(),
            actor_name=principal.display_name or principal.name,
            reason=reason,
        )
    )


def submit(session: Session, principal: Principal, resource_id: int) -> Resource:
    """Send the latest version to the data bureau for review."""
    resource = _get(session, resource_id)
    _require_provider(resource, principal)
    if resource.status not in (Status.DRAFT, Status.RETURNED):
        raise WrongStatus(status=resource.status)
    resource.status = Status.IN_REVIEW
    _event(session, resource, principal, "submitted")
    audit.record(session, principal, "datahub.resource.submitted", subject_type=SUBJECT, subject_id=resource.id)
    return resource


def _require_reviewer(principal: Principal, bureau_id: int | None) -> None:
    if not is_bureau(principal, bureau_id):
        raise NotBureau()


def approve(session: Session, principal: Principal, resource_id: int, bureau_id: int | None) -> Resource:
    """Publish the version under review; it replaces the previously published one."""
    _require_reviewer(principal, bureau_id)
    resource = _get(session, resource_id)
    if resource.status != Status.IN_REVIEW:
        raise WrongStatus(status=resource.status)
    resource.status = Status.PUBLISHED
    resource.published_version = resource.latest_version
    if resource.first_published_on is None:
        resource.first_published_on = utcnow().date()
    _event(session, resource, principal, "approved")
    version = get_version(session, resource, resource.latest_version)
    _index(session, resource, version)
    audit.record(
        session, principal, "datahub.resource.published", subject_type=SUBJECT, subject_id=resource.id, detail={"version": version.version}
    )
    events.publish(session, "datahub.resource.published", resource_id=resource.id, version=version.version)
    return resource


def return_for_changes(session: Session, principal: Principal, resource_id: int, reason: str, bureau_id: int | None) -> Resource:
    """Send the version under review back to its provider with a reason."""
    _require_reviewer(principal, bureau_id)
    resource = _get(session, resource_id)
    if resource.status != Status.IN_REVIEW:
        raise WrongStatus(status=resource.status)
    resource.status = Status.RETURNED
    _event(session, resource, principal, "returned", reason)
    audit.record(session, principal, "datahub.resource.returned", subject_type=SUBJECT, subject_id=resource.id, detail={"reason": reason})
    return resource


def _index(session: Session, resource: Resource, version: ResourceVersion) -> None:
    session.execute(delete(SearchTerm).where(SearchTerm.resource_id == resource.id))
    provider = auth.get_org(session, resource.provider_org_id)
    fields = (version.table_schema or {}).get("fields", [])
    words = search.terms(
        version.name,
        version.name_en,
        version.summary,
        resource.code,
        provider.name,
        provider.name_en,
        " ".join(version.category_path),
        " ".join(version.tags),
        " ".join(f"{f.get('name', '')} {f.get('title', '')}" for f in fields),
    )
    session.add_all(SearchTerm(resource_id=resource.id, term=w) for w in sorted(words))
    session.flush()


def get_version(session: Session, resource: Resource, number: int) -> ResourceVersion:
    version = session.scalar(select(ResourceVersion).where(ResourceVersion.resource_id == resource.id, ResourceVersion.version == number))
    if version is None:
        raise ResourceNotFound(id=resource.id)
    return version


def can_see_drafts(resource: Resource, principal: Principal, bureau_id: int | None) -> bool:
    return principal.org_id is not None and (principal.org_id == resource.provider_org_id or principal.org_id == bureau_id)


def get_resource(
    session: Session, principal: Principal, resource_id: int, bureau_id: int | None, *, version: int | None = None
) -> ResourceView:
    """The published version for everyone; the latest (or any) version for its provider and the
    data bureau. A resource never published is not found for others."""
    resource = _get(session, resource_id)
    insider = can_see_drafts(resource, principal, bureau_id)
    if version is None:
        number = resource.latest_version if insider else resource.published_version
    elif insider or (resource.published_version is not None and version <= resource.published_version):
        number = version
    else:
        number = None
    if number is None:
        raise ResourceNotFound(id=resource_id)
    return ResourceView(resource, get_version(session, resource, number), auth.get_org(session, resource.provider_org_id).name)


def list_versions(session: Session, principal: Principal, resource_id: int, bureau_id: int | None) -> Sequence[ResourceVersion]:
    resource = _get(session, resource_id)
    limit = resource.latest_version if can_see_drafts(resource, principal, bureau_id) else resource.published_version
    if limit is None:
        raise ResourceNotFound(id=resource_id)
    return session.scalars(
        select(ResourceVersion)
        .where(ResourceVersion.resource_id == resource_id, ResourceVersion.version <= limit)
        .order_by(ResourceVersion.version.desc())
    ).all()


def review_history(session: Session, principal: Principal, resource_id: int, bureau_id: int | None) -> Sequence[ReviewEvent]:
    resource = _get(session, resource_id)
    if not can_see_drafts(resource, principal, bureau_id):
        raise ResourceNotFound(id=resource_id)
    return session.scalars(select(ReviewEvent).where(ReviewEvent.resource_id == resource_id).order_by(ReviewEvent.at, ReviewEvent.id)).all()


@dataclass(frozen=True)
class SearchResult:
    items: list[ResourceView]
    total: int
    facets: dict[str, dict[str, int]]


def search_published(
    session: Session,
    *,
    q: str | None = None,
    provider_org_id: int | None = None,
    classification: str | None = None,
    sharing: str | None = None,
    resource_type: str | None = None,
    open_only: bool = False,
    offset: int = 0,
    limit: int = 20,
) -> SearchResult:
    """Published resources matching every word of ``q`` and the chosen facets, with facet counts.

    Each facet's counts apply the other facets' filters but not its own, so a user sees how many
    they would get by switching that facet (as CKAN does).
    """
    published = and_(ResourceVersion.resource_id == Resource.id, ResourceVersion.version == Resource.published_version)
    base = select(Resource.id).join(ResourceVersion, published)
    words = search.query_terms(q) if q else set()
    if words:
        matching = (
            select(SearchTerm.resource_id)
            .where(SearchTerm.term.in_(words))
            .group_by(SearchTerm.resource_id)
            .having(func.count(func.distinct(SearchTerm.term)) == len(words))
        )
        base = base.where(Resource.id.in_(matching))
    if open_only:
        base = base.where(ResourceVersion.open_attribute == "open")
    filters = {
        "provider": (Resource.provider_org_id, provider_org_id),
        "classification": (ResourceVersion.classification, classification),
        "sharing": (ResourceVersion.sharing, sharing),
        "resource_type": (ResourceVersion.resource_type, resource_type),
    }

    def filtered(skip: str | None = None) -> Select[tuple[int]]:
        stmt = base
        for name, (column, value) in filters.items():
            if name != skip and value is not None:
                stmt = stmt.where(column == value)
        return stmt

    ids = filtered().subquery()
    total = session.scalar(select(func.count()).select_from(ids)) or 0
    rows = session.execute(
        select(Resource, ResourceVersion)
        .join(ResourceVersion, published)
        .where(Resource.id.in_(select(ids.c.id)))
        .order_by(ResourceVersion.name, Resource.id)
        .offset(offset)
        .limit(limit)
    ).all()
    names = org_names(session, {r.provider_org_id for r, _ in rows})
    facets: dict[str, dict[str, int]] = {}
    for name, (column, _) in filters.items():
        sub = filtered(skip=name).subquery()
        counts = session.execute(
            select(column, func.count())
            .select_from(Resource)
            .join(ResourceVersion, published)
            .where(Resource.id.in_(select(sub.c.id)))
            .group_by(column)
            .order_by(func.count().desc())
        ).all()
        facets[name] = {str(value): int(count) for value, count in counts}
    return SearchResult([ResourceView(r, v, names.get(r.provider_org_id, "")) for r, v in rows], total, facets)


def org_names(session: Session, ids: set[int]) -> dict[int, str]:
    from citybrain.core.auth.models import Organisation

    if not ids:
        return {}
    return dict(session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())


def work_queue(session: Session, principal: Principal, bureau_id: int | None) -> list[ResourceView]:
    """What waits for the caller: for the bureau's reviewers, resources in review; for a provider's
    stewards, their drafts and returned resources."""
    if is_bureau(principal, bureau_id) and principal.has(REVIEW):
        condition = Resource.status == Status.IN_REVIEW
    else:
        condition = and_(
            Resource.provider_org_id == principal.org_id, or_(Resource.status == Status.DRAFT, Resource.status == Status.RETURNED)
        )
    latest = and_(ResourceVersion.resource_id == Resource.id, ResourceVersion.version == Resource.latest_version)
    rows = session.execute(
        select(Resource, ResourceVersion).join(ResourceVersion, latest).where(condition).order_by(Resource.updated_at)
    ).all()
    names = org_names(session, {r.provider_org_id for r, _ in rows})
    return [ResourceView(r, v, names.get(r.provider_org_id, "")) for r, v in rows]


def figures(session: Session) -> dict[str, int]:
    """The data hub's figures for the operations center, computed from the records, never stored:
    published resources, mounted services, landed records (rows inserted less rows deleted), records
    exchanged (changes pulled and snapshot rows), service calls and rows served, refused calls,
    active exchange subscriptions, departments connected as providers or consumers, and the base
    registries with their records."""
    from citybrain.datahub.models import Change, DataService, GoldenRecord, Registry, ServiceGrant, ServiceUsage, Subscription

    published = session.scalar(select(func.count()).select_from(Resource).where(Resource.published_version.is_not(None))) or 0
    services = session.scalar(select(func.count()).select_from(DataService).where(DataService.active.is_(True))) or 0
    # records landed from departments; a registry's own records are derived from them, counted apart
    departmental = Change.resource_id.not_in(select(Registry.resource_id))
    inserted = session.scalar(select(func.count()).select_from(Change).where(Change.op == "insert", departmental)) or 0
    deleted = session.scalar(select(func.count()).select_from(Change).where(Change.op == "delete", departmental)) or 0
    total = func.coalesce
    calls, rows, refused, exchanged = session.execute(
        select(
            total(func.sum(ServiceUsage.calls), 0),
            total(func.sum(ServiceUsage.rows), 0),
            total(func.sum(ServiceUsage.refused), 0),
            total(func.sum(ServiceUsage.exchanged), 0),
        )
    ).one()
    providers = set(session.scalars(select(Resource.provider_org_id).where(Resource.published_version.is_not(None))))
    consumers = set(session.scalars(select(ServiceGrant.consumer_org_id).where(ServiceGrant.revoked_at.is_(None))))
    registries_set_up = session.scalar(select(func.count()).select_from(Registry)) or 0
    registry_records = session.scalar(select(func.count()).select_from(GoldenRecord)) or 0
    subscriptions = session.scalar(select(func.count()).select_from(Subscription).where(Subscription.status == "active")) or 0
    return {
        "published_resources": int(published),
        "mounted_services": int(services),
        "landed_records": int(inserted) - int(deleted),
        "service_calls": int(calls),
        "rows_served": int(rows),
        "refused_calls": int(refused),
        "exchanged_records": int(exchanged),
        "active_subscriptions": int(subscriptions),
        "connected_departments": len(providers | consumers),
        "base_registries": int(registries_set_up),
        "registry_records": int(registry_records),
    }


def get_open_resource(session: Session, resource_id: int) -> ResourceView:
    """A published resource whose open attribute is "open" (for anyone, without login)."""
    resource = _get(session, resource_id)
    if resource.published_version is None:
        raise ResourceNotFound(id=resource_id)
    version = get_version(session, resource, resource.published_version)
    if version.open_attribute != "open":
        raise ResourceNotFound(id=resource_id)
    return ResourceView(resource, version, auth.get_org(session, resource.provider_org_id).name)


def open_catalogue_graph(session: Session, base_url: str, bureau_code: str) -> Graph:
    """The open resources as a DCAT-AP catalogue graph (serialise as JSON-LD or Turtle)."""
    base = base_url.rstrip("/")
    views = search_published(session, open_only=True, limit=100_000).items
    orgs = {o.id: o for o in auth.list_organisations(session, limit=100_000)[0]}

    def publisher(org_id: int) -> dcat.Publisher:
        org = orgs[org_id]
        return dcat.Publisher(uri=f"{base}/orgs/{org.code}", name=org.name, name_en=org.name_en)

    bureau = next((o for o in orgs.values() if o.code == bureau_code), None)
    datasets = [
        dcat.OpenDataset(
            uri=f"{base}/open/resources/{v.resource.id}",
            identifier=v.resource.code,
            title=v.version.name,
            title_en=v.version.name_en,
            description=v.version.summary,
            keywords=list(v.version.tags),
            publisher=publisher(v.resource.provider_org_id),
            issued=v.resource.first_published_on,
            modified=v.version.created_at,
            update_cycle=v.version.update_cycle,
            landing_page=f"{base}/open/resources/{v.resource.id}",
            distributions=[("资源说明页", f"{base}/open/resources/{v.resource.id}", "text/html")],
        )
        for v in views
    ]
    return dcat.build_graph(
        f"{base}/open",
        "济南市公共数据开放目录",
        "Jinan open data catalogue",
        "济南市各部门开放的公共数据资源。",
        dcat.Publisher(uri=f"{base}/orgs/{bureau.code}", name=bureau.name, name_en=bureau.name_en)
        if bureau
        else dcat.Publisher(uri=f"{base}/", name="城市大脑"),
        datasets,
    )


def list_imports(session: Session, principal: Principal, resource_id: int) -> Sequence[DataImport]:
    resource = _get(session, resource_id)
    if principal.via != "cli":
        _require_provider(resource, principal)
    return session.scalars(select(DataImport).where(DataImport.resource_id == resource_id).order_by(DataImport.id.desc())).all()


def get_import(session: Session, principal: Principal, import_id: int) -> DataImport:
    record = session.get(DataImport, import_id)
    if record is None:
        raise ResourceNotFound(id=import_id)
    if principal.via != "cli":
        _require_provider(_get(session, record.resource_id), principal)
    return record


@dataclass
class UsageReport:
    """Calls to data services over a period: totals, per service and consumer, per day."""

    days: int
    calls: int
    rows: int
    refused: int
    #: (service code, service name, calls, rows, refused), most called first
    services: list[tuple[str, str, int, int, int]]
    #: (service code, consumer organisation, calls, rows, refused), most called first
    consumers: list[tuple[str, str, int, int, int]]
    #: (day, calls, refused), oldest first, every day of the period
    daily: list[tuple[date, int, int]]


def usage_report(session: Session, principal: Principal, bureau_id: int | None, days: int) -> UsageReport:
    """The usage pages' figures: the provider's own services, every service for the data bureau."""
    from datetime import timedelta

    from citybrain.datahub import dataservices

    today = utcnow().date()
    since = today - timedelta(days=days - 1)
    rows = [(u, s) for u, s in dataservices.usage(session, principal, bureau_id) if u.day >= since]
    names = org_names(session, {u.consumer_org_id for u, _ in rows})
    per_service: dict[str, list[Any]] = {}
    per_consumer: dict[tuple[str, str], list[int]] = {}
    per_day = {since + timedelta(days=i): [0, 0] for i in range(days)}
    for u, s in rows:
        entry = per_service.setdefault(s.code, [s.name, 0, 0, 0])
        entry[1] += u.calls
        entry[2] += u.rows
        entry[3] += u.refused
        consumer = per_consumer.setdefault((s.code, names.get(u.consumer_org_id, str(u.consumer_org_id))), [0, 0, 0])
        consumer[0] += u.calls
        consumer[1] += u.rows
        consumer[2] += u.refused
        day = per_day.setdefault(u.day, [0, 0])
        day[0] += u.calls
        day[1] += u.refused
    services = sorted(((code, v[0], v[1], v[2], v[3]) for code, v in per_service.items()), key=lambda r: (-r[2], r[0]))
    consumers = sorted(((k[0], k[1], v[0], v[1], v[2]) for k, v in per_consumer.items()), key=lambda r: (-r[2], r[0], r[1]))
    return UsageReport(
        days=days,
        calls=sum(r[2] for r in services),
        rows=sum(r[3] for r in services),
        refused=sum(r[4] for r in services),
        services=services,
        consumers=consumers,
        daily=[(d, v[0], v[1]) for d, v in sorted(per_day.items())],
    )


@dataclass(frozen=True)
class TrailItem:
    """One read of a person's data: when, by which organisation, through which service, why."""

    at: Any
    organisation: str
    service: str
    purpose: str | None
    fields: list[str]
    #: how it was read: ``lookup`` / ``query`` (a service call), ``changes`` (a subscription's pull)
    #: ``snapshot`` (a full export) or ``record_read`` (a registry record opened by staff): the last part
    #: of the audit action
    way: str


def trail_of(session: Session, ref: str) -> list[TrailItem]:
    """Every audited read of the person with pseudonym ``ref`` (newest first)."""
    from citybrain.core.audit.models import AuditEntry
    from citybrain.datahub.dataservices import PERSON_SUBJECT

    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.subject_type == PERSON_SUBJECT, AuditEntry.subject_id == ref).order_by(AuditEntry.seq.desc())
    ).all()
    names = org_names(session, {e.org_id for e in entries if e.org_id is not None})
    return [
        TrailItem(
            e.at,
            names.get(e.org_id or 0, "?"),
            str(e.detail.get("service", "")),
            e.purpose,
            list(e.detail.get("fields", [])),
            e.action.rsplit(".", 1)[-1],
        )
        for e in entries
    ]


def access_trail(session: Session, secret: str, id_number: str) -> list[TrailItem]:
    """Which organisation read this person's data, when, through which service and why (for staff
    holding the audit scope; the person sees their own with :func:`my_trail`)."""
    from citybrain.core.auth import identity

    return trail_of(session, identity.person_ref(secret, id_number))


def my_trail(session: Session, principal: Principal) -> list[TrailItem] | None:
    """The logged-in citizen's own trail; None when the account names no one."""
    from citybrain.core.auth.models import User

    user = session.get(User, principal.id) if principal.kind == "user" and principal.id is not None else None
    if user is None or user.person_ref is None:
        return None
    return trail_of(session, user.person_ref)


# -- governed data services, for other domains -------------------------------------------------------
# Other domains reach the data hub only through this module (tools/lint_contracts.py). The
# government-services domain fills applications' materials from the base registries through these:
# each call is the same checked, masked, metered and audited call a department makes, so it shows in
# the person's access trail with the grant's purpose.


def call_data_service(
    session: Session,
    principal: Principal,
    code: str,
    *,
    secret: str,
    key: str | None = None,
    filters: dict[str, str] | None = None,
    fields: list[str] | None = None,
    limit: int = 20,
) -> Any:
    """One governed lookup or query by ``principal``'s organisation within its grant, in the
    caller's transaction (see ``dataservices.call``); returns its ``CallResult`` (rows, masked)."""
    from citybrain.datahub import dataservices

    return dataservices.call(session, principal, code, secret=secret, key=key, filters=filters, fields=fields, limit=limit)


def provide_data_service(session: Session, principal: Principal, resource_code: str, *, code: str, name: str, kind: str) -> None:
    """Publish a lookup or query service over the caller's published resource ``resource_code``
    (a base registry for the data bureau); nothing happens if ``code`` exists already."""
    from citybrain.datahub import dataservices
    from citybrain.datahub.models import DataService

    if session.scalar(select(DataService.id).where(DataService.code == code)) is not None:
        return
    resource = session.scalar(select(Resource).where(Resource.code == resource_code))
    if resource is None:
        raise ResourceNotFound(id=resource_code)
    dataservices.create_service(session, principal, resource.id, code=code, name=name, kind=kind, match_fields=[])


def grant_data_service(
    session: Session,
    consumer: Principal,
    reviewer: Principal,
    code: str,
    *,
    fields: list[str],
    clear_fields: list[str],
    purpose: str,
    scenario: str,
    bureau_id: int | None,
    rate_per_minute: int = 6000,
    days: int = 365,
) -> None:
    """The consumer applies for ``code`` with fields and purpose, and the reviewer (the data bureau
    or the provider, as the resource's sharing says) approves: the usual two audited steps."""
    from citybrain.datahub import dataservices

    application = dataservices.apply(
        session, consumer, code, fields=fields, clear_fields=clear_fields, purpose=purpose, scenario=scenario, bureau_id=bureau_id
    )
    dataservices.approve(session, reviewer, application.id, rate_per_minute=rate_per_minute, days=days)

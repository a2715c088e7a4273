"""Governed data services (数据服务): what providers publish, what consumers may call, and every call
checked, masked, metered and audited.

A provider publishes a service over a published table resource: a key lookup, a filtered query, or
a verification that answers yes/no without revealing data. A consumer organisation applies with
fields, purpose and scenario; the data bureau decides for unconditionally shared resources, the
provider for conditionally shared ones, and resources that are not shared (不予共享) cannot be
applied for. An approved application becomes a grant: fields (personal ones masked unless the grant
names them in clear), the purpose, a rate limit and an expiry.

Each call is refused outside its grant (fields not granted, over the rate, expired), metered per
service, consumer and day, and every read of personal data is written to the audit log with the
grant's purpose and a pseudonym of each person read, committed before the answer leaves. A
citizen's access trail finds those entries by the pseudonym.

Lookups, queries and verifications are the hot path and go through the app's :class:`Gateway`: the
service and the caller's grant come from a cache of a second or so (a revocation or approval in
this process drops it at once, see :mod:`citybrain.core.cache`), the rows are read on a read-only
connection with a prepared statement, and the audit entries and usage counts are handed to the
group-commit writer (:mod:`citybrain.core.audit.writer`), which commits those of many concurrent
calls in one transaction before any of them answers. That writer, not the request, owns that
transaction. Exchange (changes, snapshots) reads much more per call and stays in the request's
transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NoReturn, cast

import polars as pl
from sqlalchemy import Insert, Integer, Select, Table, and_, bindparam, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from citybrain.core import cache
from citybrain.core.audit import service as audit
from citybrain.core.audit.service import PendingEntry
from citybrain.core.audit.writer import AuditWriter
from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow
from citybrain.core.db.prepared import Prepared, dbapi_connection
from citybrain.core.db.session import Database
from citybrain.core.errors import CitybrainError, Conflict, FieldError, Forbidden, NotFound, TooManyRequests, ValidationFailed
from citybrain.datahub import ingest, tables
from citybrain.datahub.models import (
    AccessApplication,
    Change,
    DataService,
    Resource,
    ResourceVersion,
    ServiceGrant,
    ServiceUsage,
    Subscription,
    SubscriptionUsage,
)
from citybrain.datahub.schemas import SchemaField, Sensitivity, TableSchema

PERSONAL = (Sensitivity.PERSONAL.value, Sensitivity.SENSITIVE_PERSONAL.value)
PERSON_SUBJECT = "datahub.person"
MAX_QUERY_ROWS = 100


def person_ref(secret: str, id_number: str) -> str:
    """A pseudonym of a person for the audit log: HMAC-SHA256 of the ID number with the platform key,
    so the log names no one, yet the person's own trail can be found."""
    from citybrain.core.auth import identity

    return identity.person_ref(secret, id_number)


# -- publishing ------------------------------------------------------------------------------------


def _published(session: Session, resource: Resource) -> tuple[ResourceVersion, TableSchema]:
    if resource.published_version is None:
        raise Conflict("datahub.service.unpublished")
    version = session.scalar(
        select(ResourceVersion).where(ResourceVersion.resource_id == resource.id, ResourceVersion.version == resource.published_version)
    )
    if version is None or not version.table_schema:
        raise Conflict("datahub.service.no_table")
    return version, TableSchema.from_descriptor(version.table_schema)


def create_service(
    session: Session, principal: Principal, resource_id: int, *, code: str, name: str, kind: str, match_fields: list[str]
) -> DataService:
    """Publish a service over the caller's published table resource."""
    resource = session.get(Resource, resource_id)
    if resource is None or resource.provider_org_id != principal.org_id:
        raise Forbidden("datahub.not_provider")
    _, schema = _published(session, resource)
    if kind not in ("lookup", "query", "verify"):
        raise ValidationFailed("error.validation", errors=[FieldError(("body", "kind"), "datahub.service.bad_kind")])
    if kind == "lookup" and len(schema.primary_key) != 1:
        raise ValidationFailed("error.validation", errors=[FieldError(("body", "kind"), "datahub.service.lookup_needs_single_key")])
    names = {f.name for f in schema.fields}
    unknown = [f for f in match_fields if f not in names]
    if unknown or (kind == "verify" and not match_fields):
        raise ValidationFailed(
            "error.validation", errors=[FieldError(("body", "match_fields"), "datahub.service.bad_fields", {"fields": ", ".join(unknown)})]
        )
    if session.scalar(select(DataService.id).where(DataService.code == code)) is not None:
        raise Conflict("datahub.code_taken", code=code)
    row = DataService(code=code, resource_id=resource.id, name=name, kind=kind, match_fields=match_fields, created_by=principal.actor_ref())
    session.add(row)
    session.flush()
    audit.record(session, principal, "datahub.service.created", subject_type="datahub.service", subject_id=row.id, detail={"code": code})
    return row


def get_service(session: Session, code: str) -> DataService:
    row = session.scalar(select(DataService).where(DataService.code == code, DataService.active.is_(True)))
    if row is None:
        raise NotFound("datahub.service.not_found", code=code)
    return row


def list_services(session: Session) -> Sequence[DataService]:
    return session.scalars(select(DataService).where(DataService.active.is_(True)).order_by(DataService.code)).all()


# -- applying and deciding -------------------------------------------------------------------------


def apply(
    session: Session,
    principal: Principal,
    code: str,
    *,
    fields: list[str],
    clear_fields: list[str],
    purpose: str,
    scenario: str,
    bureau_id: int | None,
) -> AccessApplication:
    """A consumer organisation applies to use a service."""
    if principal.org_id is None:
        raise Forbidden("grant.needs_org")
    service = get_service(session, code)
    resource = session.get(Resource, service.resource_id)
    assert resource is not None
    version, schema = _published(session, resource)
    if version.sharing == "none":
        raise ValidationFailed("datahub.service.not_shared")
    by_name = {f.name: f for f in schema.fields}
    errors = [
        FieldError(("body", "fields", i), "datahub.service.unknown_field", {"field": f}) for i, f in enumerate(fields) if f not in by_name
    ]
    errors += [
        FieldError(("body", "clear_fields", i), "datahub.service.clear_not_requested", {"field": f})
        for i, f in enumerate(clear_fields)
        if f not in fields
    ]
    if errors or not fields:
        raise ValidationFailed("error.validation", errors=errors or [FieldError(("body", "fields"), "datahub.service.no_fields")])
    if principal.org_id == resource.provider_org_id:
        raise ValidationFailed("datahub.service.own_resource")
    reviewer = bureau_id if version.sharing == "unconditional" else resource.provider_org_id
    if reviewer is None:
        raise Conflict("datahub.not_bureau")
    row = AccessApplication(
        service_id=service.id,
        consumer_org_id=principal.org_id,
        fields=list(dict.fromkeys(fields)),
        clear_fields=[f for f in dict.fromkeys(clear_fields) if by_name[f].sensitivity.value in PERSONAL],
        purpose=purpose,
        scenario=scenario,
        reviewer_org_id=reviewer,
        status="pending",
        applied_by=principal.actor_ref(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session, principal, "datahub.application.submitted", subject_type="datahub.application", subject_id=row.id, purpose=purpose
    )
    return row


def _application_for_reviewer(session: Session, principal: Principal, application_id: int) -> AccessApplication:
    row = session.get(AccessApplication, application_id)
    if row is None or row.reviewer_org_id != principal.org_id:
        raise NotFound("datahub.application.not_found", id=application_id)
    if row.status != "pending":
        raise Conflict("datahub.application.decided")
    return row


def approve(session: Session, principal: Principal, application_id: int, *, rate_per_minute: int, days: int) -> ServiceGrant:
    """Approve: the consumer gets a grant for the fields, purpose, rate and time asked."""
    row = _application_for_reviewer(session, principal, application_id)
    row.status, row.decided_by, row.decided_at = "approved", principal.actor_ref(), utcnow()
    grant = ServiceGrant(
        application_id=row.id,
        service_id=row.service_id,
        consumer_org_id=row.consumer_org_id,
        fields=list(row.fields),
        clear_fields=list(row.clear_fields),
        purpose=row.purpose,
        rate_per_minute=rate_per_minute,
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(grant)
    session.flush()
    audit.record(
        session, principal, "datahub.application.approved", subject_type="datahub.application", subject_id=row.id, purpose=row.purpose
    )
    cache.access_changed(session)
    return grant


def reject(session: Session, principal: Principal, application_id: int, reason: str) -> AccessApplication:
    row = _application_for_reviewer(session, principal, application_id)
    row.status, row.reason, row.decided_by, row.decided_at = "rejected", reason, principal.actor_ref(), utcnow()
    audit.record(
        session, principal, "datahub.application.rejected", subject_type="datahub.application", subject_id=row.id, detail={"reason": reason}
    )
    return row


def revoke_grant(session: Session, principal: Principal, grant_id: int) -> ServiceGrant:
    """End a grant at once (the organisation that decided it, or the provider)."""
    grant = session.get(ServiceGrant, grant_id)
    if grant is None:
        raise NotFound("datahub.grant.not_found", id=grant_id)
    application = session.get(AccessApplication, grant.application_id)
    service = session.get(DataService, grant.service_id)
    resource = session.get(Resource, service.resource_id) if service else None
    allowed = {application.reviewer_org_id if application else None, resource.provider_org_id if resource else None}
    if principal.org_id not in allowed:
        raise NotFound("datahub.grant.not_found", id=grant_id)
    if grant.revoked_at is None:
        grant.revoked_at = utcnow()
        audit.record(session, principal, "datahub.grant.revoked", subject_type="datahub.grant", subject_id=grant.id)
        cache.access_changed(session)  # the consumer's next call in this process is refused
    return grant


def grants_for(session: Session, principal: Principal) -> Sequence[ServiceGrant]:
    """Grants the caller's organisation holds, decided, or provides data through."""
    provided = (
        select(DataService.id).join(Resource, Resource.id == DataService.resource_id).where(Resource.provider_org_id == principal.org_id)
    )
    decided = select(AccessApplication.id).where(AccessApplication.reviewer_org_id == principal.org_id)
    return session.scalars(
        select(ServiceGrant)
        .where(
            (ServiceGrant.consumer_org_id == principal.org_id)
            | ServiceGrant.service_id.in_(provided)
            | ServiceGrant.application_id.in_(decided)
        )
        .order_by(ServiceGrant.id.desc())
    ).all()


def applications_for(session: Session, principal: Principal) -> Sequence[AccessApplication]:
    """Applications the caller's organisation made or has to decide, newest first."""
    return session.scalars(
        select(AccessApplication)
        .where((AccessApplication.consumer_org_id == principal.org_id) | (AccessApplication.reviewer_org_id == principal.org_id))
        .order_by(AccessApplication.id.desc())
    ).all()


# -- calling ---------------------------------------------------------------------------------------


class _RateLimiter:
    """Calls per grant per minute, counted in this process (one fixed window a minute)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[object, tuple[int, int]] = {}

    def take(self, grant_id: object, limit: int, now: float | None = None) -> int:
        """0 when the call may go ahead, else the seconds until the next window."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        with self._lock:
            if len(self._windows) > 10_000:  # forget the windows of past minutes
                self._windows = {k: v for k, v in self._windows.items() if v[0] == minute}
            window, count = self._windows.get(grant_id, (minute, 0))
            if window != minute:
                window, count = minute, 0
            if count >= limit:
                return max(1, int((minute + 1) * 60 - now))
            self._windows[grant_id] = (window, count + 1)
            return 0


limiter = _RateLimiter()


@dataclass
class CallResult:
    rows: list[dict[str, Any]]
    match: bool | None = None
    masked: list[str] | None = None


#: usage counters (calls, rows, refused) per (service id, consumer organisation id, day)
USAGE = "datahub.usage"


def _usage_upsert(dialect_name: str) -> Insert:
    """Add to each (service, consumer, day) row, creating it on the day's first call; one statement,
    so two transactions counting the same row at once both count."""
    table = cast(Table, ServiceUsage.__table__)
    insert = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.service_id, table.c.consumer_org_id, table.c.day],
        set_={name: table.c[name] + insert.excluded[name] for name in ("calls", "rows", "refused", "exchanged")},
    )


@lru_cache(maxsize=16)
def _prepared_usage_upsert(dialect: Dialect) -> Prepared:
    columns = ["service_id", "consumer_org_id", "day", "calls", "rows", "refused", "exchanged"]
    return Prepared(_usage_upsert(dialect.name), dialect, columns=columns)


def _write_usage(session: Session, sums: Mapping[Any, tuple[int, ...]]) -> None:
    """The group-commit writer's counter writer for :data:`USAGE`."""
    _prepared_usage_upsert(session.get_bind().dialect).run(
        dbapi_connection(session),
        [
            {"service_id": s, "consumer_org_id": o, "day": d, "calls": calls, "rows": rows, "refused": refused, "exchanged": 0}
            for (s, o, d), (calls, rows, refused) in sums.items()
        ],
    )


def _meter(session: Session, service_id: int, org_id: int, *, rows: int = 0, refused: bool = False, exchanged: int = 0) -> None:
    values = {"service_id": service_id, "consumer_org_id": org_id, "day": utcnow().date()}
    values.update(calls=0 if refused else 1, rows=rows, refused=int(refused), exchanged=exchanged)
    session.execute(_usage_upsert(session.get_bind().dialect.name), [values])


def _masked(by_name: Mapping[str, SchemaField], clear_fields: Sequence[str] | frozenset[str], wanted: Sequence[str]) -> list[str]:
    """Personal fields among ``wanted`` that the grant does not name in clear."""
    return sorted({f for f in wanted if by_name[f].sensitivity.value in PERSONAL and f not in clear_fields})


def _present(row: Mapping[str, Any], wanted: Sequence[str], masked: Sequence[str], by_name: Mapping[str, SchemaField]) -> dict[str, Any]:
    return {f: (ingest.mask(str(row[f]), by_name[f]) if f in masked and row[f] is not None else row[f]) for f in wanted}


@dataclass
class _Granted:
    """A call that passed the grant checks: what it may read and how."""

    service: DataService
    resource: Resource
    schema: TableSchema
    grant: ServiceGrant
    org_id: int

    @property
    def by_name(self) -> dict[str, Any]:
        return {f.name: f for f in self.schema.fields}

    def masked(self, wanted: list[str]) -> list[str]:
        """Personal fields among ``wanted`` that the grant does not name in clear."""
        return _masked(self.by_name, self.grant.clear_fields, wanted)

    def present(self, row: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        return _present(row, wanted, self.masked(wanted), self.by_name)


def _authorise(session: Session, principal: Principal, code: str, asked: list[str], fields: list[str] | None) -> tuple[_Granted, list[str]]:
    """The caller's live grant for service ``code`` allows these fields and is within its rate;
    otherwise the refusal is metered and raised (marked to be committed, so it counts)."""
    service = get_service(session, code)
    resource = session.get(Resource, service.resource_id)
    assert resource is not None
    _, schema = _published(session, resource)
    org_id = principal.org_id
    if org_id is None:
        raise Forbidden("grant.needs_org")
    grant = _live_grant(session, service.id, org_id)

    def refuse(error: CitybrainError) -> NoReturn:
        _meter(session, service.id, org_id, refused=True)
        error.keep_changes = True
        raise error

    if grant is None:
        refuse(Forbidden("datahub.service.no_grant", code=code))
    wanted = list(fields or grant.fields)
    outside = sorted({f for f in [*wanted, *asked] if f not in grant.fields and f not in service.match_fields})
    if outside:
        refuse(Forbidden("datahub.service.fields_not_granted", fields=", ".join(outside)))
    # keyed by id and creation time: an id reused after a rolled-back transaction is another grant
    wait = limiter.take((grant.id, grant.created_at.timestamp()), grant.rate_per_minute)
    if wait:
        refuse(TooManyRequests("datahub.service.rate_limited", headers={"Retry-After": str(wait)}, seconds=wait))
    return _Granted(service, resource, schema, grant, org_id), wanted


def _audit_reads(
    session: Session, principal: Principal, g: _Granted, rows_read: list[dict[str, Any]], read_fields: list[str], action: str, secret: str
) -> None:
    """One audit entry per person whose personal fields were read, with the grant's purpose."""
    by_name = g.by_name
    personal = [f for f in read_fields if by_name[f].sensitivity.value in PERSONAL]
    if not personal:
        return
    people = [f.name for f in g.schema.fields if f.identifier == "resident_id"]
    refs = sorted({person_ref(secret, str(row[people[0]])) for row in rows_read if row.get(people[0])}) if people else []
    for ref in refs or [None]:
        audit.record(
            session,
            principal,
            action,
            subject_type=PERSON_SUBJECT if ref else "datahub.service",
            subject_id=ref or g.service.id,
            purpose=g.grant.purpose,
            personal=True,
            detail={"service": g.service.code, "fields": personal, "grant": g.grant.id},
        )


def call(
    session: Session,
    principal: Principal,
    code: str,
    *,
    secret: str,
    fields: list[str] | None = None,
    key: str | None = None,
    filters: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> CallResult:
    """One governed lookup, query or verification in the caller's transaction (the command line,
    the demo, jobs): metered and audited there, so committed with it. The API goes through
    :class:`Gateway` instead, which checks and answers the same way."""
    g, wanted = _authorise(session, principal, code, [*(filters or {}), *(values or {})], fields)
    schema, service = g.schema, g.service
    table: Table = tables.data_table(g.resource.id, schema)
    result = CallResult(rows=[])
    read_fields = wanted
    if service.kind == "verify":
        missing = [f for f in service.match_fields if not (values or {}).get(f)]
        if missing:
            raise ValidationFailed("error.validation", errors=[FieldError(("body", "values", f), "validation.missing") for f in missing])
        condition = and_(*[table.c[f] == (values or {})[f] for f in service.match_fields])
        found = session.execute(select(*[table.c[k] for k in schema.primary_key]).where(condition).limit(2)).first()
        result.match = found is not None
        read_fields = list(service.match_fields)
        rows_read: list[dict[str, Any]] = [dict(zip(schema.primary_key, found, strict=True))] if found else []
    else:
        stmt = select(*[table.c[f] for f in dict.fromkeys([*wanted, *schema.primary_key])])
        if service.kind == "lookup":
            if not key:
                raise ValidationFailed("error.validation", errors=[FieldError(("query", "key"), "validation.missing")])
            stmt = stmt.where(table.c[schema.primary_key[0]] == key).limit(1)
        else:
            for name, value in (filters or {}).items():
                stmt = stmt.where(table.c[name] == value)
            stmt = stmt.order_by(*[table.c[k] for k in schema.primary_key]).offset(offset).limit(min(limit, MAX_QUERY_ROWS))
        rows_read = [dict(r) for r in session.execute(stmt).mappings()]
        result.masked = g.masked(wanted)
        result.rows = [g.present(row, wanted) for row in rows_read]
    _meter(session, service.id, g.org_id, rows=len(result.rows))
    _audit_reads(session, principal, g, rows_read, read_fields, f"datahub.service.{service.kind}", secret)
    return result


@dataclass(frozen=True)
class _Plan:
    """A published service as its calls need it: the table, its fields, and its reads compiled."""

    service_id: int
    code: str
    kind: str
    match_fields: tuple[str, ...]
    schema: TableSchema
    table: Table
    by_name: dict[str, SchemaField]
    #: the field holding the person's resident ID, whose pseudonym the audit entries name
    person_field: str | None
    reads: dict[tuple[Any, ...], Prepared] = field(default_factory=dict)


@dataclass(frozen=True)
class _Terms:
    """What a grant allows, as its calls need it."""

    id: int
    #: the rate limiter's key: an id reused after a rolled-back transaction is another grant
    window_key: tuple[int, float]
    fields: tuple[str, ...]
    clear_fields: frozenset[str]
    purpose: str
    rate_per_minute: int
    expires_at: datetime


def _live_grant(session: Session, service_id: int, org_id: int) -> ServiceGrant | None:
    return session.scalar(
        select(ServiceGrant)
        .where(
            ServiceGrant.service_id == service_id,
            ServiceGrant.consumer_org_id == org_id,
            ServiceGrant.revoked_at.is_(None),
            ServiceGrant.expires_at > utcnow(),
        )
        .order_by(ServiceGrant.id.desc())
    )


class Gateway:
    """Lookups, queries and verifications of one app, governed (see the module's notes).

    Per call: the service and the caller's grant from the cache, the grant's fields and rate
    checked, the rows read on this thread's read connection, masked as granted; then the audit
    entries (one per person whose personal fields were read) and the usage count are committed by
    the group-commit writer, and only then is the answer returned. A refusal is metered the same
    way before it is raised. If the writer cannot commit, the call fails with 503 and returns nothing.
    """

    def __init__(self, database: Database, writer: AuditWriter, secret: str, *, ttl: float = cache.TTL_SECONDS) -> None:
        self._database = database
        self._writer = writer
        # the keyed hash of :func:`person_ref`, its key set up once and copied per person
        self._pseudonym = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        refresh = not database.single_connection
        self._plans: cache.TTLCache[str, _Plan] = cache.TTLCache(ttl, refresh=refresh)
        self._grants: cache.TTLCache[tuple[int, int], _Terms | None] = cache.TTLCache(ttl, refresh=refresh)
        writer.count_with(USAGE, _write_usage)
        # a new published version may change the table's fields
        cache.on_event_drop_caches("datahub.resource.published")

    async def call(
        self,
        principal: Principal,
        code: str,
        *,
        fields: list[str] | None = None,
        key: str | None = None,
        filters: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> CallResult:
        """One governed lookup, query or verification within the caller's grant."""
        plan = self._plans.get(code, lambda: self._load_plan(code)) or await self._plans.fetch(code, lambda: self._load_plan(code))
        org_id = principal.org_id
        if org_id is None:
            raise Forbidden("grant.needs_org")
        service_id = plan.service_id
        terms = self._grants.get((service_id, org_id), lambda: self._load_terms(service_id, org_id))
        if terms is None or terms.expires_at <= utcnow():
            terms = await self._terms(plan, org_id)
        if terms is None:
            await self._refuse(plan, org_id, Forbidden("datahub.service.no_grant", code=code))
        wanted = list(fields or terms.fields)
        asked = [*(filters or {}), *(values or {})]
        outside = sorted({f for f in [*wanted, *asked] if f not in terms.fields and f not in plan.match_fields})
        if outside:
            await self._refuse(plan, org_id, Forbidden("datahub.service.fields_not_granted", fields=", ".join(outside)))
        wait = limiter.take(terms.window_key, terms.rate_per_minute)
        if wait:
            await self._refuse(
                plan, org_id, TooManyRequests("datahub.service.rate_limited", headers={"Retry-After": str(wait)}, seconds=wait)
            )

        result = CallResult(rows=[])
        if plan.kind == "verify":
            missing = [f for f in plan.match_fields if not (values or {}).get(f)]
            if missing:
                raise ValidationFailed(
                    "error.validation", errors=[FieldError(("body", "values", f), "validation.missing") for f in missing]
                )
            found = self._read(plan, ("verify",), {f"w_{f}": (values or {})[f] for f in plan.match_fields})
            result.match = bool(found)
            read_fields = list(plan.match_fields)
            rows_read = found[:1]
        else:
            columns = tuple(dict.fromkeys([*wanted, *plan.schema.primary_key]))
            if plan.kind == "lookup":
                if not key:
                    raise ValidationFailed("error.validation", errors=[FieldError(("query", "key"), "validation.missing")])
                rows_read = self._read(plan, ("lookup", columns), {"key": key})
            else:
                names = tuple(filters or {})
                params: dict[str, Any] = {f"w_{n}": v for n, v in (filters or {}).items()}
                params.update(limit=min(limit, MAX_QUERY_ROWS), offset=offset)
                rows_read = self._read(plan, ("query", columns, names), params)
            read_fields = wanted
            result.masked = _masked(plan.by_name, terms.clear_fields, wanted)
            result.rows = [_present(row, wanted, result.masked, plan.by_name) for row in rows_read]
        entries = self._entries(principal, plan, terms, rows_read, read_fields)
        await self._writer.commit(entries, {(USAGE, (plan.service_id, org_id, utcnow().date())): (1, len(result.rows), 0)})
        return result

    async def _refuse(self, plan: _Plan, org_id: int, error: CitybrainError) -> NoReturn:
        await self._writer.commit((), {(USAGE, (plan.service_id, org_id, utcnow().date())): (0, 0, 1)})
        raise error

    async def _terms(self, plan: _Plan, org_id: int) -> _Terms | None:
        key = (plan.service_id, org_id)
        terms = await self._grants.fetch(key, lambda: self._load_terms(plan.service_id, org_id))
        if terms is not None and terms.expires_at <= utcnow():
            self._grants.discard(key)  # expired since it was read: ask again (a newer grant may hold)
            terms = await self._grants.fetch(key, lambda: self._load_terms(plan.service_id, org_id))
        return terms

    def _load_plan(self, code: str) -> _Plan:
        with self._database.read_session() as session:
            service = get_service(session, code)
            resource = session.get(Resource, service.resource_id)
            assert resource is not None
            _, schema = _published(session, resource)
        people = [f.name for f in schema.fields if f.identifier == "resident_id"]
        return _Plan(
            service_id=service.id,
            code=service.code,
            kind=service.kind,
            match_fields=tuple(service.match_fields),
            schema=schema,
            table=tables.data_table(resource.id, schema),
            by_name={f.name: f for f in schema.fields},
            person_field=people[0] if people else None,
        )

    def _load_terms(self, service_id: int, org_id: int) -> _Terms | None:
        with self._database.read_session() as session:
            grant = _live_grant(session, service_id, org_id)
            if grant is None:
                return None
            return _Terms(
                id=grant.id,
                window_key=(grant.id, grant.created_at.timestamp()),
                fields=tuple(grant.fields),
                clear_fields=frozenset(grant.clear_fields),
                purpose=grant.purpose,
                rate_per_minute=grant.rate_per_minute,
                expires_at=grant.expires_at,
            )

    def _read(self, plan: _Plan, shape: tuple[Any, ...], params: dict[str, Any]) -> list[dict[str, Any]]:
        prepared = plan.reads.get(shape)
        if prepared is None:
            prepared = plan.reads[shape] = Prepared(self._statement(plan, shape), self._database.engine.dialect)
        names = shape[1] if shape[0] != "verify" else tuple(plan.schema.primary_key)
        try:
            found = prepared.rows(self._database.read_connection(), params)
        except Exception:
            self._database.drop_read_connection()  # it may be broken; the next read opens another
            raise
        return [dict(zip(names, row, strict=True)) for row in found]

    @staticmethod
    def _statement(plan: _Plan, shape: tuple[Any, ...]) -> Select[Any]:
        table, key = plan.table, plan.schema.primary_key
        if shape[0] == "verify":
            condition = and_(*[table.c[f] == bindparam(f"w_{f}") for f in plan.match_fields])
            return select(*[table.c[k] for k in key]).where(condition).limit(2)
        stmt = select(*[table.c[f] for f in shape[1]])
        if shape[0] == "lookup":
            return stmt.where(table.c[key[0]] == bindparam("key")).limit(1)
        for name in shape[2]:
            stmt = stmt.where(table.c[name] == bindparam(f"w_{name}"))
        return (
            stmt.order_by(*[table.c[k] for k in key])
            .offset(bindparam("offset", type_=Integer()))
            .limit(bindparam("limit", type_=Integer()))
        )

    def _person_ref(self, id_number: str) -> str:
        """:func:`person_ref` with the platform key."""
        keyed = self._pseudonym.copy()
        keyed.update(f"person:{id_number.strip().upper()}".encode())
        return keyed.hexdigest()[:40]

    def _entries(
        self, principal: Principal, plan: _Plan, terms: _Terms, rows_read: list[dict[str, Any]], read_fields: list[str]
    ) -> list[PendingEntry]:
        """One entry per person whose personal fields were read, with the grant's purpose."""
        personal = [f for f in read_fields if plan.by_name[f].sensitivity.value in PERSONAL]
        if not personal:
            return []
        people = plan.person_field
        refs = sorted({self._person_ref(str(row[people])) for row in rows_read if row.get(people)}) if people else []
        return [
            audit.entry(
                principal,
                f"datahub.service.{plan.kind}",
                subject_type=PERSON_SUBJECT if ref else "datahub.service",
                subject_id=ref or plan.service_id,
                purpose=terms.purpose,
                personal=True,
                detail={"service": plan.code, "fields": personal, "grant": terms.id},
            )
            for ref in refs or [None]
        ]


@dataclass
class ChangesPage:
    changes: list[dict[str, Any]]
    #: the cursor to ask with next time (the last sequence number returned, or ``since``)
    next: int
    more: bool
    masked: list[str]


def changes(session: Session, principal: Principal, code: str, *, secret: str, since: int = 0, limit: int = 1000) -> ChangesPage:
    """Exchange: the resource's changes after ``since``, in order, with the granted fields of each
    row as it is now (masked as granted; a deleted row has none). Asking again with the returned
    cursor resumes; asking twice with the same cursor gives the same answer."""
    g, wanted = _authorise(session, principal, code, [], None)
    limit = max(1, min(limit, 10_000))
    found = session.scalars(
        select(Change).where(Change.resource_id == g.resource.id, Change.seq > since).order_by(Change.seq).limit(limit + 1)
    ).all()
    more = len(found) > limit
    found = found[:limit]
    table: Table = tables.data_table(g.resource.id, g.schema)
    key = g.schema.primary_key
    current: dict[tuple[Any, ...], dict[str, Any]] = {}
    live = [c for c in found if c.op != "delete"]
    if live:
        columns = [table.c[k] for k in key]
        wanted_keys = list({tuple(c.key[k] for k in key) for c in live})
        typed = [tuple(_typed_key(table, key, k)) for k in wanted_keys]
        condition = columns[0].in_([k[0] for k in typed]) if len(key) == 1 else tuple_(*columns).in_(typed)
        for row in session.execute(select(*[table.c[f] for f in dict.fromkeys([*wanted, *key])]).where(condition)).mappings():
            current[tuple(str(row[k]) for k in key)] = dict(row)
    out = []
    read: list[dict[str, Any]] = []
    for c in found:
        row = current.get(tuple(str(c.key[k]) for k in key)) if c.op != "delete" else None
        if row is not None:
            read.append(row)
        out.append(
            {"seq": c.seq, "op": c.op, "key": g.present(c.key, key) if c.key else c.key, "row": g.present(row, wanted) if row else None}
        )
    _meter(session, g.service.id, g.org_id, rows=len(out), exchanged=len(out))
    _audit_reads(session, principal, g, read, wanted, "datahub.exchange.changes", secret)
    return ChangesPage(out, found[-1].seq if found else since, more, g.masked(wanted))


# -- subscriptions (数据交换订阅) -----------------------------------------------------------------------


@dataclass
class SubscriptionView:
    """A subscription with what a consumer or provider wants to see beside it."""

    subscription: Subscription
    service_code: str
    #: the resource's last change number: ``latest - cursor`` changes wait to be pulled
    latest: int
    exchanged_today: int
    exchanged_total: int

    @property
    def lag(self) -> int:
        return max(0, self.latest - self.subscription.cursor)


def subscribe(session: Session, principal: Principal, code: str, *, name: str, start: str = "beginning") -> Subscription:
    """A consumer with a live grant on service ``code`` subscribes to its changes. ``start`` is
    ``beginning`` (every change from the first) or ``now`` (only changes after this moment; take a
    snapshot for what is there already). The grant keeps deciding every pull."""
    if principal.org_id is None:
        raise Forbidden("grant.needs_org")
    service = get_service(session, code)
    if _live_grant(session, service.id, principal.org_id) is None:
        raise Forbidden("datahub.service.no_grant", code=code)
    name = name.strip()
    if not name:
        raise ValidationFailed("error.validation", errors=[FieldError(("body", "name"), "datahub.subscription.name_required")])
    taken = session.scalar(
        select(Subscription.id).where(
            Subscription.service_id == service.id,
            Subscription.consumer_org_id == principal.org_id,
            Subscription.name == name,
        )
    )
    if taken is not None:
        raise Conflict("datahub.subscription.name_taken", name=name)
    resource = session.get(Resource, service.resource_id)
    assert resource is not None
    row = Subscription(
        service_id=service.id,
        consumer_org_id=principal.org_id,
        name=name,
        cursor=resource.change_seq if start == "now" else 0,
        status="active",
        created_by=principal.actor_ref(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        "datahub.subscription.created",
        subject_type="datahub.subscription",
        subject_id=row.id,
        detail={"service": code, "name": name, "cursor": row.cursor},
    )
    return row


def _subscription(session: Session, principal: Principal, subscription_id: int, *, own: bool) -> Subscription:
    """The subscription, if the caller's organisation holds it (or, unless ``own``, provides the
    data it reads); otherwise 404, so others cannot learn that it exists."""
    row = session.get(Subscription, subscription_id)
    if row is not None and row.consumer_org_id == principal.org_id:
        return row
    if row is not None and not own:
        service = session.get(DataService, row.service_id)
        resource = session.get(Resource, service.resource_id) if service else None
        if resource is not None and resource.provider_org_id == principal.org_id:
            return row
    raise NotFound("datahub.subscription.not_found", id=subscription_id)


def pull(
    session: Session, principal: Principal, subscription_id: int, *, secret: str, since: int | None = None, limit: int = 1000
) -> ChangesPage:
    """The subscription's changes after ``since`` (default: its stored cursor), as :func:`changes`
    gives them. Asking with ``since=N`` acknowledges every change up to ``N``, so the stored cursor
    moves forward to it (never back); asking again with the same ``since`` gives the same page.
    Counted per subscription and day."""
    row = _subscription(session, principal, subscription_id, own=True)
    if row.status != "active":
        raise Conflict("datahub.subscription.cancelled", id=subscription_id)
    service = session.get(DataService, row.service_id)
    assert service is not None
    resource = session.get(Resource, service.resource_id)
    assert resource is not None
    if since is not None and since > resource.change_seq:
        raise ValidationFailed(
            "error.validation",
            errors=[FieldError(("query", "since"), "datahub.subscription.since_ahead", {"since": since, "latest": resource.change_seq})],
        )
    start = row.cursor if since is None else since
    page = changes(session, principal, service.code, secret=secret, since=start, limit=limit)
    row.cursor = max(row.cursor, start)
    row.last_pulled_at = utcnow()
    _count_subscription(session, row.id, len(page.changes))
    return page


def _count_subscription(session: Session, subscription_id: int, exchanged: int) -> None:
    table = cast(Table, SubscriptionUsage.__table__)
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.subscription_id, table.c.day],
            set_={name: table.c[name] + insert.excluded[name] for name in ("pulls", "exchanged")},
        ),
        [{"subscription_id": subscription_id, "day": utcnow().date(), "pulls": 1, "exchanged": exchanged}],
    )


def cancel_subscription(session: Session, principal: Principal, subscription_id: int) -> Subscription:
    """End a subscription (its consumer only); its counts stay."""
    row = _subscription(session, principal, subscription_id, own=True)
    if row.status != "cancelled":
        row.status, row.cancelled_at = "cancelled", utcnow()
        audit.record(session, principal, "datahub.subscription.cancelled", subject_type="datahub.subscription", subject_id=row.id)
    return row


def _views(session: Session, rows: Sequence[Subscription]) -> list[SubscriptionView]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    today = utcnow().date()
    totals: dict[int, tuple[int, int]] = {}
    for sid, day, exchanged in session.execute(
        select(SubscriptionUsage.subscription_id, SubscriptionUsage.day, SubscriptionUsage.exchanged).where(
            SubscriptionUsage.subscription_id.in_(ids)
        )
    ):
        before_today, before_total = totals.get(sid, (0, 0))
        totals[sid] = (before_today + (exchanged if day == today else 0), before_total + exchanged)
    services = {
        s.id: (s.code, seq)
        for s, seq in session.execute(
            select(DataService, Resource.change_seq)
            .join(Resource, Resource.id == DataService.resource_id)
            .where(DataService.id.in_({r.service_id for r in rows}))
        )
    }
    return [SubscriptionView(r, services[r.service_id][0], int(services[r.service_id][1]), *totals.get(r.id, (0, 0))) for r in rows]


def get_subscription(session: Session, principal: Principal, subscription_id: int) -> SubscriptionView:
    """One subscription, for its consumer or the provider of the data it reads."""
    return _views(session, [_subscription(session, principal, subscription_id, own=False)])[0]


def subscriptions_for(session: Session, principal: Principal) -> list[SubscriptionView]:
    """Subscriptions the caller's organisation holds, and those to the services it provides."""
    provided = (
        select(DataService.id).join(Resource, Resource.id == DataService.resource_id).where(Resource.provider_org_id == principal.org_id)
    )
    rows = session.scalars(
        select(Subscription)
        .where((Subscription.consumer_org_id == principal.org_id) | Subscription.service_id.in_(provided))
        .order_by(Subscription.id.desc())
    ).all()
    return _views(session, rows)


def subscription_usage(session: Session, subscription_id: int) -> Sequence[SubscriptionUsage]:
    """Pulls and records exchanged per day, newest first (callers check access first)."""
    return session.scalars(
        select(SubscriptionUsage).where(SubscriptionUsage.subscription_id == subscription_id).order_by(SubscriptionUsage.day.desc())
    ).all()


#: Rows one snapshot may hold; larger resources are exchanged by changes.
MAX_SNAPSHOT_ROWS = 1_000_000


def snapshot(session: Session, principal: Principal, code: str, *, secret: str, fmt: str) -> tuple[bytes, int]:
    """Exchange: every row with the granted fields (masked as granted) as CSV or Parquet, and the
    change number it is current to (pull changes after it to stay in step)."""
    g, wanted = _authorise(session, principal, code, [], None)
    table: Table = tables.data_table(g.resource.id, g.schema)
    key = g.schema.primary_key
    rows = [
        dict(r)
        for r in session.execute(
            select(*[table.c[f] for f in dict.fromkeys([*wanted, *key])]).order_by(*[table.c[k] for k in key]).limit(MAX_SNAPSHOT_ROWS)
        ).mappings()
    ]
    frame = pl.DataFrame([g.present(r, wanted) for r in rows], schema=wanted, orient="row") if rows else pl.DataFrame(schema=wanted)
    session.refresh(g.resource, ["change_seq"])
    _meter(session, g.service.id, g.org_id, rows=len(rows), exchanged=len(rows))
    _audit_reads(session, principal, g, rows, wanted, "datahub.exchange.snapshot", secret)
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.write_parquet(buffer)
    else:
        buffer.write("\ufeff".encode())
        frame.write_csv(buffer)
    return buffer.getvalue(), g.resource.change_seq


def _typed_key(table: Table, key: list[str], values: tuple[Any, ...]) -> list[Any]:
    """Change keys are stored as JSON text; the table's key columns may be numbers or dates."""
    out = []
    for name, value in zip(key, values, strict=True):
        python_type = table.c[name].type.python_type
        if value is None or isinstance(value, python_type):
            out.append(value)
        elif python_type is date:
            out.append(date.fromisoformat(str(value)))
        elif python_type is datetime:
            out.append(datetime.fromisoformat(str(value)))
        else:
            out.append(python_type(value))
    return out


# -- transparency and usage ------------------------------------------------------------------------


def usage(session: Session, principal: Principal, bureau_id: int | None) -> Sequence[tuple[ServiceUsage, DataService]]:
    """Usage per service, consumer and day: the provider's own services, every service for the bureau."""
    stmt = select(ServiceUsage, DataService).join(DataService, DataService.id == ServiceUsage.service_id)
    if principal.org_id != bureau_id:
        stmt = stmt.join(Resource, Resource.id == DataService.resource_id).where(Resource.provider_org_id == principal.org_id)
    return [(u, s) for u, s in session.execute(stmt.order_by(ServiceUsage.day.desc(), DataService.code))]

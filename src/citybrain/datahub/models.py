"""Tables of the data hub's resource catalogue (政务信息资源目录)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from citybrain.core.db.base import Base, IdMixin, TimestampMixin, utcnow
from citybrain.core.db.types import JSONType, UTCDateTime


class Resource(IdMixin, TimestampMixin, Base):
    """A catalogued resource: its identity, provider and where it stands in the workflow.

    What it *says* (name, schema, sharing...) lives in :class:`ResourceVersion`; every change makes a
    new version, and ``published_version`` is the one the catalogue shows.
    """

    __tablename__ = "datahub_resources"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    provider_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    #: draft / in_review / returned / published (of the latest version)
    status: Mapped[str] = mapped_column(String(16), index=True)
    latest_version: Mapped[int] = mapped_column(Integer)
    published_version: Mapped[int | None] = mapped_column(Integer)
    first_published_on: Mapped[date | None] = mapped_column(Date)
    #: the last number of the resource's change sequence (inserts, updates and deletes of its rows)
    change_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0, server_default="0")

    versions: Mapped[list[ResourceVersion]] = relationship(
        back_populates="resource", order_by="ResourceVersion.version", cascade="all, delete-orphan", lazy="raise"
    )


class ResourceVersion(IdMixin, Base):
    """One version of a resource's description; never changed once written."""

    __tablename__ = "datahub_resource_versions"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    #: base (基础) / theme (主题) / department (部门)
    classification: Mapped[str] = mapped_column(String(16))
    #: e.g. ["人口", "户籍"]
    category_path: Mapped[list[str]] = mapped_column(JSONType)
    #: table (库表) / api (接口) / file (文件)
    resource_type: Mapped[str] = mapped_column(String(16))
    update_cycle: Mapped[str] = mapped_column(String(16))
    #: unconditional (无条件共享) / conditional (有条件共享) / none (不予共享)
    sharing: Mapped[str] = mapped_column(String(16))
    sharing_conditions: Mapped[str | None] = mapped_column(Text)
    no_sharing_basis: Mapped[str | None] = mapped_column(Text)
    #: open / conditional / closed
    open_attribute: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSONType)
    #: Frictionless Table Schema (fields with sensitivity levels, primaryKey)
    table_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    change_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    resource: Mapped[Resource] = relationship(back_populates="versions", lazy="joined")


class ReviewEvent(IdMixin, Base):
    """The workflow's history: submitted, approved, returned (with the reason)."""

    __tablename__ = "datahub_review_events"
    __table_args__ = (Index("ix_datahub_review_events_resource", "resource_id", "at"),)

    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SearchTerm(Base):
    """Word-segmented terms of each published resource (jieba for Chinese, words for English)."""

    __tablename__ = "datahub_search_terms"

    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"), primary_key=True)
    term: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class DataImport(IdMixin, Base):
    """One import of a file into a resource's table: what happened and the report of rejected rows."""

    __tablename__ = "datahub_imports"
    __table_args__ = (Index("ix_datahub_imports_resource", "resource_id", "started_at"),)

    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    #: upsert (rows by key) or replace (rows missing from the file are deleted)
    mode: Mapped[str] = mapped_column(String(8))
    #: succeeded / rejected
    status: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors_count: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    #: the whole report as a CSV in the file store (owned by the provider)
    report_file_id: Mapped[int | None] = mapped_column(ForeignKey("core_files.id"))
    #: the first problems, for pages and API answers (the report holds them all)
    first_errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    file_problem: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)


class Change(Base):
    """The resource's change sequence: which row (by key) was inserted, updated or deleted, in order.

    No foreign keys: the log is written only by an import, in the transaction that holds its
    resource and import rows, a million rows at a time, and PostgreSQL checks a foreign key row by
    row (7.5 s of checks per million change rows against 1.6 s for the rows themselves). Resources
    and imports are never deleted.
    """

    __tablename__ = "datahub_changes"

    resource_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    op: Mapped[str] = mapped_column(String(8))
    key: Mapped[dict[str, Any]] = mapped_column(JSONType)
    import_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DataService(IdMixin, TimestampMixin, Base):
    """A service a provider publishes over a resource: key lookup, filtered query or yes/no check."""

    __tablename__ = "datahub_services"

    code: Mapped[str] = mapped_column(String(80), unique=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: lookup / query / verify
    kind: Mapped[str] = mapped_column(String(8))
    #: verify: the fields whose values the caller's must equal
    match_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))


class AccessApplication(IdMixin, Base):
    """A consumer organisation asks to use a service: which fields, for what purpose, in which scenario."""

    __tablename__ = "datahub_applications"
    __table_args__ = (Index("ix_datahub_applications_status", "status", "reviewer_org_id"),)

    service_id: Mapped[int] = mapped_column(ForeignKey("datahub_services.id", ondelete="CASCADE"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    fields: Mapped[list[str]] = mapped_column(JSONType)
    clear_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    purpose: Mapped[str] = mapped_column(Text)
    scenario: Mapped[str] = mapped_column(Text)
    #: who decides: the data bureau for unconditional resources, the provider for conditional ones
    reviewer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"))
    #: pending / approved / rejected
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    applied_by: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ServiceGrant(IdMixin, Base):
    """What an approved application allows: fields (personal ones masked unless in ``clear_fields``),
    the purpose every call is audited with, a rate limit and an expiry."""

    __tablename__ = "datahub_grants"
    __table_args__ = (Index("ix_datahub_grants_lookup", "service_id", "consumer_org_id"),)

    application_id: Mapped[int] = mapped_column(ForeignKey("datahub_applications.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("datahub_services.id", ondelete="CASCADE"))
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"))
    fields: Mapped[list[str]] = mapped_column(JSONType)
    clear_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    purpose: Mapped[str] = mapped_column(Text)
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ServiceUsage(Base):
    """Metering: calls, rows returned and refused calls per service, consumer and day (UTC)."""

    __tablename__ = "datahub_usage"

    service_id: Mapped[int] = mapped_column(ForeignKey("datahub_services.id", ondelete="CASCADE"), primary_key=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    #: of ``rows``, those exchanged: changes pulled by cursor and snapshot rows (数据交换量)
    exchanged: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0, server_default="0")


class Subscription(IdMixin, Base):
    """A consumer's standing subscription to a service's changes (数据交换订阅): the server keeps its
    cursor, so a consumer that lost its own resumes where it acknowledged, and counts what it pulls.

    The grant still decides every pull (fields, masking, rate, expiry); a subscription only remembers
    where the consumer is. Pulling with ``since=N`` acknowledges everything up to ``N``."""

    __tablename__ = "datahub_subscriptions"
    __table_args__ = (UniqueConstraint("service_id", "consumer_org_id", "name"),)

    service_id: Mapped[int] = mapped_column(ForeignKey("datahub_services.id", ondelete="CASCADE"), index=True)
    consumer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    #: the consumer's own label, e.g. the system that applies the changes ("低保系统同步")
    name: Mapped[str] = mapped_column(String(100))
    #: the last change number the consumer acknowledged (0: none yet)
    cursor: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    #: active / cancelled
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SubscriptionUsage(Base):
    """Records exchanged per subscription and day (UTC): pulls answered and changes delivered."""

    __tablename__ = "datahub_subscription_usage"

    subscription_id: Mapped[int] = mapped_column(ForeignKey("datahub_subscriptions.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    pulls: Mapped[int] = mapped_column(Integer, default=0)
    exchanged: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


# -- base registries (基础库) ------------------------------------------------------------------------


class Registry(Base):
    """One of the six base registries: its fixed-schema resource and how the last consolidation went."""

    __tablename__ = "datahub_registries"

    #: population / legal_entity / credit / geography / economy / licence
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"), unique=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: figures of the last consolidation (records, sources, linked by key / probabilistically, conflicts...)
    last_run: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class RegistrySource(IdMixin, Base):
    """A department resource that feeds a registry: which of its fields give which registry fields,
    and how much it is trusted (priority 1 wins over 2 when they disagree)."""

    __tablename__ = "datahub_registry_sources"
    __table_args__ = (UniqueConstraint("registry_kind", "resource_id"),)

    registry_kind: Mapped[str] = mapped_column(ForeignKey("datahub_registries.kind", ondelete="CASCADE"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer)
    #: {"keys": [source fields holding the registry key], "fields": {registry field: source field or
    #: {"field": source field, "map": {source value: registry value}}}, "latest_by": source field}
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GoldenRecord(Base):
    """Where each field of a registry record came from: ``provenance`` maps a field to the source
    resource and version that gave its value (or the steward who decided it)."""

    __tablename__ = "datahub_golden_records"

    registry_kind: Mapped[str] = mapped_column(ForeignKey("datahub_registries.kind", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONType)
    sources: Mapped[int] = mapped_column(Integer)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)


class GoldenLink(IdMixin, Base):
    """A source row without a reliable key, linked to a registry record by record linkage (Splink)
    or by a steward's decision."""

    __tablename__ = "datahub_golden_links"
    __table_args__ = (
        UniqueConstraint("registry_kind", "resource_id", "source_row"),
        Index("ix_datahub_golden_links_key", "registry_kind", "key"),
    )

    registry_kind: Mapped[str] = mapped_column(ForeignKey("datahub_registries.kind", ondelete="CASCADE"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("datahub_resources.id", ondelete="CASCADE"))
    #: the source row's own key, as JSON text
    source_row: Mapped[str] = mapped_column(String(255))
    #: the registry record it belongs to; None when a steward decided it matches none
    key: Mapped[str | None] = mapped_column(String(64))
    #: probabilistic / steward
    method: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(100))


class RegistryConflict(IdMixin, Base):
    """Something a steward must decide: sources that disagree on a field's value (``value``), or a
    source row that may be a registry record but not surely (``match``)."""

    __tablename__ = "datahub_registry_conflicts"
    __table_args__ = (Index("ix_datahub_registry_conflicts_open", "registry_kind", "status"),)

    registry_kind: Mapped[str] = mapped_column(ForeignKey("datahub_registries.kind", ondelete="CASCADE"))
    #: value / match
    kind: Mapped[str] = mapped_column(String(8))
    #: value: the record; match: the best candidate
    key: Mapped[str | None] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(64))
    #: value: [{"resource": code, "version": n, "priority": p, "value": v}]; match: the source row and
    #: [{"key": k, "probability": p}]
    candidates: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: the value consolidation chose (highest priority), shown until a steward decides
    chosen: Mapped[str | None] = mapped_column(Text)
    #: open / resolved
    status: Mapped[str] = mapped_column(String(12), default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

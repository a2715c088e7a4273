"""Pydantic shapes of the resource catalogue, and the Frictionless Table Schema of a resource."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from citybrain.core.errors import FieldError, ValidationFailed


class Classification(StrEnum):
    BASE = "base"  # 基础
    THEME = "theme"  # 主题
    DEPARTMENT = "department"  # 部门


class ResourceType(StrEnum):
    TABLE = "table"  # 库表
    API = "api"  # 接口
    FILE = "file"  # 文件


class UpdateCycle(StrEnum):
    REALTIME = "realtime"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"


class Sharing(StrEnum):
    UNCONDITIONAL = "unconditional"  # 无条件共享
    CONDITIONAL = "conditional"  # 有条件共享
    NONE = "none"  # 不予共享


class OpenAttribute(StrEnum):
    OPEN = "open"
    CONDITIONAL = "conditional"
    CLOSED = "closed"


class Sensitivity(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    PERSONAL = "personal"
    SENSITIVE_PERSONAL = "sensitive_personal"


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    PUBLISHED = "published"


FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
#: Identifiers the import validates by checksum or pattern.
Identifier = Literal["resident_id", "credit_code", "mobile"]

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class SchemaField(BaseModel):
    """One field, as a Frictionless Table Schema field descriptor with citybrain's extra properties."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    title: Text200
    type: FieldType = "string"
    description: str | None = Field(None, max_length=2000)
    required: bool = False
    unique: bool = False
    enum: list[str] | None = Field(None, min_length=1, max_length=500)
    sensitivity: Sensitivity = Sensitivity.INTERNAL
    identifier: Identifier | None = None

    def descriptor(self) -> dict[str, Any]:
        """This field as Table Schema JSON (constraints nested, custom properties kept)."""
        out: dict[str, Any] = {"name": self.name, "title": self.title, "type": self.type, "sensitivity": self.sensitivity.value}
        if self.description:
            out["description"] = self.description
        constraints: dict[str, Any] = {}
        if self.required:
            constraints["required"] = True
        if self.unique:
            constraints["unique"] = True
        if self.enum:
            constraints["enum"] = self.enum
        if constraints:
            out["constraints"] = constraints
        if self.identifier:
            out["identifier"] = self.identifier
        return out

    @classmethod
    def from_descriptor(cls, descriptor: dict[str, Any]) -> SchemaField:
        constraints = descriptor.get("constraints", {})
        return cls(
            name=descriptor["name"],
            title=descriptor.get("title", descriptor["name"]),
            type=descriptor.get("type", "string"),
            description=descriptor.get("description"),
            required=constraints.get("required", False),
            unique=constraints.get("unique", False),
            enum=constraints.get("enum"),
            sensitivity=descriptor.get("sensitivity", Sensitivity.INTERNAL),
            identifier=descriptor.get("identifier"),
        )


class TableSchema(BaseModel):
    """Fields and key fields; stored as a Frictionless Table Schema."""

    model_config = ConfigDict(extra="forbid")

    fields: list[SchemaField] = Field(min_length=1, max_length=500)
    primary_key: list[str] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> TableSchema:
        errors: list[FieldError] = []
        seen: set[str] = set()
        for i, f in enumerate(self.fields):
            if f.name in seen:
                errors.append(FieldError(("table_schema", "fields", i, "name"), "datahub.schema.duplicate_field", {"name": f.name}))
            seen.add(f.name)
        for i, key in enumerate(self.primary_key):
            if key not in seen:
                errors.append(FieldError(("table_schema", "primary_key", i), "datahub.schema.unknown_key", {"name": key}))
        if errors:
            raise ValidationFailed("error.validation", errors=errors)
        return self

    def descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fields": [f.descriptor() for f in self.fields]}
        if self.primary_key:
            out["primaryKey"] = list(self.primary_key)
        return out

    @classmethod
    def from_descriptor(cls, descriptor: dict[str, Any]) -> TableSchema:
        key = descriptor.get("primaryKey", [])
        return cls(
            fields=[SchemaField.from_descriptor(f) for f in descriptor["fields"]], primary_key=[key] if isinstance(key, str) else key
        )


class ResourceDraft(BaseModel):
    """What a data steward writes; each save makes a new version."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{1,63}$")] | None = None
    name: Text200
    name_en: Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)] | None = None
    summary: Annotated[str, StringConstraints(min_length=1, max_length=5000, strip_whitespace=True)]
    classification: Classification
    category_path: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(default_factory=list, max_length=6)
    resource_type: ResourceType = ResourceType.TABLE
    update_cycle: UpdateCycle = UpdateCycle.IRREGULAR
    sharing: Sharing
    sharing_conditions: Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)] | None = None
    no_sharing_basis: Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)] | None = None
    open_attribute: OpenAttribute = OpenAttribute.CLOSED
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=30)]] = Field(default_factory=list, max_length=20)
    table_schema: TableSchema | None = None
    change_note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> ResourceDraft:
        errors: list[FieldError] = []
        if self.sharing is Sharing.CONDITIONAL and not self.sharing_conditions:
            errors.append(FieldError(("body", "sharing_conditions"), "datahub.sharing_conditions_required"))
        if self.sharing is Sharing.NONE and not self.no_sharing_basis:
            errors.append(FieldError(("body", "no_sharing_basis"), "datahub.no_sharing_basis_required"))
        if self.resource_type is ResourceType.TABLE:
            if self.table_schema is None:
                errors.append(FieldError(("body", "table_schema"), "datahub.table_needs_schema"))
            elif not self.table_schema.primary_key:
                errors.append(FieldError(("body", "table_schema", "primary_key"), "datahub.table_needs_key"))
        if self.open_attribute is OpenAttribute.OPEN and self.table_schema is not None:
            personal = [f.name for f in self.table_schema.fields if f.sensitivity in (Sensitivity.PERSONAL, Sensitivity.SENSITIVE_PERSONAL)]
            if personal:
                errors.append(FieldError(("body", "open_attribute"), "datahub.open_with_personal_fields", {"fields": ", ".join(personal)}))
        if errors:
            raise ValidationFailed("error.validation", errors=errors)
        return self


class ResourceVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    name: str
    name_en: str | None
    summary: str
    classification: Classification
    category_path: list[str]
    resource_type: ResourceType
    update_cycle: UpdateCycle
    sharing: Sharing
    sharing_conditions: str | None
    no_sharing_basis: str | None
    open_attribute: OpenAttribute
    tags: list[str]
    table_schema: dict[str, Any] | None
    change_note: str | None
    created_by: str
    created_at: datetime


class ResourceRead(BaseModel):
    """A resource with the version the caller asked for (the published one, or the latest)."""

    id: int
    code: str
    provider_org_id: int
    provider_name: str
    status: Status
    latest_version: int
    published_version: int | None
    first_published_on: date | None
    current: ResourceVersionRead


class ResourcePage(BaseModel):
    items: list[ResourceRead]
    total: int
    facets: dict[str, dict[str, int]] = Field(default_factory=dict)


class ReviewEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    action: str
    actor_name: str
    reason: str | None
    at: datetime


class ReturnRequest(BaseModel):
    reason: Annotated[str, StringConstraints(min_length=2, max_length=2000, strip_whitespace=True)]


class ImportProblem(BaseModel):
    row: int | None
    field: str | None
    value: str | None
    reason: str
    message: str


class ImportRead(BaseModel):
    """What an import did: rows read, inserted, updated, deleted, and the problems found."""

    id: int
    resource_id: int
    version: int
    filename: str
    file_format: str
    mode: str
    status: Literal["succeeded", "rejected", "running"]
    rows_read: int
    rows_rejected: int
    errors_count: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    report_url: str | None
    started_at: datetime
    finished_at: datetime | None
    problems: list[ImportProblem]


class ServiceCreate(BaseModel):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")]
    name: Text200
    kind: Literal["lookup", "query", "verify"]
    #: verify: the fields the caller's values must equal
    match_fields: list[Annotated[str, StringConstraints(max_length=63)]] = Field(default_factory=list, max_length=10)


class ServiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    resource_id: int
    name: str
    kind: str
    match_fields: list[str]


class ApplicationCreate(BaseModel):
    fields: list[Annotated[str, StringConstraints(max_length=63)]] = Field(min_length=1, max_length=200)
    #: personal fields wanted unmasked (a subset of ``fields``)
    clear_fields: list[Annotated[str, StringConstraints(max_length=63)]] = Field(default_factory=list, max_length=200)
    purpose: Annotated[str, StringConstraints(min_length=4, max_length=2000, strip_whitespace=True)]
    scenario: Annotated[str, StringConstraints(min_length=2, max_length=2000, strip_whitespace=True)]


class ApplicationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    service_id: int
    consumer_org_id: int
    reviewer_org_id: int
    fields: list[str]
    clear_fields: list[str]
    purpose: str
    scenario: str
    status: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None


class ApprovalRequest(BaseModel):
    rate_per_minute: int = Field(60, ge=1, le=100_000)
    days: int = Field(365, ge=1, le=3650)


class VerifyRequest(BaseModel):
    values: dict[Annotated[str, StringConstraints(max_length=63)], Annotated[str, StringConstraints(max_length=500)]]


SERVICE_CODE_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,79}$"


class LookupParams(BaseModel):
    """The parameters of a lookup call (a hot route: validated in one go, see core.web.hot)."""

    code: str = Field(pattern=SERVICE_CODE_PATTERN)
    key: str = Field(min_length=1, max_length=200)
    fields: str | None = Field(None, max_length=2000, description="comma-separated; default: every granted field")


class QueryParams(BaseModel):
    """The parameters of a query call."""

    code: str = Field(pattern=SERVICE_CODE_PATTERN)
    where: list[str] | None = Field(None, max_length=10, description="field:value, repeatable")
    fields: str | None = Field(None, max_length=2000)
    offset: int = Field(0, ge=0, le=10_000_000, description="rows to skip")
    limit: int = Field(20, ge=1, le=100, description="rows to return (at most dataservices.MAX_QUERY_ROWS)")


class CallRead(BaseModel):
    rows: list[dict[str, Any]]
    masked: list[str] = Field(default_factory=list)


class VerifyRead(BaseModel):
    match: bool


class TrailRead(BaseModel):
    at: datetime
    organisation: str
    service: str
    purpose: str | None
    fields: list[str]
    way: str = Field(
        description="lookup or query (a service call), changes (a subscription's pull), "
        "snapshot (a full export), record_read (a registry record opened by staff)"
    )


class UsageRead(BaseModel):
    service: str
    consumer_org_id: int
    day: date
    calls: int
    rows: int
    refused: int
    exchanged: int = 0


class ChangesRead(BaseModel):
    changes: list[dict[str, Any]]
    next: int
    more: bool
    masked: list[str] = Field(default_factory=list)


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    service_id: int
    consumer_org_id: int
    fields: list[str]
    clear_fields: list[str]
    purpose: str
    rate_per_minute: int
    expires_at: datetime
    revoked_at: datetime | None


class SubscriptionCreate(BaseModel):
    #: the data service whose changes to follow (the consumer needs a live grant on it)
    service: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,79}$")]
    #: the consumer's label for it, unique per service, e.g. the system that applies the changes
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    #: ``beginning``: every change from the first; ``now``: only changes from now on
    start: Literal["beginning", "now"] = "beginning"


class SubscriptionUsageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    pulls: int
    exchanged: int


class SubscriptionRead(BaseModel):
    id: int
    service: str
    consumer_org_id: int
    name: str
    status: str
    #: the last change number acknowledged (pull with ``since`` to acknowledge)
    cursor: int
    #: the resource's last change number
    latest: int
    #: changes waiting to be pulled
    lag: int
    exchanged_today: int
    exchanged_total: int
    created_at: datetime
    last_pulled_at: datetime | None
    usage: list[SubscriptionUsageRead] = Field(default_factory=list)


# -- base registries ---------------------------------------------------------------------------------

RegistryKind = Literal["population", "legal_entity", "credit", "geography", "economy", "licence"]


class RegistrySourceCreate(BaseModel):
    """Feed a registry from a published table resource."""

    model_config = ConfigDict(extra="forbid")

    resource_code: Annotated[str, StringConstraints(min_length=2, max_length=64)]
    priority: int = Field(ge=1, le=99, description="1 is the most trusted source; it wins when sources disagree")
    mapping: dict[str, Any] = Field(
        description='{"keys": [[source fields giving the registry key]], "fields": {registry field: source field or '
        '{"field": ..., "map": {...}}}, "latest_by": source field}'
    )


class RegistrySourceRead(BaseModel):
    resource_id: int
    resource_code: str
    priority: int
    mapping: dict[str, Any]


class RegistryRead(BaseModel):
    kind: RegistryKind
    name: str
    name_en: str
    resource_id: int
    resource_code: str
    key: list[str]
    linkage: bool
    records: int
    open_conflicts: int
    last_run_at: datetime | None
    last_run: dict[str, Any]
    sources: list[RegistrySourceRead]


class ConsolidationRead(BaseModel):
    records: int
    sources: int
    rows_read: int
    keyed: int
    linked_probabilistically: int
    linked_by_steward: int
    to_review: int
    unlinked: int
    conflicts: int
    inserted: int
    updated: int
    deleted: int
    import_id: int | None
    trained_on: int


class ConflictRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["value", "match"]
    key: str | None
    field: str | None
    candidates: dict[str, Any]
    chosen: str | None
    status: str
    resolution: str | None
    note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class ConflictPage(BaseModel):
    items: list[ConflictRead]
    total: int


class ConflictResolve(BaseModel):
    """A value conflict takes ``value`` (one the sources offer); a possible match takes ``key`` (one of
    the candidates) or ``no_match``."""

    model_config = ConfigDict(extra="forbid")

    value: str | None = Field(None, max_length=2000)
    key: str | None = Field(None, max_length=64)
    no_match: bool = False
    note: str | None = Field(None, max_length=2000)


class GoldenLinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    resource_id: int
    source_row: str
    method: str
    probability: float | None
    decided_by: str | None


class GoldenRecordRead(BaseModel):
    kind: str
    key: str
    values: dict[str, Any]
    provenance: dict[str, Any]
    sources: int
    masked: list[str]
    conflicts: list[ConflictRead]
    links: list[GoldenLinkRead]

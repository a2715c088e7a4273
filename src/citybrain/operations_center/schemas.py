"""Request and response shapes of the operations-center API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SYSTEM_CODE = r"^[a-z0-9][a-z0-9_.-]{1,47}$"
METRIC_NAME = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
DISTRICT = r"^\d{6}$"
STATUSES = ("up", "degraded", "down")
SEVERITIES = ("info", "warning", "critical")
AGGREGATIONS = ("avg", "sum", "min", "max", "last", "count")

MetricName = Annotated[str, StringConstraints(pattern=METRIC_NAME, max_length=100)]
TagKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
TagValue = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class SystemCreate(BaseModel):
    code: Annotated[str, StringConstraints(pattern=SYSTEM_CODE)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    name_en: str | None = Field(None, max_length=200)
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")] = Field(description="platform, sensor_network, hotline, ...")
    owner_org_code: str = Field(max_length=64, description="the department that runs the system")
    endpoint: str | None = Field(None, max_length=500)
    health_url: str | None = Field(None, max_length=500, pattern=r"^https?://", description="probed by citybrain when set")
    contact: str | None = Field(None, max_length=200)
    heartbeat_timeout_s: int = Field(90, ge=5, le=86_400)
    probe_interval_s: int = Field(30, ge=5, le=3600)


class SystemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    name_en: str | None
    kind: str
    owner_org_id: int
    org_id: int
    endpoint: str | None
    health_url: str | None
    contact: str | None
    status: str
    status_since: datetime | None
    status_message: str | None
    last_seen_at: datetime | None
    last_latency_ms: float | None


class SystemRegistered(SystemRead):
    #: the system's API key (scope ops:push), shown this once
    api_key: str


class SystemPage(BaseModel):
    items: list[SystemRead]
    total: int


class StatusChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status: str
    source: str
    message: str | None


class UptimeRead(BaseModel):
    system: SystemRead
    window_s: int
    #: share of the window spent up, degraded, down and unknown (0..1)
    up: float
    degraded: float
    down: float
    unknown: float
    history: list[StatusChangeRead]


class PointIn(BaseModel):
    name: MetricName
    value: float = Field(allow_inf_nan=False)
    unit: str | None = Field(None, max_length=32)
    #: default: when the server receives it
    time: datetime | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=16)


class HeartbeatIn(BaseModel):
    status: Literal["up", "degraded", "down"] = "up"
    message: str | None = Field(None, max_length=500)
    #: metric points sent with the heartbeat (ingested like a batch)
    metrics: list[PointIn] = Field(default_factory=list, max_length=1000)


class IngestResult(BaseModel):
    accepted: int
    alarms_opened: int


class BucketRead(BaseModel):
    t: datetime
    value: float
    count: int


class SeriesRead(BaseModel):
    name: str
    agg: str
    bucket_s: int
    unit: str | None
    points: list[BucketRead]


class LatestRead(BaseModel):
    name: str
    district: str | None
    value: float
    unit: str | None
    t: datetime


class MetricInfo(BaseModel):
    name: str
    unit: str | None
    points: int
    last_t: datetime | None


class RuleCreate(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    name_en: str | None = Field(None, max_length=200)
    kind: Literal["threshold", "nodata"]
    metric: MetricName
    comparator: Literal[">", ">=", "<", "<="] | None = None
    threshold: float | None = Field(None, allow_inf_nan=False)
    window_s: int | None = Field(None, ge=10, le=7 * 86_400)
    severity: Literal["info", "warning", "critical"] = "warning"
    district: Annotated[str, StringConstraints(pattern=DISTRICT)] | None = None
    department_org_code: str | None = Field(None, max_length=64)


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    name_en: str | None
    kind: str
    metric: str
    comparator: str | None
    threshold: float | None
    window_s: int | None
    severity: str
    district: str | None
    department_org_id: int | None
    enabled: bool


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    action: str
    actor_name: str
    text: str | None


class AlarmRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    rule_name: str
    status: str
    severity: str
    metric: str
    district: str | None
    district_name: str | None
    value: float | None
    last_value: float | None
    opened_at: datetime
    recovered_at: datetime | None
    acknowledged_at: datetime | None
    assigned_org_id: int | None
    assigned_org_name: str | None
    closed_at: datetime | None


class AlarmDetail(AlarmRead):
    notes: list[NoteRead]


class AlarmStep(BaseModel):
    note: str | None = Field(None, max_length=2000)


class AlarmAssign(AlarmStep):
    org_code: str = Field(max_length=64, description="the department the alarm is handed to")


class AlarmNoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class ScenarioIn(BaseModel):
    #: the scenario as YAML or JSON (see docs/operations-center.md)
    source: str = Field(min_length=2, max_length=100_000)


class ScenarioRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    group: str
    title: str
    title_en: str | None
    position: int
    rotate: bool
    definition: dict[str, Any]
    source: str

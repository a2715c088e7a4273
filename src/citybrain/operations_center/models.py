"""Tables of the operations center (运行管理中心): connected systems and their status history, metric
points, alarm rules and alarms with their notes, and the scenarios (应用场景) the big screen shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.core.db.base import Base, IdMixin, TimestampMixin
from citybrain.core.db.types import JSONType, UTCDateTime


class System(IdMixin, TimestampMixin, Base):
    """A connected system (接入系统). It is also an organisation of kind ``system`` (``org_id``, a
    child of its owner department), so the kernel's API keys identify it when it pushes."""

    __tablename__ = "ops_systems"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    #: what it is: platform, sensor_network, hotline, video, business, ...
    kind: Mapped[str] = mapped_column(String(32), index=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    #: the system's own organisation (kind ``system``) that its API keys belong to
    org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), unique=True)
    endpoint: Mapped[str | None] = mapped_column(String(500))
    #: probed by citybrain when set (http(s) URL answering 2xx when healthy)
    health_url: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(200))
    #: up / degraded / down / unknown (never heard from)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_message: Mapped[str | None] = mapped_column(String(500))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: a pushing system missing heartbeats this long is marked down, seconds
    heartbeat_timeout_s: Mapped[int] = mapped_column(Integer, default=90)
    #: probes: seconds between them when healthy; failures back off from it (doubling, capped)
    probe_interval_s: Mapped[int] = mapped_column(Integer, default=30)
    probe_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_latency_ms: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StatusChange(IdMixin, Base):
    """One change of a system's status: the history that uptime is computed from."""

    __tablename__ = "ops_status_changes"
    __table_args__ = (Index("ix_ops_status_changes_system_at", "system_id", "at"),)

    system_id: Mapped[int] = mapped_column(ForeignKey("ops_systems.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    #: heartbeat / probe / timeout / registered
    source: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(String(500))


class MetricPoint(Base):
    """One metric point. Time is kept as UTC epoch milliseconds (``t_ms``), not a timestamp column:
    batch ingestion writes tens of thousands of rows a second and bucketing is integer division on
    both backends. ``district`` and ``domain`` are the tags queried most, so they have columns;
    the other tags are kept as JSON. ``resolution_s`` is 0 for raw points and the bucket width of a
    downsampled one (whose value is the bucket's mean, ``count`` the raw points it stands for)."""

    __tablename__ = "ops_metric_points"
    __table_args__ = (Index("ix_ops_metric_points_name_t", "name", "t_ms"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    t_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(12))
    domain: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    system_id: Mapped[int | None] = mapped_column(Integer)
    resolution_s: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(Integer, default=1)


class AlarmRule(IdMixin, TimestampMixin, Base):
    """When to raise an alarm: a metric above/below a threshold (``threshold``), or no point of it
    for ``window_s`` seconds (``nodata``), optionally in one district only."""

    __tablename__ = "ops_alarm_rules"

    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(100), index=True)
    #: > >= < <= (threshold rules)
    comparator: Mapped[str | None] = mapped_column(String(2))
    threshold: Mapped[float | None] = mapped_column(Float)
    window_s: Mapped[int | None] = mapped_column(Integer)
    #: info / warning / critical
    severity: Mapped[str] = mapped_column(String(16))
    district: Mapped[str | None] = mapped_column(String(12))
    #: the department an alarm of this rule is usually assigned to (a hint on the page)
    department_org_id: Mapped[int | None] = mapped_column(ForeignKey("core_organisations.id"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Alarm(IdMixin, TimestampMixin, Base):
    """An alarm raised by a rule: open → acknowledged → assigned (to a department) → closed."""

    __tablename__ = "ops_alarms"
    __table_args__ = (Index("ix_ops_alarms_rule_district_status", "rule_id", "district", "status"),)

    rule_id: Mapped[int] = mapped_column(ForeignKey("ops_alarm_rules.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(12))
    #: the value that breached (threshold) or None (no data)
    value: Mapped[float | None] = mapped_column(Float)
    #: the latest value seen while open
    last_value: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: when the metric came back within its threshold (the alarm stays until staff close it)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_org_id: Mapped[int | None] = mapped_column(ForeignKey("core_organisations.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlarmNote(IdMixin, Base):
    """A step of an alarm (opened, acknowledged, assigned, closed) or a note, with who and when."""

    __tablename__ = "ops_alarm_notes"

    alarm_id: Mapped[int] = mapped_column(ForeignKey("ops_alarms.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)


class Scenario(IdMixin, TimestampMixin, Base):
    """An application scenario (应用场景): a declarative page of widgets bound to metrics and domain
    figures. ``source`` is what the admin wrote (YAML or JSON); ``definition`` its validated form."""

    __tablename__ = "ops_scenarios"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: convenience (便民惠企), city management (城市管理), public safety (公共安全), ...
    group: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: shown in the big screen's rotation
    rotate: Mapped[bool] = mapped_column(Boolean, default=True)

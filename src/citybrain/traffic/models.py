"""Tables of the traffic domain: networks, evaluation runs, green-wave and tidal-lane plans, and
the commands sent to the live digital twin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.core.db.base import Base, IdMixin, TimestampMixin
from citybrain.core.db.types import JSONType, UTCDateTime


class Network(IdMixin, TimestampMixin, Base):
    """A road network with its demand, runnable in SUMO (the converted files live in the scenario
    cache under the var dir, keyed by the content hash of what was imported)."""

    __tablename__ = "traffic_networks"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: cityflow (converted) / sumo (opened as is)
    source: Mapped[str] = mapped_column(String(16))
    #: sha256 of the imported files and converter version: the scenario cache's key
    source_hash: Mapped[str] = mapped_column(String(64))
    #: where the SUMO files are (net, routes, config), relative to the var dir when inside it
    net_file: Mapped[str] = mapped_column(String(500))
    routes_file: Mapped[str] = mapped_column(String(500))
    junctions: Mapped[int] = mapped_column(Integer)
    vehicles: Mapped[int] = mapped_column(Integer)
    #: the demand's length, seconds
    horizon_s: Mapped[int] = mapped_column(Integer, default=3600)
    #: junction id -> {x, y, approaches...}: what the pages draw without opening SUMO
    layout: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str] = mapped_column(String(100))


class Run(IdMixin, TimestampMixin, Base):
    """An evaluation: every chosen controller on one network over several seeds, in SUMO."""

    __tablename__ = "traffic_runs"

    network_id: Mapped[int] = mapped_column(ForeignKey("traffic_networks.id", ondelete="CASCADE"), index=True)
    controllers: Mapped[list[str]] = mapped_column(JSONType)
    seeds: Mapped[list[int]] = mapped_column(JSONType)
    #: simulated seconds per run
    duration_s: Mapped[int] = mapped_column(Integer)
    #: queued / running / done / failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    simulations_done: Mapped[int] = mapped_column(Integer, default=0)
    simulations_total: Mapped[int] = mapped_column(Integer)
    #: per controller: median and spread of each figure over the seeds, per junction figures
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class Plan(IdMixin, TimestampMixin, Base):
    """A green-wave (offsets along an arterial) or tidal-lane (reversal schedule) plan, with what it
    was computed from and its check in SUMO against the plan's absence."""

    __tablename__ = "traffic_plans"

    network_id: Mapped[int | None] = mapped_column(ForeignKey("traffic_networks.id", ondelete="CASCADE"), index=True)
    #: greenwave / tidal
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: before/after figures from SUMO
    check: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: the SUMO check: none (not asked) / queued / running / done / failed
    check_status: Mapped[str | None] = mapped_column(String(16), index=True)
    check_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))


class Command(IdMixin, Base):
    """A remote-control command to a junction of the live twin (also in the audit log)."""

    __tablename__ = "traffic_commands"

    network_id: Mapped[int] = mapped_column(ForeignKey("traffic_networks.id", ondelete="CASCADE"), index=True)
    junction_id: Mapped[str] = mapped_column(String(64))
    #: force (a phase) / hold (the current phase) / release / controller (switch)
    action: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(String(64))
    #: for force and hold: how long, seconds
    duration_s: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: the twin's simulated time when it took effect
    sim_time_s: Mapped[float | None] = mapped_column()

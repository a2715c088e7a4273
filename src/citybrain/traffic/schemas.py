"""Request and response shapes of the traffic API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NETWORK_CODE = r"^[a-z0-9][a-z0-9_.-]{1,63}$"


class NetworkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    source: str
    source_hash: str
    junctions: int
    vehicles: int
    horizon_s: int
    created_at: datetime
    created_by: str


class NetworkDetail(NetworkRead):
    layout: dict[str, Any]


class BuiltinImport(BaseModel):
    """Import one of the public data sets under ``CITYBRAIN_DATA_DIR/traffic/`` by name."""

    dataset: Literal["jinan_3x4"] = "jinan_3x4"
    code: str | None = Field(None, pattern=NETWORK_CODE, description="default: the data set's name")
    name: str | None = Field(None, max_length=200)


class RunCreate(BaseModel):
    controllers: list[str] | None = Field(None, max_length=20, description="default: every registered controller")
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1, max_length=10)
    duration_s: int = Field(3600, ge=60, le=4 * 3600, description="simulated seconds per run")


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    network_id: int
    controllers: list[str]
    seeds: list[int]
    duration_s: int
    status: str
    simulations_done: int
    simulations_total: int
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_by: str


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    network_id: int | None
    kind: str
    name: str
    params: dict[str, Any]
    result: dict[str, Any]
    check: dict[str, Any] | None
    check_status: str | None
    check_error: str | None
    created_at: datetime
    created_by: str


class CorridorDemandIn(BaseModel):
    """Traffic the SUMO check generates, vehicles/hour."""

    through_outbound_vph: float = Field(500, ge=0, le=3000)
    through_inbound_vph: float = Field(500, ge=0, le=3000)
    cross_vph: float = Field(200, ge=0, le=2000)


class GreenWaveCreate(BaseModel):
    """An arterial of a network for MAXBAND: its junctions in order, the reds of its through
    movements and the cycle (or a range of cycles to choose from)."""

    name: str = Field(min_length=1, max_length=200)
    network: str = Field(pattern=NETWORK_CODE)
    junctions: list[str] = Field(min_length=2, max_length=30, description="signalised junctions in order along the arterial")
    red_outbound_s: float = Field(36, gt=0, le=600, description="red of the outbound through movement, s")
    red_inbound_s: float = Field(36, gt=0, le=600, description="red of the inbound through movement, s")
    reds: dict[str, tuple[float, float]] | None = Field(None, description="per junction (outbound, inbound) reds, s, where they differ")
    cycle_s: float | tuple[float, float] = Field((60, 120), description="common cycle, s, or the (min, max) range to choose from")
    speed_mps: float | None = Field(None, gt=0, le=40, description="design speed, m/s (default: the network's speed limit)")
    volume_ratio: float = Field(1.0, ge=0, le=10, description="inbound/outbound volume: the weight of the inbound band")
    demand: CorridorDemandIn = Field(default_factory=CorridorDemandIn)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=5)
    check: bool = Field(True, description="check the plan in SUMO against uncoordinated offsets (in the background)")


class CountsIn(BaseModel):
    a: list[float] = Field(min_length=1, max_length=96 * 7, description="vehicles per 15-minute bin, direction a")
    b: list[float] = Field(min_length=1, max_length=96 * 7, description="vehicles per 15-minute bin, direction b")
    start_s: int = Field(0, ge=0, le=86_400, description="start of the first bin, seconds after midnight")
    name_a: str = Field("inbound", max_length=40)
    name_b: str = Field("outbound", max_length=40)
    source: str = Field("", max_length=200)


class SectionIn(BaseModel):
    lanes_a: int = Field(ge=1, le=8)
    lanes_b: int = Field(ge=1, le=8)
    lane_capacity_vph: float = Field(1800, gt=0, le=3000)
    reversible_from: list[Literal["a", "b"]] = Field(default_factory=lambda: ["a", "b"])


class TidalCreate(BaseModel):
    """Directional counts of a section for the tidal-lane planner (none: the demo corridor's day)."""

    name: str = Field(min_length=1, max_length=200)
    network: str | None = Field(None, pattern=NETWORK_CODE)
    counts: CountsIn | None = None
    section: SectionIn
    rule: dict[str, float] | None = Field(None, description="thresholds overriding the defaults (min_split, min_peak_vc, ...)")
    seed: int = 0
    check: bool = Field(True, description="check the plan in SUMO against no reversal (in the background)")


class CommandCreate(BaseModel):
    """A remote-control command to one junction of the live twin."""

    action: Literal["force", "hold", "release", "controller"]
    #: force: the phase name (e.g. NS_through); controller: the controller's name
    value: str | None = Field(None, max_length=64)
    #: force and hold: how long before the junction's controller takes over again, seconds
    duration_s: int = Field(60, ge=5, le=1800)


class CommandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    network_id: int
    junction_id: str
    action: str
    value: str | None
    duration_s: int | None
    actor_name: str
    at: datetime
    sim_time_s: float | None

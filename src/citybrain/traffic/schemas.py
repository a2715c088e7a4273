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
    created_at: datetime
    created_by: str


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

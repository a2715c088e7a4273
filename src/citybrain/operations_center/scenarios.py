"""Scenario definitions (应用场景): a declarative page of widgets bound to metrics and domain figures,
written as YAML or JSON, validated here with no database or web import.

A definition::

    code: public-safety           # its URL: /ops/scenarios/public-safety
    group: public_safety          # convenience (便民惠企) | city_management (城市管理) | public_safety (公共安全) | economy | other
    title: 公共安全一网通
    title_en: Public safety
    columns: 4                    # grid columns; each widget spans some of them
    widgets:
      - {type: kpi, title: 河道最高水位, metric: water.level_m, agg: max, warn: 3.0, alarm: 3.5}
      - {type: line, title: 空气质量, metrics: [air.aqi], window_s: 3600, bucket_s: 60, span: 2}
      - {type: map, title: 各区 AQI, metric: air.aqi, span: 2, rows: 2}
      - {type: bar, title: 各区热线工单, metric: hotline.tickets}
      - {type: figure, title: 汇聚数据, figure: datahub.landed_records}
      - {type: alarms, title: 告警}
      - {type: systems, title: 接入系统}

Errors name the field (``widgets.2.metric``) and the reason.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from citybrain.operations_center.schemas import METRIC_NAME

GROUPS = ("convenience", "city_management", "public_safety", "economy", "other")

Metric = Annotated[str, StringConstraints(pattern=METRIC_NAME, max_length=100)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class _Widget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text
    title_en: Text | None = None
    span: int = Field(1, ge=1, le=6)
    rows: int = Field(1, ge=1, le=4)


class Kpi(_Widget):
    type: Literal["kpi"]
    metric: Metric
    agg: Literal["avg", "sum", "min", "max", "last"] = "sum"
    unit: str | None = Field(None, max_length=16)
    #: value from which the card turns amber, and red (above; below when ``lower_is_worse``)
    warn: float | None = None
    alarm: float | None = None
    lower_is_worse: bool = False


class Line(_Widget):
    type: Literal["line"]
    metrics: list[Metric] = Field(min_length=1, max_length=6)
    agg: Literal["avg", "sum", "min", "max", "last"] = "avg"
    window_s: int = Field(3600, ge=60, le=30 * 86_400)
    bucket_s: int = Field(60, ge=1, le=86_400)


class Bar(_Widget):
    """The latest value of a metric in each district."""

    type: Literal["bar"]
    metric: Metric


class Map(_Widget):
    """Jinan's districts coloured by the latest value of a metric in each."""

    type: Literal["map"]
    metric: Metric


class Figure(_Widget):
    """A figure of another domain (``datahub.landed_records``, ``gov.issued``, ``traffic.junctions``)."""

    type: Literal["figure"]
    figure: Annotated[str, StringConstraints(pattern=r"^(datahub|gov|traffic|ops)\.[a-z_]+$")]


Severity = Literal["info", "warning", "critical"]


def _all_severities() -> list[Severity]:
    return ["critical", "warning", "info"]


class Alarms(_Widget):
    type: Literal["alarms"]
    severities: list[Severity] = Field(default_factory=_all_severities)


class Systems(_Widget):
    type: Literal["systems"]


class Traffic(_Widget):
    """The live traffic twin: junction states and queues."""

    type: Literal["traffic"]


Widget = Annotated[Kpi | Line | Bar | Map | Figure | Alarms | Systems | Traffic, Field(discriminator="type")]


class Definition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
    group: Literal["convenience", "city_management", "public_safety", "economy", "other"]
    title: Text
    title_en: Text | None = None
    position: int = Field(0, ge=0, le=10_000)
    rotate: bool = True
    #: seconds the big screen's rotation stays on this scenario
    dwell_s: int = Field(20, ge=5, le=600)
    columns: int = Field(4, ge=1, le=8)
    widgets: list[Widget] = Field(min_length=1, max_length=40)

    def metrics(self) -> set[str]:
        """Every metric a widget of this scenario is bound to."""
        out: set[str] = set()
        for w in self.widgets:
            if isinstance(w, Kpi | Bar | Map):
                out.add(w.metric)
            elif isinstance(w, Line):
                out.update(w.metrics)
        return out


class DefinitionError(Exception):
    """``problems`` lists (field path, reason) pairs; the path is ``()`` when the text does not parse."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc)) or '(document)'}: {msg}" for loc, msg in problems))


def parse(source: str) -> Definition:
    """A definition from its YAML or JSON text (JSON is YAML too, but its own parser says where it
    breaks more plainly); raises :class:`DefinitionError` naming each bad field."""
    text = source.strip()
    data: Any
    try:
        data = json.loads(text) if text.startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DefinitionError([((), f"does not parse: {exc}")]) from exc
    if not isinstance(data, dict):
        raise DefinitionError([((), "must be a mapping with code, group, title and widgets")])
    try:
        return Definition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError([(tuple(e["loc"]), e["msg"]) for e in exc.errors()]) from exc

"""What the big screen (一屏统览) shows, gathered in one place: its KPI cards, the map's metrics, the
domain figures, alarms, systems, the traffic twin and data freshness. The page renders this state
first and then follows the live stream (``/api/v1/ops/stream``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.core.db.base import utcnow
from citybrain.operations_center import service
from citybrain.operations_center.live import hub
from citybrain.operations_center.models import MetricPoint


@dataclass(frozen=True)
class Kpi:
    metric: str
    #: message key of its label
    label: str
    unit: str
    #: how district values are combined into the city's figure
    agg: str = "sum"
    warn: float | None = None
    alarm: float | None = None
    digits: int = 0


#: the KPI cards of the big screen (values from the metrics the connected systems push)
KPIS: tuple[Kpi, ...] = (
    Kpi("hotline.tickets", "ops.kpi.hotline", "件"),
    Kpi("grid.cases", "ops.kpi.grid_cases", "件"),
    Kpi("air.aqi", "ops.kpi.aqi", "", agg="avg", warn=100, alarm=150),
    Kpi("water.level_m", "ops.kpi.water", "m", agg="max", warn=2.8, alarm=3.2, digits=2),
    Kpi("traffic.mean_queue", "ops.kpi.queue", "辆", agg="last", warn=8, alarm=15, digits=1),
    Kpi("traffic.mean_speed_kmh", "ops.kpi.speed", "km/h", agg="last", digits=1),
    Kpi("gov.issued", "ops.kpi.licences", "张", agg="last"),
    Kpi("datahub.service_calls", "ops.kpi.service_calls", "次", agg="last"),
)

#: metrics the map can colour the districts by (message key of each label)
MAP_METRICS: tuple[tuple[str, str], ...] = (
    ("air.aqi", "ops.map.aqi"),
    ("hotline.tickets", "ops.map.hotline"),
    ("grid.cases", "ops.map.grid_cases"),
    ("water.level_m", "ops.map.water"),
)

#: how far back the trend lines of the KPI cards go, seconds
TREND_S = 1800
TREND_BUCKET_S = 60


def freshness(session: Session) -> dict[str, Any]:
    """When the newest metric point was stamped, and when this process last published one."""
    newest = session.scalar(select(func.max(MetricPoint.t_ms)))
    return {
        "newest_point": service._at(int(newest)).isoformat() if newest is not None else None,
        "published_s_ago": None if hub.last_points_at is None else round(time.time() - hub.last_points_at, 1),
    }


def district_names(session: Session) -> dict[str, tuple[str, str | None]]:
    """Jinan's districts by division code: (name, English name)."""
    return service._district_names(session)


def state(session: Session, app: Any) -> dict[str, Any]:
    from citybrain.traffic import service as traffic

    now = utcnow()
    names = [k.metric for k in KPIS] + [m for m, _ in MAP_METRICS]
    figs = service.domain_figures(session)
    figure_names = [p["name"] for p in service.figure_points(figs)]
    per_district = service.latest(session, [*names, *figure_names], by_district=True, within_s=3600, now=now)
    kpis = []
    for kpi in KPIS:
        reporting = len({r["district"] for r in per_district if r["name"] == kpi.metric}) or 1
        trend = service.series(session, kpi.metric, start=now - timedelta(seconds=TREND_S), end=now, bucket_s=TREND_BUCKET_S, agg="avg")
        # a city-wide sum is the mean over the districts reporting times their number
        scale = reporting if kpi.agg == "sum" else 1
        kpis.append({**asdict(kpi), "trend": [[t.isoformat(), round(v * scale, 3)] for t, v, _ in trend]})
    twin = traffic.live_twin(app)
    twin_status = twin.status() if twin is not None else None
    layout = service.twin_layout(twin_status)
    return {
        "t": now.isoformat(),
        "figures": figs,
        "kpis": kpis,
        "map_metrics": [{"metric": m, "label": label} for m, label in MAP_METRICS],
        "latest": [{**r, "t": r["t"].isoformat()} for r in per_district],
        "district_names": district_names(session),
        "alarms": [a.model_dump(mode="json") for a in service.list_alarms(session, limit=30)],
        "systems": {
            "counts": service.status_counts(session),
            "items": [
                {"id": s.id, "code": s.code, "name": s.name, "name_en": s.name_en, "status": s.status, "kind": s.kind}
                for s in service.list_systems(session, limit=60)[0]
            ],
        },
        "traffic": service.traffic_summary(twin_status.get("latest") if twin_status else None),
        "traffic_layout": layout,
        "freshness": freshness(session),
        "scenarios": [
            {"code": s.code, "title": s.title, "title_en": s.title_en, "group": s.group, "dwell_s": s.definition.get("dwell_s", 20)}
            for s in service.list_scenarios(session)
            if s.rotate
        ],
    }

"""The operations center's public face: connected systems, metric points, alarms and scenarios.

Other domains are read only through their ``service`` modules (``domain_figures``). Services never
commit: the request, command or background job owns the transaction. What the screens show live is
published as events (``ops.points``, ``ops.alarm``) delivered after commit, so a rolled-back batch
never reaches a screen.

Times: metric points carry UTC epoch milliseconds (see :class:`~.models.MetricPoint`); everything
else is a UTC ``datetime``. Durations are seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, func, insert, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from citybrain.core import events
from citybrain.core.audit import service as audit
from citybrain.core.auth import service as auth
from citybrain.core.auth.models import Organisation, OrgKind
from citybrain.core.auth.principal import Principal
from citybrain.core.auth.schemas import ApiKeyCreate, OrgCreate
from citybrain.core.db.base import utcnow
from citybrain.core.db.prepared import Prepared, dbapi_connection
from citybrain.core.errors import FieldError
from citybrain.operations_center import scenarios as scenario_defs
from citybrain.operations_center.errors import (
    AlarmNotFound,
    AlarmStepNotAllowed,
    BadPoints,
    BadRule,
    BadScenario,
    NotASystem,
    RuleNotFound,
    ScenarioNotFound,
    SystemNotFound,
    UnknownMetricQuery,
)
from citybrain.operations_center.models import Alarm, AlarmNote, AlarmRule, MetricPoint, Scenario, StatusChange, System
from citybrain.operations_center.schemas import AlarmRead, HeartbeatIn, PointIn, RuleCreate, SystemCreate

#: see the operations center (screens, systems, metrics, alarms)
READ = "ops:read"
#: push heartbeats and metric points (a connected system's API key)
PUSH = "ops:push"
#: acknowledge, assign and close alarms (operations-center staff)
HANDLE = "ops:handle"
#: register systems, write alarm rules and scenarios
ADMIN = "ops:admin"

#: points one batch may hold
MAX_BATCH = 50_000
#: a point may be stamped this far in the future (clock skew), seconds
MAX_FUTURE_S = 300
#: raw points are kept this long before they are downsampled, seconds (two days)
RAW_KEEP_S = 2 * 86_400
#: downsampled points are kept this long, seconds (ninety days)
KEEP_S = 90 * 86_400
#: width of a downsampled bucket, seconds
ROLLUP_S = 3600
#: buckets a series query may return
MAX_BUCKETS = 5000


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# -- connected systems -------------------------------------------------------------------------------


def register_system(session: Session, actor: Principal, data: SystemCreate) -> tuple[System, str]:
    """Register a connected system under its owner department and issue its API key (scope
    ``ops:push``, shown once). The system is an organisation of kind ``system`` (a child of the
    owner), so its key is the kernel's API key of that organisation."""
    owner = auth.get_org_by_code(session, data.owner_org_code)
    if session.scalar(select(System.id).where(System.code == data.code)) is not None:
        raise BadRule("ops.system_code_taken", errors=[FieldError(("body", "code"), "ops.system_code_taken", {"code": data.code})])
    org = auth.create_organisation(
        session,
        actor,
        OrgCreate(code=f"sys.{data.code}", name=data.name, name_en=data.name_en, kind=OrgKind.SYSTEM, parent_code=owner.code),
    )
    now = utcnow()
    system = System(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        kind=data.kind,
        owner_org_id=owner.id,
        org_id=org.id,
        endpoint=data.endpoint,
        health_url=data.health_url,
        contact=data.contact,
        status="unknown",
        status_since=now,
        heartbeat_timeout_s=data.heartbeat_timeout_s,
        probe_interval_s=data.probe_interval_s,
        next_probe_at=now if data.health_url else None,
    )
    session.add(system)
    session.flush()
    session.add(StatusChange(system_id=system.id, at=now, status="unknown", source="registered", message=None))
    _key, raw = auth.create_api_key(session, actor, ApiKeyCreate(name=data.code, org_code=org.code, scopes=[PUSH]))
    audit.record(session, actor, "ops.system.registered", subject_type="ops.system", subject_id=system.id, detail={"code": data.code})
    return system, raw


def issue_key(session: Session, actor: Principal, system_id: int) -> str:
    """A new API key for a system (the old ones stay valid until revoked with ``citybrain apikey revoke``)."""
    system = get_system(session, system_id)
    org = auth.get_org(session, system.org_id)
    _key, raw = auth.create_api_key(session, actor, ApiKeyCreate(name=system.code, org_code=org.code, scopes=[PUSH]))
    audit.record(session, actor, "ops.system.key_issued", subject_type="ops.system", subject_id=system.id)
    return raw


def get_system(session: Session, system_id: int) -> System:
    system = session.get(System, system_id)
    if system is None:
        raise SystemNotFound(id=system_id)
    return system


def system_by_code(session: Session, code: str) -> System:
    system = session.scalar(select(System).where(System.code == code))
    if system is None:
        raise SystemNotFound(id=code)
    return system


def system_of(session: Session, principal: Principal) -> System | None:
    """The connected system a caller is (by its API key's organisation), or None for a person."""
    if principal.kind != "system" or principal.org_id is None:
        return None
    return session.scalar(select(System).where(System.org_id == principal.org_id))


def list_systems(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    owner_org_id: int | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[System], int]:
    """Systems filtered by status, kind, owner department and a text in their code or names."""
    stmt = select(System).where(System.active.is_(True))
    if status:
        stmt = stmt.where(System.status == status)
    if kind:
        stmt = stmt.where(System.kind == kind)
    if owner_org_id is not None:
        stmt = stmt.where(System.owner_org_id == owner_org_id)
    if q:
        like = f"%{auth.escape_like(q)}%"
        stmt = stmt.where(
            or_(System.code.ilike(like, escape="\\"), System.name.ilike(like, escape="\\"), System.name_en.ilike(like, escape="\\"))
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(System.code).offset(offset).limit(limit)).all()
    return rows, int(total)


def status_counts(session: Session) -> dict[str, int]:
    """Active systems by status (up, degraded, down, unknown) and in all."""
    rows = session.execute(select(System.status, func.count()).where(System.active.is_(True)).group_by(System.status)).all()
    counts = {"up": 0, "degraded": 0, "down": 0, "unknown": 0}
    for status, n in rows:
        counts[str(status)] = int(n)
    counts["total"] = sum(counts.values())
    return counts


def set_status(session: Session, system: System, status: str, *, source: str, message: str | None, now: datetime) -> bool:
    """Record a system's status; a change is kept in its history. Returns whether it changed."""
    changed = system.status != status
    if changed:
        system.status = status
        system.status_since = now
        session.add(StatusChange(system_id=system.id, at=now, status=status, source=source, message=message))
    system.status_message = message
    return changed


def heartbeat(session: Session, principal: Principal, data: HeartbeatIn, *, now: datetime | None = None) -> dict[str, int]:
    """A heartbeat from the calling system: its status now, and any metric points sent with it."""
    now = now or utcnow()
    system = system_of(session, principal)
    if system is None:
        raise NotASystem()
    system.last_seen_at = now
    if set_status(session, system, data.status, source="heartbeat", message=data.message, now=now):
        events.publish(session, "ops.system", system=_system_event(system))
    result = {"accepted": 0, "alarms_opened": 0}
    if data.metrics:
        result = ingest(session, principal, data.metrics, now=now)
    return result


def _system_event(system: System) -> dict[str, Any]:
    return {"id": system.id, "code": system.code, "name": system.name, "name_en": system.name_en, "status": system.status}


def mark_silent(session: Session, *, now: datetime | None = None) -> list[System]:
    """Mark down the pushing systems (no health URL) whose last heartbeat is older than their
    timeout; returns them. Run periodically."""
    now = now or utcnow()
    found = []
    candidates = session.scalars(
        select(System).where(
            System.active.is_(True), System.health_url.is_(None), System.last_seen_at.is_not(None), System.status != "down"
        )
    ).all()
    for system in candidates:
        assert system.last_seen_at is not None
        if (now - system.last_seen_at).total_seconds() > system.heartbeat_timeout_s:
            set_status(session, system, "down", source="timeout", message=f"no heartbeat for {system.heartbeat_timeout_s} s", now=now)
            events.publish(session, "ops.system", system=_system_event(system))
            found.append(system)
    return found


@dataclass(frozen=True)
class Uptime:
    window_s: int
    shares: dict[str, float]
    history: list[StatusChange]


def uptime(session: Session, system: System, *, window_s: int = 86_400, now: datetime | None = None) -> Uptime:
    """The share of the last ``window_s`` seconds the system spent in each status, from its history
    (time before its registration counts as unknown)."""
    now = now or utcnow()
    start = now - timedelta(seconds=window_s)
    changes = list(
        session.scalars(
            select(StatusChange)
            .where(StatusChange.system_id == system.id, StatusChange.at <= now)
            .order_by(StatusChange.at, StatusChange.id)
        )
    )
    before = [c for c in changes if c.at <= start]
    state = before[-1].status if before else "unknown"
    cursor = start
    spent = {"up": 0.0, "degraded": 0.0, "down": 0.0, "unknown": 0.0}
    for change in (c for c in changes if c.at > start):
        spent[state] += (change.at - cursor).total_seconds()
        state, cursor = change.status, change.at
    spent[state] += (now - cursor).total_seconds()
    total = sum(spent.values()) or 1.0
    return Uptime(window_s, {k: v / total for k, v in spent.items()}, list(reversed(changes))[:50])


# -- probes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    status: str
    latency_ms: float | None
    message: str | None


#: a probe answered more slowly than this is "degraded", milliseconds
DEGRADED_MS = 1000.0
#: probe timeout, seconds
PROBE_TIMEOUT_S = 5.0
#: the longest a failing system waits between probes, seconds
MAX_BACKOFF_S = 600


async def probe(client: Any, url: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """GET ``url`` with ``client`` (an ``httpx.AsyncClient``): up on 2xx, degraded on a slow 2xx,
    down on anything else, a timeout or a refused connection."""
    import time

    import httpx2 as httpx

    started = time.perf_counter()
    try:
        response = await client.get(url, timeout=timeout_s)
    except httpx.TimeoutException:
        return ProbeResult("down", None, f"timeout after {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return ProbeResult("down", None, f"{type(exc).__name__}: {exc}"[:500])
    latency = (time.perf_counter() - started) * 1000
    if not 200 <= response.status_code < 300:
        return ProbeResult("down", latency, f"HTTP {response.status_code}")
    if latency > DEGRADED_MS:
        return ProbeResult("degraded", latency, f"slow: {latency:.0f} ms")
    return ProbeResult("up", latency, None)


def due_probes(session: Session, *, now: datetime | None = None) -> list[System]:
    """Systems with a health URL whose next probe is due."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(System)
            .where(System.active.is_(True), System.health_url.is_not(None), System.next_probe_at <= now)
            .order_by(System.next_probe_at)
        )
    )


def apply_probe(session: Session, system: System, result: ProbeResult, *, now: datetime | None = None) -> None:
    """Record a probe's result and schedule the next: after the system's interval when it is up,
    doubling with each failure in a row (capped at :data:`MAX_BACKOFF_S`) when it is not."""
    now = now or utcnow()
    system.last_latency_ms = result.latency_ms
    if result.status == "down":
        system.probe_failures += 1
        wait = min(system.probe_interval_s * 2 ** min(system.probe_failures, 10), MAX_BACKOFF_S)
    else:
        system.probe_failures = 0
        system.last_seen_at = now
        wait = system.probe_interval_s
    system.next_probe_at = now + timedelta(seconds=wait)
    if set_status(session, system, result.status, source="probe", message=result.message, now=now):
        events.publish(session, "ops.system", system=_system_event(system))


# -- metric points -------------------------------------------------------------------------------------


def ingest(session: Session, principal: Principal, points: Sequence[PointIn], *, now: datetime | None = None) -> dict[str, int]:
    """Store a batch of points, all or nothing: a bad point (a time too far ahead, a district tag
    that is no Jinan district code) refuses the whole batch with every bad point named by index and
    field. Threshold rules are checked on the batch; the newest value of each (metric, district)
    goes to the screens after commit. Returns the points accepted and alarms opened."""
    now = now or utcnow()
    if len(points) > MAX_BATCH:
        raise BadPoints("ops.batch_too_large", max=MAX_BATCH)
    system = system_of(session, principal)
    system_id = system.id if system is not None else None
    now_ms = _ms(now)
    horizon = now_ms + MAX_FUTURE_S * 1000
    oldest = now_ms - KEEP_S * 1000
    errors: list[FieldError] = []
    rows: list[dict[str, Any]] = []
    encoded: dict[tuple[tuple[str, str], ...], str | None] = {}
    for i, p in enumerate(points):
        t = now_ms if p.time is None else _ms(p.time if p.time.tzinfo else p.time.replace(tzinfo=UTC))
        if t > horizon:
            errors.append(FieldError(("body", "points", i, "time"), "ops.point_in_future", {"seconds": MAX_FUTURE_S}))
        elif t < oldest:
            errors.append(FieldError(("body", "points", i, "time"), "ops.point_too_old", {"days": KEEP_S // 86_400}))
        tags = p.tags
        district = tags.get("district")
        if district is not None and not (len(district) == 6 and district.isdigit()):
            errors.append(FieldError(("body", "points", i, "tags", "district"), "ops.bad_district", {"value": district[:20]}))
        if len(errors) >= 100:
            break
        key = tuple(sorted((k, v) for k, v in tags.items() if k not in ("district", "domain")))
        extra = encoded.get(key, "")
        if extra == "":
            extra = encoded[key] = json.dumps(dict(key), ensure_ascii=False) if key else None
        rows.append(
            {
                "name": p.name,
                "t_ms": t,
                "value": p.value,
                "unit": p.unit,
                "district": district,
                "domain": tags.get("domain"),
                "tags": extra,
                "system_id": system_id,
                "resolution_s": 0,
                "count": 1,
            }
        )
    if errors:
        raise BadPoints(errors=errors, count=len(errors))
    if not rows:
        return {"accepted": 0, "alarms_opened": 0}
    _insert_points(session.get_bind().dialect).run(dbapi_connection(session), rows)
    if system is not None:
        system.last_seen_at = now
    newest: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in rows:
        key = (row["name"], row["district"])
        found = newest.get(key)
        if found is None or row["t_ms"] >= found["t_ms"]:
            newest[key] = row
    opened = evaluate_thresholds(session, list(newest.values()), now=now)
    events.publish(
        session,
        "ops.points",
        points=[
            {"name": r["name"], "district": r["district"], "value": r["value"], "unit": r["unit"], "t": r["t_ms"]} for r in newest.values()
        ],
    )
    return {"accepted": len(rows), "alarms_opened": len(opened)}


_POINT_COLUMNS = ("name", "t_ms", "value", "unit", "district", "domain", "tags", "system_id", "resolution_s", "count")


@lru_cache(maxsize=4)
def _insert_points(dialect: Dialect) -> Prepared:
    """The points' INSERT, compiled once and run on the transaction's DB-API connection: through the
    ORM's bulk insert a 5,000-point batch spent about 20 ms collecting its rows (bench/ops_ingest.py)."""
    # tags arrive already encoded as JSON text (a batch's points mostly share their tags, so each
    # distinct set is encoded once); PostgreSQL casts the text to JSONB, SQLite keeps it as it is
    tags: Any = bindparam("tags", type_=Text())
    if dialect.name == "postgresql":
        tags = cast(tags, JSONB())
    stmt = insert(MetricPoint.__table__).values(tags=tags)  # type: ignore[arg-type]
    return Prepared(stmt, dialect, columns=[c for c in _POINT_COLUMNS if c != "tags"])


def _filtered(stmt: Any, district: str | None, domain: str | None) -> Any:
    if district is not None:
        stmt = stmt.where(MetricPoint.district == district)
    if domain is not None:
        stmt = stmt.where(MetricPoint.domain == domain)
    return stmt


def _tags_match(tags: Mapping[str, str] | None, wanted: Mapping[str, str]) -> bool:
    have = tags or {}
    return all(have.get(k) == v for k, v in wanted.items())


def series(
    session: Session,
    name: str,
    *,
    start: datetime,
    end: datetime,
    bucket_s: int,
    agg: str = "avg",
    district: str | None = None,
    domain: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> list[tuple[datetime, float, int]]:
    """``(bucket start, value, raw points)`` of metric ``name`` from ``start`` to ``end`` in buckets of
    ``bucket_s`` seconds, aggregated by ``agg`` (avg, sum, min, max, last, count), over the points
    with these district, domain and other tags. Downsampled points count with their weight."""
    if end <= start:
        raise UnknownMetricQuery("ops.bad_range", errors=[FieldError(("query", "end"), "ops.bad_range")])
    if bucket_s < 1 or (end - start).total_seconds() / bucket_s > MAX_BUCKETS:
        raise UnknownMetricQuery(
            "ops.too_many_buckets", errors=[FieldError(("query", "bucket_s"), "ops.too_many_buckets", {"max": MAX_BUCKETS})]
        )
    width = bucket_s * 1000
    s_ms, e_ms = _ms(start), _ms(end)
    s_ms -= s_ms % width  # buckets on the clock's multiples of bucket_s (UTC), as charts expect
    where = [MetricPoint.name == name, MetricPoint.t_ms >= s_ms, MetricPoint.t_ms < e_ms]
    if tags or agg == "last":
        # other tags live in JSON (portable filtering is done here); "last" needs each point in order
        stmt = _filtered(select(MetricPoint.t_ms, MetricPoint.value, MetricPoint.count, MetricPoint.tags).where(*where), district, domain)
        acc: dict[int, list[Any]] = {}
        for t, value, count, point_tags in session.execute(stmt.order_by(MetricPoint.t_ms, MetricPoint.id)):
            if tags and not _tags_match(point_tags, tags):
                continue
            b = (int(t) - s_ms) // width
            cell = acc.setdefault(b, [0.0, 0, math.inf, -math.inf, 0.0, 0.0])
            cell[0] += value * count  # weighted sum
            cell[1] += count
            cell[2] = min(cell[2], value)
            cell[3] = max(cell[3], value)
            cell[4] = value  # last
            cell[5] += value * count  # sum of the raw values a downsampled point stands for
        out = []
        for b in sorted(acc):
            total, n, lo, hi, last, summed = acc[b]
            value = {"avg": total / n, "sum": summed, "min": lo, "max": hi, "last": last, "count": n}[agg]
            out.append((_at(s_ms + b * width), value, int(n)))
        return out
    bucket = (MetricPoint.t_ms - s_ms) // width  # integer division on both backends (t_ms >= s_ms)
    weighted = func.sum(MetricPoint.value * MetricPoint.count)
    n = func.sum(MetricPoint.count)
    value_of: dict[str, Any] = {
        "avg": weighted / n,
        "sum": weighted,
        "min": func.min(MetricPoint.value),
        "max": func.max(MetricPoint.value),
        "count": n,
    }
    if agg not in value_of:
        raise UnknownMetricQuery("ops.bad_aggregation", errors=[FieldError(("query", "agg"), "ops.bad_aggregation")])
    stmt = _filtered(select(bucket.label("b"), value_of[agg], n).where(*where), district, domain).group_by("b").order_by("b")
    return [(_at(s_ms + int(b) * width), float(v), int(c)) for b, v, c in session.execute(stmt)]


def latest(
    session: Session, names: Iterable[str], *, by_district: bool = True, within_s: int = 86_400, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The newest point of each metric in ``names`` (in each district when ``by_district``; else
    across them, ``district`` None), looking back ``within_s`` seconds."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    since = _ms(now or utcnow()) - within_s * 1000
    partition = [MetricPoint.name, MetricPoint.district] if by_district else [MetricPoint.name]
    ranked = (
        select(
            MetricPoint.name,
            MetricPoint.district,
            MetricPoint.value,
            MetricPoint.unit,
            MetricPoint.t_ms,
            func.row_number().over(partition_by=partition, order_by=(MetricPoint.t_ms.desc(), MetricPoint.id.desc())).label("rn"),
        )
        .where(MetricPoint.name.in_(wanted), MetricPoint.t_ms >= since)
        .subquery()
    )
    rows = session.execute(select(ranked.c.name, ranked.c.district, ranked.c.value, ranked.c.unit, ranked.c.t_ms).where(ranked.c.rn == 1))
    return [
        {"name": n, "district": d if by_district else None, "value": float(v), "unit": u, "t": _at(int(t))}
        for n, d, v, u, t in sorted(rows, key=lambda r: (r[0], r[1] or ""))
    ]


def total_latest(
    session: Session, names: Iterable[str], *, agg: str = "sum", within_s: int = 600, now: datetime | None = None
) -> dict[str, float]:
    """Per metric, the newest values of each district combined by ``agg`` (sum, avg, min, max, last):
    a city-wide KPI from district-tagged points."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in latest(session, names, by_district=True, within_s=within_s, now=now):
        groups.setdefault(row["name"], []).append(row)
    out: dict[str, float] = {}
    for name, rows in groups.items():
        values = [r["value"] for r in rows]
        if agg == "avg":
            out[name] = sum(values) / len(values)
        elif agg == "min":
            out[name] = min(values)
        elif agg == "max":
            out[name] = max(values)
        elif agg == "last":
            out[name] = max(rows, key=lambda r: r["t"])["value"]
        else:
            out[name] = sum(values)
    return out


def list_metrics(session: Session) -> list[dict[str, Any]]:
    """Each metric's name, unit, points kept and newest time."""
    rows = session.execute(
        select(MetricPoint.name, func.max(MetricPoint.unit), func.count(), func.max(MetricPoint.t_ms))
        .group_by(MetricPoint.name)
        .order_by(MetricPoint.name)
    ).all()
    return [{"name": n, "unit": u, "points": int(c), "last_t": _at(int(t)) if t is not None else None} for n, u, c, t in rows]


def downsample(session: Session, *, now: datetime | None = None, raw_keep_s: int = RAW_KEEP_S, keep_s: int = KEEP_S) -> dict[str, int]:
    """Retention: raw points older than ``raw_keep_s`` become one point per hour, metric, district,
    domain and system (the mean, weighted by the points it stands for; min/max are not kept), and
    points older than ``keep_s`` are deleted. Returns how many rows were rolled up, written, deleted."""
    now_ms = _ms(now or utcnow())
    raw_cut = now_ms - raw_keep_s * 1000
    raw_cut -= raw_cut % (ROLLUP_S * 1000)  # whole hours only, so a bucket is never split
    width = ROLLUP_S * 1000
    bucket = MetricPoint.t_ms // width
    old_raw = [MetricPoint.resolution_s == 0, MetricPoint.t_ms < raw_cut]
    groups = session.execute(
        select(
            MetricPoint.name,
            bucket.label("b"),
            MetricPoint.district,
            MetricPoint.domain,
            MetricPoint.system_id,
            func.max(MetricPoint.unit),
            func.sum(MetricPoint.value * MetricPoint.count),
            func.sum(MetricPoint.count),
            func.count(),
        )
        .where(*old_raw)
        .group_by(MetricPoint.name, "b", MetricPoint.district, MetricPoint.domain, MetricPoint.system_id)
    ).all()
    rolled = sum(int(g[8]) for g in groups)
    rows = [
        {
            "name": name,
            "t_ms": int(b) * width,
            "value": float(total) / int(n),
            "unit": unit,
            "district": district,
            "domain": domain,
            "tags": None,
            "system_id": system_id,
            "resolution_s": ROLLUP_S,
            "count": int(n),
        }
        for name, b, district, domain, system_id, unit, total, n, _c in groups
    ]
    session.execute(delete(MetricPoint).where(*old_raw))
    if rows:
        session.execute(insert(MetricPoint), rows)
    gone = session.execute(delete(MetricPoint).where(MetricPoint.t_ms < now_ms - keep_s * 1000))
    return {"rolled_up": rolled, "written": len(rows), "deleted": int(gone.rowcount or 0)}  # type: ignore[attr-defined]


# -- alarms -------------------------------------------------------------------------------------------

_COMPARE = {">": lambda v, t: v > t, ">=": lambda v, t: v >= t, "<": lambda v, t: v < t, "<=": lambda v, t: v <= t}


def create_rule(session: Session, actor: Principal, data: RuleCreate) -> AlarmRule:
    """A threshold rule needs a comparator and a threshold; a no-data rule a window."""
    errors = []
    if data.kind == "threshold":
        if data.comparator is None:
            errors.append(FieldError(("body", "comparator"), "ops.rule_needs", {"field": "comparator"}))
        if data.threshold is None:
            errors.append(FieldError(("body", "threshold"), "ops.rule_needs", {"field": "threshold"}))
    elif data.window_s is None:
        errors.append(FieldError(("body", "window_s"), "ops.rule_needs", {"field": "window_s"}))
    if errors:
        raise BadRule(errors=errors)
    department = auth.get_org_by_code(session, data.department_org_code).id if data.department_org_code else None
    rule = AlarmRule(
        name=data.name,
        name_en=data.name_en,
        kind=data.kind,
        metric=data.metric,
        comparator=data.comparator if data.kind == "threshold" else None,
        threshold=data.threshold if data.kind == "threshold" else None,
        window_s=data.window_s if data.kind == "nodata" else None,
        severity=data.severity,
        district=data.district,
        department_org_id=department,
        enabled=True,
    )
    session.add(rule)
    session.flush()
    audit.record(session, actor, "ops.rule.created", subject_type="ops.alarm_rule", subject_id=rule.id, detail={"metric": rule.metric})
    return rule


def list_rules(session: Session) -> Sequence[AlarmRule]:
    return session.scalars(select(AlarmRule).order_by(AlarmRule.id)).all()


def set_rule_enabled(session: Session, actor: Principal, rule_id: int, enabled: bool) -> AlarmRule:
    rule = session.get(AlarmRule, rule_id)
    if rule is None:
        raise RuleNotFound(id=rule_id)
    if rule.enabled != enabled:
        rule.enabled = enabled
        audit.record(
            session, actor, "ops.rule.enabled" if enabled else "ops.rule.disabled", subject_type="ops.alarm_rule", subject_id=rule.id
        )
    return rule


def _active_alarm(session: Session, rule_id: int, district: str | None) -> Alarm | None:
    return session.scalar(
        select(Alarm).where(
            Alarm.rule_id == rule_id, Alarm.district.is_(None) if district is None else Alarm.district == district, Alarm.status != "closed"
        )
    )


def _open(session: Session, rule: AlarmRule, district: str | None, value: float | None, now: datetime, text: str) -> Alarm:
    alarm = Alarm(
        rule_id=rule.id,
        status="open",
        severity=rule.severity,
        metric=rule.metric,
        district=district,
        value=value,
        last_value=value,
        opened_at=now,
    )
    session.add(alarm)
    session.flush()
    session.add(AlarmNote(alarm_id=alarm.id, at=now, action="opened", actor_name="citybrain", text=text))
    audit.record(
        session,
        _SYSTEM,
        "ops.alarm.opened",
        subject_type="ops.alarm",
        subject_id=alarm.id,
        detail={"rule": rule.id, "metric": rule.metric, "district": district, "value": value},
    )
    _publish_alarm(session, alarm)
    return alarm


_SYSTEM = Principal(kind="system", id=None, name="citybrain", org_id=None, via="none")


def evaluate_thresholds(session: Session, newest: Sequence[Mapping[str, Any]], *, now: datetime) -> list[Alarm]:
    """Check the newest value of each (metric, district) of a batch against the enabled threshold
    rules: a breach opens an alarm (one at a time per rule and district), a value back within the
    threshold marks the open alarm recovered (staff still close it)."""
    names = {p["name"] for p in newest}
    rules = session.scalars(
        select(AlarmRule).where(AlarmRule.enabled.is_(True), AlarmRule.kind == "threshold", AlarmRule.metric.in_(names))
    ).all()
    opened = []
    for rule in rules:
        assert rule.comparator is not None
        assert rule.threshold is not None
        for point in newest:
            if point["name"] != rule.metric or (rule.district is not None and point["district"] != rule.district):
                continue
            value = float(point["value"])
            breached = _COMPARE[rule.comparator](value, rule.threshold)
            active = _active_alarm(session, rule.id, point["district"])
            if active is not None:
                active.last_value = value
                if not breached and active.recovered_at is None:
                    active.recovered_at = now
                    _publish_alarm(session, active)
                elif breached and active.recovered_at is not None:
                    active.recovered_at = None
                    _publish_alarm(session, active)
            elif breached:
                text = f"{rule.metric} = {value:g} {rule.comparator} {rule.threshold:g}"
                opened.append(_open(session, rule, point["district"], value, now, text))
    return opened


def evaluate_nodata(session: Session, *, now: datetime | None = None, watching_since: datetime | None = None) -> list[Alarm]:
    """Open an alarm for each enabled no-data rule whose metric had no point (in its district, when
    it names one) for its window; a point arriving again marks it recovered. Run periodically.

    ``watching_since``: when the checks started (the server's start). Silence is counted from then
    at the earliest, so a restart does not raise alarms for the time nobody was listening."""
    now = now or utcnow()
    floor = _ms(watching_since) if watching_since is not None else None
    opened = []
    for rule in session.scalars(select(AlarmRule).where(AlarmRule.enabled.is_(True), AlarmRule.kind == "nodata")):
        assert rule.window_s is not None
        stmt = select(func.max(MetricPoint.t_ms)).where(MetricPoint.name == rule.metric)
        if rule.district is not None:
            stmt = stmt.where(MetricPoint.district == rule.district)
        last = session.scalar(stmt)
        if floor is not None:
            last = floor if last is None else max(int(last), floor)
        silent = last is None or _ms(now) - int(last) > rule.window_s * 1000
        active = _active_alarm(session, rule.id, rule.district)
        if silent and active is None:
            opened.append(_open(session, rule, rule.district, None, now, f"no {rule.metric} for {rule.window_s} s"))
        elif not silent and active is not None and active.recovered_at is None:
            active.recovered_at = now
            _publish_alarm(session, active)
    return opened


def _district_names(session: Session) -> dict[str, tuple[str, str | None]]:
    rows = session.execute(
        select(Organisation.division_code, Organisation.name, Organisation.name_en).where(
            Organisation.kind == OrgKind.DISTRICT, Organisation.division_code.is_not(None)
        )
    )
    return {str(code): (name, name_en) for code, name, name_en in rows}


def alarm_read(session: Session, alarm: Alarm, names: Mapping[str, tuple[str, str | None]] | None = None) -> AlarmRead:
    names = names if names is not None else _district_names(session)
    rule = session.get(AlarmRule, alarm.rule_id)
    org = session.get(Organisation, alarm.assigned_org_id) if alarm.assigned_org_id else None
    return AlarmRead(
        id=alarm.id,
        rule_id=alarm.rule_id,
        rule_name=rule.name if rule else "",
        status=alarm.status,
        severity=alarm.severity,
        metric=alarm.metric,
        district=alarm.district,
        district_name=names.get(alarm.district, (None, None))[0] if alarm.district else None,
        value=alarm.value,
        last_value=alarm.last_value,
        opened_at=alarm.opened_at,
        recovered_at=alarm.recovered_at,
        acknowledged_at=alarm.acknowledged_at,
        assigned_org_id=alarm.assigned_org_id,
        assigned_org_name=org.name if org else None,
        closed_at=alarm.closed_at,
    )


def _publish_alarm(session: Session, alarm: Alarm) -> None:
    session.flush()
    events.publish(session, "ops.alarm", alarm=alarm_read(session, alarm).model_dump(mode="json"))


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def list_alarms(session: Session, *, active: bool = True, status: str | None = None, limit: int = 100) -> list[AlarmRead]:
    """Alarms newest first (critical ones first among the active); ``active``: not closed."""
    stmt = select(Alarm)
    if status:
        stmt = stmt.where(Alarm.status == status)
    elif active:
        stmt = stmt.where(Alarm.status != "closed")
    rows = session.scalars(stmt.order_by(Alarm.opened_at.desc(), Alarm.id.desc()).limit(limit)).all()
    names = _district_names(session)
    out = [alarm_read(session, a, names) for a in rows]
    if active and not status:
        out.sort(key=lambda a: (_SEVERITY_ORDER.get(a.severity, 3), -a.opened_at.timestamp()))
    return out


def get_alarm(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise AlarmNotFound(id=alarm_id)
    return alarm


def alarm_notes(session: Session, alarm_id: int) -> Sequence[AlarmNote]:
    return session.scalars(select(AlarmNote).where(AlarmNote.alarm_id == alarm_id).order_by(AlarmNote.at, AlarmNote.id)).all()


#: the states each step may be taken from
_STEPS = {"acknowledged": ("open",), "assigned": ("acknowledged", "assigned"), "closed": ("acknowledged", "assigned")}


def _step(session: Session, actor: Principal, alarm_id: int, to: str, note: str | None, detail: dict[str, Any] | None = None) -> Alarm:
    alarm = get_alarm(session, alarm_id)
    if alarm.status not in _STEPS[to]:
        raise AlarmStepNotAllowed(status=alarm.status, step=to)
    now = utcnow()
    alarm.status = to
    if to == "acknowledged":
        alarm.acknowledged_at = now
    elif to == "closed":
        alarm.closed_at = now
    session.add(AlarmNote(alarm_id=alarm.id, at=now, action=to, actor_name=actor.display_name or actor.name, text=note))
    audit.record(session, actor, f"ops.alarm.{to}", subject_type="ops.alarm", subject_id=alarm.id, detail={"note": note, **(detail or {})})
    _publish_alarm(session, alarm)
    return alarm


def acknowledge(session: Session, actor: Principal, alarm_id: int, note: str | None = None) -> Alarm:
    """open → acknowledged: someone in the operations center has seen it."""
    return _step(session, actor, alarm_id, "acknowledged", note)


def assign(session: Session, actor: Principal, alarm_id: int, org_code: str, note: str | None = None) -> Alarm:
    """acknowledged → assigned: handed to a department (or handed on to another)."""
    org = auth.get_org_by_code(session, org_code)
    alarm = get_alarm(session, alarm_id)
    if alarm.status in _STEPS["assigned"]:
        alarm.assigned_org_id = org.id
        alarm.assigned_at = utcnow()
    return _step(session, actor, alarm_id, "assigned", note, {"org": org.code})


def close(session: Session, actor: Principal, alarm_id: int, note: str | None = None) -> Alarm:
    """acknowledged or assigned → closed."""
    return _step(session, actor, alarm_id, "closed", note)


def add_note(session: Session, actor: Principal, alarm_id: int, text: str) -> AlarmNote:
    alarm = get_alarm(session, alarm_id)
    note = AlarmNote(alarm_id=alarm.id, at=utcnow(), action="note", actor_name=actor.display_name or actor.name, text=text)
    session.add(note)
    audit.record(session, actor, "ops.alarm.note", subject_type="ops.alarm", subject_id=alarm.id)
    session.flush()
    return note


# -- scenarios ----------------------------------------------------------------------------------------


def save_scenario(session: Session, actor: Principal, source: str, *, code: str | None = None) -> Scenario:
    """Create or replace a scenario from its YAML/JSON text. ``code``, when given (editing one),
    must match the definition's. A bad definition changes nothing; the errors name each field."""
    try:
        definition = scenario_defs.parse(source)
    except scenario_defs.DefinitionError as exc:
        raise BadScenario(
            errors=[FieldError(("source", *loc), "ops.scenario_field", {"reason": msg}) for loc, msg in exc.problems]
        ) from exc
    if code is not None and definition.code != code:
        raise BadScenario(errors=[FieldError(("source", "code"), "ops.scenario_code_changed", {"code": code})])
    scenario = session.scalar(select(Scenario).where(Scenario.code == definition.code))
    created = scenario is None
    if scenario is None:
        scenario = Scenario(code=definition.code)
        session.add(scenario)
    scenario.group = definition.group
    scenario.title = definition.title
    scenario.title_en = definition.title_en
    scenario.position = definition.position
    scenario.rotate = definition.rotate
    scenario.source = source
    scenario.definition = definition.model_dump(mode="json")
    session.flush()
    audit.record(
        session,
        actor,
        "ops.scenario.created" if created else "ops.scenario.updated",
        subject_type="ops.scenario",
        subject_id=scenario.id,
        detail={"code": scenario.code},
    )
    return scenario


def list_scenarios(session: Session, *, group: str | None = None) -> Sequence[Scenario]:
    stmt = select(Scenario)
    if group:
        stmt = stmt.where(Scenario.group == group)
    return session.scalars(stmt.order_by(Scenario.position, Scenario.code)).all()


def get_scenario(session: Session, code: str) -> Scenario:
    scenario = session.scalar(select(Scenario).where(Scenario.code == code))
    if scenario is None:
        raise ScenarioNotFound(code=code)
    return scenario


# -- figures ------------------------------------------------------------------------------------------


def figures(session: Session) -> dict[str, int]:
    """The operations center's own figures: systems by status, active alarms, scenarios, metric points."""
    counts = status_counts(session)
    active = session.scalar(select(func.count()).select_from(Alarm).where(Alarm.status != "closed")) or 0
    critical = session.scalar(select(func.count()).select_from(Alarm).where(Alarm.status == "open", Alarm.severity == "critical")) or 0
    return {
        "systems": counts["total"],
        "systems_up": counts["up"],
        "systems_degraded": counts["degraded"],
        "systems_down": counts["down"],
        "active_alarms": int(active),
        "critical_open": int(critical),
        "scenarios": int(session.scalar(select(func.count()).select_from(Scenario)) or 0),
    }


def domain_figures(session: Session) -> dict[str, dict[str, Any]]:
    """Every domain's figures as the screens show them (``datahub``, ``gov``, ``traffic``, ``ops``),
    each read through that domain's service."""
    from citybrain.datahub import service as datahub
    from citybrain.gov_services import service as gov
    from citybrain.traffic import service as traffic

    t = traffic.figures(session)
    stats = gov.statistics(session)
    applications = {
        key: stats[key]
        for key in ("applications", "instant", "finished", "in_progress", "ratings", "average_handling_hours", "satisfaction")
        if stats.get(key) is not None
    }
    # rates as percentages, as the screens show them (the service gives 0-1, or None with nothing yet)
    for key in ("instant_approval_rate", "on_time_rate"):
        if stats.get(key) is not None:
            applications[key.replace("_rate", "_pct")] = round(100 * float(stats[key]), 1)
    return {
        "datahub": dict(datahub.figures(session)),
        "gov": {**gov.figures(session), **applications},
        "traffic": _dataclass_dict(t),
        "ops": figures(session),
    }


def _dataclass_dict(value: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else {}


def figure_points(figs: Mapping[str, Mapping[str, Any]], *, domains: Iterable[str] = ("datahub", "gov", "traffic")) -> list[dict[str, Any]]:
    """The numeric domain figures as metric points (``datahub.landed_records``, ``gov.issued``, ...),
    tagged with their domain: how the built-in systems report them through the API."""
    out = []
    for domain in domains:
        for key, value in figs.get(domain, {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            out.append({"name": f"{domain}.{key}", "value": float(value), "tags": {"domain": domain}})
    return out


def traffic_summary(snapshot: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the screens show of a traffic-twin snapshot: vehicles, mean speed (km/h), the mean queue
    at a junction (halting vehicles on its approaches) and each junction's state: ``free`` (queue
    under 5), ``slow`` (under 15) or ``jammed``."""
    if not snapshot:
        return None
    junctions = snapshot.get("junctions", {})
    queues = [int(j.get("queue", 0)) for j in junctions.values()]
    states = {}
    for jid, j in junctions.items():
        q = int(j.get("queue", 0))
        states[jid] = {
            "queue": q,
            "phase": j.get("phase"),
            "mode": j.get("mode"),
            "level": "free" if q < 5 else "slow" if q < 15 else "jammed",
        }
    return {
        "t": snapshot.get("t"),
        "vehicles": snapshot.get("vehicles", 0),
        "arrived": snapshot.get("arrived", 0),
        "mean_speed_kmh": round(float(snapshot.get("mean_speed_mps", 0.0)) * 3.6, 1),
        "mean_queue": round(sum(queues) / len(queues), 2) if queues else 0.0,
        "junctions": states,
    }


def twin_layout(status: Mapping[str, Any] | None) -> dict[str, dict[str, float]] | None:
    """Where the twin's junctions are (network metres), from its status; None before it has started."""
    info = (status or {}).get("info")
    if not info:
        return None
    return {j: {"x": v.get("x"), "y": v.get("y")} for j, v in info.get("junctions", {}).items()}


def json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)

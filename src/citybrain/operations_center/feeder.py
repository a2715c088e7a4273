"""The demo's connected systems at work: while the app serves, each pushes heartbeats and metric
points to the public API over loopback with its own API key (``var/ops-demo-keys.json``), exactly as
an outside system would with curl.

- the city's own platforms report their domains' figures: the data hub (``datahub.*``), government
  services (``gov.*``) and the traffic twin (``traffic.mean_queue``, ``traffic.mean_speed_kmh``,
  ``traffic.vehicles`` from its live snapshot), each read through that domain's service;
- simulated outside systems report what their sensors would: river levels, AQI by district,
  12345 hotline tickets and grid cases by district (counts since midnight, Asia/Shanghai), weather.

The simulated values follow the hour of the day with noise, and now and then one district's river
rises past its warning level for a while, so alarms arrive on the screen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from citybrain.core.db.session import Database

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Jinan's districts (GB/T 2260) and how busy each is (a rough share of the city's population)
DISTRICTS: dict[str, float] = {
    "370102": 1.0,  # 历下区
    "370103": 1.0,  # 市中区
    "370104": 0.8,  # 槐荫区
    "370105": 0.9,  # 天桥区
    "370112": 1.3,  # 历城区
    "370113": 0.7,  # 长清区
    "370114": 0.6,  # 章丘区
    "370115": 0.4,  # 济阳区
    "370116": 0.5,  # 莱芜区
    "370117": 0.3,  # 钢城区
    "370124": 0.3,  # 平阴县
    "370126": 0.35,  # 商河县
}
#: districts with a river gauge (小清河, 黄河, 玉符河, 汇河, 徒骇河, 大汶河)
GAUGES: dict[str, float] = {"370105": 2.2, "370112": 2.0, "370113": 1.8, "370114": 1.9, "370115": 2.1, "370116": 1.7}

#: seconds between metric batches of one system, and between heartbeats
PUSH_EVERY_S = 2.0
HEARTBEAT_EVERY_S = 15.0
#: seconds between reports of the domains' figures (their queries count whole tables)
FIGURES_EVERY_S = 10.0


class City:
    """The simulated outside world, advanced by wall-clock time."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - simulated sensor noise, not secrets
        self.aqi = {d: 60 + self.rng.uniform(-15, 25) for d in DISTRICTS}
        self.level = dict(GAUGES)
        self.flood: tuple[str, float] | None = None  # (district, until monotonic)
        self.day = ""
        self.tickets: dict[str, float] = {}
        self.cases: dict[str, float] = {}

    def _hour(self) -> float:
        now = datetime.now(SHANGHAI)
        return now.hour + now.minute / 60

    def _new_day(self) -> None:
        today = datetime.now(SHANGHAI).date().isoformat()
        if today != self.day:
            self.day = today
            hour = self._hour()
            # what came in since midnight at this time of day (calls follow office hours)
            so_far = max(0.0, min(hour, 22) - 7) * 5 + hour
            self.tickets = {d: so_far * w * self.rng.uniform(0.8, 1.2) for d, w in DISTRICTS.items()}
            self.cases = {d: so_far * 0.6 * w * self.rng.uniform(0.7, 1.3) for d, w in DISTRICTS.items()}

    def points(self, system: str, dt: float) -> list[dict[str, Any]]:
        """The points ``system`` reports after ``dt`` seconds."""
        self._new_day()
        hour = self._hour()
        busy = 0.35 + 0.65 * max(0.0, math.sin(math.pi * (hour - 6) / 16)) if 6 <= hour <= 22 else 0.15
        rng = self.rng
        out: list[dict[str, Any]] = []
        if system == "air-quality":
            for d in DISTRICTS:
                target = 55 + 45 * busy + (30 if d in ("370105", "370104") else 0)
                self.aqi[d] += (target - self.aqi[d]) * 0.02 + rng.gauss(0, 2.5)
                self.aqi[d] = max(15.0, min(260.0, self.aqi[d]))
                out.append({"name": "air.aqi", "value": round(self.aqi[d], 1), "tags": {"district": d, "domain": "environment"}})
                out.append(
                    {
                        "name": "air.pm25",
                        "value": round(self.aqi[d] * 0.62, 1),
                        "unit": "μg/m³",
                        "tags": {"district": d, "domain": "environment"},
                    }
                )
        elif system == "water-level":
            now = time.monotonic()
            if self.flood is None and rng.random() < dt / 240:  # a rise every few minutes
                self.flood = (rng.choice(list(GAUGES)), now + rng.uniform(40, 90))
            if self.flood is not None and now > self.flood[1]:
                self.flood = None
            for d, base in GAUGES.items():
                target = 3.45 if self.flood and self.flood[0] == d else base
                self.level[d] += (target - self.level[d]) * 0.08 + rng.gauss(0, 0.01)
                out.append(
                    {"name": "water.level_m", "value": round(self.level[d], 3), "unit": "m", "tags": {"district": d, "domain": "water"}}
                )
        elif system == "hotline-12345":
            for d, w in DISTRICTS.items():
                self.tickets[d] += rng.expovariate(1.0) * busy * w * dt / 12
                out.append(
                    {"name": "hotline.tickets", "value": round(self.tickets[d]), "unit": "件", "tags": {"district": d, "domain": "hotline"}}
                )
            out.append(
                {
                    "name": "hotline.answer_rate",
                    "value": round(min(1.0, 0.93 + rng.gauss(0, 0.02)), 3),
                    "unit": "ratio",
                    "tags": {"domain": "hotline"},
                }
            )
        elif system == "urban-grid":
            for d, w in DISTRICTS.items():
                self.cases[d] += rng.expovariate(1.0) * busy * w * dt / 20
                out.append(
                    {"name": "grid.cases", "value": round(self.cases[d]), "unit": "件", "tags": {"district": d, "domain": "city_ops"}}
                )
        elif system == "weather":
            temp = 4 + 6 * math.sin(math.pi * (hour - 8) / 12) + rng.gauss(0, 0.2)
            out.append({"name": "weather.temperature_c", "value": round(temp, 1), "unit": "℃", "tags": {"domain": "weather"}})
            out.append({"name": "weather.humidity", "value": round(45 + rng.gauss(0, 2), 1), "unit": "%", "tags": {"domain": "weather"}})
        return out


class Feeder:
    """Pushes for every system in ``keys`` (code → API key) to ``base_url`` until cancelled."""

    def __init__(self, base_url: str, keys: dict[str, str], database: Database, app: Any, *, seed: int = 0) -> None:
        self.base_url = base_url.rstrip("/")
        self.keys = keys
        self.database = database
        self.app = app
        self.city = City(seed)

    def _figures(self) -> dict[str, dict[str, Any]]:
        from citybrain.operations_center import service

        with self.database.read_session() as session:
            return service.domain_figures(session)

    def _traffic_points(self) -> list[dict[str, Any]]:
        from citybrain.operations_center import service
        from citybrain.traffic import service as traffic

        twin = traffic.live_twin(self.app)
        summary = service.traffic_summary(twin.status().get("latest") if twin is not None else None)
        if summary is None:
            return []
        tags = {"domain": "traffic", "district": "370102"}  # the 3x4 network lies in 历下区
        return [
            {"name": "traffic.mean_queue", "value": summary["mean_queue"], "unit": "辆", "tags": tags},
            {"name": "traffic.mean_speed_kmh", "value": summary["mean_speed_kmh"], "unit": "km/h", "tags": tags},
            {"name": "traffic.vehicles", "value": summary["vehicles"], "unit": "辆", "tags": tags},
        ]

    async def step(self, client: Any, dt: float, *, beat: bool, with_figures: bool) -> None:
        """One round: every system's points after ``dt`` seconds, a heartbeat each when ``beat``,
        and the platforms' domain figures when ``with_figures``; posted concurrently."""
        from citybrain.operations_center import service

        batches: dict[str, list[dict[str, Any]]] = {code: self.city.points(code, dt) for code in self.keys}
        if "traffic-twin" in self.keys:
            batches["traffic-twin"] = self._traffic_points()
        if with_figures:
            figs = await asyncio.to_thread(self._figures)
            for code, domain in (("datahub", "datahub"), ("gov-services", "gov"), ("traffic-twin", "traffic")):
                if code in self.keys:
                    batches.setdefault(code, []).extend(service.figure_points(figs, domains=(domain,)))
        if self.database.single_connection:  # one connection (a test's) cannot serve two requests at once
            for code, points in batches.items():
                await self._push(client, code, points, beat)
        else:
            await asyncio.gather(*(self._push(client, code, points, beat) for code, points in batches.items()))

    async def run(self, transport: Any = None) -> None:
        """Push until cancelled (``transport``: an httpx transport instead of the network, for tests)."""
        import httpx2 as httpx

        last_beat = last_figures = -math.inf
        last = time.monotonic()
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, transport=transport) as client:
            while True:
                now = time.monotonic()
                dt, last = now - last, now
                beat, with_figures = now - last_beat >= HEARTBEAT_EVERY_S, now - last_figures >= FIGURES_EVERY_S
                try:
                    await self.step(client, dt, beat=beat, with_figures=with_figures)
                    last_beat = now if beat else last_beat
                    last_figures = now if with_figures else last_figures
                except asyncio.CancelledError:
                    raise
                except Exception:  # the server may be starting or stopping; try again next time
                    log.debug("the demo feeder could not push", exc_info=True)
                await asyncio.sleep(PUSH_EVERY_S)

    async def _push(self, client: Any, code: str, points: list[dict[str, Any]], beat: bool) -> None:
        headers = {"X-API-Key": self.keys[code]}
        if beat:
            response = await client.post("/api/v1/ops/heartbeat", json={"status": "up"}, headers=headers)
            if response.status_code >= 400:
                log.warning("heartbeat of %s refused: %s %s", code, response.status_code, response.text[:300])
        if points:
            response = await client.post("/api/v1/ops/metrics", json={"points": points}, headers=headers)
            if response.status_code >= 400:
                log.warning("metrics of %s refused: %s %s", code, response.status_code, response.text[:300])


def load_keys(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}

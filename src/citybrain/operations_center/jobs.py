"""What the operations center runs while the app serves: the periodic checks (silent systems,
no-data rules, due health probes, retention) and the relay of the traffic twin to the screens.

Each check is a plain function of a database and a clock, so the tests drive them by hand; the
loops here only call them on a timer, each pass in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

from citybrain.core.db.base import utcnow
from citybrain.core.db.session import Database
from citybrain.operations_center import service
from citybrain.operations_center.live import Hub, hub

log = logging.getLogger(__name__)

#: seconds between passes of the periodic checks
CHECK_EVERY_S = 5.0
#: seconds between retention runs (downsampling and deletion)
RETENTION_EVERY_S = 3600.0


def check(database: Database, *, now: datetime | None = None, watching_since: datetime | None = None) -> dict[str, int]:
    """One pass: mark silent systems down and evaluate the no-data rules (one transaction)."""
    now = now or utcnow()
    with database.transaction() as session:
        silent = service.mark_silent(session, now=now)
        opened = service.evaluate_nodata(session, now=now, watching_since=watching_since)
    return {"silent": len(silent), "alarms_opened": len(opened)}


async def run_probes(database: Database, client: Any, *, now: datetime | None = None) -> int:
    """Probe every system whose probe is due (concurrently, each with its timeout) and record the
    results; returns how many were probed. ``client`` is an ``httpx.AsyncClient``."""
    now = now or utcnow()
    with database.read_session() as session:
        due = [(s.id, s.health_url) for s in service.due_probes(session, now=now)]
    if not due:
        return 0
    results = await asyncio.gather(*(service.probe(client, url) for _id, url in due if url))
    with database.transaction() as session:
        for (system_id, _url), result in zip(due, results, strict=True):
            service.apply_probe(session, service.get_system(session, system_id), result, now=utcnow())
    return len(due)


def retention(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return service.downsample(session)


async def checks_loop(database: Database) -> None:
    import httpx2 as httpx

    last_retention = 0.0
    started = utcnow()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        while True:
            try:
                await asyncio.to_thread(lambda: check(database, watching_since=started))
                await run_probes(database, client)
                if time.monotonic() - last_retention > RETENTION_EVERY_S:
                    last_retention = time.monotonic()
                    await asyncio.to_thread(retention, database)
            except asyncio.CancelledError:
                raise
            except Exception:  # a pass that fails is logged; the next one runs all the same
                log.exception("operations-center checks failed")
            await asyncio.sleep(CHECK_EVERY_S)


async def traffic_relay(app: Any, target: Hub = hub) -> None:
    """Publish the live twin's state to the screens, at most once a wall second (the twin may run
    faster than real time). Waits for the twin when it has not started."""
    from citybrain.traffic import service as traffic

    while True:
        twin = traffic.live_twin(app)
        if twin is None:
            await asyncio.sleep(5)
            continue
        last = 0.0
        layout: dict[str, Any] | None = None
        source = twin.snapshots()
        try:
            async for snapshot in source:
                if time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    if layout is None:  # the junctions' places, known once the simulation has started
                        layout = service.twin_layout(twin.status())
                    target.publish("traffic", {**(service.traffic_summary(snapshot) or {}), "layout": layout}, keep=True)
        finally:
            with contextlib.suppress(Exception):
                await source.aclose()
        await asyncio.sleep(1)

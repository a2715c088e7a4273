"""The operations center (智慧泉城运行管理中心): connected systems, metrics, alarms, scenarios and the
big screen (一屏统览) where every other domain's live figures meet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from citybrain.core.plugins import Domain

if TYPE_CHECKING:
    from fastapi import FastAPI

    from citybrain.core.events import Event

HERE = Path(__file__).parent


def _to_screens(event: Event, _session: object) -> None:
    from citybrain.operations_center.live import hub

    if event.name == "ops.points":
        hub.publish("points", event.payload["points"])
    elif event.name == "ops.alarm":
        hub.publish("alarm", event.payload["alarm"])
    elif event.name == "ops.system":
        hub.publish("system", event.payload["system"])


def _setup() -> None:
    from citybrain.core.auth.models import Role
    from citybrain.core.auth.principal import register_role_scopes
    from citybrain.core.events import subscribe
    from citybrain.operations_center import service

    for role in Role:
        register_role_scopes(role, {service.READ})
    # operations-center staff work the alarms
    register_role_scopes(Role.OPERATOR, {service.HANDLE})
    register_role_scopes(Role.TRAFFIC_OPERATOR, {service.HANDLE})
    for name in ("ops.points", "ops.alarm", "ops.system"):
        subscribe(name, _to_screens)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving (not in tests, which drive the checks by hand): the periodic checks, the relay
    of the traffic twin to the screens, and the demo's systems pushing through the API."""
    from citybrain.operations_center import jobs
    from citybrain.operations_center.demo import keys_path
    from citybrain.operations_center.feeder import Feeder, load_keys
    from citybrain.settings import Environment

    settings = app.state.settings
    tasks: list[asyncio.Task[None]] = []
    if settings.environment is not Environment.TEST:
        if settings.ops.checks:
            tasks.append(asyncio.create_task(jobs.checks_loop(app.state.database), name="ops-checks"))
        tasks.append(asyncio.create_task(jobs.traffic_relay(app), name="ops-traffic-relay"))
        keys = load_keys(keys_path(settings.var_dir))
        if settings.ops.feeder and keys:
            url = settings.ops.feed_url or settings.base_url
            feeder = Feeder(url, keys, app.state.database, app)
            tasks.append(asyncio.create_task(feeder.run(), name="ops-feeder"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def domain() -> Domain:
    from citybrain.core.web.nav import NavItem
    from citybrain.operations_center.api import router as api_router
    from citybrain.operations_center.cli import app as cli
    from citybrain.operations_center.demo import seed_operations_center
    from citybrain.operations_center.pages import router as page_router

    return Domain(
        name="ops",
        models=("citybrain.operations_center.models",),
        api_router=api_router,
        page_router=page_router,
        nav=[
            NavItem("nav.ops.screen", "/ops/screen", scope="ops:read", order=50),
            NavItem("nav.ops", "/ops", scope="ops:read", order=60),
        ],
        templates_dir=HERE / "templates",
        locales_dir=HERE / "locales",
        setup=_setup,
        cli=cli,
        demo_step=seed_operations_center,
        lifespan=_lifespan,
    )

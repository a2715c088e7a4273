"""Online government services (政务服务"一网通办"): service items, applications, workflows, instant approval, e-licences."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from citybrain.core.plugins import Domain

if TYPE_CHECKING:
    from fastapi import FastAPI

HERE = Path(__file__).parent


def _setup() -> None:
    from citybrain.core.auth.models import Role
    from citybrain.core.auth.principal import register_role_scopes
    from citybrain.gov_services import applications, service

    # A department's data stewards issue and revoke its licences (the bureau's act for every issuer)
    # and publish its service items.
    register_role_scopes(Role.DATA_STEWARD, {service.ISSUE, applications.PUBLISH})
    # Department staff work the applications in their queue: clerks accept (受理), reviewers
    # examine (审查), approvers decide (决定) and take escalated cases (督办).
    for role in applications.STAFF_ROLES:
        register_role_scopes(role, {applications.WORK, "orgs:read"})


#: seconds between runs of the timer job (statutory deadlines are days, so a minute is plenty)
TICK_SECONDS = 60.0


def _tick_once(app: FastAPI) -> int:
    from citybrain.gov_services import applications

    settings = app.state.settings
    with app.state.database.transaction() as session:
        return applications.tick(session, secret=settings.resolved_secret_key())


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving (not in tests, which call ``applications.tick`` with a moved clock): fire the
    processes' timers that are due, every :data:`TICK_SECONDS`, each run in its own transaction."""
    from citybrain.settings import Environment

    log = logging.getLogger(__name__)

    async def loop() -> None:
        while True:
            try:
                moved = await asyncio.to_thread(_tick_once, app)
                if moved:
                    log.info("gov timers: %d applications moved", moved)
            except Exception:  # a failed run must not stop the job; the next one retries
                log.exception("gov timer job failed")
            await asyncio.sleep(TICK_SECONDS)

    task = None if app.state.settings.environment is Environment.TEST else asyncio.create_task(loop())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


def domain() -> Domain:
    from citybrain.core.web.nav import NavItem
    from citybrain.gov_services.api import router as api_router
    from citybrain.gov_services.cli import app as cli
    from citybrain.gov_services.demo import seed
    from citybrain.gov_services.pages import router as page_router

    return Domain(
        name="gov",
        models=("citybrain.gov_services.models",),
        api_router=api_router,
        page_router=page_router,
        nav=[
            NavItem("nav.gov.items", "/gov/items", scope=None, order=190),
            NavItem("nav.gov.applications", "/gov/applications", scope="", order=195),
            NavItem("nav.gov.queue", "/gov/queue", scope="gov:work", order=197),
            NavItem("nav.gov.stats", "/gov/statistics", scope="gov:work", order=198),
            NavItem("nav.gov.licences", "/gov/licences", scope="gov:issue", order=200),
            NavItem("nav.gov.wallet", "/gov/wallet", scope="", order=210),
            NavItem("nav.gov.verify", "/gov/verify", scope=None, order=220),
        ],
        templates_dir=HERE / "templates",
        locales_dir=HERE / "locales",
        setup=_setup,
        cli=cli,
        demo_step=seed,
        lifespan=_lifespan,
    )

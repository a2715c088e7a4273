"""Smart traffic (智慧交通): networks, SUMO simulation, signal control, green waves, tidal lanes, evaluation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from citybrain.core.plugins import Domain

if TYPE_CHECKING:
    from fastapi import FastAPI

HERE = Path(__file__).parent


def _setup() -> None:
    from citybrain.core.auth.models import Role
    from citybrain.core.auth.principal import register_role_scopes
    from citybrain.traffic import service

    for role in Role:
        register_role_scopes(role, {service.READ})
    register_role_scopes(Role.OPERATOR, {service.PLAN})
    register_role_scopes(Role.TRAFFIC_OPERATOR, {service.PLAN, service.CONTROL})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving (not in tests, which drive both by hand): the queue of evaluation runs and plan
    checks, and the live twin of the demo network."""
    from citybrain.settings import Environment
    from citybrain.traffic.runner import RunQueue

    settings = app.state.settings
    queue = twin = None
    if settings.environment is not Environment.TEST:
        queue = app.state.traffic_runs = RunQueue(app.state.database, var_dir=settings.var_dir, workers=settings.traffic.workers)
        queue.start()
        if settings.traffic.twin:
            twin = app.state.traffic_twin = _live_twin(app)
    try:
        yield
    finally:
        if twin is not None:
            twin.stop()
        if queue is not None:
            queue.stop()


def _live_twin(app: FastAPI) -> object | None:
    """The live twin of ``settings.traffic.twin_network``, started in the background; None when that
    network has not been imported (``citybrain demo`` imports it)."""
    import logging

    from citybrain.traffic import service
    from citybrain.traffic.errors import NetworkNotFound
    from citybrain.traffic.live import LiveTwin

    settings = app.state.settings
    with app.state.database.read_session() as session:
        try:
            network = service.get_network(session, settings.traffic.twin_network)
        except NetworkNotFound:
            logging.getLogger(__name__).info("no network %s: the live twin is off", settings.traffic.twin_network)
            return None
        net, routes = service.files_of(network, settings.var_dir)
        live = LiveTwin(
            network.id, network.code, net, routes, controller=settings.traffic.twin_controller, speed=settings.traffic.twin_speed
        )
    live.start_in_background()
    return live


def domain() -> Domain:
    from citybrain.core.web.nav import NavItem
    from citybrain.traffic.api import router as api_router
    from citybrain.traffic.cli import app as cli
    from citybrain.traffic.demo import seed_traffic
    from citybrain.traffic.pages import router as page_router

    return Domain(
        name="traffic",
        models=("citybrain.traffic.models",),
        api_router=api_router,
        page_router=page_router,
        nav=[NavItem("nav.traffic", "/traffic", scope="traffic:read", order=300)],
        templates_dir=HERE / "templates",
        locales_dir=HERE / "locales",
        setup=_setup,
        cli=cli,
        demo_step=seed_traffic,
        lifespan=_lifespan,
    )

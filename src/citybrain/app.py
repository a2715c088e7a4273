"""The app factory: one ASGI app that mounts the kernel and every installed domain."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from citybrain import __version__
from citybrain.core import health
from citybrain.core.audit.writer import AuditWriter
from citybrain.core.db.session import Database, create_database
from citybrain.core.i18n import register_catalogue
from citybrain.core.web import problems
from citybrain.core.web.deps import Public
from citybrain.core.web.middleware import ShellMiddleware
from citybrain.core.web.nav import register_nav
from citybrain.core.web.templating import build_templates, register_templates
from citybrain.domains import installed
from citybrain.settings import Environment, Settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "core" / "web" / "static"

#: third-party browser assets installed by npm: URL name -> folder inside node_modules
VENDOR = {
    "htmx": "htmx.org/dist",
    "echarts": "echarts/dist",
    "jsqr": "jsqr/dist",
    "swagger-ui": "swagger-ui-dist",
}


#: How long (seconds) a thread may hold the GIL while another waits for it (Python's default: 5 ms).
SWITCH_INTERVAL = 0.0005


def tune_for_serving() -> None:
    """Settings of the server process that governed calls need to answer quickly under load.

    - The audit writer's thread (and the threads that refill caches) release the GIL on every
      database call and then wait for the event loop's thread to hand it back, by default up to
      5 ms each time; every call waiting for a batch's commit waited that many times over. At
      0.5 ms a loaded server answered about 50% more governed calls with a third of the p99.
    - Everything built at start-up (the app, its routes, SQLAlchemy's and pydantic's structures)
      lives as long as the process: collected once and frozen, the cyclic garbage collector no
      longer walks it on every full collection, which had stalled requests for tens of ms.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app. ``database`` lets tests pass one bound to their rolled-back connection."""
    settings = settings or Settings()
    owns_database = database is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.environment is not Environment.TEST:  # tests build and drop apps by the hundred
            tune_for_serving()
        async with AsyncExitStack() as stack:
            for domain in installed():
                if domain.lifespan is not None:
                    await stack.enter_async_context(domain.lifespan(app))
            yield
        # what is queued is written before the process goes; no call is left waiting
        app.state.audit_writer.close()
        if owns_database:
            app.state.database.dispose()

    app = FastAPI(
        title="citybrain 城市大脑",
        version=__version__,
        description="Open-source city operating platform. 开源城市运行平台。",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database or create_database(settings.effective_database_url, echo=settings.sql_echo)
    #: group commit of audited calls (see citybrain.core.audit.writer)
    app.state.audit_writer = AuditWriter(app.state.database)

    domains = installed()
    for domain in domains:
        if domain.locales_dir:
            register_catalogue(domain.locales_dir)
        if domain.templates_dir:
            register_templates(domain.templates_dir)
        for item in domain.nav:
            register_nav(item)

    vendor: dict[str, bool] = {}
    for name, sub in VENDOR.items():
        folder = settings.assets_dir / sub
        vendor[name] = folder.is_dir()
        if vendor[name]:
            app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")
        else:
            log.warning("browser asset %s not found in %s: run `make run` (npm install)", name, folder)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.templates = build_templates(vendor)

    problems.install(app)
    app.include_router(health.router)
    # Routes are matched in order, one by one (about 1.5 µs each): the domains' hot API routes
    # first, then every domain's API before any page, so an API call does not first try the pages
    # of the domains listed before its own.
    for domain in domains:
        if domain.hot_api_router is not None:
            app.include_router(domain.hot_api_router)
    for domain in domains:
        if domain.api_router is not None:
            app.include_router(domain.api_router)
    for domain in domains:
        if domain.page_router is not None:
            app.include_router(domain.page_router, include_in_schema=False)

    @app.get("/docs", include_in_schema=False, dependencies=[Public])
    def docs(request: Request) -> HTMLResponse:
        if not vendor["swagger-ui"]:
            return HTMLResponse(
                "<p>Swagger UI assets are not installed (run <code>make run</code>); "
                "the API description is at <a href='/openapi.json'>/openapi.json</a>.</p>"
            )
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="citybrain API",
            swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # Swagger UI 5 resolves an OpenAPI 3.1 document operation by operation, and slowly:
            # drawing all 130 operations at once took over a minute on two cores. Tags open
            # collapsed (an operation resolves when its tag is opened), and so do the schemas.
            swagger_ui_parameters={"docExpansion": "none", "defaultModelsExpandDepth": -1, "filter": True},
        )

    app.add_middleware(
        ShellMiddleware,
        default_language=settings.default_language,
        secret=settings.resolved_secret_key(),
        secure_cookies=settings.environment is Environment.PRODUCTION,
    )
    return app

"""The kernel described as a :class:`~citybrain.core.plugins.Domain`, mounted like any other."""

from __future__ import annotations

from fastapi import APIRouter

from citybrain.core import health  # noqa: F401 - mounted by the app factory itself
from citybrain.core.audit.api import router as audit_router
from citybrain.core.auth.api import router as auth_router
from citybrain.core.demo import seed_city
from citybrain.core.files.api import router as files_router
from citybrain.core.plugins import Domain
from citybrain.core.web.nav import NavItem
from citybrain.core.web.pages import router as pages_router

api_router = APIRouter()
api_router.include_router(auth_router)
api_router.include_router(audit_router)
api_router.include_router(files_router)

KERNEL = Domain(
    name="core",
    models=("citybrain.core.auth.models", "citybrain.core.audit.models", "citybrain.core.files.models"),
    api_router=api_router,
    page_router=pages_router,
    nav=[
        NavItem("nav.home", "/", scope="", order=0),
        NavItem("nav.orgs", "/orgs", scope="orgs:read", order=900),
        NavItem("nav.users", "/users", scope="users:read", order=910),
        NavItem("nav.audit", "/audit", scope="audit:read", order=950),
        NavItem("nav.api_docs", "/docs", scope="", order=990),
    ],
    demo_step=seed_city,
)

"""City data hub (城市大数据平台): resource catalogue, validated import, registries, data services."""

from __future__ import annotations

from pathlib import Path

from citybrain.core.plugins import Domain

HERE = Path(__file__).parent


def _setup() -> None:
    from citybrain.core.auth.models import Role
    from citybrain.core.auth.principal import register_role_scopes
    from citybrain.datahub import service

    for role in (Role.VIEWER, Role.OPERATOR, Role.REVIEWER, Role.DATA_STEWARD):
        register_role_scopes(role, {service.READ})
    register_role_scopes(Role.DATA_STEWARD, {service.WRITE, service.APPLY, service.DECIDE, service.CALL})
    register_role_scopes(Role.REVIEWER, {service.REVIEW, service.DECIDE})
    register_role_scopes(Role.OPERATOR, {service.CALL})


def domain() -> Domain:
    from fastapi import APIRouter

    from citybrain.core.web.nav import NavItem
    from citybrain.datahub.api import calls_router, open_router, registries_router, services_router
    from citybrain.datahub.api import router as catalogue_router
    from citybrain.datahub.cli import app as cli
    from citybrain.datahub.demo import seed_catalogue
    from citybrain.datahub.pages import open_router as open_pages
    from citybrain.datahub.pages import router as catalogue_pages

    api_router = APIRouter()
    api_router.include_router(catalogue_router)
    api_router.include_router(open_router)
    api_router.include_router(services_router)
    api_router.include_router(registries_router)
    page_router = APIRouter()
    page_router.include_router(catalogue_pages)
    page_router.include_router(open_pages)
    return Domain(
        name="datahub",
        models=("citybrain.datahub.models",),
        api_router=api_router,
        hot_api_router=calls_router,
        page_router=page_router,
        nav=[
            NavItem("nav.datahub", "/datahub", scope="datahub:read", order=100),
            NavItem("nav.datahub_queue", "/datahub/queue", scope="datahub:read", order=110),
            NavItem("nav.datahub_services", "/datahub/services", scope="datahub:read", order=115),
            NavItem("nav.datahub_usage", "/datahub/usage", scope="datahub:read", order=116),
            NavItem("nav.datahub_registries", "/datahub/registries", scope="datahub:read", order=118),
            NavItem("nav.open_data", "/open", scope=None, order=120),
            NavItem("nav.my_trail", "/datahub/my-trail", scope="", order=130),
        ],
        templates_dir=HERE / "templates",
        locales_dir=HERE / "locales",
        setup=_setup,
        cli=cli,
        demo_step=seed_catalogue,
    )

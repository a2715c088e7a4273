"""Jinja2 templates for every page: one base layout, templates folders added by each domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from citybrain.core.auth.principal import ANONYMOUS, Principal
from citybrain.core.i18n import translate
from citybrain.core.web.nav import nav_for

CORE_TEMPLATES = Path(__file__).parent / "templates"
SHANGHAI = ZoneInfo("Asia/Shanghai")

_template_dirs: list[Path] = [CORE_TEMPLATES]


def register_templates(directory: Path) -> None:
    """Let pages find templates in ``directory`` (a domain's ``templates/``)."""
    if directory not in _template_dirs:
        _template_dirs.append(directory)


def _local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Times are stored in UTC and shown in Asia/Shanghai."""
    if value is None:
        return ""
    return str(value.astimezone(SHANGHAI).strftime(fmt))


def build_templates(vendor: dict[str, bool]) -> Jinja2Templates:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in _template_dirs]),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["localtime"] = _local_time
    env.globals["vendor"] = vendor
    return Jinja2Templates(env=env)


def page_context(request: Request, **extra: Any) -> dict[str, Any]:
    lang: str = getattr(request.state, "lang", "zh-CN")
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)

    def _(key: str, **params: Any) -> str:
        return translate(key, lang, params)

    def lang_url(code: str) -> str:
        """This page in another language, keeping its other query parameters."""
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        return f"{request.url.path}?{urlencode([*params, ('lang', code)])}"

    return {
        "request": request,
        "lang": lang,
        "lang_url": lang_url,
        "_": _,
        "principal": principal,
        "nav": nav_for(principal),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "path": request.url.path,
        **extra,
    }


def render(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, page_context(request, **extra), status_code=status_code, headers=headers)


def render_error_page(request: Request, problem: dict[str, Any], status: int, headers: dict[str, str] | None) -> Response:
    if not hasattr(request.state, "principal"):
        # The error came before any route resolved the caller (an unknown address): still show the
        # visitor as logged in, with their navigation.
        request.state.principal = _principal_from_cookie(request)
    return render(request, "error.html", status_code=status, headers=headers, problem=problem)


def _principal_from_cookie(request: Request) -> Principal:
    from citybrain.core.auth import service as auth
    from citybrain.core.web.deps import SESSION_COOKIE, get_database

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return ANONYMOUS
    try:
        with get_database(request).sessionmaker() as session:
            return auth.principal_from_browser_session(session, cookie) or ANONYMOUS
    except Exception:  # noqa: BLE001 - an error page must render even when the database does not answer
        return ANONYMOUS

"""The kernel's pages: home, login/logout, organisations and the audit log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citybrain.core.audit import service as audit
from citybrain.core.auth import service as auth
from citybrain.core.auth.models import OrgKind
from citybrain.core.auth.principal import AUDIT_READ, ORGS_READ, USERS_READ, Principal
from citybrain.core.errors import Forbidden, Unauthorized
from citybrain.core.i18n import translate
from citybrain.core.web import csrf
from citybrain.core.web.deps import SESSION_COOKIE, PrincipalDep, Public, SessionDep, SettingsDep, require
from citybrain.core.web.templating import render

router = APIRouter()


async def check_csrf(request: Request, settings: SettingsDep) -> None:
    """Unsafe page requests must repeat the CSRF cookie in a form field or header."""
    if request.method in csrf.SAFE_METHODS:
        return
    submitted = request.headers.get(csrf.HEADER)
    if submitted is None:
        form = await request.form()
        value = form.get(csrf.FIELD)
        submitted = value if isinstance(value, str) else None
    if not csrf.matches(settings.resolved_secret_key(), request.cookies.get(csrf.COOKIE), submitted):
        raise Forbidden("auth.csrf_failed")


CsrfChecked = Depends(check_csrf)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a fresh login to another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/", response_class=HTMLResponse, dependencies=[Public])
def home(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    if not principal.authenticated:
        return RedirectResponse("/login", status_code=303)
    org = auth.get_org(session, principal.org_id) if principal.org_id else None
    return render(request, "home.html", org=org)


@router.get("/login", response_class=HTMLResponse, dependencies=[Public])
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query parameter's name
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse, dependencies=[Public, CsrfChecked])
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/",  # noqa: A002
) -> Response:
    client = request.client.host if request.client else None
    result = auth.login(session, username, password, client=client, settings=settings.auth)
    if result.error is not None or result.user is None:
        error = result.error or Unauthorized("auth.bad_credentials")
        lang = getattr(request.state, "lang", "zh-CN")
        # The attempt is committed by the request's transaction (no exception is raised here).
        return render(
            request,
            "login.html",
            status_code=error.status,
            headers=error.headers or None,
            next=_safe_next(next),
            error=translate(error.key, lang, error.params),
            username=username,
        )
    raw = auth.start_browser_session(session, result.user, settings.auth)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=settings.auth.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.environment == "production",
    )
    return response


@router.post("/logout", dependencies=[Public, CsrfChecked])
def logout(request: Request, session: SessionDep) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        auth.end_browser_session(session, raw)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/orgs", response_class=HTMLResponse)
def orgs_page(
    request: Request,
    session: SessionDep,
    kind: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    _: Principal = require(ORGS_READ),
) -> Response:
    # The filter form sends kind= for "all kinds"; an unknown kind filters nothing rather than erring.
    chosen = OrgKind(kind) if kind in OrgKind._value2member_map_ else None
    rows, total = auth.list_organisations(session, kind=chosen, q=q.strip() or None, limit=500)
    return render(request, "orgs.html", orgs=rows, total=total, kind=chosen, q=q, kinds=list(OrgKind))


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, principal: Principal = require(USERS_READ)) -> Response:
    rows, total = auth.list_users(session, principal, limit=500)
    return render(request, "users.html", users=rows, total=total)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, verify: bool = False, _: Principal = require(AUDIT_READ)) -> Response:
    """The latest entries; ``?verify=true`` also walks the chain (it only reads, so it is a GET)."""
    result = audit.verify(session) if verify else None
    rows, total = audit.list_entries(session, limit=100)
    return render(request, "audit.html", entries=rows, total=total, result=result)

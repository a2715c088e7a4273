"""FastAPI dependencies: settings, the transaction, the principal and what a route requires.

Every API route declares what it needs with :func:`require` (a scope) or :data:`Public`; a test
checks that none is left undeclared. Hot routes use :func:`require_cached` instead, which checks the
same credentials without a transaction of the request's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from citybrain.core import cache
from citybrain.core.audit.writer import AuditWriter
from citybrain.core.auth import service as auth
from citybrain.core.auth.principal import ANONYMOUS, Principal
from citybrain.core.db.session import Database
from citybrain.core.errors import CitybrainError, Forbidden, Unauthorized
from citybrain.core.web import csrf
from citybrain.settings import Settings

SESSION_COOKIE = "citybrain_session"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_audit_writer(request: Request) -> AuditWriter:
    writer: AuditWriter = request.app.state.audit_writer
    return writer


def get_session(request: Request) -> Iterator[Session]:
    """The request's transaction: committed when the handler returns, rolled back on error.

    An error that says ``keep_changes`` (a failed login must still count) commits first.
    """
    session = get_database(request).sessionmaker()
    try:
        yield session
        session.commit()
    except CitybrainError as exc:
        if getattr(exc, "keep_changes", False):
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# "function" scope: the transaction ends before the response is sent, so a client never sees a
# success that then fails to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def resolve_principal(request: Request, session: Session, settings: Settings) -> Principal:
    """Who is calling: bearer token, API key, or page session (with CSRF on unsafe methods)."""
    token = _bearer(request)
    api_key = request.headers.get("x-api-key")
    if token and token.startswith(f"{auth.API_KEY_PREFIX}_"):
        api_key, token = token, None
    if api_key:
        principal = auth.principal_from_api_key(session, api_key)
    elif token:
        principal = auth.principal_from_token(session, settings.resolved_secret_key(), token)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        found = auth.principal_from_browser_session(session, cookie)
        principal = found or ANONYMOUS
        if found is not None and request.method not in csrf.SAFE_METHODS and request.url.path.startswith("/api/"):
            secret = settings.resolved_secret_key()
            if not csrf.matches(secret, request.cookies.get(csrf.COOKIE), request.headers.get(csrf.HEADER)):
                raise Forbidden("auth.csrf_failed")
    else:
        principal = ANONYMOUS
    request.state.principal = principal
    return principal


# Declared so that the OpenAPI document (and the Authorize button of /docs) knows both ways in;
# the values are read from the request by resolve_principal.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key of a connected system")


def current_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _token: Annotated[str | None, Depends(oauth2_scheme)] = None,
    _api_key: Annotated[str | None, Depends(api_key_scheme)] = None,
) -> Principal:
    return resolve_principal(request, session, settings)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(scope: str) -> Any:
    """A dependency: the caller must be logged in and hold ``scope`` (``""``: any logged-in caller)."""

    def dependency(principal: PrincipalDep) -> Principal:
        if not principal.authenticated:
            raise Unauthorized("auth.login_required")
        if scope and not principal.has(scope):
            raise Forbidden("auth.missing_scope", scope=scope)
        return principal

    dependency.citybrain_requirement = scope  # type: ignore[attr-defined]
    return Depends(dependency)


def _resolve_in_own_transaction(request: Request) -> Principal:
    with get_database(request).sessionmaker() as session:
        principal = resolve_principal(request, session, get_settings(request))
        session.commit()  # an API key's last use
    return principal


def _principal_cache(app: FastAPI) -> cache.TTLCache[str, Principal]:
    found: cache.TTLCache[str, Principal] | None = getattr(app.state, "principal_cache", None)
    if found is None:
        found = app.state.principal_cache = cache.TTLCache(refresh=not app.state.database.single_connection)
    return found


async def cached_principal(request: Request) -> Principal:
    """Who is calling, like :func:`current_principal`, but an API key or bearer token that was
    checked less than :data:`citybrain.core.cache.TTL_SECONDS` ago is not checked against the
    database again (a revocation in this process takes effect at once, see :mod:`citybrain.core.cache`).
    Page sessions, and credentials not seen lately, are checked in full in a transaction of their own.
    """
    api_key, authorization = request.headers.get("x-api-key"), request.headers.get("authorization")
    if not (api_key or authorization):
        principal: Principal = await run_in_threadpool(_resolve_in_own_transaction, request)
        return principal
    # keyed by both headers (resolve_principal chooses between them) and as a digest: the cache
    # keeps no credentials
    digest = hashlib.sha256(f"{api_key}\n{authorization}".encode()).hexdigest()
    found = await _principal_cache(request.app).fetch(digest, lambda: _resolve_in_own_transaction(request))
    request.state.principal = found
    return found


async def authorise_cached(request: Request, scope: str) -> Principal:
    """The caller from :func:`cached_principal`, who must be logged in and hold ``scope``."""
    principal = await cached_principal(request)
    if not principal.authenticated:
        raise Unauthorized("auth.login_required")
    if scope and not principal.has(scope):
        raise Forbidden("auth.missing_scope", scope=scope)
    return principal


def require_cached(scope: str) -> Any:
    """:func:`require` for hot API routes: the principal comes from :func:`cached_principal`.

    It is one dependency with no sub-dependencies (each costs a hot route several microseconds), so
    the route states its ways in for the OpenAPI document itself: ``openapi_extra=CACHED_SECURITY``.
    """

    async def dependency(request: Request) -> Principal:
        return await authorise_cached(request, scope)

    dependency.citybrain_requirement = scope  # type: ignore[attr-defined]
    return Depends(dependency)


#: The security requirement of routes that use :func:`require_cached` (what ``require`` declares
#: through its dependencies): a bearer token or an API key.
CACHED_SECURITY: dict[str, Any] = {"security": [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]}


def _public(principal: PrincipalDep) -> Principal:
    return principal


_public.citybrain_requirement = None  # type: ignore[attr-defined]

#: For routes anyone may call (login, open data); the principal is still resolved for auditing.
Public: Any = Depends(_public)


def requirement_of(call: Callable[..., Any]) -> Any:
    return getattr(call, "citybrain_requirement", "<undeclared>")

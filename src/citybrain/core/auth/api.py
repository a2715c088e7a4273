"""``/api/v1/auth``, ``/api/v1/orgs``, ``/api/v1/users``, ``/api/v1/apikeys``, ``/api/v1/grants``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status

from citybrain.core.auth import principal as scopes
from citybrain.core.auth import service
from citybrain.core.auth.models import OrgKind
from citybrain.core.auth.principal import Principal
from citybrain.core.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    GrantCreate,
    GrantRead,
    Me,
    OrgCreate,
    OrgPage,
    OrgRead,
    TokenResponse,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.params import IdPath, IdQuery, Limit, Offset

router = APIRouter(prefix="/api/v1")


@router.post("/auth/token", tags=["auth"], dependencies=[Public])
def token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
) -> TokenResponse:
    """OAuth2 password flow: a short-lived bearer token for a username and password.

    Repeated failures throttle the account (429 with ``Retry-After``).
    """
    client = request.client.host if request.client else None
    result = service.login(session, username, password, client=client, settings=settings.auth)
    if result.error is not None:
        result.error.keep_changes = True
        raise result.error
    assert result.user is not None
    access_token, lifetime = service.issue_token(settings.resolved_secret_key(), result.user, settings.auth)
    return TokenResponse(access_token=access_token, expires_in=lifetime)


@router.get("/auth/me", tags=["auth"])
def me(session: SessionDep, principal: Principal = require("")) -> Me:
    """Who the caller is: organisation, roles and scopes."""
    org = service.get_org(session, principal.org_id) if principal.org_id else None
    return Me(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        org_id=principal.org_id,
        org_name=org.name if org else None,
        roles=sorted(principal.roles),
        scopes=sorted(principal.scopes),
    )


@router.get("/orgs", tags=["organisations"])
def list_orgs(
    session: SessionDep,
    kind: OrgKind | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Offset = 0,
    limit: Limit = 100,
    _: Principal = require(scopes.ORGS_READ),
) -> OrgPage:
    """Organisations: municipal departments, districts, connected systems, enterprises, citizens."""
    rows, total = service.list_organisations(session, kind=kind, q=q, offset=offset, limit=limit)
    return OrgPage(items=[OrgRead.model_validate(r) for r in rows], total=total)


@router.post("/orgs", tags=["organisations"], status_code=status.HTTP_201_CREATED)
def create_org(session: SessionDep, data: OrgCreate, principal: Principal = require(scopes.ORGS_ADMIN)) -> OrgRead:
    return OrgRead.model_validate(service.create_organisation(session, principal, data))


@router.get("/users", tags=["users"])
def list_users(
    session: SessionDep,
    org_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = 100,
    principal: Principal = require(scopes.USERS_READ),
) -> UserPage:
    """Users of the caller's organisation (all organisations for admins)."""
    rows, total = service.list_users(session, principal, org_id=org_id, offset=offset, limit=limit)
    return UserPage(items=[UserRead.model_validate(r) for r in rows], total=total)


@router.post("/users", tags=["users"], status_code=status.HTTP_201_CREATED)
def create_user(
    session: SessionDep, settings: SettingsDep, data: UserCreate, principal: Principal = require(scopes.USERS_ADMIN)
) -> UserRead:
    """Create a user; a citizen account may name its holder's resident ID number (only its pseudonym is kept)."""
    return UserRead.model_validate(service.create_user(session, principal, data, secret=settings.resolved_secret_key()))


@router.patch("/users/{user_id}", tags=["users"])
def update_user(session: SessionDep, user_id: IdPath, data: UserUpdate, principal: Principal = require(scopes.USERS_ADMIN)) -> UserRead:
    """Rename, change roles, or deactivate a user (which ends their access at once)."""
    return UserRead.model_validate(service.update_user(session, principal, user_id, data))


@router.get("/apikeys", tags=["api keys"])
def list_api_keys(session: SessionDep, _: Principal = require(scopes.APIKEYS_ADMIN)) -> list[ApiKeyRead]:
    return [ApiKeyRead.model_validate(k) for k in service.list_api_keys(session)]


@router.post("/apikeys", tags=["api keys"], status_code=status.HTTP_201_CREATED)
def create_api_key(session: SessionDep, data: ApiKeyCreate, principal: Principal = require(scopes.APIKEYS_ADMIN)) -> ApiKeyCreated:
    """Issue a key for a connected system. The key is in this response only; keep it safe."""
    key, raw = service.create_api_key(session, principal, data)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=raw)


@router.delete("/apikeys/{key_id}", tags=["api keys"])
def revoke_api_key(session: SessionDep, key_id: IdPath, principal: Principal = require(scopes.APIKEYS_ADMIN)) -> ApiKeyRead:
    return ApiKeyRead.model_validate(service.revoke_api_key(session, principal, str(key_id)))


@router.get("/grants", tags=["grants"])
def list_grants(session: SessionDep, principal: Principal = require("")) -> list[GrantRead]:
    """Grants the caller's organisation gave or received."""
    return [GrantRead.model_validate(g) for g in service.list_grants(session, principal)]


@router.post("/grants", tags=["grants"], status_code=status.HTTP_201_CREATED)
def create_grant(session: SessionDep, data: GrantCreate, principal: Principal = require(scopes.GRANTS_WRITE)) -> GrantRead:
    """Let another organisation read this organisation's private rows of one type (or one row)."""
    return GrantRead.model_validate(service.create_grant(session, principal, data))


@router.delete("/grants/{grant_id}", tags=["grants"])
def revoke_grant(session: SessionDep, grant_id: IdPath, principal: Principal = require(scopes.GRANTS_WRITE)) -> GrantRead:
    return GrantRead.model_validate(service.revoke_grant(session, principal, grant_id))

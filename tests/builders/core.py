"""Typed builders for kernel rows: organisations, users, tokens, API keys."""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.auth import service as auth
from citybrain.core.auth.models import ApiKey, Organisation, OrgKind, User
from citybrain.core.auth.principal import cli_principal
from citybrain.core.auth.schemas import ApiKeyCreate, OrgCreate, UserCreate

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_org(session: Session, *, code: str | None = None, name: str | None = None, kind: OrgKind = OrgKind.DEPARTMENT) -> Organisation:
    n = next(_counter)
    org = auth.create_organisation(
        session, cli_principal("test"), OrgCreate(code=code or f"t.org{n}", name=name or f"测试单位{n}", kind=kind)
    )
    session.flush()
    return org


def make_user(
    session: Session, org: Organisation, *, username: str | None = None, roles: list[str] | None = None, password: str = PASSWORD
) -> User:
    n = next(_counter)
    user = auth.create_user(
        session,
        cli_principal("test"),
        UserCreate(
            username=username or f"user{n}", display_name=f"用户{n}", password=password, org_code=org.code, roles=roles or ["viewer"]
        ),
    )
    session.flush()
    return user


def make_api_key(session: Session, org: Organisation, scopes: list[str]) -> tuple[ApiKey, str]:
    return auth.create_api_key(session, cli_principal("test"), ApiKeyCreate(name="测试系统", org_code=org.code, scopes=scopes))


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Bearer headers for ``username`` through the real OAuth2 password flow."""
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}

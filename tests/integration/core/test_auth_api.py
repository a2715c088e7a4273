"""Logging in, tokens, throttling and API keys through the HTTP API, on both backends."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.auth import tokens
from citybrain.core.auth.models import ApiKey
from citybrain.settings import Settings
from tests.builders.core import PASSWORD, login, make_api_key, make_org, make_user
from tests.conftest import TEST_SECRET


def test_login_issues_a_token_that_identifies_the_user(client: TestClient, session: Session) -> None:
    org = make_org(session, name="市公安局")
    make_user(session, org, username="li.lei", roles=["data_steward"])
    session.commit()

    headers = login(client, "li.lei")
    me = client.get("/api/v1/auth/me", headers=headers).json()

    assert me["name"] == "li.lei"
    assert me["org_name"] == "市公安局"
    assert me["roles"] == ["data_steward"]
    assert "files:write" in me["scopes"]


def test_wrong_password_is_401_problem_in_chinese_and_english(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="han.meimei")
    session.commit()

    zh = client.post("/api/v1/auth/token", data={"username": "han.meimei", "password": "wrong password"})
    en = client.post(
        "/api/v1/auth/token", data={"username": "han.meimei", "password": "wrong password"}, headers={"Accept-Language": "en-GB,en;q=0.9"}
    )

    assert zh.status_code == en.status_code == 401
    assert zh.headers["content-type"] == "application/problem+json"
    assert zh.json()["detail"] == "用户名或密码错误。"
    assert en.json()["detail"] == "Wrong username or password."
    assert zh.json()["code"] == "auth.bad_credentials"


def test_unknown_user_is_refused_the_same_way(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "whatever123"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.bad_credentials"


def test_repeated_failures_throttle_the_account_even_for_the_right_password(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_user(session, make_org(session), username="target")
    session.commit()

    for _ in range(settings.auth.login_max_failures):
        assert client.post("/api/v1/auth/token", data={"username": "target", "password": "guess-guess"}).status_code == 401
    throttled = client.post("/api/v1/auth/token", data={"username": "target", "password": PASSWORD})

    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.json()["code"] == "auth.throttled"


def test_a_success_before_the_limit_resets_the_failure_count(client: TestClient, session: Session, settings: Settings) -> None:
    make_user(session, make_org(session), username="forgetful")
    session.commit()

    for _ in range(settings.auth.login_max_failures - 1):
        client.post("/api/v1/auth/token", data={"username": "forgetful", "password": "guess-guess"})
    login(client, "forgetful")
    for _ in range(settings.auth.login_max_failures - 1):
        client.post("/api/v1/auth/token", data={"username": "forgetful", "password": "guess-guess"})

    login(client, "forgetful")


def test_expired_token_is_refused(client: TestClient, session: Session) -> None:
    user = make_user(session, make_org(session))
    session.commit()
    token = tokens.issue_access_token(TEST_SECRET, user_id=user.id, org_id=user.org_id, lifetime_seconds=60, now=time.time() - 3600)

    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["code"] == "auth.token_expired"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_tampered_token_is_refused(client: TestClient, session: Session) -> None:
    user = make_user(session, make_org(session))
    admin = make_user(session, make_org(session), roles=["admin"])
    session.commit()
    token = login(client, user.username)["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    # Swap in a payload claiming to be the admin, keeping the user's signature.
    forged_payload = tokens.issue_access_token("another secret", user_id=admin.id, org_id=admin.org_id, lifetime_seconds=600).split(".")[1]

    for forged in (f"{header}.{forged_payload}.{signature}", f"{header}.{payload}.{signature[:-4]}AAAA", "not-a-token"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
        assert response.json()["code"] == "auth.token_invalid"


def test_token_signed_with_another_key_is_refused(client: TestClient, session: Session) -> None:
    user = make_user(session, make_org(session))
    session.commit()
    token = tokens.issue_access_token("not the server's key", user_id=user.id, org_id=user.org_id, lifetime_seconds=600)

    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_api_key_is_shown_once_used_and_revoked(client: TestClient, session: Session) -> None:
    system = make_org(session, name="水位监测系统")
    admin = make_user(session, make_org(session), roles=["admin"])
    session.commit()
    admin_headers = login(client, admin.username)

    created = client.post(
        "/api/v1/apikeys", json={"name": "水位计", "org_code": system.code, "scopes": ["orgs:read"]}, headers=admin_headers
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("cbk_")
    assert all("key" not in k for k in client.get("/api/v1/apikeys", headers=admin_headers).json())

    me = client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200
    assert me.json()["kind"] == "system"
    assert me.json()["org_id"] == system.id
    assert client.get("/api/v1/orgs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/api/v1/users", headers={"X-API-Key": key}).status_code == 403
    session.expire_all()
    assert session.get(ApiKey, created.json()["id"]).last_used_at is not None

    assert client.delete(f"/api/v1/apikeys/{created.json()['id']}", headers=admin_headers).status_code == 200
    revoked = client.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "auth.apikey_revoked"


def test_wrong_api_key_is_refused(client: TestClient, session: Session) -> None:
    _, key = make_api_key(session, make_org(session), ["orgs:read"])
    session.commit()
    prefix = key.rsplit("_", 1)[0]

    assert client.get("/api/v1/auth/me", headers={"X-API-Key": f"{prefix}_wrongsecret"}).json()["code"] == "auth.apikey_invalid"
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": "garbage"}).status_code == 401


def test_missing_scope_is_403_naming_the_scope(client: TestClient, session: Session) -> None:
    viewer = make_user(session, make_org(session), roles=["viewer"])
    session.commit()

    response = client.post(
        "/api/v1/users",
        json={"username": "newbie", "display_name": "新人", "password": "long enough password", "org_code": "x"},
        headers={**login(client, viewer.username), "Accept-Language": "en"},
    )

    assert response.status_code == 403
    assert response.json()["detail"] == 'Your roles do not grant "users:admin".'


def test_anonymous_api_call_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/orgs")
    assert response.status_code == 401
    assert response.json()["detail"] == "请先登录。"


def test_a_deactivated_user_loses_access_at_once(client: TestClient, session: Session) -> None:
    admin = make_user(session, make_org(session), roles=["admin"])
    leaver = make_user(session, make_org(session), roles=["viewer"])
    session.commit()
    admin_headers, leaver_headers = login(client, admin.username), login(client, leaver.username)
    assert client.get("/api/v1/auth/me", headers=leaver_headers).status_code == 200

    changed = client.patch(f"/api/v1/users/{leaver.id}", json={"active": False, "roles": ["reviewer"]}, headers=admin_headers)

    assert changed.status_code == 200
    assert changed.json()["roles"] == ["reviewer"]
    assert client.get("/api/v1/auth/me", headers=leaver_headers).status_code == 401
    assert client.post("/api/v1/auth/token", data={"username": leaver.username, "password": PASSWORD}).status_code == 401


def test_an_admin_cannot_lock_themselves_out(client: TestClient, session: Session) -> None:
    admin = make_user(session, make_org(session), roles=["admin"])
    session.commit()
    headers = login(client, admin.username)

    assert client.patch(f"/api/v1/users/{admin.id}", json={"active": False}, headers=headers).status_code == 403
    assert client.patch(f"/api/v1/users/{admin.id}", json={"roles": ["viewer"]}, headers=headers).status_code == 403
    assert client.patch("/api/v1/users/999999", json={"active": False}, headers=headers).status_code == 404


def test_the_openapi_document_declares_both_ways_to_authenticate(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["APIKeyHeader"]["name"] == "X-API-Key"


def test_one_client_trying_many_usernames_is_throttled(client: TestClient, session: Session, settings: Settings) -> None:
    make_user(session, make_org(session), username="real.user")
    session.commit()
    settings.auth.login_max_failures_per_client = 6

    for i in range(6):
        assert client.post("/api/v1/auth/token", data={"username": f"guess{i}", "password": "guess-guess"}).status_code == 401
    throttled = client.post("/api/v1/auth/token", data={"username": "real.user", "password": PASSWORD})

    assert throttled.status_code == 429

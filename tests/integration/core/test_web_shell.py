"""Pages, CSRF, the language switch, health checks and problem+json through the real app."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.app import create_app
from citybrain.core.auth.models import OrgKind
from citybrain.core.web import csrf
from citybrain.core.web.deps import requirement_of
from citybrain.settings import Environment, Settings
from tests.builders.core import PASSWORD, make_org, make_user
from tests.conftest import TEST_SECRET


def _csrf(client: TestClient) -> str:
    client.get("/login")
    token = client.cookies.get(csrf.COOKIE)
    assert token
    return token


def _page_login(client: TestClient, username: str) -> None:
    token = _csrf(client)
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/orgs"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/orgs"


def test_the_login_page_is_chinese_by_default(client: TestClient) -> None:
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.url.path == "/login"
    assert '<html lang="zh-CN">' in response.text
    assert "登录" in response.text
    assert 'name="csrf_token"' in response.text


def test_pages_open_in_chinese_even_for_an_english_browser_but_apis_negotiate(client: TestClient) -> None:
    english = {"Accept-Language": "en-US,en;q=0.9", "Accept": "text/html"}
    assert '<html lang="zh-CN">' in client.get("/login", headers=english).text
    assert client.get("/api/v1/orgs", headers=english).json()["detail"] == "Please log in."


def test_the_language_switch_sets_english_and_it_sticks(client: TestClient) -> None:
    assert "Log in" in client.get("/login?lang=en").text
    again = client.get("/login")
    assert '<html lang="en">' in again.text
    assert again.headers["content-language"] == "en"


def test_page_login_then_logout(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session, name="市大数据局"), username="pageuser", roles=["admin"])
    session.commit()

    _page_login(client, "pageuser")
    home = client.get("/")
    assert "欢迎，用户" in home.text
    assert 'title="pageuser"' in home.text
    assert "市大数据局" in home.text
    assert client.get("/orgs").status_code == 200

    out = client.post("/logout", data={"csrf_token": client.cookies.get(csrf.COOKIE)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_bad_page_login_shows_the_error_and_counts(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="pagefail")
    session.commit()
    token = _csrf(client)

    response = client.post("/login", data={"username": "pagefail", "password": "nope-nope-nope", "csrf_token": token})

    assert response.status_code == 401
    assert "用户名或密码错误。" in response.text


def test_forms_without_the_csrf_token_are_refused(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="csrfuser")
    session.commit()
    _csrf(client)

    response = client.post("/login", data={"username": "csrfuser", "password": PASSWORD}, headers={"Accept": "text/html"})

    assert response.status_code == 403
    assert "CSRF" in response.text


def test_api_calls_with_a_page_session_need_the_csrf_header(client: TestClient, session: Session) -> None:
    steward = make_org(session)
    make_user(session, steward, username="cookieuser", roles=["data_steward"])
    session.commit()
    _page_login(client, "cookieuser")
    upload = {"files": {"file": ("a.txt", b"hello", "text/plain")}}

    refused = client.post("/api/v1/files", **upload)  # type: ignore[arg-type]
    accepted = client.post("/api/v1/files", headers={csrf.HEADER: client.cookies.get(csrf.COOKIE) or ""}, **upload)  # type: ignore[arg-type]

    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.csrf_failed"
    assert accepted.status_code == 201


def test_anonymous_pages_redirect_to_login_with_next(client: TestClient) -> None:
    response = client.get("/audit", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit"
    with_query = client.get("/orgs?q=历下&kind=district", headers={"Accept": "text/html"}, follow_redirects=False)
    assert with_query.headers["location"] == "/login?next=%2Forgs%3Fq%3D%25E5%258E%2586%25E4%25B8%258B%26kind%3Ddistrict"


def test_login_never_redirects_off_site(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="redir")
    session.commit()
    token = _csrf(client)
    response = client.post(
        "/login", data={"username": "redir", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}, follow_redirects=False
    )
    assert response.headers["location"] == "/"


def test_unknown_address_is_problem_json_for_apis_and_a_page_for_browsers(client: TestClient) -> None:
    api = client.get("/api/v1/nothing-here")
    page = client.get("/nothing-here", headers={"Accept": "text/html"})

    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["type"] == "/problems/not-found"
    assert page.status_code == 404
    assert "没有这个地址。" in page.text


def test_validation_problem_names_each_field_in_both_languages(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="adm", roles=["admin"])
    session.commit()
    token = client.post("/api/v1/auth/token", data={"username": "adm", "password": PASSWORD}).json()["access_token"]
    bad = {"username": "ab", "display_name": "", "password": "short", "org_code": "x", "roles": ["king"]}

    zh = client.post("/api/v1/users", json=bad, headers={"Authorization": f"Bearer {token}"})
    en = client.post("/api/v1/users", json=bad, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})

    assert zh.status_code == en.status_code == 422
    assert zh.headers["content-type"] == "application/problem+json"
    zh_fields = {e["field"]: e["message"] for e in zh.json()["errors"]}
    en_fields = {e["field"]: e["message"] for e in en.json()["errors"]}
    assert zh_fields["password"] == "至少需要 10 个字符。"
    assert en_fields["password"] == "At least 10 characters are needed."
    assert en_fields["username"] == "The format is not valid."
    assert zh.json()["title"] == "输入校验未通过"
    assert en.json()["title"] == "Validation failed"


def test_unknown_role_is_a_field_error(client: TestClient, session: Session) -> None:
    org = make_org(session)
    make_user(session, org, username="adm2", roles=["admin"])
    session.commit()
    token = client.post("/api/v1/auth/token", data={"username": "adm2", "password": PASSWORD}).json()["access_token"]
    body = {"username": "newuser", "display_name": "新", "password": "long enough pw", "org_code": org.code, "roles": ["king"]}

    response = client.post("/api/v1/users", json=body, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "roles.0"
    assert "未知角色" in response.json()["errors"][0]["message"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["x-request-id"] == "req-12345678"
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["x-request-id"])


def test_every_api_route_declares_what_it_needs(app: FastAPI) -> None:
    # FastAPI keeps included routers as branches: walk the effective routes, with their routers'
    # dependencies, as the request handling and the OpenAPI document do
    undeclared, checked = [], 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        checked += 1
        declared = [requirement_of(d.call) for d in route.dependant.dependencies if d.call is not None]
        declared.append(requirement_of(route.endpoint))  # a hot route authorises in its endpoint (core.web.hot)
        if all(r == "<undeclared>" for r in declared):
            undeclared.append(f"{sorted(route.methods or ())} {route.path}")
    assert checked > 150  # every domain's API and pages, not only the app's own few
    assert undeclared == []


def test_no_event_stream_holds_a_request_session(app: FastAPI) -> None:
    """A screen keeps its server-sent event stream open for hours: a request session held that long
    would keep a worker thread each and, on SQLite, could hold the write lock."""
    from fastapi.dependencies.models import Dependant

    from citybrain.core.web.deps import get_session

    def calls(dependant: Dependant) -> set[object]:
        found = {dependant.call}
        for sub in dependant.dependencies:
            found |= calls(sub)
        return found

    streams = [
        route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and "text/event-stream" in str(route.responses)
    ]
    assert {route.path for route in streams} >= {"/api/v1/ops/stream", "/api/v1/traffic/twin/stream"}
    assert [route.path for route in streams if get_session in calls(route.dependant)] == []


def test_docs_are_served_from_local_assets(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/vendor/echarts/echarts.min.js").status_code == 200
    assert "/api/v1/auth/token" in client.get("/openapi.json").json()["paths"]


def test_the_users_page_lists_own_organisation_for_stewards(client: TestClient, session: Session) -> None:
    police, transport = make_org(session, name="市公安局"), make_org(session, name="市交通运输局")
    make_user(session, police, username="steward.p1", roles=["data_steward"])
    make_user(session, police, username="colleague.p1")
    make_user(session, transport, username="outsider.t1")
    session.commit()
    _page_login(client, "steward.p1")

    page = client.get("/users")

    assert page.status_code == 200
    assert "colleague.p1" in page.text
    assert "outsider.t1" not in page.text
    assert "数据管理员" in page.text


def test_readyz_is_503_on_a_database_without_migrations(tmp_path: Path) -> None:
    settings = Settings(
        environment=Environment.TEST, var_dir=tmp_path, secret_key=TEST_SECRET, database_url=f"sqlite:///{tmp_path}/empty.db"
    )
    app = create_app(settings)
    with TestClient(app) as c:
        response = c.get("/readyz")
    app.state.database.dispose()
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"].startswith("at nothing")


def test_org_filters_and_the_language_switch_keep_the_query(client: TestClient, session: Session) -> None:
    make_org(session, name="历下区测试", kind=OrgKind.DISTRICT)
    make_org(session, name="公安测试")
    make_user(session, make_org(session), username="filterer", roles=["viewer"])
    session.commit()
    _page_login(client, "filterer")

    all_kinds = client.get("/orgs", params={"q": "历下", "kind": ""})

    assert all_kinds.status_code == 200
    assert "历下区测试" in all_kinds.text
    assert "公安测试" not in all_kinds.text
    assert 'href="/orgs?q=%E5%8E%86%E4%B8%8B&amp;kind=&amp;lang=en"' in all_kinds.text


def test_audit_verification_is_a_plain_get(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="auditor", roles=["admin"])
    session.commit()
    _page_login(client, "auditor")

    page = client.get("/audit", params={"verify": "true"})

    assert page.status_code == 200
    assert "审计日志完整" in page.text


def test_an_unknown_page_still_shows_who_is_logged_in(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="lost.user", roles=["admin"])
    session.commit()
    _page_login(client, "lost.user")

    page = client.get("/nope", headers={"Accept": "text/html"})

    assert page.status_code == 404
    assert 'title="lost.user"' in page.text
    assert 'href="/audit"' in page.text


def test_org_search_treats_wildcards_literally_and_ignores_case(client: TestClient, session: Session) -> None:
    make_org(session, code="t.lixia", name="历下区测试")
    make_org(session, code="t.other", name="其他单位")
    admin = make_user(session, make_org(session), roles=["admin"])
    session.commit()
    headers = {
        "Authorization": client.post("/api/v1/auth/token", data={"username": admin.username, "password": PASSWORD}).json()["access_token"]
    }
    headers["Authorization"] = f"Bearer {headers['Authorization']}"

    assert client.get("/api/v1/orgs", params={"q": "%"}, headers=headers).json()["total"] == 0
    assert client.get("/api/v1/orgs", params={"q": "_"}, headers=headers).json()["total"] == 0
    assert [o["code"] for o in client.get("/api/v1/orgs", params={"q": "T.LIXIA"}, headers=headers).json()["items"]] == ["t.lixia"]

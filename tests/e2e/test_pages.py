"""The kernel's pages in a real browser: login, language, organisations, audit, permissions, API docs."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LogIn, Server, nav

pytestmark = pytest.mark.e2e


def query(page: Page) -> dict[str, list[str]]:
    """The current address's query parameters, decoded."""
    return parse_qs(urlsplit(page.url).query)


def expect_nav(page: Page, links: dict[str, str]) -> None:
    """The main navigation shows these links (label -> address), in this order, among any others."""
    for label, href in links.items():
        expect(nav(page).get_by_role("link", name=label, exact=True)).to_have_attribute("href", href)
    labels = nav(page).get_by_role("link").all_inner_texts()
    assert [label for label in labels if label in links] == list(links), labels


def test_login_page_is_chinese(page: Page, server: Server, screenshots: Path) -> None:
    response = page.goto("/")
    assert response is not None
    assert response.ok
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page).to_have_title(re.compile("登录"))
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.get_by_label("用户名")).to_be_visible()
    expect(page.get_by_label("密码")).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.locator("#username")).to_be_focused()
    page.screenshot(path=screenshots / "login.png")


def test_wrong_password_shows_an_error(page: Page, server: Server) -> None:
    page.goto("/login")
    page.locator("#username").fill("admin")
    page.locator("#password").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.locator("#username")).to_have_value("admin")  # kept, so only the password is typed again
    expect(page.locator("#password")).to_have_value("")
    # and no session: the home page still sends the visitor to the login page
    page.goto("/")
    expect(page).to_have_url(f"{server.url}/login")


def test_admin_logs_in_and_sees_the_home_page(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("欢迎，平台管理员")
    expect(page.locator(".tag")).to_have_text(["管理员"])
    expect_nav(page, {"首页": "/", "组织机构": "/orgs", "审计日志": "/audit", "接口文档": "/docs"})
    expect(nav(page).get_by_role("link", name="首页")).to_have_attribute("aria-current", "page")
    expect(page.locator(".topbar .who")).to_have_text("平台管理员")
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    page.screenshot(path=screenshots / "home.png")


def test_language_switch_persists(page: Page, server: Server, log_in: LogIn) -> None:
    log_in("admin")
    expect(page.get_by_role("link", name="中文")).to_have_attribute("aria-current", "true")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, 平台管理员")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")
    assert query(page) == {"lang": ["en"]}
    # the next page, without ?lang=, stays in English (the cookie)
    nav(page).get_by_role("link", name="Organisations").click()
    expect(page).to_have_url(f"{server.url}/orgs")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # switching back keeps the page's other query parameters
    page.goto("/orgs?q=历下")
    expect(page.get_by_text("1 in all")).to_be_visible()
    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("组织机构")
    assert query(page) == {"q": ["历下"], "lang": ["zh-CN"]}
    expect(page.get_by_text("共 1 个")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("欢迎，平台管理员")


def test_orgs_lists_departments_and_districts(page: Page, server: Server, log_in: LogIn, screenshots: Path) -> None:
    log_in("admin")
    nav(page).get_by_role("link", name="组织机构").click()
    expect(page).to_have_url(f"{server.url}/orgs")
    expect(page.get_by_role("heading", level=1)).to_have_text("组织机构")
    rows = page.locator("table.grid tbody tr")
    # 46 departments, 12 districts, the demo citizen (and any citizen an earlier test opened)
    expect(rows.first).to_be_visible()
    assert rows.count() >= 59
    expect(page.get_by_text(f"共 {rows.count()} 个")).to_be_visible()
    for name in ("历下区", "市公安局", "市大数据局"):
        expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()
    expect(rows.filter(has=page.get_by_role("cell", name="区县政府", exact=True))).to_have_count(12)
    expect(rows.filter(has=page.get_by_role("cell", name="市直部门", exact=True))).to_have_count(46)
    page.screenshot(path=screenshots / "orgs.png")

    # the search box, with 全部类型 as the page opens
    expect(page.get_by_label("类型")).to_have_value("")
    page.get_by_label("搜索名称或代码").fill("历下")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_label("搜索名称或代码")).to_have_value("历下")
    expect(page.get_by_role("cell", name="历下区", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="市公安局", exact=True)).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(page.get_by_text("共 1 个")).to_be_visible()

    # the kind filter, alone and with a search
    page.get_by_label("搜索名称或代码").fill("")
    page.get_by_label("类型").select_option("district")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(12)
    expect(page.get_by_text("共 12 个")).to_be_visible()
    expect(page.get_by_label("类型")).to_have_value("district")
    page.get_by_label("搜索名称或代码").fill("历")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_role("cell", name="历下区", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="历城区", exact=True)).to_be_visible()


def test_audit_chain_verifies_intact(page: Page, log_in: LogIn) -> None:
    log_in("admin")
    nav(page).get_by_role("link", name="审计日志").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("审计日志")
    expect(page.locator("table.grid tbody tr").first).to_be_visible()
    expect(page.locator("#verify-result")).to_have_count(0)
    page.get_by_role("button", name="校验哈希链").click()
    result = page.locator("#verify-result")
    expect(result).to_have_text(re.compile(r"^审计日志完整：已校验 \d+ 条记录。$"))
    expect(result).to_have_class(re.compile(r"\bok\b"))
    found = re.search(r"\d+", result.inner_text())
    assert found
    checked = int(found.group())
    assert checked > 0
    # the result page can switch language like any other
    with page.expect_response(lambda r: "lang=en" in r.url) as switched:
        page.get_by_role("link", name="English").click()
    assert switched.value.status == 200
    expect(result).to_have_text(f"The audit log is intact: {checked} entries checked.")


def test_viewer_sees_no_audit_link_and_gets_403(page: Page, log_in: LogIn) -> None:
    log_in("viewer.jtj")
    expect(page.get_by_role("heading", level=1)).to_have_text("欢迎，交通运输局查看员")
    expect(page.locator("dl.facts dd").first).to_have_text("市交通运输局")
    expect(page.locator(".tag")).to_have_text(["查看员"])
    expect_nav(page, {"首页": "/", "组织机构": "/orgs", "接口文档": "/docs"})
    expect(page.get_by_role("link", name="审计日志")).to_have_count(0)
    response = page.goto("/audit")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("403 · 无权访问")
    expect(page.get_by_text("您的角色没有“audit:read”权限。")).to_be_visible()
    expect(page.get_by_role("link", name="返回首页")).to_have_attribute("href", "/")
    # the page they may see still works
    response = page.goto("/orgs")
    assert response is not None
    assert response.status == 200


def test_api_docs_list_the_operations_from_local_assets(page: Page, server: Server) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/docs")
    # every tag of the document is listed, collapsed (Swagger UI 5 draws OpenAPI 3.1 operations slowly)
    document = page.request.get("/openapi.json").json()
    tags = {tag for methods in document["paths"].values() for operation in methods.values() for tag in operation["tags"]}
    expect(page.locator(".opblock-tag")).to_have_count(len(tags), timeout=15_000)
    assert page.locator(".opblock").count() == 0
    for tag in ("auth", "organisations"):
        page.locator(f".opblock-tag[data-tag='{tag}']").click()
    expect(page.locator(".opblock").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    paths = [p.replace("\u200b", "").strip() for p in paths]  # Swagger UI breaks paths with zero-width spaces
    assert "/api/v1/auth/token" in paths
    assert "/api/v1/orgs" in paths
    outside = [url for url in requested if not url.startswith((server.url, "data:"))]
    assert outside == [], f"/docs loaded from other hosts: {outside}"


def test_logout_returns_to_login(page: Page, server: Server, log_in: LogIn) -> None:
    log_in("admin")
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.locator(".topbar .who")).to_have_count(0)
    # the session is gone: pages send the visitor back to the login page
    page.goto("/orgs")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    assert urlsplit(page.url).path == "/login"
    assert query(page) == {"next": ["/orgs"]}


def test_login_returns_to_the_page_asked_for(page: Page, server: Server) -> None:
    page.goto("/orgs?q=历下")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    assert urlsplit(page.url).path == "/login"
    (target,) = query(page)["next"]  # the address asked for, percent-encoded
    assert urlsplit(target).path == "/orgs"
    assert parse_qs(urlsplit(target).query) == {"q": ["历下"]}
    page.locator("#username").fill("steward.gaj")
    page.locator("#password").fill(server.password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("组织机构")
    assert urlsplit(page.url).path == "/orgs"
    assert query(page) == {"q": ["历下"]}
    expect(page.locator("table.grid tbody tr")).to_have_count(1)


def test_unknown_page_shows_the_chinese_error_page(page: Page) -> None:
    response = page.goto("/nope")
    assert response is not None
    assert response.status == 404
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("404 · 未找到")
    expect(page.get_by_text("没有这个地址。")).to_be_visible()
    expect(page.get_by_role("link", name="返回首页")).to_have_attribute("href", "/")
    expect(page.get_by_role("link", name="登录")).to_be_visible()


def test_unknown_page_keeps_the_user_logged_in(page: Page, log_in: LogIn) -> None:
    log_in("admin")
    response = page.goto("/nope")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text("没有这个地址。")).to_be_visible()
    expect(page.locator(".topbar .who")).to_have_text("平台管理员")
    expect_nav(page, {"首页": "/", "组织机构": "/orgs", "审计日志": "/audit", "接口文档": "/docs"})

"""The data hub issue's "done when", as a new user meets it: in the demo city, from the pages and the API.

A department steward drafts a resource, imports a CSV with some bad rows (rejected with a clear
report, nothing written), fixes it and imports it; the reviewer publishes; another department
applies, is granted two fields, calls the service (personal fields masked), is refused a field
outside the grant; the citizen's view shows that read; a subscription pulls the changes; an open
resource appears in the DCAT export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Page, expect
from stdnum.cn import ric

from tests.e2e.conftest import LogIn, Server, nav

pytestmark = pytest.mark.e2e

CODE = "gaj.floating.lookup"


def _resident_id(n: int) -> str:
    body = f"3701021990{n:02d}01{n:03d}"
    return body + ric.calc_check_digit(body + "0")


PEOPLE = [(_resident_id(n), name, "历下区") for n, name in ((1, "欧阳明"), (2, "司马静"), (3, "上官雪"))]


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    return ("id_number,name,district\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)).encode()


def _as(page: Page, log_in: LogIn, username: str) -> None:
    page.context.clear_cookies()
    log_in(username)


def _token(api: APIRequestContext, username: str, password: str) -> dict[str, str]:
    response = api.post("/api/v1/auth/token", form={"username": username, "password": password})
    assert response.ok, response.text()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _import(page: Page, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    page.locator("#import-file").set_input_files(str(path))
    page.get_by_role("button", name="导入", exact=True).click()


def test_the_data_hub_from_draft_to_citizen_trail(page: Page, log_in: LogIn, server: Server, tmp_path: Path) -> None:
    # 1. a 公安局 data steward drafts the resource with the form
    _as(page, log_in, "steward.gaj")
    page.goto("/datahub/new")
    page.locator("#name").fill("流动人口居住登记")
    page.locator("#summary").fill("来济居住半年以上流动人口的身份号码、姓名和居住区县。")
    page.locator("#sharing").select_option("conditional")
    page.locator("#sharing_conditions").fill("用于社会救助、就业服务等资格核验")
    page.locator("#category_path").fill("人口/流动人口")
    page.locator("#tags").fill("流动人口，居住登记")
    page.locator("#fields").fill(
        "id_number | 公民身份号码 | string | sensitive_personal | required key resident_id\n"
        "name | 姓名 | string | personal | required\n"
        "district | 居住区县 | string | internal | enum=历下区/市中区"
    )
    page.get_by_role("button", name="保存（生成新版本）").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("流动人口居住登记")
    resource_url = page.url

    # 2. a file with bad rows is rejected with a report, and nothing is written
    bad = [(PEOPLE[0][0][:-1] + ("0" if PEOPLE[0][0][-1] != "0" else "1"), "欧阳明", "历下区"), (PEOPLE[1][0], "", "天桥区")]
    _import(page, tmp_path, "bad.csv", _csv(bad))
    expect(page.locator("#import-result")).to_have_class("alert")
    expect(page.get_by_role("cell", name="天桥区")).to_be_visible()
    expect(page.get_by_text("370102").first).to_be_visible()
    page.goto(resource_url)
    _import(page, tmp_path, "good.csv", _csv(PEOPLE))
    expect(page.locator("#import-result")).to_have_class("ok")
    expect(page.locator("#import-result")).to_contain_text("3")

    # 3. submitted, and the bureau's reviewer publishes it from the queue
    page.goto(resource_url)
    page.get_by_role("button", name="提交审核").click()
    _as(page, log_in, "reviewer.dsjj")
    nav(page).get_by_role("link", name="待办", exact=True).click()
    page.get_by_role("link", name="流动人口居住登记").click()
    page.get_by_role("button", name="审核通过并发布").click()
    expect(page.locator(".tag.status-published").first).to_be_visible()

    # 4. the provider opens a lookup service on it
    _as(page, log_in, "steward.gaj")
    page.goto(resource_url)
    page.locator("summary", has_text="开通数据服务").click()
    page.locator("#svc-code").fill(CODE)
    page.locator("#svc-name").fill("流动人口居住登记查询")
    page.locator("form[action$='/services']").get_by_role("button", name="开通数据服务").click()
    expect(page.get_by_text(CODE).first).to_be_visible()

    # 5. 市场监管局 applies for two fields; the provider grants them
    _as(page, log_in, "steward.scjgj")
    page.goto("/datahub/services")
    row = page.get_by_role("row").filter(has_text=CODE)
    row.get_by_text("申请使用").click()
    row.locator("input[name=fields]").fill("id_number, name")
    row.locator("input[name=purpose]").fill("个体工商户登记时核验经营者身份")
    row.locator("input[name=scenario]").fill("个体工商户设立登记")
    row.get_by_role("button", name="提交申请").click()
    _as(page, log_in, "steward.gaj")
    page.goto("/datahub/services")
    page.get_by_role("row").filter(has_text="个体工商户登记时核验经营者身份").get_by_role("button", name="同意并授权").click()
    expect(page.get_by_role("row").filter(has_text="个体工商户登记时核验经营者身份")).to_contain_text("已授权")

    # 6. the consumer calls: personal fields masked, a field outside the grant refused
    browser = page.context.browser
    assert browser is not None
    api = browser.new_context(base_url=server.url).request  # a system calling the API: no browser session
    consumer = _token(api, "steward.scjgj", server.password)
    found = api.get(f"/api/v1/datahub/services/{CODE}/lookup", params={"key": PEOPLE[0][0]}, headers=consumer)
    assert found.ok, found.text()
    row_read: dict[str, Any] = found.json()["rows"][0]
    assert row_read["name"] == "欧**"
    assert row_read["id_number"] != PEOPLE[0][0]
    refused = api.get(f"/api/v1/datahub/services/{CODE}/lookup", params={"key": PEOPLE[0][0], "fields": "district"}, headers=consumer)
    assert refused.status == 403

    # 7. the person whose data was read sees it in their own trail
    admin = _token(api, "admin", server.password)
    created = api.post("/api/v1/orgs", data={"code": "jn.citizen.ouyang", "name": "市民 欧阳明", "kind": "citizen"}, headers=admin)
    assert created.ok, created.text()
    user = {
        "username": "ouyang.ming",
        "display_name": "欧阳明",
        "password": server.password,
        "org_code": "jn.citizen.ouyang",
        "roles": [],
        "id_number": PEOPLE[0][0],
    }
    assert api.post("/api/v1/users", data=user, headers=admin).ok
    _as(page, log_in, "ouyang.ming")
    nav(page).get_by_role("link", name="我的数据足迹", exact=True).click()
    trail = page.locator("#my-trail")
    expect(trail.get_by_role("cell", name="市市场监管局", exact=True)).to_be_visible()
    expect(trail.get_by_text("个体工商户登记时核验经营者身份")).to_be_visible()
    expect(trail.get_by_text(CODE)).to_be_visible()

    # 8. the consumer subscribes; its subscription pulls the changes, then only what changed since
    made = api.post("/api/v1/datahub/subscriptions", data={"service": CODE, "name": "登记系统同步"}, headers=consumer)
    assert made.status == 201, made.text()
    sub = made.json()
    changes = api.get(f"/api/v1/datahub/subscriptions/{sub['id']}/changes", headers=consumer).json()
    assert [c["op"] for c in changes["changes"]] == ["insert"] * 3
    assert all(c["row"]["name"].endswith("*") for c in changes["changes"])
    _as(page, log_in, "steward.gaj")
    page.goto(resource_url)
    _import(page, tmp_path, "update.csv", _csv([(PEOPLE[2][0], "上官雪", "市中区")]))
    expect(page.locator("#import-result")).to_have_class("ok")
    later = api.get(f"/api/v1/datahub/subscriptions/{sub['id']}/changes", params={"since": changes["next"]}, headers=consumer).json()
    assert [c["op"] for c in later["changes"]] == ["update"]
    # the server kept the acknowledged cursor, and the provider sees the subscription with its count
    page.goto(f"{server.url}/datahub/services")
    row = page.locator("[data-test=subscriptions] tr", has_text="登记系统同步")
    expect(row).to_contain_text("市市场监管局")
    expect(row.locator("td").nth(4)).to_have_text("3")
    expect(row.locator("td").nth(8)).to_have_text("4")

    # 9. open resources are in the DCAT export, closed ones are not
    turtle = api.get("/api/v1/datahub/open/catalog.ttl").text()
    assert "公交线路与站点" in turtle
    assert "流动人口居住登记" not in turtle

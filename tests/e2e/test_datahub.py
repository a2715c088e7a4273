"""The data catalogue in a real browser: search with facets, review from the queue, open data."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LogIn, nav

pytestmark = pytest.mark.e2e


def test_search_the_catalogue_with_a_facet(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("viewer.jtj")
    nav(page).get_by_role("link", name="数据目录", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("数据资源目录")
    page.screenshot(path=screenshots / "catalogue.png", full_page=True)

    page.get_by_label("搜索").fill("户籍人口")
    page.get_by_role("button", name="搜索").click()
    expect(page.get_by_role("link", name="户籍人口基本信息")).to_be_visible()
    expect(page.get_by_role("link", name="空气质量监测小时数据")).to_have_count(0)

    page.goto("/datahub")
    page.get_by_role("complementary").get_by_role("link", name="主题").click()
    expect(page.get_by_role("link", name="空气质量监测小时数据")).to_be_visible()
    expect(page.get_by_role("link", name="户籍人口基本信息")).to_have_count(0)


def test_a_reviewer_publishes_from_the_queue(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("reviewer.dsjj")
    nav(page).get_by_role("link", name="待办", exact=True).click()
    page.get_by_role("link", name="医疗机构名录").click()
    expect(page.get_by_text("审核中")).to_be_visible()
    page.screenshot(path=screenshots / "resource-review.png", full_page=True)

    page.get_by_role("button", name="审核通过并发布").click()

    expect(page.locator(".tag.status-published").first).to_be_visible()
    expect(page.get_by_text("审核通过 · 大数据局审核员").or_(page.get_by_text("审核通过"))).to_be_visible()
    page.goto("/datahub?q=医疗机构")
    expect(page.get_by_role("link", name="医疗机构名录")).to_be_visible()


def test_open_data_needs_no_login(page: Page) -> None:
    page.goto("/open")
    expect(page.get_by_role("heading", level=1)).to_have_text("公共数据开放")
    expect(page.get_by_role("link", name="公交线路与站点")).to_be_visible()
    expect(page.get_by_role("link", name="户籍人口基本信息")).to_have_count(0)
    page.get_by_role("link", name="公交线路与站点").click()
    expect(page.get_by_role("cell", name="站点名称", exact=True)).to_be_visible()


def test_a_bureau_steward_reads_a_registry_record_and_decides_a_conflict(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("steward.dsjj")
    nav(page).get_by_role("link", name="基础库", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("基础库")
    for name in ("人口基础库", "法人基础库", "公共信用基础库", "空间地理基础库", "宏观经济基础库", "电子证照基础库"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    page.screenshot(path=screenshots / "registries.png", full_page=True)

    page.get_by_role("link", name="人口基础库", exact=True).click()
    conflicts = page.locator("#conflicts + p + .table-wrap tbody tr")
    before = page.locator("#conflicts small").inner_text()
    key = conflicts.first.locator("td").nth(2).inner_text().strip()
    page.get_by_label("主键").fill(key)
    page.get_by_label("用途").fill("核对户籍与参保信息")
    page.get_by_role("button", name="搜索").click()
    record = page.locator("#record")
    expect(record).to_be_visible()
    expect(record.get_by_text("jn.gaj/00001").first).to_be_visible()
    expect(record.get_by_text("脱敏").first).to_be_visible()
    page.get_by_role("heading", name="查询基础库记录").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('record').scrollIntoView({block: 'start'}); window.scrollBy(0, -140)")
    page.screenshot(path=screenshots / "registry-record.png")

    conflicts.first.get_by_role("button", name="确定").click()
    expect(page.locator("#conflicts small")).not_to_have_text(before)


def test_a_citizen_sees_who_read_their_data(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("citizen.demo")
    nav(page).get_by_role("link", name="我的数据足迹", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("我的数据足迹")
    trail = page.locator("#my-trail")
    # 市民政局 read it twice: a welfare check, and the demo's senior-allowance application's fill
    expect(trail.get_by_role("cell", name="市民政局", exact=True).first).to_be_visible()
    expect(trail.get_by_text("政务服务事项办理：申请材料免提交、秒批条件核验").first).to_be_visible()
    expect(trail.get_by_role("cell", name="市大数据局", exact=True)).to_be_visible()
    expect(trail.locator("tr", has_text="市大数据局").get_by_role("cell", name="基础库查阅")).to_be_visible()
    # the welfare check read it twice: a service lookup, and the subscription's pull of the changes
    welfare = trail.locator("tr", has_text="低保、特困人员救助资格核验")
    expect(welfare).to_have_count(2)
    expect(welfare.filter(has_text="服务查询")).to_have_count(1)
    expect(welfare.filter(has_text="订阅交换")).to_have_count(1)
    page.screenshot(path=screenshots / "my-trail.png")
    # a citizen sees no staff pages
    expect(nav(page).get_by_role("link", name="数据目录", exact=True)).to_have_count(0)


def test_a_provider_sees_the_usage_of_its_services(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("steward.gaj")
    nav(page).get_by_role("link", name="服务用量", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("数据服务用量")
    services = page.locator("#usage-services")
    expect(services.get_by_text("gaj.person.lookup")).to_be_visible()
    expect(page.locator("#usage-consumers").get_by_role("cell", name="市民政局", exact=True)).to_be_visible()
    expect(page.locator("#usage-chart canvas")).to_have_count(1)
    page.screenshot(path=screenshots / "usage.png")

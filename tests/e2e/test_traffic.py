"""Smart traffic in a real browser against the demo city: compare controllers, watch and steer the
live twin, plan a green wave and a tidal lane."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LogIn, nav

pytestmark = [pytest.mark.e2e, pytest.mark.sumo]


def test_an_engineer_compares_controllers_on_the_jinan_network(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("engineer.jtj")
    nav(page).get_by_role("link", name="智慧交通", exact=True).click()
    page.get_by_role("link", name="jinan_3x4").click()
    expect(page.locator("#network-map canvas").first).to_be_visible()
    for box in page.locator("#run-form input[type=checkbox]").all():
        if box.get_attribute("value") not in ("fixed_time", "max_pressure", "citybrain"):
            box.uncheck()
    page.locator("input[name=seeds]").fill("1")
    page.locator("input[name=duration_s]").fill("300")
    page.get_by_role("button", name="开始仿真比较").click()

    expect(page).to_have_url(re.compile(r"/traffic/runs/\d+$"))
    expect(page.locator("#comparison-table")).to_be_visible(timeout=120_000)  # the page refreshes itself while it runs
    for name in ("fixed_time", "max_pressure", "citybrain"):
        expect(page.locator("#comparison-table").get_by_text(name, exact=True)).to_be_visible()
    expect(page.locator("#junction-table tbody tr")).to_have_count(12)
    page.screenshot(path=screenshots / "traffic-comparison.png", full_page=True)


def test_a_signal_operator_forces_a_phase_on_the_live_twin(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("signal.gaj")
    page.goto("/traffic/live")
    expect(page.locator("#twin-connection")).to_have_attribute("data-state", "live", timeout=60_000)
    expect(page.locator("#twin-junctions tbody tr")).to_have_count(12)
    first = float(page.locator("#twin-time").get_attribute("data-t") or 0)
    expect(page.locator("#twin-time")).not_to_have_attribute("data-t", str(first), timeout=5_000)  # time moves

    page.locator("#cmd-junction").select_option("intersection_2_2")
    page.locator("#cmd-action").select_option("force")
    page.locator("#cmd-phase").select_option("EW_through")
    page.locator("#cmd-duration").fill("60")
    page.locator("#cmd-send").click()

    expect(page.locator("#cmd-result")).to_have_text(re.compile("已执行"))
    row = page.locator("#twin-junctions tr[data-junction=intersection_2_2]")
    expect(row).to_have_attribute("data-mode", "forced", timeout=10_000)
    expect(row).to_have_attribute("data-phase", "EW_through", timeout=15_000)
    expect(page.locator("#twin-commands tbody tr").first).to_contain_text("intersection_2_2")
    page.screenshot(path=screenshots / "traffic-live.png", full_page=True)


def test_an_engineer_may_watch_but_not_steer(page: Page, log_in: LogIn) -> None:
    log_in("engineer.jtj")
    page.goto("/traffic/live")
    expect(page.locator("#twin-no-control")).to_be_visible()
    expect(page.locator("#cmd-send")).to_have_count(0)


def test_green_wave_and_tidal_plans_from_the_pages(page: Page, log_in: LogIn, screenshots: Path) -> None:
    log_in("engineer.jtj")
    page.goto("/traffic/greenwave")
    page.locator("input[name=cycle_min]").fill("60")
    page.locator("input[name=cycle_max]").fill("90")
    page.get_by_role("button", name="计算方案").click()
    expect(page).to_have_url(re.compile(r"/traffic/greenwave/\d+$"))
    diagram = page.get_by_role("img", name="时空图")
    expect(diagram).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 500", arg=diagram.element_handle(), timeout=30_000)
    expect(page.locator("#greenwave-check")).to_be_visible(timeout=120_000)
    expect(page.locator("#greenwave-check")).to_contain_text("MAXBAND")
    page.screenshot(path=screenshots / "traffic-greenwave.png", full_page=True)

    page.goto("/traffic/tidal")
    page.get_by_label("在 SUMO 中检验（后台运行，约半分钟）").uncheck()
    page.get_by_role("button", name="计算方案").click()
    expect(page).to_have_url(re.compile(r"/traffic/tidal/\d+$"))
    expect(page.locator("#tidal-summary")).to_contain_text("靠中央的车道")
    expect(page.locator("#tidal-chart canvas").first).to_be_visible()
    expect(page.locator("#tidal-schedule")).to_contain_text("借给对向")
    page.screenshot(path=screenshots / "traffic-tidal.png", full_page=True)

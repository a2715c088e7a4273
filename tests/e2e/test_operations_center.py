"""The operations center's big screen in a real browser against the demo city, whose connected
systems push through the API while it serves: the district map is drawn, a metric pushed with a
system's API key appears within 2 s, the alarm it raises is acknowledged on the screen, scenarios
rotate (and stop when someone touches the screen), and the language switches."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LogIn, Server

pytestmark = [pytest.mark.e2e]

SCREEN = {"width": 1920, "height": 1080}


def _call(
    server: Server, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None, form: dict[str, str] | None = None
) -> Any:
    data = None
    all_headers = dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=all_headers)  # noqa: S310 - our own http:// URL
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def _admin(server: Server) -> dict[str, str]:
    token = _call(server, "POST", "/api/v1/auth/token", form={"username": "admin", "password": server.password})["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _system_key(server: Server, code: str) -> dict[str, str]:
    """Register a connected system as an admin would, and use its API key as the system would."""
    body = {"code": code, "name": "端到端测试水位站", "kind": "sensor_network", "owner_org_code": "jn.slj"}
    return {"X-API-Key": _call(server, "POST", "/api/v1/ops/systems", body=body, headers=_admin(server))["api_key"]}


def _acknowledge_critical(server: Server) -> None:
    admin = _admin(server)
    for alarm in _call(server, "GET", "/api/v1/ops/alarms", headers=admin):
        if alarm["severity"] == "critical" and alarm["status"] == "open":
            _call(server, "POST", f"/api/v1/ops/alarms/{alarm['id']}/acknowledge", body={}, headers=admin)


def test_the_screen_shows_the_city_and_a_pushed_metric_within_two_seconds(
    page: Page, log_in: LogIn, server: Server, screenshots: Path
) -> None:
    key = _system_key(server, "e2e-gauge")
    log_in()
    page.set_viewport_size(SCREEN)
    page.goto("/ops/screen?rotate=0")
    expect(page.locator("#map")).to_have_attribute("data-drawn", "12", timeout=15_000)  # Jinan's 12 districts, from the GeoJSON
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator("#systems li")).not_to_have_count(0)
    # the demo's systems are feeding: the hotline card has a value
    expect(page.locator('.kpi[data-metric="hotline.tickets"]')).not_to_have_attribute("data-value", "", timeout=15_000)

    # 历下区 has no river gauge in the demo, so only this push sets its level
    pushed = time.monotonic()
    point = {"name": "water.level_m", "value": 9.87, "unit": "m", "tags": {"district": "370102", "domain": "water"}}
    assert _call(server, "POST", "/api/v1/ops/metrics", body={"points": [point]}, headers=key)["accepted"] == 1
    expect(page.locator('.kpi[data-metric="water.level_m"]')).to_have_attribute("data-value", "9.87", timeout=2_000)
    assert time.monotonic() - pushed < 2.0
    expect(page.locator('.kpi[data-metric="water.level_m"]')).to_have_class(re.compile(r"\balarm\b"))  # above its red threshold

    # the threshold rule (> 3.2 m, critical) raised an alarm: it arrives on the screen and is acknowledged there
    alarm = page.locator("#alarms li", has_text="历下区").first
    expect(alarm).to_have_attribute("data-status", "open", timeout=5_000)
    expect(page.locator("#rotation-state")).to_have_attribute("data-state", "off")
    alarm.get_by_role("button", name="确认").click()
    expect(page.locator("#alarms li", has_text="历下区").first).to_have_attribute("data-status", "acknowledged")
    alarms = _call(server, "GET", "/api/v1/ops/alarms", headers=_admin(server))
    assert any(a["district"] == "370102" and a["status"] == "acknowledged" for a in alarms)


def test_a_critical_alarm_holds_the_rotation_and_scenarios_rotate_until_touched(page: Page, log_in: LogIn, server: Server) -> None:
    log_in()
    key = _system_key(server, "e2e-gauge-2")
    page.set_viewport_size(SCREEN)
    point = {"name": "water.level_m", "value": 5.5, "tags": {"district": "370103"}}  # 市中区: no demo gauge either
    _call(server, "POST", "/api/v1/ops/metrics", body={"points": [point]}, headers=key)
    page.goto("/ops/screen?dwell=3")
    expect(page.locator("#rotation-state")).to_have_attribute("data-state", "alarm", timeout=5_000)
    expect(page.locator("#stage")).to_have_attribute("data-view", "overview")
    _call(server, "POST", "/api/v1/ops/metrics", body={"points": [{**point, "value": 1.0}]}, headers=key)  # recovered
    _acknowledge_critical(server)  # the demo's rivers may rise meanwhile
    deadline = time.monotonic() + 30
    while page.locator("#stage").get_attribute("data-view") == "overview":
        assert time.monotonic() < deadline, "the screen did not rotate"
        if page.locator("#rotation-state").get_attribute("data-state") == "alarm":
            _acknowledge_critical(server)
        page.wait_for_timeout(500)
    expect(page.locator("#scenario-grid .widget")).not_to_have_count(0)
    # someone touches the screen: it stays where it is
    page.locator("#scenario-title").click()
    expect(page.locator("#rotation-state")).to_have_attribute("data-state", "paused")
    view = page.locator("#stage").get_attribute("data-view")
    page.wait_for_timeout(4_000)
    assert page.locator("#stage").get_attribute("data-view") == view


def test_scenarios_have_their_own_pages_and_the_language_switches(
    context: BrowserContext, log_in: LogIn, page: Page, screenshots: Path
) -> None:
    log_in()
    page.set_viewport_size(SCREEN)
    page.goto("/ops/scenarios/public-safety")
    expect(page.locator("#scenario-title")).to_contain_text("公共安全一网通")
    expect(page.locator('#scenario-grid .w-map .body[data-drawn="12"]')).to_be_visible(timeout=15_000)
    expect(page.locator('#scenario-grid .w-kpi .body[data-metric="water.level_m"]')).not_to_have_attribute("data-value", "", timeout=15_000)
    page.wait_for_timeout(1_500)  # the line charts fetch their series
    page.screenshot(path=screenshots / "ops-public-safety.png")
    page.goto("/ops/scenarios/city-management")
    expect(page.locator('#scenario-grid .w-map .body[data-drawn="12"]')).to_be_visible(timeout=15_000)
    page.wait_for_timeout(1_500)
    page.screenshot(path=screenshots / "ops-city-management.png")

    page.goto("/ops/screen?rotate=0")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Smart Quancheng · City Operations Center")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#map-tabs")).to_contain_text("Air quality")
    page.get_by_role("link", name="中文").click()
    expect(page.locator("h1")).to_have_text("智慧泉城 · 城市运行管理中心")
    # the whole screen once the city has been feeding it a while, for the README
    expect(page.locator('.kpi[data-metric="air.aqi"]')).not_to_have_attribute("data-value", "", timeout=15_000)
    expect(page.locator("#traffic-grid")).not_to_have_attribute("data-t", "", timeout=30_000)
    page.wait_for_timeout(2_000)
    page.screenshot(path=screenshots / "ops-screen.png")

    wide = context.new_page()
    wide.set_viewport_size({"width": 3840, "height": 1080})
    wide.goto("/ops/screen?wide=1")
    expect(wide.locator("#stage")).to_have_attribute("data-width", "3840")
    expect(wide.locator("#map")).to_have_attribute("data-drawn", "12", timeout=15_000)
    expect(wide.locator("#scenario-grid .widget")).not_to_have_count(0, timeout=10_000)
    wide.wait_for_timeout(1_500)
    wide.screenshot(path=screenshots / "ops-screen-wide.png")

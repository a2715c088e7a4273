"""E-licences in a real browser against the demo city: a citizen shows a licence from the wallet and
anyone verifies it (pasted or as a QR picture) without logging in; a department revokes one and
verification then fails with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LogIn, nav

pytestmark = pytest.mark.e2e


def test_a_citizen_shows_a_licence_and_anyone_verifies_its_qr_picture(
    page: Page, context: BrowserContext, log_in: LogIn, screenshots: Path, tmp_path: Path
) -> None:
    log_in("citizen.demo")
    nav(page).get_by_role("link", name="我的证照", exact=True).click()
    card = page.locator("#gov-wallet article").first
    expect(card).to_contain_text("居住证明")
    expect(card.locator("img")).to_be_visible()
    page.screenshot(path=screenshots / "gov-wallet.png", full_page=True)
    licence_id = card.get_attribute("id")
    picture = page.request.get(f"/api/v1/gov/licences/{licence_id}/qr.png")
    assert picture.ok
    (tmp_path / "qr.png").write_bytes(picture.body())

    card.get_by_role("button", name="核验此证照").click()
    expect(page.locator("#gov-verify-result")).to_have_attribute("data-valid", "true")

    context.clear_cookies()  # a stranger, not logged in, with only the picture
    page.goto("/gov/verify")
    page.locator("#qr-image").set_input_files(tmp_path / "qr.png")
    result = page.locator("#gov-verify-result")
    expect(result).to_have_attribute("data-valid", "true")
    expect(result).to_contain_text(licence_id or "?")
    expect(result).to_contain_text("证照真实有效")
    page.screenshot(path=screenshots / "gov-verify.png", full_page=True)


def test_a_department_revokes_a_licence_and_its_code_then_fails(page: Page, log_in: LogIn) -> None:
    log_in("steward.scjgj")
    nav(page).get_by_role("link", name="电子证照", exact=True).click()
    row = page.locator("#gov-licences tbody tr", has=page.get_by_role("button", name="注销")).first
    licence_id = row.get_attribute("id")
    listed = page.request.get("/api/v1/gov/licences").json()
    code = next(item["code"] for item in listed if item["licence_id"] == licence_id)

    row.locator("input[name=reason]").fill("经营者申请注销")
    row.get_by_role("button", name="注销").click()
    expect(page.locator(f"tr[id='{licence_id}']")).to_contain_text("已注销")

    page.goto("/gov/verify")
    page.locator("#code").fill(code)
    page.get_by_role("button", name="核验", exact=True).click()
    result = page.locator("#gov-verify-result")
    expect(result).to_have_attribute("data-valid", "false")
    expect(result).to_contain_text("证照已被发证机关注销")
    expect(result).to_contain_text("licence.revoked")

"""The service guide and application pages: public guide and search, applying with server-side
form validation messages, uploads refused by content, the decision with its reasons and the
licence QR, the staff's queue and the figures."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.web import csrf
from citybrain.settings import Settings
from tests.builders.gov_services import NOT_A_PDF, make_gov_city


def test_guide_apply_decide_and_queue_pages(client: TestClient, session: Session, settings: Settings) -> None:
    city = make_gov_city(client, session, settings.files_dir)
    guide = client.get("/gov/items?q=居住证明")
    assert guide.status_code == 200
    assert "item-residence_certificate" in guide.text
    assert "item-restaurant_bundle" not in guide.text
    detail = client.get("/gov/items/residence_certificate?lang=en")
    assert detail.status_code == 200
    assert "No need: filled from the registries" in detail.text
    token = client.cookies.get(csrf.COOKIE) or ""
    assert client.get("/gov/items/residence_certificate/apply", headers=city.senior).status_code == 200
    wrong = client.post(
        "/gov/items/residence_certificate/apply", data={"id_number": city.young_id, "csrf_token": token}, headers=city.senior
    )
    assert wrong.status_code == 422
    assert 'id="gov-apply-error"' in wrong.text
    started = client.post(
        "/gov/items/residence_certificate/apply",
        data={"id_number": city.senior_id, "csrf_token": token},
        headers=city.senior,
        follow_redirects=False,
    )
    assert started.status_code == 303
    page_url = started.headers["location"]
    draft = client.get(page_url, headers=city.senior)
    assert 'data-status="filled"' in draft.text
    assert 'id="gov-form"' in draft.text
    number = page_url.rsplit("/", 1)[-1]
    bad = client.post(f"/gov/applications/{number}/submit", data={"residence_months": "abc", "csrf_token": token}, headers=city.senior)
    assert bad.status_code == 422
    assert 'id="error-residence_months"' in bad.text
    assert "Wrong type" in bad.text  # the language chosen above (?lang=en) sticks
    assert 'id="error-use"' in bad.text
    assert 'value="abc"' in bad.text  # what was typed is kept
    upload = client.post(
        f"/gov/applications/{number}/materials/household",
        files={"file": ("x.pdf", NOT_A_PDF, "application/pdf")},
        data={"csrf_token": token},
        headers=city.senior,
    )
    assert upload.status_code == 422
    assert "Only PDF" in upload.text
    done = client.post(
        f"/gov/applications/{number}/submit", data={"residence_months": "24", "use": "就业", "csrf_token": token}, headers=city.senior
    )
    assert done.status_code == 200
    assert 'data-outcome="approved"' in done.text
    assert "/qr.svg" in done.text
    assert "连续居住满6个月" in done.text
    mine = client.get("/gov/applications", headers=city.senior)
    assert number in mine.text
    assert client.get("/gov/queue", headers=city.senior).status_code == 403
    queue = client.get("/gov/queue", headers=city.staff["jn.mzj"])
    assert queue.status_code == 200
    stats = client.get("/gov/statistics?lang=en", headers=city.staff["jn.mzj"])
    assert stats.status_code == 200
    assert "Instant approval rate" in stats.text
    assert "100.0%" in stats.text

"""The usage pages: calls, rows and refusals per service, consumer and day, for the provider."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.web import csrf
from tests.builders.core import PASSWORD
from tests.integration.datahub.test_services import D, _apply, _service, _setup


def _page_login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    client.get("/login")
    token = client.cookies.get(csrf.COOKIE) or ""
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_the_provider_sees_calls_rows_and_refusals_of_its_services(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, "gaj.usage.lookup")
    app_id = _apply(client, consumer, "gaj.usage.lookup", ["id_number", "district"])
    assert client.post(f"{D}/applications/{app_id}/approve", json={"rate_per_minute": 100}, headers=actors.steward).status_code == 200  # type: ignore[attr-defined]
    for person in people:
        assert client.get(f"{D}/services/gaj.usage.lookup/lookup", params={"key": person[0]}, headers=consumer).status_code == 200
    refused = client.get(f"{D}/services/gaj.usage.lookup/lookup", params={"key": people[0][0], "fields": "name"}, headers=consumer)
    assert refused.status_code == 403

    _page_login(client, actors.steward_name)  # type: ignore[attr-defined]
    page = client.get("/datahub/usage", params={"days": 7})
    assert page.status_code == 200
    services_table = page.text.split('id="usage-services"')[1].split("</table>")[0]
    assert "gaj.usage.lookup" in services_table
    assert '<td class="num">3</td><td class="num">3</td><td class="num">1</td>' in services_table
    consumers_table = page.text.split('id="usage-consumers"')[1].split("</table>")[0]
    assert "市民政局" in consumers_table

    # another department's viewer sees none of the provider's figures
    _page_login(client, "viewer" + actors.steward_name.removeprefix("steward"))  # type: ignore[attr-defined]
    other = client.get("/datahub/usage")
    assert other.status_code == 200
    assert "gaj.usage.lookup" not in other.text

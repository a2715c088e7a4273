"""The governed lookup and query are hot routes (core.web.hot): they must behave, and be described,
exactly as ordinary FastAPI routes would — authentication first, then each bad parameter named in a
422 problem, repeated parameters, and the same OpenAPI description."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.integration.datahub.test_services import D, _apply, _service, _setup


def _granted(client: TestClient, session: Session, code: str, kind: str) -> dict[str, str]:
    actors, consumer, rid, _people = _setup(client, session)
    _service(client, actors, rid, code, kind=kind)
    app_id = _apply(client, consumer, code, ["id_number", "name", "district"])
    assert client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward).status_code == 200  # type: ignore[attr-defined]
    return consumer


def test_lookup_names_each_bad_parameter_after_authentication(client: TestClient, session: Session) -> None:
    consumer = _granted(client, session, "gaj.person.hot", "lookup")
    url = f"{D}/services/gaj.person.hot/lookup"

    assert client.get(url).status_code == 401  # no credential: refused before the parameters are looked at
    missing = client.get(url, headers=consumer)
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in missing.json()["errors"]] == [["query", "key"]]
    too_long = client.get(url, params={"key": "x" * 201, "fields": "y" * 2001}, headers=consumer).json()
    assert sorted(tuple(e["loc"]) for e in too_long["errors"]) == [("query", "fields"), ("query", "key")]
    bad_code = client.get(f"{D}/services/X!/lookup", params={"key": "1"}, headers=consumer)
    assert bad_code.status_code == 422
    assert [e["loc"] for e in bad_code.json()["errors"]] == [["path", "code"]]
    # unknown parameters are ignored, as on every other route
    found = client.get(url, params={"key": "nobody", "colour": "red"}, headers=consumer)
    assert found.status_code == 200
    assert found.json() == {"rows": [], "masked": ["id_number", "name"]}


def test_query_takes_repeated_where_and_bounds_its_page(client: TestClient, session: Session) -> None:
    consumer = _granted(client, session, "gaj.person.hotq", "query")
    url = f"{D}/services/gaj.person.hotq/query"

    page = client.get(url, params=[("where", "district:历下区"), ("where", "name:李四")], headers=consumer)
    assert page.status_code == 200, page.text
    assert [r["district"] for r in page.json()["rows"]] == ["历下区"]
    assert client.get(url, params={"limit": 101}, headers=consumer).status_code == 422
    assert client.get(url, params={"offset": "many"}, headers=consumer).json()["errors"][0]["loc"] == ["query", "offset"]
    assert client.get(url, params=[("where", f"district:{i}") for i in range(11)], headers=consumer).status_code == 422


def test_hot_routes_are_described_like_the_others(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    lookup = spec["paths"][f"{D}/services/{{code}}/lookup"]["get"]
    params = {p["name"]: p for p in lookup["parameters"]}
    assert params["code"]["in"] == "path"
    assert params["code"]["required"] is True
    assert params["code"]["schema"]["pattern"]
    assert params["key"] == {"name": "key", "in": "query", "required": True, "schema": params["key"]["schema"]}
    assert params["key"]["schema"]["maxLength"] == 200
    assert params["fields"]["required"] is False
    assert {"APIKeyHeader": []} in lookup["security"]
    assert lookup["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CallRead"}
    query = {p["name"]: p for p in spec["paths"][f"{D}/services/{{code}}/query"]["get"]["parameters"]}
    assert query["where"]["schema"]["anyOf"][0]["type"] == "array"


def test_a_call_with_an_api_key_gets_no_csrf_cookie_but_a_page_visit_does(client: TestClient) -> None:
    by_key = client.get("/healthz", headers={"X-API-Key": "anything"})
    assert "citybrain_csrf" not in by_key.headers.get("set-cookie", "")
    client.cookies.clear()
    assert "citybrain_csrf" in client.get("/healthz").headers.get("set-cookie", "")

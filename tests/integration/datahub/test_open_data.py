"""Open data: listed without login and exported as DCAT-AP that the official SHACL shapes accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyshacl import validate
from rdflib import Graph
from rdflib.namespace import DCAT, DCTERMS, RDF
from sqlalchemy.orm import Session

from citybrain.settings import Settings
from tests.builders.datahub import make_actors, person_draft, publish

OPEN = "/api/v1/datahub/open"


def _open_air(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": "空气质量监测小时数据",
        "name_en": "Hourly air quality",
        "summary": "监测站点的 AQI 和 PM2.5 小时浓度",
        "classification": "theme",
        "category_path": ["生态环境"],
        "sharing": "unconditional",
        "sharing_conditions": None,
        "open_attribute": "open",
        "update_cycle": "realtime",
        "tags": ["空气质量", "AQI"],
        "table_schema": {"fields": [{"name": "station", "title": "站点", "sensitivity": "public"}], "primary_key": ["station"]},
    }
    return person_draft(**{**fields, **overrides})


@pytest.fixture
def shapes(settings: Settings) -> Graph:
    folder = settings.data_dir / "standards" / "dcat-ap"
    if not folder.exists():
        pytest.skip(f"DCAT-AP shapes not found in {folder} (set CITYBRAIN_DATA_DIR)")
    graph = Graph()
    for name in ("dcat-ap_2.1.1_shacl_shapes.ttl", "dcat-ap_2.1.1_shacl_range.ttl"):
        graph.parse(Path(folder) / name, format="turtle")
    return graph


def test_only_open_published_resources_are_listed_without_login(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    air = publish(client, actors, _open_air())
    publish(client, actors, person_draft())
    client.post("/api/v1/datahub/resources", json=_open_air(name="未发布的开放资源"), headers=actors.steward)

    listed = client.get(OPEN)

    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["items"]] == [air]
    assert client.get(f"/open/resources/{air}").status_code == 200
    assert "空气质量监测小时数据" in client.get("/open").text


def test_the_dcat_export_conforms_to_dcat_ap(client: TestClient, session: Session, shapes: Graph) -> None:
    actors = make_actors(client, session)
    air = publish(client, actors, _open_air())
    publish(client, actors, _open_air(name="公交线路与站点", name_en=None, update_cycle="monthly", tags=[]))

    turtle = client.get(f"{OPEN}/catalog.ttl")
    jsonld = client.get(f"{OPEN}/catalog.jsonld")

    assert turtle.headers["content-type"].startswith("text/turtle")
    assert jsonld.headers["content-type"] == "application/ld+json"
    for body, fmt in ((turtle.text, "turtle"), (jsonld.text, "json-ld")):
        graph = Graph().parse(data=body, format=fmt)
        conforms, _, report = validate(graph, shacl_graph=shapes, inference="none", abort_on_first=False)
        assert conforms, report
        datasets = list(graph.subjects(RDF.type, DCAT.Dataset))
        assert len(datasets) == 2
        titles = {str(t) for t in graph.objects(None, DCTERMS.title)}
        assert {"空气质量监测小时数据", "Hourly air quality", "公交线路与站点"} <= titles
    assert any(str(air) in str(node.get("@id", "")) for node in json.loads(jsonld.text))


def test_an_export_with_a_missing_mandatory_property_would_be_caught(shapes: Graph) -> None:
    """The check is real: a dataset without a description breaks the DCAT-AP shapes."""
    from citybrain.datahub import dcat

    graph = dcat.build_graph("http://x/open", "目录", "Catalogue", "说明", dcat.Publisher("http://x/org", "局"), [])
    graph.remove((None, DCTERMS.description, None))

    conforms, _, _ = validate(graph, shacl_graph=shapes, inference="none")
    assert not conforms

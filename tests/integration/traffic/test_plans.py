"""Green-wave and tidal-lane plans through the API: computed, stored, drawn, checked in SUMO."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.db.session import Database
from citybrain.settings import Settings
from citybrain.traffic import runner
from tests.builders.traffic import make_traffic_actors

pytestmark = pytest.mark.sumo

T = "/api/v1/traffic"
ROW = [f"intersection_{i}_1" for i in range(1, 5)]


def test_a_green_wave_is_planned_drawn_and_beats_uncoordinated_offsets(
    client: TestClient, session: Session, db: Database, settings: Settings
) -> None:
    actors = make_traffic_actors(client, session)
    assert client.post(f"{T}/networks/builtin", json={"dataset": "jinan_3x4"}, headers=actors.engineer).status_code == 201
    body = {"name": "经十路绿波（演示）", "network": "jinan_3x4", "junctions": ROW, "cycle_s": [60, 90], "seeds": [0], "check": True}

    assert client.post(f"{T}/greenwave", json=body, headers=actors.viewer).status_code == 403
    bad = client.post(f"{T}/greenwave", json={**body, "junctions": ["intersection_1_1", "intersection_3_3"]}, headers=actors.engineer)
    assert bad.status_code == 422
    created = client.post(f"{T}/greenwave", json=body, headers=actors.engineer)

    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["check_status"] == "queued"
    assert len(plan["result"]["offsets_s"]) == 4
    assert plan["result"]["bandwidth_outbound_s"] > 0
    assert 60 <= plan["result"]["cycle_s"] <= 90
    png = client.get(f"{T}/greenwave/{plan['id']}/diagram.png", headers=actors.viewer)
    assert png.status_code == 200
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"

    runner.execute_plan_check(db, plan["id"], var_dir=settings.var_dir)  # what the server's queue does

    checked = client.get(f"{T}/greenwave/{plan['id']}", headers=actors.viewer).json()
    assert checked["check_status"] == "done", checked["check_error"]
    variants = checked["check"]["variants"]
    assert variants["maxband"]["through"]["stops_per_vehicle"] < variants["zero"]["through"]["stops_per_vehicle"]
    assert client.get(f"/traffic/greenwave/{plan['id']}", headers=actors.viewer).status_code == 200


def test_a_tidal_plan_names_lanes_hours_and_its_rule(client: TestClient, session: Session) -> None:
    actors = make_traffic_actors(client, session)
    morning = [300] * 4 + [900] * 8 + [300] * 12 + [250] * 8 + [300] * 4
    evening = [300] * 4 + [250] * 8 + [300] * 12 + [900] * 8 + [300] * 4
    body = {
        "name": "二环东路潮汐车道",
        "counts": {"a": morning, "b": evening, "start_s": 6 * 3600, "name_a": "进城", "name_b": "出城"},
        "section": {"lanes_a": 3, "lanes_b": 3, "lane_capacity_vph": 1200},
        "check": False,
    }

    created = client.post(f"{T}/tidal", json=body, headers=actors.engineer)

    assert created.status_code == 201, created.text
    result = created.json()["result"]
    periods = result["periods"]
    assert [p["toward"] for p in periods] == ["a", "b"]
    assert periods[0]["start_s"] >= 6 * 3600
    assert "进城" in result["summary"]["zh-CN"]
    assert result["rule"]["min_split"] == pytest.approx(2 / 3)
    assert result["basis"]["en"]
    assert {i["use"] for i in result["schedule"]} >= {"normal", "closed", "reversed"}
    bad = client.post(f"{T}/tidal", json={**body, "counts": {**body["counts"], "b": [*evening[:-1], -5]}}, headers=actors.engineer)
    assert bad.status_code == 422
    assert "counts.b[35]" in bad.json()["errors"][0]["loc"][1]
    page = client.get(f"/traffic/tidal/{created.json()['id']}", headers=actors.viewer)
    assert page.status_code == 200
    assert "进城" in page.text

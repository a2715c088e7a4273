"""Networks and evaluations through the API and pages, on SQLite and PostgreSQL, with the real SUMO."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.core.db.session import Database
from citybrain.settings import Settings
from citybrain.traffic import runner
from citybrain.traffic.models import Network
from tests.builders.traffic import make_traffic_actors

pytestmark = pytest.mark.sumo

T = "/api/v1/traffic"


def test_an_engineer_imports_the_jinan_network_and_a_viewer_cannot(client: TestClient, session: Session) -> None:
    actors = make_traffic_actors(client, session)

    assert client.post(f"{T}/networks/builtin", json={"dataset": "jinan_3x4"}, headers=actors.viewer).status_code == 403
    created = client.post(f"{T}/networks/builtin", json={"dataset": "jinan_3x4"}, headers=actors.engineer)

    assert created.status_code == 201, created.text
    assert created.json()["junctions"] == 12
    assert created.json()["vehicles"] == 6295
    detail = client.get(f"{T}/networks/jinan_3x4", headers=actors.viewer).json()
    assert len(detail["layout"]["junctions"]) == 12
    assert all(j["phases"] for j in detail["layout"]["junctions"].values())
    again = client.post(f"{T}/networks/builtin", json={"dataset": "jinan_3x4"}, headers=actors.engineer)
    assert again.status_code == 409
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "traffic.network.imported")) == 1


def test_uploaded_files_are_checked_and_bad_ones_change_nothing(client: TestClient, session: Session, settings: Settings) -> None:
    actors = make_traffic_actors(client, session)
    sumo = settings.data_dir / "traffic" / "jinan_3x4_sumo"

    bad = client.post(
        f"{T}/networks",
        data={"code": "broken", "name": "坏文件", "kind": "cityflow"},
        files={"network_file": ("roadnet.json", b'{"intersections": 3}'), "demand_file": ("flow.json", b"[]")},
        headers=actors.engineer,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][:2] == ["body", "network_file"]
    assert session.scalar(select(func.count()).select_from(Network)) == 0

    uploaded = client.post(
        f"{T}/networks",
        data={"code": "jinan-sumo", "name": "济南（SUMO 转换）", "kind": "sumo"},
        files={
            "network_file": ("jinan.net.xml", (sumo / "jinan.net.xml").read_bytes()),
            "demand_file": ("jinan.rou.xml", (sumo / "jinan.rou.xml").read_bytes()),
        },
        headers=actors.engineer,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["source"] == "sumo"
    assert uploaded.json()["junctions"] == 12


def test_a_comparison_is_queued_run_in_sumo_and_shown(client: TestClient, session: Session, db: Database, settings: Settings) -> None:
    actors = make_traffic_actors(client, session)
    assert client.post(f"{T}/networks/builtin", json={"dataset": "jinan_3x4"}, headers=actors.engineer).status_code == 201

    refused = client.post(f"{T}/networks/jinan_3x4/runs", json={"controllers": ["no_such"]}, headers=actors.engineer)
    assert refused.status_code == 422
    body = {"controllers": ["fixed_time", "max_pressure"], "seeds": [1], "duration_s": 300}
    assert client.post(f"{T}/networks/jinan_3x4/runs", json=body, headers=actors.viewer).status_code == 403
    queued = client.post(f"{T}/networks/jinan_3x4/runs", json=body, headers=actors.engineer)
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"
    run_id = queued.json()["id"]

    runner.execute_run(db, run_id, var_dir=settings.var_dir)  # what the server's run queue does
    again = runner.execute_run(db, run_id, var_dir=settings.var_dir)  # another server process came too late
    assert again.status == "done"

    done = client.get(f"{T}/runs/{run_id}", headers=actors.viewer).json()
    assert done["status"] == "done", done["error"]
    assert done["simulations_done"] == 2
    rows = done["result"]["controllers"]
    assert set(rows) == {"fixed_time", "max_pressure"}
    for row in rows.values():
        assert row["att_s"]["median"] > 0
        assert row["completed"]["median"] > 0
        assert row["never_inserted"]["median"] >= 0
        assert len(row["junctions"]) == 12
        assert all(j["stops"] >= 0 and j["stops_per_vehicle"] >= 0 for j in row["junctions"].values())
    assert done["result"]["free_flow"]["att_s"] > 0
    assert rows["max_pressure"]["ratio_to_max_pressure"] == pytest.approx(1.0)
    page = client.get(f"/traffic/runs/{run_id}", headers=actors.viewer)
    assert page.status_code == 200
    assert "max_pressure" in page.text
    assert "comparison-table" in page.text
    assert "次/车" in page.text  # each junction's stops per vehicle, beside its queue
    network_page = client.get("/traffic/networks/jinan_3x4", headers=actors.viewer)
    assert f"/traffic/runs/{run_id}" in network_page.text
    figures = client.get(f"{T}/figures", headers=actors.viewer).json()
    assert figures["evaluations"] == 1
    assert figures["junctions"] == 12
    best = min(rows, key=lambda name: rows[name]["att_s"]["median"])
    assert figures["best_controller"] == best
    assert figures["best_travel_time_s"] == pytest.approx(rows[best]["att_s"]["median"])


def test_the_run_queue_marks_runs_interrupted_by_a_restart_as_failed(db: Database, session: Session, tmp_path: Path) -> None:
    from citybrain.traffic.models import Run

    network = Network(
        code="n1",
        name="n1",
        source="sumo",
        source_hash="x",
        net_file="a",
        routes_file="b",
        junctions=0,
        vehicles=0,
        layout={},
        created_by="t",
    )
    session.add(network)
    session.flush()
    session.add(
        Run(
            network_id=network.id,
            controllers=["fixed_time"],
            seeds=[1],
            duration_s=60,
            status="running",
            simulations_total=1,
            created_by="t",
        )
    )
    session.commit()
    queue = runner.RunQueue(db, var_dir=tmp_path)
    queue.start()
    queue.stop()
    session.expire_all()
    assert session.scalar(select(Run.status)) == "failed"

"""The live twin through the API: its state, the event stream, and remote control that only the
traffic operator may use, every command and refusal in the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.settings import Settings
from citybrain.traffic import service
from citybrain.traffic.live import LiveTwin
from citybrain.traffic.models import Command
from tests.builders.traffic import TrafficActors, make_traffic_actors

pytestmark = pytest.mark.sumo

T = "/api/v1/traffic"


@pytest.fixture
def live(app: FastAPI, client: TestClient, session: Session, settings: Settings) -> Iterator[tuple[LiveTwin, TrafficActors]]:
    actors = make_traffic_actors(client, session)
    assert client.post(f"{T}/networks/builtin", json={"dataset": "jinan_3x4"}, headers=actors.engineer).status_code == 201
    network = service.get_network(session, "jinan_3x4")
    net, routes = service.files_of(network, settings.var_dir)
    twin = LiveTwin(network.id, network.code, net, routes, controller="max_pressure", speed=20.0)
    twin.twin.start()
    app.state.traffic_twin = twin
    try:
        deadline = time.monotonic() + 30
        while twin.twin.latest() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        yield twin, actors
    finally:
        twin.stop()
        del app.state.traffic_twin


def test_the_twin_reports_every_junction(client: TestClient, live: tuple[LiveTwin, TrafficActors]) -> None:
    _, actors = live
    status = client.get(f"{T}/twin", headers=actors.viewer).json()

    assert status["running"] is True
    assert status["network"] == "jinan_3x4"
    assert len(status["latest"]["junctions"]) == 12
    assert {j["mode"] for j in status["latest"]["junctions"].values()} == {"auto"}
    page = client.get("/traffic/live", headers=actors.viewer)
    assert page.status_code == 200
    assert "twin-map" in page.text
    assert "twin-no-control" in page.text  # a viewer sees no controls


def test_the_stream_sends_snapshots(client: TestClient, live: tuple[LiveTwin, TrafficActors]) -> None:
    _, actors = live
    with client.stream("GET", f"{T}/twin/stream", headers=actors.viewer) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        times = []
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: ") and line != "data: {}":
                times.append(json.loads(line[6:])["t"])
            if len(times) == 3:
                break
    assert times == sorted(times)
    assert times[-1] > times[0]


def test_only_the_traffic_operator_commands_and_everything_is_audited(
    client: TestClient, session: Session, live: tuple[LiveTwin, TrafficActors]
) -> None:
    twin, actors = live
    url = f"{T}/twin/junctions/intersection_2_2/commands"

    refused = client.post(url, json={"action": "force", "value": "EW_through", "duration_s": 30}, headers=actors.engineer)
    assert refused.status_code == 403
    forced = client.post(url, json={"action": "force", "value": "EW_through", "duration_s": 30}, headers=actors.signal_operator)
    assert forced.status_code == 201, forced.text
    assert forced.json()["duration_s"] == 30
    deadline = time.monotonic() + 20
    shown = None
    while time.monotonic() < deadline:
        shown = twin.twin.latest()["junctions"]["intersection_2_2"]  # type: ignore[index]
        if shown["phase"] == "EW_through" and shown["mode"] == "forced":
            break
        time.sleep(0.05)
    assert shown is not None
    assert shown["mode"] == "forced"
    assert shown["phase"] == "EW_through"
    bad_phase = client.post(url, json={"action": "force", "value": "diagonal", "duration_s": 30}, headers=actors.signal_operator)
    assert bad_phase.status_code == 422
    unknown = client.post(f"{T}/twin/junctions/nowhere/commands", json={"action": "release"}, headers=actors.signal_operator)
    assert unknown.status_code == 422
    released = client.post(url, json={"action": "release"}, headers=actors.signal_operator)
    assert released.status_code == 201

    session.expire_all()
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("traffic.twin.%")).order_by(AuditEntry.seq)).all()
    assert actions == [
        "traffic.twin.command_refused",
        "traffic.twin.command",
        "traffic.twin.command_failed",
        "traffic.twin.command_failed",
        "traffic.twin.command",
    ]
    assert [c.action for c in session.scalars(select(Command).order_by(Command.id))] == ["force", "release"]
    listed = client.get(f"{T}/twin/commands", headers=actors.viewer).json()
    assert [c["action"] for c in listed] == ["release", "force"]

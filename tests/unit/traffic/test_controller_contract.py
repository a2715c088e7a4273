"""The shared contract every registered controller passes, on a real SUMO run of the Jinan network.

Each controller in the registry runs the first 900 s of the Jinan real flow (all in one batch, two
worker processes); its recorded signals must keep the safety rules: only the junction's phases and
the yellows between them, a green of at least 5 s, a 5 s yellow between different greens, never two
conflicting priority greens, and no movement red for more than the maximum red while vehicles queue
on its lane. And it must move traffic: every phase is shown, vehicles finish their trips.
"""

from __future__ import annotations

import pytest

from citybrain.traffic.controllers import SafetyRules, check_signal_log, controller_names
from citybrain.traffic.network import TrafficNetwork, load_network
from citybrain.traffic.simulation import RunRequest, SimulationOutput, run_many
from tests.unit.traffic.sumo_scenarios import jinan_sumo_files

DURATION_S = 900
RULES = SafetyRules()

pytestmark = pytest.mark.sumo


@pytest.fixture(scope="module")
def network() -> TrafficNetwork:
    net, _routes = jinan_sumo_files()
    return load_network(net)


@pytest.fixture(scope="module")
def runs() -> dict[str, SimulationOutput]:
    net, routes = jinan_sumo_files()
    requests = [
        RunRequest(net, (routes,), name, seed=7, duration_s=DURATION_S, rules=RULES, record_signals=True) for name in controller_names()
    ]
    return {out.request.controller: out for out in run_many(requests, max_workers=2)}


@pytest.mark.parametrize("name", controller_names())
def test_controller_keeps_the_safety_rules(name: str, runs: dict[str, SimulationOutput], network: TrafficNetwork) -> None:
    out = runs[name]
    assert out.signal_changes is not None
    assert out.max_red_waiting_s is not None
    problems = [p for j in network.junctions for p in check_signal_log(j, out.signal_changes[j.id], DURATION_S, RULES)]
    assert problems == []
    assert max(out.max_red_waiting_s.values()) <= RULES.max_red_s


@pytest.mark.parametrize("name", controller_names())
def test_controller_serves_every_phase_and_moves_traffic(name: str, runs: dict[str, SimulationOutput], network: TrafficNetwork) -> None:
    out = runs[name]
    assert out.signal_changes is not None
    for junction in network.junctions:
        shown = {state for _t, state in out.signal_changes[junction.id]}
        assert all(phase.state in shown for phase in junction.phases), junction.id
    finished = sum(1 for t in out.trips if t.arrival_s is not None)
    assert finished > 300  # of about 1,700 vehicles due in 900 s, the short trips end within it

"""Controller building blocks without a simulator: the sequencer's safety rules, the safety check,
fixed-time cycles, Webster's timing and Max-Pressure's arithmetic, on a fake observation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from citybrain.traffic.controllers import ControllerContext, PhaseSequencer, SafetyRules, check_signal_log, make_controller
from citybrain.traffic.controllers.fixed_time import cycle_wish, webster_plan
from citybrain.traffic.controllers.max_pressure import MaxPressureController
from citybrain.traffic.controllers.registry import UnknownController
from citybrain.traffic.network import Junction, TrafficNetwork, load_network
from tests.unit.traffic.sumo_scenarios import jinan_sumo_files


@dataclass
class FakeObservation:
    """Lane counts set by hand; lanes not mentioned are empty."""

    counts: dict[str, int] = field(default_factory=dict)
    queued: dict[str, int] = field(default_factory=dict)

    def vehicles(self, lane_id: str) -> int:
        return self.counts.get(lane_id, 0)

    def halting(self, lane_id: str) -> int:
        return self.queued.get(lane_id, 0)

    def waiting_time(self, lane_id: str) -> float:
        return 0.0

    def approaching(self, lane_id: str) -> int:
        return self.counts.get(lane_id, 0) - self.queued.get(lane_id, 0)

    def distances_to_stop_line(self, lane_id: str) -> Sequence[float]:
        return ()


@pytest.fixture(scope="module")
def jinan() -> TrafficNetwork:
    net, _routes = jinan_sumo_files()
    return load_network(net)


@pytest.fixture(scope="module")
def junction(jinan: TrafficNetwork) -> Junction:
    return jinan.junction("intersection_2_2")


def lane_of(junction: Junction, approach: str, turn: str) -> str:
    return next(m.in_lane for m in junction.movements if m.approach == approach and m.turn == turn)


def run_sequencer(junction: Junction, wishes: Sequence[int], observation: FakeObservation, rules: SafetyRules) -> list[tuple[int, str]]:
    sequencer = PhaseSequencer(junction, rules)
    changes: list[tuple[int, str]] = []
    for now, wish in enumerate(wishes):
        state = sequencer.tick(now, wish, observation.vehicles)
        if not changes or changes[-1][1] != state:
            changes.append((now, state))
    return changes


def test_a_wish_waits_for_the_minimum_green_and_goes_through_yellow(junction: Junction) -> None:
    rules = SafetyRules()
    changes = run_sequencer(junction, [2] * 30, FakeObservation(), rules)
    assert changes == [(0, junction.phases[0].state), (5, junction.yellow_state(0, 2)), (10, junction.phases[2].state)]
    assert check_signal_log(junction, changes, 30, rules) == []


def test_the_guard_serves_a_waiting_phase_before_its_maximum_red(junction: Junction) -> None:
    rules = SafetyRules(max_red_s=120)
    waiting = FakeObservation(counts={lane_of(junction, "E", "left"): 3})
    sequencer = PhaseSequencer(junction, rules)
    ew_left = junction.phase_index("EW_left")
    first_green = None
    for now in range(200):
        state = sequencer.tick(now, 0, waiting.vehicles)  # the controller only ever wants phase 0
        if state == junction.phases[ew_left].state and first_green is None:
            first_green = now
    assert first_green is not None
    assert first_green <= rules.max_red_s
    assert sequencer.forced >= 1


def test_the_check_finds_a_missing_yellow_a_short_green_and_a_foreign_state(junction: Junction) -> None:
    rules = SafetyRules()
    p = [phase.state for phase in junction.phases]
    assert any("without yellow" in v for v in check_signal_log(junction, [(0, p[0]), (20, p[1])], 60, rules))
    short = check_signal_log(junction, [(0, p[0]), (3, junction.yellow_state(0, 1)), (8, p[1])], 60, rules)
    assert any("green for 3 s" in v for v in short)
    short_yellow = check_signal_log(junction, [(0, p[0]), (10, junction.yellow_state(0, 1)), (12, p[1])], 60, rules)
    assert any("yellow for 2 s" in v for v in short_yellow)
    assert any("neither a phase" in v for v in check_signal_log(junction, [(0, "G" * junction.link_count)], 60, rules))
    wrong_yellow = check_signal_log(junction, [(0, p[0]), (10, junction.yellow_state(1, 2)), (15, p[2])], 60, rules)
    assert any("does not leave the green shown before" in v for v in wrong_yellow)


def test_a_fixed_cycle_asks_for_the_next_phase_when_a_green_ends() -> None:
    wishes = [cycle_wish(t, [15, 15, 15, 15], 5) for t in range(85)]
    assert wishes[:15] == [0] * 15
    assert wishes[15:35] == [1] * 20  # yellow towards 1, then 1's green
    assert wishes[75:80] == [0] * 5  # the cycle closes: 80 s
    assert wishes[80:85] == [0] * 5


def test_fixed_time_shows_15_s_greens_and_5_s_yellows(jinan: TrafficNetwork) -> None:
    controller = make_controller("fixed_time", ControllerContext(jinan))
    changes: list[tuple[int, str]] = []
    empty = FakeObservation()
    for now in range(160):
        state = controller.step(now, empty)["intersection_1_1"]
        if not changes or changes[-1][1] != state:
            changes.append((now, state))
    assert [t for t, _ in changes] == [0, 15, 20, 35, 40, 55, 60, 75, 80, 95, 100, 115, 120, 135, 140, 155]
    assert check_signal_log(jinan.junction("intersection_1_1"), changes, 160, SafetyRules()) == []


def test_webster_sizes_the_cycle_from_critical_lane_flows(junction: Junction) -> None:
    flows = {}
    for approach, turn, vph in [
        ("N", "through", 180), ("S", "through", 270), ("N", "left", 90), ("S", "left", 45),
        ("E", "through", 360), ("W", "through", 180), ("E", "left", 45), ("W", "left", 90),
        ("N", "right", 500),  # right turns run in every phase and do not size it
    ]:  # fmt: skip
        flows[next(m.id for m in junction.movements if m.approach == approach and m.turn == turn)] = float(vph)
    plan = webster_plan(junction, flows, SafetyRules(), saturation_flow_vph=1800)
    assert plan.flow_ratios == pytest.approx((0.15, 0.05, 0.2, 0.05))
    assert plan.total_ratio == pytest.approx(0.45)
    assert plan.lost_time_s == 20  # 4 phases x 5 s
    # C = (1.5 x 20 + 5) / (1 - 0.45) = 63.6 s; 43.6 s of green split 3 : 1 : 4 : 1, at least 5 s each
    assert plan.greens_s == (15, 5, 19, 5)
    assert plan.cycle_s == 64


def test_webster_caps_an_oversaturated_junction_at_the_longest_cycle(junction: Junction) -> None:
    flows = {m.id: 1500.0 for m in junction.movements}
    plan = webster_plan(junction, flows, SafetyRules(), max_cycle_s=120)
    assert plan.total_ratio > 1
    assert plan.cycle_s == 120
    assert sum(plan.greens_s) == 100


def test_max_pressure_counts_queues_in_minus_queues_out(jinan: TrafficNetwork, junction: Junction) -> None:
    controller = MaxPressureController(ControllerContext(jinan))
    index = jinan.junctions.index(junction)
    n_through = next(m for m in junction.movements if m.approach == "N" and m.turn == "through")
    w_left = next(m for m in junction.movements if m.approach == "W" and m.turn == "left")
    queued = {n_through.in_lane: 8, n_through.out_lanes[0]: 1, n_through.out_lanes[2]: 2, w_left.in_lane: 4}
    pressures = controller.pressures(index, FakeObservation(queued=queued))
    # the east approach's left turn (also in EW_left) leads where the north through traffic goes
    assert pressures == [8 - 3, 0, 0, (0 - 3) + 4]
    weak = MaxPressureController(ControllerContext(jinan), measure="vehicles")
    assert weak.pressures(index, FakeObservation(counts=queued)) == [5, 0, 0, 1]


def test_max_pressure_decides_only_at_its_intervals(jinan: TrafficNetwork, junction: Junction) -> None:
    controller = MaxPressureController(ControllerContext(jinan), min_green_s=10, interval_s=15)
    index = jinan.junctions.index(junction)
    w_left = lane_of(junction, "W", "left")
    busy = FakeObservation(counts={w_left: 5}, queued={w_left: 5})
    sequencer = controller.sequencers[index]
    wishes = []
    for now in range(12):
        wishes.append(controller.choose(index, now, busy, sequencer))
        sequencer.tick(now, wishes[-1], busy.vehicles)
    assert wishes[:10] == [0] * 10  # the first decision comes after the 10 s minimum green
    assert wishes[10] == junction.phase_index("EW_left")


def test_an_unknown_controller_is_refused_by_name(jinan: TrafficNetwork) -> None:
    with pytest.raises(UnknownController, match="no controller called 'nope'"):
        make_controller("nope", ControllerContext(jinan))

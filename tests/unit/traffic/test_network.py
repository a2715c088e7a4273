"""The static network model: junctions, approaches, movements and the four standard phases."""

from __future__ import annotations

from pathlib import Path

import pytest

from citybrain.traffic.network import PHASE_NAMES, Junction, NetworkError, TrafficNetwork, assign_compass, load_network, movements_served
from tests.builders.sumo_net import crossroads
from tests.unit.traffic.sumo_scenarios import jinan_sumo_files


@pytest.fixture(scope="module")
def jinan() -> TrafficNetwork:
    net, _routes = jinan_sumo_files()
    return load_network(net)


def test_each_approach_gets_its_own_side_even_when_skewed() -> None:
    assert assign_compass({"a": 10.0, "b": 100.0, "c": 170.0, "d": 290.0}) == {"a": "N", "b": "E", "c": "S", "d": "W"}
    # two approaches in the north-east quadrant still get two sides
    assert assign_compass({"a": 30.0, "b": 60.0, "c": 200.0}) == {"a": "N", "b": "E", "c": "S"}
    with pytest.raises(NetworkError):
        assign_compass({str(k): 72.0 * k for k in range(5)})


def test_jinan_has_12_signalised_junctions_of_four_approaches_of_three_lanes(jinan: TrafficNetwork) -> None:
    assert len(jinan.junctions) == 12
    for junction in jinan.junctions:
        assert sorted(a.compass for a in junction.approaches) == ["E", "N", "S", "W"]
        assert all(len(a.lanes) == 3 for a in junction.approaches)
        assert len(junction.movements) == 12  # 4 approaches x (right, through, left), one lane each
        assert junction.link_count == 36  # each lane reaches the 3 lanes of its exit


def test_jinan_lanes_count_from_the_kerb(jinan: TrafficNetwork) -> None:
    # SUMO's lane 0 is the rightmost: it turns right, lane 1 goes straight, lane 2 turns left
    for junction in jinan.junctions:
        for m in junction.movements:
            index = jinan.lanes[m.in_lane].index
            assert m.turn == {0: "right", 1: "through", 2: "left"}[index]


def test_jinan_approaches_face_the_right_way(jinan: TrafficNetwork) -> None:
    junction = jinan.junction("intersection_1_1")
    sides = {a.edge_id: a.compass for a in junction.approaches}
    # CityFlow road ids end with their heading: 0 east, 1 north, 2 west, 3 south
    assert sides == {"road_0_1_0": "W", "road_1_0_1": "S", "road_2_1_2": "E", "road_1_2_3": "N"}


def check_phases(junction: Junction) -> None:
    assert [p.name for p in junction.phases] == list(PHASE_NAMES)
    served = movements_served(junction)
    for m in junction.movements:
        if m.turn == "right":
            assert served[m.id] == list(PHASE_NAMES), f"{m.id} must be allowed in every phase"
        else:
            assert len(served[m.id]) == 1, f"{m.id} is served by {served[m.id]}"
            axis = "NS" if m.approach in "NS" else "EW"
            kind = "through" if m.turn == "through" else "left"
            assert served[m.id] == [f"{axis}_{kind}"]
    for phase in junction.phases:
        assert len(phase.state) == junction.link_count
        priority = [i for i, ch in enumerate(phase.state) if ch == "G"]
        assert not any(junction.conflicts(i, j) for i in priority for j in priority if i < j)
        for m_id in phase.movements:
            assert junction.movement_by_id[m_id].turn != "right"


def test_jinan_every_movement_is_served_by_its_phase_and_rights_always(jinan: TrafficNetwork) -> None:
    for junction in jinan.junctions:
        check_phases(junction)


def test_yellow_turns_only_the_links_losing_green_yellow(jinan: TrafficNetwork) -> None:
    junction = jinan.junctions[0]
    for a in range(4):
        for b in range(4):
            if a == b:
                continue
            yellow = junction.yellow_state(a, b)
            for i, (sa, sy, sb) in enumerate(zip(junction.phases[a].state, yellow, junction.phases[b].state, strict=True)):
                if sa in "Gg" and sb not in "Gg":
                    assert sy == "y", i
                elif sa in "Gg":
                    assert sy in "Gg", i
                else:
                    assert sy == "r", i


def test_right_turns_yield_where_a_green_through_merges_into_their_exit(jinan: TrafficNetwork) -> None:
    junction = jinan.junction("intersection_1_1")
    ns_through = junction.phases[junction.phase_index("NS_through")]
    by_approach = {(m.approach, m.turn): m for m in junction.movements}
    # the west approach's right turn goes south, where the north approach's through traffic goes
    assert {ns_through.state[i] for i in by_approach[("W", "right")].link_indices} == {"g"}
    # the north approach's right turn goes west, which no green movement of this phase enters
    assert {ns_through.state[i] for i in by_approach[("N", "right")].link_indices} == {"G"}


@pytest.mark.sumo
def test_a_shared_lane_crossroads_gets_the_same_four_phases(tmp_path: Path) -> None:
    network = load_network(crossroads(tmp_path))
    (junction,) = network.junctions
    assert [(a.edge_id, a.compass) for a in junction.approaches] == [("N2C", "N"), ("E2C", "E"), ("S2C", "S"), ("W2C", "W")]
    check_phases(junction)
    assert network.approach_of_edge["W2C"].junction_id == "C"
    assert "WW2W" not in network.approach_of_edge  # a feeder into a priority node is no approach

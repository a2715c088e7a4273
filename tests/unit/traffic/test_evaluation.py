"""Evaluation: figures known by hand on a one-vehicle crossroads and on made-up outputs, repeatability
from a seed on Jinan, stops per junction (known on the crossroads, plausible on Jinan, counted without
changing the run), and modules that import without SUMO."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from citybrain.traffic.demand import Trip, movement_flows, read_trips
from citybrain.traffic.evaluation import evaluate, free_flow_floor, measure
from citybrain.traffic.network import load_network
from citybrain.traffic.simulation import RunRequest, SimulationOutput, TripRecord, run_many
from tests.builders.sumo_net import crossroads, routes
from tests.unit.traffic.sumo_scenarios import jinan_sumo_files


def test_travel_time_counts_approach_time_and_entry_waits_by_hand() -> None:
    trips = [Trip("a", 0, ()), Trip("b", 10, ()), Trip("c", 3590, ()), Trip("d", 4000, ())]
    request = RunRequest(Path("x.net.xml"), (Path("x.rou.xml"),), "fixed_time", duration_s=3600)
    output = SimulationOutput(
        request=request,
        wall_s=1.0,
        approach_vehicle_s={"J": 100.0},
        queue_vehicle_s={"J": 36.0},
        max_queue={"J": 3},
        entered={"J": 2},
        stops={"J": 3},
        trips=(
            TripRecord("a", 2, 2, 150, 148, 10, 20, 1),
            TripRecord("b", 10, 0, None, 3590, 30, 40, 3),  # still driving at the end
        ),
    )

    class OneJunction:
        junctions = (type("J", (), {"id": "J"})(),)

    metrics = measure(OneJunction(), trips, output)  # type: ignore[arg-type]
    assert metrics.vehicles_due == 3  # d departs after the end
    assert metrics.inserted == 2
    assert metrics.never_inserted == 1
    assert metrics.att_s == 50.0  # 100 vehicle-seconds over the 2 inserted vehicles
    # plus a's 2 s wait to enter and c's 10 s wait that never ended, over the 3 vehicles due
    assert metrics.att_with_entry_s == pytest.approx((100 + 2 + 10) / 3)
    assert metrics.completed == 1
    assert metrics.mean_trip_s == 148
    assert metrics.mean_queue_veh == 0.01
    assert metrics.junctions[0].att_s == 50.0
    assert (metrics.junctions[0].stops, metrics.junctions[0].stops_per_vehicle) == (3, 1.5)
    assert metrics.mean_stops == 1  # the network's figure stays tripinfo's, over completed trips
    with pytest.raises(ValueError, match="count stops"):
        measure(OneJunction(), trips, replace(output, stops=None))  # type: ignore[arg-type]


@pytest.mark.sumo
def test_one_vehicle_on_an_empty_road_takes_the_free_flow_time_through_the_approach(tmp_path: Path) -> None:
    net = crossroads(tmp_path, arm_m=200, feeder_m=100, speed_mps=10)
    # fixed time shows west-east green from 40 s to 55 s; leaving at 15 s the vehicle meets it
    rou = routes(tmp_path, [("v", 15, "WW2W W2C C2E E2EE")])
    network = load_network(net)
    trips = read_trips([rou])
    (out,) = run_many([RunRequest(net, (rou,), "fixed_time", duration_s=200)])
    metrics = measure(network, trips, out)
    approach = network.edges["W2C"]
    floor = free_flow_floor(network, trips, duration_s=200)
    assert floor.att_s == pytest.approx(approach.length_m / approach.speed_mps)
    assert metrics.att_s == pytest.approx(floor.att_s, abs=1.0)  # counted in whole simulated seconds
    assert metrics.att_with_entry_s == metrics.att_s
    assert (metrics.inserted, metrics.never_inserted, metrics.completed) == (1, 0, 1)
    assert metrics.mean_waiting_s == 0
    assert metrics.mean_stops == 0
    assert metrics.junctions[0].vehicles == 1
    assert metrics.junctions[0].stops == 0
    assert movement_flows(network, trips, end_s=200)["W2C_0>C2E"] == pytest.approx(18.0)  # 1 vehicle in 200 s


@pytest.mark.sumo
def test_a_vehicle_meeting_a_red_light_stops_once_at_that_junction_and_one_meeting_green_never(tmp_path: Path) -> None:
    net = crossroads(tmp_path, arm_m=200, feeder_m=100, speed_mps=10)
    network = load_network(net)
    # fixed time shows west-east green from 40 s to 55 s: leaving at 0 s the vehicle reaches the stop
    # line at 30 s and waits for it, leaving at 15 s it drives through (45 s)
    red, green = tmp_path / "red", tmp_path / "green"
    red.mkdir()
    green.mkdir()
    red_rou = routes(red, [("v", 0, "WW2W W2C C2E E2EE")])
    green_rou = routes(green, [("v", 15, "WW2W W2C C2E E2EE")])
    outputs = run_many([RunRequest(net, (rou,), "fixed_time", duration_s=200) for rou in (red_rou, green_rou)], max_workers=2)
    met_red, met_green = (measure(network, read_trips([rou]), out) for rou, out in zip((red_rou, green_rou), outputs, strict=True))
    (junction,) = met_red.junctions
    assert (junction.stops, junction.stops_per_vehicle) == (1, 1.0)
    assert met_red.mean_stops == 1  # SUMO's own count for the trip agrees
    assert (met_green.junctions[0].stops, met_green.mean_stops) == (0, 0)


@pytest.mark.sumo
def test_stops_on_jinan_are_plausible_and_counting_them_leaves_the_run_unchanged() -> None:
    net, rou = jinan_sumo_files()
    network = load_network(net)
    counted, uncounted = run_many(
        [RunRequest(net, (rou,), "max_pressure", seed=5, duration_s=600, count_stops=count) for count in (True, False)], max_workers=2
    )
    # the detectors only watch: every trip, every approach's vehicle-seconds and queue are the same
    assert uncounted.stops is None
    assert counted.trips == uncounted.trips
    assert counted.approach_vehicle_s == uncounted.approach_vehicle_s
    assert counted.queue_vehicle_s == uncounted.queue_vehicle_s
    metrics = measure(network, read_trips([rou]), counted)
    assert len(metrics.junctions) == 12
    assert all(j.stops >= 0 and 0 < j.stops_per_vehicle < 5 for j in metrics.junctions)
    # nearly every stop is on a signalised approach: the sum is close to SUMO's stops over all trips
    assert sum(j.stops for j in metrics.junctions) == pytest.approx(sum(t.stops for t in counted.trips), rel=0.05)


@pytest.mark.sumo
def test_a_seed_repeats_its_run_and_another_seed_differs() -> None:
    net, rou = jinan_sumo_files()
    comparison = evaluate(net, [rou], ["max_pressure"], seeds=[3, 3, 4], duration_s=600, max_workers=2)
    a, b, c = comparison.summary("max_pressure").runs
    same = ("att_s", "att_with_entry_s", "completed", "mean_trip_s", "mean_queue_veh", "junctions")
    assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]
    assert a.att_s != c.att_s
    assert comparison.free_flow.att_s < a.att_s


def test_the_traffic_modules_import_without_sumo() -> None:
    code = (
        "import sys\n"
        "import citybrain.traffic.network, citybrain.traffic.simulation, citybrain.traffic.evaluation\n"
        "import citybrain.traffic.controllers, citybrain.traffic.demand\n"
        "assert not {'libsumo', 'sumolib', 'traci', 'sumo'} & set(sys.modules), sys.modules.keys()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

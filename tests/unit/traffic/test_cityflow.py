"""CityFlow -> SUMO conversion: on the real Jinan 3x4 network and on small generated grids.

The vehicles SUMO gets must be exactly those of the flow file (count, departure times, routes), every
CityFlow laneLink must become a SUMO connection with the lanes renumbered (CityFlow counts from the
centre line, SUMO from the kerb), and the result must run in SUMO. netconvert runs once per network
(module-scoped fixtures).
"""

from __future__ import annotations

import itertools
import json
import os
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from citybrain.traffic import cityflow, sumo_tools
from citybrain.traffic.cityflow import CityFlowError, Flow, VehicleType, convert_to_sumo
from citybrain.traffic.scenario import Scenario, ScenarioError, count_vehicles, default_cache_dir, open_sumo_scenario
from tests.builders.cityflow import flow, grid_roadnet, road_id

ROOT = Path(__file__).resolve().parents[3]
JINAN_ROADNET = "roadnet_3_4.json"
JINAN_FLOW = "anon_3_4_jinan_real.json"


def data_dir() -> Path:
    return Path(os.environ.get("CITYBRAIN_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def jinan_dir() -> Path:
    folder = data_dir() / "traffic" / "jinan_3x4"
    if not (folder / JINAN_ROADNET).is_file():
        pytest.skip(f"the Jinan 3x4 network is not in {folder} (set CITYBRAIN_DATA_DIR)")
    return folder


@pytest.fixture(scope="module")
def jinan(jinan_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return convert_to_sumo(jinan_dir / JINAN_ROADNET, jinan_dir / JINAN_FLOW, tmp_path_factory.mktemp("cache"))


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def sumo_vehicles(routes: Path) -> list[tuple[str, float, tuple[str, ...]]]:
    """(id, depart, edges) of every vehicle in a SUMO route file, in file order."""
    out = []
    for vehicle in ET.parse(routes).getroot().iter("vehicle"):  # noqa: S314 - our own test output
        route = vehicle.find("route")
        assert route is not None
        out.append((vehicle.attrib["id"], float(vehicle.attrib["depart"]), tuple(route.attrib["edges"].split())))
    return out


def read_net(path: Path) -> Any:
    import sumolib

    return sumolib.net.readNet(str(path), withInternal=False)


def run_sumo(scenario: Scenario, folder: Path, *, end: float, extra: tuple[str, ...] = ()) -> tuple[str, ET.Element]:
    """Run the sumo binary on ``scenario`` with teleporting off; return its log and statistics."""
    stats = folder / "stats.xml"
    assert scenario.config is not None
    log = sumo_tools.run(
        "sumo",
        [
            "-c",
            str(scenario.config),
            "--end",
            str(end),
            "--time-to-teleport",
            "-1",
            "--no-step-log",
            "--statistic-output",
            str(stats),
            *extra,
        ],
        timeout=120,
    )
    return log, ET.parse(stats).getroot()  # noqa: S314 - SUMO's own output


# --- pure functions ---------------------------------------------------------------------------------


def test_lanes_are_renumbered_from_the_kerb() -> None:
    assert [cityflow.sumo_lane(i, 3) for i in range(3)] == [2, 1, 0]
    assert cityflow.sumo_lane(0, 1) == 0


def one_flow(start: float, end: float, interval: float) -> Flow:
    vt = VehicleType(5, 2, 2, 4.5, 2, 4.5, 2.5, 11.111, 2)
    return Flow(vehicle=vt, route=("r",), start_time=start, end_time=end, interval=interval)


@pytest.mark.parametrize(
    ("start", "end", "interval", "expected"),
    [
        (7, 7, 1.0, [7]),  # startTime == endTime: one vehicle
        (7, 7, 0.0, [7]),  # ... whatever the interval
        (10, 20, 5.0, [10, 15, 20]),  # endTime inclusive
        (10, 19, 5.0, [10, 15]),
        (0, 10, 2.5, [0, 3, 5, 8, 10]),  # released at the first whole step after each interval
        (0, 1, 0.4, [0, 1, 1]),  # several in one step
        (0.5, 3, 1.0, [1, 2, 3]),  # a start between steps waits for the next step
        (0.5, 0.5, 1.0, []),  # ... and a one-vehicle flow between steps never fires, as in CityFlow
    ],
)
def test_departure_times_follow_cityflows_engine(start: float, end: float, interval: float, expected: list[float]) -> None:
    assert cityflow.flow_departure_times(one_flow(start, end, interval)) == expected


def test_an_unbounded_flow_runs_until_the_horizon() -> None:
    times = cityflow.flow_departure_times(one_flow(3000, -1, 100), horizon=3600)
    assert times == [3000, 3100, 3200, 3300, 3400, 3500]


def test_jinan_departures_are_the_flow_files(jinan_dir: Path) -> None:
    roadnet = cityflow.read_roadnet(jinan_dir / JINAN_ROADNET)
    raw = json.loads((jinan_dir / JINAN_FLOW).read_text())
    vehicles = cityflow.departures(cityflow.read_flows(jinan_dir / JINAN_FLOW), roadnet)
    assert len(vehicles) == len(raw) == 6295
    assert [v.depart for v in vehicles] == sorted(v.depart for v in vehicles)
    by_id = {v.vehicle_id: v for v in vehicles}
    for i, entry in enumerate(raw):
        assert entry["startTime"] == entry["endTime"]  # Jinan: one vehicle per entry
        vehicle = by_id[f"flow_{i}_0"]
        assert (vehicle.depart, vehicle.route) == (entry["startTime"], tuple(entry["route"]))


def test_a_route_with_gaps_is_joined_by_shortest_paths_as_cityflow_does() -> None:
    net = cityflow.parse_roadnet(grid_roadnet(2, 2))
    # enter at the south-west, leave at the north-east: CityFlow fills in the roads between
    full = cityflow.expand_route([road_id(1, 0, 1), road_id(2, 2, 1)], net)
    assert full[0] == road_id(1, 0, 1)
    assert full[-1] == road_id(2, 2, 1)
    assert len(full) == 4  # two blocks: up and across, then out
    assert all(b in net.successors(a) for a, b in itertools.pairwise(full))
    # adjacent roads are kept as given
    given = (road_id(1, 0, 1), road_id(1, 1, 1), road_id(1, 2, 0), road_id(2, 2, 1))
    assert cityflow.expand_route(given, net) == given


def test_a_route_that_cannot_be_driven_is_refused() -> None:
    net = cityflow.parse_roadnet(grid_roadnet(1, 1))
    # road_1_1_2 leaves westwards to a virtual intersection, where nothing goes on
    with pytest.raises(CityFlowError, match="no path"):
        cityflow.expand_route([road_id(1, 1, 2), road_id(1, 1, 0)], net)
    with pytest.raises(CityFlowError, match="unknown road 'nowhere'"):
        cityflow.expand_route(["nowhere"], net)


def centre(net: dict[str, Any]) -> dict[str, Any]:
    return next(x for x in net["intersections"] if x["id"] == "intersection_1_1")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda net: net["roads"][0].pop("lanes"), "roads[0]"),
        (lambda net: net["roads"][0].update(endIntersection="atlantis"), "roads[0]"),
        (lambda net: centre(net)["roadLinks"][0].update(startRoad="nope"), "].roadLinks[0]"),
        (lambda net: centre(net)["roadLinks"][0]["laneLinks"][0].update(endLaneIndex=3), "].roadLinks[0].laneLinks[0]"),
        (lambda net: centre(net)["trafficLight"]["lightphases"][1]["availableRoadLinks"].append(12), "].trafficLight.lightphases[1]"),
        (lambda net: net["roads"].append(dict(net["roads"][0])), "roads"),
    ],
)
def test_a_broken_roadnet_is_refused_with_where_and_why(change: Any, where: str) -> None:
    data = grid_roadnet(1, 1)
    change(data)
    with pytest.raises(CityFlowError) as caught:
        cityflow.parse_roadnet(data, file="roadnet.json")
    assert where in caught.value.params["where"]
    assert str(caught.value).startswith("roadnet.json: ")


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"route": []}, "[0].route"),
        ({"interval": 0, "endTime": 100}, "[0].interval"),
        ({"startTime": 50, "endTime": 10}, "[0]"),
        ({"vehicle": {"length": 5}}, "[0].vehicle"),
    ],
)
def test_a_broken_flow_is_refused(entry: dict[str, Any], where: str) -> None:
    with pytest.raises(CityFlowError) as caught:
        cityflow.parse_flows([{**flow([road_id(0, 1, 0)]), **entry}])
    assert caught.value.params["where"] == where


# --- Jinan -----------------------------------------------------------------------------------------


@pytest.mark.sumo
def test_jinan_vehicles_match_the_flow_file_exactly(jinan: Scenario, jinan_dir: Path) -> None:
    raw = json.loads((jinan_dir / JINAN_FLOW).read_text())
    vehicles = sumo_vehicles(jinan.routes)
    assert jinan.vehicles == len(vehicles) == 6295
    assert len({v[0] for v in vehicles}) == 6295
    departs = [v[1] for v in vehicles]
    assert departs == sorted(departs)  # SUMO needs them in order
    assert Counter((v[1], v[2]) for v in vehicles) == Counter((float(e["startTime"]), tuple(e["route"])) for e in raw)
    for vehicle_id, depart, route in vehicles:
        i = int(vehicle_id.split("_")[1])
        assert (depart, route) == (raw[i]["startTime"], tuple(raw[i]["route"]))


@pytest.mark.sumo
def test_jinan_vehicle_type_is_cityflows(jinan: Scenario) -> None:
    root = ET.parse(jinan.routes).getroot()  # noqa: S314 - our own output
    (vtype,) = root.iter("vType")
    assert {k: float(v) for k, v in vtype.attrib.items() if k != "id"} == {
        "length": 5.0,
        "width": 2.0,
        "minGap": 2.5,
        "maxSpeed": 11.111,
        "accel": 2.0,
        "decel": 4.5,
        "emergencyDecel": 4.5,
    }
    assert all(v.attrib["type"] == vtype.attrib["id"] for v in root.iter("vehicle"))
    assert {(v.attrib["departLane"], v.attrib["departSpeed"]) for v in root.iter("vehicle")} == {("best", "max")}


@pytest.mark.sumo
def test_jinan_has_a_traffic_light_at_each_of_its_12_junctions(jinan: Scenario, jinan_dir: Path) -> None:
    net = read_net(jinan.net)
    raw = json.loads((jinan_dir / JINAN_ROADNET).read_text())
    real = {x["id"] for x in raw["intersections"] if not x["virtual"]}
    assert len(real) == 12
    assert {tls.getID() for tls in net.getTrafficLights()} == real
    assert {node.getID() for node in net.getNodes() if node.getType().startswith("traffic_light")} == real
    assert {edge.getID() for edge in net.getEdges()} == {road["id"] for road in raw["roads"]}
    # CityFlow's coordinates are kept
    assert net.getNode("intersection_2_3").getCoord() == (400.0, 1600.0)


@pytest.mark.sumo
def test_every_jinan_lane_link_is_a_sumo_connection_with_lanes_renumbered(jinan: Scenario, jinan_dir: Path) -> None:
    net = read_net(jinan.net)
    raw = json.loads((jinan_dir / JINAN_ROADNET).read_text())
    lanes = {road["id"]: len(road["lanes"]) for road in raw["roads"]}
    turn = {"go_straight": "s", "turn_left": "l", "turn_right": "r"}
    expected = set()
    for node in raw["intersections"]:
        for link in node["roadLinks"]:
            start, end = link["startRoad"], link["endRoad"]
            for lane_link in link["laneLinks"]:
                from_lane = lanes[start] - 1 - lane_link["startLaneIndex"]
                to_lane = lanes[end] - 1 - lane_link["endLaneIndex"]
                expected.add((f"{start}_{from_lane}", f"{end}_{to_lane}", turn[link["type"]], node["id"]))
    actual = {
        (c.getFromLane().getID(), c.getToLane().getID(), c.getDirection(), c.getTLSID())
        for edge in net.getEdges()
        for lane in edge.getLanes()
        for c in lane.getOutgoing()
    }
    assert len(expected) == 432
    # the same connections, no more: SUMO's own turn classification agrees with CityFlow's, and
    # CityFlow's inner lane 0 (left turns) is SUMO's leftmost lane 2
    assert actual == expected
    assert ("road_0_1_0_2", "road_1_1_1_2", "l", "intersection_1_1") in actual


@pytest.mark.sumo
def test_jinan_matches_the_third_party_conversion(jinan: Scenario) -> None:
    folder = data_dir() / "traffic" / "jinan_3x4_sumo"
    if not (folder / "jinan.net.xml").is_file():
        pytest.skip(f"no third-party conversion in {folder}")
    ours, theirs = read_net(jinan.net), read_net(folder / "jinan.net.xml")
    assert {e.getID() for e in ours.getEdges()} == {e.getID() for e in theirs.getEdges()}
    for edge in theirs.getEdges():
        mine = ours.getEdge(edge.getID())
        assert (mine.getFromNode().getID(), mine.getToNode().getID(), mine.getLaneNumber()) == (
            edge.getFromNode().getID(),
            edge.getToNode().getID(),
            edge.getLaneNumber(),
        )
        # ours has CityFlow's 4 m lanes (theirs SUMO's 3.2 m), so junctions are a little larger
        assert mine.getLength() == pytest.approx(edge.getLength(), abs=6.0)
    # the same lane-to-lane connections, for the 432 laneLinks both converted
    theirs_connections = {
        (c.getFromLane().getID(), c.getToLane().getID()) for e in theirs.getEdges() for lane in e.getLanes() for c in lane.getOutgoing()
    }
    ours_connections = {
        (c.getFromLane().getID(), c.getToLane().getID()) for e in ours.getEdges() for lane in e.getLanes() for c in lane.getOutgoing()
    }
    assert ours_connections <= theirs_connections
    assert Counter(v[1:] for v in sumo_vehicles(jinan.routes)) == Counter(v[1:] for v in sumo_vehicles(folder / "jinan.rou.xml"))


@pytest.mark.sumo
def test_sumo_runs_jinan_without_teleporting(jinan: Scenario, tmp_path: Path) -> None:
    log, stats = run_sumo(jinan, tmp_path, end=300)
    assert "Error" not in log
    vehicles = stats.find("vehicles")
    assert vehicles is not None
    due = sum(1 for _, depart, _ in sumo_vehicles(jinan.routes) if depart < 300)
    inserted = int(vehicles.attrib["inserted"])
    assert due > 400
    # an empty network at the start takes every vehicle on time
    assert inserted == due
    teleports = stats.find("teleports")
    assert teleports is not None
    assert int(teleports.attrib["total"]) == 0


# --- small generated networks ----------------------------------------------------------------------


def grid_flows(rows: int, cols: int) -> list[dict[str, Any]]:
    """Every movement at the grid's corner junction plus longer trips, one with a gap CityFlow fills."""
    flows = [
        flow([road_id(0, 1, 0), road_id(1, 1, 0)], start=0, end=20, interval=10),  # straight, 3 vehicles
        flow([road_id(0, 1, 0), road_id(1, 1, 1)], start=2),  # left
        flow([road_id(0, 1, 0), road_id(1, 1, 3)], start=4),  # right
        flow([road_id(1, 0, 1), road_id(1, 1, 1)], start=1, end=31, interval=15),  # north, 3 vehicles
        flow([road_id(1, 0, 1), road_id(1, 1, 2)], start=1, length=8.0, maxSpeed=8.0),  # a different vehicle type
    ]
    if rows > 1 or cols > 1:
        flows.append(flow([road_id(0, 1, 0), road_id(cols, rows, 1)], start=5))  # corner to corner, gap filled
    return flows


@pytest.fixture(scope="module", params=[(1, 1), (1, 2), (2, 2)], ids=["single", "1x2", "2x2"])
def grid(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, dict[str, Any], list[dict[str, Any]]]:
    rows, cols = request.param
    folder = tmp_path_factory.mktemp(f"grid{rows}x{cols}")
    roadnet, flows = grid_roadnet(rows, cols), grid_flows(rows, cols)
    scenario = convert_to_sumo(write_json(folder / "roadnet.json", roadnet), write_json(folder / "flow.json", flows), folder / "cache")
    return scenario, roadnet, flows


@pytest.mark.sumo
def test_generated_grids_convert_to_networks_with_a_light_per_junction(grid: tuple[Scenario, dict[str, Any], list[dict[str, Any]]]) -> None:
    scenario, roadnet, _ = grid
    net = read_net(scenario.net)
    real = {x["id"] for x in roadnet["intersections"] if not x["virtual"]}
    assert {tls.getID() for tls in net.getTrafficLights()} == real
    links = sum(len(link["laneLinks"]) for x in roadnet["intersections"] for link in x["roadLinks"])
    assert sum(len(lane.getOutgoing()) for e in net.getEdges() for lane in e.getLanes()) == links


@pytest.mark.sumo
def test_generated_grids_run_in_sumo_with_the_flow_files_vehicles(
    grid: tuple[Scenario, dict[str, Any], list[dict[str, Any]]], tmp_path: Path
) -> None:
    scenario, roadnet, flows = grid
    expected = {}
    for i, entry in enumerate(flows):
        route = cityflow.expand_route(entry["route"], cityflow.parse_roadnet(roadnet))
        t, k = entry["startTime"], 0
        while t <= entry["endTime"]:
            expected[f"flow_{i}_{k}"] = (float(t), route)
            t, k = t + entry["interval"], k + 1
    assert {v[0]: v[1:] for v in sumo_vehicles(scenario.routes)} == expected
    assert scenario.vehicles == len(expected)

    routes_driven = tmp_path / "vehroutes.xml"
    log, stats = run_sumo(scenario, tmp_path, end=900, extra=("--vehroute-output", str(routes_driven)))
    assert "Error" not in log
    vehicles = stats.find("vehicles")
    assert vehicles is not None
    assert int(vehicles.attrib["inserted"]) == len(expected)
    driven = {}
    for vehicle in ET.parse(routes_driven).getroot().iter("vehicle"):  # noqa: S314 - SUMO's own output
        route = vehicle.find("route")
        assert route is not None
        driven[vehicle.attrib["id"]] = (float(vehicle.attrib["depart"]), tuple(route.attrib["edges"].split()))
    # every vehicle left on time and drove its route to the end
    assert driven == expected


# --- cache -----------------------------------------------------------------------------------------


@pytest.mark.sumo
def test_the_same_input_is_converted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roadnet = write_json(tmp_path / "roadnet.json", grid_roadnet(1, 1))
    flows = write_json(tmp_path / "flow.json", grid_flows(1, 1))
    cache = tmp_path / "cache"
    first = convert_to_sumo(roadnet, flows, cache)
    assert not first.from_cache

    def no_netconvert(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("netconvert ran for a cached network")

    monkeypatch.setattr(sumo_tools, "run_netconvert", no_netconvert)
    again = convert_to_sumo(roadnet, flows, cache)
    assert again == Scenario(
        net=first.net, routes=first.routes, config=first.config, vehicles=first.vehicles, source_hash=first.source_hash, from_cache=True
    )
    # a copy of the same bytes elsewhere is the same input
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "r.json").write_bytes(roadnet.read_bytes())
    (copy / "f.json").write_bytes(flows.read_bytes())
    assert convert_to_sumo(copy / "r.json", copy / "f.json", cache).net == first.net

    monkeypatch.undo()
    write_json(flows, [*grid_flows(1, 1), flow([road_id(0, 1, 0), road_id(1, 1, 0)], start=60)])
    changed = convert_to_sumo(roadnet, flows, cache)
    assert not changed.from_cache
    assert changed.source_hash != first.source_hash
    assert changed.net.parent != first.net.parent
    assert changed.vehicles == first.vehicles + 1
    assert first.net.is_file()  # the old entry is still there for whoever uses it
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.source_hash, changed.source_hash])


@pytest.mark.sumo
def test_bad_input_leaves_no_cache_entry(tmp_path: Path) -> None:
    roadnet = write_json(tmp_path / "roadnet.json", grid_roadnet(1, 1))
    flows = write_json(tmp_path / "flow.json", [flow(["road_9_9_9"])])
    cache = tmp_path / "cache"
    with pytest.raises(CityFlowError, match=r"flow\.json: \[0\]\.route: unknown road 'road_9_9_9'"):
        convert_to_sumo(roadnet, flows, cache)
    assert list(cache.iterdir()) == []


def test_the_default_cache_is_under_the_var_dir(tmp_path: Path) -> None:
    assert default_cache_dir(tmp_path) == tmp_path / "traffic" / "scenarios"


# --- opening SUMO scenarios ------------------------------------------------------------------------


def test_an_existing_sumo_scenario_opens_as_it_is() -> None:
    folder = data_dir() / "traffic" / "jinan_3x4_sumo"
    if not (folder / "jinan.net.xml").is_file():
        pytest.skip(f"no SUMO scenario in {folder}")
    scenario = open_sumo_scenario(folder / "jinan.net.xml", folder / "jinan.rou.xml", config=folder / "jinan.sumocfg")
    assert scenario.vehicles == 6295
    assert scenario.net == folder / "jinan.net.xml"
    assert scenario.config == folder / "jinan.sumocfg"
    assert len(scenario.source_hash) == 64
    with pytest.raises(ScenarioError, match="not a SUMO network"):
        open_sumo_scenario(folder / "jinan.rou.xml", folder / "jinan.rou.xml")
    with pytest.raises(ScenarioError, match="no such file"):
        open_sumo_scenario(folder / "missing.net.xml", folder / "jinan.rou.xml")


def test_route_files_count_vehicles_trips_and_flows(tmp_path: Path) -> None:
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        """<routes>
        <vehicle id="a" depart="0"><route edges="x"/></vehicle>
        <trip id="b" depart="1" from="x" to="y"/>
        <flow id="c" begin="0" end="100" number="7" from="x" to="y"/>
        <flow id="d" begin="0" end="100" period="10" from="x" to="y"/>
        <flow id="e" begin="0" end="3600" vehsPerHour="360" from="x" to="y"/>
        </routes>"""
    )
    assert count_vehicles(routes) == 1 + 1 + 7 + 10 + 360
    broken = tmp_path / "broken.rou.xml"
    broken.write_text("<routes><vehicle")
    with pytest.raises(ScenarioError, match="not well-formed"):
        count_vehicles(broken)

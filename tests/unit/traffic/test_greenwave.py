"""Green waves: MAXBAND against answers known by hand and by brute force, bands checked geometrically,
the time-space diagram, and the plan against uncoordinated offsets in SUMO.

The geometric checks do not reuse the solver's formulas: they take the plan's offsets, greens, cycle
and speeds, send vehicles along the arterial at those speeds, and measure which departure times meet
green everywhere (sampled every few hundredths of a second).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citybrain.traffic import greenwave
from citybrain.traffic.cityflow import convert_to_sumo
from citybrain.traffic.greenwave import (
    Arterial,
    ArterialJunction,
    CorridorDemand,
    GreenWaveError,
    GreenWavePlan,
    SpeedRange,
    check_in_sumo,
    corridor_from_sumo,
    dual_ring_junction,
    maxband,
    signal_programs,
    time_space_diagram,
)
from tests.builders.cityflow import flow, grid_roadnet

ROOT = Path(__file__).resolve().parents[3]


def arterial(
    distances: list[float], cycle: float | tuple[float, float], red: float | list[float], speed: float = 10.0, **kw: Any
) -> Arterial:
    reds = red if isinstance(red, list) else [red] * (len(distances) + 1)
    junctions = tuple(ArterialJunction(f"J{i + 1}", r, r) for i, r in enumerate(reds))
    return Arterial(junctions, tuple(distances), cycle, SpeedRange(speed), **kw)


# --- an independent geometric check ----------------------------------------------------------------


def circular_distance(a: float, b: float, cycle: float) -> float:
    """How far apart two times are on a clock of ``cycle`` seconds."""
    d = (a - b) % cycle
    return min(d, cycle - d)


def longest_run(passing: np.ndarray) -> int:
    """Length of the longest run of True in a circular boolean array."""
    values = passing.tolist()
    if all(values):
        return len(values)
    best = run = 0
    for value in values + values:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def green(arrival: np.ndarray, start: float, length: float, cycle: float) -> np.ndarray:
    """Does a vehicle arriving at ``arrival`` (s) meet green in [start, start + length) mod cycle?"""
    return np.mod(arrival - start, cycle) < length - 1e-9


def geometric_bands(
    cycle: float,
    positions: list[float],
    out_starts: list[float],
    out_greens: list[float],
    in_starts: list[float],
    in_greens: list[float],
    speeds_out: list[float],
    speeds_in: list[float],
    step: float = 0.02,
) -> tuple[float, float]:
    """(outbound, inbound) bandwidth in s: the longest window of departure times, from the first
    junction outbound and from the last inbound, in which a vehicle at the given speeds meets only greens."""
    departures = np.arange(0.0, cycle, step)
    t_out = [0.0]
    for i in range(len(positions) - 1):
        t_out.append(t_out[-1] + (positions[i + 1] - positions[i]) / speeds_out[i])
    t_in = [0.0]
    for i in reversed(range(len(positions) - 1)):
        t_in.append(t_in[-1] + (positions[i + 1] - positions[i]) / speeds_in[i])
    t_in = t_in[::-1]  # seconds from the last junction to junction i
    out_ok = np.ones_like(departures, dtype=bool)
    in_ok = np.ones_like(departures, dtype=bool)
    for i in range(len(positions)):
        out_ok &= green(departures + t_out[i], out_starts[i], out_greens[i], cycle)
        in_ok &= green(departures + t_in[i], in_starts[i], in_greens[i], cycle)
    return longest_run(out_ok) * step, longest_run(in_ok) * step


def plan_bands(plan: GreenWavePlan) -> tuple[float, float]:
    j = plan.junctions
    return geometric_bands(
        plan.cycle_s,
        [x.position_m for x in j],
        [x.offset_s for x in j],
        [x.green_outbound_s for x in j],
        [x.inbound_green_start_s for x in j],
        [x.green_inbound_s for x in j],
        list(plan.speeds_outbound_mps),
        list(plan.speeds_inbound_mps),
    )


def assert_band_passes(plan: GreenWavePlan) -> None:
    """Vehicles inside the reported bands (sampled, edges excluded) meet green at every junction,
    no earlier than the queue clearance after its start."""
    arterial_ = plan.arterial
    out_times = plan.arrival_times_outbound_s()
    in_times = plan.arrival_times_inbound_s()
    for band_start, width, times, direction in (
        (plan.band_start_outbound_s, plan.bandwidth_outbound_s, out_times, "outbound"),
        (plan.band_start_inbound_s, plan.bandwidth_inbound_s, in_times, "inbound"),
    ):
        if width < 0.05:
            continue
        for s in np.linspace(band_start + 0.01, band_start + width - 0.01, 25):
            for i, timing in enumerate(plan.junctions):
                start = timing.offset_s if direction == "outbound" else timing.inbound_green_start_s
                length = timing.green_outbound_s if direction == "outbound" else timing.green_inbound_s
                clearance = getattr(arterial_.junctions[i], f"queue_clearance_{direction}_s")
                into_green = (s + times[i] - start) % plan.cycle_s
                assert clearance - 1e-6 <= into_green < length, (direction, timing.id, s, into_green)


# --- MAXBAND: answers known by hand ----------------------------------------------------------------


@pytest.mark.parametrize(("distance", "offset"), [(450.0, 45.0), (900.0, 0.0)])
def test_two_junctions_perfect_two_way_progression(distance: float, offset: float) -> None:
    # C = 90 s, green 45 s, 10 m/s: a travel time of half a cycle (or a whole one) lets both bands
    # take the whole green, with the second junction half a cycle (or no time) after the first
    plan = maxband(arterial([distance], 90, 45))
    assert plan.optimal
    assert plan.bandwidth_outbound_s == pytest.approx(45, abs=1e-4)
    assert plan.bandwidth_inbound_s == pytest.approx(45, abs=1e-4)
    assert plan.bandwidth_outbound_fraction == pytest.approx(0.5, abs=1e-6)
    assert plan.objective == pytest.approx(1.0, abs=1e-6)
    assert plan.offsets_s[0] == 0
    assert circular_distance(plan.offsets_s[1], offset, 90) < 1e-4
    assert plan_bands(plan) == (pytest.approx(45, abs=0.05), pytest.approx(45, abs=0.05))
    assert_band_passes(plan)


def test_two_junctions_hand_computed_bandwidth() -> None:
    # 400 m at 12 m/s: t = t̄ = 33.3 s, so out and back take 66.7 s = 0.741 cycles of 90 s. The loop
    # constraint needs (w1 + w̄1) − (w2 + w̄2) = m − 0.741, at best 0.259 cycles, which one junction's
    # bands must give up: b + b̄ = 2·0.5 − 0.259 = 0.741 cycles = 66.7 s, split evenly
    plan = maxband(arterial([400.0], 90, 45, speed=12.0))
    assert plan.bandwidth_outbound_s + plan.bandwidth_inbound_s == pytest.approx(200 / 3, abs=1e-3)
    assert plan.bandwidth_outbound_s == pytest.approx(100 / 3, abs=1e-3)
    assert plan_bands(plan)[0] >= plan.bandwidth_outbound_s - 0.05
    assert plan_bands(plan)[1] >= plan.bandwidth_inbound_s - 0.05
    assert_band_passes(plan)


def test_cycle_range_picks_the_cycle_of_perfect_progression() -> None:
    # 400 m at 10 m/s, reds of 30 s. By hand: b + b̄ = 2(1 − 30/C) − dist(80/C, ℤ), which on
    # [60, 100] s peaks at C = 80 s (1 + 20/C above 80 s, 3 − 140/C below): both bands 50 s
    plan = maxband(arterial([400.0], (60, 100), 30))
    assert plan.cycle_s == pytest.approx(80, abs=1e-3)
    assert plan.bandwidth_outbound_s == pytest.approx(50, abs=1e-3)
    assert plan.bandwidth_inbound_s == pytest.approx(50, abs=1e-3)
    assert_band_passes(plan)


def test_one_way_band_takes_the_narrowest_green_when_inbound_counts_for_nothing() -> None:
    # one direction alone can always progress: its band is the narrowest green on the way
    plan = maxband(arterial([350.0, 520.0, 410.0], 100, [40, 55, 45, 60], volume_ratio=0.0))
    assert plan.bandwidth_outbound_s == pytest.approx(40, abs=1e-3)
    assert plan_bands(plan)[0] == pytest.approx(40, abs=0.05)
    assert_band_passes(plan)


def test_volume_ratio_bounds_the_lighter_direction() -> None:
    # LKG's ratio constraint: with k = 0.5 the inbound band is at least half the outbound one
    plan = maxband(arterial([330.0, 610.0, 270.0, 480.0], 90, [40, 50, 35, 45, 42], volume_ratio=0.5))
    assert plan.bandwidth_inbound_s >= 0.5 * plan.bandwidth_outbound_s - 1e-6
    assert plan.bandwidth_outbound_s >= plan.bandwidth_inbound_s - 1e-6
    assert plan.objective == pytest.approx(plan.bandwidth_outbound_fraction + 0.5 * plan.bandwidth_inbound_fraction)
    assert_band_passes(plan)


# --- MAXBAND: against brute force ------------------------------------------------------------------


def brute_force_objective(distances: list[float], cycle: int, reds: list[int], speed: float) -> float:
    """max over whole-second offsets of b + b̄ (s), the bands measured geometrically.

    With whole-second reds and travel times every band edge falls on a whole second, so the best
    offsets are whole seconds too and a 1 s grid finds the optimum."""
    positions = [0.0, *itertools.accumulate(distances)]
    greens = [cycle - r for r in reds]
    speeds = [speed] * len(distances)
    best = 0.0
    for tail in itertools.product(range(cycle), repeat=len(distances)):
        starts = [0.0, *map(float, tail)]
        out, inbound = geometric_bands(float(cycle), positions, starts, greens, starts, greens, speeds, speeds, step=0.5)
        best = max(best, out + inbound)
    return best


@pytest.mark.parametrize(
    ("distances", "cycle", "reds"),
    [
        ([300.0, 500.0], 60, [30, 24, 34]),
        ([250.0, 410.0, 330.0], 24, [12, 9, 14, 10]),
    ],
)
def test_maxband_matches_brute_force(distances: list[float], cycle: int, reds: list[int]) -> None:
    plan = maxband(arterial(distances, cycle, reds))
    expected = brute_force_objective(distances, cycle, reds, 10.0)
    total = plan.bandwidth_outbound_s + plan.bandwidth_inbound_s
    assert total == pytest.approx(expected, abs=0.01)
    measured = plan_bands(plan)
    assert measured[0] >= plan.bandwidth_outbound_s - 0.05
    assert measured[1] >= plan.bandwidth_inbound_s - 0.05
    assert_band_passes(plan)


# --- MAXBAND: the richer model ---------------------------------------------------------------------


def test_dual_ring_lead_lag_speed_and_cycle_ranges() -> None:
    junctions = tuple(dual_ring_junction(f"J{i}", side_street_s=30, left_outbound_s=12, left_inbound_s=8) for i in range(4))
    art = Arterial(junctions, (400.0, 550.0, 350.0), (80.0, 110.0), SpeedRange(11.0, 9.0, 13.0), SpeedRange(10.0, 9.0, 12.0))
    plan = maxband(art)
    assert plan.optimal
    assert 80 - 1e-6 <= plan.cycle_s <= 110 + 1e-6
    assert all(9 - 1e-6 <= v <= 13 + 1e-6 for v in plan.speeds_outbound_mps)
    assert all(9 - 1e-6 <= v <= 12 + 1e-6 for v in plan.speeds_inbound_mps)
    for timing in plan.junctions:
        # the dual ring laid out by hand: a leading left delays the through that follows it in its ring
        outbound_left, inbound_left = timing.pattern.split("/")
        gap = (12 if outbound_left == "lead" else 0) - (8 if inbound_left == "lead" else 0)
        assert circular_distance(timing.inbound_green_start_s - timing.offset_s, gap, plan.cycle_s) < 1e-6
        assert timing.green_outbound_s == pytest.approx(plan.cycle_s - 38)
        assert timing.green_inbound_s == pytest.approx(plan.cycle_s - 42)
    measured = plan_bands(plan)
    assert measured[0] >= plan.bandwidth_outbound_s - 0.05
    assert measured[1] >= plan.bandwidth_inbound_s - 0.05
    assert_band_passes(plan)
    # choosing lead/lag is worth something: no fixed pattern does better
    lead_lead = [
        dual_ring_junction(f"J{i}", side_street_s=30, left_outbound_s=12, left_inbound_s=8, lead_lag=("lead", "lead")) for i in range(4)
    ]
    fixed = Arterial(
        tuple(lead_lead),
        art.distances_m,
        art.cycle_s,
        art.speed_outbound,
        art.speed_inbound,
    )
    assert maxband(fixed).objective <= plan.objective + 1e-6


def test_queue_clearance_moves_the_band_into_the_green() -> None:
    junctions = (
        ArterialJunction("A", 40, 40),
        ArterialJunction("B", 40, 40, queue_clearance_outbound_s=8, queue_clearance_inbound_s=6),
        ArterialJunction("C", 40, 40),
    )
    plan = maxband(Arterial(junctions, (420.0, 380.0), 90, SpeedRange(11.0)))
    assert_band_passes(plan)  # checks every band vehicle arrives at least the clearance after green starts
    assert plan.bandwidth_outbound_s <= 50 - 8 + 1e-6


# --- input errors ----------------------------------------------------------------------------------


JA = ArterialJunction("A", 40, 40)


@pytest.mark.parametrize(
    ("build", "where", "field"),
    [
        (lambda: arterial([], 90, 40), "arterial", "junctions"),
        (lambda: Arterial((JA, ArterialJunction("B", 40, 40)), (300.0, 200.0), 90, SpeedRange(10)), "arterial", "distances_m"),
        (lambda: arterial([300.0, -5.0], 90, 40), "link J2 -> J3", "distances_m"),
        (lambda: arterial([300.0, 400.0], 90, [40, 95, 40]), "junction J2 (#2)", "red_outbound_s"),
        (lambda: arterial([300.0], (100, 80), 40), "arterial", "cycle_s"),
        (lambda: arterial([300.0], (60, 100), 60), "junction J1 (#1)", "red_outbound_s"),
        (lambda: arterial([300.0], 90, 40, volume_ratio=-1), "arterial", "volume_ratio"),
        (lambda: Arterial((JA, JA), (300.0,), 90, SpeedRange(10)), "junction A (#2)", "id"),
        (lambda: ArterialJunction("A", float("nan"), 40), "junction A", "red_outbound_s"),
        (lambda: ArterialJunction("A", 40, 40, red_shift_options=(("x", 1.0), ("x", 2.0))), "junction A", "red_shift_options"),
        (lambda: SpeedRange(15, 8, 12), "speed", "design_mps"),
        (lambda: SpeedRange(0), "speed", "design_mps"),
        (lambda: ArterialJunction.from_green_splits("A", 90, 1.2, 0.5), "junction A", "green_outbound"),
        (lambda: dual_ring_junction("A", side_street_s=30, left_outbound_s=-1, left_inbound_s=5), "junction A", "left_outbound_s"),
    ],
)
def test_bad_input_names_where_what_and_why(build: Any, where: str, field: str) -> None:
    with pytest.raises(GreenWaveError) as caught:
        build()
    assert caught.value.params["where"] == where
    assert caught.value.params["field"] == field
    assert caught.value.params["reason"]
    assert caught.value.key == "traffic.greenwave.invalid"


def test_green_splits_become_reds() -> None:
    junction = ArterialJunction.from_green_splits("A", 80, 0.55, 0.5)
    assert junction.red_outbound_s == pytest.approx(36)
    assert junction.red_inbound_s == pytest.approx(40)


def test_importing_the_module_stays_light() -> None:
    heavy = ("matplotlib", "highspy", "sumolib", "libsumo")
    code = f"import sys, citybrain.traffic.greenwave; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# --- the time-space diagram ------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_time_space_diagram_is_a_png() -> None:
    plan = maxband(arterial([450.0, 380.0, 520.0], 90, [45, 40, 50, 45]))
    width, height = png_size(time_space_diagram(plan, cycles=2.5))
    assert (width, height) == (1100, 715)


def test_time_space_diagram_finds_a_chinese_font_or_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = maxband(arterial([400.0], 72, 36))
    if greenwave._cjk_font() is None:
        pytest.skip("no font with Chinese glyphs installed (CI installs fonts-wqy-microhei)")
    assert greenwave._cjk_font() in greenwave._CJK_FONTS
    # without one the labels are English only, so no glyph is missing (warnings are errors here)
    monkeypatch.setattr(greenwave, "_cjk_font", lambda: None)
    png_size(time_space_diagram(plan))


def test_time_space_diagram_rejects_bad_cycles() -> None:
    plan = maxband(arterial([400.0], 72, 36))
    with pytest.raises(GreenWaveError, match="cycles"):
        time_space_diagram(plan, cycles=0)


# --- SUMO ------------------------------------------------------------------------------------------

#: x (m) of the corridor's columns: virtual entry, five junctions 350-500 m apart, virtual exit
CORRIDOR_X = [0.0, 400.0, 850.0, 1200.0, 1700.0, 2050.0, 2450.0]


def corridor_roadnet() -> dict[str, Any]:
    """A 1x5 CityFlow grid with the junctions moved to CORRIDOR_X, so the links differ in length."""
    roadnet = grid_roadnet(1, 5, spacing=400.0)

    def move(point: dict[str, float], intersection_id: str) -> None:
        point["x"] = CORRIDOR_X[int(intersection_id.split("_")[1])]

    for intersection in roadnet["intersections"]:
        move(intersection["point"], intersection["id"])
    for road in roadnet["roads"]:
        move(road["points"][0], road["startIntersection"])
        move(road["points"][-1], road["endIntersection"])
    return roadnet


@pytest.fixture(scope="module")
def corridor_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corridor")
    (folder / "roadnet.json").write_text(json.dumps(corridor_roadnet()))
    (folder / "flow.json").write_text(json.dumps([flow(["road_0_1_0", "road_1_1_0"])]))
    return convert_to_sumo(folder / "roadnet.json", folder / "flow.json", folder / "cache").net


CORRIDOR_IDS = [f"intersection_{i}_1" for i in range(1, 6)]


@pytest.mark.sumo
def test_corridor_is_found_in_the_network(corridor_net: Path) -> None:
    corridor = corridor_from_sumo(corridor_net, CORRIDOR_IDS)
    assert corridor.distances_m == pytest.approx((450.0, 350.0, 500.0, 350.0))
    assert corridor.outbound_edges == ("road_0_1_0", "road_1_1_0", "road_2_1_0", "road_3_1_0", "road_4_1_0", "road_5_1_0")
    assert corridor.inbound_edges == ("road_6_1_2", "road_5_1_2", "road_4_1_2", "road_3_1_2", "road_2_1_2", "road_1_1_2")
    assert corridor.tls_ids == tuple(CORRIDOR_IDS)
    assert corridor.cross_routes[0] == (("road_1_0_1", "road_1_1_1"), ("road_1_2_3", "road_1_1_3"))
    assert corridor.speed_limit_mps == pytest.approx(11.111, abs=0.01)
    with pytest.raises(GreenWaveError) as caught:
        corridor_from_sumo(corridor_net, ["intersection_1_1", "intersection_3_1"])
    assert caught.value.params["where"] == "junction intersection_1_1"
    with pytest.raises(GreenWaveError, match="no such node"):
        corridor_from_sumo(corridor_net, ["intersection_1_1", "nowhere"])


@pytest.mark.sumo
def test_signal_programs_follow_the_plan_and_never_show_conflicting_greens(corridor_net: Path) -> None:
    corridor = corridor_from_sumo(corridor_net, CORRIDOR_IDS)
    plan = maxband(Arterial(tuple(ArterialJunction(j, 40, 40) for j in CORRIDOR_IDS), corridor.distances_m, 80, SpeedRange(11.1)))
    root = ET.fromstring(signal_programs(plan, corridor, yellow_s=3))  # noqa: S314 - our own output
    import sumolib

    network = sumolib.net.readNet(str(corridor_net))
    for index, (logic, timing) in enumerate(zip(root.iter("tlLogic"), plan.junctions, strict=True)):
        states = [p.attrib["state"] for p in logic.iter("phase") for _ in range(int(p.attrib["duration"]))]
        assert len(states) == 80
        roles = greenwave._link_roles(network, corridor, index)
        through_out = [k for k, r in roles.items() if r == ("out", "through")]
        through_in = [k for k, r in roles.items() if r == ("in", "through")]
        side = [k for k, r in roles.items() if r[0] == "side"]
        for second, state in enumerate(states):
            into = (second + 0.5 - timing.offset_s) % 80
            assert {state[k] for k in through_out} == {"G" if into < 40 else ("y" if into < 43 else "r")}
            into_in = (second + 0.5 - timing.inbound_green_start_s) % 80
            assert {state[k] for k in through_in} == {"G" if into_in < 40 else ("y" if into_in < 43 else "r")}
            if any(state[k] in "Gg" for k in side):
                assert all(state[k] == "r" for k in through_out + through_in), (timing.id, second)
        side_green = sum(1 for state in states if any(state[k] in "Gg" for k in side))
        assert side_green == 40 - 2 * 3  # the common red less the arterial's and the side street's yellow


@pytest.mark.sumo
def test_maxband_offsets_stop_through_vehicles_less_in_sumo(corridor_net: Path) -> None:
    corridor = corridor_from_sumo(corridor_net, CORRIDOR_IDS)
    junctions = tuple(ArterialJunction(j, red_outbound_s=40, red_inbound_s=40) for j in CORRIDOR_IDS)
    plan = maxband(Arterial(junctions, corridor.distances_m, 80, SpeedRange(corridor.speed_limit_mps)))
    check = check_in_sumo(plan, corridor, demand=CorridorDemand(500, 500, 200), seeds=(0,), duration_s=1200)
    coordinated = check.coordinated
    assert coordinated.through.vehicles > 250
    assert coordinated.unfinished == coordinated.not_inserted == 0
    for name in ("zero", "random"):
        other = check.variants[name]
        assert other.through.vehicles == coordinated.through.vehicles  # the same vehicles every time
        assert coordinated.through.stops_per_vehicle < other.through.stops_per_vehicle
        assert coordinated.through.mean_travel_time_s < other.through.mean_travel_time_s
        assert coordinated.outbound.stops_per_vehicle < other.outbound.stops_per_vehicle
        assert coordinated.inbound.stops_per_vehicle < other.inbound.stops_per_vehicle


def data_dir() -> Path:
    return Path(os.environ.get("CITYBRAIN_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.mark.sumo
def test_green_wave_on_a_row_of_the_real_jinan_network(tmp_path: Path) -> None:
    folder = data_dir() / "traffic" / "jinan_3x4"
    if not (folder / "roadnet_3_4.json").is_file():
        pytest.skip(f"the Jinan 3x4 network is not in {folder} (set CITYBRAIN_DATA_DIR)")
    scenario = convert_to_sumo(folder / "roadnet_3_4.json", folder / "anon_3_4_jinan_real.json", tmp_path / "cache")
    row = [f"intersection_{i}_1" for i in range(1, 5)]
    corridor = corridor_from_sumo(scenario.net, row)
    assert corridor.distances_m == pytest.approx((400.0, 400.0, 400.0))
    art = Arterial(tuple(ArterialJunction(j, 36, 36) for j in row), corridor.distances_m, (60, 90), SpeedRange(corridor.speed_limit_mps))
    plan = maxband(art)
    # 400 m at 40 km/h is 36 s: a 72 s cycle with alternate offsets carries both bands through all greens
    assert plan.cycle_s == pytest.approx(72.0, abs=0.01)
    assert plan.bandwidth_outbound_s == pytest.approx(plan.cycle_s - 36, abs=0.01)
    assert plan.bandwidth_inbound_s == pytest.approx(plan.cycle_s - 36, abs=0.01)
    check = check_in_sumo(plan, corridor, demand=CorridorDemand(400, 400, 150), baselines=("zero",), duration_s=1200)
    assert check.coordinated.through.stops_per_vehicle < check.variants["zero"].through.stops_per_vehicle

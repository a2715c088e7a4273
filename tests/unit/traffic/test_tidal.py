"""Tidal lanes: the planner on hand-made days, its safety properties, counts from demand files, and a SUMO check."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from citybrain.traffic import tidal
from citybrain.traffic.tidal import (
    BIN_S,
    Corridor,
    DirectionalCounts,
    Section,
    TidalInputError,
    TidalPlan,
    TidalRule,
    check_in_sumo,
    clock,
    corridor_day_counts,
    counts_from_cityflow,
    counts_from_sumo_routes,
    plan_tidal_lanes,
)
from tests.builders.cityflow import flow, grid_roadnet

HOUR_BINS = 4


def at(hhmm: str) -> int:
    """Bin index of a time of day ``HH:MM`` in a day starting at midnight."""
    hours, minutes = hhmm.split(":")
    return (int(hours) * 60 + int(minutes)) // 15


def day(base: tuple[float, float], *spans: tuple[str, str, float, float]) -> DirectionalCounts:
    """96 bins of ``base`` vehicles per bin (a, b), with ``(from, to, a, b)`` spans laid over it."""
    a, b = [base[0]] * 96, [base[1]] * 96
    for start, end, count_a, count_b in spans:
        for i in range(at(start), at(end)):
            a[i], b[i] = count_a, count_b
    return DirectionalCounts(a=tuple(a), b=tuple(b), name_a="inbound", name_b="outbound")


#: three lanes each way at 1,800 veh/h per lane: 5,400 veh/h each way, 3,600 with a lane fewer
SIX_LANES = Section(lanes_a=3, lanes_b=3)

#: a commuter road: quiet nights, a balanced midday, a morning peak in and an evening peak out.
#: Peak: 1,200 veh per 15 min = 4,800 veh/h (v/c 0.89 on three lanes) against 450 = 1,800 veh/h
#: (v/c 0.50 on two lanes), a 73 % split.
COMMUTER_DAY = day(
    (60, 60),
    ("06:00", "07:00", 600, 350),
    ("07:00", "09:00", 1200, 450),
    ("09:00", "10:00", 700, 450),
    ("10:00", "16:00", 500, 500),
    ("16:00", "17:00", 450, 700),
    ("17:00", "19:00", 450, 1200),
    ("19:00", "21:00", 400, 450),
)


# --- the planner -----------------------------------------------------------------------------------


def test_a_commuter_day_gets_a_morning_period_in_and_an_evening_period_out() -> None:
    plan = plan_tidal_lanes(COMMUTER_DAY, SIX_LANES)

    assert [(p.toward, p.lender, clock(p.start_s), clock(p.end_s)) for p in plan.periods] == [
        ("a", "b", "07:00", "09:00"),
        ("b", "a", "17:00", "19:00"),
    ]
    morning, evening = plan.periods
    assert (clock(morning.closed_from_s), clock(morning.returned_s)) == ("06:45", "09:15")
    assert morning.clearance_s == 900
    assert morning.mean_split == pytest.approx(1200 / 1650)
    assert morning.peak_vc_normal == pytest.approx(4800 / 5400)
    assert morning.peak_vc_with_lane == pytest.approx(4800 / 7200)
    assert morning.lender_vc_less == pytest.approx(1800 / 3600)  # the clearance bins are lighter
    assert evening.toward == "b"
    assert plan.lanes_open_at(at("08:00") * BIN_S) == {"a": 4, "b": 2}
    assert plan.lanes_open_at(at("06:50") * BIN_S) == {"a": 3, "b": 2}  # clearance: closed both ways
    assert plan.lanes_open_at(at("12:00") * BIN_S) == {"a": 3, "b": 3}
    assert plan.lanes_open_at(at("18:00") * BIN_S) == {"a": 2, "b": 4}
    assert plan.describe("en").splitlines() == [
        "07:00-09:00: the inner lane of outbound serves inbound (closed both ways 06:45-07:00, 09:00-09:15)",
        "17:00-19:00: the inner lane of inbound serves outbound (closed both ways 16:45-17:00, 19:00-19:15)",
    ]
    assert "outbound方向靠中央的车道改为inbound方向通行" in plan.describe()


def test_the_plan_states_its_rule_and_where_the_thresholds_come_from() -> None:
    plan = plan_tidal_lanes(COMMUTER_DAY, SIX_LANES)
    text = plan.rule.describe("en")
    for figure in ("67%", "0.80", "0.85", "30 min", "60 min", "15 min"):
        assert figure in text
    assert "67%" in plan.rule.describe()
    assert "0.85" in plan.rule.describe()
    assert "NCHRP Synthesis 340" in plan.basis["en"]
    assert "潮汐车道" in plan.basis["zh-CN"]
    # every bin says what the rule saw and what the plan does there
    morning = plan.bins[at("08:00")]
    assert (morning.flow_a_vph, morning.flow_b_vph, morning.candidate, morning.use) == (4800, 1800, "a", "reversed:a")
    assert morning.vc_b_less == pytest.approx(0.5)
    assert plan.bins[at("06:45")].use == "closed"
    assert plan.bins[at("12:00")].candidate is None


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        (day((60, 60), ("07:00", "10:00", 1300, 1300)), "balanced peak: no direction carries two thirds"),
        (day((60, 60), ("07:00", "10:00", 800, 200)), "strongly directional but far from capacity (v/c 0.59)"),
        (day((60, 60), ("07:00", "10:00", 1600, 800)), "the light direction would overflow its two lanes (v/c 0.89)"),
        (day((500, 500)), "flat day"),
    ],
)
def test_no_reversal_where_the_rule_does_not_hold(counts: DirectionalCounts, why: str) -> None:
    plan = plan_tidal_lanes(counts, SIX_LANES)
    assert plan.periods == (), why
    assert {b.use for b in plan.bins} == {"normal"}
    assert plan.lanes_open_at(at("08:00") * BIN_S) == {"a": 3, "b": 3}


def test_a_short_spike_does_not_reverse_the_lane() -> None:
    plan = plan_tidal_lanes(day((400, 400), ("08:00", "08:30", 1300, 400)), SIX_LANES)
    assert plan.periods == ()
    assert [(r.toward, clock(r.start_s), clock(r.end_s), r.reason) for r in plan.rejected] == [("a", "08:00", "08:30", "too_short")]


def test_a_dip_inside_a_peak_does_not_switch_the_lane_back_and_forth() -> None:
    # 07:00-09:30 peak with a 30-minute lull at 08:00 (balanced, so no candidate) in the middle
    counts = day((60, 60), ("07:00", "09:30", 1200, 450), ("08:00", "08:30", 500, 450))
    plan = plan_tidal_lanes(counts, SIX_LANES)
    assert [(clock(p.start_s), clock(p.end_s)) for p in plan.periods] == [("07:00", "09:30")]
    # without bridging, the lane would have to go back to its owner for the lull, with a clearance
    # each way: the second half no longer has an hour left, so it is not reversed at all
    split = plan_tidal_lanes(counts, SIX_LANES, TidalRule(merge_gap_s=0))
    assert [(clock(p.start_s), clock(p.end_s)) for p in split.periods] == [("07:00", "08:00")]
    assert [(clock(r.start_s), clock(r.end_s), r.reason) for r in split.rejected] == [("08:30", "09:30", "no_room_for_clearance")]


def test_a_gap_is_not_bridged_when_the_light_direction_cannot_spare_the_lane() -> None:
    counts = day((60, 60), ("07:00", "09:30", 1200, 450), ("08:00", "08:30", 1300, 950))
    # in the lull the outbound direction (950 per 15 min = 3,800 veh/h) needs all three lanes
    plan = plan_tidal_lanes(counts, SIX_LANES, TidalRule(min_period_s=1800))
    assert [(clock(p.start_s), clock(p.end_s)) for p in plan.periods] == [("07:00", "07:45"), ("08:45", "09:30")]
    assert [b.use for b in plan.bins[at("07:45") : at("08:45")]] == ["closed", "normal", "normal", "closed"]


def test_a_split_of_exactly_two_thirds_counts() -> None:
    # 1,200 vs 600 per bin: 4,800 veh/h in (v/c 0.89), 2,400 out (0.67 on two lanes), split exactly 2/3
    plan = plan_tidal_lanes(day((60, 60), ("07:00", "09:00", 1200, 600)), SIX_LANES)
    assert [(clock(p.start_s), clock(p.end_s)) for p in plan.periods] == [("07:00", "09:00")]


def test_a_peak_at_the_start_of_the_counts_leaves_room_for_the_clearance() -> None:
    counts = DirectionalCounts(a=(1200,) * 8 + (300,) * 4, b=(450,) * 12, start_s=7 * 3600)
    plan = plan_tidal_lanes(counts, SIX_LANES)
    (period,) = plan.periods
    assert (clock(period.closed_from_s), clock(period.start_s), clock(period.end_s)) == ("07:00", "07:15", "09:00")


def test_only_the_inner_lanes_named_reversible_are_lent() -> None:
    morning_only = Section(lanes_a=3, lanes_b=3, reversible_from=("b",))
    plan = plan_tidal_lanes(COMMUTER_DAY, morning_only)
    assert [p.toward for p in plan.periods] == ["a"]
    assert {i.owner for i in plan.lane_schedule()} == {"b"}


def test_capacity_per_lane_changes_the_answer() -> None:
    # the same counts on a signalised section (1,800 veh/h of green, 60 % green): 1,080 veh/h per lane
    signalised = Section(lanes_a=3, lanes_b=3, lane_capacity_vph=tidal.signalised_lane_capacity(54, 90))
    assert signalised.lane_capacity_vph == pytest.approx(1080)
    counts = day((60, 60), ("07:00", "09:00", 800, 300))  # 3,200 veh/h: v/c 0.59 at 1,800, 0.99 at 1,080
    assert plan_tidal_lanes(counts, SIX_LANES).periods == ()
    assert len(plan_tidal_lanes(counts, signalised).periods) == 1


def random_day(rng: random.Random) -> DirectionalCounts:
    """A noisy day with peaks of random size, place, length and direction."""
    a = [rng.uniform(0, 500) for _ in range(96)]
    b = [rng.uniform(0, 500) for _ in range(96)]
    for _ in range(rng.randint(0, 4)):
        start, length = rng.randrange(96), rng.randint(1, 16)
        heavy, light = (a, b) if rng.random() < 0.5 else (b, a)
        for i in range(start, min(96, start + length)):
            heavy[i] = rng.uniform(900, 1500)
            light[i] = rng.uniform(100, 700)
    return DirectionalCounts(a=tuple(a), b=tuple(b))


def assert_safe(plan: TidalPlan) -> None:
    """The properties the module docstring promises."""
    rule, section, counts = plan.rule, plan.section, plan.counts
    schedule = plan.lane_schedule()
    for owner in section.reversible_from:
        own = [i for i in schedule if i.owner == owner]
        # each lane: the whole day, no gaps, no overlaps, one use at a time
        assert (own[0].start_s, own[-1].end_s) == (counts.start_s, counts.end_s)
        assert all(x.end_s == y.start_s and x.use != y.use for x, y in itertools.pairwise(own))
        for k, interval in enumerate(own):
            if interval.use == "reversed":
                # never straight from one direction to the other: closed for the clearance on both sides
                before, after = own[k - 1], own[k + 1]
                assert (before.use, after.use) == ("closed", "closed")
                assert min(before.end_s - before.start_s, after.end_s - after.start_s) >= rule.clearance_s
                assert interval.end_s - interval.start_s >= rule.min_period_s
    for p in plan.periods:
        assert (p.start_s % BIN_S, p.end_s % BIN_S) == (0, 0)
        assert p.toward != p.lender
        assert p.lender in section.reversible_from
    for b in plan.bins:
        t = b.start_s
        uses = {owner: plan.lane_use_at(owner, t) for owner in section.reversible_from}
        # at most one lane out of its owner's use, so a lane never serves both directions
        assert sum(use != "normal" for use in uses.values()) <= 1
        open_lanes = plan.lanes_open_at(t)
        assert sum(open_lanes.values()) in (section.lanes_a + section.lanes_b, section.lanes_a + section.lanes_b - 1)
        assert min(open_lanes.values()) >= 1
        for owner, use in uses.items():
            if use != "normal":  # the owner copes with a lane fewer whenever its lane is away
                vc = b.vc_less(owner)
                assert vc is not None
                assert vc <= rule.max_lender_vc + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_random_days_always_give_safe_plans(seed: int) -> None:
    rng = random.Random(seed)
    rules = [TidalRule(), TidalRule(min_split=0.6, min_period_s=1800, merge_gap_s=0), TidalRule(clearance_s=1800, merge_gap_s=3600)]
    sections = [SIX_LANES, Section(2, 2), Section(2, 3, lane_capacity_vph=1500, reversible_from=("b",))]
    found = 0
    for _ in range(50):
        plan = plan_tidal_lanes(random_day(rng), rng.choice(sections), rng.choice(rules))
        assert_safe(plan)
        found += len(plan.periods)
    assert found > 0  # the days do have tidal peaks


def test_the_same_counts_give_the_same_plan() -> None:
    assert plan_tidal_lanes(COMMUTER_DAY, SIX_LANES) == plan_tidal_lanes(COMMUTER_DAY, SIX_LANES)


# --- bad input -------------------------------------------------------------------------------------


def with_bin(values: Sequence[Any], i: int, value: Any) -> tuple[Any, ...]:
    out = list(values)
    out[i] = value
    return tuple(out)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: DirectionalCounts(a=(1,) * 96, b=with_bin((1,) * 96, 37, -3), name_b="outbound"),
            r"counts\.b\[37\] \(09:15-09:30, outbound\): count -3 is negative",
        ),
        (
            lambda: DirectionalCounts(a=with_bin((1,) * 96, 0, math.nan), b=(1,) * 96),
            r"counts\.a\[0\] \(00:00-00:15, a\): count nan is missing",
        ),
        (
            lambda: DirectionalCounts(a=with_bin((1,) * 96, 95, "12"), b=(1,) * 96),
            r"counts\.a\[95\] \(23:45-00:00 \+1d, a\): expected a number",
        ),
        (lambda: DirectionalCounts(a=with_bin((1,) * 8, 2, True), b=(1,) * 8, start_s=8 * 3600), r"counts\.a\[2\] \(08:30-08:45, a\)"),
        (lambda: DirectionalCounts(a=(1,) * 96, b=(1,) * 95), r"counts\.b: 95 bins, but direction a has 96"),
        (lambda: DirectionalCounts(a=(), b=()), r"counts\.a: no bins"),
        (lambda: DirectionalCounts(a=(1,), b=(1,), start_s=600), r"counts\.start_s: 600 is not a time of day on a 15-minute boundary"),
        (lambda: Section(lanes_a=1, lanes_b=3), r"section\.reversible_from: direction a has one lane and cannot lend it"),
        (lambda: Section(lanes_a=0, lanes_b=3), r"section\.lanes_a: expected a whole number of lanes >= 1"),
        (lambda: Section(lanes_a=3, lanes_b=3, lane_capacity_vph=18000), r"section\.lane_capacity_vph: 18000 is not a lane capacity"),
        (lambda: Section(lanes_a=3, lanes_b=3, reversible_from=("c",)), r"section\.reversible_from: 'c' is not a direction"),
        (lambda: TidalRule(min_split=0.5), r"rule\.min_split: 0\.5 must lie between 0\.5 and 1"),
        (lambda: TidalRule(clearance_s=600), r"rule\.clearance_s: 600 must be a whole number of 15-minute bins"),
        (lambda: TidalRule(clearance_s=0), r"rule\.clearance_s: 0 must be"),
        (lambda: TidalRule(min_peak_vc=math.inf), r"rule\.min_peak_vc"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_the_reason(make: Any, message: str) -> None:
    with pytest.raises(TidalInputError, match=message) as caught:
        make()
    assert caught.value.key == "traffic.tidal.invalid"
    assert set(caught.value.params) == {"field", "reason"}


# --- counts from demand files ----------------------------------------------------------------------


def test_counts_from_a_sumo_route_file(tmp_path: Path) -> None:
    routes = tmp_path / "demand.rou.xml"
    routes.write_text(
        """<routes>
    <route id="in" edges="w1 s1 s2 e1"/>
    <vehicle id="v0" depart="10" route="in"/>
    <vehicle id="v1" depart="899.5"><route edges="x s1 s2"/></vehicle>
    <vehicle id="v2" depart="900"><route edges="n4 n3 x"/></vehicle>
    <trip id="t0" depart="1000" from="n4" to="x"/>
    <trip id="t1" depart="1000" from="q" via="n3" to="x"/>
    <flow id="f0" route="in" begin="0" end="1800" number="60"/>
    <flow id="f1" begin="900" end="2700" vehsPerHour="360" from="n3" to="y"/>
    <vehicle id="elsewhere" depart="5"><route edges="x y"/></vehicle>
</routes>"""
    )
    counts = counts_from_sumo_routes(routes, {"s1", "s2"}, ["n3", "n4"], start_s=7 * 3600, name_a="east", name_b="west")
    # a: v0, v1 in bin 0 and the 60-vehicle flow spread over two bins; b: v2, t0, t1 in bin 1, f1 over bins 1-2
    assert counts.a == (32, 30, 0)
    assert counts.b == (0, 3 + 90, 90)
    assert (counts.start_s, counts.name_a, counts.source) == (7 * 3600, "east", "demand.rou.xml")
    shifted = counts_from_sumo_routes(routes, {"s1", "s2"}, {"n3"}, offset_s=120, bins=2)
    # two minutes later: v1 and 2 minutes of the flow move into bin 1, and the flow's tail past bin 1 is cut
    assert shifted.a == (27, 31)
    assert shifted.b == (0, 1 + 1 + 78)  # v2, t1 (via n3), and 780 s of f1 at 0.1 veh/s; t0 does not pass n3


def test_counts_from_a_route_file_refuse_edges_nobody_uses(tmp_path: Path) -> None:
    routes = tmp_path / "demand.rou.xml"
    routes.write_text('<routes><vehicle id="v" depart="0"><route edges="x y"/></vehicle></routes>')
    with pytest.raises(TidalInputError, match=r"edges_a: no vehicle uses \['s1'\]"):
        counts_from_sumo_routes(routes, {"s1"}, {"y"})
    with pytest.raises(TidalInputError, match=r"edges_b: \['x'\] are in both directions"):
        counts_from_sumo_routes(routes, {"x"}, {"x"})
    routes.write_text('<routes><vehicle id="v" depart="0" route="nope"/></routes>')
    with pytest.raises(TidalInputError, match=r"route 'nope' is not defined"):
        counts_from_sumo_routes(routes, {"x"}, {"y"})
    routes.write_text("<routes><vehicle")
    with pytest.raises(TidalInputError, match="not well-formed XML"):
        counts_from_sumo_routes(routes, {"x"}, {"y"})


def test_counts_from_a_cityflow_flow(tmp_path: Path) -> None:
    roadnet = tmp_path / "roadnet.json"
    roadnet.write_text(json.dumps(grid_roadnet(1, 1)))
    flows = tmp_path / "flow.json"
    east, west = ["road_0_1_0", "road_1_1_0"], ["road_2_1_2", "road_1_1_2"]
    # 60 vehicles east in the first 15 minutes (every 15 s), 10 west spread over the hour
    flows.write_text(json.dumps([flow(east, start=0, end=885, interval=15), flow(west, start=0, end=3240, interval=360)]))
    counts = counts_from_cityflow(roadnet, flows, {"road_1_1_0"}, {"road_1_1_2"}, name_a="east", name_b="west")
    assert counts.a == (60, 0, 0, 0)
    assert counts.b == (3, 2, 3, 2)
    with pytest.raises(TidalInputError, match=r"roads_b: \['road_9_9_9'\] are not roads of roadnet.json"):
        counts_from_cityflow(roadnet, flows, {"road_1_1_0"}, {"road_9_9_9"})


# --- the SUMO check --------------------------------------------------------------------------------


def test_the_sumo_lanes_of_one_road_lane_are_never_open_together() -> None:
    """The permissions the check switches: at every moment at most one of the two SUMO lanes standing
    for a piece of road is open, and between the two directions it is closed for the clearance."""
    plan = plan_tidal_lanes(COMMUTER_DAY, SIX_LANES)
    net = tidal._CorridorNet(
        net=Path("corridor.net.xml"),
        lanes={"a": (("a0_2", "a1_2"), ("b0_3", "b1_3")), "b": (("b0_2", "b1_2"), ("a0_3", "a1_3"))},
        routes={"a": ("a0", "a1"), "b": ("b0", "b1")},
    )
    closed_at_start, switches = tidal._switches(plan, net, SIX_LANES)
    is_open = dict.fromkeys([lane for pair in net.lanes.values() for group in pair for lane in group], True)
    for lane in closed_at_start:
        is_open[lane] = False
    last_direction: dict[str, tuple[str, int]] = {}
    for at_s, opening, closing in switches:
        for lane in closing:
            is_open[lane] = False
        for lane in opening:
            is_open[lane] = True
        for owner, (own, borrowed) in net.lanes.items():
            owner_open, borrower_open = all(is_open[x] for x in own), all(is_open[x] for x in borrowed)
            assert not (owner_open and borrower_open), f"lane of {owner} open both ways at {at_s} s"
            # all segments of the corridor switch together
            assert {is_open[x] for x in own} == {owner_open}
            assert {is_open[x] for x in borrowed} == {borrower_open}
            now = "owner" if owner_open else "borrower" if borrower_open else "closed"
            previous, since = last_direction.get(owner, ("owner", 0))
            if now != previous:
                if now != "closed" and previous != "closed":
                    pytest.fail(f"lane of {owner} switched from {previous} to {now} at {at_s} s without a clearance")
                if previous == "closed":
                    assert at_s - since >= plan.rule.clearance_s
                last_direction[owner] = (now, at_s)
    assert {owner: state for owner, (state, _) in last_direction.items()} == {"a": "owner", "b": "owner"}


@pytest.mark.sumo
def test_the_plan_cuts_delay_on_a_simulated_corridor(tmp_path: Path) -> None:
    # a short corridor (1.2 km, one signal) keeps the two runs within seconds; the default is 2.4 km
    corridor = Corridor(length_m=1200, junctions=1)
    section = Section(lanes_a=2, lanes_b=2, lane_capacity_vph=corridor.lane_capacity_vph())
    counts = corridor_day_counts(section, peak_load=1.2)
    plan = plan_tidal_lanes(counts, section)
    assert [(p.toward, clock(p.start_s), clock(p.end_s)) for p in plan.periods] == [("a", "00:15", "01:45"), ("b", "02:45", "04:15")]

    check = check_in_sumo(plan, corridor=corridor, seed=1, workdir=tmp_path)

    before, after = check.before, check.after
    assert (before.reversal, after.reversal) == (False, True)
    assert before.vehicles == after.vehicles == round(sum(counts.a) + sum(counts.b))
    assert after.total_delay_h < 0.5 * before.total_delay_h
    assert after.mean_travel_time_s < before.mean_travel_time_s
    assert after.arrived_in_horizon >= before.arrived_in_horizon
    assert (after.not_inserted, after.still_running) == (0, 0)
    # the peak direction gains in its period; the light direction pays a little, less than the peak gains
    morning = next(w.label for w in after.windows if "toward a" in w.label)
    gain = before.window("a", morning).mean_travel_time_s - after.window("a", morning).mean_travel_time_s
    cost = after.window("b", morning).mean_travel_time_s - before.window("b", morning).mean_travel_time_s
    assert gain > 0
    assert cost < gain
    assert (tmp_path / "after.tripinfo.xml").is_file()
    assert (tmp_path / "corridor.net.xml").is_file()
    assert check.delay_ratio == pytest.approx(after.total_delay_h / before.total_delay_h)

"""Tidal (reversible) lanes, 潮汐车道: plan which lane to reverse when, and check the plan in SUMO.

A road section carries two directions, ``a`` and ``b`` (say inbound and outbound), each with its
own lanes. On a tidal section the inner lane of one direction (the lane next to the median) is lent
to the other direction while that one has its peak: with 3 + 3 lanes the morning runs 4 inbound +
2 outbound, the evening 2 + 4. Lane-use signals over each lane (a green arrow or a red X) tell
drivers which way the lane runs; at every switch the lane is closed to both directions for a
clearance interval, so that it empties before the other direction may enter.

**The planner** (:func:`plan_tidal_lanes`) reads directional counts in 15-minute bins
(:class:`DirectionalCounts`, vehicles per bin; from detectors, or derived from a SUMO route file or a
CityFlow flow by :func:`counts_from_sumo_routes` / :func:`counts_from_cityflow`) and the section
(:class:`Section`: lanes per direction, capacity per lane, which inner lanes may be lent), and
returns a :class:`TidalPlan`: periods (which lane, toward which direction, from when to when, on
15-minute boundaries), the lane-use timeline with its clearances, every bin's figures and the rule
with its thresholds (:class:`TidalRule`), so that a page can show why. The rule:

1. A bin is a *candidate* for reversal toward direction X (borrowing the inner lane of the other
   direction Y) when all three hold, flows taken as hourly rates (4 x the bin's count):
   X's share of the two-way flow >= ``min_split`` (2/3);
   X's volume/capacity with its normal lanes >= ``min_peak_vc`` (0.80);
   Y's volume/capacity with one lane fewer <= ``max_lender_vc`` (0.85).
2. Runs of candidate bins toward the same direction separated by a gap of at most ``merge_gap_s``
   (30 min) are joined, if the gap holds no candidate toward the other direction and the lender keeps
   its v/c limit in the gap, so that a dip in the peak does not switch the lane back and forth.
3. Runs shorter than ``min_period_s`` (1 h) are dropped: a short spike does not reverse a lane.
4. Each period gets a clearance of ``clearance_s`` (15 min) before it starts and after it ends, in
   which the lane is closed to both directions. The clearance must lie inside the counted day, in bins
   where the lender keeps its v/c limit (it has one lane fewer then as well), and must not overlap
   another period's clearance; a lane goes back to its owner for at least one bin between two
   periods. Where it does not fit, the period is shortened, and dropped if it falls below the
   minimum duration.

So at any time at most one lane is out of its owner's use, a lane never serves both directions at
once, and whenever a lane is away from its owner (lent or closed) the owner's v/c with one lane fewer
is within ``max_lender_vc``.

**Where the thresholds come from** (practice, not one formula; see :data:`RULE_BASIS`): reversible
lanes pay off only where traffic is strongly directional and the peak direction is short of
capacity while the other direction has capacity to spare. US application guidelines for reversible
lanes (the practice reviewed in NCHRP Synthesis 340, *Convertible Roadways and Lanes*, 2004) ask for
a major-to-minor directional ratio of at least 2:1 in recurrent peaks, and Chinese 潮汐车道 setting
guidance for a directional distribution of at least 2/3 in the tidal period: both are two thirds of
the two-way flow. The Chinese guidance also asks that the light direction, without the lane, still has the capacity
its demand needs, that the tidal pattern lasts (siting commonly asks for 2 h or more), and that the
section (commonly 0.5-5 km between signalised junctions, three or more lanes in total) has no fixed
median. The v/c limits are the engineering reading of "short of capacity" and "capacity to spare":
0.80 is where delay at signals starts to climb steeply, 0.85 leaves the light direction a margin
below its reduced capacity. Clearance at each switch follows lane-use control signal practice (the
lane shows "closing" and then a red X both ways before it opens the other way); 15 minutes is a
conservative interval for a section of a few kilometres at congested speeds.

Capacity per lane: 1,800 veh/h by default, the usual planning figure for an urban through lane
(the Highway Capacity Manual's base saturation flow at signals is 1,900 pc/h per lane of green). On
a signalised section the capacity is the saturation flow times the main road's share of green:
:func:`signalised_lane_capacity`.

**The SUMO check** (:func:`check_in_sumo`) builds a straight corridor (:class:`Corridor`: 2.4 km and
two fixed-time junctions by default) with the section's lanes, where each direction has one extra
SUMO lane next to the median standing for the other direction's inner lane (the same piece of road;
SUMO lanes are one-way). The corridor carries through traffic only: no turns (left turns from a
reversed lane are usually banned anyway) and no side-street demand, so the side streets' green only
takes time from the arterial. Only one of the two SUMO lanes of a physical lane is open at a time: the
owner's while it is normal, the borrower's while it is lent, neither during clearance. libsumo
switches the lanes' permissions at the planned times (``lane.setDisallowed``); a closed lane's
vehicles change out of it, as drivers do under a red X. The demand is drawn from the counts
(random arrivals within each bin, seeded), e.g. :func:`corridor_day_counts`, a day compressed to
four and a half hours: a morning peak toward ``a``, a balanced midday, an evening peak toward ``b``. Two runs,
the same demand and seed, teleporting off: without reversal and with the plan. Each run is one
libsumo simulation in its own process. :class:`TidalCheck` holds both runs' figures: travel time
(from the planned departure, so the wait to enter counts), time loss, the wait to enter, throughput
and the vehicles never inserted, per direction and period.

Plain Python (no web code, no database); SUMO is imported only inside the simulation processes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import multiprocessing
import numbers
import random
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from citybrain.traffic import cityflow, sumo_tools

__all__ = [
    "BIN_S",
    "DEFAULT_LANE_CAPACITY_VPH",
    "DIRECTIONS",
    "RULE_BASIS",
    "BinAssessment",
    "Corridor",
    "Direction",
    "DirectionalCounts",
    "LaneInterval",
    "LaneUse",
    "RejectedRun",
    "RunFigures",
    "Section",
    "TidalCheck",
    "TidalInputError",
    "TidalPeriod",
    "TidalPlan",
    "TidalRule",
    "WindowFigures",
    "check_in_sumo",
    "clock",
    "corridor_day_counts",
    "counts_from_cityflow",
    "counts_from_sumo_routes",
    "plan_tidal_lanes",
    "signalised_lane_capacity",
]

#: length of a count bin, seconds (15 minutes, the usual reporting interval of traffic detectors)
BIN_S: Final = 900

#: capacity of an urban through lane, vehicles per hour, used when none is given
DEFAULT_LANE_CAPACITY_VPH: Final = 1800.0

#: no lane carries more than this (veh/h); a larger capacity is a unit mix-up, not a road
_MAX_LANE_CAPACITY_VPH: Final = 3000.0

Direction = Literal["a", "b"]

#: both directions, in order
DIRECTIONS: Final[tuple[Direction, Direction]] = ("a", "b")

#: how a reversible lane is used in an interval: by its owner, by nobody (clearance), by the other direction
LaneUse = Literal["normal", "closed", "reversed"]

RULE_BASIS: Final = {
    "en": (
        "Reversible-lane practice, not a single formula. US application guidelines (the practice reviewed in NCHRP "
        "Synthesis 340, Convertible Roadways and Lanes, 2004) ask for a major-to-minor directional ratio of at least "
        "2:1 in recurrent peaks, and Chinese tidal-lane (潮汐车道) setting guidance for a directional distribution of at "
        "least 2/3: both are two thirds of the two-way flow. The Chinese guidance also asks that "
        "the light direction, without the lane, still has the capacity its demand needs, and that the tidal "
        "pattern lasts. The v/c limits are engineering choices: 0.80 is where delay at signals starts to climb "
        "steeply, 0.85 leaves the light direction a margin below its reduced capacity. At each switch the lane is "
        'closed both ways for a clearance interval, as lane-use control signals do ("closing", then a red X).'
    ),
    "zh-CN": (
        "依据可变车道的工程实践，而非单一公式。美国可逆车道应用准则（NCHRP Synthesis 340《Convertible Roadways and "
        "Lanes》，2004年综述的实践）要求经常性高峰中主次方向流量比不低于2:1，我国潮汐车道设置指引要求方向分布系数不低于"
        "2/3，二者都相当于高峰方向占双向交通量的三分之二；我国指引还要求去掉该车道后"
        "交通量小的方向通行能力仍能满足需求，且潮汐现象持续一定时间。饱和度阈值为工程取值：0.80 是信号交叉口延误开始"
        "急剧上升之处，0.85 为流量小的方向在少一条车道后保留余量。每次切换时车道双向关闭一个清空时段，如车道信号灯"
        "先显示“即将关闭”再显示红叉。"
    ),
}


class TidalInputError(ValueError):
    """Input the planner or the check cannot use: ``field`` names what is wrong and ``reason`` why.

    Key ``traffic.tidal.invalid`` with params ``field``, ``reason`` (for the service layer's translated
    error); ``str()`` reads in English, e.g. ``counts.b[37] (09:15-09:30, outbound): count -3 is negative``.
    """

    key = "traffic.tidal.invalid"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.params = {"field": field, "reason": reason}


def clock(seconds: float) -> str:
    """A time of day as ``HH:MM`` from seconds after midnight; ``+1d`` marks the next day."""
    total_min = round(seconds / 60)
    days, minutes = divmod(total_min, 24 * 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text + (f" +{days}d" if days else "")


def _other(direction: Direction) -> Direction:
    return "b" if direction == "a" else "a"


# --- input -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectionalCounts:
    """Vehicles counted per 15-minute bin in the two directions of a section.

    ``a[i]`` and ``b[i]`` are the vehicles of bin ``i``, which runs from ``start_s + i * 900`` to
    ``start_s + (i + 1) * 900`` seconds after midnight (``start_s`` on a 15-minute boundary). Counts may
    be fractional (an average over several days). ``name_a``/``name_b`` name the directions for people
    ("inbound", "进城"); ``source`` says where the counts came from. Checked on construction: raises
    :class:`TidalInputError` naming the bin, the direction and the reason.
    """

    a: tuple[float, ...]
    b: tuple[float, ...]
    start_s: int = 0
    name_a: str = "a"
    name_b: str = "b"
    source: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.start_s, bool) or not isinstance(self.start_s, int) or self.start_s < 0 or self.start_s % BIN_S:
            raise TidalInputError("counts.start_s", f"{self.start_s!r} is not a time of day on a 15-minute boundary (s, multiple of 900)")
        for direction in DIRECTIONS:
            values = getattr(self, direction)
            if isinstance(values, str | bytes) or not isinstance(values, Iterable):
                raise TidalInputError(f"counts.{direction}", "expected a sequence of counts per 15-minute bin")
            object.__setattr__(self, direction, tuple(values))
        if not self.a:
            raise TidalInputError("counts.a", "no bins: at least one 15-minute count is needed")
        if len(self.a) != len(self.b):
            raise TidalInputError("counts.b", f"{len(self.b)} bins, but direction a has {len(self.a)}: both need the same bins")
        for direction, name in (("a", self.name_a), ("b", self.name_b)):
            for i, value in enumerate(getattr(self, direction)):
                where = f"counts.{direction}[{i}] ({self.bin_label(i)}, {name})"
                # numbers.Real also takes numpy's and Polars' numbers, not only Python's
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise TidalInputError(where, f"expected a number of vehicles, found {value!r}")
                if not math.isfinite(value):
                    raise TidalInputError(where, f"count {value!r} is missing or not a number")
                if value < 0:
                    raise TidalInputError(where, f"count {value:g} is negative")

    @property
    def bins(self) -> int:
        """Number of 15-minute bins."""
        return len(self.a)

    @property
    def end_s(self) -> int:
        """End of the last bin, seconds after midnight."""
        return self.start_s + self.bins * BIN_S

    def bin_start_s(self, i: int) -> int:
        """Start of bin ``i``, seconds after midnight."""
        return self.start_s + i * BIN_S

    def bin_label(self, i: int) -> str:
        """``HH:MM-HH:MM`` of bin ``i``."""
        return f"{clock(self.bin_start_s(i))}-{clock(self.bin_start_s(i + 1))}"

    def name(self, direction: Direction) -> str:
        """The people's name of ``direction``."""
        return self.name_a if direction == "a" else self.name_b

    def of(self, direction: Direction) -> tuple[float, ...]:
        """The counts of ``direction``."""
        return self.a if direction == "a" else self.b


@dataclass(frozen=True)
class Section:
    """A road section: normal lanes per direction and capacity per lane (veh/h).

    ``reversible_from`` lists the directions whose inner lane (the one next to the median) may be lent
    to the other direction: ``("a", "b")`` for a section whose centre line moves either way (morning
    and evening peaks in opposite directions), ``("b",)`` if only b's inner lane may serve a. A lender
    needs at least two lanes. ``lane_capacity_vph`` is the capacity of one lane: 1,800 veh/h by default
    for an uninterrupted urban through lane; on a signalised section use
    :func:`signalised_lane_capacity`.
    """

    lanes_a: int
    lanes_b: int
    lane_capacity_vph: float = DEFAULT_LANE_CAPACITY_VPH
    reversible_from: tuple[Direction, ...] = ("a", "b")

    def __post_init__(self) -> None:
        for name in ("lanes_a", "lanes_b"):
            lanes = getattr(self, name)
            if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
                raise TidalInputError(f"section.{name}", f"expected a whole number of lanes >= 1, found {lanes!r}")
        cap = self.lane_capacity_vph
        if isinstance(cap, bool) or not isinstance(cap, int | float) or not math.isfinite(cap) or not 0 < cap <= _MAX_LANE_CAPACITY_VPH:
            raise TidalInputError(
                "section.lane_capacity_vph",
                f"{cap!r} is not a lane capacity (veh/h, above 0 and at most {_MAX_LANE_CAPACITY_VPH:,.0f})",
            )
        object.__setattr__(self, "reversible_from", tuple(self.reversible_from))
        if not self.reversible_from:
            raise TidalInputError("section.reversible_from", "no lane may be reversed: name a direction whose inner lane may be lent")
        for direction in self.reversible_from:
            if direction not in ("a", "b"):
                raise TidalInputError("section.reversible_from", f"{direction!r} is not a direction (expected 'a' or 'b')")
            if self.lanes(direction) < 2:
                raise TidalInputError(
                    "section.reversible_from", f"direction {direction} has one lane and cannot lend it (a lender keeps at least one lane)"
                )
        if len(set(self.reversible_from)) != len(self.reversible_from):
            raise TidalInputError("section.reversible_from", "a direction is named twice")

    def lanes(self, direction: Direction) -> int:
        """Normal lanes of ``direction``."""
        return self.lanes_a if direction == "a" else self.lanes_b


def signalised_lane_capacity(green_s: float, cycle_s: float, *, saturation_vphg: float = DEFAULT_LANE_CAPACITY_VPH) -> float:
    """Capacity of a through lane at a fixed-time signal, vehicles per hour.

    ``saturation_vphg`` (vehicles per hour of green per lane) times the green share ``green_s / cycle_s``;
    count the yellow in ``green_s`` if drivers use it (SUMO's do: its corridor discharges 1,188 veh/h per
    lane at 59 s of green and yellow in a 90 s cycle, against 1,180 computed).
    """
    if not 0 < green_s <= cycle_s:
        raise TidalInputError("green_s", f"green {green_s!r} s must be positive and at most the cycle ({cycle_s!r} s)")
    return saturation_vphg * green_s / cycle_s


@dataclass(frozen=True)
class TidalRule:
    """The thresholds of the planning rule (see the module docstring); durations in seconds.

    ``min_split``: the peak direction's share of the two-way flow (above one half, below one);
    ``min_peak_vc``: the peak direction's volume/capacity with its normal lanes;
    ``max_lender_vc``: the other direction's volume/capacity with one lane fewer;
    ``min_period_s``: shortest reversal; ``merge_gap_s``: longest gap joined; ``clearance_s``: lane closed
    both ways at each switch. Durations are multiples of 15 minutes.
    """

    min_split: float = 2 / 3
    min_peak_vc: float = 0.80
    max_lender_vc: float = 0.85
    min_period_s: int = 3600
    merge_gap_s: int = 1800
    clearance_s: int = 900

    def __post_init__(self) -> None:
        if not 0.5 < self.min_split < 1:
            raise TidalInputError("rule.min_split", f"{self.min_split!r} must lie between 0.5 and 1 (a share of the two-way flow)")
        for name in ("min_peak_vc", "max_lender_vc"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise TidalInputError(f"rule.{name}", f"{value!r} must be a positive volume/capacity ratio")
        for name, least in (("min_period_s", BIN_S), ("merge_gap_s", 0), ("clearance_s", BIN_S)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least or value % BIN_S:
                raise TidalInputError(
                    f"rule.{name}", f"{value!r} must be a whole number of 15-minute bins (s, multiple of 900, at least {least})"
                )

    def describe(self, lang: Literal["zh-CN", "en"] = "zh-CN") -> str:
        """The rule in one paragraph, with its thresholds, for pages and the CLI."""
        split, gap = f"{self.min_split:.0%}", self.merge_gap_s // 60
        period, clear = self.min_period_s // 60, self.clearance_s // 60
        if lang == "en":
            return (
                f"Reverse the inner lane of the light direction toward the peak direction in each 15-minute bin where the peak "
                f"direction carries at least {split} of the two-way flow, its volume/capacity with its normal lanes is at least "
                f"{self.min_peak_vc:.2f}, and the light direction's volume/capacity with one lane fewer stays at most "
                f"{self.max_lender_vc:.2f}. Gaps of up to {gap} min are bridged, periods shorter than {period} min are dropped, "
                f"and the lane is closed both ways for {clear} min before and after each period."
            )
        return (
            f"在每个15分钟时段内，若高峰方向交通量占双向的比例不低于{split}、其按原有车道数计算的饱和度不低于"
            f"{self.min_peak_vc:.2f}，且流量小的方向少一条车道后的饱和度不超过{self.max_lender_vc:.2f}，则将流量小的方向"
            f"靠中央的车道改为高峰方向通行。不超过{gap}分钟的间隔予以合并，短于{period}分钟的时段不设，每个时段前后"
            f"车道双向关闭{clear}分钟用于清空。"
        )


# --- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinAssessment:
    """One bin's figures as the rule sees them; flows in veh/h, v/c ratios without unit.

    ``vc_*_less`` is the direction's v/c with one lane fewer (None where it has only one lane);
    ``candidate`` the direction the bin asks the lane to serve, or None; ``use`` the lane use the
    plan gives it (``"normal"`` everywhere when nothing is reversed, else ``"closed"`` or
    ``"reversed:a"``/``"reversed:b"``).
    """

    index: int
    start_s: int
    flow_a_vph: float
    flow_b_vph: float
    split_a: float
    vc_a: float
    vc_b: float
    vc_a_less: float | None
    vc_b_less: float | None
    candidate: Direction | None
    use: str = "normal"

    def split(self, direction: Direction) -> float:
        return self.split_a if direction == "a" else 1.0 - self.split_a

    def vc(self, direction: Direction) -> float:
        return self.vc_a if direction == "a" else self.vc_b

    def vc_less(self, direction: Direction) -> float | None:
        return self.vc_a_less if direction == "a" else self.vc_b_less


@dataclass(frozen=True, slots=True)
class TidalPeriod:
    """One reversal: the inner lane of ``lender`` serves ``toward`` from ``start_s`` to ``end_s``.

    Times are seconds after midnight on 15-minute boundaries; the lane is closed both ways from
    ``start_s - clearance_s`` to ``start_s`` and from ``end_s`` to ``end_s + clearance_s``. Figures over
    the period: the peak direction's mean share of the flow, its highest v/c with its normal lanes and
    with the lent lane, and the lender's highest v/c with one lane fewer (clearances included).
    """

    toward: Direction
    lender: Direction
    start_s: int
    end_s: int
    clearance_s: int
    mean_split: float
    peak_vc_normal: float
    peak_vc_with_lane: float
    lender_vc_less: float

    @property
    def duration_s(self) -> int:
        return self.end_s - self.start_s

    @property
    def closed_from_s(self) -> int:
        """When the lane closes to its owner (start of the first clearance)."""
        return self.start_s - self.clearance_s

    @property
    def returned_s(self) -> int:
        """When the lane is back with its owner (end of the second clearance)."""
        return self.end_s + self.clearance_s

    @property
    def label(self) -> str:
        """``HH:MM-HH:MM`` of the reversal itself."""
        return f"{clock(self.start_s)}-{clock(self.end_s)}"


@dataclass(frozen=True, slots=True)
class LaneInterval:
    """How the inner lane of ``owner`` is used from ``start_s`` to ``end_s`` (seconds after midnight)."""

    owner: Direction
    start_s: int
    end_s: int
    use: LaneUse


@dataclass(frozen=True, slots=True)
class RejectedRun:
    """Candidate bins toward ``toward`` that did not become a period, and why.

    ``reason``: ``"too_short"`` (shorter than the minimum period) or ``"no_room_for_clearance"``
    (shorter than the minimum once the clearances found room).
    """

    toward: Direction
    start_s: int
    end_s: int
    reason: Literal["too_short", "no_room_for_clearance"]


@dataclass(frozen=True)
class TidalPlan:
    """A reversible-lane schedule and the figures behind it (see :func:`plan_tidal_lanes`)."""

    counts: DirectionalCounts
    section: Section
    rule: TidalRule
    periods: tuple[TidalPeriod, ...]
    bins: tuple[BinAssessment, ...]
    rejected: tuple[RejectedRun, ...]
    basis: Mapping[str, str] = field(default_factory=lambda: dict(RULE_BASIS))

    def lane_schedule(self) -> tuple[LaneInterval, ...]:
        """The use of each lendable lane over the counted day, adjacent intervals of one use joined.

        Every lane in ``section.reversible_from`` is covered from ``counts.start_s`` to ``counts.end_s``
        without gaps or overlaps, sorted by owner and time.
        """
        out: list[LaneInterval] = []
        for owner in self.section.reversible_from:
            pieces: list[tuple[int, int, LaneUse]] = []
            at = self.counts.start_s
            for period in self.periods:
                if period.lender != owner:
                    continue
                pieces += [
                    (at, period.closed_from_s, "normal"),
                    (period.closed_from_s, period.start_s, "closed"),
                    (period.start_s, period.end_s, "reversed"),
                    (period.end_s, period.returned_s, "closed"),
                ]
                at = period.returned_s
            pieces.append((at, self.counts.end_s, "normal"))
            for start, end, use in pieces:
                if end <= start:
                    continue
                if out and out[-1].owner == owner and out[-1].use == use and out[-1].end_s == start:
                    out[-1] = LaneInterval(owner, out[-1].start_s, end, use)
                else:
                    out.append(LaneInterval(owner, start, end, use))
        return tuple(out)

    def lane_use_at(self, owner: Direction, t_s: float) -> LaneUse:
        """How the inner lane of ``owner`` is used at ``t_s`` (seconds after midnight)."""
        for interval in self.lane_schedule():
            if interval.owner == owner and interval.start_s <= t_s < interval.end_s:
                return interval.use
        return "normal"

    def lanes_open_at(self, t_s: float) -> dict[Direction, int]:
        """Lanes open to each direction at ``t_s``: normal lanes, minus a lane lent or closed, plus a lane borrowed."""
        lanes: dict[Direction, int] = {"a": self.section.lanes_a, "b": self.section.lanes_b}
        for owner in self.section.reversible_from:
            use = self.lane_use_at(owner, t_s)
            if use != "normal":
                lanes[owner] -= 1
            if use == "reversed":
                lanes[_other(owner)] += 1
        return lanes

    def describe(self, lang: Literal["zh-CN", "en"] = "zh-CN") -> str:
        """The schedule in a few lines, for the CLI."""
        if not self.periods:
            return "不设潮汐车道。" if lang == "zh-CN" else "No reversal."
        lines = []
        for p in self.periods:
            toward, lender = self.counts.name(p.toward), self.counts.name(p.lender)
            clear = f"{clock(p.closed_from_s)}-{clock(p.start_s)}, {clock(p.end_s)}-{clock(p.returned_s)}"
            if lang == "en":
                lines.append(f"{p.label}: the inner lane of {lender} serves {toward} (closed both ways {clear})")
            else:
                lines.append(f"{p.label}：{lender}方向靠中央的车道改为{toward}方向通行（双向关闭清空 {clear}）")
        return "\n".join(lines)


def _assess(counts: DirectionalCounts, section: Section, rule: TidalRule) -> list[BinAssessment]:
    cap = section.lane_capacity_vph
    per_hour = 3600 / BIN_S
    out = []
    for i, (count_a, count_b) in enumerate(zip(counts.a, counts.b, strict=True)):
        qa, qb = count_a * per_hour, count_b * per_hour
        split_a = qa / (qa + qb) if qa + qb > 0 else 0.5
        vc = {"a": qa / (section.lanes_a * cap), "b": qb / (section.lanes_b * cap)}
        less: dict[Direction, float | None] = {
            "a": qa / ((section.lanes_a - 1) * cap) if section.lanes_a > 1 else None,
            "b": qb / ((section.lanes_b - 1) * cap) if section.lanes_b > 1 else None,
        }
        candidate: Direction | None = None
        for toward in DIRECTIONS:
            lender = _other(toward)
            share = split_a if toward == "a" else 1 - split_a
            lender_vc = less[lender]
            # a float split of exactly 2/3 (say 200 against 100) must pass a 2/3 threshold
            if (
                lender in section.reversible_from
                and share >= rule.min_split - 1e-9
                and vc[toward] >= rule.min_peak_vc - 1e-9
                and lender_vc is not None
                and lender_vc <= rule.max_lender_vc + 1e-9
            ):
                candidate = toward
        out.append(
            BinAssessment(
                index=i,
                start_s=counts.bin_start_s(i),
                flow_a_vph=qa,
                flow_b_vph=qb,
                split_a=split_a,
                vc_a=vc["a"],
                vc_b=vc["b"],
                vc_a_less=less["a"],
                vc_b_less=less["b"],
                candidate=candidate,
            )
        )
    return out


def _lender_copes(bins: Sequence[BinAssessment], lender: Direction, start: int, end: int, rule: TidalRule) -> bool:
    """The lender keeps its v/c limit with one lane fewer in bins start..end-1 (all inside the day)."""
    if start < 0 or end > len(bins):
        return False
    for b in bins[start:end]:
        vc = b.vc_less(lender)
        if vc is None or vc > rule.max_lender_vc + 1e-9:
            return False
    return True


def plan_tidal_lanes(counts: DirectionalCounts, section: Section, rule: TidalRule | None = None) -> TidalPlan:
    """Recommend a reversible-lane schedule for ``section`` from ``counts`` under ``rule``.

    The rule (defaults: split >= 2/3, peak v/c >= 0.80, lender v/c with one lane fewer <= 0.85, periods
    of at least 1 h, gaps of up to 30 min bridged, 15 min clearance) is given in full in the module
    docstring and in :meth:`TidalRule.describe`. Returns a :class:`TidalPlan` whose ``periods`` may be
    empty (no reversal). Deterministic: the same input gives the same plan.
    """
    rule = rule or TidalRule()
    bins = _assess(counts, section, rule)
    n = len(bins)
    step = BIN_S

    # 1. runs of candidate bins [start, end) per direction
    runs: list[tuple[Direction, int, int]] = []
    for b in bins:
        if b.candidate is None:
            continue
        if runs and runs[-1][0] == b.candidate and runs[-1][2] == b.index:
            runs[-1] = (b.candidate, runs[-1][1], b.index + 1)
        else:
            runs.append((b.candidate, b.index, b.index + 1))

    # 2. bridge short gaps between runs toward the same direction (no opposite run between them,
    # since runs are in time order and only neighbours are joined)
    merged: list[tuple[Direction, int, int]] = []
    for run in runs:
        if merged:
            toward, start, end = merged[-1]
            gap = run[1] - end
            if run[0] == toward and gap * step <= rule.merge_gap_s and _lender_copes(bins, _other(toward), end, run[1], rule):
                merged[-1] = (toward, start, run[2])
                continue
        merged.append(run)

    # 3. and 4. minimum duration, then room for the clearances
    min_bins, clear = rule.min_period_s // step, rule.clearance_s // step
    periods: list[tuple[Direction, int, int]] = []
    rejected: list[RejectedRun] = []
    for toward, start, end in merged:
        lender = _other(toward)
        if end - start < min_bins:
            rejected.append(RejectedRun(toward, counts.bin_start_s(start), counts.bin_start_s(end), "too_short"))
            continue
        earliest = clear
        if periods:
            prev_toward, _prev_start, prev_end = periods[-1]
            # the previous clearance ends first; the same lane also goes back to its owner for a bin
            earliest = prev_end + clear + clear + (1 if prev_toward == toward else 0)
        s = max(start, earliest)
        while s < end and not _lender_copes(bins, lender, s - clear, s, rule):
            s += 1
        e = min(end, n - clear)
        while e > s and not _lender_copes(bins, lender, e, e + clear, rule):
            e -= 1
        if e - s < min_bins:
            rejected.append(RejectedRun(toward, counts.bin_start_s(start), counts.bin_start_s(end), "no_room_for_clearance"))
            continue
        periods.append((toward, s, e))

    out_periods = []
    uses = ["normal"] * n
    for toward, s, e in periods:
        lender = _other(toward)
        inside = bins[s:e]
        around = bins[s - clear : e + clear]
        out_periods.append(
            TidalPeriod(
                toward=toward,
                lender=lender,
                start_s=counts.bin_start_s(s),
                end_s=counts.bin_start_s(e),
                clearance_s=rule.clearance_s,
                mean_split=sum(b.split(toward) for b in inside) / len(inside),
                peak_vc_normal=max(b.vc(toward) for b in inside),
                peak_vc_with_lane=max(b.vc(toward) * section.lanes(toward) / (section.lanes(toward) + 1) for b in inside),
                lender_vc_less=max(b.vc_less(lender) or 0.0 for b in around),
            )
        )
        for i in range(s - clear, e + clear):
            uses[i] = f"reversed:{toward}" if s <= i < e else "closed"
    assessed = tuple(
        BinAssessment(
            index=b.index,
            start_s=b.start_s,
            flow_a_vph=b.flow_a_vph,
            flow_b_vph=b.flow_b_vph,
            split_a=b.split_a,
            vc_a=b.vc_a,
            vc_b=b.vc_b,
            vc_a_less=b.vc_a_less,
            vc_b_less=b.vc_b_less,
            candidate=b.candidate,
            use=use,
        )
        for b, use in zip(bins, uses, strict=True)
    )
    return TidalPlan(counts=counts, section=section, rule=rule, periods=tuple(out_periods), bins=assessed, rejected=tuple(rejected))


# --- counts from demand files ----------------------------------------------------------------------


def _bin_counts(
    passages: Iterable[tuple[Direction, float, float, float]], *, start_s: int, bins: int | None, names: tuple[str, str], source: str
) -> DirectionalCounts:
    """Counts from ``(direction, begin_s, end_s, vehicles)`` spread evenly over begin..end (a point if equal).

    Times are simulation seconds; simulation second 0 is ``start_s`` after midnight.
    """
    items = list(passages)
    if bins is None:
        # a departure at 900 s is in the second bin; a flow ending at 900 s is not
        bins = max((int(begin // BIN_S) + 1 if end <= begin else math.ceil(end / BIN_S) for _d, begin, end, _n in items), default=1)
    n = max(1, bins)
    totals: dict[Direction, list[float]] = {"a": [0.0] * n, "b": [0.0] * n}
    for direction, begin, end, vehicles in items:
        if end <= begin:
            i = int(begin // BIN_S)
            if 0 <= i < n:
                totals[direction][i] += vehicles
            continue
        rate = vehicles / (end - begin)
        for i in range(max(0, int(begin // BIN_S)), min(n, math.ceil(end / BIN_S))):
            overlap = min(end, (i + 1) * BIN_S) - max(begin, i * BIN_S)
            if overlap > 0:
                totals[direction][i] += rate * overlap
    # flows spread over bins leave float dust (299.99999999); counts of whole vehicles stay whole
    rounded = {d: tuple(round(v, 6) for v in values) for d, values in totals.items()}
    return DirectionalCounts(a=rounded["a"], b=rounded["b"], start_s=start_s, name_a=names[0], name_b=names[1], source=source)


def _check_edge_sets(edges_a: Collection[str], edges_b: Collection[str], what: str) -> tuple[frozenset[str], frozenset[str]]:
    set_a, set_b = frozenset(edges_a), frozenset(edges_b)
    for name, edges in (("a", set_a), ("b", set_b)):
        if not edges or isinstance(edges_a if name == "a" else edges_b, str):
            raise TidalInputError(f"{what}_{name}", f"expected a non-empty collection of {what.rstrip('s')} ids of direction {name}")
    if both := set_a & set_b:
        raise TidalInputError(f"{what}_b", f"{sorted(both)} are in both directions")
    return set_a, set_b


def _top_level(path: Path) -> Iterator[ET.Element]:
    """The children of the root of an XML file, each complete with its children, one at a time."""
    depth = 0
    try:
        with path.open("rb") as file:
            # Python's expat (>= 2.4) refuses entity amplification and never fetches external entities,
            # which is what defusedxml guards against; route files may come from users
            for event, element in ET.iterparse(file, events=("start", "end")):  # noqa: S314
                if event == "start":
                    depth += 1
                    continue
                depth -= 1
                if depth == 1:
                    yield element
                    element.clear()
    except FileNotFoundError as exc:
        raise TidalInputError(path.name, "no such file") from exc
    except ET.ParseError as exc:
        raise TidalInputError(path.name, f"not well-formed XML: {exc}") from exc


def _sumo_time(value: str | None, where: str, default: float) -> float:
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        if ":" in value:  # SUMO also reads [[D:]H:]M:S
            parts = [float(p) for p in value.split(":")]
            return sum(p * f for p, f in zip(reversed(parts), (1, 60, 3600, 86400), strict=False))
        raise TidalInputError(where, f"time {value!r} is not a number of seconds") from None


def _flow_span(attrs: Mapping[str, str], where: str) -> tuple[float, float, float]:
    """A SUMO flow's begin, end (s) and expected vehicles, spread evenly between them."""
    begin = _sumo_time(attrs.get("begin"), where, 0.0)
    end = _sumo_time(attrs.get("end"), where, 86400.0)  # SUMO's default end of a flow is 24 h
    span = max(0.0, end - begin)
    if "number" in attrs:
        return begin, end, float(attrs["number"])
    period = attrs.get("period")
    if period is not None and not period.startswith("exp("):
        return begin, end, math.ceil(span / float(period))
    rate = attrs.get("vehsPerHour") or attrs.get("perHour")
    if rate is not None:
        return begin, end, span * float(rate) / 3600
    if "probability" in attrs:
        return begin, end, span * float(attrs["probability"])
    if period is not None:  # exp(rate): rate vehicles per second on average
        return begin, end, span * float(period[4:-1])
    raise TidalInputError(where, "a flow needs number, period, vehsPerHour or probability")


def counts_from_sumo_routes(
    routes: Path,
    edges_a: Collection[str],
    edges_b: Collection[str],
    *,
    start_s: int = 0,
    bins: int | None = None,
    offset_s: float = 0.0,
    name_a: str = "a",
    name_b: str = "b",
) -> DirectionalCounts:
    """Directional counts per 15-minute bin from a SUMO route file.

    A vehicle counts for direction a if its route uses any edge of ``edges_a`` (the section's edges
    in that direction), likewise for b. Understood: ``<vehicle>`` with a nested ``<route edges>`` or a
    ``route`` reference, ``<trip>`` (its ``from``, ``via`` and ``to`` edges), and ``<flow>`` (with a route
    or from/to; ``number``, ``period``, ``vehsPerHour`` or ``probability``, spread evenly over begin..end,
    so bins may hold fractions). Vehicles are binned by departure time plus ``offset_s`` (seconds;
    set it to the usual travel time from the origins to the section when that is not small against
    15 minutes). Simulation second 0 is ``start_s`` after midnight; ``bins`` fixes the number of bins
    (default: up to the last departure). Raises :class:`TidalInputError` for unreadable files, unknown
    route references, or edges no vehicle uses.
    """
    set_a, set_b = _check_edge_sets(edges_a, edges_b, "edges")
    named_routes: dict[str, tuple[str, ...]] = {}
    passages: list[tuple[Direction, float, float, float]] = []

    def edges_of(element: ET.Element, where: str) -> tuple[str, ...]:
        nested = element.find("route")
        if nested is not None:
            return tuple(nested.get("edges", "").split())
        ref = element.get("route")
        if ref is not None:
            if ref not in named_routes:
                raise TidalInputError(where, f"route {ref!r} is not defined before it is used")
            return named_routes[ref]
        via = element.get("via", "").split()
        return tuple(e for e in (element.get("from"), *via, element.get("to")) if e)

    def add(edges: tuple[str, ...], begin: float, end: float, vehicles: float) -> None:
        used = set(edges)
        if used & set_a:
            passages.append(("a", begin + offset_s, end + offset_s, vehicles))
        if used & set_b:
            passages.append(("b", begin + offset_s, end + offset_s, vehicles))

    for element in _top_level(routes):
        where = f"{routes.name}: <{element.tag} id={element.get('id')!r}>"
        if element.tag == "route" and element.get("id"):
            named_routes[str(element.get("id"))] = tuple(element.get("edges", "").split())
        elif element.tag in ("vehicle", "trip"):
            depart = _sumo_time(element.get("depart"), f"{where}.depart", 0.0)
            add(edges_of(element, where), depart, depart, 1.0)
        elif element.tag == "flow":
            begin, end, vehicles = _flow_span(element.attrib, where)
            add(edges_of(element, where), begin, end, vehicles)
    counts = _bin_counts(passages, start_s=start_s, bins=bins, names=(name_a, name_b), source=routes.name)
    _check_used(counts, set_a, set_b, "edges")
    return counts


def _check_used(counts: DirectionalCounts, set_a: frozenset[str], set_b: frozenset[str], what: str) -> None:
    for direction in DIRECTIONS:
        edges = set_a if direction == "a" else set_b
        if not any(counts.of(direction)):
            raise TidalInputError(
                f"{what}_{direction}", f"no vehicle uses {sorted(edges)} in the counted time: check the ids and directions"
            )


def counts_from_cityflow(
    roadnet: Path,
    flow: Path,
    roads_a: Collection[str],
    roads_b: Collection[str],
    *,
    horizon_s: float = 3600.0,
    start_s: int = 0,
    bins: int | None = None,
    offset_s: float = 0.0,
    name_a: str = "a",
    name_b: str = "b",
) -> DirectionalCounts:
    """Directional counts per 15-minute bin from a CityFlow roadnet + flow.

    Vehicles are expanded as CityFlow runs them (``cityflow.departures``: departure times and complete
    routes; ``horizon_s`` ends unbounded flows), counted for a direction when their route uses one of
    its roads, and binned by departure time plus ``offset_s``, as :func:`counts_from_sumo_routes`.
    Raises ``CityFlowError`` for bad CityFlow files and :class:`TidalInputError` for roads no vehicle
    uses.
    """
    set_a, set_b = _check_edge_sets(roads_a, roads_b, "roads")
    net = cityflow.read_roadnet(roadnet)
    for name, roads in (("a", set_a), ("b", set_b)):
        if unknown := sorted(r for r in roads if not net.has_road(r)):
            raise TidalInputError(f"roads_{name}", f"{unknown} are not roads of {roadnet.name}")
    vehicles = cityflow.departures(cityflow.read_flows(flow), net, horizon=horizon_s, file=flow.name)
    passages: list[tuple[Direction, float, float, float]] = []
    for v in vehicles:
        used = set(v.route)
        t = v.depart + offset_s
        if used & set_a:
            passages.append(("a", t, t, 1.0))
        if used & set_b:
            passages.append(("b", t, t, 1.0))
    n = bins if bins is not None else max(1, math.ceil(horizon_s / BIN_S))
    counts = _bin_counts(passages, start_s=start_s, bins=n, names=(name_a, name_b), source=flow.name)
    _check_used(counts, set_a, set_b, "roads")
    return counts


# --- the SUMO check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corridor:
    """A straight two-way arterial for the SUMO check.

    ``length_m`` metres split by ``junctions`` evenly spaced fixed-time signals (0 for none), each
    crossed by a one-lane side street; ``speed_mps`` the limit (13.89 m/s = 50 km/h). Signal timing, in
    seconds: the arterial's green, then yellow and all-red, then the side street's green (the rest of
    the cycle), yellow, all-red. ``saturation_vphg``: vehicles per hour of green per lane, for the
    capacity the plan is computed with (:meth:`lane_capacity_vph`).
    """

    length_m: float = 2400.0
    junctions: int = 2
    speed_mps: float = 13.89
    cycle_s: int = 90
    main_green_s: int = 56
    yellow_s: int = 3
    all_red_s: int = 1
    saturation_vphg: float = DEFAULT_LANE_CAPACITY_VPH

    def __post_init__(self) -> None:
        if not (math.isfinite(self.length_m) and self.length_m >= 200 * (self.junctions + 1)):
            raise TidalInputError("corridor.length_m", f"{self.length_m!r} m leaves less than 200 m between junctions")
        if self.junctions < 0:
            raise TidalInputError("corridor.junctions", f"{self.junctions!r} is not a number of junctions")
        if not 0 < self.speed_mps <= 40:
            raise TidalInputError("corridor.speed_mps", f"{self.speed_mps!r} m/s is not a speed limit")
        if self.junctions and self.side_green_s < 5:
            raise TidalInputError("corridor.main_green_s", f"the side street keeps {self.side_green_s} s of green (at least 5 s)")

    @property
    def side_green_s(self) -> int:
        """The side street's green, seconds: what the cycle leaves."""
        return self.cycle_s - self.main_green_s - 2 * (self.yellow_s + self.all_red_s)

    def lane_capacity_vph(self) -> float:
        """Capacity of one arterial lane, veh/h: saturation flow times the green share (yellow used), or the
        saturation flow itself without signals."""
        if not self.junctions:
            return self.saturation_vphg
        return signalised_lane_capacity(self.main_green_s + self.yellow_s, self.cycle_s, saturation_vphg=self.saturation_vphg)


#: a compressed day (bin by bin): flows as shares of the peak direction's normal capacity, (a, b)
_DAY_PROFILE: Final = (
    (0.45, 0.35),  # early: light both ways
    (0.85, 0.40),  # build-up toward a
    (1.00, 0.35), (1.00, 0.35), (1.00, 0.35), (1.00, 0.35),  # morning peak toward a (scaled to peak_load)
    (0.85, 0.40), (0.55, 0.40),  # falling off
    (0.50, 0.50), (0.50, 0.50),  # midday, balanced
    (0.40, 0.55), (0.40, 0.85),  # build-up toward b
    (0.35, 1.00), (0.35, 1.00), (0.35, 1.00), (0.35, 1.00),  # evening peak toward b
    (0.40, 0.85), (0.40, 0.50),  # falling off
)  # fmt: skip


def corridor_day_counts(
    section: Section, *, peak_load: float = 1.2, name_a: str = "inbound", name_b: str = "outbound"
) -> DirectionalCounts:
    """A day compressed to four and a half hours of 15-minute bins, for the SUMO check.

    Early traffic, a one-hour morning peak toward a (the city) with a build-up and fall-off, a
    balanced midday, a one-hour evening peak toward b, and a fall-off. Flows are shares of the peak
    direction's normal capacity (its lanes times ``section.lane_capacity_vph``); in the peaks the peak
    direction demands ``peak_load`` times that (over capacity above 1) and the other direction
    0.35 times it, which one lane fewer carries. Bin times start at 00:00 (simulation time).
    """
    if not 0 < peak_load <= 3:
        raise TidalInputError("peak_load", f"{peak_load!r} is not a load factor (above 0, at most 3)")
    out: dict[Direction, list[float]] = {"a": [], "b": []}
    for shares in _DAY_PROFILE:
        peak: Direction = "a" if shares[0] >= shares[1] else "b"
        reference_vph = section.lanes(peak) * section.lane_capacity_vph
        for direction, share in zip(DIRECTIONS, shares, strict=True):
            load = peak_load if share == 1.0 else share
            out[direction].append(round(load * reference_vph * BIN_S / 3600))
    return DirectionalCounts(a=tuple(out["a"]), b=tuple(out["b"]), start_s=0, name_a=name_a, name_b=name_b, source="corridor_day_counts")


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """One direction's vehicles planned to depart in one time window, and how they fared.

    ``label`` is the window's ``HH:MM-HH:MM`` (simulation clock) and what the plan does in it
    (``"normal"``, ``"reversal toward a"``); ``mean_travel_time_s``: from the planned departure to
    arrival, so the wait to enter counts (vehicles unfinished or never inserted count up to the end of
    the run); ``mean_time_loss_s``: SUMO's time loss of inserted vehicles plus their wait to enter;
    ``arrived``: vehicles that arrived by the end of the run.
    """

    direction: Direction
    start_s: int
    end_s: int
    label: str
    vehicles: int
    arrived: int
    mean_travel_time_s: float
    mean_time_loss_s: float


@dataclass(frozen=True)
class RunFigures:
    """One SUMO run of the corridor (times in seconds, delays in vehicle-hours).

    ``vehicles``: planned; ``inserted``/``arrived``: by the end of the run; ``arrived_in_horizon``:
    vehicles that arrived before the demand's last bin ended (throughput); ``still_running``: inserted
    but not arrived at the end; ``not_inserted``: still waiting to enter at the end;
    ``time_loss_h``: SUMO's time loss (driving below the desired speed, stops included) of inserted
    vehicles; ``wait_to_enter_h``: their insertion delay plus the wait so far of those never inserted;
    ``total_delay_h``: the two summed; ``windows``: per direction and time window, then per direction
    over the whole run (label ``"all"``); ``end_s``: when the run stopped (all arrived, or the horizon
    plus the drain time); ``wall_s``: wall-clock seconds.
    """

    reversal: bool
    vehicles: int
    inserted: int
    arrived: int
    arrived_in_horizon: int
    still_running: int
    not_inserted: int
    time_loss_h: float
    wait_to_enter_h: float
    total_delay_h: float
    mean_travel_time_s: float
    windows: tuple[WindowFigures, ...]
    end_s: float
    wall_s: float

    def window(self, direction: Direction, label_prefix: str) -> WindowFigures:
        """The first window of ``direction`` whose label starts with ``label_prefix`` (e.g. ``"all"``)."""
        for w in self.windows:
            if w.direction == direction and w.label.startswith(label_prefix):
                return w
        raise KeyError(f"{direction} {label_prefix}")


@dataclass(frozen=True)
class TidalCheck:
    """A plan checked in SUMO: the same demand and seed without reversal (``before``) and with it (``after``)."""

    plan: TidalPlan
    corridor: Corridor
    seed: int
    before: RunFigures
    after: RunFigures
    directory: Path | None

    @property
    def delay_ratio(self) -> float:
        """Total delay with the plan over total delay without it (below 1 is better)."""
        return self.after.total_delay_h / self.before.total_delay_h if self.before.total_delay_h else math.nan


@dataclass(frozen=True)
class _Job:
    """One simulation for a worker process (paths as strings: pickled to a spawned process)."""

    net: str
    routes: str
    tripinfo: str
    error_log: str
    seed: int
    horizon_s: int
    drain_s: int
    closed_at_start: tuple[str, ...]
    switches: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...]  # time, lanes to open, lanes to close


@dataclass(frozen=True)
class _Outcome:
    end_s: float
    wall_s: float
    # SUMO's own exceptions may not survive pickling back to the parent, so a failure comes back as text
    error: str | None = None


def _simulate(job: _Job) -> _Outcome:
    """Run one simulation (in a process of its own: libsumo holds one simulation per process)."""
    started = time.perf_counter()
    try:
        end_s = _run_libsumo(job)
    except Exception as exc:  # noqa: BLE001 - handed back as text; the parent raises SumoFailed
        return _Outcome(end_s=math.nan, wall_s=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    return _Outcome(end_s=end_s, wall_s=time.perf_counter() - started)


def _run_libsumo(job: _Job) -> float:
    """Step the simulation from switch to switch, then to the horizon, then until empty or drained; its end (s)."""
    from citybrain.traffic.simulation import import_libsumo  # the one quiet import of libsumo

    ls = import_libsumo()
    ls.start(
        [
            str(sumo_tools.binary("sumo")),
            "--net-file", job.net,
            "--route-files", job.routes,
            "--begin", "0",
            "--seed", str(job.seed),
            "--time-to-teleport", "-1",  # stuck vehicles stay stuck and count
            "--tripinfo-output", job.tripinfo,
            "--tripinfo-output.write-unfinished", "true",
            "--no-step-log", "true",
            "--duration-log.disable", "true",
            "--error-log", job.error_log,
            "--no-warnings", "true",
        ]
    )  # fmt: skip
    try:

        def close(lanes: Iterable[str]) -> None:
            for lane in lanes:
                ls.lane.setDisallowed(lane, ["all"])

        def open_(lanes: Iterable[str]) -> None:
            for lane in lanes:
                ls.lane.setDisallowed(lane, [])  # an empty list allows every class again

        close(job.closed_at_start)
        for at_s, opening, closing in job.switches:
            if at_s > 0:
                ls.simulationStep(float(at_s))
            close(closing)
            open_(opening)
        ls.simulationStep(float(job.horizon_s))
        limit = job.horizon_s + job.drain_s
        while ls.simulation.getMinExpectedNumber() > 0 and ls.simulation.getTime() < limit:
            ls.simulationStep(min(limit, ls.simulation.getTime() + 60.0))
        return float(ls.simulation.getTime())
    finally:
        ls.close()  # also writes the unfinished trips into the tripinfo file


def _write_xml(root: ET.Element, path: Path) -> None:
    ET.indent(root, space="    ")
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


@dataclass(frozen=True)
class _CorridorNet:
    net: Path
    # SUMO lane ids of the physical lane owned by each lendable direction: (owner's lane, borrower's lane)
    lanes: Mapping[Direction, tuple[tuple[str, ...], tuple[str, ...]]]
    routes: Mapping[Direction, tuple[str, ...]]


def _build_corridor(section: Section, corridor: Corridor, folder: Path) -> _CorridorNet:
    """Plain XML of the corridor, built by netconvert; a is west to east, b east to west.

    Each direction's edges have its normal lanes plus, next to the median, one lane standing for the
    other direction's inner lane when that one may be lent to it.
    """
    j = corridor.junctions
    seg = corridor.length_m / (j + 1)
    xs = [k * seg for k in range(j + 2)]
    names = ["w", *(f"j{k}" for k in range(1, j + 1)), "e"]
    lanes = {
        "a": section.lanes_a + (1 if "b" in section.reversible_from else 0),
        "b": section.lanes_b + (1 if "a" in section.reversible_from else 0),
    }
    nodes, edges = ET.Element("nodes"), ET.Element("edges")
    connections, tls = ET.Element("connections"), ET.Element("tlLogics")
    speed = f"{corridor.speed_mps:g}"
    for name, x in zip(names, xs, strict=True):
        signal = name.startswith("j")
        attrs = {"id": name, "x": f"{x:.2f}", "y": "0", "type": "traffic_light" if signal else "priority"}
        if signal:
            attrs["tl"] = name
        ET.SubElement(nodes, "node", attrs)
        if signal:
            ET.SubElement(nodes, "node", id=f"{name}n", x=f"{x:.2f}", y="200", type="priority")
            ET.SubElement(nodes, "node", id=f"{name}s", x=f"{x:.2f}", y="-200", type="priority")
    routes: dict[Direction, list[str]] = {"a": [], "b": []}
    for k in range(j + 1):
        ends: dict[Direction, tuple[str, str]] = {"a": (names[k], names[k + 1]), "b": (names[j + 1 - k], names[j - k])}
        for direction, (origin, dest) in ends.items():
            edge_id = f"{direction}{k}"
            routes[direction].append(edge_id)
            ET.SubElement(edges, "edge", {"id": edge_id, "from": origin, "to": dest, "numLanes": str(lanes[direction]), "speed": speed})
    for k in range(1, j + 1):
        node = names[k]
        for origin, dest in ((f"{node}n", node), (node, f"{node}s"), (f"{node}s", node), (node, f"{node}n")):
            ET.SubElement(edges, "edge", {"id": f"{origin}_{dest}", "from": origin, "to": dest, "numLanes": "1", "speed": speed})
        logic = ET.SubElement(tls, "tlLogic", id=node, type="static", programID="0", offset="0")
        main = lanes["a"] + lanes["b"]
        timing = corridor
        for duration, state in (
            (timing.main_green_s, "G" * main + "rr"),
            (timing.yellow_s, "y" * main + "rr"),
            (timing.all_red_s, "r" * (main + 2)),
            (timing.side_green_s, "r" * main + "GG"),
            (timing.yellow_s, "r" * main + "yy"),
            (timing.all_red_s, "r" * (main + 2)),
        ):
            if duration > 0:
                ET.SubElement(logic, "phase", duration=str(duration), state=state)
        # link indices fixed here, so the phase strings above are known to match them
        index = 0
        for direction, before_edge, after_edge in (("a", f"a{k - 1}", f"a{k}"), ("b", f"b{j - k}", f"b{j - k + 1}")):
            for lane in range(lanes[direction]):
                link = {"from": before_edge, "to": after_edge, "fromLane": str(lane), "toLane": str(lane)}
                ET.SubElement(connections, "connection", link)
                ET.SubElement(tls, "connection", {**link, "tl": node, "linkIndex": str(index)})
                index += 1
        for origin, dest in ((f"{node}n_{node}", f"{node}_{node}s"), (f"{node}s_{node}", f"{node}_{node}n")):
            link = {"from": origin, "to": dest, "fromLane": "0", "toLane": "0"}
            ET.SubElement(connections, "connection", link)
            ET.SubElement(tls, "connection", {**link, "tl": node, "linkIndex": str(index)})
            index += 1
    files = {"nodes": "corridor.nod.xml", "edges": "corridor.edg.xml", "connections": "corridor.con.xml", "tls": "corridor.tll.xml"}
    for key, root in (("nodes", nodes), ("edges", edges), ("connections", connections), ("tls", tls)):
        _write_xml(root, folder / files[key])
    args = ["--node-files", files["nodes"], "--edge-files", files["edges"], "--connection-files", files["connections"]]
    if j:
        args += ["--tllogic-files", files["tls"]]
    # the corridor has no turns; only the connections written above exist
    args += ["--output-file", "corridor.net.xml", "--no-turnarounds", "true"]
    (folder / "netconvert.log").write_text(sumo_tools.run_netconvert(args, cwd=folder))
    physical: dict[Direction, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for owner in section.reversible_from:
        borrower = _other(owner)
        # SUMO numbers lanes from the kerb, so the inner lane is the highest index; the borrower's
        # stand-in lane is the one added next to the median
        physical[owner] = (
            tuple(f"{e}_{section.lanes(owner) - 1}" for e in routes[owner]),
            tuple(f"{e}_{section.lanes(borrower)}" for e in routes[borrower]),
        )
    return _CorridorNet(net=folder / "corridor.net.xml", lanes=physical, routes={d: tuple(r) for d, r in routes.items()})


@dataclass(frozen=True, slots=True)
class _Planned:
    vehicle_id: str
    direction: Direction
    depart_s: float


def _write_demand(counts: DirectionalCounts, net: _CorridorNet, path: Path, seed: int) -> list[_Planned]:
    """Random arrivals within each bin (uniform, seeded); fractional counts round by a draw."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demand for a simulation, not a secret
    planned: list[_Planned] = []
    for direction in DIRECTIONS:
        serial = 0
        for i, count in enumerate(counts.of(direction)):
            whole = int(count) + (1 if rng.random() < count - int(count) else 0)
            for t in sorted(rng.uniform(i * BIN_S, (i + 1) * BIN_S) for _ in range(whole)):
                planned.append(_Planned(f"{direction}.{serial}", direction, round(t, 1)))
                serial += 1
    planned.sort(key=lambda p: (p.depart_s, p.vehicle_id))
    root = ET.Element("routes")
    # SUMO's default passenger car (Krauss, sigma 0.5, tau 1 s), named so the file says what runs
    ET.SubElement(root, "vType", id="car", vClass="passenger")
    for direction in ("a", "b"):
        ET.SubElement(root, "route", id=f"route_{direction}", edges=" ".join(net.routes[direction]))
    for p in planned:
        ET.SubElement(
            root,
            "vehicle",
            id=p.vehicle_id,
            type="car",
            route=f"route_{p.direction}",
            depart=f"{p.depart_s:.1f}",
            departLane="best",
            departSpeed="max",
        )
    _write_xml(root, path)
    return planned


def _switches(
    plan: TidalPlan | None, net: _CorridorNet, section: Section
) -> tuple[tuple[str, ...], tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...]]:
    """Lanes closed at the start, and (time, lanes to open, lanes to close) at each change of use.

    Simulation time 0 is ``counts.start_s``; the borrower's stand-in lanes start closed.
    """
    closed = tuple(lane for owner in section.reversible_from for lane in net.lanes[owner][1])
    if plan is None:
        return closed, ()
    origin = plan.counts.start_s
    changes: dict[int, tuple[list[str], list[str]]] = {}
    for interval in plan.lane_schedule():
        owner_lanes, borrower_lanes = net.lanes[interval.owner]
        opening, closing = changes.setdefault(interval.start_s - origin, ([], []))
        if interval.use == "normal":
            opening += owner_lanes
            closing += borrower_lanes
        elif interval.use == "closed":
            closing += owner_lanes + borrower_lanes
        else:
            opening += borrower_lanes
            closing += owner_lanes
    # changes at 0 are applied before the first step
    switches = tuple((at, tuple(o), tuple(c)) for at, (o, c) in sorted(changes.items()))
    return closed, switches


def _windows(plan: TidalPlan) -> list[tuple[int, int, str]]:
    """Time windows (simulation seconds) for the figures: each period with its clearances, and the normal times between."""
    origin, end = plan.counts.start_s, plan.counts.end_s
    marks: list[tuple[int, int, str]] = []
    at = origin
    for p in plan.periods:
        if p.closed_from_s > at:
            marks.append((at, p.closed_from_s, "normal"))
        marks.append((p.closed_from_s, p.returned_s, f"reversal toward {p.toward}"))
        at = p.returned_s
    if end > at:
        marks.append((at, end, "normal"))
    return [(s - origin, e - origin, f"{clock(s)}-{clock(e)} {what}") for s, e, what in marks]


def _figures(
    *,
    reversal: bool,
    planned: Sequence[_Planned],
    tripinfo: Path,
    outcome: _Outcome,
    horizon_s: int,
    windows: Sequence[tuple[int, int, str]],
) -> RunFigures:
    trips: dict[str, dict[str, str]] = {}
    for element in _top_level(tripinfo):
        if element.tag == "tripinfo":
            trips[str(element.get("id"))] = dict(element.attrib)
    end = outcome.end_s
    # per vehicle: (travel time from planned departure, time loss incl. wait to enter, arrived, arrived in horizon)
    fate: dict[str, tuple[float, float, bool, bool]] = {}
    time_loss = wait = 0.0
    for p in planned:
        trip = trips.get(p.vehicle_id)
        if trip is None:  # never inserted
            waited = max(0.0, end - p.depart_s)
            wait += waited
            fate[p.vehicle_id] = (waited, waited, False, False)
            continue
        arrival = float(trip["arrival"])
        done = arrival >= 0
        delay = float(trip["departDelay"])
        loss = float(trip["timeLoss"])
        time_loss += loss
        wait += delay
        finish = arrival if done else end
        fate[p.vehicle_id] = (finish - p.depart_s, loss + delay, done, done and arrival <= horizon_s)
    rows: list[WindowFigures] = []
    for direction in DIRECTIONS:
        for start, stop, label in [*windows, (0, horizon_s, "all")]:
            group = [fate[p.vehicle_id] for p in planned if p.direction == direction and start <= p.depart_s < stop]
            k = len(group)
            rows.append(
                WindowFigures(
                    direction=direction,
                    start_s=start,
                    end_s=stop,
                    label=label,
                    vehicles=k,
                    arrived=sum(1 for g in group if g[2]),
                    mean_travel_time_s=sum(g[0] for g in group) / k if k else math.nan,
                    mean_time_loss_s=sum(g[1] for g in group) / k if k else math.nan,
                )
            )
    values = list(fate.values())
    arrived = sum(1 for v in values if v[2])
    return RunFigures(
        reversal=reversal,
        vehicles=len(planned),
        inserted=len(trips),
        arrived=arrived,
        arrived_in_horizon=sum(1 for v in values if v[3]),
        still_running=len(trips) - sum(1 for t in trips.values() if float(t["arrival"]) >= 0),
        not_inserted=len(planned) - len(trips),
        time_loss_h=time_loss / 3600,
        wait_to_enter_h=wait / 3600,
        total_delay_h=(time_loss + wait) / 3600,
        mean_travel_time_s=sum(v[0] for v in values) / len(values) if values else math.nan,
        windows=tuple(rows),
        end_s=end,
        wall_s=outcome.wall_s,
    )


def check_in_sumo(
    plan: TidalPlan,
    *,
    corridor: Corridor | None = None,
    seed: int = 0,
    drain_s: int = 1800,
    workdir: Path | None = None,
    workers: int = 2,
) -> TidalCheck:
    """Simulate ``plan`` on a corridor with the plan's section and counts, against no reversal.

    The corridor (:class:`Corridor`, default 2.4 km with two signals) gets the section's lanes, the
    demand is drawn from ``plan.counts`` (simulation time 0 = ``counts.start_s``; the same vehicles in
    both runs), and each run goes on after the last bin until every vehicle has arrived or ``drain_s``
    seconds have passed. ``seed`` seeds the demand and SUMO. Files (network, routes, trip outputs, SUMO's
    error logs) are written to ``workdir`` and kept, or to a temporary folder removed afterwards. The
    two runs go to ``workers`` processes (1 runs them one after the other). Raises
    ``sumo_tools.SumoNotFound`` / ``SumoFailed`` when SUMO is missing or fails.
    """
    corridor = corridor or Corridor()
    if importlib.util.find_spec("libsumo") is None:
        raise sumo_tools.SumoNotFound("libsumo")
    with contextlib.ExitStack() as stack:
        folder = workdir if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tidal-")))
        folder.mkdir(parents=True, exist_ok=True)
        net = _build_corridor(plan.section, corridor, folder)
        planned = _write_demand(plan.counts, net, folder / "demand.rou.xml", seed)
        horizon = plan.counts.bins * BIN_S
        jobs = {}
        for name, applied in (("before", None), ("after", plan)):
            closed, switches = _switches(applied, net, plan.section)
            jobs[name] = _Job(
                net=str(net.net),
                routes=str(folder / "demand.rou.xml"),
                tripinfo=str(folder / f"{name}.tripinfo.xml"),
                error_log=str(folder / f"{name}.sumo.log"),
                seed=seed,
                horizon_s=horizon,
                drain_s=drain_s,
                closed_at_start=closed,
                switches=switches,
            )
        # spawn: a fresh interpreter per run, since libsumo keeps one simulation per process
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, min(workers, 2)), mp_context=context, max_tasks_per_child=1) as pool:
            futures = {name: pool.submit(_simulate, job) for name, job in jobs.items()}
            outcomes = {name: future.result() for name, future in futures.items()}
        for name, outcome in outcomes.items():
            if outcome.error is not None:
                log = Path(jobs[name].error_log)
                said = log.read_text(errors="replace").strip()[-1500:] if log.is_file() else ""
                raise sumo_tools.SumoFailed("sumo (libsumo)", 1, f"{name} run: {outcome.error} {said}".strip())
        windows = _windows(plan)
        figures = {
            name: _figures(
                reversal=name == "after",
                planned=planned,
                tripinfo=Path(jobs[name].tripinfo),
                outcome=outcomes[name],
                horizon_s=horizon,
                windows=windows,
            )
            for name in jobs
        }
    return TidalCheck(plan=plan, corridor=corridor, seed=seed, before=figures["before"], after=figures["after"], directory=workdir)

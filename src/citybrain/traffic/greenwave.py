"""Green waves (绿波): two-way progression bands on an arterial, optimised with MAXBAND, drawn as a
time-space diagram, and checked in SUMO.

An *arterial* is a row of signalised junctions ``S_1 .. S_n`` at positions ``x_1 = 0 < x_2 < ...``
(metres). *Outbound* traffic drives from ``S_1`` towards ``S_n``, *inbound* traffic back. All
junctions run one common cycle ``C`` (s). At junction ``i`` the arterial's through movement is red
for ``R_i`` s outbound and ``R̄_i`` s inbound per cycle ("red" is all the time the movement may not
enter: red, yellow and clearance). A *band* is a window of ``b`` seconds such that a vehicle entering
the arterial inside it at the progression speed meets green at every junction; MAXBAND chooses the
offsets (and, if allowed, the cycle and the speeds) that give the widest two-way bands.

MAXBAND (Little, Kelson & Gartner 1981, "MAXBAND: a program for setting signals on arteries and
triangular networks", TRR 795), as solved here. Times in the model are in *cycles* (fractions of
``C``); ``z = 1/C`` (1/s) is the signal frequency.

Data, per junction ``i``: ``r_i = R_i z``, ``r̄_i = R̄_i z`` (reds, cycles); ``Δ_i`` (s), the time
from the centre of the outbound red to the centre of the inbound red, from a set of options (one for
simultaneous through phases; with left-turn phases, one per lead/lag pattern, see
:func:`dual_ring_junction`); ``τ_i``, ``τ̄_i`` (s), queue clearance: how long after the start of green
the band may start, for vehicles queued from side streets. Per link ``i`` (``S_i`` to ``S_{i+1}``):
its length ``d_i`` (m) and the allowed progression speeds ``e ≤ v ≤ f`` (m/s) each way. ``k``: the
ratio of inbound to outbound volume.

Variables: ``b``, ``b̄`` (cycles) outbound and inbound bandwidth; ``z`` in ``[1/C_max, 1/C_min]``;
``w_i`` (cycles) from the end of the outbound red at ``S_i`` to the band's first edge; ``w̄_i``
(cycles) from the inbound band's last edge to the start of the inbound red at ``S_i``; ``t_i``,
``t̄_i`` (cycles) the travel times on link ``i``; ``m_i`` integers ("loop integers"); binaries
``y_ij`` choosing junction ``i``'s ``Δ`` option ``j``.

    maximise   b + k·b̄
    subject to w_i + b ≤ 1 − R_i z                      (outbound band inside the outbound green)
               w_i ≥ τ_i z                               (... after the queue has cleared)
               w̄_i + b̄ ≤ 1 − (R̄_i + τ̄_i) z              (the same inbound)
               (d_i/f_i) z ≤ t_i ≤ (d_i/e_i) z          (speeds; the same for t̄_i)
               (w_i + w̄_i) − (w_{i+1} + w̄_{i+1}) + (t_i + t̄_i) + (Δ_{i+1} − Δ_i) z − m_i
                   = ½(R_{i+1} + R̄_{i+1}) z − ½(R_i + R̄_i) z            (the loop constraint)
               (1 − k) b̄ ≥ (1 − k) k b                   (the band ratio: no direction starves)
               Δ_i = Σ_j y_ij Δ_ij,  Σ_j y_ij = 1,  m_i ∈ ℤ,  all other variables ≥ 0

The loop constraint says that going out along the outbound band and back along the inbound band
returns to the same signal after a whole number of cycles. ``y_ij z`` is a product of a binary and a
bounded variable, written exactly with four linear inequalities (McCormick). Small secondary terms
break ties without giving up bandwidth: among equal ``b + k·b̄`` the more even split is preferred
(``+ 10⁻³ min(b, b̄/k)``); among equal bands, the speeds nearest the design speeds
(``− 10⁻⁴ Σ|t_i − d_i z / v_i|``) and bands that vehicles queued at a red can catch (``− 10⁻⁴`` per
cycle by which the green before the band shrinks from one junction to the next, and per cycle of
green before the band where each direction enters; see the comment in :func:`maxband`). The MILP is
solved with HiGHS through ``highspy``.

From a solution, with junction 1's outbound green start as the reference: the outbound band passes
``S_i`` at ``a_i = w_1 + Σ_{k<i} t_k``, so the outbound green starts at ``g_i = a_i − w_i`` (the
offset), the outbound red is centred at ``g_i − r_i/2``, the inbound red at that plus ``Δ_i``, and the
inbound green starts half an inbound red later. All of this is returned in seconds.

Also here: :func:`time_space_diagram` (PNG bytes, matplotlib imported only when called) and
:func:`check_in_sumo`, which runs the plan and uncoordinated offsets on a SUMO network
(:func:`corridor_from_sumo`) and reports stops and travel times. Plain Python, no web code, no
database; SUMO runs as a child process found by ``sumo_tools``.
"""

from __future__ import annotations

import itertools
import math
import random
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from citybrain.traffic import sumo_tools

__all__ = [
    "Arterial",
    "ArterialJunction",
    "Corridor",
    "CorridorDemand",
    "FlowFigures",
    "GreenWaveError",
    "GreenWavePlan",
    "GreenWaveUnsolved",
    "JunctionTiming",
    "SpeedRange",
    "SumoCheck",
    "VariantFigures",
    "check_in_sumo",
    "corridor_from_sumo",
    "dual_ring_junction",
    "maxband",
    "signal_programs",
    "time_space_diagram",
]

#: weight of the even-split tie-break (cycles of bandwidth are worth 1; this is worth at most 10⁻³)
_BALANCE_WEIGHT = 1e-3
#: weight of the design-speed tie-break per cycle of travel-time deviation
_SPEED_WEIGHT = 1e-4
#: weight of the queue-release tie-break per cycle of green the band leaves unused before it
_QUEUE_WEIGHT = 1e-4


class GreenWaveError(ValueError):
    """An arterial, plan or corridor that cannot be used as given (key ``traffic.greenwave.invalid``).

    ``where`` names the junction or link (``"junction J3 (#3)"``), ``field`` the input field, ``reason``
    what is wrong; ``str()`` reads in English, the service layer translates with ``key`` and ``params``.
    """

    key = "traffic.greenwave.invalid"

    def __init__(self, where: str, field: str, reason: str) -> None:
        super().__init__(f"{where}: {field}: {reason}" if where else f"{field}: {reason}")
        self.params = {"where": where, "field": field, "reason": reason}


class GreenWaveUnsolved(RuntimeError):
    """HiGHS found no solution (key ``traffic.greenwave.unsolved``); ``status`` is HiGHS's model status."""

    key = "traffic.greenwave.unsolved"

    def __init__(self, status: str) -> None:
        super().__init__(f"MAXBAND found no solution: HiGHS says {status!r}")
        self.params = {"status": status}


def _finite(value: float, where: str, name: str, *, positive: bool = False, non_negative: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GreenWaveError(where, name, f"must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise GreenWaveError(where, name, f"must be greater than 0, got {value}")
    if non_negative and value < 0:
        raise GreenWaveError(where, name, f"must not be negative, got {value}")


# --- input -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeedRange:
    """Progression speed in one direction, m/s: the design speed and the range MAXBAND may choose in.

    Without ``min_mps``/``max_mps`` the speed is fixed at ``design_mps``. With a range, each link gets
    its own speed in it (as in MAXBAND), the design speed being preferred among equal bands.
    """

    design_mps: float
    min_mps: float | None = None
    max_mps: float | None = None

    def __post_init__(self) -> None:
        _finite(self.design_mps, "speed", "design_mps", positive=True)
        for name in ("min_mps", "max_mps"):
            value = getattr(self, name)
            if value is not None:
                _finite(value, "speed", name, positive=True)
        if not self.low <= self.design_mps <= self.high:
            raise GreenWaveError("speed", "design_mps", f"must lie in the allowed range {self.low}..{self.high} m/s, got {self.design_mps}")

    @property
    def low(self) -> float:
        """Lowest allowed speed, m/s."""
        return self.design_mps if self.min_mps is None else self.min_mps

    @property
    def high(self) -> float:
        """Highest allowed speed, m/s."""
        return self.design_mps if self.max_mps is None else self.max_mps


@dataclass(frozen=True, slots=True)
class ArterialJunction:
    """One signalised junction of an arterial and its arterial through-movement timing (seconds).

    ``red_outbound_s``/``red_inbound_s``: time per cycle the through movement of each direction may
    not enter (red plus yellow and clearance). ``red_shift_options``: named values of Δ, the time
    from the centre of the outbound red to the centre of the inbound red (s); MAXBAND picks one.
    The default, one option of 0 s, is simultaneous through phases with no left-turn phase between
    them; :func:`dual_ring_junction` builds the lead/lag options of left-turn phases.
    ``queue_clearance_*_s``: seconds after the start of green before the band may start.
    """

    id: str
    red_outbound_s: float
    red_inbound_s: float
    red_shift_options: tuple[tuple[str, float], ...] = (("simultaneous", 0.0),)
    queue_clearance_outbound_s: float = 0.0
    queue_clearance_inbound_s: float = 0.0

    def __post_init__(self) -> None:
        where = f"junction {self.id}"
        if not isinstance(self.id, str) or not self.id.strip():
            raise GreenWaveError("junction", "id", f"must be a non-empty string, got {self.id!r}")
        for name in ("red_outbound_s", "red_inbound_s", "queue_clearance_outbound_s", "queue_clearance_inbound_s"):
            _finite(getattr(self, name), where, name, non_negative=True)
        if not self.red_shift_options:
            raise GreenWaveError(where, "red_shift_options", "needs at least one option")
        names = [name for name, _ in self.red_shift_options]
        if len(set(names)) != len(names):
            raise GreenWaveError(where, "red_shift_options", f"option names must be unique, got {names}")
        for name, shift in self.red_shift_options:
            _finite(shift, where, f"red_shift_options[{name}]")

    @classmethod
    def from_green_splits(cls, id: str, cycle_s: float, green_outbound: float, green_inbound: float) -> ArterialJunction:  # noqa: A002
        """A junction given its through greens as fractions of ``cycle_s`` (0 < split ≤ 1), reds in seconds."""
        where = f"junction {id}"
        _finite(cycle_s, where, "cycle_s", positive=True)
        for name, split in (("green_outbound", green_outbound), ("green_inbound", green_inbound)):
            _finite(split, where, name)
            if not 0 < split <= 1:
                raise GreenWaveError(where, name, f"a green split is a fraction of the cycle in (0, 1], got {split}")
        return cls(id, red_outbound_s=(1 - green_outbound) * cycle_s, red_inbound_s=(1 - green_inbound) * cycle_s)


def dual_ring_junction(
    id: str,  # noqa: A002 - the junction's id, as everywhere in the domain
    *,
    side_street_s: float,
    left_outbound_s: float,
    left_inbound_s: float,
    lead_lag: Literal["choose"] | tuple[Literal["lead", "lag"], Literal["lead", "lag"]] = "choose",
) -> ArterialJunction:
    """A junction with protected arterial left turns in a dual-ring (NEMA) phasing.

    The cycle is the side street's ``side_street_s`` (s, its greens and clearances) and the arterial
    period. In the arterial period one ring runs the inbound left turn (``left_inbound_s``) and the
    outbound through; the other the outbound left turn (``left_outbound_s``) and the inbound through.
    So the outbound through is red for ``side_street_s + left_inbound_s`` and the inbound through for
    ``side_street_s + left_outbound_s``. Each left turn either *leads* (runs right after the side street)
    or *lags* (runs just before it), which moves the through reds:
    Δ = (±left_outbound_s ∓ left_inbound_s)/2, + for a leading outbound left, − for a leading inbound
    left. ``lead_lag="choose"`` lets MAXBAND pick among the four patterns (the option names are
    ``"<outbound left>/<inbound left>"``, e.g. ``"lead/lag"``); a pair fixes one.
    """
    where = f"junction {id}"
    for name, value in (("side_street_s", side_street_s), ("left_outbound_s", left_outbound_s), ("left_inbound_s", left_inbound_s)):
        _finite(value, where, name, non_negative=True)
    sign = {"lead": 1.0, "lag": -1.0}
    patterns: list[tuple[str, str]]
    if lead_lag == "choose":
        patterns = [(a, b) for a in ("lead", "lag") for b in ("lead", "lag")]
    else:
        if len(lead_lag) != 2 or any(p not in sign for p in lead_lag):
            raise GreenWaveError(where, "lead_lag", f'must be "choose" or a pair of "lead"/"lag", got {lead_lag!r}')
        patterns = [(lead_lag[0], lead_lag[1])]
    options = tuple((f"{o}/{i}", (sign[o] * left_outbound_s - sign[i] * left_inbound_s) / 2) for o, i in patterns)
    return ArterialJunction(
        id,
        red_outbound_s=side_street_s + left_inbound_s,
        red_inbound_s=side_street_s + left_outbound_s,
        red_shift_options=options,
    )


@dataclass(frozen=True)
class Arterial:
    """An arterial to coordinate.

    ``junctions`` in outbound order; ``distances_m[i]`` from junction ``i`` to ``i + 1`` (m, so one
    fewer than junctions); ``cycle_s`` the common cycle (s) or a ``(shortest, longest)`` range for
    MAXBAND to choose from; ``speed_outbound``/``speed_inbound`` the progression speeds (inbound defaults
    to outbound's); ``volume_ratio`` k, inbound over outbound volume, the weight of the inbound band.
    Checked when built: a :class:`GreenWaveError` names the junction, the field and the reason.
    """

    junctions: tuple[ArterialJunction, ...]
    distances_m: tuple[float, ...]
    cycle_s: float | tuple[float, float]
    speed_outbound: SpeedRange
    speed_inbound: SpeedRange | None = None
    volume_ratio: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "junctions", tuple(self.junctions))
        object.__setattr__(self, "distances_m", tuple(self.distances_m))
        if len(self.junctions) < 2:
            raise GreenWaveError("arterial", "junctions", f"an arterial needs at least 2 junctions, got {len(self.junctions)}")
        ids = [j.id for j in self.junctions]
        for n, junction_id in enumerate(ids):
            if ids.index(junction_id) != n:
                raise GreenWaveError(self.where(n), "id", "appears twice on the arterial")
        if len(self.distances_m) != len(self.junctions) - 1:
            raise GreenWaveError(
                "arterial",
                "distances_m",
                f"needs one distance per pair of neighbouring junctions ({len(self.junctions) - 1}), got {len(self.distances_m)}",
            )
        for n, distance in enumerate(self.distances_m):
            _finite(distance, f"link {ids[n]} -> {ids[n + 1]}", "distances_m", positive=True)
        if isinstance(self.cycle_s, tuple | list):
            if len(self.cycle_s) != 2:
                raise GreenWaveError("arterial", "cycle_s", f"a cycle range is (shortest, longest), got {self.cycle_s!r}")
            object.__setattr__(self, "cycle_s", (self.cycle_s[0], self.cycle_s[1]))
        for value in self.cycle_range_s:
            _finite(value, "arterial", "cycle_s", positive=True)
        shortest, longest = self.cycle_range_s
        if shortest > longest:
            raise GreenWaveError("arterial", "cycle_s", f"the shortest cycle {shortest} s is longer than the longest {longest} s")
        _finite(self.volume_ratio, "arterial", "volume_ratio", non_negative=True)
        if not isinstance(self.speed_outbound, SpeedRange):
            raise GreenWaveError("arterial", "speed_outbound", "must be a SpeedRange")
        if self.speed_inbound is not None and not isinstance(self.speed_inbound, SpeedRange):
            raise GreenWaveError("arterial", "speed_inbound", "must be a SpeedRange")
        for n, junction in enumerate(self.junctions):
            where = self.where(n)
            for direction in ("outbound", "inbound"):
                red = getattr(junction, f"red_{direction}_s")
                clearance = getattr(junction, f"queue_clearance_{direction}_s")
                if red + clearance >= shortest:
                    what = f"the red {red} s" + (f" plus the queue clearance {clearance} s" if clearance else "")
                    raise GreenWaveError(
                        where,
                        f"red_{direction}_s",
                        f"{what} leaves no green in the shortest cycle of {shortest} s",
                    )
            for name, shift in junction.red_shift_options:
                if abs(shift) > shortest:
                    raise GreenWaveError(where, f"red_shift_options[{name}]", f"|{shift}| s is more than the shortest cycle {shortest} s")

    def where(self, n: int) -> str:
        """How errors name the ``n``-th junction (counted from 1, with its id)."""
        return f"junction {self.junctions[n].id} (#{n + 1})"

    @property
    def cycle_range_s(self) -> tuple[float, float]:
        """(shortest, longest) cycle MAXBAND may choose, s; equal for a fixed cycle."""
        if isinstance(self.cycle_s, tuple):
            return (float(self.cycle_s[0]), float(self.cycle_s[1]))
        return (float(self.cycle_s), float(self.cycle_s))

    @property
    def inbound_speed(self) -> SpeedRange:
        """The inbound progression speed (the outbound one unless given)."""
        return self.speed_outbound if self.speed_inbound is None else self.speed_inbound

    @property
    def positions_m(self) -> tuple[float, ...]:
        """Each junction's distance from the first along the arterial, m."""
        positions = [0.0]
        for distance in self.distances_m:
            positions.append(positions[-1] + distance)
        return tuple(positions)


# --- output ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JunctionTiming:
    """One junction of a plan; times in seconds within the cycle ``[0, C)``, junction 1's outbound
    green start being 0.

    ``offset_s``: start of the outbound through green (the junction's offset). ``inbound_green_start_s``:
    start of the inbound through green, on the same clock. ``red_shift_s``/``pattern``: the Δ option
    chosen (see :class:`ArterialJunction`).
    """

    id: str
    position_m: float
    offset_s: float
    inbound_green_start_s: float
    green_outbound_s: float
    green_inbound_s: float
    red_shift_s: float
    pattern: str


@dataclass(frozen=True)
class GreenWavePlan:
    """MAXBAND's answer for an :class:`Arterial`.

    ``cycle_s`` the cycle chosen (s); ``bandwidth_*_s`` the band widths (s); ``speeds_*_mps`` the
    progression speed on each link (m/s, link ``i`` from junction ``i`` to ``i + 1``);
    ``band_start_outbound_s`` when the outbound band's first edge passes junction 1 and
    ``band_start_inbound_s`` when the inbound band's first edge passes the last junction (s, on the
    junctions' clock). ``objective`` is b + k·b̄ in cycles; ``status`` HiGHS's model status
    (``"Optimal"`` when proven); ``mip_gap`` HiGHS's relative gap; ``solve_time_s`` wall time.
    """

    arterial: Arterial
    junctions: tuple[JunctionTiming, ...]
    cycle_s: float
    bandwidth_outbound_s: float
    bandwidth_inbound_s: float
    speeds_outbound_mps: tuple[float, ...]
    speeds_inbound_mps: tuple[float, ...]
    band_start_outbound_s: float
    band_start_inbound_s: float
    objective: float
    status: str
    mip_gap: float
    solve_time_s: float

    @property
    def optimal(self) -> bool:
        """True when HiGHS proved the bands the widest possible."""
        return self.status == "Optimal"

    @property
    def bandwidth_outbound_fraction(self) -> float:
        """Outbound band as a fraction of the cycle."""
        return self.bandwidth_outbound_s / self.cycle_s

    @property
    def bandwidth_inbound_fraction(self) -> float:
        """Inbound band as a fraction of the cycle."""
        return self.bandwidth_inbound_s / self.cycle_s

    @property
    def offsets_s(self) -> tuple[float, ...]:
        """Each junction's offset (start of outbound through green after junction 1's), s."""
        return tuple(j.offset_s for j in self.junctions)

    def arrival_times_outbound_s(self) -> tuple[float, ...]:
        """Seconds from junction 1 to each junction at the outbound speeds (0 for junction 1)."""
        times = [0.0]
        for distance, speed in zip(self.arterial.distances_m, self.speeds_outbound_mps, strict=True):
            times.append(times[-1] + distance / speed)
        return tuple(times)

    def arrival_times_inbound_s(self) -> tuple[float, ...]:
        """Seconds from the last junction to each junction at the inbound speeds (0 for the last)."""
        times = [0.0]
        for distance, speed in zip(reversed(self.arterial.distances_m), reversed(self.speeds_inbound_mps), strict=True):
            times.append(times[-1] + distance / speed)
        return tuple(reversed(times))


# --- MAXBAND ---------------------------------------------------------------------------------------


def maxband(arterial: Arterial, *, time_limit_s: float = 30.0, mip_rel_gap: float = 1e-6) -> GreenWavePlan:
    """Offsets (and cycle and speeds, where ranges allow) that maximise b + k·b̄ (MAXBAND as a MILP).

    The formulation is in the module's docstring. ``time_limit_s`` bounds HiGHS's wall time (s); on
    reaching it the best plan found is returned with its status and gap. Raises
    :class:`GreenWaveUnsolved` if HiGHS has no solution at all (it always has one for a valid
    arterial: zero bands fit anywhere).
    """
    import highspy  # lazily: the solver is only needed when a plan is computed

    started = time.perf_counter()
    junctions = arterial.junctions
    n = len(junctions)
    c_min, c_max = arterial.cycle_range_s
    z_low, z_high = 1 / c_max, 1 / c_min
    k = arterial.volume_ratio
    out_speed, in_speed = arterial.speed_outbound, arterial.inbound_speed

    h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy's constructor has no annotations
    h.silent()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)

    b = h.addVariable(0.0, 1.0, name="b")
    b_in = h.addVariable(0.0, 1.0, name="b_in")
    z = h.addVariable(z_low, z_high, name="z")
    w = [h.addVariable(0.0, 1.0, name=f"w_{i}") for i in range(n)]
    w_in = [h.addVariable(0.0, 1.0, name=f"w_in_{i}") for i in range(n)]

    for i, junction in enumerate(junctions):
        h.addConstr(w[i] + b + junction.red_outbound_s * z <= 1.0)
        h.addConstr(w[i] - junction.queue_clearance_outbound_s * z >= 0.0)
        h.addConstr(w_in[i] + b_in + (junction.red_inbound_s + junction.queue_clearance_inbound_s) * z <= 1.0)

    # Δ_i z as a linear expression: one fixed value, or a choice written exactly with binaries
    choices: list[list[tuple[str, float, Any]]] = []
    shift_terms: list[Any] = []
    for i, junction in enumerate(junctions):
        options = junction.red_shift_options
        if len(options) == 1:
            choices.append([(options[0][0], options[0][1], None)])
            shift_terms.append(options[0][1] * z)
            continue
        picked = []
        expr = None
        selectors = []
        for j, (name, shift) in enumerate(options):
            y = h.addVariable(0.0, 1.0, type=highspy.HighsVarType.kInteger, name=f"y_{i}_{j}")
            p = h.addVariable(0.0, z_high, name=f"p_{i}_{j}")  # p = y·z
            h.addConstr(p - z_high * y <= 0.0)
            h.addConstr(p - z_low * y >= 0.0)
            h.addConstr(p - z + z_low * (1 - y) <= 0.0)
            h.addConstr(p - z + z_high * (1 - y) >= 0.0)
            selectors.append(y)
            picked.append((name, shift, y))
            expr = shift * p if expr is None else expr + shift * p
        h.addConstr(sum(selectors[1:], selectors[0]) == 1.0)
        choices.append(picked)
        shift_terms.append(expr)

    t_out: list[Any] = []
    t_in: list[Any] = []
    deviations: list[Any] = []
    for i, distance in enumerate(arterial.distances_m):
        for speed, times, direction in ((out_speed, t_out, "out"), (in_speed, t_in, "in")):
            t = h.addVariable(0.0, distance / speed.low * z_high, name=f"t_{direction}_{i}")
            h.addConstr(t - distance / speed.high * z >= 0.0)
            h.addConstr(t - distance / speed.low * z <= 0.0)
            times.append(t)
            if speed.low != speed.high:
                design = distance / speed.design_mps
                dev = h.addVariable(0.0, highspy.kHighsInf)
                h.addConstr(dev - t + design * z >= 0.0)
                h.addConstr(dev + t - design * z >= 0.0)
                deviations.append(dev)
        # the loop integer's range follows from the other terms' bounds (w + w̄ in [0, 2], reds in [0, 1])
        shift_bound = max(abs(s) for s in (*_shifts(junctions[i]), *_shifts(junctions[i + 1]))) * z_high
        travel_low = distance * (1 / out_speed.high + 1 / in_speed.high) * z_low
        travel_high = distance * (1 / out_speed.low + 1 / in_speed.low) * z_high
        m = h.addVariable(
            math.floor(travel_low - 3 - 2 * shift_bound),
            math.ceil(travel_high + 3 + 2 * shift_bound),
            type=highspy.HighsVarType.kInteger,
            name=f"m_{i}",
        )
        here, there = junctions[i], junctions[i + 1]
        red_step = (there.red_outbound_s + there.red_inbound_s - here.red_outbound_s - here.red_inbound_s) / 2
        h.addConstr(
            (w[i] + w_in[i]) - (w[i + 1] + w_in[i + 1]) + (t_out[i] + t_in[i]) + shift_terms[i + 1] - shift_terms[i] - m - red_step * z
            == 0.0
        )

    if k != 1:  # LKG's ratio constraint; for k = 1 it says nothing
        h.addConstr((1 - k) * b_in - (1 - k) * k * b >= 0.0)

    objective = b + k * b_in
    if k > 0:
        even = h.addVariable(0.0, 1.0, name="even")
        h.addConstr(even - b <= 0.0)
        h.addConstr(k * even - b_in <= 0.0)
        objective = objective + _BALANCE_WEIGHT * even
    else:  # inbound counts for nothing, but a free inbound band is still better than none
        objective = objective + _BALANCE_WEIGHT * b_in
    for dev in deviations:
        objective = objective - _SPEED_WEIGHT * dev
    # Vehicles queued at a red leave at the start of green, ahead of the band; they go on without
    # stopping if the next junction's green starts no later than the band's lead there does, i.e.
    # if the green before the band (w_i outbound; e_i = 1 − r̄_i − b̄ − w̄_i inbound) does not shrink
    # along the way. Among equal bands, prefer plans where it does not, and bands that start with the
    # green where each direction enters the arterial.
    early_in = [1.0 - junction.red_inbound_s * z - b_in - w_in[i] for i, junction in enumerate(junctions)]
    objective = objective - _QUEUE_WEIGHT * (w[0] + early_in[-1])
    for i in range(n - 1):
        for ahead, behind in ((w[i], w[i + 1]), (early_in[i + 1], early_in[i])):
            shrink = h.addVariable(0.0, 1.0)
            h.addConstr(shrink - ahead + behind >= 0.0)
            objective = objective - _QUEUE_WEIGHT * shrink
    h.maximize(objective)

    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        raise GreenWaveUnsolved(status)

    zv = h.val(z)
    cycle = 1 / zv
    bv, b_inv = max(0.0, h.val(b)), max(0.0, h.val(b_in))
    wv = [h.val(x) for x in w]
    w_inv = [h.val(x) for x in w_in]
    t_outv = [h.val(x) for x in t_out]
    t_inv = [h.val(x) for x in t_in]

    timings = []
    positions = arterial.positions_m
    travelled = 0.0  # a_i − w_1, cycles
    for i, junction in enumerate(junctions):
        if i > 0:
            travelled += t_outv[i - 1]
        name, shift = _chosen(choices[i], h)
        red_out, red_in = junction.red_outbound_s * zv, junction.red_inbound_s * zv
        green_start = wv[0] + travelled - wv[i]
        red_in_centre = green_start - red_out / 2 + shift * zv
        timings.append(
            JunctionTiming(
                id=junction.id,
                position_m=positions[i],
                offset_s=_in_cycle(green_start * cycle, cycle),
                inbound_green_start_s=_in_cycle((red_in_centre + red_in / 2) * cycle, cycle),
                green_outbound_s=cycle - junction.red_outbound_s,
                green_inbound_s=cycle - junction.red_inbound_s,
                red_shift_s=shift,
                pattern=name,
            )
        )
    last = timings[-1]
    # the inbound band's first edge at the last junction: its last edge is w̄_n before the inbound red
    inbound_red_start = last.inbound_green_start_s + last.green_inbound_s
    band_start_inbound = inbound_red_start - (w_inv[-1] + b_inv) * cycle
    return GreenWavePlan(
        arterial=arterial,
        junctions=tuple(timings),
        cycle_s=cycle,
        bandwidth_outbound_s=bv * cycle,
        bandwidth_inbound_s=b_inv * cycle,
        speeds_outbound_mps=tuple(d / (t * cycle) for d, t in zip(arterial.distances_m, t_outv, strict=True)),
        speeds_inbound_mps=tuple(d / (t * cycle) for d, t in zip(arterial.distances_m, t_inv, strict=True)),
        band_start_outbound_s=_in_cycle(wv[0] * cycle, cycle),
        band_start_inbound_s=_in_cycle(band_start_inbound, cycle),
        objective=bv + k * b_inv,
        status=status,
        mip_gap=float(info.mip_gap) if math.isfinite(info.mip_gap) else 0.0,
        solve_time_s=time.perf_counter() - started,
    )


def _shifts(junction: ArterialJunction) -> list[float]:
    return [shift for _, shift in junction.red_shift_options]


def _chosen(options: list[tuple[str, float, Any]], h: Any) -> tuple[str, float]:
    if len(options) == 1:
        return options[0][0], options[0][1]
    name, shift, _ = max(options, key=lambda option: h.val(option[2]))
    return name, shift


def _in_cycle(seconds: float, cycle: float) -> float:
    """``seconds`` folded into [0, cycle); values a rounding error below a whole cycle become 0."""
    folded = seconds % cycle
    return 0.0 if math.isclose(folded, cycle, abs_tol=1e-7) or abs(folded) < 1e-7 else folded


# --- time-space diagram ----------------------------------------------------------------------------

#: fonts with Chinese glyphs, in order of preference (CI installs fonts-wqy-microhei)
_CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei")


def _cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in installed), None)


def time_space_diagram(
    plan: GreenWavePlan, *, cycles: float = 3.0, width_in: float = 10.0, height_in: float = 6.5, dpi: int = 110
) -> bytes:
    """The plan's time-space diagram as PNG bytes.

    Distance (m) up, time (s) across, ``cycles`` cycles wide: at each junction a bar of green and
    red for the outbound through movement (just below the junction's line) and the inbound one (just
    above), and the outbound and inbound bands as shaded strips. Labels are in Chinese and English
    when a font with Chinese glyphs is installed (WenQuanYi Micro Hei first), in English otherwise,
    so no glyph is drawn as a box. Uses matplotlib's Agg canvas without pyplot, so it is safe in a
    server thread.
    """
    from io import BytesIO

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Polygon

    if not math.isfinite(cycles) or cycles <= 0:
        raise GreenWaveError("diagram", "cycles", f"must be greater than 0, got {cycles}")
    cjk = _cjk_font()
    families = [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]

    def label(chinese: str, english: str) -> str:
        return f"{chinese} {english}" if cjk else english

    cycle = plan.cycle_s
    horizon = cycles * cycle
    positions = [j.position_m for j in plan.junctions]
    length = positions[-1]
    bar = max(length * 0.012, 4.0)

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    green, red = "#2e9e44", "#d62728"
    outbound_colour, inbound_colour = "#1f77b4", "#ff7f0e"

    # bands first, so the signal bars are drawn over them
    arrivals_out = plan.arrival_times_outbound_s()
    arrivals_in = plan.arrival_times_inbound_s()
    repeats = range(-math.ceil(arrivals_out[-1] / cycle) - 1, math.ceil(cycles) + 1)
    for n in repeats:
        if plan.bandwidth_outbound_s > 0:
            start = plan.band_start_outbound_s + n * cycle
            lower = [(start + t, x) for t, x in zip(arrivals_out, positions, strict=True)]
            upper = [(t + plan.bandwidth_outbound_s, x) for t, x in reversed(lower)]
            ax.add_patch(Polygon(lower + upper, closed=True, facecolor=outbound_colour, alpha=0.25, edgecolor=outbound_colour, lw=0.8))
    repeats_in = range(-math.ceil(arrivals_in[0] / cycle) - 1, math.ceil(cycles) + 1)
    for n in repeats_in:
        if plan.bandwidth_inbound_s > 0:
            start = plan.band_start_inbound_s + n * cycle
            lower = [(start + t, x) for t, x in zip(arrivals_in, positions, strict=True)]
            upper = [(t + plan.bandwidth_inbound_s, x) for t, x in reversed(lower)]
            ax.add_patch(Polygon(lower + upper, closed=True, facecolor=inbound_colour, alpha=0.25, edgecolor=inbound_colour, lw=0.8))

    for junction in plan.junctions:
        y = junction.position_m
        for green_start, green_length, y0 in (
            (junction.offset_s, junction.green_outbound_s, y - bar),
            (junction.inbound_green_start_s, junction.green_inbound_s, y),
        ):
            # paint the whole window red, then the greens over it
            ax.broken_barh([(0.0, horizon)], (y0, bar), facecolors=red)
            greens = [(green_start + n * cycle, green_length) for n in range(-1, math.ceil(cycles) + 1)]
            ax.broken_barh(greens, (y0, bar), facecolors=green)
        ax.text(horizon * 1.005, y, junction.id, va="center", ha="left", fontsize=8, family=families, clip_on=False)

    ax.set_xlim(0, horizon)
    ax.set_ylim(-3 * bar, length + 3 * bar)
    ax.set_xlabel(label("时间", "Time (s)"), family=families)
    ax.set_ylabel(label("距离", "Distance (m)"), family=families)
    title = (
        f"{label('绿波时空图', 'Green-wave time-space diagram')} — "
        f"{label('周期', 'cycle')} {cycle:.0f} s, "
        f"{label('去向带宽', 'outbound band')} {plan.bandwidth_outbound_s:.1f} s ({plan.bandwidth_outbound_fraction:.0%}), "
        f"{label('返向带宽', 'inbound band')} {plan.bandwidth_inbound_s:.1f} s ({plan.bandwidth_inbound_fraction:.0%})"
    )
    ax.set_title(title, fontsize=10, family=families)
    ax.grid(True, axis="x", alpha=0.3)
    handles = [
        Patch(facecolor=outbound_colour, alpha=0.35, label=label("去向绿波带", "outbound band")),
        Patch(facecolor=inbound_colour, alpha=0.35, label=label("返向绿波带", "inbound band")),
        Patch(facecolor=green, label=label("绿灯", "green")),
        Patch(facecolor=red, label=label("红灯", "red")),
    ]
    # below the axes, so it never hides a signal bar or a band
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, frameon=False, prop={"family": families, "size": 8})
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# --- the check in SUMO -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Corridor:
    """An arterial in a SUMO network, found by :func:`corridor_from_sumo`.

    ``junction_ids`` are SUMO node ids in outbound order and ``tls_ids`` their traffic lights.
    ``outbound_edges`` is the through route from the edge entering junction 1 to the edge leaving
    junction n; ``inbound_edges`` the way back. ``cross_routes`` are per junction the side-street
    through routes (in edge, out edge) across it. ``distances_m`` between neighbouring junction
    centres (m); ``speed_limit_mps`` the lowest speed limit on the links between them.
    """

    net: Path
    junction_ids: tuple[str, ...]
    tls_ids: tuple[str, ...]
    outbound_edges: tuple[str, ...]
    inbound_edges: tuple[str, ...]
    cross_routes: tuple[tuple[tuple[str, str], ...], ...]
    distances_m: tuple[float, ...]
    speed_limit_mps: float


def _straight_from(edge: Any) -> Any | None:
    """The edge that ``edge``'s straight-on connection leads to, or None."""
    for target, connections in edge.getOutgoing().items():
        if any(c.getDirection() == "s" for c in connections):
            return target
    return None


def _straight_into(edge: Any) -> Any | None:
    """The edge whose straight-on connection leads into ``edge``, or None."""
    for source, connections in edge.getIncoming().items():
        if any(c.getDirection() == "s" for c in connections):
            return source
    return None


def corridor_from_sumo(net: Path, junction_ids: Sequence[str]) -> Corridor:
    """The arterial through ``junction_ids`` (SUMO node ids, outbound order) in the network ``net``.

    Neighbouring junctions must be joined by one edge each way, each junction must have a traffic
    light, and the arterial must go straight on at the first and last junctions (the entry and exit
    edges are those straight connections). Raises :class:`GreenWaveError` naming the junction
    otherwise. For a row of the Jinan 3x4 network: ``["intersection_1_1", ..., "intersection_4_1"]``.
    """
    import sumolib  # lazily: SUMO's python tools are only needed here

    if len(junction_ids) < 2:
        raise GreenWaveError("corridor", "junction_ids", f"an arterial needs at least 2 junctions, got {len(junction_ids)}")
    network = sumolib.net.readNet(str(net))
    nodes = []
    for junction_id in junction_ids:
        if not network.hasNode(junction_id):
            raise GreenWaveError(f"junction {junction_id}", "junction_ids", f"no such node in {net.name}")
        nodes.append(network.getNode(junction_id))

    def link(a: Any, b: Any) -> Any:
        for edge in a.getOutgoing():
            if edge.getToNode() is b and not edge.isSpecial():
                return edge
        raise GreenWaveError(f"junction {a.getID()}", "junction_ids", f"no edge from {a.getID()} to {b.getID()} in {net.name}")

    out_links = [link(a, b) for a, b in itertools.pairwise(nodes)]
    in_links = [link(b, a) for a, b in itertools.pairwise(nodes)]
    # in_links[i] runs from junction i + 1 back to junction i
    ends = (
        ("outbound entry", nodes[0], _straight_into(out_links[0])),
        ("outbound exit", nodes[-1], _straight_from(out_links[-1])),
        ("inbound entry", nodes[-1], _straight_into(in_links[-1])),
        ("inbound exit", nodes[0], _straight_from(in_links[0])),
    )
    for what, node, edge in ends:
        if edge is None:
            raise GreenWaveError(f"junction {node.getID()}", "junction_ids", f"the arterial has no straight {what} here")
    out_entry, out_exit, in_entry, in_exit = (edge for _, _, edge in ends)
    outbound = (out_entry, *out_links, out_exit)
    inbound = (in_entry, *reversed(in_links), in_exit)
    arterial_edges = {e.getID() for e in (*outbound, *inbound)}

    tls_ids, cross = [], []
    for node in nodes:
        tls = {c.getTLSID() for e in node.getIncoming() for cs in e.getOutgoing().values() for c in cs if c.getTLSID()}
        if len(tls) != 1:
            raise GreenWaveError(
                f"junction {node.getID()}", "junction_ids", f"needs exactly one traffic light, found {sorted(tls) or 'none'}"
            )
        tls_ids.append(tls.pop())
        routes = []
        for edge in node.getIncoming():
            if edge.getID() in arterial_edges or edge.isSpecial():
                continue
            target = _straight_from(edge)
            if target is not None and target.getID() not in arterial_edges:
                routes.append((edge.getID(), target.getID()))
        cross.append(tuple(sorted(routes)))
    distances = tuple(math.dist(a.getCoord(), b.getCoord()) for a, b in itertools.pairwise(nodes))
    return Corridor(
        net=net,
        junction_ids=tuple(junction_ids),
        tls_ids=tuple(tls_ids),
        outbound_edges=tuple(e.getID() for e in outbound),
        inbound_edges=tuple(e.getID() for e in inbound),
        cross_routes=tuple(cross),
        distances_m=distances,
        speed_limit_mps=min(e.getSpeed() for e in (*out_links, *in_links)),
    )


_Approach = Literal["out", "in", "side"]
_Turn = Literal["through", "left", "right"]
_Role = tuple[_Approach, _Turn]
#: SUMO's connection ``dir`` to the signal rule it follows; U-turns go with the left turns
_TURN: dict[str, _Turn] = {"s": "through", "l": "left", "L": "left", "t": "left", "T": "left", "r": "right", "R": "right"}


def _link_roles(network: Any, corridor: Corridor, index: int) -> dict[int, _Role]:
    """Each link index of junction ``index``'s traffic light: whose approach it leaves, and its turn."""
    tls_id = corridor.tls_ids[index]
    approach: dict[str, _Approach] = {
        corridor.outbound_edges[index]: "out",
        corridor.inbound_edges[len(corridor.junction_ids) - 1 - index]: "in",
    }
    roles: dict[int, _Role] = {}
    rank = {"through": 0, "left": 1, "right": 2}
    node = network.getNode(corridor.junction_ids[index])
    for edge in node.getIncoming():
        whose = approach.get(edge.getID(), "side")
        for connections in edge.getOutgoing().values():
            for c in connections:
                if c.getTLSID() != tls_id or c.getTLLinkIndex() < 0:
                    continue
                role: _Role = (whose, _TURN.get(c.getDirection(), "through"))
                known = roles.get(c.getTLLinkIndex())
                # links sharing an index share a signal; the through movement's rules are the safe ones
                if known is None or rank[role[1]] < rank[known[1]]:
                    roles[c.getTLLinkIndex()] = role
    return roles


def _cycle_states(
    roles: Mapping[int, _Role], *, cycle: int, out_start: float, out_green: float, in_start: float, in_green: float, yellow: int
) -> list[str]:
    """The signal state of each second of the cycle (sampled at its middle).

    Arterial through (and right) movements: green in their window, yellow for ``yellow`` s after it.
    Arterial left turns: protected (``G``) while their through is green and the opposing one is not,
    yielding (``g``) while both are. The side street: green whenever neither arterial direction is
    green or yellow, ending with ``yellow`` s of yellow before the arterial turns green.
    """

    def phase(second: float, start: float, green: float) -> str:
        into = (second - start) % cycle
        return "G" if into < green else ("y" if into < green + yellow else "r")

    arterial = [(phase(s + 0.5, out_start, out_green), phase(s + 0.5, in_start, in_green)) for s in range(cycle)]
    busy = [o != "r" or i != "r" for o, i in arterial]
    if all(busy) and any(role[0] == "side" for role in roles.values()):
        raise GreenWaveError("signal program", "red", "the arterial is green or yellow all cycle long: no time is left for the side street")
    states = []
    size = max(roles) + 1 if roles else 0
    for s in range(cycle):
        out_state, in_state = arterial[s]
        side = "r" if busy[s] else ("y" if any(busy[(s + d) % cycle] for d in range(1, yellow + 1)) else "G")
        row = ["r"] * size
        for link, (whose, turn) in roles.items():
            if whose == "side":
                row[link] = side if turn == "through" or side != "G" else "g"
                continue
            own, opposing = (out_state, in_state) if whose == "out" else (in_state, out_state)
            if turn == "left" and own == "G":
                row[link] = "g" if opposing != "r" else "G"
            elif turn == "right" and own == "G":
                row[link] = "g"
            else:
                row[link] = own
        states.append("".join(row))
    return states


def signal_programs(
    plan: GreenWavePlan, corridor: Corridor, *, offsets_s: Sequence[float] | None = None, yellow_s: int = 3, program_id: str = "greenwave"
) -> str:
    """A SUMO additional file (XML text) with one fixed-time program per corridor junction.

    The programs run the plan's cycle and through greens (rounded to whole seconds), with the plan's
    offsets or with ``offsets_s`` (s, one per junction) in their place; each junction keeps its own gap
    between the outbound and inbound green starts. The first ``yellow_s`` s of each arterial red are
    yellow; the side street goes in the time both arterial directions are red (see
    :func:`_cycle_states`). Times are on the simulation clock: the program's phase 0 starts at 0 s.
    """
    import sumolib

    _check_matches(plan, corridor)
    if offsets_s is not None and len(offsets_s) != len(plan.junctions):
        raise GreenWaveError("signal program", "offsets_s", f"needs one offset per junction ({len(plan.junctions)}), got {len(offsets_s)}")
    network = sumolib.net.readNet(str(corridor.net))
    cycle = round(plan.cycle_s)
    root = ET.Element("additional")
    for index, timing in enumerate(plan.junctions):
        offset = timing.offset_s if offsets_s is None else float(offsets_s[index])
        in_start = offset + (timing.inbound_green_start_s - timing.offset_s)
        roles = _link_roles(network, corridor, index)
        states = _cycle_states(
            roles,
            cycle=cycle,
            out_start=offset,
            out_green=timing.green_outbound_s,
            in_start=in_start,
            in_green=timing.green_inbound_s,
            yellow=yellow_s,
        )
        logic = ET.SubElement(root, "tlLogic", id=corridor.tls_ids[index], type="static", programID=program_id, offset="0")
        start = 0
        for second in range(1, cycle + 1):
            if second == cycle or states[second] != states[start]:
                ET.SubElement(logic, "phase", duration=str(second - start), state=states[start])
                start = second
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _check_matches(plan: GreenWavePlan, corridor: Corridor) -> None:
    plan_ids = tuple(j.id for j in plan.junctions)
    if plan_ids != corridor.junction_ids:
        raise GreenWaveError(
            "corridor", "junction_ids", f"the plan's junctions {list(plan_ids)} are not the corridor's {list(corridor.junction_ids)}"
        )


@dataclass(frozen=True, slots=True)
class CorridorDemand:
    """Traffic generated for a SUMO check, vehicles/hour: through the whole arterial each way, and
    across it at every junction on each side-street approach. Arrivals are Poisson, drawn from the
    run's seed, identical for every variant of the same seed. ``speed_dev`` is SUMO's spread of
    drivers' desired speed around the limit (its default, 0.1) and ``sigma`` its driver imperfection
    (default 0.5)."""

    through_outbound_vph: float = 600.0
    through_inbound_vph: float = 600.0
    cross_vph: float = 200.0
    speed_dev: float = 0.1
    sigma: float = 0.5

    def __post_init__(self) -> None:
        for name in ("through_outbound_vph", "through_inbound_vph", "cross_vph", "speed_dev", "sigma"):
            _finite(getattr(self, name), "demand", name, non_negative=True)


@dataclass(frozen=True, slots=True)
class FlowFigures:
    """Figures for a group of vehicles that finished their trip.

    ``stops_per_vehicle``: SUMO's ``waitingCount`` (times the speed fell to 0.1 m/s or below; vehicles
    enter at full speed, so each is a stop after moving) averaged; ``mean_travel_time_s`` the mean trip
    duration (s) — for the through groups, the time from entering the arterial's first edge to leaving
    its last; ``mean_time_loss_s`` SUMO's time lost to driving below the desired speed (s).
    """

    vehicles: int
    stops_per_vehicle: float
    mean_travel_time_s: float
    mean_time_loss_s: float
    share_without_stop: float


@dataclass(frozen=True, slots=True)
class VariantFigures:
    """One set of offsets run in SUMO, pooled over the seeds.

    ``name`` is ``"maxband"``, ``"zero"`` (every junction's outbound green starts together) or
    ``"random"``; ``offsets_s`` per junction (the first seed's for ``"random"``); ``unfinished`` vehicles
    still in the network at the end (teleporting is off, so a jam stays) and ``not_inserted`` generated
    vehicles that never got in — neither is in the figures, so a variant with either is worse than its
    figures say; ``through_stops_by_seed`` the stops per through vehicle of each seed, for the spread.
    """

    name: str
    offsets_s: tuple[float, ...]
    outbound: FlowFigures
    inbound: FlowFigures
    through: FlowFigures
    all: FlowFigures
    unfinished: int
    not_inserted: int
    through_stops_by_seed: tuple[float, ...]
    wall_time_s: float


@dataclass(frozen=True)
class SumoCheck:
    """The plan against uncoordinated offsets in SUMO: ``variants`` by name; ``cycle_s`` as run."""

    variants: Mapping[str, VariantFigures]
    cycle_s: int
    seeds: tuple[int, ...]
    duration_s: int

    @property
    def coordinated(self) -> VariantFigures:
        """The MAXBAND offsets' figures."""
        return self.variants["maxband"]


def _poisson_departures(rng: random.Random, vph: float, begin: float, end: float) -> list[float]:
    times: list[float] = []
    if vph <= 0:
        return times
    t = begin + rng.expovariate(vph / 3600)
    while t < end:
        times.append(round(t, 1))
        t += rng.expovariate(vph / 3600)
    return times


def _write_demand(path: Path, corridor: Corridor, demand: CorridorDemand, *, seed: int, duration_s: int) -> dict[str, float]:
    """Write the generated vehicles to ``path``; return their departure times (s) by id."""
    rng = random.Random(seed)  # noqa: S311 - simulated arrivals, repeatable from the seed
    vehicles: list[tuple[float, str, str]] = []
    for name, vph, route in (
        ("gw_out", demand.through_outbound_vph, corridor.outbound_edges),
        ("gw_in", demand.through_inbound_vph, corridor.inbound_edges),
    ):
        vehicles += [(t, f"{name}_{k}", " ".join(route)) for k, t in enumerate(_poisson_departures(rng, vph, 0, duration_s))]
    for junction, routes in zip(corridor.junction_ids, corridor.cross_routes, strict=True):
        for a, b in routes:
            times = _poisson_departures(rng, demand.cross_vph, 0, duration_s)
            vehicles += [(t, f"gw_x_{junction}_{a}_{k}", f"{a} {b}") for k, t in enumerate(times)]
    vehicles.sort()
    root = ET.Element("routes")
    ET.SubElement(root, "vType", id="gw_car", vClass="passenger", speedDev=str(demand.speed_dev), sigma=str(demand.sigma))
    for depart, vid, edges in vehicles:
        vehicle = ET.SubElement(root, "vehicle", id=vid, type="gw_car", depart=f"{depart:.1f}", departSpeed="max", departLane="best")
        ET.SubElement(vehicle, "route", edges=edges)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return {vid: depart for depart, vid, _ in vehicles}


@dataclass(slots=True)
class _Trips:
    stops: list[int] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def add(self, stops: int, duration: float, loss: float) -> None:
        self.stops.append(stops)
        self.durations.append(duration)
        self.losses.append(loss)

    def extend(self, other: _Trips) -> None:
        self.stops += other.stops
        self.durations += other.durations
        self.losses += other.losses

    def figures(self) -> FlowFigures:
        count = len(self.stops)
        if count == 0:
            return FlowFigures(0, math.nan, math.nan, math.nan, math.nan)
        return FlowFigures(
            vehicles=count,
            stops_per_vehicle=sum(self.stops) / count,
            mean_travel_time_s=sum(self.durations) / count,
            mean_time_loss_s=sum(self.losses) / count,
            share_without_stop=sum(1 for s in self.stops if s == 0) / count,
        )


@dataclass(slots=True)
class _Outcome:
    """What one SUMO run gave: finished trips by group, vehicles left inside, ids SUMO inserted."""

    groups: dict[str, _Trips]
    unfinished: int = 0
    inserted: set[str] = field(default_factory=set)
    wall_time_s: float = 0.0


def _run_variant(
    folder: Path, corridor: Corridor, programs: str, routes: Sequence[Path], *, seed: int, duration_s: int, warmup_s: float, tag: str
) -> _Outcome:
    additional = folder / f"{tag}.tls.xml"
    additional.write_text(programs)
    tripinfo = folder / f"{tag}.tripinfo.xml"
    sumo_tools.run(
        "sumo",
        [
            "--net-file", str(corridor.net),
            "--route-files", ",".join(str(r) for r in routes),
            "--additional-files", str(additional),
            "--tripinfo-output", str(tripinfo),
            "--tripinfo-output.write-unfinished", "true",
            "--time-to-teleport", "-1",  # a jam stays a jam and counts
            "--seed", str(seed),
            "--end", str(duration_s * 2),  # room to let the last vehicles finish
            "--no-step-log", "true",
            "--no-warnings", "true",
            "--duration-log.disable", "true",
        ],
        cwd=folder,
        timeout=600,
    )  # fmt: skip
    outcome = _Outcome(groups={name: _Trips() for name in ("outbound", "inbound", "all")})
    # tripinfo has every inserted vehicle, unfinished ones with arrival -1; none it never inserted
    for _event, element in ET.iterparse(tripinfo, events=("end",)):  # noqa: S314 - SUMO's own output
        if element.tag != "tripinfo":
            continue
        attrs = element.attrib
        outcome.inserted.add(attrs["id"])
        # a vehicle's "depart" is its insertion; the warm-up is about when it wanted to go
        wanted = float(attrs["depart"]) - float(attrs.get("departDelay", 0))
        if wanted < warmup_s:
            pass
        elif float(attrs.get("arrival", "-1")) < 0:
            outcome.unfinished += 1
        else:
            values = (int(attrs["waitingCount"]), float(attrs["duration"]), float(attrs["timeLoss"]))
            vid = attrs["id"]
            if vid.startswith("gw_out_"):
                outcome.groups["outbound"].add(*values)
            elif vid.startswith("gw_in_"):
                outcome.groups["inbound"].add(*values)
            outcome.groups["all"].add(*values)
        element.clear()
    return outcome


def check_in_sumo(
    plan: GreenWavePlan,
    corridor: Corridor,
    *,
    demand: CorridorDemand | None = None,
    baselines: Sequence[Literal["zero", "random"]] = ("zero", "random"),
    seeds: Sequence[int] = (0,),
    duration_s: int = 1800,
    warmup_s: float | None = None,
    yellow_s: int = 3,
    background_routes: Sequence[Path] = (),
    workdir: Path | None = None,
    max_workers: int = 1,
) -> SumoCheck:
    """Run the plan and uncoordinated offsets in SUMO on ``corridor`` and compare stops and travel times.

    Every variant runs the same fixed-time programs (:func:`signal_programs`: the plan's cycle and
    through greens, rounded to whole seconds) and the same vehicles; only the offsets differ —
    ``"maxband"`` the plan's, ``"zero"`` all outbound greens starting together, ``"random"`` drawn
    uniformly from the cycle with each seed. Vehicles (``demand``) depart for ``duration_s`` s; the
    simulation then runs until they have left (at most as long again), with teleporting off. Vehicles
    departing before ``warmup_s`` (default two cycles) are not counted. ``background_routes`` are
    further SUMO route files to run alongside (e.g. a network's recorded flow; other traffic lights
    keep their own programs). ``max_workers`` SUMO processes run at once. Files go to ``workdir`` (a
    temporary folder, removed afterwards, by default).
    """
    _check_matches(plan, corridor)
    demand = demand or CorridorDemand()
    if not seeds:
        raise GreenWaveError("sumo check", "seeds", "needs at least one seed")
    if duration_s <= 0:
        raise GreenWaveError("sumo check", "duration_s", f"must be greater than 0, got {duration_s}")
    for baseline in baselines:
        if baseline not in ("zero", "random"):
            raise GreenWaveError("sumo check", "baselines", f'unknown baseline {baseline!r}; known: "zero", "random"')
    for path in background_routes:
        if not Path(path).is_file():
            raise GreenWaveError("sumo check", "background_routes", f"no such file: {path}")
    cycle = round(plan.cycle_s)
    warmup = 2.0 * cycle if warmup_s is None else warmup_s

    def offsets(name: str, seed: int) -> tuple[float, ...]:
        if name == "maxband":
            return plan.offsets_s
        if name == "zero":
            return tuple(0.0 for _ in plan.junctions)
        rng = random.Random(f"greenwave-random-offsets-{seed}")  # noqa: S311 - a baseline, not a secret
        return tuple(float(rng.randrange(cycle)) for _ in plan.junctions)

    names: list[str] = ["maxband", *baselines]
    with tempfile.TemporaryDirectory(prefix="greenwave-") as scratch:
        folder = Path(workdir) if workdir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        jobs: list[tuple[str, int, str, list[Path]]] = []
        expected: dict[int, set[str]] = {}  # generated vehicles that count, by seed
        for seed in seeds:
            demand_file = folder / f"demand-{seed}.rou.xml"
            departures = _write_demand(demand_file, corridor, demand, seed=seed, duration_s=duration_s)
            expected[seed] = {vid for vid, depart in departures.items() if depart >= warmup}
            for name in names:
                programs = signal_programs(plan, corridor, offsets_s=offsets(name, seed), yellow_s=yellow_s)
                jobs.append((name, seed, programs, [demand_file, *background_routes]))

        def run(job: tuple[str, int, str, list[Path]]) -> _Outcome:
            name, seed, programs, routes = job
            started = time.perf_counter()
            outcome = _run_variant(
                folder, corridor, programs, routes, seed=seed, duration_s=duration_s, warmup_s=warmup, tag=f"{name}-{seed}"
            )
            outcome.wall_time_s = time.perf_counter() - started
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            outcomes = list(pool.map(run, jobs))

    variants: dict[str, VariantFigures] = {}
    for name in names:
        pooled = {group: _Trips() for group in ("outbound", "inbound", "through", "all")}
        unfinished = not_inserted = 0
        wall, by_seed = 0.0, []
        for (job_name, seed, _programs, _routes), outcome in zip(jobs, outcomes, strict=True):
            if job_name != name:
                continue
            through = _Trips()
            for group in ("outbound", "inbound"):
                pooled[group].extend(outcome.groups[group])
                through.extend(outcome.groups[group])
            pooled["through"].extend(through)
            pooled["all"].extend(outcome.groups["all"])
            unfinished += outcome.unfinished
            not_inserted += len(expected[seed] - outcome.inserted)
            wall += outcome.wall_time_s
            by_seed.append(through.figures().stops_per_vehicle)
        variants[name] = VariantFigures(
            name=name,
            offsets_s=offsets(name, seeds[0]),
            outbound=pooled["outbound"].figures(),
            inbound=pooled["inbound"].figures(),
            through=pooled["through"].figures(),
            all=pooled["all"].figures(),
            unfinished=unfinished,
            not_inserted=not_inserted,
            through_stops_by_seed=tuple(by_seed),
            wall_time_s=wall,
        )
    return SumoCheck(variants=variants, cycle_s=cycle, seeds=tuple(seeds), duration_s=duration_s)

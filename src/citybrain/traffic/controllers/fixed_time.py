"""Fixed-time control: every junction cycles through its phases with set green times.

``FixedTimeController`` is the baseline of the traffic-signal literature (each phase 15 s green, then
5 s yellow, no offsets). ``WebsterController`` sizes cycle and greens from the planned flows with
Webster's formula (Webster 1958, *Traffic signal settings*, Road Research Technical Paper 39):

- per phase, the critical flow ratio ``y = q / s``: the highest lane flow among the lanes whose
  movements the phase protects (a lane's flow is the sum of its movements' flows, so a shared
  lane counts fully), divided by the saturation flow ``s`` of a lane;
- ``Y`` is the sum of the phases' ``y``; the lost time ``L`` is ``lost_time_per_phase_s`` per phase;
- the optimal cycle is ``C = (1.5 L + 5) / (1 - Y)`` seconds, kept within
  [phases x (min green + yellow), ``max_cycle_s``] and set to ``max_cycle_s`` when ``Y`` is near 1;
- the effective green ``C - L`` is split in proportion to each phase's ``y``.

The lost time per phase defaults to the yellow (5 s): about 2 s lost when a queue starts, and the
last 2 of the 5 yellow seconds unused, so the green shown equals the effective green.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from citybrain.traffic.controllers.base import ControllerContext, Observation
from citybrain.traffic.controllers.phased import PhaseController
from citybrain.traffic.controllers.safety import PhaseSequencer, SafetyRules
from citybrain.traffic.network import Junction

#: vehicles per hour per lane that a lane discharges at most while green (stated, not measured:
#: the usual planning value; SUMO's default car-following discharges roughly 1,800-2,000 veh/h)
SATURATION_FLOW_VPH = 1800.0


def cycle_wish(now: int, greens_s: Sequence[int], yellow_s: int, offset_s: int = 0) -> int:
    """The phase a fixed cycle wants at ``now``: phase i for its green, then the next one from its yellow on.

    Asking for the next phase when a green ends makes the sequencer show the yellow then, so each
    phase shows exactly its green time and every change its yellow.
    """
    cycle = sum(greens_s) + yellow_s * len(greens_s)
    pos = (now - offset_s) % cycle
    for i, green in enumerate(greens_s):
        if pos < green:
            return i
        pos -= green
        if pos < yellow_s:
            return (i + 1) % len(greens_s)
        pos -= yellow_s
    return 0  # unreachable: pos < cycle


class FixedTimeController(PhaseController):
    """Each junction shows its phases in order, ``green_s`` seconds each with a yellow between (no offsets)."""

    def __init__(self, context: ControllerContext, /, *, green_s: int = 15) -> None:
        super().__init__(context)
        if green_s < context.rules.min_green_s:
            raise ValueError(f"green_s {green_s} is below the minimum green {context.rules.min_green_s}")
        self.greens_s: list[list[int]] = [[green_s] * len(j.phases) for j in self.junctions]

    def choose(self, index: int, now: int, observation: Observation, sequencer: PhaseSequencer) -> int:
        return cycle_wish(now, self.greens_s[index], self.rules.yellow_s)


@dataclass(frozen=True)
class WebsterPlan:
    """One junction's Webster timing: flow ratios per phase, their sum, cycle and greens (s)."""

    flow_ratios: tuple[float, ...]
    total_ratio: float
    lost_time_s: float
    cycle_s: int
    greens_s: tuple[int, ...]


def webster_plan(
    junction: Junction,
    flows_vph: Mapping[str, float],
    rules: SafetyRules,
    *,
    saturation_flow_vph: float = SATURATION_FLOW_VPH,
    lost_time_per_phase_s: float | None = None,
    max_cycle_s: int = 120,
    saturated_ratio: float = 0.95,
) -> WebsterPlan:
    """Webster's cycle and green split for ``junction`` under ``flows_vph`` (movement id -> veh/h).

    See the module docstring for the method. ``saturated_ratio``: from this ``Y`` on, the formula's
    cycle explodes and ``max_cycle_s`` is used.
    """
    lost_per_phase = rules.yellow_s if lost_time_per_phase_s is None else lost_time_per_phase_s
    n = len(junction.phases)
    lane_flow: dict[str, float] = {}
    for m in junction.movements:
        lane_flow[m.in_lane] = lane_flow.get(m.in_lane, 0.0) + flows_vph.get(m.id, 0.0)
    ratios = []
    for phase in junction.phases:
        lanes = {junction.movement_by_id[m].in_lane for m in phase.movements}
        ratios.append(max((lane_flow.get(lane, 0.0) for lane in lanes), default=0.0) / saturation_flow_vph)
    total = sum(ratios)
    lost = n * lost_per_phase
    min_cycle = n * (rules.min_green_s + rules.yellow_s)
    cycle = max_cycle_s if total >= saturated_ratio else (1.5 * lost + 5.0) / (1.0 - total)
    cycle = min(max(cycle, min_cycle), max_cycle_s)
    effective = cycle - lost
    shares = [r / total for r in ratios] if total > 0 else [1.0 / n] * n
    greens = [max(rules.min_green_s, round(effective * s)) for s in shares]
    # rounding and minimum greens may stretch the cycle; trim the longest greens back to the cap
    while sum(greens) + n * rules.yellow_s > max_cycle_s and max(greens) > rules.min_green_s:
        greens[greens.index(max(greens))] -= 1
    return WebsterPlan(
        flow_ratios=tuple(ratios),
        total_ratio=total,
        lost_time_s=lost,
        cycle_s=sum(greens) + n * rules.yellow_s,
        greens_s=tuple(greens),
    )


class WebsterController(FixedTimeController):
    """Fixed time with each junction's cycle and greens from Webster's formula on the planned flows."""

    def __init__(
        self,
        context: ControllerContext,
        /,
        *,
        saturation_flow_vph: float = SATURATION_FLOW_VPH,
        lost_time_per_phase_s: float | None = None,
        max_cycle_s: int = 120,
    ) -> None:
        super().__init__(context, green_s=context.rules.min_green_s)
        self.plans = [
            webster_plan(
                j,
                context.flows_vph,
                context.rules,
                saturation_flow_vph=saturation_flow_vph,
                lost_time_per_phase_s=lost_time_per_phase_s,
                max_cycle_s=max_cycle_s,
            )
            for j in self.junctions
        ]
        self.greens_s = [list(plan.greens_s) for plan in self.plans]

"""SUMO's own adaptive programs, ``actuated`` and ``delay_based``, on the same four phases.

These are the peer baselines: SUMO's engineers' versions of vehicle-actuated control. Each junction
gets a ``<tlLogic>`` of the given type whose green phases are the network model's phases (in order,
each followed by its yellow to the next), with ``minDur`` the minimum green and ``maxDur`` the
longest green that still keeps every movement's red within the maximum red:
``(phases - 1) x (maxDur + yellow) <= max_red_s``. SUMO places the detectors and decides the
durations itself: with ``actuated``, a green is extended while vehicles keep arriving at its
detectors within ``max-gap`` seconds; with ``delay_based``, while approaching vehicles have
accumulated time loss. Their other parameters stay SUMO's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from citybrain.traffic.controllers.base import ControllerContext, Observation, SumoPhase, SumoProgram


class SumoProgramController:
    """Installs one SUMO program of type ``kind`` per junction and leaves the switching to SUMO."""

    def __init__(
        self,
        context: ControllerContext,
        /,
        *,
        kind: Literal["actuated", "delay_based"] = "actuated",
        max_green_s: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        rules = context.rules
        programs = []
        for junction in context.network.junctions:
            n = len(junction.phases)
            longest = rules.max_red_s // max(1, n - 1) - rules.yellow_s
            max_green = longest if max_green_s is None else min(max_green_s, longest)
            if max_green < rules.min_green_s:
                raise ValueError(f"{junction.id}: {n} phases cannot keep a {rules.max_red_s} s maximum red")
            phases = []
            for i in range(n):
                # the first run of each green starts from a middle value; SUMO then extends or ends it
                start = min(max(15, rules.min_green_s), max_green)
                phases.append(SumoPhase(junction.phases[i].state, start, rules.min_green_s, max_green))
                if n > 1:
                    yellow = junction.yellow_state(i, (i + 1) % n)
                    phases.append(SumoPhase(yellow, rules.yellow_s, rules.yellow_s, rules.yellow_s))
            programs.append(SumoProgram(junction.id, f"citybrain_{kind}", kind, tuple(phases), dict(params or {})))
        self._programs = tuple(programs)

    def sumo_programs(self) -> Sequence[SumoProgram]:
        return self._programs

    def step(self, now: int, observation: Observation) -> Mapping[str, str]:
        """Nothing to set: SUMO runs the programs."""
        return {}

"""Max-Pressure control (Varaiya 2013, *The max-pressure controller for arbitrary networks of
signalized intersections*), in the strong form the published implementations use.

A movement's pressure is the number of halting (queued) vehicles on its incoming lane minus the
halting vehicles on the lanes it leads to; a phase's pressure is the sum over the movements it
protects (right turns, green in every phase, do not count). At each decision the phase with the
highest pressure is chosen (a tie keeps the phase shown). Decisions are taken when the green has
lasted ``min_green_s`` and then every ``interval_s`` seconds; changing phase costs the yellow.

The defaults follow the published CityFlow implementations (Advanced-XLight, Zhang et al. 2022):
an action lasts 15 s, and when it changes the phase its first 5 s are the yellow, so a new green
lasts at least 10 s and is reconsidered every 15 s. On the Jinan flow in SUMO other timings
(5-15 s minimum green, 5-15 s interval) came within the spread of seeds of these (checked before
the comparison; the baseline was not tuned against citybrain's controller).

``measure="vehicles"`` counts every vehicle on the lanes instead of the queued ones: the weaker
variant some papers report, registered under its own name and shown only for comparison.
"""

from __future__ import annotations

from typing import Literal

from citybrain.traffic.controllers.base import ControllerContext, Observation
from citybrain.traffic.controllers.phased import PhaseController
from citybrain.traffic.controllers.safety import PhaseSequencer


class MaxPressureController(PhaseController):
    """Greedy max-pressure phase choice at fixed intervals, under the safety rules."""

    def __init__(
        self,
        context: ControllerContext,
        /,
        *,
        interval_s: int = 15,
        min_green_s: int = 10,
        measure: Literal["halting", "vehicles"] = "halting",
    ) -> None:
        super().__init__(context)
        if interval_s < 1:
            raise ValueError("interval_s must be at least 1 s")
        self.interval_s = interval_s
        self.min_green_s = max(context.rules.min_green_s, min_green_s)
        self.measure = measure
        #: per junction, per phase: (incoming lane, its outgoing lanes) of each protected movement
        self.phase_movements: list[list[tuple[tuple[str, tuple[str, ...]], ...]]] = [
            [tuple((j.movement_by_id[m].in_lane, j.movement_by_id[m].out_lanes) for m in p.movements) for p in j.phases]
            for j in self.junctions
        ]

    def pressures(self, index: int, observation: Observation) -> list[float]:
        """The pressure of each phase of junction ``self.junctions[index]`` now (vehicles)."""
        count = observation.halting if self.measure == "halting" else observation.vehicles
        return [
            float(sum(count(in_lane) - sum(count(out) for out in out_lanes) for in_lane, out_lanes in movements))
            for movements in self.phase_movements[index]
        ]

    def choose(self, index: int, now: int, observation: Observation, sequencer: PhaseSequencer) -> int:
        current = sequencer.green_phase
        if current is None:
            return sequencer.target
        since_min = sequencer.elapsed_s - self.min_green_s
        if since_min < 0 or since_min % self.interval_s:
            return current
        pressures = self.pressures(index, observation)
        best = max(range(len(pressures)), key=lambda p: (pressures[p], p == current))
        return best

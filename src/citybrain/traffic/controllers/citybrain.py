"""citybrain's own adaptive controller (first version; another session designs the next).

Max-Pressure's phase choice, with three changes aimed at the delay travellers feel:

- a queued vehicle weighs more the longer it has waited (``delay_weight`` per vehicle-minute of
  waiting on the incoming lane), so long-waiting minorities are not held for small majorities;
- vehicles still moving towards the stop line count too, discounted (``arrival_weight``), so a
  platoon about to arrive keeps or gets its green before it has to stop;
- a change of phase must win by ``switch_margin`` (vehicles), since each change costs a yellow in
  which nobody crosses.

Parameters are fixed before any evaluation (defaults below); tune them on generated flows only.
"""

from __future__ import annotations

from citybrain.traffic.controllers.base import ControllerContext, Observation
from citybrain.traffic.controllers.phased import PhaseController
from citybrain.traffic.controllers.safety import PhaseSequencer


class CitybrainController(PhaseController):
    """Pressure with queue, delay and arrival weighting, deciding every second after the minimum green."""

    def __init__(
        self,
        context: ControllerContext,
        /,
        *,
        interval_s: int = 1,
        delay_weight: float = 0.5,
        arrival_weight: float = 0.3,
        switch_margin: float = 2.0,
    ) -> None:
        super().__init__(context)
        self.interval_s = interval_s
        self.delay_weight = delay_weight
        self.arrival_weight = arrival_weight
        self.switch_margin = switch_margin
        self.phase_movements: list[list[tuple[tuple[str, tuple[str, ...]], ...]]] = [
            [tuple((j.movement_by_id[m].in_lane, j.movement_by_id[m].out_lanes) for m in p.movements) for p in j.phases]
            for j in self.junctions
        ]

    def scores(self, index: int, observation: Observation) -> list[float]:
        """Each phase's weighted pressure at junction ``self.junctions[index]`` (vehicle equivalents)."""
        out = []
        for movements in self.phase_movements[index]:
            score = 0.0
            for in_lane, out_lanes in movements:
                queued = observation.halting(in_lane)
                moving = observation.vehicles(in_lane) - queued
                waited_min = observation.waiting_time(in_lane) / 60.0
                downstream = sum(observation.halting(lane) for lane in out_lanes)
                score += queued + self.delay_weight * waited_min + self.arrival_weight * moving - downstream
            out.append(score)
        return out

    def choose(self, index: int, now: int, observation: Observation, sequencer: PhaseSequencer) -> int:
        current = sequencer.green_phase
        if current is None:
            return sequencer.target
        if not sequencer.can_switch or (sequencer.elapsed_s - self.rules.min_green_s) % self.interval_s:
            return current
        scores = self.scores(index, observation)
        best = max(range(len(scores)), key=lambda p: scores[p])
        return best if scores[best] > scores[current] + self.switch_margin else current

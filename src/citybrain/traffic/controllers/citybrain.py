"""citybrain's own adaptive controller (first version; another session designs the next).

Two decisions, each second once the minimum green has passed:

1. **Keep the green while it is being used.** As long as vehicles are still moving across the stop
   line zone of the green lanes (:meth:`Observation.approaching`, vehicles within
   :data:`~citybrain.traffic.controllers.base.STOP_LINE_ZONE_M` that are not halting), the queue is
   discharging or a platoon is arriving, and ending the green now would waste the yellow and stop
   them; so the green is kept, up to ``max_green_s``. This is the gap-out rule of vehicle-actuated
   control; a halted head of queue (a blocked exit, for instance) does not hold the green.
2. **Then give the green where it does most good.** When the green gaps out (or reaches
   ``max_green_s``), the next phase is the one with the highest weighted pressure among those with
   vehicles waiting: per movement, the queue on its lane, plus ``wait_weight`` per vehicle-minute
   already waited there (so long waits are not left behind small majorities), plus
   ``moving_weight`` per vehicle still moving on the lane (arrivals soon), minus ``out_weight``
   per vehicle queued on the lanes it leads to (no use sending traffic into a queue). Phases with
   nobody waiting are skipped, unlike a fixed cycle.

Max-Pressure (Varaiya 2013) chooses on pressure alone at fixed intervals and cannot tell a green that
is still serving a moving queue from one that is idle; SUMO's actuated program gaps out the same
way but then takes the phases in a fixed order, each at least its minimum even when empty.

Parameters were fixed on generated flows (the Jinan flow scaled by 0.8 and 1.2, shifted at random,
and with a 15-minute surge; seed 1), not on the evaluation flow.
"""

from __future__ import annotations

from citybrain.traffic.controllers.base import ControllerContext, Observation
from citybrain.traffic.controllers.phased import PhaseController
from citybrain.traffic.controllers.safety import PhaseSequencer


class CitybrainController(PhaseController):
    """Gap-out extension of a used green, then the most pressing waiting phase; see the module docstring."""

    def __init__(
        self,
        context: ControllerContext,
        /,
        *,
        max_green_s: int = 60,
        wait_weight: float = 1.0,
        moving_weight: float = 0.0,
        out_weight: float = 1.0,
    ) -> None:
        super().__init__(context)
        self.max_green_s = max_green_s
        self.wait_weight = wait_weight
        self.moving_weight = moving_weight
        self.out_weight = out_weight
        #: per junction, per phase: (incoming lane, its outgoing lanes) of each protected movement
        self.phase_movements: list[list[tuple[tuple[str, tuple[str, ...]], ...]]] = [
            [tuple((j.movement_by_id[m].in_lane, j.movement_by_id[m].out_lanes) for m in p.movements) for p in j.phases]
            for j in self.junctions
        ]

    def score(self, index: int, phase: int, observation: Observation) -> float:
        """The weighted pressure of ``phase`` at junction ``self.junctions[index]`` (vehicle equivalents)."""
        total = 0.0
        for in_lane, out_lanes in self.phase_movements[index][phase]:
            queued = observation.halting(in_lane)
            total += (
                queued
                + self.wait_weight * observation.waiting_time(in_lane) / 60.0
                + self.moving_weight * (observation.vehicles(in_lane) - queued)
                - self.out_weight * sum(observation.halting(lane) for lane in out_lanes)
            )
        return total

    def choose(self, index: int, now: int, observation: Observation, sequencer: PhaseSequencer) -> int:
        current = sequencer.green_phase
        if current is None:
            return sequencer.target
        if not sequencer.can_switch:
            return current
        lanes = self.phase_lanes[index]
        if sequencer.elapsed_s < self.max_green_s and any(observation.approaching(lane) > 0 for lane in lanes[current]):
            return current
        waiting = [p for p in range(len(lanes)) if p != current and any(observation.vehicles(lane) > 0 for lane in lanes[p])]
        if not waiting:
            return current
        return max(waiting, key=lambda p: self.score(index, p, observation))

"""Self-organising traffic lights, SOTL (Gershenson 2005; Cools, Gershenson & D'Hooghe 2013,
*Self-organizing traffic lights: a realistic simulation*), in its platoon-keeping form.

Per junction a counter ``kappa`` adds up, every second, the vehicles on the lanes that are red
(the lanes of the movements other phases protect). Once the green has lasted ``min_green_s`` and
``kappa`` exceeds ``theta`` (vehicle-seconds), the light changes, unless a small platoon is about to
cross: if between 1 and ``mu`` vehicles are within ``omega_m`` metres of the stop line on the green
lanes, the green is held for them (more than ``mu`` would hold it too long, so then it changes).
The next phase is the next one in cyclic order that has a vehicle on its lanes; ``kappa`` restarts
at each change.
"""

from __future__ import annotations

from citybrain.traffic.controllers.base import ControllerContext, Observation
from citybrain.traffic.controllers.phased import PhaseController
from citybrain.traffic.controllers.safety import PhaseSequencer


class SotlController(PhaseController):
    """SOTL with the platoon rule; thresholds in vehicle-seconds, metres and vehicles."""

    def __init__(
        self,
        context: ControllerContext,
        /,
        *,
        min_green_s: int = 10,
        theta: float = 60.0,
        omega_m: float = 25.0,
        mu: int = 3,
    ) -> None:
        super().__init__(context)
        self.min_green_s = max(context.rules.min_green_s, min_green_s)
        self.theta = theta
        self.omega_m = omega_m
        self.mu = mu
        self.kappa = [0.0] * len(self.junctions)
        self._last_green: list[int | None] = [0] * len(self.junctions)
        self.red_lanes: list[list[tuple[str, ...]]] = []
        for phases in self.phase_lanes:
            every = {lane for lanes in phases for lane in lanes}
            self.red_lanes.append([tuple(sorted(every - set(lanes))) for lanes in phases])

    def choose(self, index: int, now: int, observation: Observation, sequencer: PhaseSequencer) -> int:
        current = sequencer.green_phase
        if current is None:
            return sequencer.target
        if current != self._last_green[index]:  # a new green, whoever chose it
            self._last_green[index] = current
            self.kappa[index] = 0.0
        self.kappa[index] += sum(observation.vehicles(lane) for lane in self.red_lanes[index][current])
        if sequencer.elapsed_s < self.min_green_s or self.kappa[index] <= self.theta:
            return current
        near = 0
        for lane in self.phase_lanes[index][current]:
            near += sum(1 for d in observation.distances_to_stop_line(lane) if d < self.omega_m)
            if near > self.mu:
                break
        if 0 < near <= self.mu:
            return current
        phases = len(self.phase_lanes[index])
        for step in range(1, phases):
            candidate = (current + step) % phases
            if any(observation.vehicles(lane) > 0 for lane in self.phase_lanes[index][candidate]):
                return candidate
        return current

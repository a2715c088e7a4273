"""The common base of controllers that pick one of each junction's standard phases.

Subclasses say which phase they want (:meth:`PhaseController.choose`); a
:class:`~citybrain.traffic.controllers.safety.PhaseSequencer` per junction turns the wish into the
states shown, with minimum green, yellow and the max-red guard. So every phase-picking controller
keeps the safety rules by construction, and the contract test checks that it does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from citybrain.traffic.controllers.base import ControllerContext, Observation, SumoProgram
from citybrain.traffic.controllers.safety import PhaseSequencer
from citybrain.traffic.network import Junction


class PhaseController(ABC):
    """Drives every junction through its sequencer; subclasses implement :meth:`choose`."""

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.network = context.network
        self.rules = context.rules
        self.junctions: tuple[Junction, ...] = context.network.junctions
        self.sequencers = [PhaseSequencer(j, context.rules) for j in self.junctions]
        #: per junction, per phase: the incoming lanes of the movements the phase protects
        self.phase_lanes: list[list[tuple[str, ...]]] = [
            [tuple(dict.fromkeys(j.movement_by_id[m].in_lane for m in p.movements)) for p in j.phases] for j in self.junctions
        ]

    def sumo_programs(self) -> Sequence[SumoProgram]:
        """None: this controller sets the states itself."""
        return ()

    def step(self, now: int, observation: Observation) -> Mapping[str, str]:
        """Ask :meth:`choose` for each junction's wish and let its sequencer show it safely."""
        states = {}
        for k, (junction, sequencer) in enumerate(zip(self.junctions, self.sequencers, strict=True)):
            wanted = self.choose(k, now, observation, sequencer)
            states[junction.id] = sequencer.tick(now, wanted, observation.vehicles)
        return states

    @abstractmethod
    def choose(self, index: int, now: int, observation: Observation, sequencer: PhaseSequencer) -> int:
        """The phase junction ``self.junctions[index]`` should show; called every second.

        Returning the phase shown keeps it; a wish to change is honoured once the minimum green has
        passed (see :attr:`PhaseSequencer.can_switch`).
        """

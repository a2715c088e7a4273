"""The typed interface every signal controller implements, and what it is given.

A controller is built once per simulation run from a :class:`ControllerContext` (the static network,
the demand per movement and the safety rules) and is then asked, once per simulated second, which
signal state each junction shows (:meth:`Controller.step`). A controller that wants SUMO to run its
own program instead (SUMO's ``actuated`` and ``delay_based`` logics) describes those programs in
:meth:`Controller.sumo_programs` and returns no states.

Controllers never import the simulator: they read an :class:`Observation`, which the simulation
builds from libsumo and a test can fake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from citybrain.traffic.controllers.safety import SafetyRules
from citybrain.traffic.network import TrafficNetwork

#: metres before the stop line in which :meth:`Observation.approaching` counts vehicles (about 3 s at
#: 40 km/h: a vehicle that close crosses on this green if it has it)
STOP_LINE_ZONE_M = 30.0


class Observation(Protocol):
    """What a controller may read about the traffic at the current step. Lane ids are the network's.

    The simulation provides this for every lane of :attr:`TrafficNetwork.observed_lanes`
    (:meth:`approaching` for the approach lanes, from a detector on each).
    """

    def vehicles(self, lane_id: str) -> int:
        """Vehicles on the lane now."""
        ...

    def halting(self, lane_id: str) -> int:
        """Vehicles on the lane now moving slower than 0.1 m/s (SUMO's halting, i.e. queued)."""
        ...

    def waiting_time(self, lane_id: str) -> float:
        """Sum over the lane's vehicles of the seconds each has been standing since it last moved."""
        ...

    def approaching(self, lane_id: str) -> int:
        """Vehicles moving (not halting) within :data:`STOP_LINE_ZONE_M` of the lane's stop line."""
        ...

    def distances_to_stop_line(self, lane_id: str) -> Sequence[float]:
        """Metres from each vehicle on the lane to the lane's end. Costs a call per vehicle: use sparingly."""
        ...


@dataclass(frozen=True, slots=True)
class SumoPhase:
    """One phase of a SUMO program; durations in seconds (min/max only matter for actuated logics)."""

    state: str
    duration_s: float
    min_dur_s: float
    max_dur_s: float


@dataclass(frozen=True)
class SumoProgram:
    """A traffic-light program SUMO runs itself (a ``<tlLogic>``), with its type and parameters."""

    tls_id: str
    program_id: str
    kind: Literal["static", "actuated", "delay_based"]
    phases: tuple[SumoPhase, ...]
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ControllerContext:
    """What a controller is built from.

    ``flows_vph`` is the planned demand per movement id in vehicles per hour (see
    :func:`citybrain.traffic.demand.movement_flows`); controllers that plan from flows read it, the
    adaptive ones ignore it.
    """

    network: TrafficNetwork
    flows_vph: Mapping[str, float] = field(default_factory=dict)
    rules: SafetyRules = field(default_factory=SafetyRules)


class Controller(Protocol):
    """Decides the signals of every signalised junction of a network, one simulated second at a time."""

    def sumo_programs(self) -> Sequence[SumoProgram]:
        """Programs SUMO should run itself; empty when :meth:`step` drives the signals."""
        ...

    def step(self, now: int, observation: Observation) -> Mapping[str, str]:
        """The state string each junction (TLS id) shows from ``now`` to ``now + 1`` seconds.

        Called once per simulated second, starting at 0. A controller running SUMO programs returns
        an empty mapping.
        """
        ...


#: builds a controller for one run: ``factory(context, **params)``, each controller taking its own
#: keyword parameters (a Protocol with ``**params`` would reject their precise signatures)
ControllerFactory = Callable[..., Controller]

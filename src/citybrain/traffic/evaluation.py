"""Evaluation of signal controllers: travel time as the literature defines it, SUMO's trip statistics,
per junction and per network, over several seeds.

Figures of one run (:class:`RunMetrics`, from :func:`measure`):

- ``att_s``, the average travel time of the traffic-signal literature: for each vehicle, the sum
  over the signalised junctions it passes of the time from entering an approach lane to leaving it;
  a vehicle still on an approach at the end counts as leaving then; vehicles never inserted are not
  counted. Computed as approach vehicle-seconds over inserted vehicles, which is the same mean.
- ``att_with_entry_s``: the same time plus each vehicle's wait to enter (SUMO's ``departDelay``),
  over every vehicle due before the end, a vehicle never inserted counting its whole wait until
  the end, so a controller that keeps vehicles out of the network does not look better for it.
- SUMO's own statistics of the trips completed within the run (tripinfo): mean duration, waiting
  time, time loss, departure delay and stops; the throughput (trips completed); vehicles never inserted.
- per junction: vehicles that entered it, their mean time on its approaches, mean and longest queue,
  and the stops on its approach lanes, in total and per vehicle that entered it: the times a vehicle
  there fell below SUMO's halting speed (0.1 m/s, tripinfo's threshold too), so a vehicle that
  creeps up a queue in two goes stops twice. Nearly every stop is on some signalised approach, so
  their sum over the junctions is close to tripinfo's stops summed over every trip, finished or not.

:func:`free_flow_floor` gives the same travel-time figures for the same routes at the speed limit
with no one else on the road: the floor no controller can beat. :func:`evaluate` runs controllers
over seeds (each run in its own process, see ``simulation.run_many``) and reports medians and spreads.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citybrain.traffic.controllers.safety import SafetyRules
from citybrain.traffic.demand import Trip, read_trips
from citybrain.traffic.network import TrafficNetwork, load_network
from citybrain.traffic.simulation import RunRequest, SimulationOutput, run_many

DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class JunctionMetrics:
    """One junction in one run: vehicles entering it, mean seconds on its approaches, queues (vehicles),
    stops on its approaches (in total and per vehicle that entered it)."""

    junction_id: str
    vehicles: int
    att_s: float
    mean_queue_veh: float
    max_queue_veh: int
    wait_per_vehicle_s: float
    stops: int
    stops_per_vehicle: float


@dataclass(frozen=True)
class RunMetrics:
    """The figures of one run (see the module docstring); times in seconds."""

    controller: str
    seed: int
    duration_s: int
    vehicles_due: int
    inserted: int
    never_inserted: int
    att_s: float
    att_with_entry_s: float
    completed: int
    mean_trip_s: float
    mean_waiting_s: float
    mean_time_loss_s: float
    mean_depart_delay_s: float
    mean_stops: float
    mean_queue_veh: float
    wall_s: float
    guard_overrides: int
    junctions: tuple[JunctionMetrics, ...]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def measure(network: TrafficNetwork, trips: Sequence[Trip], output: SimulationOutput) -> RunMetrics:
    """The figures of one simulation run (``trips``: the demand the run simulated).

    Raises ValueError for a run that did not count stops (``RunRequest.count_stops`` off).
    """
    duration = output.request.duration_s
    if output.stops is None:
        raise ValueError("the run did not count stops (RunRequest.count_stops is off)")
    due = [t for t in trips if t.depart_s < duration]
    records = {r.vehicle_id: r for r in output.trips}
    inserted = len(records)
    approach_total = sum(output.approach_vehicle_s.values())
    entry_wait = sum(r.depart_delay_s for r in records.values())
    entry_wait += sum(duration - t.depart_s for t in due if t.vehicle_id not in records)
    done = [r for r in records.values() if r.arrival_s is not None]
    junctions = []
    for j in network.junctions:
        vehicles = output.entered[j.id]
        stops = output.stops[j.id]
        junctions.append(
            JunctionMetrics(
                junction_id=j.id,
                vehicles=vehicles,
                att_s=output.approach_vehicle_s[j.id] / vehicles if vehicles else 0.0,
                mean_queue_veh=output.queue_vehicle_s[j.id] / duration,
                max_queue_veh=output.max_queue[j.id],
                wait_per_vehicle_s=output.queue_vehicle_s[j.id] / vehicles if vehicles else 0.0,
                stops=stops,
                stops_per_vehicle=stops / vehicles if vehicles else 0.0,
            )
        )
    return RunMetrics(
        controller=output.request.controller,
        seed=output.request.seed,
        duration_s=duration,
        vehicles_due=len(due),
        inserted=inserted,
        never_inserted=sum(1 for t in due if t.vehicle_id not in records),
        att_s=approach_total / inserted if inserted else 0.0,
        att_with_entry_s=(approach_total + entry_wait) / len(due) if due else 0.0,
        completed=len(done),
        mean_trip_s=_mean([r.duration_s for r in done]),
        mean_waiting_s=_mean([r.waiting_s for r in done]),
        mean_time_loss_s=_mean([r.time_loss_s for r in done]),
        mean_depart_delay_s=_mean([r.depart_delay_s for r in done]),
        mean_stops=_mean([float(r.stops) for r in done]),
        mean_queue_veh=sum(output.queue_vehicle_s.values()) / duration,
        wall_s=output.wall_s,
        guard_overrides=output.guard_overrides,
        junctions=tuple(junctions),
    )


@dataclass(frozen=True)
class FreeFlowFloor:
    """Travel times (s) of the same routes at the speed limit on an empty network: the floor.

    ``att_s`` by the literature's definition (time on signalised approaches, cut at the end of the
    run like the measured one), ``trip_s`` over whole routes of the trips that would finish within
    the run (normal edges only; the few metres inside junctions are left out).
    """

    att_s: float
    trip_s: float


def free_flow_floor(network: TrafficNetwork, trips: Sequence[Trip], *, duration_s: int = 3600) -> FreeFlowFloor:
    """The free-flow floor for the trips due before ``duration_s`` (speed factor 1, no acceleration)."""
    approach = network.approach_of_edge
    att = []
    trip = []
    for t in trips:
        if t.depart_s >= duration_s or not t.edges:
            continue
        clock = t.depart_s
        on_approaches = 0.0
        for edge in t.edges:
            leave = clock + network.edges[edge].free_flow_time_s
            if edge in approach:
                on_approaches += min(leave, duration_s) - min(clock, duration_s)
            clock = leave
        att.append(on_approaches)
        if clock <= duration_s:
            trip.append(clock - t.depart_s)
    return FreeFlowFloor(att_s=_mean(att), trip_s=_mean(trip))


@dataclass(frozen=True)
class Summary:
    """One controller over several seeds: its runs, and the median and spread (min, max) of any figure."""

    controller: str
    runs: tuple[RunMetrics, ...]

    def values(self, figure: str) -> list[float]:
        return [float(getattr(run, figure)) for run in self.runs]

    def median(self, figure: str) -> float:
        """The median over seeds of a :class:`RunMetrics` field, e.g. ``"att_s"``."""
        return statistics.median(self.values(figure))

    def spread(self, figure: str) -> tuple[float, float]:
        """The lowest and highest value over seeds of a :class:`RunMetrics` field."""
        values = self.values(figure)
        return min(values), max(values)


@dataclass(frozen=True)
class Comparison:
    """Several controllers on one scenario, each over the same seeds, and the free-flow floor."""

    summaries: tuple[Summary, ...]
    free_flow: FreeFlowFloor
    seeds: tuple[int, ...]
    duration_s: int

    def summary(self, controller: str) -> Summary:
        for s in self.summaries:
            if s.controller == controller:
                return s
        raise KeyError(controller)


def evaluate(
    net: Path,
    routes: Sequence[Path],
    controllers: Sequence[str],
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    duration_s: int = 3600,
    max_workers: int = 1,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    rules: SafetyRules | None = None,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Run every controller on the scenario once per seed and summarise.

    Each run is a separate process (``max_workers`` at a time); ``params`` gives a controller's
    parameters by name. The same seed gives the same run, so the figures are repeatable.
    ``progress(done)`` is called as each run finishes.
    """
    network = load_network(net)
    trips = read_trips(routes)
    requests = [
        RunRequest(
            net=net,
            routes=tuple(routes),
            controller=name,
            controller_params=dict((params or {}).get(name, {})),
            seed=seed,
            duration_s=duration_s,
            rules=rules or SafetyRules(),
        )
        for name in controllers
        for seed in seeds
    ]
    outputs = run_many(requests, max_workers=max_workers, progress=progress)
    metrics = [measure(network, trips, output) for output in outputs]
    summaries = tuple(Summary(name, tuple(m for m in metrics if m.controller == name)) for name in controllers)
    return Comparison(
        summaries=summaries,
        free_flow=free_flow_floor(network, trips, duration_s=duration_s),
        seeds=tuple(seeds),
        duration_s=duration_s,
    )

"""Run a SUMO scenario under one signal controller, in process with libsumo, and collect what it did.

One run (:func:`simulate`) loads the network and routes, builds the controller from the registry,
and steps SUMO one second at a time: teleporting off (``--time-to-teleport -1``, stuck vehicles stay
stuck and count), a seed, a duration (3600 s by default). Each second the controller is given the
lanes' state (from one libsumo subscription per watched lane, read in one call per step) and the
states it returns are set with ``trafficlight.setRedYellowGreenState``; a controller that runs SUMO
programs (``actuated``, ``delay_based``) has them loaded as an additional file instead.

What a run collects is raw material for ``evaluation.py``: vehicle-seconds and queued
vehicle-seconds on each junction's approaches (summed per step from the same subscription, so no
per-vehicle Python call is made while the simulation runs), the vehicles that entered each
junction, the stops made on its approaches (counted by SUMO's lane-area detectors, one over each
whole approach lane, read from their output after the run), SUMO's own trip records (tripinfo,
unfinished trips included), and, on request, every signal change and the longest red any waiting
movement saw, for the safety contract.

libsumo runs one simulation per process. :func:`run_many` therefore runs each request in a fresh
worker process (``max_workers`` at a time, 1 by default on a small machine); :func:`simulate` runs in
the calling process and refuses to start while another libsumo simulation is loaded there.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citybrain.traffic.controllers.base import STOP_LINE_ZONE_M, Controller, ControllerContext, SumoProgram
from citybrain.traffic.controllers.registry import make_controller
from citybrain.traffic.controllers.safety import SafetyRules
from citybrain.traffic.demand import Trip, movement_flows, read_trips
from citybrain.traffic.network import TrafficNetwork, load_network

# libsumo's variable ids (libsumo.constants), fixed by the TraCI protocol; kept here so this module
# imports without SUMO installed
_VEHICLE_NUMBER = 0x10
_HALTING_NUMBER = 0x14
_WAITING_TIME = 0x7A
_TL_STATE = 0x20

#: SUMO's halting speed (``SUMO_const_haltingSpeed``, m/s): a vehicle below it is waiting, the
#: threshold of tripinfo's ``waitingCount``; the stop-counting detectors use it instead of the
#: lane-area detector's default of 5 km/h so that a stop means the same in both
HALTING_SPEED_MPS = 0.1


class SimulationError(RuntimeError):
    """A simulation could not run (key ``traffic.simulation.failed``)."""

    key = "traffic.simulation.failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.params = {"reason": reason}


@dataclass(frozen=True)
class RunRequest:
    """One simulation run: scenario files, controller (registry name and parameters), seed, duration (s)."""

    net: Path
    routes: tuple[Path, ...]
    controller: str
    controller_params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    duration_s: int = 3600
    rules: SafetyRules = field(default_factory=SafetyRules)
    record_signals: bool = False
    #: count the stops on each junction's approaches; off only to measure what counting costs
    count_stops: bool = True


@dataclass(frozen=True, slots=True)
class TripRecord:
    """SUMO's tripinfo for one inserted vehicle; ``arrival_s`` is None for a trip unfinished at the end.

    Times in seconds; ``stops`` is SUMO's ``waitingCount`` (times the vehicle came to a halt).
    """

    vehicle_id: str
    depart_s: float
    depart_delay_s: float
    arrival_s: float | None
    duration_s: float
    waiting_s: float
    time_loss_s: float
    stops: int


@dataclass(frozen=True)
class SimulationOutput:
    """What one run produced (see the module docstring). Per-junction mappings are keyed by TLS id.

    ``approach_vehicle_s``: vehicle-seconds spent on the junction's approach lanes;
    ``queue_vehicle_s``: halting vehicle-seconds there (mean queue = this / duration);
    ``max_queue``: the most halting vehicles on its approaches at one time;
    ``entered``: vehicles that entered one of its approaches;
    ``wall_s``: wall-clock seconds of the whole run (start, steps, close, reading outputs);
    ``guard_overrides``: times the max-red guard overrode the controller;
    ``stops``: halts started on the junction's approach lanes (see :func:`write_approach_detectors`),
    None when the request did not count them;
    ``signal_changes`` and ``max_red_waiting_s`` only when recording was asked for.
    """

    request: RunRequest
    wall_s: float
    approach_vehicle_s: Mapping[str, float]
    queue_vehicle_s: Mapping[str, float]
    max_queue: Mapping[str, int]
    entered: Mapping[str, int]
    trips: tuple[TripRecord, ...]
    guard_overrides: int = 0
    stops: Mapping[str, int] | None = None
    signal_changes: Mapping[str, tuple[tuple[int, str], ...]] | None = None
    max_red_waiting_s: Mapping[str, int] | None = None


def import_libsumo() -> Any:
    """libsumo, imported quietly (see below); every module that runs SUMO in process uses this."""
    # libsumo prints (does not warn) that the installed pyarrow differs from the one it was built
    # against; it uses pyarrow only for parquet output, which we do not write, so the note is noise
    with contextlib.redirect_stdout(io.StringIO()):
        import libsumo
    return libsumo


def _sumo_binary() -> str:
    from citybrain.traffic import sumo_tools

    return str(sumo_tools.binary("sumo"))


def write_programs(programs: Sequence[SumoProgram], path: Path) -> None:
    """Write ``programs`` as a SUMO additional file of ``<tlLogic>`` elements."""
    root = ET.Element("additional")
    for program in programs:
        logic = ET.SubElement(root, "tlLogic", id=program.tls_id, type=program.kind, programID=program.program_id, offset="0")
        for key, value in program.params.items():
            ET.SubElement(logic, "param", key=key, value=value)
        for phase in program.phases:
            ET.SubElement(
                logic,
                "phase",
                duration=f"{phase.duration_s:g}",
                minDur=f"{phase.min_dur_s:g}",
                maxDur=f"{phase.max_dur_s:g}",
                state=phase.state,
            )
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def stop_line_detector_id(lane_id: str) -> str:
    """The id of the detector :func:`write_stop_line_detectors` puts before ``lane_id``'s stop line."""
    return f"citybrain_stop_line_{lane_id}"


def write_stop_line_detectors(network: TrafficNetwork, path: Path, output: Path) -> None:
    """Write a SUMO additional file with a lane-area detector over the last :data:`STOP_LINE_ZONE_M`
    metres of every approach lane (what :meth:`Observation.approaching` reads). ``output`` is the
    detectors' own output file, which SUMO requires; it is written once, at the end."""
    root = ET.Element("additional")
    for junction in network.junctions:
        for lane_id in junction.in_lanes:
            length = network.lanes[lane_id].length_m
            ET.SubElement(
                root,
                "laneAreaDetector",
                id=stop_line_detector_id(lane_id),
                lane=lane_id,
                pos=f"{max(0.0, length - STOP_LINE_ZONE_M):.2f}",
                endPos=f"{length:.2f}",
                period="86400",
                file=str(output),
            )
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def approach_detector_id(lane_id: str) -> str:
    """The id of the detector :func:`write_approach_detectors` puts over the whole of ``lane_id``."""
    return f"citybrain_approach_{lane_id}"


def write_approach_detectors(network: TrafficNetwork, path: Path, output: Path, *, period_s: int) -> None:
    """Write a SUMO additional file with a lane-area detector over the whole of every approach lane,
    for their ``startedHalts``: the times a vehicle on the lane fell below :data:`HALTING_SPEED_MPS`
    having not been below it on the lane the step before. ``period_s`` (seconds) should be the run's
    duration, so that ``output`` holds one interval per detector, written when the run ends.

    Detectors only watch: the vehicles drive exactly as without them.
    """
    root = ET.Element("additional")
    for junction in network.junctions:
        for lane_id in junction.in_lanes:
            ET.SubElement(
                root,
                "laneAreaDetector",
                id=approach_detector_id(lane_id),
                lane=lane_id,
                pos="0",
                endPos=f"{network.lanes[lane_id].length_m:.2f}",
                period=str(period_s),
                speedThreshold=f"{HALTING_SPEED_MPS:g}",
                file=str(output),
            )
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def read_started_halts(network: TrafficNetwork, output: Path) -> dict[str, int]:
    """Per junction, the ``startedHalts`` of :func:`write_approach_detectors`'s detectors in
    ``output``, summed over its approach lanes and over every interval written."""
    junction_of = {approach_detector_id(lane): j.id for j in network.junctions for lane in j.in_lanes}
    stops = {j.id: 0 for j in network.junctions}
    with output.open("rb") as file:
        for _event, element in ET.iterparse(file):  # noqa: S314 - SUMO's own output of this run
            if element.tag == "interval":
                junction = junction_of.get(element.attrib["id"])
                if junction is not None:
                    stops[junction] += int(element.attrib["startedHalts"])
            element.clear()
    return stops


class LaneView:
    """The controllers' :class:`~citybrain.traffic.controllers.base.Observation` over one step's subscription
    results (lanes, and the stop-line detectors of the approach lanes); the evaluation runs and the
    live twin both build it, so controllers see the same thing in both."""

    __slots__ = ("_detectors", "_distances", "_lengths", "_libsumo", "_results")

    def __init__(
        self,
        results: Mapping[str, Mapping[int, Any]],
        detectors: Mapping[str, Mapping[int, Any]],
        lengths: Mapping[str, float],
        libsumo: Any,
    ) -> None:
        self._results = results
        self._detectors = detectors
        self._lengths = lengths
        self._libsumo = libsumo
        self._distances: dict[str, tuple[float, ...]] = {}

    def vehicles(self, lane_id: str) -> int:
        values = self._results.get(lane_id)
        return int(values[_VEHICLE_NUMBER]) if values else 0

    def halting(self, lane_id: str) -> int:
        values = self._results.get(lane_id)
        return int(values[_HALTING_NUMBER]) if values else 0

    def waiting_time(self, lane_id: str) -> float:
        values = self._results.get(lane_id)
        return float(values[_WAITING_TIME]) if values else 0.0

    def approaching(self, lane_id: str) -> int:
        values = self._detectors.get(stop_line_detector_id(lane_id))
        return int(values[_VEHICLE_NUMBER] - values[_HALTING_NUMBER]) if values else 0

    def distances_to_stop_line(self, lane_id: str) -> tuple[float, ...]:
        cached = self._distances.get(lane_id)
        if cached is None:
            if self.vehicles(lane_id) == 0:
                cached = ()
            else:
                length = self._lengths[lane_id]
                position = self._libsumo.vehicle.getLanePosition
                cached = tuple(length - position(v) for v in self._libsumo.lane.getLastStepVehicleIDs(lane_id))
            self._distances[lane_id] = cached
        return cached


def simulate(request: RunRequest, *, network: TrafficNetwork | None = None, trips: Sequence[Trip] | None = None) -> SimulationOutput:
    """Run ``request`` in this process with libsumo and return what it collected.

    ``network`` and ``trips`` may be passed when the caller has read them already. Raises
    :class:`SimulationError` when a libsumo simulation is already loaded in this process.
    """
    started = time.perf_counter()
    libsumo = import_libsumo()
    if libsumo.simulation.isLoaded():
        raise SimulationError("a libsumo simulation is already running in this process; use run_many")
    network = network if network is not None else load_network(request.net)
    trips = trips if trips is not None else read_trips(request.routes)
    context = ControllerContext(
        network=network,
        flows_vph=movement_flows(network, trips, begin_s=0.0, end_s=float(request.duration_s)),
        rules=request.rules,
    )
    controller = make_controller(request.controller, context, **request.controller_params)
    programs = tuple(controller.sumo_programs())

    with tempfile.TemporaryDirectory(prefix="citybrain-sumo-") as tmp:
        tripinfo = Path(tmp) / "tripinfo.xml"
        args = [
            _sumo_binary(),
            "--net-file", str(request.net),
            "--route-files", ",".join(str(r) for r in request.routes),
            "--begin", "0",
            "--end", str(request.duration_s),
            "--step-length", "1",
            "--seed", str(request.seed),
            "--time-to-teleport", "-1",
            "--tripinfo-output", str(tripinfo),
            "--tripinfo-output.write-unfinished", "true",
            "--no-step-log", "true",
            "--no-warnings", "true",
            "--duration-log.disable", "true",
        ]  # fmt: skip
        additional = [Path(tmp) / "detectors.add.xml"]
        write_stop_line_detectors(network, additional[0], Path(tmp) / "detectors.out.xml")
        approaches_out = Path(tmp) / "approaches.out.xml"
        if request.count_stops:
            additional.append(Path(tmp) / "approaches.add.xml")
            write_approach_detectors(network, additional[-1], approaches_out, period_s=request.duration_s)
        if programs:
            additional.append(Path(tmp) / "programs.add.xml")
            write_programs(programs, additional[-1])
        args += ["--additional-files", ",".join(str(a) for a in additional)]
        libsumo.start(args)
        try:
            collected = _run_steps(libsumo, request, network, controller, programs)
            still_running = {v: int(libsumo.vehicle.getRouteIndex(v)) for v in libsumo.vehicle.getIDList()}
        finally:
            libsumo.close()  # writes the detectors' output
        records = _read_tripinfo(tripinfo)
        stops = read_started_halts(network, approaches_out) if request.count_stops else None

    entered = _entered(network, trips, records, still_running)
    return SimulationOutput(
        request=request,
        wall_s=time.perf_counter() - started,
        entered=entered,
        trips=records,
        stops=stops,
        **collected,
    )


def _run_steps(
    libsumo: Any, request: RunRequest, network: TrafficNetwork, controller: Controller, programs: Sequence[SumoProgram]
) -> dict[str, Any]:
    """The step loop; returns the per-junction sums and, when asked, the signal record."""
    for program in programs:
        libsumo.trafficlight.setProgram(program.tls_id, program.program_id)
    watched = network.observed_lanes
    variables = [_VEHICLE_NUMBER, _HALTING_NUMBER, _WAITING_TIME]
    for lane in watched:
        libsumo.lane.subscribe(lane, variables)
    for junction in network.junctions:
        for lane in junction.in_lanes:
            libsumo.lanearea.subscribe(stop_line_detector_id(lane), [_VEHICLE_NUMBER, _HALTING_NUMBER])
    record = request.record_signals
    if record and programs:
        for junction in network.junctions:
            libsumo.trafficlight.subscribe(junction.id, [_TL_STATE])
    lengths = {lane: network.lanes[lane].length_m for lane in watched}
    junction_ids = [j.id for j in network.junctions]
    in_lanes = [j.in_lanes for j in network.junctions]
    vehicle_s = [0.0] * len(junction_ids)
    queue_s = [0.0] * len(junction_ids)
    max_queue = [0] * len(junction_ids)
    shown: dict[str, str] = {}
    changes: dict[str, list[tuple[int, str]]] = {j: [] for j in junction_ids}
    red_waiting = _RedWaiting(network) if record else None

    results = libsumo.lane.getAllSubscriptionResults()
    detectors = libsumo.lanearea.getAllSubscriptionResults()
    for now in range(request.duration_s):
        view = LaneView(results, detectors, lengths, libsumo)
        states = controller.step(now, view)
        for tls, state in states.items():
            if shown.get(tls) != state:
                libsumo.trafficlight.setRedYellowGreenState(tls, state)
                shown[tls] = state
        libsumo.simulationStep()
        detectors = libsumo.lanearea.getAllSubscriptionResults()
        if record:
            if programs:
                # SUMO switches its programs at the start of a step: read the state it showed after it
                tl_results = libsumo.trafficlight.getAllSubscriptionResults()
                states = {tls: values[_TL_STATE] for tls, values in tl_results.items()}
            for tls, state in states.items():
                if not changes[tls] or changes[tls][-1][1] != state:
                    changes[tls].append((now, state))
            assert red_waiting is not None
            red_waiting.tick(states, view)
        results = libsumo.lane.getAllSubscriptionResults()
        for k, lanes in enumerate(in_lanes):
            vehicles = 0
            halting = 0
            for lane in lanes:
                values = results.get(lane)
                if values:
                    vehicles += values[_VEHICLE_NUMBER]
                    halting += values[_HALTING_NUMBER]
            vehicle_s[k] += vehicles
            queue_s[k] += halting
            if halting > max_queue[k]:
                max_queue[k] = halting

    overrides = sum(s.forced for s in getattr(controller, "sequencers", ()))
    return {
        "approach_vehicle_s": dict(zip(junction_ids, vehicle_s, strict=True)),
        "queue_vehicle_s": dict(zip(junction_ids, queue_s, strict=True)),
        "max_queue": dict(zip(junction_ids, max_queue, strict=True)),
        "guard_overrides": overrides,
        "signal_changes": {tls: tuple(c) for tls, c in changes.items()} if record else None,
        "max_red_waiting_s": red_waiting.longest if red_waiting is not None else None,
    }


class _RedWaiting:
    """Per junction, the longest run of seconds a movement was red while vehicles queued on its lane."""

    def __init__(self, network: TrafficNetwork) -> None:
        self._movements = {j.id: [(m.link_indices[0], m.in_lane) for m in j.movements if m.turn != "right"] for j in network.junctions}
        self._run: dict[tuple[str, int], int] = {}
        self.longest: dict[str, int] = {j.id: 0 for j in network.junctions}

    def tick(self, states: Mapping[str, str], view: LaneView) -> None:
        for tls, state in states.items():
            for link, lane in self._movements[tls]:
                key = (tls, link)
                if state[link] in "rs" and view.halting(lane) > 0:
                    run = self._run.get(key, 0) + 1
                    self._run[key] = run
                    if run > self.longest[tls]:
                        self.longest[tls] = run
                else:
                    self._run[key] = 0


def _read_tripinfo(path: Path) -> tuple[TripRecord, ...]:
    records = []
    with path.open("rb") as file:
        for _event, element in ET.iterparse(file):  # noqa: S314 - SUMO's own output of this run
            if element.tag != "tripinfo":
                continue
            a = element.attrib
            arrival = float(a["arrival"])
            records.append(
                TripRecord(
                    vehicle_id=a["id"],
                    depart_s=float(a["depart"]),
                    depart_delay_s=float(a["departDelay"]),
                    arrival_s=arrival if arrival >= 0 else None,
                    duration_s=float(a["duration"]),
                    waiting_s=float(a["waitingTime"]),
                    time_loss_s=float(a["timeLoss"]),
                    stops=int(a["waitingCount"]),
                )
            )
            element.clear()
    return tuple(records)


def _entered(
    network: TrafficNetwork, trips: Sequence[Trip], records: Sequence[TripRecord], still_running: Mapping[str, int]
) -> dict[str, int]:
    """Vehicles that entered each junction's approaches: a finished trip entered every approach on its
    route, a running one those up to the edge it is on (its route index); the rest never started."""
    routes = {t.vehicle_id: t.edges for t in trips}
    approach_of = network.approach_of_edge
    entered = {j.id: 0 for j in network.junctions}
    for record in records:
        edges = routes.get(record.vehicle_id, ())
        if record.arrival_s is None:
            edges = edges[: still_running.get(record.vehicle_id, -1) + 1]
        for edge in edges:
            approach = approach_of.get(edge)
            if approach is not None:
                entered[approach.junction_id] += 1
    return entered


def _run_one(request: RunRequest) -> SimulationOutput:
    return simulate(request)


def run_many(
    requests: Sequence[RunRequest], *, max_workers: int = 1, progress: Callable[[int], None] | None = None
) -> list[SimulationOutput]:
    """Run each request in its own worker process, ``max_workers`` at a time; outputs in request order.

    A fresh process per run because libsumo holds one simulation per process and its state is
    global; ``spawn`` so no parent state (an open simulation, threads) is inherited.
    ``progress(done)`` is called as each run finishes (for progress bars and stored run status).
    """
    if not requests:
        return []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(_run_one, request) for request in requests]
        for done, _ in enumerate(as_completed(futures), start=1):
            if progress is not None:
                progress(done)
        return [future.result() for future in futures]

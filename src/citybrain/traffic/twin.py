"""The live digital twin: a SUMO scenario running in the background that operators watch and steer.

:class:`Twin` runs one scenario (a ``.net.xml`` and a ``.rou.xml``) in a separate process, because
libsumo holds one simulation per process, paced at ``speed`` simulated seconds per wall second, and
starts it again from 0 when the demand has ended (each run is a *cycle*). Every ``publish_every_s``
simulated seconds it publishes a snapshot (a JSON-able dict, see :meth:`Twin.latest`) to the
subscribers; :meth:`Twin.command` forces a phase, holds a green, releases an override or switches
one junction's controller, and returns the simulation's acknowledgement.

How the signals stay safe whatever the operator does:

- a junction in ``auto`` mode shows exactly what its controller says (the controller's own
  :class:`~citybrain.traffic.controllers.safety.PhaseSequencer` keeps the rules), so a twin left
  alone runs the same simulation as an evaluation run of that controller;
- an override (``forced``, ``held``) and the way back (``handover``) are shown by the twin's own
  ``PhaseSequencer`` for that junction, started from the state on the street and how long it has
  been shown, so the green being left keeps its minimum and every change has its 5 s yellow;
- a handover gives the signal back as it is: a controller built on
  :class:`~citybrain.traffic.controllers.phased.PhaseController` takes the twin's green or yellow
  and its elapsed seconds into its own sequencer; a SUMO program (``actuated``, ``delay_based``) is
  started at the green shown once that green has had its minimum (SUMO may end it at once); any
  other controller is followed until both show the same green and it cannot end that green early.

Every registered controller can drive any junction: the controllers that set states run for the
whole network (they are cheap) and each junction takes its state from its assigned one; SUMO's
programs are loaded for every junction at the start of a cycle (their detectors cost about 15 % more
simulation time) and switched on where assigned. During ``forced`` and ``held`` the max-red guard
is off, since the operator has taken charge; the duration is capped at the maximum red
(:attr:`SafetyRules.max_red_s`) so nothing waits for ever.

Plain Python with no web or database import; the API, the live page's server-sent events and the
audit trail are built on :class:`Twin` elsewhere.
"""

from __future__ import annotations

import contextlib
import faulthandler
import itertools
import logging
import math
import multiprocessing
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from citybrain.traffic import sumo_tools
from citybrain.traffic.controllers.base import Controller, ControllerContext, SumoProgram
from citybrain.traffic.controllers.phased import PhaseController
from citybrain.traffic.controllers.registry import CONTROLLERS, UnknownController, make_controller
from citybrain.traffic.controllers.safety import PhaseSequencer, SafetyRules
from citybrain.traffic.demand import movement_flows, read_trips
from citybrain.traffic.network import Junction, TrafficNetwork, load_network
from citybrain.traffic.simulation import LaneView, import_libsumo, stop_line_detector_id, write_programs, write_stop_line_detectors

log = logging.getLogger(__name__)

#: the commands :meth:`Twin.command` understands
ACTIONS: tuple[str, ...] = ("force", "hold", "release", "controller")
#: seconds past the last planned departure after which a cycle ends even if vehicles are left
#: (teleporting is off, so a gridlocked network would otherwise never empty)
DRAIN_LIMIT_S = 900
#: from this speed on (and at 0 or below) the twin runs as fast as it can
UNPACED_SPEED = 1e6
#: a paced twin that falls further behind than this (wall seconds) restarts its clock instead of
#: racing to catch up, so a stall does not turn into a burst of simulated time
_MAX_LAG_S = 1.0

# libsumo's variable ids (libsumo.constants), fixed by the TraCI protocol; kept here so this module
# imports without SUMO installed
_VEHICLE_NUMBER = 0x10
_MEAN_SPEED = 0x11
_HALTING_NUMBER = 0x14
_WAITING_TIME = 0x7A
_TL_STATE = 0x20


class TwinError(RuntimeError):
    """The twin's simulation could not start or died (key ``traffic.twin.failed``)."""

    key = "traffic.twin.failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.params = {"reason": reason}


@dataclass(frozen=True)
class TwinConfig:
    """What the simulation process is given; see :class:`Twin` for the meaning of each field."""

    net: Path
    routes: Path
    controller: str
    speed: float
    seed: int
    publish_every_s: int
    loop: bool
    cycle_s: int | None
    rules: SafetyRules = field(default_factory=SafetyRules)


def _ack(ok: bool, now: float, error: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"ok": ok, "sim_time_s": float(now), "error": error, **extra}


class Twin:
    """A scenario running in the background under signal control, with remote commands.

    ``net``/``routes``: the SUMO scenario; ``controller``: the registry name every junction starts
    with; ``speed``: simulated seconds per wall second (0 or below, or :data:`UNPACED_SPEED` and
    above: as fast as possible); ``seed``: SUMO's seed, the same for every cycle; ``publish_every_s``:
    simulated seconds between snapshots; ``loop``: start again from 0 when the demand has ended (else
    the process ends); ``cycle_s``: end each cycle after this many simulated seconds instead (for
    demonstrations and tests); ``rules``: the safety rules overrides keep.

    Snapshots reach subscribers on one reader thread in the calling process, in order; a slow
    subscriber holds up the simulation (the pipe fills), so hand snapshots on rather than work in
    the callback (``loop.call_soon_threadsafe``), and never wait in it for a thread that may
    unsubscribe, since unsubscribing waits for the call in progress.
    """

    def __init__(
        self,
        net: Path,
        routes: Path,
        *,
        controller: str = "citybrain",
        speed: float = 1.0,
        seed: int = 0,
        publish_every_s: int = 1,
        loop: bool = True,
        cycle_s: int | None = None,
        rules: SafetyRules | None = None,
    ) -> None:
        if controller not in CONTROLLERS:
            raise UnknownController(controller)
        if publish_every_s < 1:
            raise ValueError(f"publish_every_s must be at least 1 s, not {publish_every_s}")
        if cycle_s is not None and cycle_s < 1:
            raise ValueError(f"cycle_s must be at least 1 s, not {cycle_s}")
        self.config = TwinConfig(
            net=Path(net),
            routes=Path(routes),
            controller=controller,
            speed=float(speed),
            seed=seed,
            publish_every_s=publish_every_s,
            loop=loop,
            cycle_s=cycle_s,
            rules=rules if rules is not None else SafetyRules(),
        )
        self._process: multiprocessing.process.BaseProcess | None = None
        self._commands: Connection | None = None
        self._events: Connection | None = None
        self._reader: threading.Thread | None = None
        self._folder: Path | None = None
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()  # guards the fields below
        # held while subscribers are called; re-entrant so a callback may unsubscribe itself
        self._dispatching = threading.RLock()
        self._latest: dict[str, Any] | None = None
        self._info: dict[str, Any] | None = None
        self._error: str | None = None
        self._alive = False
        self._stopping = False  # stop() was called: the process ending is no failure
        self._ready = threading.Event()
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)

    # -- life cycle -------------------------------------------------------------------------------

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the simulation process and wait (at most ``timeout`` seconds) until it runs.

        Raises :class:`TwinError` if it is already running, fails to start, or is not ready in time
        (it is then stopped).
        """
        if self._process is not None:
            raise TwinError("the twin was started already")
        self._ready.clear()
        self._error = None
        self._stopping = False
        context = multiprocessing.get_context("spawn")  # no parent state (threads, a loaded SUMO) inherited
        commands_in, commands_out = context.Pipe(duplex=False)
        events_in, events_out = context.Pipe(duplex=False)
        self._folder = Path(tempfile.mkdtemp(prefix="citybrain-twin-"))
        process = context.Process(
            target=_serve, args=(self.config, self._folder, commands_in, events_out), name="citybrain-twin", daemon=True
        )
        self._alive = True
        process.start()
        # the child holds its own ends now; closing ours lets each side see the other's death as EOF
        commands_in.close()
        events_out.close()
        self._process, self._commands, self._events = process, commands_out, events_in
        self._reader = threading.Thread(target=self._read, name="citybrain-twin-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TwinError(f"the simulation was not ready within {timeout:g} s")
        if self._error is not None or not self._alive:
            reason = self._error or "the simulation process ended at start"
            self.stop()
            raise TwinError(reason)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the simulation and wait for its process to end (``timeout`` seconds, then it is killed).

        Safe to call more than once and on a twin that has ended by itself.
        """
        process = self._process
        if process is None:
            return
        self._stopping = True
        if self._commands is not None:
            with self._send_lock, contextlib.suppress(OSError):
                self._commands.send(("stop",))
        process.join(timeout)
        if process.is_alive():
            log.warning("twin simulation did not stop within %g s; terminating it", timeout)
            process.terminate()
            process.join(5.0)
            if process.is_alive():
                process.kill()
                process.join()
        if self._reader is not None:
            self._reader.join(timeout)
        for conn in (self._commands, self._events):
            if conn is not None:
                conn.close()
        process.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._process = self._commands = self._events = None
        self._reader = None
        self._folder = None

    def __enter__(self) -> Twin:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the simulation process is up and stepping."""
        return self._alive and self._process is not None

    @property
    def error(self) -> str | None:
        """Why the simulation died, if it did."""
        return self._error

    @property
    def info(self) -> dict[str, Any] | None:
        """What the simulation reported at start: ``{"junctions": {tls: {"phases": [...], "x", "y"}},
        "controllers": [names], "switchable": [names]}`` (coordinates in the network's metres)."""
        return self._info

    # -- snapshots --------------------------------------------------------------------------------

    def latest(self) -> dict[str, Any] | None:
        """The last snapshot, or None before the first.

        ``{"t": simulated s, "cycle": n, "vehicles": running, "arrived": this cycle, "waiting": due
        but not yet inserted, "mean_speed_mps": over the vehicles on the network's lanes,
        "junctions": {tls: {"state": SUMO state string, "phase": phase name or "yellow", "queue":
        halting vehicles on its approaches, "vehicles": vehicles on its approaches, "mode": "auto" |
        "forced" | "held" | "handover", "controller": name, "until": simulated s when an override
        ends, or None}}}``; ``state`` is the signal shown in the second before ``t``.
        """
        with self._lock:
            return self._latest

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` for each snapshot from now on (on the reader thread); returns
        the function that unsubscribes it, after which it is not called again."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            # waits for a call in progress on the reader thread, so none follows once this returns
            with self._dispatching, self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # -- commands ---------------------------------------------------------------------------------

    def command(
        self,
        junction_id: str,
        action: str,
        value: str | None = None,
        duration_s: float | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Send one command to the simulation and return its acknowledgement.

        ``action`` is one of :data:`ACTIONS`: ``force`` phase ``value`` (a phase name such as
        ``"EW_through"``) green for ``duration_s`` seconds; ``hold`` the green shown (or, during a
        yellow, the next one) for ``duration_s``; ``release`` the junction's override now;
        ``controller`` switches the junction to the registered controller ``value``. Durations are at
        least the minimum green and are capped at the maximum red.

        The acknowledgement is ``{"ok": bool, "sim_time_s": simulated s when it took effect, "error":
        None or a key}``, plus for ``force``/``hold`` ``phase``, ``duration_s`` (after the cap),
        ``capped`` and ``until`` (simulated s when the override ends). Error keys:
        ``traffic.unknown_junction``, ``traffic.unknown_action``, ``traffic.unknown_phase``,
        ``traffic.invalid_duration``, ``traffic.unknown_controller``,
        ``traffic.controller_not_switchable``, ``traffic.twin_not_running``, ``traffic.twin_timeout``.
        """
        latest = self.latest()
        now = latest["t"] if latest is not None else 0.0
        if not self.running or self._commands is None:
            return _ack(False, now, "traffic.twin_not_running")
        request_id = next(self._ids)
        done = threading.Event()
        slot: list[dict[str, Any]] = []
        with self._lock:
            self._pending[request_id] = (done, slot)
        try:
            with self._send_lock:
                self._commands.send(("command", request_id, junction_id, action, value, duration_s))
        except OSError:
            with self._lock:
                self._pending.pop(request_id, None)
            return _ack(False, now, "traffic.twin_not_running")
        if not done.wait(timeout):
            with self._lock:
                self._pending.pop(request_id, None)
            return _ack(False, now, "traffic.twin_timeout")
        return slot[0] if slot else _ack(False, now, "traffic.twin_not_running")

    # -- the reader thread ------------------------------------------------------------------------

    def _read(self) -> None:
        events = self._events
        assert events is not None
        stopped = False
        try:
            while True:
                message = events.recv()
                kind = message[0]
                if kind == "snapshot":
                    snapshot = message[1]
                    with self._dispatching:
                        with self._lock:
                            self._latest = snapshot
                            subscribers = tuple(self._subscribers)
                        for callback in subscribers:
                            try:
                                callback(snapshot)
                            except Exception:  # one broken subscriber must not stop the others or the twin
                                log.exception("twin subscriber %r failed", callback)
                elif kind == "ack":
                    with self._lock:
                        waiting = self._pending.pop(message[1], None)
                    if waiting is not None:
                        waiting[1].append(message[2])
                        waiting[0].set()
                elif kind == "ready":
                    self._info = message[1]
                    self._ready.set()
                elif kind == "error":
                    self._error = message[1]
                    log.error("twin simulation failed: %s", message[1])
                elif kind == "stopped":
                    stopped = True
                    break
        except (EOFError, OSError):
            pass  # the process has gone; stop() or the lines below clean up
        finally:
            self._alive = False
            if not stopped and not self._stopping and self._error is None:
                # killed, or crashed inside SUMO (its traceback is on the process's stderr)
                self._error = "the simulation process ended unexpectedly"
                log.error("twin simulation ended unexpectedly")
            with self._lock:
                pending, self._pending = self._pending, {}
            for done, _slot in pending.values():
                done.set()  # command() sees no answer and reports the twin as not running
            self._ready.set()


# == the simulation process ========================================================================


def _serve(config: TwinConfig, folder: Path, commands: Connection, events: Connection) -> None:
    """Entry point of the simulation process: run the engine until told to stop or the parent dies.

    ``folder`` is for SUMO's input files; the parent owns and removes it, even if this process is killed.
    """
    faulthandler.enable()  # a crash inside SUMO then leaves a Python traceback on stderr
    try:
        engine = _Engine(config, folder, commands, events)
    except Exception as exc:  # reported to the parent, which raises it from start()
        log.exception("twin simulation could not start")
        with contextlib.suppress(OSError):
            events.send(("error", f"{type(exc).__name__}: {exc}"))
            events.send(("stopped",))
        return
    try:
        engine.run()
    except Exception as exc:  # the parent logs it and marks the twin as not running
        log.exception("twin simulation failed")
        with contextlib.suppress(OSError):
            events.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.close()
        with contextlib.suppress(OSError):
            events.send(("stopped",))


def _no_vehicles(_lane: str) -> int:
    """The guard's demand during an override: none, so the operator's choice is not overridden."""
    return 0


class _Signal:
    """One junction's signal as the twin shows it: mode, the override and the state on the street."""

    def __init__(self, junction: Junction) -> None:
        self.junction = junction
        self.green_of = {p.state: i for i, p in enumerate(junction.phases)}
        self.yellow_of: dict[str, list[tuple[int, int]]] = {}
        for a in range(len(junction.phases)):
            for b in range(len(junction.phases)):
                if a != b:
                    self.yellow_of.setdefault(junction.yellow_state(a, b), []).append((a, b))
        self.reset()

    def reset(self) -> None:
        """Back to the start of a cycle: auto mode, nothing shown yet (the controller assignment stays)."""
        self.mode = "auto"
        self.sequencer: PhaseSequencer | None = None  # the twin's own, while it is in charge
        self.override_phase: int | None = None
        self.until: int | None = None
        self.shown = ""  # the state shown in the last simulated second
        self.shown_since = 0  # the simulated second it was first shown
        self.last_green = 0  # the last green phase shown
        self.last_set: str | None = None  # the last state handed to SUMO (None: SUMO's program runs)

    def observe(self, now: int, state: str) -> None:
        """Record ``state`` as shown from ``now`` to ``now + 1``."""
        if state != self.shown:
            self.shown = state
            self.shown_since = now
        green = self.green_of.get(state)
        if green is not None:
            self.last_green = green

    def target_of(self, state: str, last_green: int) -> int | None:
        """The phase ``state`` shows or heads to (a yellow is read as leaving ``last_green``)."""
        green = self.green_of.get(state)
        if green is not None:
            return green
        pairs = self.yellow_of.get(state)
        if not pairs:
            return None
        return next((b for a, b in pairs if a == last_green), pairs[0][1])

    def take_over(self, now: int, rules: SafetyRules) -> PhaseSequencer:
        """The twin's sequencer for this junction, started from the state on the street if needed.

        It continues the green (or yellow) shown, with the seconds it has been shown, so the
        minimum green and the yellow are counted from when they really began.
        """
        if self.sequencer is not None:
            return self.sequencer
        green = self.green_of.get(self.shown)
        if green is not None:
            sequencer = PhaseSequencer(self.junction, rules, start_phase=green)
            sequencer.elapsed_s = now - self.shown_since
        elif self.shown in self.yellow_of:
            sequencer = PhaseSequencer(self.junction, rules, start_phase=self.last_green)
            sequencer.in_yellow = True
            target = self.target_of(self.shown, self.last_green)
            sequencer.target = self.last_green if target is None else target
            sequencer.elapsed_s = now - self.shown_since
        else:  # nothing shown yet (a command at 0 s): start the cycle's signal with the first phase
            sequencer = PhaseSequencer(self.junction, rules, start_phase=self.last_green)
        self.sequencer = sequencer
        return sequencer


def _seconds_to_green(sequencer: PhaseSequencer, phase: int, rules: SafetyRules) -> int:
    """Simulated seconds until ``sequencer`` shows ``phase`` green if asked for it from now on.

    Exact while the guard cannot intervene (overrides tick it with no demand): finish the minimum
    of the current green and a yellow, or finish the yellow and, if it leads elsewhere, that
    phase's minimum green and another yellow.
    """
    if not sequencer.in_yellow:
        if sequencer.phase == phase:
            return 0
        return max(0, rules.min_green_s - sequencer.elapsed_s) + rules.yellow_s
    rest = max(0, rules.yellow_s - sequencer.elapsed_s)
    return rest if sequencer.target == phase else rest + rules.min_green_s + rules.yellow_s


def _adopt(controller: Controller, junction_id: str, sequencer: PhaseSequencer) -> bool:
    """Let ``controller`` carry on ``junction_id``'s signal from the state ``sequencer`` shows; False if it cannot.

    A :class:`PhaseController` keeps each junction's signal in its own sequencer and decides from
    it, so copying the twin's green or yellow, with its elapsed seconds, into that sequencer hands the
    junction back at once: its minimum green counts from when the green really began. Following a
    controller's states instead can stay a second behind one that changes at every minimum green.
    """
    if not isinstance(controller, PhaseController):
        return False
    for junction, own in zip(controller.junctions, controller.sequencers, strict=True):
        if junction.id == junction_id:
            own.phase, own.target = sequencer.phase, sequencer.target
            own.in_yellow, own.elapsed_s = sequencer.in_yellow, sequencer.elapsed_s
            return True
    return False


class _Engine:
    """The simulation loop of the twin's process: SUMO, the controllers, the overrides, the pacing."""

    def __init__(self, config: TwinConfig, folder: Path, commands: Connection, events: Connection) -> None:
        self.config = config
        self.rules = config.rules
        self.commands = commands
        self.events = events
        self.libsumo = import_libsumo()
        if self.libsumo.simulation.isLoaded():
            raise TwinError("a libsumo simulation is already loaded in this process")
        self.network: TrafficNetwork = load_network(config.net)
        self.lengths = {lane_id: lane.length_m for lane_id, lane in self.network.lanes.items()}
        trips = read_trips([config.routes])
        self.last_departure_s = max((t.depart_s for t in trips), default=0.0)
        horizon = max(3600.0, math.ceil(self.last_departure_s))
        self.context = ControllerContext(
            network=self.network,
            flows_vph=movement_flows(self.network, trips, begin_s=0.0, end_s=horizon),
            rules=self.rules,
        )
        # SUMO programs per controller name and junction; a controller whose programs cannot be
        # built for this network (ValueError) cannot be switched to
        self.programs: dict[str, dict[str, SumoProgram]] = {}
        self.unswitchable: set[str] = set()
        for name in CONTROLLERS:
            try:
                probe = make_controller(name, self.context)
            except ValueError:
                self.unswitchable.add(name)
                continue
            programs = tuple(probe.sumo_programs())
            if programs:
                self.programs[name] = {p.tls_id: p for p in programs}
        if config.controller in self.unswitchable:
            raise TwinError(f"controller {config.controller!r} cannot run on this network")
        self.signals = {j.id: _Signal(j) for j in self.network.junctions}
        self.assigned = {j.id: config.controller for j in self.network.junctions}
        self.controllers: dict[str, Controller] = {}
        #: per running controller and junction: the state it last wanted, since when (s), its last green
        self.source_seen: dict[str, dict[str, tuple[str, int, int]]] = {}
        self.lanes = tuple(self.network.lanes)
        self.in_lanes = {j.id: j.in_lanes for j in self.network.junctions}
        self.results: Mapping[str, Mapping[int, Any]] = {}
        self.detectors: Mapping[str, Mapping[int, Any]] = {}
        self.stopping = False
        self.loaded = False
        self.cycle = 0
        self.now = 0
        self.arrived = 0
        self.fast = config.speed <= 0 or config.speed >= UNPACED_SPEED
        self._clock_start = time.monotonic()
        self._clock_t0 = 0
        self.additional = [folder / "detectors.add.xml"]
        write_stop_line_detectors(self.network, self.additional[0], folder / "detectors.out.xml")
        if self.programs:
            # every junction gets every SUMO program from the start; SUMO 1.28 crashes in a later
            # step when a delay_based logic is added at run time (trafficlight.setProgramLogic)
            self.additional.append(folder / "programs.add.xml")
            write_programs([p for programs in self.programs.values() for p in programs.values()], self.additional[-1])

    # -- running ----------------------------------------------------------------------------------

    def run(self) -> None:
        self.events.send(("ready", self._info()))
        while not self.stopping:
            self._start_cycle()
            self._run_cycle()
            self._close_sumo()
            if not self.config.loop:
                break
            self.cycle += 1

    def close(self) -> None:
        self._close_sumo()

    def _info(self) -> dict[str, Any]:
        return {
            "junctions": {j.id: {"phases": [p.name for p in j.phases], "x": j.x, "y": j.y} for j in self.network.junctions},
            "controllers": list(CONTROLLERS),
            "switchable": [n for n in CONTROLLERS if n not in self.unswitchable],
        }

    def _start_cycle(self) -> None:
        args = [
            str(sumo_tools.binary("sumo")),
            "--net-file", str(self.config.net),
            "--route-files", str(self.config.routes),
            "--begin", "0",
            "--step-length", "1",
            "--seed", str(self.config.seed),
            "--time-to-teleport", "-1",
            "--no-step-log", "true",
            "--no-warnings", "true",
            "--duration-log.disable", "true",
        ]  # fmt: skip
        args += ["--additional-files", ",".join(str(a) for a in self.additional)]
        self.libsumo.start(args)
        self.loaded = True
        variables = [_VEHICLE_NUMBER, _MEAN_SPEED, _HALTING_NUMBER, _WAITING_TIME]
        for lane in self.lanes:
            self.libsumo.lane.subscribe(lane, variables)
        for tls in self.signals:
            self.libsumo.trafficlight.subscribe(tls, [_TL_STATE])
        for lanes in self.in_lanes.values():
            for lane in lanes:
                self.libsumo.lanearea.subscribe(stop_line_detector_id(lane), [_VEHICLE_NUMBER, _HALTING_NUMBER])
        self.results = self.libsumo.lane.getAllSubscriptionResults()
        self.detectors = self.libsumo.lanearea.getAllSubscriptionResults()
        self.now = 0
        self.arrived = 0
        for signal in self.signals.values():
            signal.reset()
        # fresh controllers each cycle: their state belongs to the traffic of the cycle before
        self.controllers = {}
        self.source_seen = {}
        for name in set(self.assigned.values()):
            self._ensure_controller(name)
        for tls, name in self.assigned.items():
            if name in self.programs:
                self._activate_program(self.signals[tls], name, 0)
        self._clock_start = time.monotonic()
        self._clock_t0 = 0

    def _close_sumo(self) -> None:
        if self.loaded:
            self.loaded = False
            with contextlib.suppress(Exception):  # closing a simulation that failed mid-step
                self.libsumo.close()

    def _cycle_over(self) -> bool:
        if self.config.cycle_s is not None:
            return self.now >= self.config.cycle_s
        if self.now < self.last_departure_s:
            return False
        return self.libsumo.simulation.getMinExpectedNumber() == 0 or self.now >= self.last_departure_s + DRAIN_LIMIT_S

    def _run_cycle(self) -> None:
        libsumo = self.libsumo
        set_state = libsumo.trafficlight.setRedYellowGreenState
        publish_every = self.config.publish_every_s
        while not self.stopping and not self._cycle_over():
            self._poll_commands(0.0)
            if self.stopping:
                break
            now = self.now
            for signal in self.signals.values():
                self._hand_back(signal)
            view = LaneView(self.results, self.detectors, self.lengths, libsumo)
            source_states = {name: controller.step(now, view) for name, controller in self.controllers.items()}
            for name, states in source_states.items():
                seen = self.source_seen[name]
                for tls, state in states.items():
                    previous = seen.get(tls)
                    if previous is None or previous[0] != state:
                        green = self.signals[tls].green_of.get(state)
                        if green is None:
                            green = previous[2] if previous is not None else 0
                        seen[tls] = (state, now, green)
            for tls, signal in self.signals.items():
                shown = self._decide(signal, source_states, view)
                if shown is not None and shown != signal.last_set:
                    set_state(tls, shown)
                    signal.last_set = shown
            libsumo.simulationStep()
            self.arrived += libsumo.simulation.getArrivedNumber()
            self.results = libsumo.lane.getAllSubscriptionResults()
            self.detectors = libsumo.lanearea.getAllSubscriptionResults()
            # read what SUMO showed in this step: our states, or what its own programs switched to
            for tls, values in libsumo.trafficlight.getAllSubscriptionResults().items():
                self.signals[tls].observe(now, values[_TL_STATE])
            self.now = now + 1
            if self.now % publish_every == 0:
                self._send(("snapshot", self._snapshot()))
            self._pace()

    def _pace(self) -> None:
        """Wait until the wall clock catches up with simulated time, answering commands meanwhile."""
        if self.fast:
            return
        target = self._clock_start + (self.now - self._clock_t0) / self.config.speed
        while not self.stopping:
            wait = target - time.monotonic()
            if wait <= 0:
                if -wait > _MAX_LAG_S:
                    self._clock_start, self._clock_t0 = time.monotonic(), self.now
                return
            self._poll_commands(wait)

    # -- signals ----------------------------------------------------------------------------------

    def _decide(self, signal: _Signal, source_states: Mapping[str, Mapping[str, str]], view: LaneView) -> str | None:
        """The state to set on ``signal``'s junction for the coming second; None leaves SUMO's program in charge."""
        now = self.now
        tls = signal.junction.id
        name = self.assigned[tls]
        if signal.mode in ("forced", "held"):
            assert signal.sequencer is not None
            assert signal.override_phase is not None
            return signal.sequencer.tick(now, signal.override_phase, _no_vehicles)
        if signal.mode == "handover":
            sequencer = signal.sequencer
            assert sequencer is not None
            if name in self.programs:
                # SUMO may end the phase it is set to at once (an actuated phase counts its minimum
                # from when it last began), so it gets only a green that has had its minimum
                if sequencer.green_phase is not None and sequencer.can_switch:
                    self._activate_program(signal, name, sequencer.phase)
                    return None
                return sequencer.tick(now, sequencer.target, view.vehicles)
            state, since, last_green = self.source_seen[name][tls]
            if (
                sequencer.green_phase is not None
                and state == signal.junction.phases[sequencer.phase].state
                # the controller may end its green once its own minimum has passed: safe when ours
                # has passed too, or when the controller's green began no earlier than ours
                and (sequencer.can_switch or now - since <= sequencer.elapsed_s)
            ):
                signal.mode, signal.sequencer = "auto", None
                return state
            wanted = signal.target_of(state, last_green)
            return sequencer.tick(now, sequencer.target if wanted is None else wanted, view.vehicles)
        if name in self.programs:
            return None
        return source_states[name][tls]

    def _hand_back(self, signal: _Signal) -> None:
        """Before the controllers step: end an override that is due, and give a junction being handed
        over to a controller that can take its signal as it is (see :func:`_adopt`)."""
        if signal.mode in ("forced", "held"):
            assert signal.until is not None
            if self.now < signal.until:
                return
            signal.mode, signal.until, signal.override_phase = "handover", None, None
        if signal.mode == "handover":
            controller = self.controllers.get(self.assigned[signal.junction.id])
            assert signal.sequencer is not None
            if controller is not None and _adopt(controller, signal.junction.id, signal.sequencer):
                signal.mode, signal.sequencer = "auto", None

    def _activate_program(self, signal: _Signal, name: str, phase: int) -> None:
        """Hand ``signal``'s junction to SUMO program ``name``, starting at green ``phase``.

        SUMO may switch away from ``phase`` in the next step, so call this only once the green has
        lasted its minimum; the yellow that follows is the program's own, of full length.
        """
        trafficlight = self.libsumo.trafficlight
        tls = signal.junction.id
        program = self.programs[name][tls]
        index = next(k for k, p in enumerate(program.phases) if p.state == signal.junction.phases[phase].state)
        trafficlight.setProgram(tls, program.program_id)
        trafficlight.setPhase(tls, index)
        signal.mode, signal.sequencer, signal.last_set = "auto", None, None

    def _ensure_controller(self, name: str) -> None:
        if name not in self.programs and name not in self.controllers:
            self.controllers[name] = make_controller(name, self.context)
            self.source_seen[name] = {}

    def _drop_unused_controllers(self) -> None:
        used = set(self.assigned.values())
        for name in [n for n in self.controllers if n not in used]:
            del self.controllers[name]
            del self.source_seen[name]

    # -- commands ---------------------------------------------------------------------------------

    def _poll_commands(self, timeout: float) -> None:
        """Handle the commands waiting (waiting up to ``timeout`` s for the first one)."""
        try:
            while self.commands.poll(timeout):
                timeout = 0.0
                message = self.commands.recv()
                if message[0] == "stop":
                    self.stopping = True
                    return
                _kind, request_id, junction_id, action, value, duration_s = message
                self._send(("ack", request_id, self._command(junction_id, action, value, duration_s)))
        except (EOFError, OSError):
            self.stopping = True  # the parent has gone: nobody is watching

    def _command(self, junction_id: str, action: str, value: str | None, duration_s: float | None) -> dict[str, Any]:
        now = self.now
        signal = self.signals.get(junction_id)
        if signal is None:
            return _ack(False, now, "traffic.unknown_junction")
        if action not in ACTIONS:
            return _ack(False, now, "traffic.unknown_action")
        if action == "release":
            if signal.mode in ("forced", "held"):
                signal.mode, signal.until, signal.override_phase = "handover", None, None
            return _ack(True, now, mode=signal.mode)
        if action == "controller":
            if value is None or value not in CONTROLLERS:
                return _ack(False, now, "traffic.unknown_controller")
            if value in self.unswitchable:
                return _ack(False, now, "traffic.controller_not_switchable")
            if value != self.assigned[junction_id]:
                self.assigned[junction_id] = value
                self._ensure_controller(value)
                self._drop_unused_controllers()
                if signal.mode == "auto":
                    signal.take_over(now, self.rules)
                    signal.mode = "handover"
            return _ack(True, now, controller=value, mode=signal.mode)
        phase: int | None = None
        if action == "force":
            phase = next((i for i, p in enumerate(signal.junction.phases) if p.name == value), None)
            if phase is None:
                return _ack(False, now, "traffic.unknown_phase")
        if duration_s is None or not math.isfinite(duration_s) or duration_s < self.rules.min_green_s:
            return _ack(False, now, "traffic.invalid_duration")
        duration = min(math.ceil(duration_s), self.rules.max_red_s)
        sequencer = signal.take_over(now, self.rules)
        if phase is None:  # hold: the green shown, or the one a yellow leads to
            phase = sequencer.target if sequencer.in_yellow else sequencer.phase
        signal.mode = "forced" if action == "force" else "held"
        signal.override_phase = phase
        signal.until = now + _seconds_to_green(sequencer, phase, self.rules) + duration
        return _ack(
            True,
            now,
            phase=signal.junction.phases[phase].name,
            duration_s=duration,
            capped=duration < duration_s,
            until=signal.until,
        )

    # -- publishing -------------------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.events.send(message)
        except OSError:
            self.stopping = True  # the parent has gone

    def _snapshot(self) -> dict[str, Any]:
        results = self.results
        moving = 0
        speed_sum = 0.0
        for values in results.values():
            n = values[_VEHICLE_NUMBER]
            if n:
                moving += n
                speed_sum += n * values[_MEAN_SPEED]
        junctions = {}
        for tls, signal in self.signals.items():
            queue = 0
            vehicles = 0
            for lane in self.in_lanes[tls]:
                lane_values = results.get(lane)
                if lane_values:
                    queue += lane_values[_HALTING_NUMBER]
                    vehicles += lane_values[_VEHICLE_NUMBER]
            green = signal.green_of.get(signal.shown)
            junctions[tls] = {
                "state": signal.shown,
                "phase": signal.junction.phases[green].name if green is not None else "yellow",
                "queue": int(queue),
                "vehicles": int(vehicles),
                "mode": signal.mode,
                "controller": self.assigned[tls],
                "until": signal.until,
            }
        return {
            "t": float(self.now),
            "cycle": self.cycle,
            "vehicles": int(self.libsumo.vehicle.getIDCount()),
            "arrived": self.arrived,
            "waiting": len(self.libsumo.simulation.getPendingVehicles()),
            "mean_speed_mps": round(speed_sum / moving, 3) if moving else 0.0,
            "junctions": junctions,
        }

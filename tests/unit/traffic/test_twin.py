"""The live digital twin on the real Jinan 3x4 network: snapshots, remote commands and signal safety.

One twin runs for the module at 100 simulated seconds per wall second and every test steers a
different junction, so they do not disturb each other; the last test checks every signal the twin
showed meanwhile against the safety rules. Commands reach the simulation between two steps, so the
tests read what happened from the snapshots (one per simulated second), not from wall time.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citybrain.traffic.cityflow import convert_to_sumo
from citybrain.traffic.controllers.safety import SafetyRules, check_signal_log
from citybrain.traffic.network import TrafficNetwork, load_network
from citybrain.traffic.scenario import Scenario
from citybrain.traffic.twin import Twin, TwinError

pytestmark = pytest.mark.sumo

ROOT = Path(__file__).resolve().parents[3]
RULES = SafetyRules()
#: wall seconds a test waits for the simulation to reach a simulated time
WAIT_S = 60.0

Snapshot = dict[str, Any]


def data_dir() -> Path:
    return Path(os.environ.get("CITYBRAIN_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    folder = data_dir() / "traffic" / "jinan_3x4"
    if not (folder / "roadnet_3_4.json").is_file():
        pytest.skip(f"the Jinan 3x4 network is not in {folder} (set CITYBRAIN_DATA_DIR)")
    return convert_to_sumo(folder / "roadnet_3_4.json", folder / "anon_3_4_jinan_real.json", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def network(scenario: Scenario) -> TrafficNetwork:
    return load_network(scenario.net)


class Recorder:
    """Keeps every snapshot a twin publishes and waits for conditions on them."""

    def __init__(self) -> None:
        self.snapshots: list[Snapshot] = []
        self._changed = threading.Condition()

    def __call__(self, snapshot: Snapshot) -> None:
        with self._changed:
            self.snapshots.append(snapshot)
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[Snapshot], bool], what: str) -> Snapshot:
        """The first snapshot from now on that meets ``condition``; fails after :data:`WAIT_S`."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            seen = len(self.snapshots)
            while True:
                for snapshot in self.snapshots[seen:]:
                    if condition(snapshot):
                        return snapshot
                seen = len(self.snapshots)
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no snapshot {what} within {WAIT_S:g} s")
                self._changed.wait(left)

    def wait_until(self, t: float) -> None:
        self.wait_for(lambda s: s["t"] >= t or s["cycle"] > 0, f"at {t} s")

    def junction(self, junction_id: str, start: float, stop: float) -> list[tuple[float, dict[str, Any]]]:
        """(t, junction view) of cycle 0 with ``start <= t <= stop``."""
        with self._changed:
            return [(s["t"], s["junctions"][junction_id]) for s in self.snapshots if s["cycle"] == 0 and start <= s["t"] <= stop]


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def twin(scenario: Scenario, recorder: Recorder) -> Iterator[Twin]:
    twin = Twin(scenario.net, scenario.routes, controller="citybrain", speed=100.0, publish_every_s=1)
    twin.subscribe(recorder)
    twin.start()
    try:
        yield twin
    finally:
        twin.stop()


def test_snapshots_arrive_for_every_junction_with_time_advancing(twin: Twin, recorder: Recorder, network: TrafficNetwork) -> None:
    recorder.wait_until(20)
    latest = twin.latest()
    assert latest is not None
    assert set(latest) == {"t", "cycle", "vehicles", "arrived", "waiting", "mean_speed_mps", "junctions"}
    assert len(latest["junctions"]) == len(network.junctions) == 12
    view = latest["junctions"][network.junctions[0].id]
    assert set(view) == {"state", "phase", "queue", "vehicles", "mode", "controller", "until"}
    assert view["controller"] == "citybrain"
    assert view["mode"] == "auto"
    times = [s["t"] for s in recorder.snapshots if s["cycle"] == 0]
    assert times[:20] == [float(t) for t in range(1, 21)]  # one per simulated second, none lost
    assert twin.info is not None
    assert twin.info["junctions"][network.junctions[0].id]["phases"] == [p.name for p in network.junctions[0].phases]


def test_force_shows_the_phase_after_a_yellow_then_hands_back(twin: Twin, recorder: Recorder, network: TrafficNetwork) -> None:
    junction = network.junctions[0]
    recorder.wait_until(30)
    latest = twin.latest()
    assert latest is not None
    shown = latest["junctions"][junction.id]["phase"]
    phase = next(p.name for p in junction.phases if p.name != shown)

    ack = twin.command(junction.id, "force", phase, duration_s=20)

    assert ack["ok"] is True, ack
    assert ack["error"] is None
    assert ack["phase"] == phase
    assert ack["duration_s"] == 20
    assert ack["capped"] is False
    start, until = ack["sim_time_s"], ack["until"]
    # at most: the rest of a minimum green, a yellow, another minimum green and yellow
    assert until - 20 - start <= RULES.min_green_s * 2 + RULES.yellow_s * 2
    recorder.wait_for(lambda s: s["junctions"][junction.id]["mode"] == "auto" and s["t"] > until, "back in auto")
    views = recorder.junction(junction.id, start, until + 200)
    green = [t for t, v in views if v["phase"] == phase and t <= until]
    assert green == [float(t) for t in range(until - 19, until + 1)]  # green for exactly the 20 s asked
    before = dict(views)[until - 20]
    assert before["phase"] == "yellow"
    assert all(v["mode"] == "forced" and v["until"] == until for t, v in views if start < t <= until)
    assert all(v["mode"] in ("handover", "auto") and v["until"] is None for t, v in views if t > until)


def test_hold_keeps_the_green_for_the_duration(twin: Twin, recorder: Recorder, network: TrafficNetwork) -> None:
    junction = network.junctions[1]
    recorder.wait_until(40)

    ack = twin.command(junction.id, "hold", duration_s=30)

    assert ack["ok"] is True, ack
    until = ack["until"]
    recorder.wait_until(until + 10)
    views = dict(recorder.junction(junction.id, ack["sim_time_s"] + 1, until + 10))
    assert [views[t]["phase"] for t in range(until - 29, until + 1)] == [ack["phase"]] * 30
    assert all(views[t]["mode"] == "held" for t in range(until - 29, until + 1))
    assert views[until + 1]["mode"] in ("handover", "auto")


def test_release_ends_an_override_early_and_safely(twin: Twin, recorder: Recorder, network: TrafficNetwork) -> None:
    junction = network.junctions[2]
    recorder.wait_until(50)
    forced = twin.command(junction.id, "force", junction.phases[1].name, duration_s=300)
    assert forced["ok"] is True, forced
    assert forced["duration_s"] == RULES.max_red_s  # capped so nothing waits longer than the maximum red
    assert forced["capped"] is True
    green = recorder.wait_for(lambda s: s["junctions"][junction.id]["phase"] == junction.phases[1].name, "forced green")

    released = twin.command(junction.id, "release")

    assert released["ok"] is True, released
    assert released["sim_time_s"] < forced["until"]
    back = recorder.wait_for(lambda s: s["junctions"][junction.id]["mode"] == "auto", "back in auto")
    assert back["t"] < forced["until"]
    assert green["t"] < released["sim_time_s"] + 1
    assert twin.command(junction.id, "release")["ok"] is True  # nothing to release: harmless


def test_switching_a_junction_to_another_controller(twin: Twin, recorder: Recorder, network: TrafficNetwork) -> None:
    fixed, actuated = network.junctions[3], network.junctions[4]
    recorder.wait_until(60)

    to_fixed = twin.command(fixed.id, "controller", "fixed_time")
    to_actuated = twin.command(actuated.id, "controller", "actuated")

    assert to_fixed["ok"] is True, to_fixed
    assert to_actuated["ok"] is True, to_actuated
    start = max(to_fixed["sim_time_s"], to_actuated["sim_time_s"])
    recorder.wait_until(start + 200)
    for junction, name in ((fixed, "fixed_time"), (actuated, "actuated")):
        views = recorder.junction(junction.id, start + 1, start + 200)
        assert all(v["controller"] == name for _t, v in views)
        assert views[-1][1]["mode"] == "auto", f"{junction.id} still in {views[-1][1]['mode']}"
        greens = {v["phase"] for t, v in views if v["mode"] == "auto"} - {"yellow"}
        assert len(greens) >= 2, f"{junction.id} under {name} showed only {greens}"
    # the rest of the network stays with its controller
    latest = twin.latest()
    assert latest is not None
    assert latest["junctions"][network.junctions[5].id]["controller"] == "citybrain"


def test_bad_commands_are_refused_with_a_key(twin: Twin, network: TrafficNetwork) -> None:
    junction = network.junctions[6].id
    cases = [
        (("nowhere", "force", "NS_through", 10), "traffic.unknown_junction"),
        ((junction, "force", "diagonal", 10), "traffic.unknown_phase"),
        ((junction, "force", None, 10), "traffic.unknown_phase"),
        ((junction, "force", "NS_through", 2), "traffic.invalid_duration"),
        ((junction, "hold", None, None), "traffic.invalid_duration"),
        ((junction, "controller", "no_such_controller", None), "traffic.unknown_controller"),
        ((junction, "teleport", None, None), "traffic.unknown_action"),
    ]
    for (junction_id, action, value, duration), key in cases:
        ack = twin.command(junction_id, action, value, duration)
        assert ack["ok"] is False, (action, value, ack)
        assert ack["error"] == key
        assert isinstance(ack["sim_time_s"], float)
    latest = twin.latest()
    assert latest is not None
    assert latest["junctions"][junction]["mode"] == "auto"


def test_every_signal_shown_kept_the_safety_rules(twin: Twin, recorder: Recorder, network: TrafficNetwork) -> None:
    """Runs last: checks all that the commands above made the junctions show."""
    recorder.wait_until(400)
    snapshots = [s for s in recorder.snapshots if s["cycle"] == 0]
    assert [s["t"] for s in snapshots] == [float(t) for t in range(1, len(snapshots) + 1)]
    end = int(snapshots[-1]["t"])
    for junction in network.junctions:
        changes: list[tuple[int, str]] = []
        for s in snapshots:
            state = s["junctions"][junction.id]["state"]
            if not changes or changes[-1][1] != state:
                changes.append((int(s["t"]) - 1, state))  # a snapshot at t shows the second before t
        assert check_signal_log(junction, changes, end, RULES) == []


def test_an_hour_of_jinan_at_full_speed_takes_well_under_a_minute(scenario: Scenario) -> None:
    recorder = Recorder()
    twin = Twin(scenario.net, scenario.routes, speed=0, publish_every_s=60, loop=False, cycle_s=3600)
    twin.subscribe(recorder)
    twin.start()
    started = time.monotonic()
    recorder.wait_for(lambda s: s["t"] >= 3600, "at 3600 s")
    wall_s = time.monotonic() - started
    twin.stop()

    assert wall_s < 45.0, f"an hour took {wall_s:.1f} s"  # about 11 s on a quiet 2-core machine
    last = recorder.snapshots[-1]
    assert last["t"] == 3600.0
    assert last["arrived"] + last["vehicles"] + last["waiting"] > 6000  # of the 6,295 planned


def test_loops_and_stops_without_leaving_a_process(scenario: Scenario) -> None:
    recorder = Recorder()
    twin = Twin(scenario.net, scenario.routes, speed=0, publish_every_s=5, cycle_s=20)
    twin.subscribe(recorder)
    early: list[Snapshot] = []
    unsubscribe = twin.subscribe(early.append)
    twin.start()
    recorder.wait_for(lambda s: s["t"] >= 10, "at 10 s")
    unsubscribe()
    seen = len(early)
    process = twin._process
    assert process is not None
    pid = process.pid
    assert twin.running
    recorder.wait_for(lambda s: s["cycle"] >= 2, "in the third cycle")

    twin.stop(timeout=10)

    assert not twin.running
    assert len(early) == seen  # nothing after unsubscribing
    assert [s["t"] for s in recorder.snapshots[:8]] == [5.0, 10.0, 15.0, 20.0, 5.0, 10.0, 15.0, 20.0]
    assert pid not in {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie
    assert twin.command("intersection_1_1", "release")["error"] == "traffic.twin_not_running"
    twin.stop()  # twice is harmless


def test_a_simulation_that_dies_is_reported(scenario: Scenario) -> None:
    twin = Twin(scenario.net, scenario.routes, speed=0, cycle_s=3600)
    twin.start()
    process, folder = twin._process, twin._folder
    assert process is not None
    assert folder is not None
    assert folder.is_dir()
    process.kill()
    deadline = time.monotonic() + WAIT_S
    while twin.running and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not twin.running
    assert twin.error == "the simulation process ended unexpectedly"
    assert twin.command("intersection_1_1", "release")["error"] == "traffic.twin_not_running"
    twin.stop()
    assert not folder.exists()  # SUMO's input files go even when the process could not clean up


def test_a_scenario_that_cannot_load_fails_at_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken.net.xml"
    broken.write_text("<net>")
    twin = Twin(broken, tmp_path / "missing.rou.xml")

    with pytest.raises(TwinError):
        twin.start(timeout=30)
    assert not twin.running

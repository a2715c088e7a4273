"""Signal safety: the rules every controller keeps, the state machine that keeps them, and the check.

The rules (:class:`SafetyRules`) are the contract of issue #4: a green phase lasts at least
``min_green_s``; between two different green phases a yellow of ``yellow_s`` is shown (links green in
both stay green, links losing green turn yellow); and no movement with vehicles queued on its lane
stays red longer than ``max_red_s``, so nobody starves.

:class:`PhaseSequencer` is the one piece that turns a controller's wish ("phase 2 now") into the
states shown, so a controller cannot break the rules by mistake; its max-red guard overrides the
controller when a waiting phase would otherwise be kept red too long. :func:`check_signal_log`
checks a run's recorded states against the same rules and is what the shared contract test uses,
for Python controllers and SUMO's own programs alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from citybrain.traffic.network import Junction


@dataclass(frozen=True)
class SafetyRules:
    """Minimum green, yellow and maximum red, in seconds."""

    min_green_s: int = 5
    yellow_s: int = 5
    max_red_s: int = 120

    def guard_threshold_s(self, phases: int) -> int:
        """Seconds a phase may wait with demand before the guard serves it.

        Worst case, every other phase becomes due at once and each must be shown in turn (current
        green finishing its minimum, then yellow, then each due phase its minimum and a yellow), so
        the guard leaves that much of ``max_red_s`` in hand.
        """
        return max(0, self.max_red_s - (phases - 1) * (self.min_green_s + self.yellow_s))


class PhaseSequencer:
    """The signal of one junction: green phases with yellow transitions, under :class:`SafetyRules`.

    Each simulated second call :meth:`tick` with the phase the controller wants; it returns the state
    to show for that second. A wish to change phase is honoured only once the current green has
    lasted ``min_green_s``; the change then shows ``yellow_s`` seconds of yellow first. The max-red
    guard tracks, per phase, since when it has been red with a vehicle on one of its lanes, and once
    that exceeds :meth:`SafetyRules.guard_threshold_s` it serves the longest-waiting such phase
    whatever the controller wants.
    """

    def __init__(self, junction: Junction, rules: SafetyRules, *, start_phase: int = 0) -> None:
        self.junction = junction
        self.rules = rules
        self.phase = start_phase  # the green shown, or the green being left during a yellow
        self.target = start_phase
        self.in_yellow = False
        self.elapsed_s = 0  # seconds shown of the current green or yellow
        self.guard_threshold_s = rules.guard_threshold_s(len(junction.phases))
        self._phase_lanes = [tuple(dict.fromkeys(junction.movement_by_id[m].in_lane for m in phase.movements)) for phase in junction.phases]
        self._waiting_since: list[int | None] = [None] * len(junction.phases)
        self.forced = 0  # how many times the guard overrode the controller

    @property
    def green_phase(self) -> int | None:
        """The green phase shown now, or None during a yellow."""
        return None if self.in_yellow else self.phase

    @property
    def can_switch(self) -> bool:
        """Whether a wish to change phase would be honoured at the next tick."""
        return not self.in_yellow and self.elapsed_s >= self.rules.min_green_s

    def waiting_since(self, phase: int) -> int | None:
        """Since when (s) ``phase`` has been red with vehicles on its lanes, or None."""
        return self._waiting_since[phase]

    def tick(self, now: int, wanted: int, vehicles: Callable[[str], int]) -> str:
        """The state to show from ``now`` to ``now + 1``, given the controller's ``wanted`` phase.

        ``vehicles(lane_id)`` counts the vehicles on a lane now (the guard's notion of demand).
        """
        if self.in_yellow and self.elapsed_s >= self.rules.yellow_s:
            self.in_yellow = False
            self.phase = self.target
            self.elapsed_s = 0
        self._update_waiting(now, vehicles)
        if self.can_switch:
            due = self._most_overdue(now)
            choice = wanted if due is None else due
            if due is not None and due != wanted:
                self.forced += 1
            if choice != self.phase:
                self.in_yellow = True
                self.target = choice
                self.elapsed_s = 0
        self.elapsed_s += 1
        if self.in_yellow:
            return self.junction.yellow_state(self.phase, self.target)
        return self.junction.phases[self.phase].state

    def _update_waiting(self, now: int, vehicles: Callable[[str], int]) -> None:
        for p, lanes in enumerate(self._phase_lanes):
            if p == self.phase:  # green, or yellow: its lanes are not red yet
                self._waiting_since[p] = None
            elif any(vehicles(lane) > 0 for lane in lanes):
                if self._waiting_since[p] is None:
                    self._waiting_since[p] = now
            else:
                self._waiting_since[p] = None

    def _most_overdue(self, now: int) -> int | None:
        best: tuple[int, int] | None = None
        for p, since in enumerate(self._waiting_since):
            if since is not None and now - since >= self.guard_threshold_s and (best is None or since < best[0]):
                best = (since, p)
        return None if best is None else best[1]


def check_signal_log(junction: Junction, changes: Sequence[tuple[int, str]], end_s: int, rules: SafetyRules) -> list[str]:
    """Violations of ``rules`` in one junction's recorded signal, as readable sentences (empty: none).

    ``changes`` are (time s, state) pairs, each state shown from its time until the next change, the
    last until ``end_s``. Checked: every state is a phase of the junction or the yellow between two of
    its phases; two conflicting links are never both green with priority; a green phase lasts at
    least ``min_green_s`` (the last one may be cut by the end of the run); it is followed only by a
    yellow towards another phase, shown at least ``yellow_s``, and then by that phase's green. The
    maximum red is checked from the simulation's own count (see ``SimulationOutput.max_red_waiting_s``).
    """
    problems: list[str] = []
    green_of = {p.state: i for i, p in enumerate(junction.phases)}
    yellow_of: dict[str, set[tuple[int, int]]] = {}
    for a in range(len(junction.phases)):
        for b in range(len(junction.phases)):
            if a != b:
                yellow_of.setdefault(junction.yellow_state(a, b), set()).add((a, b))
    if not changes:
        return [f"{junction.id}: no signal recorded"]
    if changes[0][0] != 0:
        problems.append(f"{junction.id}: first state recorded at {changes[0][0]} s, not 0")
    for t, state in changes:
        priority = [i for i, ch in enumerate(state) if ch == "G"]
        for k, i in enumerate(priority):
            for j in priority[k + 1 :]:
                if junction.conflicts(i, j):
                    problems.append(f"{junction.id} at {t} s: conflicting links {i} and {j} both green with priority")
    spans = [(t, changes[k + 1][0] if k + 1 < len(changes) else end_s, state) for k, (t, state) in enumerate(changes)]
    previous: tuple[str, int, set[tuple[int, int]]] | None = None  # kind, green phase, yellow pairs
    for k, (start, stop, state) in enumerate(spans):
        duration = stop - start
        last = k == len(spans) - 1
        if state in green_of:
            phase = green_of[state]
            if duration < rules.min_green_s and not last:
                problems.append(f"{junction.id} at {start} s: {junction.phases[phase].name} green for {duration} s < {rules.min_green_s} s")
            if previous is not None:
                kind, _green, pairs = previous
                if kind == "green":
                    problems.append(f"{junction.id} at {start} s: green to green without yellow")
                elif not any(b == phase for _a, b in pairs):
                    problems.append(f"{junction.id} at {start} s: yellow led to {junction.phases[phase].name}, not to its target")
            previous = ("green", phase, set())
        elif state in yellow_of:
            pairs = yellow_of[state]
            if duration < rules.yellow_s and not last:
                problems.append(f"{junction.id} at {start} s: yellow for {duration} s < {rules.yellow_s} s")
            if previous is None or previous[0] != "green":
                problems.append(f"{junction.id} at {start} s: yellow not after a green")
            else:
                pairs = {(a, b) for a, b in pairs if a == previous[1]}
                if not pairs:
                    problems.append(f"{junction.id} at {start} s: yellow does not leave the green shown before")
            previous = ("yellow", -1, pairs)
        else:
            problems.append(f"{junction.id} at {start} s: state {state} is neither a phase nor a yellow between two")
            previous = None
    return problems

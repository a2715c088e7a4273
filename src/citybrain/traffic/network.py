"""The static model of a signalised road network, read from a SUMO ``.net.xml``.

Plain Python: junctions, their approaches (incoming edges with a compass side), lanes, movements and
the standard four signal phases of the traffic-signal literature, each as a SUMO signal state string
with the yellow transitions between them. No live simulator here: controllers and the evaluation read
this model, and the simulation (``simulation.py``) is the only place that talks to a running SUMO.

Conventions, all SUMO's:

- a *junction* here is a traffic-light system (TLS) and carries its id; in nearly every network a TLS
  controls exactly one node, and the model keeps the node ids for the rare joined ones;
- lanes are numbered from the right (lane 0 is the rightmost; CityFlow numbers from the left);
- the character ``i`` of a state string is the signal of the TLS link index ``i``: ``G`` green with
  priority, ``g`` green that yields to conflicting traffic, ``y`` yellow, ``r`` red;
- coordinates and lengths are metres, speeds metres per second.

The four phases (N-S through, N-S left, E-W through, E-W left) give each through and left movement
one protected green; right turns are allowed in every phase, with priority (``G``) where no green
movement of the phase conflicts with them and yielding (``g``) where one does, so SUMO's right-of-way
rules decide who goes first. U-turns go with the left turns of their approach.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

Compass = Literal["N", "E", "S", "W"]
Turn = Literal["right", "through", "left", "uturn"]

COMPASS: tuple[Compass, ...] = ("N", "E", "S", "W")
#: the bearing (degrees clockwise from north) each compass side stands for
_BEARING: dict[Compass, float] = {"N": 0.0, "E": 90.0, "S": 180.0, "W": 270.0}
#: SUMO's connection ``dir`` attribute to a turn; "T" is a left-hand-traffic U-turn
_TURN_OF_DIR: dict[str, Turn] = {"s": "through", "l": "left", "L": "left", "r": "right", "R": "right", "t": "uturn", "T": "uturn"}
_AXIS: dict[Compass, str] = {"N": "NS", "S": "NS", "E": "EW", "W": "EW"}
#: the literature's phase order; a junction without movements for one of them simply lacks it
PHASE_NAMES: tuple[str, ...] = ("NS_through", "NS_left", "EW_through", "EW_left")


class NetworkError(ValueError):
    """The network cannot be modelled as asked (key ``traffic.network.invalid``)."""

    key = "traffic.network.invalid"

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.params = {"where": where, "reason": reason}


@dataclass(frozen=True, slots=True)
class Lane:
    """One lane of a normal edge. ``index`` 0 is the rightmost lane (SUMO's numbering)."""

    id: str
    edge_id: str
    index: int
    length_m: float
    speed_mps: float


@dataclass(frozen=True, slots=True)
class Edge:
    """One normal edge (a road in one direction) between two nodes; ``lanes`` ordered right to left."""

    id: str
    from_node: str
    to_node: str
    length_m: float
    speed_mps: float
    lanes: tuple[str, ...]

    @property
    def free_flow_time_s(self) -> float:
        """Seconds to drive the edge at its speed limit."""
        return self.length_m / self.speed_mps


@dataclass(frozen=True, slots=True)
class Approach:
    """An incoming edge of a junction; ``compass`` is the side it comes from (``"N"``: southbound traffic)."""

    edge_id: str
    junction_id: str
    compass: Compass
    lanes: tuple[str, ...]
    length_m: float
    speed_mps: float


@dataclass(frozen=True, slots=True)
class Movement:
    """Traffic from one incoming lane to one outgoing edge across a junction.

    ``out_lanes`` are the lanes of ``out_edge`` this lane's connections reach, ``link_indices`` the
    TLS link indices of those connections (the positions in a state string that govern it).
    """

    id: str
    junction_id: str
    approach: Compass
    in_edge: str
    in_lane: str
    out_edge: str
    out_lanes: tuple[str, ...]
    turn: Turn
    link_indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Phase:
    """One green phase: its name, SUMO state string and the movements it protects (gives right of way to)."""

    name: str
    state: str
    movements: tuple[str, ...]


@dataclass(frozen=True)
class Junction:
    """A signalised junction (one SUMO traffic-light system) with its approaches, movements and phases."""

    id: str
    node_ids: tuple[str, ...]
    x: float
    y: float
    approaches: tuple[Approach, ...]
    exits: tuple[str, ...]
    movements: tuple[Movement, ...]
    phases: tuple[Phase, ...]
    link_count: int
    #: pairs of TLS link indices that conflict (SUMO's foe matrix), as (lower, higher)
    foes: frozenset[tuple[int, int]] = field(repr=False)

    @cached_property
    def movement_by_id(self) -> Mapping[str, Movement]:
        return {m.id: m for m in self.movements}

    @cached_property
    def in_lanes(self) -> tuple[str, ...]:
        """Every lane of every approach, in approach order."""
        return tuple(lane for a in self.approaches for lane in a.lanes)

    @cached_property
    def out_lanes(self) -> tuple[str, ...]:
        """Every lane a movement of this junction leads to, without repeats."""
        return tuple(dict.fromkeys(lane for m in self.movements for lane in m.out_lanes))

    def phase_index(self, name: str) -> int:
        """The position of the phase called ``name`` in :attr:`phases`."""
        for i, phase in enumerate(self.phases):
            if phase.name == name:
                return i
        raise KeyError(name)

    def yellow_state(self, from_phase: int, to_phase: int) -> str:
        """The state shown between green phase ``from_phase`` and green phase ``to_phase``.

        A link green in both stays green (yielding if it yields in either); a link green only in the
        first turns yellow; every other link is red.
        """
        a, b = self.phases[from_phase].state, self.phases[to_phase].state
        out = []
        for sa, sb in zip(a, b, strict=True):
            if sa in "Gg" and sb in "Gg":
                out.append("G" if sa == sb == "G" else "g")
            elif sa in "Gg":
                out.append("y")
            else:
                out.append("r")
        return "".join(out)

    def conflicts(self, i: int, j: int) -> bool:
        """Whether TLS links ``i`` and ``j`` conflict (cross or merge), by SUMO's foe matrix."""
        return (min(i, j), max(i, j)) in self.foes


@dataclass(frozen=True)
class TrafficNetwork:
    """A SUMO network's signalised junctions and every normal edge and lane, read once from a ``.net.xml``."""

    source: Path
    junctions: tuple[Junction, ...]
    edges: Mapping[str, Edge]
    lanes: Mapping[str, Lane]

    @cached_property
    def junction_by_id(self) -> Mapping[str, Junction]:
        return {j.id: j for j in self.junctions}

    def junction(self, junction_id: str) -> Junction:
        """The signalised junction ``junction_id``; raises KeyError for an unknown id."""
        return self.junction_by_id[junction_id]

    @cached_property
    def approach_of_edge(self) -> Mapping[str, Approach]:
        """Every incoming edge of a signalised junction, keyed by edge id."""
        return {a.edge_id: a for j in self.junctions for a in j.approaches}

    @cached_property
    def observed_lanes(self) -> tuple[str, ...]:
        """The lanes controllers watch: every approach lane and every lane a movement leads to."""
        return tuple(dict.fromkeys(lane for j in self.junctions for lane in (*j.in_lanes, *j.out_lanes)))

    def movement_of_turn(self, in_edge: str, out_edge: str) -> list[Movement]:
        """The movements (one per lane) that take traffic from ``in_edge`` to ``out_edge``."""
        approach = self.approach_of_edge.get(in_edge)
        if approach is None:
            return []
        return [m for m in self.junction(approach.junction_id).movements if m.in_edge == in_edge and m.out_edge == out_edge]


def load_network(net_file: Path) -> TrafficNetwork:
    """Read ``net_file`` (a SUMO ``.net.xml``) into a :class:`TrafficNetwork`.

    Every traffic-light system becomes a :class:`Junction` with up to four approaches and the four
    standard phases. Raises :class:`NetworkError` for a junction this model cannot describe (more
    than four approaches, no movement to protect).
    """
    import sumolib  # lazily: importing citybrain.traffic must work without SUMO

    net = sumolib.net.readNet(str(net_file))
    edges: dict[str, Edge] = {}
    lanes: dict[str, Lane] = {}
    for e in net.getEdges():
        if e.getFunction() == "internal":
            continue
        lane_ids = tuple(lane.getID() for lane in e.getLanes())
        edges[e.getID()] = Edge(
            id=e.getID(),
            from_node=e.getFromNode().getID(),
            to_node=e.getToNode().getID(),
            length_m=float(e.getLength()),
            speed_mps=float(e.getSpeed()),
            lanes=lane_ids,
        )
        for lane in e.getLanes():
            lanes[lane.getID()] = Lane(lane.getID(), e.getID(), int(lane.getIndex()), float(lane.getLength()), float(lane.getSpeed()))
    junctions = tuple(sorted((_junction(tls) for tls in net.getTrafficLights()), key=lambda j: j.id))
    return TrafficNetwork(source=Path(net_file), junctions=junctions, edges=edges, lanes=lanes)


def _bearing(dx: float, dy: float) -> float:
    """Compass bearing (degrees clockwise from north) of the vector (dx, dy)."""
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _angle_between(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def assign_compass(bearings: Mapping[str, float]) -> dict[str, Compass]:
    """Give each approach (edge id -> bearing from the junction towards where it comes from) its own side.

    The assignment minimises the total angle between each approach and its side, so a skewed
    junction still gets four distinct sides. Raises :class:`NetworkError` for more than four approaches.
    """
    ids = sorted(bearings)
    if len(ids) > len(COMPASS):
        raise NetworkError(",".join(ids), f"{len(ids)} approaches; the four-phase model handles at most four")
    best: tuple[float, tuple[Compass, ...]] | None = None
    for sides in itertools.permutations(COMPASS, len(ids)):
        cost = sum(_angle_between(bearings[i], _BEARING[s]) for i, s in zip(ids, sides, strict=True))
        if best is None or cost < best[0]:
            best = (cost, sides)
    assert best is not None
    return dict(zip(ids, best[1], strict=True))


def _junction(tls: Any) -> Junction:
    """One TLS of a sumolib network as a :class:`Junction`."""
    tls_id: str = tls.getID()
    # sumolib's TLS lists (in lane, out lane, link index); the Connection objects carry dir and foes
    connections: list[Any] = []
    for edge in tls.getEdges():
        for lane in edge.getLanes():
            connections.extend(c for c in lane.getOutgoing() if c.getTLSID() == tls_id)
    if not connections:
        raise NetworkError(tls_id, "traffic light controls no connection")
    nodes: dict[str, Any] = {c.getJunction().getID(): c.getJunction() for c in connections}
    link_count = 1 + max(c.getTLLinkIndex() for c in connections)

    in_edges: dict[str, Any] = {}
    for c in connections:
        in_edges.setdefault(c.getFrom().getID(), c.getFrom())
    bearings = {}
    for edge_id, edge in in_edges.items():
        shape = edge.getShape()
        # the last segment before the stop line: traffic arrives along it, so it comes from the opposite way
        (x0, y0), (x1, y1) = shape[-2], shape[-1]
        bearings[edge_id] = _bearing(x0 - x1, y0 - y1)
    compass = assign_compass(bearings)
    approaches = tuple(
        sorted(
            (
                Approach(
                    edge_id=edge_id,
                    junction_id=tls_id,
                    compass=compass[edge_id],
                    lanes=tuple(lane.getID() for lane in edge.getLanes()),
                    length_m=float(edge.getLength()),
                    speed_mps=float(edge.getSpeed()),
                )
                for edge_id, edge in in_edges.items()
            ),
            key=lambda a: COMPASS.index(a.compass),
        )
    )

    grouped: dict[tuple[str, str], list[Any]] = {}
    for c in connections:
        grouped.setdefault((c.getFromLane().getID(), c.getTo().getID()), []).append(c)
    movements = []
    for (in_lane, out_edge), conns in grouped.items():
        direction = conns[0].getDirection()
        turn = _TURN_OF_DIR.get(direction)
        if turn is None:
            raise NetworkError(tls_id, f"connection {in_lane} -> {out_edge} has direction {direction!r}")
        in_edge = conns[0].getFrom().getID()
        movements.append(
            Movement(
                id=f"{in_lane}>{out_edge}",
                junction_id=tls_id,
                approach=compass[in_edge],
                in_edge=in_edge,
                in_lane=in_lane,
                out_edge=out_edge,
                out_lanes=tuple(sorted({c.getToLane().getID() for c in conns})),
                turn=turn,
                link_indices=tuple(sorted({c.getTLLinkIndex() for c in conns})),
            )
        )
    movements.sort(key=lambda m: (COMPASS.index(m.approach), m.in_lane, m.out_edge))

    foes = set()
    by_node: dict[str, list[Any]] = {}
    for c in connections:
        by_node.setdefault(c.getJunction().getID(), []).append(c)
    for node_id, conns in by_node.items():
        node = nodes[node_id]
        for a, b in itertools.combinations(conns, 2):
            ia, ib = a.getTLLinkIndex(), b.getTLLinkIndex()
            if ia != ib and node.areFoes(a.getJunctionIndex(), b.getJunctionIndex()):
                foes.add((min(ia, ib), max(ia, ib)))
    frozen_foes = frozenset(foes)

    phases = standard_phases(tls_id, movements, link_count, frozen_foes)
    node = next(iter(nodes.values()))
    x, y = node.getCoord()
    return Junction(
        id=tls_id,
        node_ids=tuple(sorted(nodes)),
        x=float(x),
        y=float(y),
        approaches=approaches,
        exits=tuple(sorted({m.out_edge for m in movements})),
        movements=tuple(movements),
        phases=phases,
        link_count=link_count,
        foes=frozen_foes,
    )


def _protected_by(name: str, movement: Movement) -> bool:
    axis, kind = name.split("_")
    if _AXIS[movement.approach] != axis:
        return False
    return movement.turn == "through" if kind == "through" else movement.turn in ("left", "uturn")


def standard_phases(
    junction_id: str, movements: Sequence[Movement], link_count: int, foes: frozenset[tuple[int, int]]
) -> tuple[Phase, ...]:
    """The four phases of the literature built from ``movements``, in the order of :data:`PHASE_NAMES`.

    Each through and left (and U-turn) movement is green in exactly one phase; right turns are green
    in all. A green link gets ``g`` (yield) where a conflicting link is also green in the phase and
    has the better claim (a protected movement over a right turn, a through over a left), else ``G``.
    Links of no movement (pedestrian crossings, for instance) stay red. Phases with no movement to
    protect are left out. Raises :class:`NetworkError` when no phase is left.
    """

    def conflict(i: int, j: int) -> bool:
        return (min(i, j), max(i, j)) in foes

    rank = {"through": 0, "left": 1, "uturn": 1, "right": 2}  # who yields to whom within one phase
    phases = []
    for name in PHASE_NAMES:
        protected = [m for m in movements if _protected_by(name, m)]
        if not protected:
            continue
        green = protected + [m for m in movements if m.turn == "right"]
        green_links = {i: m for m in green for i in m.link_indices}
        state = ["r"] * link_count
        for i, m in green_links.items():
            yields = any(conflict(i, j) and rank[o.turn] < rank[m.turn] for j, o in green_links.items() if j != i)
            # two conflicting movements of equal rank in one phase would both claim priority
            clash = any(conflict(i, j) and rank[o.turn] == rank[m.turn] and m.turn != "right" for j, o in green_links.items() if j != i)
            state[i] = "g" if yields or clash else "G"
        phases.append(Phase(name=name, state="".join(state), movements=tuple(m.id for m in protected)))
    if not phases:
        raise NetworkError(junction_id, "no through or left movement to give a phase to")
    return tuple(phases)


def movements_served(junction: Junction) -> dict[str, list[str]]:
    """For each movement of ``junction``, the names of the phases in which all its links are green."""
    served: dict[str, list[str]] = {m.id: [] for m in junction.movements}
    for phase in junction.phases:
        for m in junction.movements:
            if all(phase.state[i] in "Gg" for i in m.link_indices):
                served[m.id].append(phase.name)
    return served


def iter_lanes(network: TrafficNetwork, edge_ids: Iterable[str]) -> Iterable[str]:
    """The lanes of ``edge_ids``, right to left, edge after edge."""
    for edge_id in edge_ids:
        yield from network.edges[edge_id].lanes

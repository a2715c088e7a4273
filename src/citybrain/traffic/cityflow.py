"""CityFlow road networks and flows, and their conversion to a SUMO scenario.

CityFlow (Zhang et al., WWW 2019) is the simulator most traffic-signal research reports on. Its data
are two JSON files. The *roadnet* holds intersections (``virtual`` ones at the boundary, where
vehicles enter and leave), directed roads with their lanes, and per intersection its *roadLinks*: the
movements from an incoming to an outgoing road, each with the *laneLinks* from lane to lane, and its
light phases as lists of the roadLinks they let go. The *flow* file holds vehicle templates, each with
a route (road ids) and a schedule (``startTime``, ``endTime``, ``interval``, seconds).

The conversion writes SUMO's plain XML (nodes, edges, and one connection per laneLink), builds the
network with netconvert (a traffic light at every non-virtual intersection with movements), and
writes one SUMO vehicle per CityFlow departure. Ids are kept: SUMO edge = CityFlow road, SUMO
junction and traffic light = CityFlow intersection, SUMO vehicle ``flow_<i>_<k>`` = CityFlow's name for
the k-th vehicle of the i-th flow. Results are cached by the hash of the input bytes.

Lane numbers differ: CityFlow counts a road's lanes from the centre line (lane 0 is the innermost,
the left-turn lane in right-hand traffic), SUMO from the kerb (lane 0 is the rightmost). CityFlow's
lane ``i`` of ``n`` is SUMO's lane ``n - 1 - i`` (:func:`sumo_lane`).

Plain Python (no web code, no database); SUMO runs as a child process, found by ``sumo_tools``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citybrain.traffic import sumo_tools
from citybrain.traffic.scenario import Scenario, cached, content_hash

__all__ = [
    "CONVERTER_VERSION",
    "CityFlowError",
    "Departure",
    "Flow",
    "Intersection",
    "LaneLink",
    "LightPhase",
    "PlainNetwork",
    "Point",
    "Road",
    "RoadLane",
    "RoadLink",
    "Roadnet",
    "Scenario",
    "VehicleType",
    "convert_to_sumo",
    "departures",
    "expand_route",
    "flow_departure_times",
    "parse_flows",
    "parse_roadnet",
    "read_flows",
    "read_roadnet",
    "sumo_lane",
    "write_plain_xml",
    "write_routes",
]

log = logging.getLogger(__name__)

#: Bump when the converter's output changes for the same input: old cache entries are then not reused.
CONVERTER_VERSION = "1"

#: netconvert options, each for a reason:
NETCONVERT_OPTIONS: tuple[str, ...] = (
    # CityFlow has no U-turns; the only connections are the laneLinks written to the .con.xml
    "--no-turnarounds",
    "true",
    # keep CityFlow's coordinates (metres), so positions in SUMO are those of the roadnet
    "--offset.disable-normalization",
    "true",
    # controllers install their own programs; the generated one is a fixed-time starting point
    "--tls.default-type",
    "static",
)

#: SUMO node type of a signalised intersection. CityFlow data sets (Jinan's among them) keep right
#: turns open in every phase, and Chinese traffic law lets right-turning vehicles pass a red light
#: when the way is clear: SUMO's right-on-red turns the generated program's red for right turns into
#: "stop, then go when clear". A controller that sets its own states decides for itself.
SIGNAL_NODE_TYPE = "traffic_light_right_on_red"

NODES = "network.nod.xml"
EDGES = "network.edg.xml"
CONNECTIONS = "network.con.xml"
NET = "network.net.xml"
ROUTES = "routes.rou.xml"
CONFIG = "scenario.sumocfg"
NETCONVERT_LOG = "netconvert.log"


class CityFlowError(ValueError):
    """A CityFlow file that cannot be converted: ``where`` is the JSON path of the problem.

    Key ``traffic.cityflow.invalid`` with params ``file``, ``where``, ``reason`` (for the service layer's
    translated error); ``str()`` reads in English.
    """

    key = "traffic.cityflow.invalid"

    def __init__(self, file: str, where: str, reason: str) -> None:
        super().__init__(f"{file}: {where}: {reason}" if where else f"{file}: {reason}")
        self.params = {"file": file, "where": where, "reason": reason}


# --- the data --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """A position, metres (CityFlow's plane; SUMO keeps it with offset normalisation off)."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class RoadLane:
    """One lane of a road: ``width`` in metres, ``max_speed`` in m/s."""

    width: float
    max_speed: float


@dataclass(frozen=True, slots=True)
class Road:
    """A directed road from one intersection to another; ``lanes[0]`` is the innermost lane."""

    id: str
    start_intersection: str
    end_intersection: str
    points: tuple[Point, ...]
    lanes: tuple[RoadLane, ...]

    @property
    def length(self) -> float:
        """Length of the centre line between the two intersections' centres, metres."""
        return sum(math.dist((a.x, a.y), (b.x, b.y)) for a, b in itertools.pairwise(self.points))


@dataclass(frozen=True, slots=True)
class LaneLink:
    """From lane ``start_lane`` of the incoming road to ``end_lane`` of the outgoing one (CityFlow numbers)."""

    start_lane: int
    end_lane: int
    points: tuple[Point, ...] = ()


@dataclass(frozen=True, slots=True)
class RoadLink:
    """A movement through an intersection: ``type`` is ``go_straight``, ``turn_left`` or ``turn_right``."""

    type: str
    start_road: str
    end_road: str
    direction: int
    lane_links: tuple[LaneLink, ...]


@dataclass(frozen=True, slots=True)
class LightPhase:
    """A light phase: ``time`` seconds, and the indices (into ``road_links``) of the movements it lets go."""

    time: float
    available_road_links: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Intersection:
    """An intersection at ``point``; ``width`` (metres) is how far its stop lines are from the centre."""

    id: str
    point: Point
    width: float
    virtual: bool
    roads: tuple[str, ...]
    road_links: tuple[RoadLink, ...]
    light_phases: tuple[LightPhase, ...]

    @property
    def signalised(self) -> bool:
        """A real intersection with movements: it gets a traffic light in SUMO."""
        return not self.virtual and bool(self.road_links)


@dataclass(frozen=True)
class Roadnet:
    """A CityFlow road network; look roads and intersections up by id with :meth:`road`/:meth:`intersection`."""

    intersections: tuple[Intersection, ...]
    roads: tuple[Road, ...]
    _roads: dict[str, Road] = field(init=False, repr=False, compare=False)
    _intersections: dict[str, Intersection] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_roads", {road.id: road for road in self.roads})
        object.__setattr__(self, "_intersections", {node.id: node for node in self.intersections})

    def road(self, road_id: str) -> Road:
        return self._roads[road_id]

    def intersection(self, intersection_id: str) -> Intersection:
        return self._intersections[intersection_id]

    def has_road(self, road_id: str) -> bool:
        return road_id in self._roads

    def successors(self, road_id: str) -> set[str]:
        """Roads a vehicle on ``road_id`` may turn into at its end (through the roadLinks there)."""
        node = self._intersections[self._roads[road_id].end_intersection]
        return {link.end_road for link in node.road_links if link.start_road == road_id}


@dataclass(frozen=True, slots=True)
class VehicleType:
    """CityFlow's vehicle template: metres, m/s, m/s² and seconds (``headway_time``)."""

    length: float
    width: float
    max_pos_acc: float
    max_neg_acc: float
    usual_pos_acc: float
    usual_neg_acc: float
    min_gap: float
    max_speed: float
    headway_time: float


@dataclass(frozen=True, slots=True)
class Flow:
    """One entry of a flow file: a vehicle every ``interval`` s from ``start_time`` to ``end_time`` (s).

    ``end_time`` -1 means "until the simulation ends"; ``route`` is CityFlow's list of roads to pass,
    which CityFlow completes with shortest paths where two are not adjacent (:func:`expand_route`).
    """

    vehicle: VehicleType
    route: tuple[str, ...]
    start_time: float
    end_time: float
    interval: float


@dataclass(frozen=True, slots=True)
class Departure:
    """One vehicle: ``depart`` in seconds, ``route`` the complete list of roads (= SUMO edges)."""

    vehicle_id: str
    depart: float
    route: tuple[str, ...]
    vehicle_type: VehicleType
    flow_index: int


@dataclass(frozen=True, slots=True)
class PlainNetwork:
    """SUMO plain XML files of a network."""

    nodes: Path
    edges: Path
    connections: Path


def sumo_lane(cityflow_lane: int, lanes: int) -> int:
    """SUMO's index of CityFlow's lane ``cityflow_lane`` on a road of ``lanes`` lanes.

    CityFlow counts from the centre line, SUMO from the right kerb.
    """
    return lanes - 1 - cityflow_lane


# --- reading ---------------------------------------------------------------------------------------


class _Reader:
    """Typed access to parsed JSON that names the file and JSON path of whatever is wrong."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, reason: str) -> CityFlowError:
        return CityFlowError(self.file, where, reason)

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected an object, found {type(value).__name__}")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, found {type(value).__name__}")
        return value

    def get(self, obj: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise self.fail(where, f"missing {key!r}")
        return obj[key]

    def number(self, obj: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
        if key not in obj and default is not None:
            return default
        value = self.get(obj, key, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"{where}.{key}", f"expected a number, found {value!r}")
        return float(value)

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, found {value!r}")
        return value

    def text(self, obj: Mapping[str, Any], key: str, where: str) -> str:
        value = self.get(obj, key, where)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{key}", f"expected a non-empty string, found {value!r}")
        return value

    def point(self, value: Any, where: str) -> Point:
        obj = self.obj(value, where)
        return Point(self.number(obj, "x", where), self.number(obj, "y", where))

    def points(self, value: Any, where: str) -> tuple[Point, ...]:
        return tuple(self.point(p, f"{where}[{i}]") for i, p in enumerate(self.items(value, where)))


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise CityFlowError(path.name, "", "no such file") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CityFlowError(path.name, "", f"not JSON: {exc}") from exc


def _road_link(r: _Reader, value: Any, where: str) -> RoadLink:
    obj = r.obj(value, where)
    lane_links = []
    for j, raw in enumerate(r.items(r.get(obj, "laneLinks", where), f"{where}.laneLinks")):
        at = f"{where}.laneLinks[{j}]"
        link = r.obj(raw, at)
        lane_links.append(
            LaneLink(
                start_lane=r.integer(r.get(link, "startLaneIndex", at), f"{at}.startLaneIndex"),
                end_lane=r.integer(r.get(link, "endLaneIndex", at), f"{at}.endLaneIndex"),
                points=r.points(link.get("points", []), f"{at}.points"),
            )
        )
    direction = obj.get("direction", -1)
    return RoadLink(
        type=r.text(obj, "type", where),
        start_road=r.text(obj, "startRoad", where),
        end_road=r.text(obj, "endRoad", where),
        direction=r.integer(direction, f"{where}.direction"),
        lane_links=tuple(lane_links),
    )


def _intersection(r: _Reader, value: Any, where: str) -> Intersection:
    obj = r.obj(value, where)
    virtual = obj.get("virtual", False)
    if not isinstance(virtual, bool):
        raise r.fail(f"{where}.virtual", f"expected true or false, found {virtual!r}")
    roads = r.items(obj.get("roads", []), f"{where}.roads")
    if not all(isinstance(x, str) for x in roads):
        raise r.fail(f"{where}.roads", "expected road ids")
    road_links = tuple(
        _road_link(r, link, f"{where}.roadLinks[{k}]") for k, link in enumerate(r.items(obj.get("roadLinks", []), f"{where}.roadLinks"))
    )
    phases: list[LightPhase] = []
    light = obj.get("trafficLight")
    if light is not None:
        light = r.obj(light, f"{where}.trafficLight")
        for k, raw in enumerate(r.items(light.get("lightphases", []), f"{where}.trafficLight.lightphases")):
            at = f"{where}.trafficLight.lightphases[{k}]"
            phase = r.obj(raw, at)
            available = r.items(phase.get("availableRoadLinks", []), f"{at}.availableRoadLinks")
            indices = tuple(r.integer(i, f"{at}.availableRoadLinks") for i in available)
            for i in indices:
                if not 0 <= i < len(road_links):
                    raise r.fail(f"{at}.availableRoadLinks", f"roadLink {i} does not exist (the intersection has {len(road_links)})")
            phases.append(LightPhase(time=r.number(phase, "time", at), available_road_links=indices))
    return Intersection(
        id=r.text(obj, "id", where),
        point=r.point(r.get(obj, "point", where), f"{where}.point"),
        width=r.number(obj, "width", where, default=0.0),
        virtual=virtual,
        roads=tuple(roads),
        road_links=road_links,
        light_phases=tuple(phases),
    )


def _road(r: _Reader, value: Any, where: str) -> Road:
    obj = r.obj(value, where)
    points = r.points(r.get(obj, "points", where), f"{where}.points")
    if len(points) < 2:
        raise r.fail(f"{where}.points", "a road needs at least two points")
    lanes = []
    for j, raw in enumerate(r.items(r.get(obj, "lanes", where), f"{where}.lanes")):
        lane = r.obj(raw, f"{where}.lanes[{j}]")
        width, speed = r.number(lane, "width", f"{where}.lanes[{j}]"), r.number(lane, "maxSpeed", f"{where}.lanes[{j}]")
        if width <= 0 or speed <= 0:
            raise r.fail(f"{where}.lanes[{j}]", "width and maxSpeed must be positive")
        lanes.append(RoadLane(width=width, max_speed=speed))
    if not lanes:
        raise r.fail(f"{where}.lanes", "a road needs at least one lane")
    return Road(
        id=r.text(obj, "id", where),
        start_intersection=r.text(obj, "startIntersection", where),
        end_intersection=r.text(obj, "endIntersection", where),
        points=points,
        lanes=tuple(lanes),
    )


def parse_roadnet(data: Any, *, file: str = "roadnet") -> Roadnet:
    """A :class:`Roadnet` from parsed roadnet JSON, checked for consistency.

    Every road must join two known intersections, every roadLink must go from a road ending at its
    intersection to one starting there, with lane indices that exist. Raises :class:`CityFlowError`.
    """
    r = _Reader(file)
    top = r.obj(data, "")
    intersections = tuple(
        _intersection(r, x, f"intersections[{i}]") for i, x in enumerate(r.items(r.get(top, "intersections", ""), "intersections"))
    )
    roads = tuple(_road(r, x, f"roads[{i}]") for i, x in enumerate(r.items(r.get(top, "roads", ""), "roads")))
    for name, ids in (("intersection", [x.id for x in intersections]), ("road", [x.id for x in roads])):
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                raise r.fail(f"{name}s", f"{name} id {item_id!r} is used twice")
            seen.add(item_id)
    net = Roadnet(intersections=intersections, roads=roads)
    known = {x.id for x in intersections}
    for i, road in enumerate(roads):
        for node_id in (road.start_intersection, road.end_intersection):
            if node_id not in known:
                raise r.fail(f"roads[{i}]", f"road {road.id!r} joins unknown intersection {node_id!r}")
    for i, node in enumerate(intersections):
        for k, link in enumerate(node.road_links):
            at = f"intersections[{i}].roadLinks[{k}]"
            for road_id in (link.start_road, link.end_road):
                if not net.has_road(road_id):
                    raise r.fail(at, f"unknown road {road_id!r}")
            start, end = net.road(link.start_road), net.road(link.end_road)
            if start.end_intersection != node.id or end.start_intersection != node.id:
                raise r.fail(at, f"{link.start_road!r} -> {link.end_road!r} does not pass through {node.id!r}")
            for j, lane_link in enumerate(link.lane_links):
                if not 0 <= lane_link.start_lane < len(start.lanes) or not 0 <= lane_link.end_lane < len(end.lanes):
                    raise r.fail(f"{at}.laneLinks[{j}]", f"lane {lane_link.start_lane} -> {lane_link.end_lane} does not exist")
    return net


def read_roadnet(path: Path) -> Roadnet:
    """The CityFlow roadnet in the JSON file ``path`` (see :func:`parse_roadnet`)."""
    return parse_roadnet(_load_json(path), file=path.name)


def parse_flows(data: Any, *, file: str = "flow") -> tuple[Flow, ...]:
    """The flows of parsed flow JSON (a list), checked for what CityFlow needs to run them.

    ``startTime`` defaults to 0 and ``endTime`` to -1 (unbounded), as in CityFlow. Raises
    :class:`CityFlowError`.
    """
    r = _Reader(file)
    flows = []
    for i, raw in enumerate(r.items(data, "")):
        where = f"[{i}]"
        obj = r.obj(raw, where)
        v = r.obj(r.get(obj, "vehicle", where), f"{where}.vehicle")
        at = f"{where}.vehicle"
        vehicle = VehicleType(
            length=r.number(v, "length", at),
            width=r.number(v, "width", at),
            max_pos_acc=r.number(v, "maxPosAcc", at),
            max_neg_acc=r.number(v, "maxNegAcc", at),
            usual_pos_acc=r.number(v, "usualPosAcc", at),
            usual_neg_acc=r.number(v, "usualNegAcc", at),
            min_gap=r.number(v, "minGap", at),
            max_speed=r.number(v, "maxSpeed", at),
            headway_time=r.number(v, "headwayTime", at),
        )
        if min(vehicle.length, vehicle.max_speed, vehicle.usual_pos_acc, vehicle.usual_neg_acc) <= 0 or vehicle.min_gap < 0:
            raise r.fail(at, "length, maxSpeed, usualPosAcc and usualNegAcc must be positive, minGap not negative")
        route = r.items(r.get(obj, "route", where), f"{where}.route")
        if not route or not all(isinstance(x, str) for x in route):
            raise r.fail(f"{where}.route", "expected a non-empty list of road ids")
        start = r.number(obj, "startTime", where, default=0.0)
        end = r.number(obj, "endTime", where, default=-1.0)
        interval = r.number(obj, "interval", where)
        if start < 0 or (end >= 0 and end < start) or (end < 0 and end != -1):
            raise r.fail(where, f"startTime {start:g} and endTime {end:g} do not make a time window")
        if interval <= 0 and start != end:
            raise r.fail(f"{where}.interval", "must be positive for a flow of more than one vehicle")
        flows.append(Flow(vehicle=vehicle, route=tuple(route), start_time=start, end_time=end, interval=interval))
    return tuple(flows)


def read_flows(path: Path) -> tuple[Flow, ...]:
    """The CityFlow flows in the JSON file ``path`` (see :func:`parse_flows`)."""
    return parse_flows(_load_json(path), file=path.name)


# --- vehicles --------------------------------------------------------------------------------------


def flow_departure_times(flow: Flow, *, horizon: float = 3600.0, step_length: float = 1.0) -> list[float]:
    """Departure times (s) of a flow's vehicles, as CityFlow's engine makes them.

    CityFlow checks each flow once per step of ``step_length`` seconds and releases a vehicle whenever
    ``interval`` seconds have accumulated, from the first step at or after ``startTime`` while the time
    is at most ``endTime``: the k-th vehicle leaves at ``s0 + ceil(k * interval / step)`` steps. With
    one-second steps and whole seconds that is simply startTime, startTime + interval, ..., endTime
    (inclusive); a flow with startTime == endTime is one vehicle. An unbounded flow (endTime -1) runs
    until ``horizon`` (exclusive), the end of the simulation.
    """
    eps = 1e-9
    first_step = math.ceil(flow.start_time / step_length - eps)
    bounded = flow.end_time >= 0
    end = flow.end_time if bounded else horizon
    times: list[float] = []
    k = 0
    while True:
        step = first_step + (math.ceil(k * flow.interval / step_length - eps) if k else 0)
        t = round(step * step_length, 9)
        if (bounded and t > end + eps) or (not bounded and t >= end - eps):
            return times
        times.append(t)
        if flow.start_time == flow.end_time:
            return times
        k += 1


def expand_route(route: Sequence[str], roadnet: Roadnet, *, file: str = "flow", where: str = "route") -> tuple[str, ...]:
    """The complete list of roads a CityFlow route drives.

    CityFlow takes a route as roads to pass in order and joins two that are not adjacent by the
    shortest path (by road length) between them; adjacent ones are kept as they are. Raises
    :class:`CityFlowError` for an unknown road or roads with no path between them.
    """
    for road_id in route:
        if not roadnet.has_road(road_id):
            raise CityFlowError(file, where, f"unknown road {road_id!r}")
    full = [route[0]]
    for target in route[1:]:
        here = full[-1]
        if target == here:  # CityFlow's path from a road to itself is that road: nothing to add
            continue
        if target in roadnet.successors(here):
            full.append(target)
            continue
        path = _shortest_path(roadnet, here, target)
        if path is None:
            raise CityFlowError(file, where, f"no path from road {here!r} to road {target!r}")
        full.extend(path[1:])
    return tuple(full)


def _shortest_path(roadnet: Roadnet, source: str, target: str) -> list[str] | None:
    # Dijkstra over roads; the cost of a road is its length, paid when entering it
    best = {source: 0.0}
    previous: dict[str, str] = {}
    queue = [(0.0, source)]
    while queue:
        cost, road_id = heapq.heappop(queue)
        if road_id == target:
            path = [target]
            while path[-1] != source:
                path.append(previous[path[-1]])
            return path[::-1]
        if cost > best[road_id]:
            continue
        for nxt in sorted(roadnet.successors(road_id)):
            new = cost + roadnet.road(nxt).length
            if new < best.get(nxt, math.inf):
                best[nxt] = new
                previous[nxt] = road_id
                heapq.heappush(queue, (new, nxt))
    return None


def departures(
    flows: Sequence[Flow], roadnet: Roadnet, *, horizon: float = 3600.0, step_length: float = 1.0, file: str = "flow"
) -> list[Departure]:
    """Every vehicle of ``flows``, sorted by departure time (ties keep the flow file's order).

    Vehicle ids are CityFlow's: ``flow_<i>_<k>`` for the k-th vehicle of the i-th flow. Routes are
    complete (:func:`expand_route`). ``horizon`` ends unbounded flows (seconds, exclusive);
    ``step_length`` is CityFlow's simulation step (s); ``file`` names the flow file in errors.
    """
    out: list[Departure] = []
    for index, flow in enumerate(flows):
        route = expand_route(flow.route, roadnet, file=file, where=f"[{index}].route")
        for k, t in enumerate(flow_departure_times(flow, horizon=horizon, step_length=step_length)):
            out.append(Departure(vehicle_id=f"flow_{index}_{k}", depart=t, route=route, vehicle_type=flow.vehicle, flow_index=index))
    out.sort(key=lambda d: d.depart)  # stable: within one step, vehicles enter in the file's order, as in CityFlow
    return out


# --- writing SUMO files ----------------------------------------------------------------------------


def _num(value: float) -> str:
    """A number as SUMO reads it: no exponent, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _shape(points: Iterable[Point]) -> str:
    return " ".join(f"{_num(p.x)},{_num(p.y)}" for p in points)


def _write_xml(root: ET.Element, path: Path) -> None:
    ET.indent(root, space="    ")
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def write_plain_xml(roadnet: Roadnet, folder: Path) -> PlainNetwork:
    """Write ``roadnet`` as SUMO plain XML into ``folder``: nodes, edges and connections.

    Connections are exactly the laneLinks, lanes renumbered for SUMO (:func:`sumo_lane`); roads that
    end where CityFlow lets nobody on (virtual intersections) are marked as having no successors, so
    netconvert invents no movements of its own.
    """
    nodes = ET.Element("nodes")
    for node in roadnet.intersections:
        ET.SubElement(
            nodes,
            "node",
            id=node.id,
            x=_num(node.point.x),
            y=_num(node.point.y),
            type=SIGNAL_NODE_TYPE if node.signalised else "priority",
        )

    edges = ET.Element("edges")
    for road in roadnet.roads:
        edge = ET.SubElement(
            edges,
            "edge",
            id=road.id,
            to=road.end_intersection,
            numLanes=str(len(road.lanes)),
            speed=_num(max(lane.max_speed for lane in road.lanes)),
            shape=_shape(road.points),
            attrib={"from": road.start_intersection},
        )
        for i, lane in enumerate(road.lanes):
            ET.SubElement(edge, "lane", index=str(sumo_lane(i, len(road.lanes))), speed=_num(lane.max_speed), width=_num(lane.width))

    connections = ET.Element("connections")
    linked: set[str] = set()
    written: set[tuple[str, str, int, int]] = set()
    for node in roadnet.intersections:
        for link in node.road_links:
            start, end = roadnet.road(link.start_road), roadnet.road(link.end_road)
            for lane_link in link.lane_links:
                key = (start.id, end.id, sumo_lane(lane_link.start_lane, len(start.lanes)), sumo_lane(lane_link.end_lane, len(end.lanes)))
                if key in written:
                    continue
                written.add(key)
                linked.add(start.id)
                ET.SubElement(connections, "connection", to=end.id, fromLane=str(key[2]), toLane=str(key[3]), attrib={"from": start.id})
    for road in roadnet.roads:
        if road.id not in linked:
            ET.SubElement(connections, "connection", attrib={"from": road.id})

    folder.mkdir(parents=True, exist_ok=True)
    plain = PlainNetwork(nodes=folder / NODES, edges=folder / EDGES, connections=folder / CONNECTIONS)
    _write_xml(nodes, plain.nodes)
    _write_xml(edges, plain.edges)
    _write_xml(connections, plain.connections)
    return plain


def build_network(plain: PlainNetwork, net: Path) -> str:
    """Run netconvert on ``plain`` to write the SUMO network ``net``; returns netconvert's log."""
    folder = net.parent
    # relative names, run in the folder: the paths netconvert records in the network stay valid when
    # the folder is moved (the cache builds in a temporary folder and renames it)
    args = [
        "--node-files",
        _relative(plain.nodes, folder),
        "--edge-files",
        _relative(plain.edges, folder),
        "--connection-files",
        _relative(plain.connections, folder),
        "--output-file",
        net.name,
        *NETCONVERT_OPTIONS,
    ]
    return sumo_tools.run_netconvert(args, cwd=folder)


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())


def write_routes(vehicles: Sequence[Departure], path: Path, *, headway_as_tau: bool = False) -> int:
    """Write ``vehicles`` as a SUMO route file; returns how many were written.

    One ``vType`` per distinct CityFlow template: ``accel``/``decel`` are CityFlow's usual (not maximal)
    accelerations, which its drivers use outside emergencies; ``emergencyDecel`` is its maximal
    deceleration. CityFlow's ``headwayTime`` is kept as a parameter and becomes SUMO's ``tau`` only with
    ``headway_as_tau`` (both are the time gap drivers keep, but SUMO's default of 1 s is what SUMO's
    models are calibrated with). Vehicles depart on the ``best`` lane for their next turn (CityFlow
    lanes lead to particular turns) at the highest safe speed (``max``), as CityFlow inserts them
    moving; ``vehicles`` must be sorted by departure time, which SUMO requires.
    """
    routes = ET.Element("routes")
    type_ids: dict[VehicleType, str] = {}
    for vehicle in vehicles:
        if vehicle.vehicle_type in type_ids:
            continue
        vt = vehicle.vehicle_type
        type_ids[vt] = type_id = f"cityflow_{len(type_ids)}"
        attrs = {
            "id": type_id,
            "length": _num(vt.length),
            "width": _num(vt.width),
            "minGap": _num(vt.min_gap),
            "maxSpeed": _num(vt.max_speed),
            "accel": _num(vt.usual_pos_acc),
            "decel": _num(vt.usual_neg_acc),
            "emergencyDecel": _num(max(vt.max_neg_acc, vt.usual_neg_acc)),
        }
        if headway_as_tau:
            attrs["tau"] = _num(vt.headway_time)
        element = ET.SubElement(routes, "vType", attrib=attrs)
        ET.SubElement(element, "param", key="cityflow.headwayTime", value=_num(vt.headway_time))
        ET.SubElement(element, "param", key="cityflow.maxPosAcc", value=_num(vt.max_pos_acc))
    last = -math.inf
    for vehicle in vehicles:
        if vehicle.depart < last:
            raise ValueError(f"vehicles must be sorted by departure time: {vehicle.vehicle_id} departs before the one before it")
        last = vehicle.depart
        element = ET.SubElement(
            routes,
            "vehicle",
            id=vehicle.vehicle_id,
            type=type_ids[vehicle.vehicle_type],
            depart=_num(vehicle.depart),
            departLane="best",
            departSpeed="max",
        )
        ET.SubElement(element, "route", edges=" ".join(vehicle.route))
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_xml(routes, path)
    return len(vehicles)


def write_config(path: Path, *, net: Path, routes: Path, end: float) -> None:
    """A ``.sumocfg`` running ``net`` with ``routes`` from 0 to ``end`` seconds (paths relative to it)."""
    config = ET.Element("configuration")
    inputs = ET.SubElement(config, "input")
    ET.SubElement(inputs, "net-file", value=_relative(net, path.parent))
    ET.SubElement(inputs, "route-files", value=_relative(routes, path.parent))
    time = ET.SubElement(config, "time")
    ET.SubElement(time, "begin", value="0")
    ET.SubElement(time, "end", value=_num(end))
    _write_xml(config, path)


# --- the conversion --------------------------------------------------------------------------------


def convert_to_sumo(
    roadnet: Path,
    flow: Path,
    cache_dir: Path,
    *,
    horizon: float = 3600.0,
    step_length: float = 1.0,
    headway_as_tau: bool = False,
) -> Scenario:
    """Convert a CityFlow roadnet + flow to a runnable SUMO scenario, or find it already converted.

    The scenario lives in ``cache_dir/<sha256>``, the hash taken over the two files' bytes, the
    converter's version, SUMO's version and the options, so the same input is converted once and a
    changed one gets a new entry. ``horizon`` (s) is the scenario's end and ends unbounded flows;
    ``step_length`` (s) is the CityFlow step the departures are computed for; ``headway_as_tau`` see
    :func:`write_routes`. Raises :class:`CityFlowError` for bad input and ``sumo_tools.SumoFailed`` if
    netconvert fails; neither leaves a cache entry behind.
    """
    options = {"horizon": horizon, "step_length": step_length, "headway_as_tau": headway_as_tau}
    salt = json.dumps({"converter": CONVERTER_VERSION, "sumo": sumo_tools.sumo_version(), **options}, sort_keys=True)
    key = content_hash([roadnet, flow], salt=salt)

    def build(folder: Path) -> dict[str, Any]:
        net_data = read_roadnet(roadnet)
        flows = read_flows(flow)
        vehicles = departures(flows, net_data, horizon=horizon, step_length=step_length, file=flow.name)
        plain = write_plain_xml(net_data, folder)
        netconvert_log = build_network(plain, folder / NET)
        (folder / NETCONVERT_LOG).write_text(netconvert_log)
        write_routes(vehicles, folder / ROUTES, headway_as_tau=headway_as_tau)
        write_config(folder / CONFIG, net=folder / NET, routes=folder / ROUTES, end=horizon)
        log.info(
            "converted %s + %s: %d vehicles, %d signalised intersections", roadnet.name, flow.name, len(vehicles), _signalised(net_data)
        )
        return {
            "converter": CONVERTER_VERSION,
            "sumo": sumo_tools.sumo_version(),
            "source": {"roadnet": roadnet.name, "flow": flow.name},
            "options": options,
            "vehicles": len(vehicles),
            "signalised_intersections": _signalised(net_data),
        }

    entry, manifest, hit = cached(cache_dir, key, build)
    return Scenario(
        net=entry / NET,
        routes=entry / ROUTES,
        config=entry / CONFIG,
        vehicles=int(manifest["vehicles"]),
        source_hash=key,
        from_cache=hit,
    )


def _signalised(roadnet: Roadnet) -> int:
    return sum(1 for node in roadnet.intersections if node.signalised)

"""Travel demand read from SUMO route files: who departs when along which edges, and the flows it makes.

The controllers that plan from flows (Webster) and the evaluation (vehicles due, free-flow floor)
read the same route file SUMO simulates, so both see one demand. Plain Python, no SUMO import.

Understood: ``<vehicle>`` with a nested ``<route edges=...>`` or a ``route=`` reference to a
``<route id=... edges=...>``, and ``<flow>`` with a route and ``number``/``period``/``vehsPerHour``
(expanded evenly over begin..end, as SUMO does for a fixed period). ``<trip>`` elements (origin and
destination, routed by SUMO at departure) have no edges here and are counted but not routed.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from citybrain.traffic.network import TrafficNetwork


@dataclass(frozen=True, slots=True)
class Trip:
    """One vehicle's planned trip: its id, planned departure (s) and edges (empty for an unrouted trip)."""

    vehicle_id: str
    depart_s: float
    edges: tuple[str, ...]


def _depart(value: str | None) -> float:
    # "triggered"/"containerTriggered"/"now" have no planned time; treat them as due at once
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def read_trips(route_files: Iterable[Path]) -> tuple[Trip, ...]:
    """Every vehicle the route files define, ordered by planned departure then id."""
    trips: list[Trip] = []
    for path in route_files:
        routes: dict[str, tuple[str, ...]] = {}
        with Path(path).open("rb") as file:
            # our own and users' route files; Python's expat refuses entity expansion attacks and
            # fetches no external entities, which is what defusedxml guards against
            root = ET.parse(file).getroot()  # noqa: S314
        for element in root.iter("route"):
            if "id" in element.attrib:
                routes[element.attrib["id"]] = tuple(element.attrib.get("edges", "").split())
        for element in root:
            if element.tag == "vehicle":
                trips.append(Trip(element.attrib["id"], _depart(element.get("depart")), _route_of(element, routes)))
            elif element.tag == "trip":
                trips.append(Trip(element.attrib["id"], _depart(element.get("depart")), ()))
            elif element.tag == "flow":
                edges = _route_of(element, routes)
                for k, depart in enumerate(_flow_departures(element.attrib)):
                    trips.append(Trip(f"{element.attrib['id']}.{k}", depart, edges))
    trips.sort(key=lambda t: (t.depart_s, t.vehicle_id))
    return tuple(trips)


def _route_of(element: ET.Element, routes: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    nested = element.find("route")
    if nested is not None:
        return tuple(nested.attrib.get("edges", "").split())
    return routes.get(element.get("route", ""), ())


def _flow_departures(attrs: dict[str, str]) -> list[float]:
    begin = float(attrs.get("begin", 0))
    end = float(attrs.get("end", 86400))
    if "number" in attrs:
        n = int(attrs["number"])
        step = (end - begin) / n if n else 0.0
        return [begin + k * step for k in range(n)]
    if "period" in attrs and not attrs["period"].startswith("exp("):
        period = float(attrs["period"])
        return [begin + k * period for k in range(math.ceil((end - begin) / period))]
    rate = attrs.get("vehsPerHour") or attrs.get("perHour")
    if rate is not None and float(rate) > 0:
        period = 3600.0 / float(rate)
        return [begin + k * period for k in range(math.ceil((end - begin) / period))]
    return []  # random flows are drawn by SUMO; they have no planned departures


def movement_flows(network: TrafficNetwork, trips: Sequence[Trip], *, begin_s: float = 0.0, end_s: float = 3600.0) -> dict[str, float]:
    """Demand per movement in vehicles per hour, from trips departing in [begin_s, end_s).

    A vehicle turning from edge A to edge B at a signalised junction counts once for that turn; the
    turn's count is shared evenly among the lanes that can make it (SUMO picks among them), so the
    movements of one turn (one per lane) each get their share.
    """
    span_h = (end_s - begin_s) / 3600.0
    turns: dict[tuple[str, str], int] = defaultdict(int)
    for trip in trips:
        if not begin_s <= trip.depart_s < end_s:
            continue
        for a, b in zip(trip.edges, trip.edges[1:], strict=False):
            if a in network.approach_of_edge:
                turns[(a, b)] += 1
    flows: dict[str, float] = {m.id: 0.0 for j in network.junctions for m in j.movements}
    for (a, b), count in turns.items():
        movements = network.movement_of_turn(a, b)
        for m in movements:
            flows[m.id] += count / len(movements) / span_h
    return flows

"""Typed builders for CityFlow data: grid road networks and flows, as CityFlow's own generator makes them.

A grid of ``rows`` x ``cols`` signalised intersections ``intersection_<i>_<j>`` (i = column from 1,
j = row from 1, ``spacing`` metres apart) is ringed by virtual intersections where vehicles enter and
leave. ``road_<i>_<j>_<d>`` leaves ``intersection_<i>_<j>`` heading east (d=0), north (1), west (2) or
south (3). Lanes count from the centre line as in CityFlow: lane 0 turns left, the last lane turns
right, the ones between go straight (a one-lane road does everything from lane 0).
"""

from __future__ import annotations

from typing import Any

HEADINGS = ((1, 0), (0, 1), (-1, 0), (0, -1))

#: Jinan's vehicle template (anon_3_4_jinan_real.json)
VEHICLE: dict[str, float] = {
    "length": 5.0,
    "width": 2.0,
    "maxPosAcc": 2.0,
    "maxNegAcc": 4.5,
    "usualPosAcc": 2.0,
    "usualNegAcc": 4.5,
    "minGap": 2.5,
    "maxSpeed": 11.111,
    "headwayTime": 2,
}


def road_id(i: int, j: int, heading: int) -> str:
    return f"road_{i}_{j}_{heading}"


def _turn_lanes(lanes: int) -> dict[str, list[int]]:
    if lanes == 1:
        return {"turn_left": [0], "go_straight": [0], "turn_right": [0]}
    middle = list(range(1, lanes - 1)) or [0, lanes - 1]
    return {"turn_left": [0], "go_straight": middle, "turn_right": [lanes - 1]}


def _allowed(links: list[dict[str, Any]], kind: str | None, headings: tuple[int, ...]) -> list[int]:
    """Indices of the roadLinks a phase lets go: right turns always (as in Jinan's data), and ``kind``
    for vehicles heading ``headings``."""
    return [k for k, link in enumerate(links) if link["type"] == "turn_right" or (link["type"] == kind and link["direction"] in headings)]


def grid_roadnet(
    rows: int,
    cols: int,
    *,
    spacing: float = 300.0,
    lanes: int = 3,
    lane_width: float = 4.0,
    max_speed: float = 11.111,
    intersection_width: float = 15.0,
) -> dict[str, Any]:
    """A CityFlow roadnet (parsed JSON) of a ``rows`` x ``cols`` grid with a virtual ring."""

    def real(i: int, j: int) -> bool:
        return 1 <= i <= cols and 1 <= j <= rows

    def exists(i: int, j: int) -> bool:
        on_ring_x, on_ring_y = i in (0, cols + 1), j in (0, rows + 1)
        return (real(i, j) or on_ring_x != on_ring_y) and 0 <= i <= cols + 1 and 0 <= j <= rows + 1

    def point(i: int, j: int) -> dict[str, float]:
        return {"x": i * spacing, "y": j * spacing}

    roads: list[dict[str, Any]] = []
    for i in range(cols + 2):
        for j in range(rows + 2):
            if not exists(i, j):
                continue
            for heading, (dx, dy) in enumerate(HEADINGS):
                ni, nj = i + dx, j + dy
                # real intersections send roads every way; virtual ones only into the grid
                if exists(ni, nj) and (real(i, j) or real(ni, nj)):
                    roads.append(
                        {
                            "id": road_id(i, j, heading),
                            "startIntersection": f"intersection_{i}_{j}",
                            "endIntersection": f"intersection_{ni}_{nj}",
                            "points": [point(i, j), point(ni, nj)],
                            "lanes": [{"width": lane_width, "maxSpeed": max_speed} for _ in range(lanes)],
                        }
                    )
    turn_lanes = _turn_lanes(lanes)
    intersections: list[dict[str, Any]] = []
    for i in range(cols + 2):
        for j in range(rows + 2):
            if not exists(i, j):
                continue
            node_id = f"intersection_{i}_{j}"
            touching = [r["id"] for r in roads if node_id in (r["startIntersection"], r["endIntersection"])]
            links: list[dict[str, Any]] = []
            if real(i, j):
                for heading, (dx, dy) in enumerate(HEADINGS):
                    incoming = road_id(i - dx, j - dy, heading)
                    for kind, out_heading in (
                        ("go_straight", heading),
                        ("turn_left", (heading + 1) % 4),
                        ("turn_right", (heading + 3) % 4),
                    ):
                        links.append(
                            {
                                "type": kind,
                                "startRoad": incoming,
                                "endRoad": road_id(i, j, out_heading),
                                "direction": heading,
                                "laneLinks": [
                                    {"startLaneIndex": s, "endLaneIndex": e, "points": []} for s in turn_lanes[kind] for e in range(lanes)
                                ],
                            }
                        )
            phases = (
                [
                    {"time": 5, "availableRoadLinks": _allowed(links, None, ())},
                    {"time": 30, "availableRoadLinks": _allowed(links, "go_straight", (0, 2))},
                    {"time": 30, "availableRoadLinks": _allowed(links, "go_straight", (1, 3))},
                    {"time": 30, "availableRoadLinks": _allowed(links, "turn_left", (0, 2))},
                    {"time": 30, "availableRoadLinks": _allowed(links, "turn_left", (1, 3))},
                ]
                if links
                else []
            )
            intersections.append(
                {
                    "id": node_id,
                    "point": point(i, j),
                    "width": intersection_width if real(i, j) else 0,
                    "roads": touching,
                    "roadLinks": links,
                    "trafficLight": {"roadLinkIndices": list(range(len(links))), "lightphases": phases},
                    "virtual": not real(i, j),
                }
            )
    return {"intersections": intersections, "roads": roads}


def flow(route: list[str], *, start: float = 0, end: float | None = None, interval: float = 1.0, **vehicle: float) -> dict[str, Any]:
    """One CityFlow flow entry: a vehicle every ``interval`` s from ``start`` to ``end`` (default: one vehicle)."""
    return {
        "vehicle": {**VEHICLE, **vehicle},
        "route": route,
        "interval": interval,
        "startTime": start,
        "endTime": start if end is None else end,
    }

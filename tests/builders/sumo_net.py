"""Typed builders for small SUMO networks made with netconvert from plain XML, for tests that need a
network whose answers are known by hand."""

from __future__ import annotations

from pathlib import Path

from citybrain.traffic import sumo_tools


def crossroads(folder: Path, *, arm_m: float = 200.0, feeder_m: float = 100.0, speed_mps: float = 10.0, lanes: int = 1) -> Path:
    """One signalised four-way junction ``C`` with an arm of ``arm_m`` metres each side.

    Each arm ends at a priority node (``N``, ``E``, ``S``, ``W``) fed by a ``feeder_m`` road from an
    outer node (``NN``, ...), so a vehicle starting on a feeder enters the junction's approach at full
    speed. Edges are ``<from>2<to>`` (``W2C`` is the west approach). Returns the ``.net.xml``.
    """
    points = {"C": (0.0, 0.0)}
    for name, (dx, dy) in {"N": (0, 1), "E": (1, 0), "S": (0, -1), "W": (-1, 0)}.items():
        points[name] = (dx * arm_m, dy * arm_m)
        points[name * 2] = (dx * (arm_m + feeder_m), dy * (arm_m + feeder_m))
    nodes = "".join(
        f'<node id="{n}" x="{x}" y="{y}" type="{"traffic_light" if n == "C" else "priority"}"/>' for n, (x, y) in points.items()
    )
    edges = []
    for arm in "NESW":
        for a, b in ((arm * 2, arm), (arm, "C"), ("C", arm), (arm, arm * 2)):
            edges.append(f'<edge id="{a}2{b}" from="{a}" to="{b}" numLanes="{lanes}" speed="{speed_mps}"/>')
    (folder / "c.nod.xml").write_text(f"<nodes>{nodes}</nodes>")
    (folder / "c.edg.xml").write_text(f"<edges>{''.join(edges)}</edges>")
    net = folder / "c.net.xml"
    sumo_tools.run_netconvert(
        ["--node-files", "c.nod.xml", "--edge-files", "c.edg.xml", "--no-turnarounds", "true", "--output-file", net.name], cwd=folder
    )
    return net


def routes(folder: Path, vehicles: list[tuple[str, float, str]]) -> Path:
    """A route file of ``(id, depart s, space-separated edges)`` vehicles that drive at exactly the
    speed limit (no random speed factor) and enter at full speed."""
    body = "".join(
        f'<vehicle id="{vid}" type="exact" depart="{depart}" departSpeed="max"><route edges="{edges}"/></vehicle>'
        for vid, depart, edges in vehicles
    )
    path = folder / "c.rou.xml"
    path.write_text(f'<routes><vType id="exact" speedFactor="1" speedDev="0" maxSpeed="50"/>{body}</routes>')
    return path

"""Generated variants of a demand: a SUMO route file scaled, shifted in time, or with a surge.

Issue #4 asks that controllers' parameters be fixed before evaluation and checked on flows generated
from the real one, not tuned on the evaluation flow alone. This module makes those flows, each a
deterministic function of the base route file, the variant's parameters, a seed and the horizon:

- :class:`Scaled` ``(factor f, jitter_s J)``: more or fewer vehicles of the same kind. For f < 1 each
  vehicle is kept with probability f (the count is binomial, f·n on average); for f > 1 every vehicle
  is kept and round((f − 1)·n) copies of randomly chosen vehicles are added (none copied twice
  before every one has been copied once), each departing within ±J s of its original.
- :class:`Shifted` ``(factor a, offset_s b)``: every departure t becomes a·t + b (seconds): a < 1
  compresses the hour (a = 0.85 sends the same vehicles in 51 minutes, 1/0.85 = 1.18 times the
  rate), b moves everything later (or earlier when negative).
- :class:`Surge` ``(side or entry_edges, start_s, duration_s, extra)``: on the routes that enter the
  network from one side (or whose first edge is one of ``entry_edges``), round(extra·m) more vehicles
  during the window [start_s, start_s + duration_s), where m is how many base vehicles those routes
  send in the window; each is a copy of one of those m (so routes and vehicle types keep their mix)
  departing uniformly in the window.

Every variant covers the horizon [0, horizon_s): vehicles that depart outside it (after a shift, or
already in the base file) are dropped, and jittered or surge departures are drawn inside it.
Generated departures are in whole hundredths of a second. Vehicle types are kept as they are; each
vehicle keeps its attributes and ``<param>`` children, with its route written as its list of edges;
added vehicles get new ids ``<original>.<variant><k>``, unique in the file; vehicles are written sorted
by departure (ties in the base file's order, copies after), as SUMO requires.

Understood input: ``<vType>``/``<vTypeDistribution>``, ``<route id=...>`` definitions and
``<vehicle>`` elements with a numeric ``depart`` and a nested ``<route edges=...>`` or a ``route=``
reference. Anything else (``<flow>``, ``<trip>``, persons, stops, route distributions) raises
:class:`VariantError` rather than being silently changed or lost.

Randomness uses only ``random.Random(seed).random()``, the one part of Python's generator whose
sequence is promised not to change between Python versions, so a seed gives the same file on any
Python. Plain Python, no SUMO import; :func:`entry_edges` takes a network the caller has loaded.
"""

from __future__ import annotations

import copy
import json
import math
import random
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from citybrain.traffic.demand import Trip
from citybrain.traffic.network import Compass, TrafficNetwork
from citybrain.traffic.scenario import cached, content_hash

__all__ = [
    "GENERATOR_VERSION",
    "ROUTES",
    "Scaled",
    "Shifted",
    "Surge",
    "Variant",
    "VariantError",
    "VariantFile",
    "cached_variant",
    "entry_edges",
    "parse_variant",
    "write_variant",
]

#: Bump when the same inputs give a different file: cached variants are then not reused.
GENERATOR_VERSION = "1"
#: name of the route file inside a cache entry
ROUTES = "routes.rou.xml"

#: factors above this are more likely a typo (``scaled:12`` for 1.2) than a meant demand
_MAX_FACTOR = 10.0
#: generated departures are whole multiples of this many seconds
_TICK_S = 0.01
_TYPE_TAGS = frozenset({"vType", "vTypeDistribution"})
_SIDES: tuple[str, ...] = get_args(Compass)


class VariantError(ValueError):
    """Variant parameters that make no sense, or a route file this module cannot vary.

    Key ``traffic.variant.invalid`` with params ``where`` and ``reason`` (for a translated error);
    ``str()`` reads in English.
    """

    key = "traffic.variant.invalid"

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.params = {"where": where, "reason": reason}


def _finite(where: str, value: float) -> None:
    if not math.isfinite(value):
        raise VariantError(where, f"must be a finite number, not {value!r}")


def _factor(where: str, value: float) -> None:
    _finite(where, value)
    if not 0 < value <= _MAX_FACTOR:
        raise VariantError(where, f"must be above 0 and at most {_MAX_FACTOR:g}, not {value:g}")


def _g(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Scaled:
    """Demand times ``factor`` (thinning below 1, copies within ±``jitter_s`` seconds above 1)."""

    factor: float
    jitter_s: float = 30.0

    def __post_init__(self) -> None:
        _factor("scaled.factor", self.factor)
        _finite("scaled.jitter", self.jitter_s)
        if self.jitter_s < 0:
            raise VariantError("scaled.jitter", f"must be at least 0 s, not {self.jitter_s:g}")

    @property
    def label(self) -> str:
        """The spec :func:`parse_variant` reads back, e.g. ``scaled:1.2``."""
        return f"scaled:{_g(self.factor)}" + (f":jitter={_g(self.jitter_s)}" if self.jitter_s != 30.0 else "")

    def params(self) -> dict[str, Any]:
        return {"kind": "scaled", "factor": self.factor, "jitter_s": self.jitter_s}


@dataclass(frozen=True)
class Shifted:
    """Every departure t (s) moved to ``factor`` · t + ``offset_s``."""

    factor: float = 1.0
    offset_s: float = 0.0

    def __post_init__(self) -> None:
        _factor("shifted.factor", self.factor)
        _finite("shifted.offset", self.offset_s)

    @property
    def label(self) -> str:
        """The spec :func:`parse_variant` reads back, e.g. ``shifted:0.85`` or ``shifted:1:offset=300``."""
        return f"shifted:{_g(self.factor)}" + (f":offset={_g(self.offset_s)}" if self.offset_s else "")

    def params(self) -> dict[str, Any]:
        return {"kind": "shifted", "factor": self.factor, "offset_s": self.offset_s}


@dataclass(frozen=True)
class Surge:
    """``extra`` times the base vehicles of some routes, added in [``start_s``, ``start_s`` + ``duration_s``).

    The routes are those whose first edge is in ``entry_edges`` when it is given, else those that
    enter the network from ``side`` (``N``, ``E``, ``S``, ``W``; see :func:`entry_edges`), which needs
    the network when the variant is written. Defaults: the west side, 30 to 45 minutes, +50 %.
    """

    side: str = "W"
    start_s: float = 1800.0
    duration_s: float = 900.0
    extra: float = 0.5
    entry_edges: frozenset[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.side not in _SIDES:
            raise VariantError("surge.side", f"must be one of {', '.join(_SIDES)}, not {self.side!r}")
        _finite("surge.start", self.start_s)
        _finite("surge.duration", self.duration_s)
        if self.start_s < 0:
            raise VariantError("surge.start", f"must be at least 0 s, not {self.start_s:g}")
        if self.duration_s < 1:
            raise VariantError("surge.duration", f"must be at least 1 s, not {self.duration_s:g}")
        _factor("surge.extra", self.extra)
        if self.entry_edges is not None and not self.entry_edges:
            raise VariantError("surge.edges", "names no edge")

    @property
    def label(self) -> str:
        """The spec :func:`parse_variant` reads back, e.g. ``surge`` or ``surge:side=N:extra=1``."""
        parts = ["surge"]
        if self.entry_edges is not None:
            parts.append("edges=" + "+".join(sorted(self.entry_edges)))
        elif self.side != "W":
            parts.append(f"side={self.side}")
        if self.start_s != 1800.0:
            parts.append(f"start={_g(self.start_s)}")
        if self.duration_s != 900.0:
            parts.append(f"duration={_g(self.duration_s)}")
        if self.extra != 0.5:
            parts.append(f"extra={_g(self.extra)}")
        return ":".join(parts)

    def params(self) -> dict[str, Any]:
        return {
            "kind": "surge",
            "side": self.side,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "extra": self.extra,
            "entry_edges": sorted(self.entry_edges) if self.entry_edges is not None else None,
        }


Variant = Scaled | Shifted | Surge


def parse_variant(spec: str) -> Variant | None:
    """A variant from its command-line spec; ``None`` for ``real`` (the base flow itself).

    Specs: ``scaled:F[:jitter=S]``, ``shifted:F[:offset=S]`` (or ``shifted:offset=S``),
    ``surge[:side=N|E|S|W][:edges=A+B...][:start=S][:duration=S][:extra=X]`` — F and X are factors,
    S seconds. Raises :class:`VariantError` for anything else.
    """
    name, *parts = spec.strip().split(":")
    positional = [p for p in parts if "=" not in p]
    options: dict[str, str] = {}
    for part in parts:
        if "=" in part:
            key, _, value = part.partition("=")
            if key in options:
                raise VariantError(spec, f"{key} given twice")
            options[key] = value

    def number(key: str, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise VariantError(spec, f"{key} must be a number, not {text!r}") from None

    def check(allowed: Collection[str], most_positional: int) -> None:
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise VariantError(spec, f"unknown option {unknown[0]!r} for {name} (known: {', '.join(sorted(allowed)) or 'none'})")
        if len(positional) > most_positional:
            raise VariantError(spec, f"{name} takes at most {most_positional} plain value(s), got {len(positional)}")

    if name == "real":
        check((), 0)
        return None
    if name == "scaled":
        check(("jitter",), 1)
        if not positional:
            raise VariantError(spec, "scaled needs a factor, e.g. scaled:0.8")
        return Scaled(number("factor", positional[0]), number("jitter", options.get("jitter", "30")))
    if name == "shifted":
        check(("offset",), 1)
        if not positional and "offset" not in options:
            raise VariantError(spec, "shifted needs a time factor or an offset, e.g. shifted:0.85 or shifted:offset=300")
        factor = number("factor", positional[0]) if positional else 1.0
        return Shifted(factor, number("offset", options.get("offset", "0")))
    if name == "surge":
        check(("side", "edges", "start", "duration", "extra"), 0)
        edges = frozenset(e for e in options["edges"].split("+") if e) if "edges" in options else None
        return Surge(
            side=options.get("side", "W").upper(),
            start_s=number("start", options.get("start", "1800")),
            duration_s=number("duration", options.get("duration", "900")),
            extra=number("extra", options.get("extra", "0.5")),
            entry_edges=edges,
        )
    raise VariantError(spec, f"unknown variant {name!r} (known: real, scaled, shifted, surge)")


def entry_edges(network: TrafficNetwork, trips: Iterable[Trip], side: str) -> frozenset[str]:
    """First edges of the trips that enter the signalised network from ``side`` (``N``, ``E``, ``S``, ``W``).

    A trip enters from the side of the first signalised approach its route drives on (a trip whose
    first signal it meets from the west enters from the west); a first edge counts when every trip
    starting on it enters from ``side``. Trips that meet no signal are never selected.
    """
    if side not in _SIDES:
        raise VariantError("side", f"must be one of {', '.join(_SIDES)}, not {side!r}")
    approach = network.approach_of_edge
    sides: dict[str, set[str | None]] = {}
    for trip in trips:
        if not trip.edges:
            continue
        first = next((approach[e].compass for e in trip.edges if e in approach), None)
        sides.setdefault(trip.edges[0], set()).add(first)
    return frozenset(edge for edge, seen in sides.items() if seen == {side})


# --- the route file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Vehicle:
    id: str
    depart_s: float
    edges: tuple[str, ...]
    attrib: dict[str, str]  # every attribute but id and route, in the file's order (depart rewritten)
    params: tuple[ET.Element, ...]


def _read(path: Path) -> tuple[list[ET.Element], list[_Vehicle]]:
    """The vehicle types and vehicles of a route file (see the module docstring for what is understood)."""
    name = path.name
    try:
        with path.open("rb") as file:
            # our own and users' route files; Python's expat (>= 2.4) refuses entity amplification and
            # never fetches external entities, which is what defusedxml guards against
            root = ET.parse(file).getroot()  # noqa: S314
    except ET.ParseError as exc:
        raise VariantError(name, f"not well-formed XML: {exc}") from exc
    if root.tag != "routes":
        raise VariantError(name, f"not a SUMO route file (root element <{root.tag}>, expected <routes>)")
    routes = {e.attrib["id"]: tuple(e.attrib.get("edges", "").split()) for e in root if e.tag == "route" and "id" in e.attrib}
    types: list[ET.Element] = []
    vehicles: list[_Vehicle] = []
    seen: set[str] = set()
    for element in root:
        if element.tag in _TYPE_TAGS:
            types.append(copy.deepcopy(element))
        elif element.tag == "vehicle":
            vehicle = _vehicle(element, routes, name)
            if vehicle.id in seen:
                raise VariantError(name, f"vehicle id {vehicle.id!r} appears twice")
            seen.add(vehicle.id)
            vehicles.append(vehicle)
        elif element.tag != "route":
            raise VariantError(name, f"<{element.tag}> is not understood (only <vType>, <route> and <vehicle> with a route)")
    return types, vehicles


def _vehicle(element: ET.Element, routes: dict[str, tuple[str, ...]], file: str) -> _Vehicle:
    vehicle_id = element.get("id")
    if not vehicle_id:
        raise VariantError(file, "a <vehicle> has no id")
    where = f"{file}: vehicle {vehicle_id!r}"
    try:
        depart = float(element.get("depart", ""))
    except ValueError:
        # "triggered", "now" and the like have no planned time to scale or shift
        raise VariantError(where, f"depart must be a time in seconds, not {element.get('depart')!r}") from None
    nested = [child for child in element if child.tag == "route"]
    others = [child for child in element if child.tag not in ("route", "param")]
    if others:
        raise VariantError(where, f"<{others[0].tag}> inside a vehicle is not understood")
    if nested:
        if len(nested) > 1 or len(nested[0]):
            raise VariantError(where, "only one plain <route edges=...> is understood")
        edges = tuple(nested[0].get("edges", "").split())
    elif element.get("route") in routes:
        edges = routes[element.attrib["route"]]
    else:
        raise VariantError(where, f"route {element.get('route')!r} is not a <route> defined in the file")
    if not edges:
        raise VariantError(where, "the route has no edges")
    attrib = {k: v for k, v in element.attrib.items() if k not in ("id", "route")}
    params = tuple(copy.deepcopy(child) for child in element if child.tag == "param")
    return _Vehicle(vehicle_id, depart, edges, attrib, params)


def _num(value: float) -> str:
    """A number as SUMO reads it: no exponent, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _write(path: Path, types: Sequence[ET.Element], vehicles: Sequence[_Vehicle]) -> None:
    root = ET.Element("routes")
    root.extend(types)
    for v in vehicles:
        element = ET.SubElement(root, "vehicle", attrib={"id": v.id, **v.attrib, "depart": _num(v.depart_s)})
        ET.SubElement(element, "route", edges=" ".join(v.edges))
        element.extend(copy.deepcopy(p) for p in v.params)
    ET.indent(root, space="    ")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


# --- the variants ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantFile:
    """A written variant: its route file and how it came from the base file (counts of vehicles).

    ``base_vehicles``: vehicles in the base file; ``vehicles``: in the variant; ``added``: copies
    made; ``removed``: base vehicles left out (thinned, or departing outside the horizon);
    ``entry_edges``: the edges a surge selected (empty for other variants).
    """

    path: Path
    label: str
    seed: int
    horizon_s: float
    base_vehicles: int
    vehicles: int
    added: int
    removed: int
    entry_edges: tuple[str, ...] = ()
    from_cache: bool = False


class _Draw:
    """Draws from ``random.Random(seed).random()`` only: see the module docstring for why."""

    def __init__(self, seed: int) -> None:
        # a reproducible simulation input, not a secret
        self._random = random.Random(seed)  # noqa: S311

    def unit(self) -> float:
        return self._random.random()

    def index(self, n: int) -> int:
        return min(int(self._random.random() * n), n - 1)

    def sample(self, n: int, k: int) -> list[int]:
        """``k`` distinct indices of ``range(n)`` in random order (a partial Fisher-Yates shuffle)."""
        pool = list(range(n))
        for i in range(k):
            j = i + self.index(n - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def tick(self, low_s: float, high_s: float, horizon_s: float) -> float | None:
        """A time uniform on the hundredths of a second in [low_s, high_s] that lie in [0, horizon_s);
        ``None`` when there is none (a window narrower than a hundredth)."""
        first = max(0, math.ceil(low_s / _TICK_S - 1e-9))
        last = min(math.floor(high_s / _TICK_S + 1e-9), _last_tick(horizon_s))
        if last < first:
            return None
        return round((first + self.index(last - first + 1)) * _TICK_S, 2)


def _last_tick(horizon_s: float) -> int:
    """The last hundredth of a second before ``horizon_s``."""
    return math.ceil(horizon_s / _TICK_S - 1e-9) - 1


def _copy(vehicle: _Vehicle, new_id: str, depart_s: float) -> _Vehicle:
    return _Vehicle(new_id, depart_s, vehicle.edges, vehicle.attrib, vehicle.params)


class _Ids:
    """New vehicle ids ``<original>.<tag><k>``, none equal to an id already in the file."""

    def __init__(self, taken: Iterable[str], tag: str) -> None:
        self._taken = set(taken)
        self._tag = tag
        self._k = 0

    def new(self, original: str) -> str:
        while True:
            candidate = f"{original}.{self._tag}{self._k}"
            self._k += 1
            if candidate not in self._taken:
                self._taken.add(candidate)
                return candidate


def _scaled(vehicles: list[_Vehicle], variant: Scaled, draw: _Draw, horizon_s: float) -> list[_Vehicle]:
    if variant.factor < 1:
        return [v for v in vehicles if draw.unit() < variant.factor]
    n = len(vehicles)
    extra = round((variant.factor - 1) * n)
    ids = _Ids((v.id for v in vehicles), "scaled")
    sources: list[int] = []
    while len(sources) < extra:  # whole rounds first, so no vehicle is copied twice before all are once
        sources.extend(draw.sample(n, min(n, extra - len(sources))))
    copies = []
    for i in sources:
        source = vehicles[i]
        depart = draw.tick(source.depart_s - variant.jitter_s, source.depart_s + variant.jitter_s, horizon_s)
        # no jitter (or less than a hundredth of a second): the copy leaves with its original
        copies.append(_copy(source, ids.new(source.id), source.depart_s if depart is None else depart))
    return vehicles + copies


def _shifted(vehicles: list[_Vehicle], variant: Shifted, horizon_s: float) -> list[_Vehicle]:
    out = []
    for v in vehicles:
        tick = round((variant.factor * v.depart_s + variant.offset_s) / _TICK_S)
        if 0 <= tick <= _last_tick(horizon_s):
            out.append(_copy(v, v.id, round(tick * _TICK_S, 2)))
    return out


def _surge(vehicles: list[_Vehicle], variant: Surge, edges: frozenset[str], draw: _Draw, horizon_s: float) -> list[_Vehicle]:
    end_s = variant.start_s + variant.duration_s
    chosen = [v for v in vehicles if v.edges[0] in edges and variant.start_s <= v.depart_s < end_s]
    if not chosen:
        raise VariantError("surge", f"no vehicle of the chosen routes departs in [{variant.start_s:g}, {end_s:g}) s: nothing to surge")
    ids = _Ids((v.id for v in vehicles), "surge")
    copies = []
    for _ in range(round(variant.extra * len(chosen))):
        source = chosen[draw.index(len(chosen))]
        # the window is half-open: its last hundredth is end_s − 0.01 s; at least 1 s long, never empty
        depart = draw.tick(variant.start_s, end_s - _TICK_S, horizon_s)
        copies.append(_copy(source, ids.new(source.id), variant.start_s if depart is None else depart))
    return vehicles + copies


def _surge_edges(variant: Surge, vehicles: Sequence[_Vehicle], network: TrafficNetwork | None) -> frozenset[str]:
    if variant.entry_edges is not None:
        return variant.entry_edges
    if network is None:
        raise VariantError("surge", f"choosing the routes that enter from side {variant.side} needs the network (or give entry_edges)")
    edges = entry_edges(network, (Trip(v.id, v.depart_s, v.edges) for v in vehicles), variant.side)
    if not edges:
        raise VariantError("surge", f"no route enters the network from side {variant.side}")
    return edges


def _check_horizon(variant: Variant, horizon_s: float) -> None:
    _finite("horizon", horizon_s)
    if horizon_s < 1:
        raise VariantError("horizon", f"must be at least 1 s, not {horizon_s:g}")
    if isinstance(variant, Surge) and variant.start_s + variant.duration_s > horizon_s:
        raise VariantError(
            "surge", f"the window [{variant.start_s:g}, {variant.start_s + variant.duration_s:g}) s ends after the horizon {horizon_s:g} s"
        )


def _derive(
    routes: Path, variant: Variant, out: Path, *, seed: int, horizon_s: float, network: TrafficNetwork | None
) -> tuple[VariantFile, dict[str, Any]]:
    _check_horizon(variant, horizon_s)
    types, base = _read(routes)
    # scaled and surge vary the demand of the horizon; a shift may bring later vehicles into it
    inside = base if isinstance(variant, Shifted) else [v for v in base if 0 <= v.depart_s < horizon_s]
    draw = _Draw(seed)
    edges: frozenset[str] = frozenset()
    if isinstance(variant, Scaled):
        result = _scaled(inside, variant, draw, horizon_s)
    elif isinstance(variant, Shifted):
        result = _shifted(inside, variant, horizon_s)
    else:
        edges = _surge_edges(variant, inside, network)
        result = _surge(inside, variant, edges, draw, horizon_s)
    originals = {v.id for v in base}
    added = sum(1 for v in result if v.id not in originals)
    result.sort(key=lambda v: v.depart_s)  # stable: ties keep the base file's order, copies after
    _write(out, types, result)
    written = VariantFile(
        path=out,
        label=variant.label,
        seed=seed,
        horizon_s=horizon_s,
        base_vehicles=len(base),
        vehicles=len(result),
        added=added,
        removed=len(base) - (len(result) - added),
        entry_edges=tuple(sorted(edges)),
    )
    manifest = {
        "generator": GENERATOR_VERSION,
        "source": routes.name,
        "variant": variant.params(),
        "label": variant.label,
        "seed": seed,
        "horizon_s": horizon_s,
        "base_vehicles": written.base_vehicles,
        "vehicles": written.vehicles,
        "added": written.added,
        "removed": written.removed,
        "entry_edges": list(written.entry_edges),
    }
    return written, manifest


def write_variant(
    routes: Path, variant: Variant, out: Path, *, seed: int, horizon_s: float = 3600.0, network: TrafficNetwork | None = None
) -> VariantFile:
    """Write ``variant`` of the route file ``routes`` to ``out`` (see the module docstring).

    The same base file, variant, ``seed`` and ``horizon_s`` (seconds) always give the same bytes.
    ``network`` is needed only by a :class:`Surge` that names a side. Raises :class:`VariantError`
    for a file or parameters it cannot use.
    """
    written, _ = _derive(routes, variant, out, seed=seed, horizon_s=horizon_s, network=network)
    return written


def cached_variant(
    routes: Path, variant: Variant, cache_dir: Path, *, seed: int, horizon_s: float = 3600.0, network: TrafficNetwork | None = None
) -> VariantFile:
    """:func:`write_variant` into ``cache_dir/<sha256>/routes.rou.xml``, or the entry already there.

    The key hashes the base file's bytes with the generator's version, the variant's parameters
    (a surge's side resolved to its entry edges, so a changed network gets a new entry), the seed and
    the horizon.
    """
    _check_horizon(variant, horizon_s)
    resolved = variant
    if isinstance(variant, Surge) and variant.entry_edges is None:
        _, base = _read(routes)
        inside = [v for v in base if 0 <= v.depart_s < horizon_s]
        resolved = Surge(variant.side, variant.start_s, variant.duration_s, variant.extra, _surge_edges(variant, inside, network))
    salt = json.dumps({"generator": GENERATOR_VERSION, "variant": resolved.params(), "seed": seed, "horizon_s": horizon_s}, sort_keys=True)
    key = content_hash([routes], salt=salt)

    def build(folder: Path) -> dict[str, Any]:
        _, manifest = _derive(routes, resolved, folder / ROUTES, seed=seed, horizon_s=horizon_s, network=network)
        manifest["label"] = variant.label  # the side it was asked by, not the edge list it resolved to
        return manifest

    entry, manifest, hit = cached(cache_dir, key, build)
    return VariantFile(
        path=entry / ROUTES,
        label=variant.label,
        seed=int(manifest["seed"]),
        horizon_s=float(manifest["horizon_s"]),
        base_vehicles=int(manifest["base_vehicles"]),
        vehicles=int(manifest["vehicles"]),
        added=int(manifest["added"]),
        removed=int(manifest["removed"]),
        entry_edges=tuple(manifest["entry_edges"]),
        from_cache=hit,
    )

"""A SUMO scenario on disk (network, routes, configuration) and the cache of converted ones.

A :class:`Scenario` is what the simulation and the evaluation are given: paths, not parsed
objects, because SUMO reads the files itself. It comes either from a conversion (``cityflow``), kept in
a cache directory under the hash of its inputs, or from an existing ``.net.xml`` + ``.rou.xml`` pair
(:func:`open_sumo_scenario`). Plain Python: no web code, no database, no SUMO import.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: name of the file that marks a cache entry complete; written last
MANIFEST = "scenario.json"


class ScenarioError(ValueError):
    """A scenario's files are missing or are not what they claim to be (key ``traffic.scenario.invalid``)."""

    key = "traffic.scenario.invalid"

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.params = {"file": file, "reason": reason}


@dataclass(frozen=True)
class Scenario:
    """A runnable SUMO scenario.

    ``vehicles`` is how many vehicles the routes define (see :func:`count_vehicles`); ``source_hash``
    is the sha256 of the inputs it came from (the CityFlow files for a conversion, the net and routes
    for an opened scenario); ``from_cache`` says a conversion was found done and not redone.
    """

    net: Path
    routes: Path
    config: Path | None
    vehicles: int
    source_hash: str
    from_cache: bool = False

    @property
    def directory(self) -> Path:
        return self.net.parent


def default_cache_dir(var_dir: Path) -> Path:
    """Where converted networks are kept by default: ``<var_dir>/traffic/scenarios``.

    Callers with settings pass ``settings.var_dir``; the algorithms take the directory, not settings.
    """
    return var_dir / "traffic" / "scenarios"


def content_hash(files: Iterable[Path], *, salt: str = "") -> str:
    """sha256 (hex) of ``salt`` and the bytes of ``files`` in order.

    Each part is prefixed with its length, so moving bytes from one file to the next changes the hash.
    """
    digest = hashlib.sha256()
    for part in (salt.encode(), *(Path(f).read_bytes() for f in files)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _iter_elements(path: Path) -> Iterable[ET.Element]:
    try:
        with path.open("rb") as file:
            # Python's expat (>= 2.4) refuses entity amplification and never fetches external entities
            # or DTDs, which is what defusedxml guards against; these files may come from users.
            for _event, element in ET.iterparse(file, events=("end",)):  # noqa: S314
                yield element
                element.clear()
    except ET.ParseError as exc:
        raise ScenarioError(path.name, f"not well-formed XML: {exc}") from exc


def _root_tag(path: Path) -> str:
    try:
        with path.open("rb") as file:
            for _event, element in ET.iterparse(file, events=("start",)):  # noqa: S314 - see _iter_elements
                return str(element.tag)
    except ET.ParseError as exc:
        raise ScenarioError(path.name, f"not well-formed XML: {exc}") from exc
    raise ScenarioError(path.name, "empty file")


def _flow_count(attrs: dict[str, str]) -> int:
    """Vehicles of one SUMO ``<flow>``: its ``number``, else from its period or rate over begin..end.

    A random flow (``probability``) counts by expectation, since its draws happen in the simulation.
    """
    if "number" in attrs:
        return int(attrs["number"])
    begin = float(attrs.get("begin", 0))
    end = float(attrs.get("end", 86400))  # SUMO's default end of a flow is 24 h
    span = max(0.0, end - begin)
    if "period" in attrs and not attrs["period"].startswith("exp("):
        return math.ceil(span / float(attrs["period"]))
    rate = attrs.get("vehsPerHour") or attrs.get("perHour")
    if rate is not None:
        return round(span * float(rate) / 3600)
    if "probability" in attrs:
        return round(span * float(attrs["probability"]))
    if "period" in attrs:  # exp(rate): rate vehicles per second on average
        return round(span * float(attrs["period"][4:-1]))
    return 0


def count_vehicles(routes: Path) -> int:
    """Vehicles a SUMO route file defines: ``<vehicle>`` and ``<trip>`` elements plus ``<flow>`` counts."""
    count = 0
    for element in _iter_elements(routes):
        if element.tag in ("vehicle", "trip"):
            count += 1
        elif element.tag == "flow":
            count += _flow_count(dict(element.attrib))
    return count


def open_sumo_scenario(net: Path, routes: Path, *, config: Path | None = None) -> Scenario:
    """An existing SUMO scenario: a ``.net.xml`` and a ``.rou.xml`` (and optionally its ``.sumocfg``).

    Checks that the files exist and are a network and a route file; nothing is copied or converted.
    Raises :class:`ScenarioError` otherwise.
    """
    for path in (net, routes, *((config,) if config is not None else ())):
        if not path.is_file():
            raise ScenarioError(path.name, "no such file")
    if (tag := _root_tag(net)) != "net":
        raise ScenarioError(net.name, f"not a SUMO network (root element <{tag}>, expected <net>)")
    if (tag := _root_tag(routes)) not in ("routes", "additional"):
        raise ScenarioError(routes.name, f"not a SUMO route file (root element <{tag}>, expected <routes>)")
    return Scenario(
        net=net,
        routes=routes,
        config=config,
        vehicles=count_vehicles(routes),
        source_hash=content_hash([net, routes], salt="sumo"),
    )


def cached(cache_dir: Path, key: str, build: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any], bool]:
    """The cache entry ``cache_dir/key``, built by ``build(folder)`` if it is not there yet.

    ``build`` writes its files into the empty ``folder`` it is given and returns the manifest (JSON
    values). The entry is built in a temporary folder beside it and renamed into place, so a crash or
    an error leaves no half-written entry and two processes building the same key both end with one
    complete entry. Returns the entry's folder, its manifest, and whether it was already there.
    """
    entry = cache_dir / key
    manifest_path = entry / MANIFEST
    if manifest_path.is_file():
        return entry, json.loads(manifest_path.read_text()), True
    cache_dir.mkdir(parents=True, exist_ok=True)
    if entry.exists():  # left without a manifest by an older crash: not trusted
        shutil.rmtree(entry, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_dir))
    try:
        manifest = build(work)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        try:
            os.rename(work, entry)
        except OSError:
            if not manifest_path.is_file():
                raise
            # another process finished the same entry first; its files are as good as ours
            return entry, json.loads(manifest_path.read_text()), True
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return entry, manifest, False

"""Generated demand variants: counts, ids, departures and windows on a made-up route file, the same
file from the same seed, clear errors for what cannot be varied, and a variant SUMO runs."""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from citybrain.traffic.demand import Trip, read_trips
from citybrain.traffic.network import load_network
from citybrain.traffic.simulation import RunRequest, run_many
from citybrain.traffic.variants import (
    Scaled,
    Shifted,
    Surge,
    Variant,
    VariantError,
    cached_variant,
    entry_edges,
    parse_variant,
    write_variant,
)
from tests.builders.sumo_net import crossroads

HORIZON = 3600.0
#: every through and right-turn route of the crossroads builder's network, by the side it enters from
OPPOSITE = {"N": "S", "S": "N", "E": "W", "W": "E"}
RIGHT_OF = {"N": "W", "W": "S", "S": "E", "E": "N"}  # entering from the north, a right turn leaves west
ROUTES = {
    f"{side}_{turn}": f"{side * 2}2{side} {side}2C C2{to} {to}2{to * 2}"
    for side in "NESW"
    for turn, to in (("through", OPPOSITE[side]), ("right", RIGHT_OF[side]))
}


def base_routes(folder: Path, *, vehicles: int = 2000, seed: int = 0) -> Path:
    """A route file on the crossroads network: two vehicle types, ``vehicles`` vehicles at random times
    in the hour (whole seconds), half with a nested route and half referring to a defined one, some
    with a ``<param>``, deliberately not sorted by departure."""
    rng = random.Random(seed)
    names = sorted(ROUTES)
    body = ['<vType id="car" length="5" maxSpeed="13.9"/>', '<vType id="bus" length="12" maxSpeed="10"><param key="k" value="v"/></vType>']
    body += [f'<route id="{name}" edges="{ROUTES[name]}"/>' for name in names]
    for i in range(vehicles):
        name = names[rng.randrange(len(names))]
        depart = rng.randrange(int(HORIZON))
        kind = "bus" if i % 10 == 0 else "car"
        param = '<param key="origin" value="test"/>' if i % 7 == 0 else ""
        if i % 2:
            body.append(f'<vehicle id="v{i}" type="{kind}" depart="{depart}" departLane="best" route="{name}">{param}</vehicle>')
        else:
            body.append(
                f'<vehicle id="v{i}" type="{kind}" depart="{depart}" departLane="best"><route edges="{ROUTES[name]}"/>{param}</vehicle>'
            )
    path = folder / "base.rou.xml"
    path.write_text("<routes>" + "".join(body) + "</routes>")
    return path


def vehicles_of(path: Path) -> list[ET.Element]:
    return [e for e in ET.parse(path).getroot() if e.tag == "vehicle"]  # noqa: S314 - the test's own file


def original_id(vehicle_id: str) -> str:
    return vehicle_id.split(".")[0]


WEST = frozenset({"WW2W"})
VARIANTS: list[Variant] = [Scaled(0.8), Scaled(1.2), Scaled(2.5), Shifted(0.85), Shifted(1.2), Shifted(1.0, -600), Surge(entry_edges=WEST)]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.label)
def test_every_variant_has_unique_ids_sorted_departures_inside_the_horizon_and_the_base_types(tmp_path: Path, variant: Variant) -> None:
    base = base_routes(tmp_path)
    out = write_variant(base, variant, tmp_path / "variant.rou.xml", seed=7)
    root = ET.parse(out.path).getroot()  # noqa: S314 - the test's own file
    assert [e.get("id") for e in root if e.tag == "vType"] == ["car", "bus"]
    assert root.find("vType[@id='bus']/param") is not None
    vehicles = [e for e in root if e.tag == "vehicle"]
    ids = [e.attrib["id"] for e in vehicles]
    departs = [float(e.attrib["depart"]) for e in vehicles]
    assert len(set(ids)) == len(ids) == out.vehicles
    assert departs == sorted(departs)
    assert all(0 <= d < HORIZON for d in departs)
    # every vehicle drives one of the base routes, written as its edges, with its type and lane kept
    assert {route.get("edges") for e in vehicles for route in e.findall("route")} <= set(ROUTES.values())
    assert all(len(e.findall("route")) == 1 for e in vehicles)
    assert all(e.get("type") in ("car", "bus") and e.get("departLane") == "best" for e in vehicles)
    assert out.vehicles == out.base_vehicles - out.removed + out.added
    assert len(read_trips([out.path])) == out.vehicles  # the project's own reader agrees


def test_thinning_keeps_each_vehicle_with_probability_f_and_changes_nothing_else(tmp_path: Path) -> None:
    base = base_routes(tmp_path)
    out = write_variant(base, Scaled(0.8), tmp_path / "v.rou.xml", seed=1)
    n, f = 2000, 0.8
    assert abs(out.vehicles - f * n) <= 4 * math.sqrt(n * f * (1 - f))  # binomial: 4 standard deviations, 72 vehicles
    assert out.added == 0
    assert out.removed == n - out.vehicles
    trips = {t.vehicle_id: t for t in read_trips([base])}
    for vehicle in read_trips([out.path]):
        assert vehicle == trips[vehicle.vehicle_id]  # an original: same id, departure and edges


@pytest.mark.parametrize(("factor", "most_copies"), [(1.2, 1), (2.5, 2)])
def test_scaling_up_adds_exact_copies_within_the_jitter_of_their_originals(tmp_path: Path, factor: float, most_copies: int) -> None:
    base = base_routes(tmp_path)
    originals = {t.vehicle_id: t for t in read_trips([base])}
    out = write_variant(base, Scaled(factor, jitter_s=30), tmp_path / "v.rou.xml", seed=1)
    assert out.added == round((factor - 1) * 2000)
    assert out.vehicles == round(factor * 2000)
    copies = [t for t in read_trips([out.path]) if t.vehicle_id not in originals]
    assert len(copies) == out.added
    per_original = Counter(original_id(c.vehicle_id) for c in copies)
    assert max(per_original.values()) == most_copies  # nobody copied twice before everyone once
    if factor > 2:
        assert set(per_original) == set(originals)
    for c in copies:
        source = originals[original_id(c.vehicle_id)]
        assert c.edges == source.edges
        assert abs(c.depart_s - source.depart_s) <= 30 + 1e-9
        assert round(c.depart_s * 100) == pytest.approx(c.depart_s * 100)  # whole hundredths of a second


def test_a_copy_keeps_its_originals_type_and_params(tmp_path: Path) -> None:
    base = base_routes(tmp_path)
    by_id = {e.attrib["id"]: e for e in vehicles_of(base)}
    out = write_variant(base, Scaled(2.0), tmp_path / "v.rou.xml", seed=3)
    for e in vehicles_of(out.path):
        source = by_id[original_id(e.attrib["id"])]
        assert e.get("type") == source.get("type")
        assert [p.attrib for p in e.findall("param")] == [p.attrib for p in source.findall("param")]


def test_shifting_maps_each_departure_and_drops_what_leaves_the_horizon(tmp_path: Path) -> None:
    base = base_routes(tmp_path)
    originals = read_trips([base])
    compressed = write_variant(base, Shifted(0.85), tmp_path / "a.rou.xml", seed=1)
    assert (compressed.vehicles, compressed.removed) == (2000, 0)
    shifted = {t.vehicle_id: t.depart_s for t in read_trips([compressed.path])}
    assert all(shifted[t.vehicle_id] == pytest.approx(round(0.85 * t.depart_s, 2)) for t in originals)
    assert max(shifted.values()) < 0.85 * HORIZON  # the same demand within 51 minutes

    later = write_variant(base, Shifted(1.0, 600), tmp_path / "b.rou.xml", seed=1)
    assert later.removed == sum(1 for t in originals if t.depart_s + 600 >= HORIZON)
    assert min(t.depart_s for t in read_trips([later.path])) >= 600
    earlier = write_variant(base, Shifted(1.0, -600), tmp_path / "c.rou.xml", seed=1)
    assert earlier.removed == sum(1 for t in originals if t.depart_s < 600)


def test_a_surge_adds_vehicles_only_in_its_window_and_on_its_routes(tmp_path: Path) -> None:
    base = base_routes(tmp_path)
    originals = {t.vehicle_id: t for t in read_trips([base])}
    surge = Surge(start_s=1200, duration_s=900, extra=0.5, entry_edges=WEST)
    out = write_variant(base, surge, tmp_path / "v.rou.xml", seed=5)
    in_window = [t for t in originals.values() if t.edges[0] == "WW2W" and 1200 <= t.depart_s < 2100]
    assert out.added == round(0.5 * len(in_window)) > 0
    added = [t for t in read_trips([out.path]) if t.vehicle_id not in originals]
    assert len(added) == out.added
    assert all(t.edges[0] == "WW2W" and 1200 <= t.depart_s < 2100 for t in added)
    assert {original_id(t.vehicle_id) for t in added} <= {t.vehicle_id for t in in_window}
    # the base vehicles are all there, unchanged
    kept = {t.vehicle_id: t for t in read_trips([out.path]) if t.vehicle_id in originals}
    assert kept == originals


def test_the_same_seed_gives_the_same_file_and_another_seed_another(tmp_path: Path) -> None:
    base = base_routes(tmp_path)
    for variant in (Scaled(0.8), Scaled(1.2), Surge(entry_edges=WEST)):
        a = write_variant(base, variant, tmp_path / "a.rou.xml", seed=11).path.read_bytes()
        b = write_variant(base, variant, tmp_path / "b.rou.xml", seed=11).path.read_bytes()
        c = write_variant(base, variant, tmp_path / "c.rou.xml", seed=12).path.read_bytes()
        assert a == b
        assert a != c


def test_a_cached_variant_is_made_once_per_base_variant_and_seed(tmp_path: Path) -> None:
    base = base_routes(tmp_path)
    cache = tmp_path / "cache"
    first = cached_variant(base, Scaled(1.2), cache, seed=1)
    again = cached_variant(base, Scaled(1.2), cache, seed=1)
    other = cached_variant(base, Scaled(1.2), cache, seed=2)
    assert (first.from_cache, again.from_cache, other.from_cache) == (False, True, False)
    assert first.path == again.path != other.path
    assert again.vehicles == first.vehicles == 2400
    assert first.path.read_bytes() == write_variant(base, Scaled(1.2), tmp_path / "w.rou.xml", seed=1).path.read_bytes()


@pytest.mark.parametrize(
    ("spec", "variant"),
    [
        ("real", None),
        ("scaled:0.8", Scaled(0.8)),
        ("scaled:1.2:jitter=60", Scaled(1.2, 60)),
        ("shifted:0.85", Shifted(0.85)),
        ("shifted:offset=-300", Shifted(1.0, -300)),
        ("surge", Surge()),
        ("surge:side=n:start=600:duration=300:extra=1", Surge("N", 600, 300, 1.0)),
        ("surge:edges=a+b", Surge(entry_edges=frozenset({"a", "b"}))),
    ],
)
def test_specs_parse_and_labels_read_back(spec: str, variant: Variant | None) -> None:
    assert parse_variant(spec) == variant
    if variant is not None:
        assert parse_variant(variant.label) == variant


@pytest.mark.parametrize(
    "spec",
    [
        "scaled",
        "scaled:0",
        "scaled:-1",
        "scaled:12",
        "scaled:nan",
        "scaled:x",
        "scaled:1.2:jitter=-1",
        "scaled:1.2:offset=3",
        "scaled:1:2",
        "shifted",
        "shifted:0",
        "shifted:1:offset=inf",
        "surge:side=X",
        "surge:duration=0",
        "surge:start=-5",
        "surge:extra=0",
        "surge:edges=",
        "surge:extra=1:extra=2",
        "doubled",
        "real:1",
    ],
)
def test_bad_specs_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(VariantError) as caught:
        parse_variant(spec)
    assert caught.value.params["reason"]


def test_what_cannot_be_varied_is_refused_rather_than_changed(tmp_path: Path) -> None:
    def refuse(body: str, variant: Variant = Scaled(1.2), match: str = "") -> None:
        path = tmp_path / "r.rou.xml"
        path.write_text(body)
        with pytest.raises(VariantError, match=match):
            write_variant(path, variant, tmp_path / "out.rou.xml", seed=1)

    route = '<route edges="a b"/>'
    refuse('<routes><flow id="f" begin="0" end="10" number="3" route="r"/></routes>', match="<flow>")
    refuse('<routes><trip id="t" depart="0" from="a" to="b"/></routes>', match="<trip>")
    refuse(f'<routes><vehicle id="v" depart="triggered">{route}</vehicle></routes>', match="depart")
    refuse('<routes><vehicle id="v" depart="0" route="nowhere"/></routes>', match="nowhere")
    refuse(f'<routes><vehicle id="v" depart="0">{route}<stop lane="a_0" duration="5"/></vehicle></routes>', match="<stop>")
    refuse(f'<routes><vehicle id="v" depart="0">{route}</vehicle><vehicle id="v" depart="1">{route}</vehicle></routes>', match="twice")
    refuse("<additional/>", match="not a SUMO route file")
    refuse("<routes>", match="not well-formed")
    refuse(f'<routes><vehicle id="v" depart="0">{route}</vehicle></routes>', Surge(), match="needs the network")
    refuse(f'<routes><vehicle id="v" depart="0">{route}</vehicle></routes>', Surge(entry_edges=frozenset({"a"})), match="nothing to surge")
    with pytest.raises(VariantError, match="horizon"):
        write_variant(base_routes(tmp_path), Surge(start_s=3000, entry_edges=WEST), tmp_path / "o.rou.xml", seed=1)


def test_entry_edges_follow_each_trip_to_its_first_signal() -> None:
    network = SimpleNamespace(approach_of_edge={"W2C": SimpleNamespace(compass="W"), "N2C": SimpleNamespace(compass="N")})

    trips = [
        Trip("a", 0, ("WW2W", "W2C", "C2E")),
        Trip("b", 0, ("W2C", "C2E")),
        Trip("c", 0, ("NN2N", "N2C", "C2S")),
        Trip("d", 0, ("X", "Y")),  # meets no signal
        Trip("e", 0, ("M", "W2C")),
        Trip("f", 0, ("M", "N2C")),  # M leads to two sides: not one side's entry
    ]
    assert entry_edges(network, trips, "W") == {"WW2W", "W2C"}  # type: ignore[arg-type]
    assert entry_edges(network, trips, "N") == {"NN2N"}  # type: ignore[arg-type]
    with pytest.raises(VariantError):
        entry_edges(network, trips, "up")  # type: ignore[arg-type]


@pytest.mark.sumo
def test_a_surge_chosen_by_side_runs_in_sumo(tmp_path: Path) -> None:
    net = crossroads(tmp_path)
    network = load_network(net)
    base = base_routes(tmp_path, vehicles=300)
    out = write_variant(base, Surge(side="W", start_s=0, duration_s=120, extra=1.0), tmp_path / "surge.rou.xml", seed=1, network=network)
    assert out.entry_edges == ("WW2W",)
    assert out.added > 0
    (run,) = run_many([RunRequest(net, (out.path,), "fixed_time", duration_s=120)])
    due = [t for t in read_trips([out.path]) if t.depart_s < 120]
    inserted = {r.vehicle_id for r in run.trips}
    assert inserted <= {t.vehicle_id for t in due}
    assert {t.vehicle_id for t in due if ".surge" in t.vehicle_id} & inserted  # SUMO drove the added vehicles
    assert len(inserted) >= 0.9 * len(due)  # light demand: nearly everyone gets in within the two minutes

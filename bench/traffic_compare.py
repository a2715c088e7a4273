"""Benchmark: every registered signal controller on the Jinan 3x4 real flow (one hour), over seeds.

    .venv/bin/python bench/traffic_compare.py [--seeds 1 2 3] [--workers 1] [--duration 3600]
        [--source cityflow|sumo] [--controllers fixed_time max_pressure ...]
        [--variant real --variant scaled:0.8 --variant surge ...] [--variant-seed 1] [--record]

``--source cityflow`` (default) converts the CityFlow files in ``CITYBRAIN_DATA_DIR/traffic/jinan_3x4``
with citybrain's converter (cached under ``var/traffic/scenarios``); ``--source sumo`` uses the
third-party SUMO conversion in ``traffic/jinan_3x4_sumo``. Each (controller, seed) runs in its own
process, ``--workers`` at a time; wall time is measured inside the worker (start to close), so with
more than one worker on a small machine it includes waiting for a core.

Prints one table: per controller the median over seeds [min-max] of the average travel time as the
literature defines it, the same including the wait to enter, SUMO's mean trip duration, waiting time
and time loss of completed trips, throughput, vehicles never inserted, wall time per run, and the
ratio of the travel time to Max-Pressure's in the same run; then the free-flow floor. ``--record``
appends the table to docs/benchmarks.md.

``--variant`` (repeatable; default ``real``, the recorded flow alone) runs the same comparison on
flows generated from the real one (``citybrain.traffic.variants``): ``scaled:F`` (F times the
vehicles), ``shifted:F`` (every departure times F: the same vehicles in F hours), ``surge`` (+50 %
on the routes entering from the west, 30 to 45 minutes; ``surge:side=N:extra=1`` and so on). This is
how issue #4 asks controllers' parameters to be checked beyond the evaluation flow. A variant is
made once from ``--variant-seed`` (cached under ``var/traffic/variants``), so every controller and
every simulation seed sees the same vehicles. One table per variant, then one line per variant with
each controller's travel time, its ratio to Max-Pressure and the vehicles it never inserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from citybrain.settings import Settings
from citybrain.traffic.cityflow import convert_to_sumo
from citybrain.traffic.controllers import CONTROLLERS, controller_names
from citybrain.traffic.demand import read_trips
from citybrain.traffic.evaluation import Comparison, Summary, evaluate
from citybrain.traffic.network import load_network
from citybrain.traffic.scenario import default_cache_dir
from citybrain.traffic.variants import Variant, VariantError, cached_variant, parse_variant

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "max_pressure"


def scenario_files(source: str, settings: Settings) -> tuple[Path, Path]:
    data = settings.data_dir / "traffic"
    if source == "sumo":
        return data / "jinan_3x4_sumo" / "jinan.net.xml", data / "jinan_3x4_sumo" / "jinan.rou.xml"
    scenario = convert_to_sumo(
        data / "jinan_3x4" / "roadnet_3_4.json", data / "jinan_3x4" / "anon_3_4_jinan_real.json", default_cache_dir(settings.var_dir)
    )
    return scenario.net, scenario.routes


def cell(summary: Summary, figure: str, digits: int = 1) -> str:
    low, high = summary.spread(figure)
    median = summary.median(figure)
    if low == high:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} [{low:,.{digits}f}-{high:,.{digits}f}]"


def rows(comparison: Comparison) -> list[list[str]]:
    names = [s.controller for s in comparison.summaries]
    baseline = comparison.summary(BASELINE).median("att_s") if BASELINE in names else None
    out = []
    for s in comparison.summaries:
        ratio = f"{s.median('att_s') / baseline:.2f}x" if baseline else ""
        out.append(
            [
                s.controller,
                cell(s, "att_s"),
                cell(s, "att_with_entry_s"),
                cell(s, "mean_trip_s"),
                cell(s, "mean_waiting_s"),
                cell(s, "mean_time_loss_s"),
                cell(s, "completed", 0),
                cell(s, "never_inserted", 0),
                f"{s.median('wall_s'):.1f}",
                ratio,
            ]
        )
    floor = comparison.free_flow
    ratio = f"{floor.att_s / baseline:.2f}x" if baseline else ""
    out.append(["free-flow floor", f"{floor.att_s:.1f}", f"{floor.att_s:.1f}", f"{floor.trip_s:.1f}", "0", "0", "", "", "", ratio])
    return out


HEADERS = [
    "controller",
    "ATT literature s",
    "ATT incl. entry wait s",
    "SUMO trip duration s",
    "waiting s",
    "time loss s",
    "throughput",
    "never inserted",
    "wall s/run",
    f"ATT vs {BASELINE}",
]


def variant_spec(text: str) -> str:
    """An argparse type: the spec itself, refused at once when :func:`parse_variant` cannot read it."""
    try:
        parse_variant(text)
    except VariantError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def variant_routes(spec: str, net: Path, routes: Path, settings: Settings, *, seed: int, horizon_s: float) -> tuple[str, Path, int]:
    """(label, route file, vehicles) of the flow ``spec`` names: the real one or a cached variant of it."""
    variant: Variant | None = parse_variant(spec)
    if variant is None:
        return "real", routes, sum(1 for t in read_trips([routes]) if t.depart_s < horizon_s)
    made = cached_variant(
        routes, variant, settings.var_dir / "traffic" / "variants", seed=seed, horizon_s=horizon_s, network=load_network(net)
    )
    return made.label, made.path, made.vehicles


def overview(results: list[tuple[str, int, Comparison]], controllers: list[str]) -> tuple[list[str], list[list[str]]]:
    """One line per variant: vehicles, and per controller its median ATT, ratio to the baseline and never inserted."""
    headers = ["flow", "vehicles", *[f"{name}: ATT s (vs {BASELINE}), never inserted" for name in controllers]]
    body = []
    for label, vehicles, comparison in results:
        baseline = comparison.summary(BASELINE).median("att_s") if BASELINE in controllers else None
        line = [label, f"{vehicles:,}"]
        for name in controllers:
            s = comparison.summary(name)
            ratio = f" ({s.median('att_s') / baseline:.2f}x)" if baseline else ""
            line.append(f"{s.median('att_s'):.1f}{ratio}, {s.median('never_inserted'):.0f}")
        body.append(line)
    if len(results) > 1:
        line = ["mean over the flows above", ""]
        for name in controllers:
            att = [c.summary(name).median("att_s") for _, _, c in results]
            ratios = (
                [c.summary(name).median("att_s") / c.summary(BASELINE).median("att_s") for _, _, c in results]
                if BASELINE in controllers
                else []
            )
            ratio = f" ({sum(ratios) / len(ratios):.2f}x)" if ratios else ""
            never = sum(c.summary(name).median("never_inserted") for _, _, c in results)
            line.append(f"{sum(att) / len(att):.1f}{ratio}, {never:.0f} in all")
        body.append(line)
    return headers, body


def markdown(headers: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1), *["| " + " | ".join(row) + " |" for row in body]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=1, help="simulations at a time, one process each")
    parser.add_argument("--duration", type=int, default=3600, help="simulated seconds")
    parser.add_argument("--source", choices=["cityflow", "sumo"], default="cityflow", help="whose SUMO conversion of Jinan")
    parser.add_argument("--controllers", nargs="+", default=list(controller_names()), choices=list(controller_names()))
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        type=variant_spec,
        metavar="NAME",
        help="flow to run on, repeatable: real (default), scaled:F, shifted:F, surge[:side=N|E|S|W] ... (see above)",
    )
    parser.add_argument("--variant-seed", type=int, default=1, help="seed the generated flows are drawn from")
    parser.add_argument("--record", action="store_true", help="append the tables to docs/benchmarks.md")
    args = parser.parse_args()
    specs: list[str] = args.variants or ["real"]

    settings = Settings()
    net, routes = scenario_files(args.source, settings)
    console = Console(width=220)
    results: list[tuple[str, int, Comparison]] = []
    recorded: list[str] = []
    runs_started = time.perf_counter()
    flows = []
    for spec in specs:  # every flow made before any run, so a variant that cannot be made stops nothing half-way
        try:
            flows.append(variant_routes(spec, net, routes, settings, seed=args.variant_seed, horizon_s=args.duration))
        except VariantError as exc:
            parser.error(f"--variant {spec}: {exc}")
    for label, flow, vehicles in flows:
        started = time.perf_counter()
        comparison = evaluate(net, [flow], args.controllers, seeds=args.seeds, duration_s=args.duration, max_workers=args.workers)
        elapsed = time.perf_counter() - started
        results.append((label, vehicles, comparison))

        flow_name = "real flow" if label == "real" else f"flow {label} (generated from the real one, seed {args.variant_seed})"
        title = (
            f"Jinan 3x4 {flow_name}, {vehicles:,} vehicles ({args.source} conversion), {args.duration} s, "
            f"seeds {args.seeds}: medians [min-max]"
        )
        table = Table(title=escape(title))  # escaped: rich would take [min-max] for markup
        for header in HEADERS:
            table.add_column(header, justify="left" if header == "controller" else "right")
        body = rows(comparison)
        for row in body:
            table.add_row(*row)
        console.print(table)
        console.print(f"{len(args.controllers) * len(args.seeds)} runs in {elapsed:.0f} s with {args.workers} worker(s).\n")
        recorded += [f"\n{title}.\n", *markdown(HEADERS, body)]
    for name in args.controllers:
        console.print(f"  {name}: {CONTROLLERS[name].summary}")

    summary_headers, summary_body = overview(results, args.controllers)
    if len(results) > 1:
        table = Table(
            title=f"Every flow: median ATT (literature) over seeds {args.seeds}, ratio to {BASELINE} in the same run, never inserted"
        )
        for header in summary_headers:
            table.add_column(header, justify="left" if header == "flow" else "right")
        for row in summary_body:
            table.add_row(*row)
        console.print(table)
        console.print(f"{len(results) * len(args.controllers) * len(args.seeds)} runs in {time.perf_counter() - runs_started:.0f} s.")
        recorded += [f"\nEvery flow above: median ATT over seeds {args.seeds}, ratio to {BASELINE}, median never inserted.\n"]
        recorded += markdown(summary_headers, summary_body)

    if args.record:
        lines = [
            f"\n## Traffic signal control on Jinan 3x4 ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, {platform.platform()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"SUMO {version('eclipse-sumo')} (libsumo).",
            f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`. Medians over seeds {args.seeds} [min-max]; "
            f"ratios to {BASELINE} measured in the same run.",
            *recorded,
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

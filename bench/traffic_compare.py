"""Benchmark: every registered signal controller on the Jinan 3x4 real flow (one hour), over seeds.

    .venv/bin/python bench/traffic_compare.py [--seeds 1 2 3] [--workers 1] [--duration 3600]
        [--source cityflow|sumo] [--controllers fixed_time max_pressure ...] [--record]

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
from rich.table import Table

from citybrain.settings import Settings
from citybrain.traffic.cityflow import convert_to_sumo
from citybrain.traffic.controllers import CONTROLLERS, controller_names
from citybrain.traffic.evaluation import Comparison, Summary, evaluate
from citybrain.traffic.scenario import default_cache_dir

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=1, help="simulations at a time, one process each")
    parser.add_argument("--duration", type=int, default=3600, help="simulated seconds")
    parser.add_argument("--source", choices=["cityflow", "sumo"], default="cityflow", help="whose SUMO conversion of Jinan")
    parser.add_argument("--controllers", nargs="+", default=list(controller_names()), choices=list(controller_names()))
    parser.add_argument("--record", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()

    settings = Settings()
    net, routes = scenario_files(args.source, settings)
    started = time.perf_counter()
    comparison = evaluate(net, [routes], args.controllers, seeds=args.seeds, duration_s=args.duration, max_workers=args.workers)
    elapsed = time.perf_counter() - started

    title = f"Jinan 3x4 real flow ({args.source} conversion), {args.duration} s, seeds {args.seeds}: medians [min-max]"
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, justify="left" if header == "controller" else "right")
    body = rows(comparison)
    for row in body:
        table.add_row(*row)
    console = Console(width=220)
    console.print(table)
    console.print(f"{len(args.controllers) * len(args.seeds)} runs in {elapsed:.0f} s with {args.workers} worker(s).")
    for name in args.controllers:
        console.print(f"  {name}: {CONTROLLERS[name].summary}")

    if args.record:
        lines = [
            f"\n## Traffic signal control on Jinan 3x4 ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, {platform.platform()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"SUMO {version('eclipse-sumo')} (libsumo).",
            f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`. Medians over seeds {args.seeds} [min-max]; "
            f"ratios to {BASELINE} measured in the same run.\n",
            "| " + " | ".join(HEADERS) + " |",
            "|---|" + "---:|" * (len(HEADERS) - 1),
            *["| " + " | ".join(row) + " |" for row in body],
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

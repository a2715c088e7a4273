"""Benchmark: the vectorised identifier checks against the python-stdnum loop they must agree with.

    .venv/bin/python bench/validators.py [--values 1000000] [--sample 100000] [--repeats 5] [--record]

Builds ``--values`` resident identity numbers (GB 11643) and as many unified social credit codes
(GB 32100), half valid and half broken (wrong check character, swapped digits, impossible dates,
unknown or expired county codes with a right check character, wrong lengths, letters outside the
alphabet, ...), then times for each:

- ``citybrain.datahub.validators.resident_id_valid`` / ``credit_code_valid`` on the whole column;
- the scalar reference, ``is_valid_resident_id`` / ``is_valid_credit_code`` (stdnum) in a Python
  loop, on a ``--sample``-value random sample, as a per-value rate (stdnum's time does not depend
  on the column's length, so the rate extrapolates).

It prints values/s (medians of ``--repeats``) and the ratio measured in the same run, and checks
the two agree on the sample; ``--record`` appends the table to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import string
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import stdnum
from rich.console import Console
from rich.table import Table
from stdnum.cn import ric, uscc

from citybrain.datahub import validators

ROOT = Path(__file__).resolve().parents[1]


def _with_check(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def _broken_resident_id(rng: random.Random, good: str) -> str:
    kind, j = rng.randrange(8), rng.randrange(16)
    if kind == 0:  # wrong check character
        return good[:17] + rng.choice("0123456789X".replace(good[17], ""))
    if kind == 1:  # two neighbours swapped
        return good[:j] + good[j + 1] + good[j] + good[j + 2 :]
    if kind == 2:  # any date, right check character
        return _with_check(f"{good[:6]}{rng.randint(1900, 2030)}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}{good[14:17]}")
    if kind == 3:  # any county code, right check character
        return _with_check(f"{rng.randint(0, 999999):06d}{good[6:17]}")
    if kind == 4:  # born before the county existed, right check character
        return _with_check(f"{good[:6]}1850{good[10:17]}")
    if kind == 5:  # a character short
        return good[:j] + good[j + 1 :]
    if kind == 6:  # a letter among the digits
        return good[:j] + "x" + good[j + 1 :]
    return "".join(rng.choices(string.digits, k=17)) + rng.choice("0123456789X")


def resident_ids(n: int, rng: random.Random) -> list[str]:
    """Half valid (a county of stdnum's table, born in a year it existed), half broken."""
    spans = [
        (f"{code:06d}", max(first, 1940), min(last, 2020))
        for code, first, last in validators.region_years().select("code", "from_0", "to_0").iter_rows()
        if max(first, 1940) <= min(last, 2020)
    ]
    out = []
    for i in range(n):
        code, first, last = rng.choice(spans)
        good = _with_check(f"{code}{rng.randint(first, last)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}")
        out.append(_broken_resident_id(rng, good) if i % 2 else good)
    return out


def _broken_credit_code(rng: random.Random, good: str) -> str:
    kind, j = rng.randrange(6), rng.randrange(17)
    if kind == 0:  # wrong check character
        return good[:17] + rng.choice(validators.USCC_ALPHABET.replace(good[17], ""))
    if kind == 1:  # a letter GB 32100 leaves out
        return good[:j] + rng.choice("IOSVZ") + good[j + 1 :]
    if kind == 2:  # two neighbours swapped
        return good[:j] + good[j + 1] + good[j] + good[j + 2 :]
    if kind == 3:  # a character short
        return good[:j] + good[j + 1 :]
    if kind == 4:  # a letter in the eight-digit head, right check character
        body = good[:3] + "A" + good[4:17]
        return body + uscc.calc_check_digit(body)
    return "".join(rng.choices(string.digits + string.ascii_uppercase, k=18))


def credit_codes(n: int, rng: random.Random) -> list[str]:
    """Half valid, half broken."""
    out = []
    for i in range(n):
        body = f"{rng.choice('1256789')}{rng.choice('123459')}{rng.randint(0, 999999):06d}" + "".join(
            rng.choices(validators.USCC_ALPHABET, k=9)
        )
        good = body + uscc.calc_check_digit(body)
        out.append(_broken_credit_code(rng, good) if i % 2 else good)
    return out


def measure(
    name: str,
    values: list[str],
    sample: list[str],
    vectorised: Callable[[pl.Series], pl.Series],
    scalar: Callable[[object], bool],
    repeats: int,
) -> list[tuple[str, str, float, float | None]]:
    column = pl.Series("value", values)
    vectorised(column)  # warm-up: stdnum's county table is read on the first call
    fast_rates, loop_rates = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        verdicts = vectorised(column)
        fast_rates.append(len(values) / (time.perf_counter() - start))
        start = time.perf_counter()
        reference = [scalar(v) for v in sample]
        loop_rates.append(len(sample) / (time.perf_counter() - start))
    assert vectorised(pl.Series(sample)).to_list() == reference, "the vectorised check disagrees with stdnum"
    valid = verdicts.sum() / len(values)
    fast, loop = statistics.median(fast_rates), statistics.median(loop_rates)
    return [
        (name, f"Polars, {len(values):,} values ({valid:.0%} valid)", fast, fast / loop),
        (name, f"stdnum loop, {len(sample):,}-value sample", loop, None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=1_000_000, help="values per identifier")
    parser.add_argument("--sample", type=int, default=100_000, help="values the stdnum loop checks per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--seed", type=int, default=11643)
    parser.add_argument("--record", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    rows = []
    for name, build, vectorised, scalar in (
        ("resident ID (GB 11643)", resident_ids, validators.resident_id_valid, validators.is_valid_resident_id),
        ("credit code (GB 32100)", credit_codes, validators.credit_code_valid, validators.is_valid_credit_code),
    ):
        values = build(args.values, rng)
        rows += measure(name, values, rng.sample(values, min(args.sample, len(values))), vectorised, scalar, args.repeats)

    table = Table(title=f"identifier checks: {args.values:,} values, {args.repeats} runs, medians")
    for column in ("identifier", "check", "values/s", "vs stdnum loop"):
        table.add_column(column)
    for identifier, check, rate, ratio in rows:
        table.add_row(identifier, check, f"{rate:,.0f}", f"{ratio:,.0f}x" if ratio is not None else "")
    Console().print(table)

    if args.record:
        ric_fast, ric_loop, uscc_fast, uscc_loop = (r[2] for r in rows)
        lines = [
            f"\n## Identifier checks ({datetime.now(UTC):%Y-%m-%d})\n",
            f"Machine: {platform.machine()}, {platform.platform()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"Polars {pl.__version__}, python-stdnum {stdnum.__version__}.",
            f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`. Medians of {args.repeats} runs; the stdnum loop's "
            f"rate is measured on a {args.sample:,}-value sample of the same values.\n",
            "| identifier | check | values/s | vs stdnum loop (same run) |",
            "|---|---|---:|---:|",
            *[f"| {i} | {c} | {r:,.0f} | {f'{x:,.0f}x' if x is not None else ''} |" for i, c, r, x in rows],
            "",
            *textwrap.wrap(
                f"Reading: the Polars checks decide exactly as python-stdnum does (checked on the sample here, and on over "
                f"300,000 values in the tests), {ric_fast / ric_loop:,.0f} and {uscc_fast / uscc_loop:,.0f} times faster. "
                f"stdnum takes {1e6 / ric_loop:.0f} µs per resident ID on average over this mix, most of it on the "
                "valid ones, whose county lookup scans its table in Python on every call; the vectorised check joins the "
                "whole column once against the table read from stdnum's data. Both checks of a million-row import take about "
                f"{1e6 / ric_fast + 1e6 / uscc_fast:.2f} s.",
                width=100,
            ),
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

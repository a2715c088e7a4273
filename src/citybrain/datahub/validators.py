"""Checks of Chinese identifiers: python-stdnum is the reference, Polars the fast path.

What "valid" means is exactly what stdnum accepts (python-stdnum 2.x, ``stdnum.cn``):

- Resident identity number (公民身份号码, GB 11643-1999), ``stdnum.cn.ric``: after stdnum's
  ``compact`` (look-alike Unicode characters such as full-width digits mapped to ASCII, upper-cased,
  surrounding whitespace stripped, nothing removed inside) it has 18 characters, 17 digits and the
  ISO 7064 MOD 11-2 check character (a lower-case ``x`` is accepted, as stdnum upper-cases it), the
  digits 7-14 are a real date of birth (proleptic Gregorian, year 0001-9999, no range check against
  today), and the first six digits are a county code in stdnum's table of divisions (``cn/loc.dat``)
  that existed in the year of birth. So 370102 (历下区, listed from 1983) rejects a person born in
  1975: stdnum treats the code as the place of birth, though older residents got the code of
  their registration when the number was issued.
- Unified social credit code (统一社会信用代码, GB 32100-2015), ``stdnum.cn.uscc``: after ``compact``
  (spaces and hyphens removed anywhere, upper-cased) it has 18 characters, eight digits then
  characters of the code alphabet (digits and capitals without I, O, S, V, Z), and the MOD 31
  check character. stdnum does not check the organisation code's own check digit (GB 11714) nor
  the registration authority, entity type or region, so neither does this module.
- Mainland mobile numbers: exactly 11 ASCII digits starting 13-19, no spaces, prefixes or ``+86``.

The scalar functions call stdnum and never raise: stdnum raises ``KeyError`` (not a validation
error) for a code whose province it knows but whose county it does not, e.g. 119999, and
``ValueError`` for some odd characters; such values are simply invalid here. The vectorised
functions compute the same answer for a whole column with Polars expressions (the region check is
one join against stdnum's own table, read once); the rare values with characters outside
printable ASCII (full-width digits, tabs, newlines) go to the scalar reference, so stdnum's Unicode
handling and its quirks are kept too. The tests check the two agree on hundreds of thousands of
values.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import polars as pl
from stdnum import numdb
from stdnum.cn import ric, uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: weight of the i-th of the first 17 characters of a credit code: 3**i mod 31 (stdnum's table)
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
#: base-36 values of the letters outside the credit-code alphabet (I, O, S, V, Z)
_USCC_GAPS = tuple(i for i, c in enumerate(string.digits + string.ascii_uppercase) if c not in USCC_ALPHABET)
#: weight of the i-th of the first 17 digits of a resident ID: 2**(17-i) mod 11
_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
#: values made only of these characters are checked by Polars; the rest by stdnum itself
_PRINTABLE_ASCII = r"^[ -~]*$"
_LAST_YEAR = 9999  # datetime.date's, which stdnum uses to check the birth date


def is_valid_resident_id(value: object) -> bool:
    """stdnum's verdict on a resident identity number; False (never an exception) when invalid."""
    if not isinstance(value, str):
        return False
    try:
        return bool(ric.is_valid(value))
    except Exception:  # noqa: BLE001 - stdnum raises KeyError for codes it knows only as a province
        return False


def is_valid_credit_code(value: object) -> bool:
    """stdnum's verdict on a unified social credit code; False (never an exception) when invalid."""
    if not isinstance(value, str):
        return False
    try:
        return bool(uscc.is_valid(value))
    except Exception:  # noqa: BLE001 - stdnum raises ValueError for some characters; a checker must answer
        return False


def is_valid_mobile(value: object) -> bool:
    """A mainland mobile number: exactly 11 ASCII digits starting 13-19."""
    return isinstance(value, str) and _MOBILE.fullmatch(value) is not None


def mask_resident_id(value: str) -> str:
    """370102********1234: the region code and the last four characters kept, the rest masked."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678: the first three and the last four digits kept, the rest masked."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


@cache
def _place_known(code: str, year: int) -> bool:
    """Whether stdnum knows region ``code`` for a person born in ``year`` (cached per pair)."""
    try:
        ric.get_birth_place(f"{code}{year:04d}0101000")
        return True
    except Exception:  # noqa: BLE001 - unknown or province-only codes are invalid, as in is_valid_resident_id
        return False


def _county_years(county: str) -> list[tuple[int, int]]:
    """The birth years for which ``stdnum.cn.ric.get_birth_place`` accepts a county entry.

    Mirrors stdnum's loop: entries are tried in order, an entry without ``[start-end]`` accepts
    every year, an open end is unbounded. Returned as sorted, merged, inclusive spans.
    """
    spans: list[tuple[int, int]] = []
    for entry in county.split(","):
        if not entry.startswith("["):
            spans.append((1, _LAST_YEAR))
            break
        years, _name = entry[1:].split("]")
        start, end = years.split("-")
        spans.append((int(start) if start else 1, int(end) if end else _LAST_YEAR))
    merged: list[tuple[int, int]] = []
    for first, last in sorted(span for span in spans if span[0] <= span[1]):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


Prefixes = Sequence[tuple[int, str, str, dict[str, str], Sequence[Any]]]


def _code_properties(db: Any) -> dict[str, dict[str, str]]:
    """Every six-digit code of stdnum's region table with the properties ``db.info`` merges for it.

    The table is two levels of single-number entries (two digits, then four), and ``info`` scans
    both lists again for each code (most of a second for the 6,885 codes); merging each level's
    entries once, in ``info``'s order, gives the same in milliseconds. A table of another shape
    goes through ``info`` code by code (:func:`_code_properties_by_info`, the reference the tests
    compare with)."""
    prefixes: Prefixes = db.prefixes
    flat = all(length == 2 and low == high for length, low, high, _p, _c in prefixes) and all(
        length == 4 and low == high for *_, children in prefixes for length, low, high, _p, _c in children
    )
    if not flat:
        return _code_properties_by_info(db)
    # info() merges the properties of every entry that matches, in the table's order, and looks
    # for the next digits among the children of all of them
    provinces: dict[str, tuple[dict[str, str], list[Any]]] = {}
    for _length, number, _high, props, children in prefixes:
        merged, below = provinces.setdefault(number, ({}, []))
        merged.update(props)
        below.extend(children)
    out: dict[str, dict[str, str]] = {}
    for province, (merged, below) in provinces.items():
        counties: dict[str, dict[str, str]] = {}
        for _length, number, _high, props, _children in below:
            counties.setdefault(number, {}).update(props)
        for county, props in counties.items():
            out[province + county] = {**merged, **props}
    return out


def _code_properties_by_info(db: Any) -> dict[str, dict[str, str]]:
    codes: list[str] = []

    def walk(prefixes: Prefixes, prefix: str) -> None:
        for length, low, high, _props, children in prefixes:
            for number in range(int(low), int(high) + 1):
                code = f"{prefix}{number:0{length}d}"
                if len(code) == 6:
                    codes.append(code)
                elif len(code) < 6:
                    walk(children, code)

    walk(db.prefixes, "")
    return {code: {k: v for _part, props in db.info(code) for k, v in props.items()} for code in codes}


@cache
def region_years() -> pl.DataFrame:
    """stdnum's table of county codes, one row per code with the birth years it is valid for.

    Columns: ``code`` (the six digits as an integer) and ``from_k``/``to_k`` (inclusive years; null
    when a code has fewer spans). Read once from stdnum's own ``cn/loc`` data with stdnum's own
    lookup, so a code stdnum only knows as a province (no county) is absent, as it is invalid there.
    """
    rows: dict[int, list[tuple[int, int]]] = {}
    for code, info in _code_properties(numdb.get("cn/loc")).items():
        if "county" in info and (spans := _county_years(info["county"])):
            rows[int(code)] = spans
    width = max(len(spans) for spans in rows.values())
    columns: dict[str, list[int | None]] = {"code": list(rows)}
    for k in range(width):
        columns[f"from_{k}"] = [spans[k][0] if k < len(spans) else None for spans in rows.values()]
        columns[f"to_{k}"] = [spans[k][1] if k < len(spans) else None for spans in rows.values()]
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Int64))


def _verdicts(frame: pl.DataFrame, check: Callable[[object], bool]) -> pl.Series:
    """Column ``ok`` where ``fast``, else ``check`` (the scalar reference) on the non-null ``raw``."""
    verdicts = frame["ok"]
    slow = (~frame["fast"] & frame["raw"].is_not_null()).arg_true()
    if len(slow):
        reference = pl.Series([check(value) for value in frame["raw"].gather(slow).to_list()], dtype=pl.Boolean)
        verdicts = verdicts.scatter(slow, reference)
    return verdicts


def _digits(number: pl.Expr, count: int, base: int = 10) -> list[pl.Expr]:
    """The ``count`` base-``base`` digits of a non-negative integer, most significant first."""
    return [(number // base ** (count - 1 - i)) % base for i in range(count)]


def resident_id_valid(series: pl.Series) -> pl.Series:
    """For each value, exactly :func:`is_valid_resident_id` (stdnum.cn.ric): null is False.

    Checks, as Polars expressions: stdnum's ``compact`` (upper-case, strip spaces), 17 digits and a
    digit or X, the ISO 7064 MOD 11-2 check character, a real birth date (month lengths and leap
    years of the proleptic Gregorian calendar, year at least 1), and the county code against
    :func:`region_years` for the year of birth. Values with characters outside printable ASCII are
    checked by stdnum itself. A non-text column is cast to text first.
    """
    raw = series.cast(pl.String)
    body, year, month, day = pl.col("body"), pl.col("year"), pl.col("month"), pl.col("day")
    total = pl.sum_horizontal(d * w for d, w in zip(_digits(body, 17), _RIC_WEIGHTS, strict=True))
    # stdnum: (1 - 2 * int(body, 13)) % 11, and 2 * 13**k = 2**(k+1) mod 11; 10 is written X
    check = (12 - total % 11) % 11
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = pl.when(month == 2).then(28 + leap.cast(pl.Int64)).when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    spans = region_years().columns[1:]
    in_region = pl.any_horizontal(
        year.is_between(pl.col(start), pl.col(end)).fill_null(False) for start, end in zip(spans[::2], spans[1::2], strict=True)
    )
    # named stages: each intermediate column is computed once, though the checks use it many times
    frame = (
        pl.LazyFrame({"raw": raw})
        .with_columns(
            fast=pl.col("raw").str.contains(_PRINTABLE_ASCII).fill_null(False), value=pl.col("raw").str.to_uppercase().str.strip_chars(" ")
        )
        .with_columns(
            shape=pl.col("value").str.contains(r"^[0-9]{17}[0-9X]$"),
            body=pl.col("value").str.slice(0, 17).cast(pl.Int64, strict=False),
            last=pl.col("value").str.slice(17, 1),
        )
        .with_columns(
            given=pl.when(pl.col("last") == "X").then(10).otherwise(pl.col("last").cast(pl.Int64, strict=False)),
            check=check,
            code=body // 10**11,
            year=body // 10**7 % 10**4,
            month=body // 10**5 % 100,
            day=body // 10**3 % 100,
        )
        .with_columns(
            ok=pl.col("shape")
            & (pl.col("given") == pl.col("check"))
            & (year >= 1)
            & month.is_between(1, 12)
            & day.is_between(1, month_days)
        )
        .join(region_years().lazy(), on="code", how="left", maintain_order="left")
        .select("raw", "fast", ok=(pl.col("ok") & in_region).fill_null(False))
        .collect()
    )
    return _verdicts(frame, is_valid_resident_id).alias(series.name)


def credit_code_valid(series: pl.Series) -> pl.Series:
    """For each value, exactly :func:`is_valid_credit_code` (stdnum.cn.uscc): null is False.

    Checks, as Polars expressions: stdnum's ``compact`` (spaces and hyphens removed, upper-case),
    eight digits then ten characters of the code alphabet, and the GB 32100 MOD 31 check character
    (weights 3**i mod 31). Values with characters outside printable ASCII are checked by stdnum
    itself. A non-text column is cast to text first.
    """
    raw = series.cast(pl.String)
    digits = _digits(pl.col("head"), 8)
    # a base-36 digit less the letters missing below it is its place in the alphabet
    letters = [b - pl.sum_horizontal((b > gap).cast(pl.Int64) for gap in _USCC_GAPS) for b in _digits(pl.col("tail"), 10, 36)]
    places = [*digits, *(pl.col(f"p{i}") for i in range(8, 18))]
    total = pl.sum_horizontal(p * w for p, w in zip(places[:17], _USCC_WEIGHTS, strict=True))
    alphabet = f"[{USCC_ALPHABET}]"
    frame = (
        pl.LazyFrame({"raw": raw})
        .with_columns(
            fast=pl.col("raw").str.contains(_PRINTABLE_ASCII).fill_null(False),
            value=pl.col("raw").str.replace_all(r"[ \-]", "").str.to_uppercase(),
        )
        .with_columns(
            shape=pl.col("value").str.contains(rf"^[0-9]{{8}}{alphabet}{{10}}$"),
            head=pl.col("value").str.slice(0, 8).cast(pl.Int64, strict=False),
            tail=pl.col("value").str.slice(8, 10).str.to_integer(base=36, strict=False),
        )
        .with_columns(letter.alias(f"p{i}") for i, letter in enumerate(letters, start=8))
        .select("raw", "fast", ok=(pl.col("shape") & ((31 - total % 31) % 31 == places[17])).fill_null(False))
        .collect()
    )
    return _verdicts(frame, is_valid_credit_code).alias(series.name)


def mobile_valid(series: pl.Series) -> pl.Series:
    """For each value, exactly :func:`is_valid_mobile`: 11 ASCII digits starting 13-19 (null is False)."""
    return series.cast(pl.String).str.contains(r"^1[3-9][0-9]{9}$").fill_null(False).alias(series.name)

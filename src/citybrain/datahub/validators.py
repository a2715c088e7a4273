"""Checks of Chinese identifiers: python-stdnum is the reference, Polars the fast path.

- Resident identity number (公民身份号码, GB 11643-1999): 18 characters, the ISO 7064 MOD 11-2 check
  character, a real birth date, and a region code that stdnum's table of divisions knows for the
  year of birth (stdnum.cn.ric).
- Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, eight digits then
  characters of the code alphabet (no I, O, S, V, Z), and the MOD 31 check character (stdnum.cn.uscc).
- Mainland mobile numbers: 11 digits starting 13-19.

The scalar functions call stdnum and never raise (stdnum itself raises ``KeyError`` for some
region codes it knows only as a province; such a number is simply invalid here). The vectorised
functions compute the same answer for a whole column: well-formed values are checked with Polars
expressions, the region code once per distinct (code, birth year) pair, and anything unusual
(non-ASCII, inner spaces) falls back to the scalar reference, so the two agree exactly, which the
tests check on hundreds of thousands of values.
"""

from __future__ import annotations

import re
from functools import cache

import polars as pl
from stdnum.cn import ric, uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: weight of the i-th of the first 17 digits: 2**(17-i) mod 11
_RIC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


def is_valid_resident_id(value: object) -> bool:
    """stdnum's verdict on a resident identity number; False (never an exception) when invalid."""
    if not isinstance(value, str):
        return False
    try:
        return bool(ric.is_valid(value))
    except Exception:  # noqa: BLE001 - stdnum raises KeyError for province-only region codes
        return False


def is_valid_credit_code(value: object) -> bool:
    """stdnum's verdict on a unified social credit code; False (never an exception) when invalid."""
    if not isinstance(value, str):
        return False
    try:
        return bool(uscc.is_valid(value))
    except Exception:  # noqa: BLE001 - a checker must answer, not fail
        return False


def is_valid_mobile(value: object) -> bool:
    return isinstance(value, str) and bool(_MOBILE.match(value))


def mask_resident_id(value: str) -> str:
    """370102********1234: region and last four kept."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """138****5678."""
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


def _fallback(series: pl.Series, fast: pl.Series, check: object) -> pl.Series:
    """The scalar reference for the values the fast path does not take."""
    result = pl.Series([False] * len(series), dtype=pl.Boolean)
    slow_idx = (~fast).arg_true()
    if len(slow_idx):
        values = series.gather(slow_idx).to_list()
        verdicts = pl.Series([check(v) for v in values], dtype=pl.Boolean)  # type: ignore[operator]
        result = result.scatter(slow_idx, verdicts)
    return result


def resident_id_valid(series: pl.Series) -> pl.Series:
    """For each value, exactly :func:`is_valid_resident_id` (null is False)."""
    s = series.cast(pl.String)
    fast = s.str.contains(r"^[0-9]{17}[0-9Xx]$").fill_null(False)
    frame = pl.DataFrame({"v": s.str.to_uppercase()}).with_columns(ok=fast)
    digits = [pl.col("v").str.slice(i, 1).cast(pl.Int64, strict=False) for i in range(17)]
    total = pl.sum_horizontal(d * w for d, w in zip(digits, _RIC_WEIGHTS, strict=True))
    check = ((1 - total) % 11).cast(pl.Int64)
    expected = pl.when(check == 10).then(pl.lit("X")).otherwise(check.cast(pl.String))
    year = pl.col("v").str.slice(6, 4).cast(pl.Int64, strict=False)
    born = pl.col("v").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    frame = frame.with_columns(
        checked=pl.col("ok") & (pl.col("v").str.slice(17, 1) == expected) & born.is_not_null() & (year >= 1),
        code=pl.col("v").str.slice(0, 6),
        year=year,
    )
    pairs = frame.filter(pl.col("checked")).select("code", "year").unique()
    if pairs.height:
        places = pairs.with_columns(
            place=pl.Series([_place_known(c, y) for c, y in pairs.iter_rows()], dtype=pl.Boolean),
        )
        frame = frame.join(places, on=["code", "year"], how="left", maintain_order="left")
    else:
        frame = frame.with_columns(place=pl.lit(False))
    fast_verdict = (frame["checked"] & frame["place"].fill_null(False)).fill_null(False)
    slow = _fallback(s, fast, is_valid_resident_id)
    return pl.select(pl.when(fast).then(fast_verdict).otherwise(slow)).to_series().alias(series.name)


def credit_code_valid(series: pl.Series) -> pl.Series:
    """For each value, exactly :func:`is_valid_credit_code` (null is False)."""
    s = series.cast(pl.String)
    fast = s.str.contains(r"^[0-9A-Za-z]{18}$").fill_null(False)
    v = s.str.to_uppercase()
    index = {c: i for i, c in enumerate(USCC_ALPHABET)}
    values = [v.str.slice(i, 1).replace_strict(index, default=None, return_dtype=pl.Int64) for i in range(18)]
    frame = pl.DataFrame({f"c{i}": col for i, col in enumerate(values)}).with_columns(head=v.str.slice(0, 8))
    total = pl.sum_horizontal(pl.col(f"c{i}") * w for i, w in enumerate(_USCC_WEIGHTS))
    verdict = frame.select(
        pl.col("head").str.contains(r"^[0-9]{8}$")
        & pl.all_horizontal(pl.col(f"c{i}").is_not_null() for i in range(18))
        & (((31 - total) % 31) == pl.col("c17"))
    ).to_series()
    fast_verdict = (verdict & fast).fill_null(False)
    slow = _fallback(s, fast, is_valid_credit_code)
    return pl.select(pl.when(fast).then(fast_verdict).otherwise(slow)).to_series().alias(series.name)


def mobile_valid(series: pl.Series) -> pl.Series:
    """Mainland mobile numbers: 11 digits starting 13-19 (null is False)."""
    return series.cast(pl.String).str.contains(r"^1[3-9][0-9]{9}$").fill_null(False).alias(series.name)

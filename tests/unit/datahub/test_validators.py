"""The identifier checks: the scalar ones are python-stdnum's verdict, the vectorised ones agree with it."""

from __future__ import annotations

import random
import string

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from citybrain.datahub import validators as v

RIC_CHARS = string.digits + "X"
#: the letters GB 32100 leaves out, and other characters a careless export produces
USCC_STRAY = "IOZSV" + "iozsv" + string.ascii_lowercase + " -_./"
FULL_WIDTH = str.maketrans(string.digits, "０１２３４５６７８９")


def with_check(body: str) -> str:
    """17 digits and their GB 11643 check character, computed by stdnum."""
    return body + ric.calc_check_digit(body + "0")


def resident_id(code: str, born: str, sequence: int = 123) -> str:
    return with_check(f"{code}{born}{sequence:03d}")


def credit_code(body: str) -> str:
    """17 characters and their GB 32100 check character, computed by stdnum."""
    return body + uscc.calc_check_digit(body)


def regions() -> list[tuple[str, int, int]]:
    """(code, first year, last year) of every span in stdnum's table of counties."""
    table = v.region_years()
    spans = table.columns[1:]
    return [
        (f"{row['code']:06d}", row[start], row[end])
        for row in table.iter_rows(named=True)
        for start, end in zip(spans[::2], spans[1::2], strict=True)
        if row[start] is not None
    ]


REGIONS = regions()


def valid_resident_id(rng: random.Random) -> str:
    code, first, last = rng.choice(REGIONS)
    year = rng.randint(max(first, 1900), min(last, 2025)) if first <= 2025 and last >= 1900 else rng.randint(first, last)
    month = rng.randint(1, 12)
    days = (
        29
        if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        else 28
        if month == 2
        else 30 + (month in (1, 3, 5, 7, 8, 10, 12))
    )
    return resident_id(code, f"{year:04d}{month:02d}{rng.randint(1, days):02d}", rng.randint(0, 999))


def valid_credit_code(rng: random.Random) -> str:
    head = f"{rng.choice('1256789')}{rng.choice('123459')}{rng.randint(0, 999999):06d}"  # authority, type, region
    return credit_code(head + "".join(rng.choices(v.USCC_ALPHABET, k=9)))


def mutate_resident_id(rng: random.Random, good: str) -> str:
    """One of the ways a resident ID goes wrong; several keep a right check digit on purpose, so
    the date and region checks are reached."""
    kind = rng.randrange(12)
    i = rng.randrange(17)
    if kind == 0:  # wrong check character
        return good[:17] + rng.choice(RIC_CHARS.replace(good[17], ""))
    if kind == 1:  # two neighbours swapped, check kept
        return good[:i] + good[i + 1] + good[i] + good[i + 2 :]
    if kind == 2:  # two neighbouring digits swapped, check recomputed
        j = rng.randrange(16)
        return with_check(good[:j] + good[j + 1] + good[j] + good[j + 2 : 17])
    if kind == 3:  # random characters of the right length
        return "".join(rng.choices(string.digits, k=17)) + rng.choice(RIC_CHARS)
    if kind == 4:  # any date, most not real
        return resident_id(good[:6], f"{rng.randint(0, 9999):04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}")
    if kind == 5:  # any region code, most unknown
        return resident_id(f"{rng.randint(0, 999999):06d}", good[6:14])
    if kind == 6:  # a province known, its county not (stdnum raises KeyError for these)
        return resident_id(good[:2] + f"{rng.randint(0, 9999):04d}", good[6:14])
    if kind == 7:  # a known county, any year (counties come and go)
        return resident_id(good[:6], f"{rng.randint(1900, 2030)}{good[10:14]}")
    if kind == 8:  # one character too few or too many
        return good[:i] + good[i + 1 :] if rng.random() < 0.5 else good[:i] + rng.choice(string.digits) + good[i:]
    if kind == 9:  # lower case, spaces around or inside
        return rng.choice([good.lower(), f" {good} ", good[:6] + " " + good[6:], good[:17] + "x"])
    if kind == 10:  # a foreign character in place of a digit
        return good[:i] + rng.choice("Xx-.OoIl ") + good[i + 1 :]
    # not printable ASCII: left to stdnum by the vectorised check
    return rng.choice([good.translate(FULL_WIDTH), f"\t{good}\n", good[:16] + "\n" + good[17], good[:i] + "\u00a0" + good[i:]])


def mutate_credit_code(rng: random.Random, good: str) -> str:
    """One of the ways a credit code goes wrong (or stays right under stdnum's compact)."""
    kind = rng.randrange(9)
    i = rng.randrange(18)
    if kind == 0:  # wrong check character
        return good[:17] + rng.choice(v.USCC_ALPHABET.replace(good[17], ""))
    if kind == 1:  # a letter outside the alphabet, or lower case, anywhere
        return good[:i] + rng.choice(USCC_STRAY) + good[i + 1 :]
    if kind == 2:  # a letter in the eight-digit head, check recomputed
        j = rng.randrange(8)
        return credit_code(good[:j] + rng.choice(v.USCC_ALPHABET[10:]) + good[j + 1 : 17])
    if kind == 3:  # two neighbours swapped
        j = rng.randrange(17)
        return good[:j] + good[j + 1] + good[j] + good[j + 2 :]
    if kind == 4:  # random characters, I, O, S, V and Z included
        return "".join(rng.choices(string.digits + string.ascii_uppercase, k=18))
    if kind == 5:  # one character too few or too many
        return good[:i] + good[i + 1 :] if rng.random() < 0.5 else good[:i] + rng.choice(v.USCC_ALPHABET) + good[i:]
    if kind == 6:  # separators stdnum removes, case it folds
        return rng.choice([good.lower(), f"{good[:2]} {good[2:8]}-{good[8:]}", f" {good} ", good[:9] + "--" + good[9:]])
    if kind == 7:  # separators stdnum keeps
        return good[:i] + rng.choice("._/:,") + good[i:]
    return rng.choice([good.translate(FULL_WIDTH), f"\t{good}", good[:8] + "\u3000" + good[8:]])


def agree_on(values: list[str | None]) -> tuple[list[bool], list[bool]]:
    series = pl.Series("x", values, dtype=pl.String)
    return v.resident_id_valid(series).to_list(), [v.is_valid_resident_id(x) for x in values]


# --- scalar checks: what stdnum accepts ---------------------------------------------------------


def test_resident_id_accepts_a_valid_number_in_any_case_and_surrounding_space() -> None:
    good = resident_id("370102", "19900307", 12)
    assert v.is_valid_resident_id(good)
    assert v.is_valid_resident_id(" " + good + " ")  # stdnum strips surrounding whitespace
    with_x = next(n for n in (resident_id("370102", "19900307", s) for s in range(1000)) if n.endswith("X"))
    assert v.is_valid_resident_id(with_x)
    assert v.is_valid_resident_id(with_x.lower())  # stdnum upper-cases: 'x' is accepted
    assert v.is_valid_resident_id(good.translate(FULL_WIDTH))  # and maps full-width digits to ASCII


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "not text"),
        (370102199003070126, "not text"),
        ("", "empty"),
        ("   ", "blank"),
        (resident_id("370102", "19900307")[:17], "17 characters"),
        (resident_id("370102", "19900307") + "1", "19 characters"),
        (resident_id("370102", "19900307")[:9] + " " + resident_id("370102", "19900307")[9:], "a space inside"),
        (resident_id("370102", "19990230"), "30 February"),
        (resident_id("370102", "19000229"), "1900 was not a leap year"),
        (resident_id("370102", "00000101"), "year 0"),
        (resident_id("370102", "19901301"), "month 13"),
        (resident_id("999999", "19900307"), "no such province"),
        (resident_id("119999", "19900307"), "province known, county not: stdnum raises KeyError"),
        (resident_id("370102", "19750307"), "370102 is in stdnum's table from 1983"),
        (resident_id("110103", "20110307"), "崇文区 was merged in 2010"),
        ("37010219900307012X"[:17] + "Y", "not a check character"),
    ],
)
def test_resident_id_rejects_without_raising(value: object, why: str) -> None:
    assert not v.is_valid_resident_id(value), why


def test_resident_id_rejects_a_wrong_check_character() -> None:
    good = resident_id("370102", "19900307")
    for wrong in RIC_CHARS.replace(good[-1], ""):
        assert not v.is_valid_resident_id(good[:-1] + wrong)


def test_leap_days_and_county_spans_are_stdnums() -> None:
    assert v.is_valid_resident_id(resident_id("370102", "20000229"))
    assert v.is_valid_resident_id(resident_id("110103", "19500101"))  # 崇文区 until 2010
    assert v.is_valid_resident_id(resident_id("110103", "20101231"))
    assert v.is_valid_resident_id(resident_id("370102", "19830101"))


def test_stdnum_quirk_a_newline_before_the_check_character_is_accepted() -> None:
    # stdnum's isdigits() uses re.match('^[0-9]+$'), whose $ matches before a final newline, and
    # int(..., 13) ignores it: the reference accepts this, so the vectorised check must too
    odd = next(n for n in (f"370102198501011{d}\n" + ric.calc_check_digit(f"370102198501011{d}\n0") for d in range(10)) if ric.is_valid(n))
    assert v.is_valid_resident_id(odd)
    assert v.resident_id_valid(pl.Series([odd])).to_list() == [True]


def test_credit_codes() -> None:
    good = credit_code("91370100MA3C5LN09")
    assert v.is_valid_credit_code(good)
    assert v.is_valid_credit_code("91110000600037341L")  # stdnum's own example
    assert v.is_valid_credit_code(good.lower())  # stdnum upper-cases
    assert v.is_valid_credit_code(f"{good[:2]} {good[2:8]}-{good[8:]}")  # and removes spaces and hyphens
    assert not v.is_valid_credit_code(good[:-1] + ("0" if good[-1] != "0" else "1"))
    for stray in "IOSVZ":
        assert not v.is_valid_credit_code(good[:10] + stray + good[11:])
    assert not v.is_valid_credit_code(credit_code("9137010A0MA3C5LN0"))  # right check, but a letter in the head
    assert not v.is_valid_credit_code(good[:17])
    assert not v.is_valid_credit_code(good + "0")
    assert not v.is_valid_credit_code(good[:9] + "." + good[9:])
    assert not v.is_valid_credit_code("1234567\n" + good[8:])  # stdnum raises ValueError here
    for nothing in (None, "", "   ", 91370100):
        assert not v.is_valid_credit_code(nothing)


def test_mobiles_and_masks() -> None:
    assert v.is_valid_mobile("13812345678")
    assert v.is_valid_mobile("19912345678")
    for bad in (
        None,
        "",
        "12812345678",
        "1381234567",
        "138123456789",
        "+8613812345678",
        "138 1234 5678",
        "13812345678\n",
        "１３８１２３４５６７８",
    ):
        assert not v.is_valid_mobile(bad), bad
    assert v.mask_resident_id("370102199001011234") == "370102********1234"
    assert v.mask_resident_id("1234567890") == "**********"
    assert v.mask_phone("13812345678") == "138****5678"
    assert v.mask_phone("1234567") == "*******"


# --- the vectorised checks agree with the scalar ones ---------------------------------------------


def test_stdnums_county_table_and_every_span_boundary() -> None:
    """Every county in stdnum's table, born in the first and last year of each span and the years
    just outside it: the join on region_years() decides as stdnum's lookup does."""
    values: list[str | None] = []
    for code, first, last in REGIONS:
        values += [resident_id(code, f"{year:04d}0101") for year in {first - 1, first, last, last + 1} if 1 <= year <= 9999]
    fast, reference = agree_on(values)
    assert fast == reference
    assert 0.4 < sum(reference) / len(reference) < 0.8
    assert len(v.region_years()) > 6000


def test_vectorised_resident_ids_agree_with_stdnum_on_a_large_batch() -> None:
    # 100,000 values, not 200,000: stdnum takes about 40 µs to accept one (its region lookup), and
    # the file keeps under ten seconds; the span test above adds 21,000 more at the edges
    rng = random.Random(11643)
    values: list[str | None] = []
    for _ in range(50_000):
        good = valid_resident_id(rng)
        values += [good, mutate_resident_id(rng, good)]
    values += [None, "", " ", "x", "X" * 18]
    fast, reference = agree_on(values)
    mismatches = [(x, f, r) for x, f, r in zip(values, fast, reference, strict=True) if f != r]
    assert mismatches == []
    assert 0.5 < sum(reference) / len(reference) < 0.7  # the valid half, and mutations that stay valid


def test_vectorised_credit_codes_agree_with_stdnum_on_a_large_batch() -> None:
    rng = random.Random(32100)
    values: list[str | None] = []
    for _ in range(100_000):
        good = valid_credit_code(rng)
        values += [good, mutate_credit_code(rng, good)]
    values += [None, "", " ", "-", "1234567\n" + credit_code("91370100MA3C5LN09")[8:]]
    series = pl.Series("code", values, dtype=pl.String)
    reference = [v.is_valid_credit_code(x) for x in values]
    mismatches = [(x, f, r) for x, f, r in zip(values, v.credit_code_valid(series).to_list(), reference, strict=True) if f != r]
    assert mismatches == []
    assert 0.5 < sum(reference) / len(reference) < 0.7


RIC_LIKE = st.builds(
    lambda code, year, month, day, seq, check, keep: (
        (body := f"{code}{year:04d}{month:02d}{day:02d}{seq:03d}") + (ric.calc_check_digit(body + "0") if keep else check)
    ),
    code=st.one_of(st.sampled_from([r[0] for r in REGIONS]), st.integers(0, 999999).map(lambda c: f"{c:06d}")),
    year=st.integers(0, 9999),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    seq=st.integers(0, 999),
    check=st.sampled_from("0123456789Xx"),
    keep=st.booleans(),
)
USCC_LIKE = st.builds(
    lambda body, keep, check: body + (uscc.calc_check_digit(body) if keep and all(c in v.USCC_ALPHABET for c in body) else check),
    body=st.text(alphabet=string.digits + string.ascii_uppercase, min_size=17, max_size=17),
    keep=st.booleans(),
    check=st.sampled_from(string.digits + string.ascii_uppercase + "x"),
)
ANY_TEXT = st.one_of(st.none(), st.text(alphabet="0123456789Xx -\n\t０", max_size=20), st.text(max_size=20))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(RIC_LIKE, RIC_LIKE.map(str.lower), RIC_LIKE.map(lambda s: f" {s}"), ANY_TEXT), max_size=20))
def test_property_resident_ids(values: list[str | None]) -> None:
    fast, reference = agree_on(values)
    assert fast == reference


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(USCC_LIKE, USCC_LIKE.map(str.lower), USCC_LIKE.map(lambda s: f"{s[:8]}-{s[8:]}"), ANY_TEXT), max_size=20))
def test_property_credit_codes(values: list[str | None]) -> None:
    series = pl.Series("x", values, dtype=pl.String)
    assert v.credit_code_valid(series).to_list() == [v.is_valid_credit_code(x) for x in values]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(ANY_TEXT, st.from_regex(r"1[0-9]{10}\n?", fullmatch=True)), max_size=20))
def test_property_mobiles(values: list[str | None]) -> None:
    series = pl.Series("x", values, dtype=pl.String)
    assert v.mobile_valid(series).to_list() == [v.is_valid_mobile(x) for x in values]


@pytest.mark.parametrize("values", [[], [None], [None, None]])
def test_empty_and_all_null_columns(values: list[None]) -> None:
    for series in (pl.Series("x", values, dtype=pl.String), pl.Series("x", values)):
        for check in (v.resident_id_valid, v.credit_code_valid, v.mobile_valid):
            result = check(series)
            assert result.dtype == pl.Boolean
            assert result.name == "x"
            assert result.to_list() == [False] * len(values)


def test_the_region_table_is_merged_as_stdnum_info_merges_it() -> None:
    from stdnum import numdb

    assert v._code_properties(numdb.get("cn/loc")) == v._code_properties_by_info(numdb.get("cn/loc"))
    # a table of another shape (here a range of numbers) is looked up code by code with info()
    other = numdb.NumDB()
    other.prefixes = [(2, "37", "38", {"province": "P"}, [(4, "0102", "0102", {"county": "C"}, [])])]
    expected = {"370102": {"province": "P", "county": "C"}, "380102": {"province": "P", "county": "C"}}
    assert v._code_properties(other) == v._code_properties_by_info(other) == expected

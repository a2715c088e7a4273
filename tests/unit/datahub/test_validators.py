"""The vectorised identifier checks agree with python-stdnum, value by value."""

from __future__ import annotations

import random
import string

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from citybrain.datahub import validators as v

JINAN = ["370102", "370103", "370104", "370105", "370112", "370113", "370114", "370115", "370116", "370117", "370124", "370126"]


def make_resident_id(rng: random.Random, code: str | None = None, born: str | None = None) -> str:
    code = code or rng.choice(JINAN)
    born = born or f"{rng.randint(1940, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"{code}{born}{rng.randint(0, 999):03d}"
    return body + ric.calc_check_digit(body + "0")


def make_credit_code(rng: random.Random) -> str:
    body = f"9137{rng.randint(0, 9999):04d}" + "".join(rng.choice(uscc._alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def mutate(rng: random.Random, value: str, alphabet: str) -> str:
    i = rng.randrange(len(value))
    kind = rng.random()
    if kind < 0.4:
        return value[:i] + rng.choice(alphabet) + value[i + 1 :]
    if kind < 0.6 and i < len(value) - 1:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if kind < 0.75:
        return value[:i] + value[i + 1 :]
    if kind < 0.85:
        return value.lower()
    return "".join(rng.choice(alphabet) for _ in range(len(value)))


def test_known_resident_ids() -> None:
    rng = random.Random(1)
    good = make_resident_id(rng, "370102", "19900101")
    assert v.is_valid_resident_id(good)
    assert not v.is_valid_resident_id(good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert not v.is_valid_resident_id(make_resident_id(rng, "370102", "19990230"))  # no 30 February
    assert not v.is_valid_resident_id(make_resident_id(rng, "999999", "19900101"))  # no such region
    assert not v.is_valid_resident_id(good[:17])
    assert not v.is_valid_resident_id(None)
    assert not v.is_valid_resident_id("")


def test_known_credit_codes() -> None:
    rng = random.Random(2)
    good = make_credit_code(rng)
    assert v.is_valid_credit_code(good)
    assert v.is_valid_credit_code(good.lower())  # stdnum compacts to upper case
    assert not v.is_valid_credit_code(good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert not v.is_valid_credit_code(good[:10] + "I" + good[11:])  # I is not in the alphabet
    assert not v.is_valid_credit_code(None)


def test_masks() -> None:
    assert v.mask_resident_id("370102199001011234") == "370102********1234"
    assert v.mask_phone("13812345678") == "138****5678"
    assert v.is_valid_mobile("13812345678")
    assert not v.is_valid_mobile("12812345678")


def test_vectorised_resident_ids_agree_with_stdnum_on_many_values() -> None:
    rng = random.Random(11643)
    values: list[str | None] = []
    for _ in range(100_000):
        good = make_resident_id(rng, code=rng.choice([*JINAN, "110101", "370100", "370000", "999999", "650000"]))
        values.append(good if rng.random() < 0.5 else mutate(rng, good, string.digits + "Xx"))
    values += [None, "", " ", "37010219900101123X ", "３７０１０２１９９００１０１１２３４", "3701021990010112 34"]
    series = pl.Series("id", values)
    fast = v.resident_id_valid(series).to_list()
    reference = [v.is_valid_resident_id(x) for x in values]
    assert fast == reference
    assert 0.2 < sum(reference) / len(reference) < 0.8


def test_vectorised_credit_codes_agree_with_stdnum_on_many_values() -> None:
    rng = random.Random(32100)
    values: list[str | None] = []
    for _ in range(100_000):
        good = make_credit_code(rng)
        values.append(good if rng.random() < 0.5 else mutate(rng, good, string.ascii_uppercase + string.digits + "-"))
    values += [None, "", "91370100MA3C5LN09-X", " 91370100MA3C5LN09X"]
    series = pl.Series("code", values)
    assert v.credit_code_valid(series).to_list() == [v.is_valid_credit_code(x) for x in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123456789Xx ", min_size=0, max_size=20), st.text(max_size=20)), max_size=30))
def test_any_strings_agree(values: list[str | None]) -> None:
    series = pl.Series("x", values, dtype=pl.String)
    assert v.resident_id_valid(series).to_list() == [v.is_valid_resident_id(x) for x in values]
    assert v.credit_code_valid(series).to_list() == [v.is_valid_credit_code(x) for x in values]
    assert v.mobile_valid(series).to_list() == [v.is_valid_mobile(x) for x in values]


@pytest.mark.parametrize("n", [0, 1])
def test_short_columns(n: int) -> None:
    series = pl.Series("x", ["370102199001011234"] * n, dtype=pl.String)
    assert len(v.resident_id_valid(series)) == n
    assert len(v.credit_code_valid(series)) == n

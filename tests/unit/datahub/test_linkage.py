"""Splink linkage on the demo's synthetic people: keyless social-insurance rows found in the
household registration, measured against the truth the generator knows."""

from __future__ import annotations

import random

import polars as pl

from citybrain.datahub import linkage, registries, synthetic


def test_keyless_rows_link_to_the_right_person_and_doubtful_ones_go_to_a_steward() -> None:
    rng = random.Random(5)
    people = synthetic.persons(rng, 12_000)
    firms = synthetic.companies(rng, 100, people)
    insured = synthetic.social_insurance_rows(rng, people, firms)
    by_key = {p.id_number: p for p in people}
    truth = {}
    keyed_rows = [r for r in insured if r["id_number"]]
    keyless_rows = [r for r in insured if not r["id_number"]]
    assert len(keyless_rows) > 60
    for row in keyless_rows:
        candidates = [p for p in people if p.phone == row["phone"]]
        assert len(candidates) == 1  # phones are the generator's private truth here, not a linkage field
        truth[row["insured_no"]] = candidates[0].id_number

    fields = ["name", "birth_date", "gender"]
    candidates = pl.DataFrame(
        [{"key": p.id_number, "name": p.name, "birth_date": p.birth_date.isoformat(), "gender": p.gender} for p in people]
    )
    labelled = pl.DataFrame(
        [{"uid": r["insured_no"], "key": r["id_number"], **{f: r[f] for f in fields}} for r in keyed_rows if r["id_number"] in by_key]
    )
    keyless = pl.DataFrame([{"uid": r["insured_no"], **{f: r[f] for f in fields}} for r in keyless_rows])
    spec = registries.spec("population").match
    assert spec is not None

    result = linkage.link(spec, candidates, labelled, keyless)

    linked = dict(result.linked.select("uid", "key").iter_rows())
    right = sum(1 for uid, key in linked.items() if truth[uid] == key)
    assert right == len(linked), "every automatic link is right"
    assert len(linked) >= 0.85 * len(keyless_rows), "most keyless rows link automatically"
    assert len(linked) + result.review.height + len(result.unlinked) == len(keyless_rows)
    # a doubtful row's right person is among the candidates a steward sees
    offered = [truth[uid] in {c["key"] for c in candidates} for uid, candidates in result.review.iter_rows() if candidates]
    assert all(offered)
    assert result.trained_on == labelled.height


def test_without_enough_keyed_rows_every_keyless_row_goes_to_a_steward() -> None:
    spec = registries.spec("population").match
    assert spec is not None
    candidates = pl.DataFrame({"key": ["a"], "name": ["张三"], "birth_date": ["1990-01-01"], "gender": ["男"]})
    labelled = pl.DataFrame(schema={"uid": pl.Utf8, "key": pl.Utf8, "name": pl.Utf8, "birth_date": pl.Utf8, "gender": pl.Utf8})
    keyless = pl.DataFrame({"uid": ["x"], "name": ["张三"], "birth_date": ["1990-01-01"], "gender": ["男"]})
    result = linkage.link(spec, candidates, labelled, keyless)
    assert result.linked.is_empty()
    assert result.review["uid"].to_list() == ["x"]
    assert result.notes == ["linkage.too_few_labelled"]

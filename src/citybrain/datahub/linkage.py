"""Record linkage for the base registries: Splink (Fellegi-Sunter) on DuckDB.

Source rows that carry a reliable key (ID number, credit code) join their registry record by that
key. The rest are linked here: a model is trained on the rows whose key *is* known (they label which
pairs truly match, so the m-probabilities come from real agreement rates, and the u-probabilities
from random pairs), then scores each keyless row against the registry's records. Plain Polars in,
Polars out; no database of the platform and no web code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

#: link when the best candidate scores at least this, and no other candidate comes close
ACCEPT = 0.95
#: below ACCEPT but at least this: a steward decides
REVIEW = 0.5
#: labelled pairs needed to train the model; with fewer, keyless rows all go to a steward
MIN_LABELLED = 20

CANDIDATE = "gold"
SOURCE = "source"


@dataclass(frozen=True)
class Comparison:
    """How one field is compared: ``name`` (Jaro-Winkler levels), ``date`` (date of birth levels) or
    ``exact``."""

    field: str
    kind: Literal["name", "date", "exact"]


@dataclass(frozen=True)
class MatchSpec:
    comparisons: tuple[Comparison, ...]
    #: each rule: fields that must be equal for a pair to be scored at all
    blocking: tuple[tuple[str, ...], ...]

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.comparisons]


@dataclass
class LinkResult:
    #: uid, key, probability: accepted links
    linked: pl.DataFrame
    #: uid, candidates ([{key, probability}], best first): for a steward
    review: pl.DataFrame
    #: uids no candidate came near
    unlinked: list[str]
    trained_on: int
    notes: list[str] = field(default_factory=list)


_CANDIDATE: pl.DataType = pl.Struct({"key": pl.Utf8, "probability": pl.Float64})
_REVIEW_SCHEMA = pl.Schema({"uid": pl.String(), "candidates": pl.List(_CANDIDATE)})
_LINKED_SCHEMA = pl.Schema({"uid": pl.Utf8, "key": pl.Utf8, "probability": pl.Float64})


def unlinkable(uids: list[str]) -> LinkResult:
    """Rows a registry without a linkage model cannot place."""
    return LinkResult(pl.DataFrame(schema=_LINKED_SCHEMA), pl.DataFrame(schema=_REVIEW_SCHEMA), list(uids), 0)


def _settings(spec: MatchSpec) -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on
    from splink.internals.comparison_creator import ComparisonCreator

    comparisons: list[ComparisonCreator | dict[str, Any]] = []
    for c in spec.comparisons:
        if c.kind == "name":
            comparisons.append(cl.JaroWinklerAtThresholds(c.field, [0.9, 0.7]))
        elif c.kind == "date":
            comparisons.append(cl.DateOfBirthComparison(c.field, input_is_string=True))
        else:
            comparisons.append(cl.ExactMatch(c.field))
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in spec.blocking],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _prepare(frame: pl.DataFrame, spec: MatchSpec, extra: list[str]) -> Any:
    return frame.select(["uid", *spec.fields, *extra]).with_columns(pl.col(spec.fields).cast(pl.Utf8)).to_arrow()


def link(spec: MatchSpec, candidates: pl.DataFrame, labelled: pl.DataFrame, keyless: pl.DataFrame) -> LinkResult:
    """Link ``keyless`` rows (uid + the spec's fields) to ``candidates`` (key + fields).

    ``labelled`` holds source rows whose key is known (uid, key + fields): the training data.
    """
    import duckdb
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    empty_review = pl.DataFrame(schema=_REVIEW_SCHEMA)
    empty_linked = pl.DataFrame(schema=_LINKED_SCHEMA)
    if keyless.is_empty():
        return LinkResult(empty_linked, empty_review, [], 0)
    uids = keyless["uid"].to_list()
    if labelled.height < MIN_LABELLED or candidates.is_empty():
        review = keyless.select("uid").with_columns(candidates=pl.lit([], dtype=empty_review.schema["candidates"]))
        return LinkResult(empty_linked, review, [], labelled.height, ["linkage.too_few_labelled"])

    quiet = logging.getLogger("splink")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # levels no labelled pair shows keep their default m, which Splink warns about
    try:
        gold = candidates.with_columns(uid=pl.col("key"), label=pl.col("key"))
        api = DuckDBAPI(duckdb.connect())
        train = Linker(
            [
                api.register(_prepare(labelled.with_columns(label=pl.col("key")), spec, ["label"]), dataset_display_name=SOURCE),
                api.register(_prepare(gold, spec, ["label"]), dataset_display_name=CANDIDATE),
            ],
            _settings(spec),
            log_level=None,
        )
        train.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
        train.training.estimate_m_from_label_column("label")
        # the prior: one candidate in the whole registry is the right one
        model = train.misc.save_model_to_json()
        model["probability_two_random_records_match"] = 1 / max(candidates.height, 2)

        api = DuckDBAPI(duckdb.connect())
        linker = Linker(
            [
                api.register(_prepare(keyless, spec, []), dataset_display_name=SOURCE),
                api.register(_prepare(gold, spec, []), dataset_display_name=CANDIDATE),
            ],
            model,
            log_level=None,
        )
        scored = linker.inference.predict(threshold_match_probability=REVIEW)
        pairs = pl.from_arrow(scored.as_duckdbpyrelation().arrow())
    finally:
        quiet.setLevel(level)
    assert isinstance(pairs, pl.DataFrame)
    if pairs.is_empty():
        return LinkResult(empty_linked, empty_review, uids, labelled.height)
    left_is_source = pl.col("source_dataset_l") == SOURCE
    pairs = pairs.select(
        uid=pl.when(left_is_source).then(pl.col("uid_l")).otherwise(pl.col("uid_r")),
        key=pl.when(left_is_source).then(pl.col("uid_r")).otherwise(pl.col("uid_l")),
        probability=pl.col("match_probability"),
    ).sort(["uid", "probability", "key"], descending=[False, True, False])
    ranked = pairs.group_by("uid", maintain_order=True).agg(
        best_key=pl.col("key").first(),
        best=pl.col("probability").first(),
        second=pl.col("probability").slice(1, 1).first().fill_null(0.0),
        candidates=pl.struct("key", "probability").head(3),
    )
    sure = (pl.col("best") >= ACCEPT) & (pl.col("second") < REVIEW)
    linked = ranked.filter(sure).select("uid", key=pl.col("best_key"), probability=pl.col("best"))
    review = ranked.filter(~sure).select("uid", "candidates")
    seen = set(ranked["uid"].to_list())
    return LinkResult(linked, review, [u for u in uids if u not in seen], labelled.height)

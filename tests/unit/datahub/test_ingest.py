"""Reading CSV block by block, and finding repeated keys across batches from their hashes."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from citybrain.datahub import ingest
from citybrain.datahub.schemas import TableSchema


def _read(path: Path, batch_rows: int = 3) -> tuple[list[int], pl.DataFrame]:
    batches = list(ingest.read_batches(path, "csv", batch_rows))
    return [first for first, _ in batches], pl.concat([b for _, b in batches]) if batches else pl.DataFrame()


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
def test_blocks_end_on_record_boundaries_whatever_their_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    rng = random.Random(block)
    rows = []
    for i in range(40):
        note = rng.choice(['"多行\n备注, 含逗号"', '"引号""转义"""', "", "普通", '"\r\n"'])
        rows.append(f"{i},名字{i},{note}")
    content = "\ufeffid,name,note\r\n" + "\r\n".join(rows)  # BOM, CRLF, no newline at the end
    path = tmp_path / "f.csv"
    path.write_bytes(content.encode())
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", block)

    firsts, frame = _read(path)

    assert frame.equals(pl.read_csv(content.encode(), infer_schema=False))
    assert firsts == list(range(2, 42, 3))


def test_a_header_alone_has_no_batches_and_an_empty_file_is_unreadable(tmp_path: Path) -> None:
    header_only, empty = tmp_path / "h.csv", tmp_path / "e.csv"
    header_only.write_bytes(b"id,name\n")
    empty.write_bytes(b"")

    assert _read(header_only)[0] == []
    with pytest.raises(ingest.FileProblem) as problem:
        _read(empty)
    assert problem.value.key == "datahub.import.unreadable"


def test_bad_encoding_in_a_later_block_is_a_file_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,name\n" + b"".join(f"{i},n{i}\n".encode() for i in range(50)) + b"51,\xff\n")
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", 64)

    with pytest.raises(ingest.FileProblem) as problem:
        _read(path)
    assert problem.value.key == "datahub.import.unreadable"


SCHEMA = TableSchema.model_validate(
    {
        "fields": [
            {"name": "code", "title": "代码", "required": True},
            {"name": "n", "title": "序号", "type": "integer", "required": True},
            {"name": "email", "title": "邮箱", "unique": True},
        ],
        "primary_key": ["code", "n"],
    }
)


def _problems(path: Path) -> list[tuple[int, str, str | None, str]]:
    validator = ingest.Validator(SCHEMA)
    errors = []
    for first, raw in ingest.read_batches(path, "csv", 4):
        errors += validator.validate(first, raw).errors
    errors += validator.finish(lambda: ingest.read_batches(path, "csv", 4))
    return sorted((e.row, e.field, e.value, e.reason) for e in errors)


@pytest.fixture
def repeats(tmp_path: Path) -> Path:
    lines = [
        "a,1,x@example.cn",
        "a,2,y@example.cn",
        "b,1,",
        "a,01,z@example.cn",  # line 5: the key (a, 1) again, once typed
        "b,1, x@example.cn ",  # line 6: the key (b, 1) again and x@ again, once stripped
        "c,,w@example.cn",  # a key with a null is not compared (it is reported as required)
        "c,,",
        "a,2,",  # line 9
    ]
    path = tmp_path / "r.csv"
    path.write_text("code,n,email\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


EXPECTED = [
    (5, "code,n", "a,1", "datahub.import.duplicate_key"),
    (6, "code,n", "b,1", "datahub.import.duplicate_key"),
    (6, "email", "x@example.cn", "datahub.import.duplicate"),
    (7, "n", None, "datahub.import.required"),
    (8, "n", None, "datahub.import.required"),
    (9, "code,n", "a,2", "datahub.import.duplicate_key"),
]


def test_repeated_keys_and_unique_values_are_found_across_batches(repeats: Path) -> None:
    assert _problems(repeats) == EXPECTED


def test_colliding_hashes_are_told_apart_by_the_values(repeats: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # every value hashes alike: every row is a suspect, and only the values decide
    monkeypatch.setattr(ingest, "_hash", lambda columns: pl.when(pl.all_horizontal(pl.col(c).is_not_null() for c in columns)).then(0))

    assert _problems(repeats) == EXPECTED


def test_a_file_without_repeats_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("code,n,email\n" + "\n".join(f"a,{i},{i}@example.cn" for i in range(20)) + "\n", encoding="utf-8")
    validator = ingest.Validator(SCHEMA)
    for first, raw in ingest.read_batches(path, "csv", 4):
        assert validator.validate(first, raw).errors == []

    def never() -> list[tuple[int, pl.DataFrame]]:
        raise AssertionError("read again")

    assert validator.finish(never) == []

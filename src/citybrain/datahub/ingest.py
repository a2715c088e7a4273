"""Reading and validating a file against a resource's Table Schema: columnar, no database.

Files are read in batches of strings (CSV by streaming, so memory does not grow with the file; XLSX
and JSON whole) and each batch is checked column by column with Polars: required values, types,
enumerations, identifier checksums (resident ID GB 11643, unified social credit code GB 32100,
mobile numbers) and unique keys across the whole file. Every problem becomes a :class:`RowError`
naming the row, the field, the value (masked when personal) and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from citybrain.datahub.schemas import SchemaField, Sensitivity, TableSchema

#: Rows validated and written at a time.
BATCH_ROWS = 50_000

#: The Polars type of each Table Schema type, after validation.
DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
}

TRUE = {"true", "1", "yes", "y", "是", "t"}
FALSE = {"false", "0", "no", "n", "否", "f"}


class FileProblem(Exception):
    """The file as a whole cannot be read as the resource's table (format, header, encoding)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class RowError:
    #: row number as the user sees it: the line in a CSV (header is line 1), the row in a sheet,
    #: the 1-based item in a JSON array
    row: int
    field: str
    value: str | None
    #: message key, e.g. ``datahub.import.required``
    reason: str


@dataclass
class Batch:
    """Typed, validated rows (``rows``) and the problems found (``errors``) for one batch."""

    rows: pl.DataFrame
    errors: list[RowError]
    first_row: int


def detect_format(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".json":
        return "json"
    raise FileProblem("datahub.import.unknown_format", name=filename)


def read_batches(path: Path, fmt: str, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, pl.DataFrame]]:
    """(number of the batch's first row, batch of string columns) for the whole file."""
    if fmt == "csv":
        yield from _csv_batches(path, batch_rows)
        return
    if fmt == "xlsx":
        try:
            frame = pl.read_excel(path, infer_schema_length=0)
        except Exception as exc:
            raise FileProblem("datahub.import.unreadable", reason=str(exc)[:200]) from exc
        first = 2  # the header is row 1
    elif fmt == "json":
        try:
            frame = pl.read_json(path, infer_schema_length=None)
        except Exception as exc:
            raise FileProblem("datahub.import.unreadable", reason=str(exc)[:200]) from exc
        frame = frame.select(pl.all().cast(pl.String))
        first = 1
    else:
        raise FileProblem("datahub.import.unknown_format", name=path.name)
    for offset in range(0, max(frame.height, 1), batch_rows):
        yield first + offset, frame.slice(offset, batch_rows)


def _csv_batches(path: Path, batch_rows: int) -> Iterator[tuple[int, pl.DataFrame]]:
    try:
        reader = pl.scan_csv(path, infer_schema=False, encoding="utf8")
        columns = reader.collect_schema().names()
    except Exception as exc:
        raise FileProblem("datahub.import.unreadable", reason=str(exc)[:200]) from exc
    offset = 0
    try:
        for frame in reader.collect_batches(chunk_size=batch_rows):
            yield 2 + offset, frame.select(columns)
            offset += frame.height
    except pl.exceptions.ComputeError as exc:
        raise FileProblem("datahub.import.unreadable", reason=str(exc)[:200]) from exc


def check_header(columns: list[str], schema: TableSchema) -> None:
    """The file's columns must be the schema's field names (any order); missing required fields and
    unknown columns are refused before any row is read."""
    names = {f.name for f in schema.fields}
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise FileProblem("datahub.import.unknown_columns", columns=", ".join(unknown), expected=", ".join(sorted(names)))
    key_or_required = [f.name for f in schema.fields if f.required or f.name in schema.primary_key]
    missing = [n for n in key_or_required if n not in columns]
    if missing:
        raise FileProblem("datahub.import.missing_columns", columns=", ".join(missing))


def mask(value: str | None, field: SchemaField) -> str | None:
    """How a rejected value appears in the report: personal values masked."""
    if value is None or field.sensitivity not in (Sensitivity.PERSONAL, Sensitivity.SENSITIVE_PERSONAL):
        return value
    from citybrain.datahub import validators

    if field.identifier == "resident_id":
        return validators.mask_resident_id(value)
    if field.identifier == "mobile":
        return validators.mask_phone(value)
    if len(value) <= 1:
        return "*"
    return value[0] + "*" * (len(value) - 1)


def _typed(column: pl.Expr, field: SchemaField) -> pl.Expr:
    if field.type == "integer":
        return column.cast(pl.Int64, strict=False)
    if field.type == "number":
        return column.cast(pl.Float64, strict=False)
    if field.type == "boolean":
        lowered = column.str.to_lowercase()
        return pl.when(lowered.is_in(list(TRUE))).then(True).when(lowered.is_in(list(FALSE))).then(False).otherwise(None)
    if field.type == "date":
        return column.str.to_date("%Y-%m-%d", strict=False)
    if field.type == "datetime":
        return pl.coalesce(
            column.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone="UTC"),
            column.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC"),
            column.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False).dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC"),
        )
    return column


def _identifier_ok(column: pl.Series, identifier: str) -> pl.Series:
    from citybrain.datahub import validators

    if identifier == "resident_id":
        return validators.resident_id_valid(column)
    if identifier == "credit_code":
        return validators.credit_code_valid(column)
    return validators.mobile_valid(column)


class Validator:
    """Validates the batches of one file against one schema, keeping the keys seen so far."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._seen: dict[str, set[Any]] = {f.name: set() for f in schema.fields if f.unique}
        self._seen_keys: set[tuple[Any, ...]] = set()

    def seen_keys(self) -> set[tuple[Any, ...]]:
        """Every key the file held (after validation of all batches)."""
        key = self.schema.primary_key
        if len(key) == 1 and key[0] in self._seen:
            return {(v,) for v in self._seen[key[0]]}
        return set(self._seen_keys)

    def validate(self, first_row: int, raw: pl.DataFrame) -> Batch:
        errors: list[RowError] = []
        rows = pl.int_range(first_row, first_row + raw.height, eager=True).alias("_row")
        cleaned = raw.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in raw.columns)
        typed: dict[str, pl.Series] = {}
        for field in self.schema.fields:
            if field.name not in cleaned.columns:
                typed[field.name] = pl.Series(field.name, [None] * raw.height, dtype=DTYPES[field.type])
                continue
            text = cleaned[field.name]
            value = cleaned.select(_typed(pl.col(field.name), field)).to_series()
            problems: list[tuple[pl.Series, str]] = []
            if field.required or field.name in self.schema.primary_key:
                problems.append((text.is_null(), "datahub.import.required"))
            problems.append((text.is_not_null() & value.is_null(), f"datahub.import.not_{field.type}"))
            if field.enum:
                problems.append((text.is_not_null() & ~text.is_in(field.enum), "datahub.import.not_in_enum"))
            if field.identifier:
                problems.append(
                    (text.is_not_null() & ~_identifier_ok(text.fill_null(""), field.identifier), f"datahub.import.bad_{field.identifier}")
                )
            reported = pl.Series([False] * raw.height)
            for mask_, reason in problems:
                new = mask_.fill_null(False) & ~reported
                if new.any():
                    for row, val in zip(rows.filter(new), text.filter(new), strict=True):
                        errors.append(RowError(int(row), field.name, mask(val, field), reason))
                    reported = reported | new
            typed[field.name] = value.alias(field.name)
        frame = pl.DataFrame(typed).with_columns(rows)
        errors.extend(self._duplicates(frame, cleaned))
        errors.sort(key=lambda e: (e.row, e.field))
        return Batch(frame, errors, first_row)

    def _duplicates(self, frame: pl.DataFrame, cleaned: pl.DataFrame) -> list[RowError]:
        """Unique fields and the key must not repeat, within this batch or against earlier ones."""
        out: list[RowError] = []
        by_name = {f.name: f for f in self.schema.fields}
        for name, seen in self._seen.items():
            for row, value in zip(frame["_row"], frame[name], strict=True):
                if value is None:
                    continue
                if value in seen:
                    out.append(RowError(int(row), name, mask(str(value), by_name[name]), "datahub.import.duplicate"))
                else:
                    seen.add(value)
        key = self.schema.primary_key
        if key and not (len(key) == 1 and key[0] in self._seen):
            for row, *values in frame.select("_row", *key).iter_rows():
                if any(v is None for v in values):
                    continue
                if tuple(values) in self._seen_keys:
                    out.append(
                        RowError(int(row), ",".join(key), mask(",".join(map(str, values)), by_name[key[0]]), "datahub.import.duplicate_key")
                    )
                else:
                    self._seen_keys.add(tuple(values))
        return out

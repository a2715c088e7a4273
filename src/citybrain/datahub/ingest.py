"""Reading and validating a file against a resource's Table Schema: columnar, no database.

Files are read in batches of strings (CSV block by block, so memory does not grow with the file;
XLSX and JSON whole) and each batch is checked column by column with Polars: required values, types,
enumerations, identifier checksums (resident ID GB 11643, unified social credit code GB 32100,
mobile numbers) and unique keys across the whole file. Every problem becomes a :class:`RowError`
naming the row, the field, the value (masked when personal) and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from citybrain.datahub.schemas import SchemaField, Sensitivity, TableSchema

#: Rows validated and written at a time.
BATCH_ROWS = 50_000
#: Bytes of a CSV read at a time (then parsed and cut into batches).
CSV_BLOCK_BYTES = 8 << 20

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


def read_batches(path: Path, fmt: str, batch_rows: int | None = None) -> Iterator[tuple[int, pl.DataFrame]]:
    """(number of the batch's first row, batch of string columns) for the whole file, in batches of
    ``batch_rows`` (default :data:`BATCH_ROWS`)."""
    batch_rows = batch_rows or BATCH_ROWS
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
    """The CSV's records in batches of ``batch_rows`` (the last may be shorter)."""
    row, held = 2, pl.DataFrame()
    for frame in _csv_blocks(path):
        held = frame if not held.width else pl.concat([held, frame], rechunk=False)
        while held.height >= batch_rows:
            yield row, held.slice(0, batch_rows)
            row, held = row + batch_rows, held.slice(batch_rows)
    if held.height:
        yield row, held


def _csv_blocks(path: Path) -> Iterator[pl.DataFrame]:
    """The CSV read block by block, each block a run of whole records parsed by Polars (after the
    header line, so every block is parsed alike): memory stays flat however long the file.
    (Polars' own streaming reader runs ahead of its consumer and buffers: reading 1M rows that
    way peaked at 300 MB, 2M rows at 450 MB.)"""
    with path.open("rb") as fh:
        block = fh.read(CSV_BLOCK_BYTES)
        header_end = _first_record_end(block)
        while header_end is None:
            more = fh.read(CSV_BLOCK_BYTES)
            if not more:
                header_end = len(block)
                break
            block += more
            header_end = _first_record_end(block)
        header, rest = block[:header_end], block[header_end:]
        if not header.strip():
            raise FileProblem("datahub.import.unreadable", reason="empty CSV")
        if not header.endswith(b"\n"):
            header += b"\n"
        while True:
            more = fh.read(CSV_BLOCK_BYTES)
            rest += more
            end = len(rest) if not more else _whole_records(rest)
            if end:
                yield _parse_csv(header + rest[:end])
                rest = rest[end:]
            if not more:
                return


def _parse_csv(data: bytes) -> pl.DataFrame:
    try:
        return pl.read_csv(data, infer_schema=False, encoding="utf8")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise FileProblem("datahub.import.unreadable", reason=str(exc)[:200]) from exc


def _first_record_end(data: bytes) -> int | None:
    """Where the first record ends (after its newline), or None if it does not end in ``data``. A
    newline ends a record when an even number of quote characters precedes it."""
    end = data.find(b"\n")
    while end >= 0 and data.count(b'"', 0, end) % 2:
        end = data.find(b"\n", end + 1)
    return None if end < 0 else end + 1


def _whole_records(data: bytes) -> int:
    """The length of the longest run of whole records at the start of ``data`` (0 if none ends)."""
    end = data.rfind(b"\n")
    if end < 0:
        return 0
    odd = data.count(b'"', 0, end) % 2
    while odd:  # that newline is inside a quoted field: step back, keeping count
        before = data.rfind(b"\n", 0, end)
        if before < 0:
            return 0
        odd ^= data.count(b'"', before, end) % 2
        end = before
    return end + 1


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
    """Validates the batches of one file against one schema.

    Each batch is checked in one pass of Polars expressions (the columns in parallel); Python sees
    only the rows that fail. Repeats of unique values and keys across the whole file are found by
    :meth:`finish`. For that only a 64-bit hash of each value is kept with its row number (16 bytes a
    row, the one part of the work whose memory grows with the file); rows whose hashes repeat are
    read again and their values compared, so the answer is exact.
    """

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._fields = {f.name: f for f in schema.fields}
        key = list(schema.primary_key)
        #: what must not repeat: each unique field, and the key (unless it is one unique field)
        self._distinct: dict[str, list[str]] = {f.name: [f.name] for f in schema.fields if f.unique}
        if key and not (len(key) == 1 and key[0] in self._distinct):
            self._distinct[",".join(key)] = key
        self._hashes: list[pl.DataFrame] = []

    def validate(self, first_row: int, raw: pl.DataFrame) -> Batch:
        """Typed rows (with their file row numbers in ``_row``) and the problems of one batch."""
        present = [f for f in self.schema.fields if f.name in raw.columns]
        text = raw.select(pl.col(f.name).str.strip_chars().replace("", None) for f in present)
        # identifier checks are Series functions (a join with stdnum's region table), run first
        verdicts = [_identifier_ok(text[f.name].fill_null(""), f.identifier).alias(f"_ok_{f.name}") for f in present if f.identifier]
        reasons = {f.name: _checks(f, f.name in self.schema.primary_key) for f in present}
        why = [_first_failing(checks).alias(f"_why_{name}") for name, checks in reasons.items() if checks]
        result = (
            text.with_columns(verdicts)
            .lazy()
            .select(pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias("_row"), *self._typed(raw.columns), *why)
            .collect()
        )
        errors: list[RowError] = []
        why_columns = [w.meta.output_name() for w in why]
        if why_columns and result.select(pl.any_horizontal(pl.col(why_columns) > 0).any()).item():
            for name, checks in reasons.items():
                if not checks:
                    continue
                failing = result[f"_why_{name}"] > 0
                found = pl.DataFrame({"row": result["_row"], "why": result[f"_why_{name}"], "value": text[name]}).filter(failing)
                for row, code, value in found.iter_rows():
                    errors.append(RowError(row, name, mask(value, self._fields[name]), checks[code - 1][1]))
        rows = result.drop(why_columns)
        if self._distinct:
            self._hashes.append(rows.select("_row", *[_hash(columns).alias(name) for name, columns in self._distinct.items()]))
        errors.sort(key=lambda e: (e.row, e.field))
        return Batch(rows, errors, first_row)

    def _typed(self, columns: list[str], names: list[str] | None = None) -> list[pl.Expr]:
        """The typed value of each field (all of them, or ``names``) from the stripped text; null
        for a field the file lacks."""
        return [
            _typed(pl.col(f.name), f).alias(f.name) if f.name in columns else pl.lit(None, DTYPES[f.type]).alias(f.name)
            for f in self.schema.fields
            if names is None or f.name in names
        ]

    def finish(self, reread: Callable[[], Iterator[tuple[int, pl.DataFrame]]]) -> list[RowError]:
        """Repeated values of unique fields and repeated keys across every batch validated: each
        repeat after the first is a problem (null values, and keys with a null, are skipped).
        ``reread`` reads the file's batches again; it is called only when some hashes repeat."""
        if not self._hashes:
            return []
        hashes = pl.concat(self._hashes)
        suspects = {name: rows for name in self._distinct if len(rows := _repeated(hashes, name))}
        if not suspects:
            return []
        wanted = pl.concat(list(suspects.values())).unique()
        needed = sorted({c for name in suspects for c in self._distinct[name]})
        parts = []
        for first, raw in reread():
            text = raw.select(pl.col(c).str.strip_chars().replace("", None) for c in needed if c in raw.columns)
            typed = text.select(pl.int_range(first, first + pl.len(), dtype=pl.Int64).alias("_row"), *self._typed(raw.columns, needed))
            parts.append(typed.filter(pl.col("_row").is_in(wanted.implode())))
        values = pl.concat(parts)
        out: list[RowError] = []
        for name, rows in suspects.items():
            columns = self._distinct[name]
            unique_field = name in self._fields and self._fields[name].unique
            reason = "datahub.import.duplicate" if unique_field else "datahub.import.duplicate_key"
            candidates = values.filter(pl.col("_row").is_in(rows.implode())).sort("_row")
            repeats = candidates.filter(~pl.struct(columns).is_first_distinct()).select("_row", *columns)
            for row, *found in repeats.iter_rows():
                shown = mask(",".join(map(str, found)), self._fields[columns[0]])
                out.append(RowError(row, name, shown, reason))
        return out


def _repeated(hashes: pl.DataFrame, name: str) -> pl.Series:
    """The rows whose hash in column ``name`` occurs more than once. By sorting (a few copies of
    8 bytes a row) rather than by a hash table, which took five times the memory."""
    ordered = hashes[name].drop_nulls().sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if not len(repeated):
        return pl.Series("_row", [], dtype=pl.Int64)
    return hashes.filter(pl.col(name).is_in(repeated.implode()))["_row"]


def _hash(columns: list[str]) -> pl.Expr:
    """A 64-bit hash of the typed value(s); null when any is null."""
    value = pl.col(columns[0]).hash() if len(columns) == 1 else pl.struct(columns).hash()
    return pl.when(pl.all_horizontal(pl.col(c).is_not_null() for c in columns)).then(value)


def _checks(field: SchemaField, in_key: bool) -> list[tuple[pl.Expr, str]]:
    """The checks of one field in the order they are reported (one problem per value): each a
    condition on the stripped text (and the identifier verdict) and its message key."""
    text = pl.col(field.name)
    checks: list[tuple[pl.Expr, str]] = []
    if field.required or in_key:
        checks.append((text.is_null(), "datahub.import.required"))
    if field.type != "string":
        checks.append((text.is_not_null() & _typed(text, field).is_null(), f"datahub.import.not_{field.type}"))
    if field.enum:
        checks.append((text.is_not_null() & ~text.is_in(field.enum), "datahub.import.not_in_enum"))
    if field.identifier:
        checks.append((text.is_not_null() & ~pl.col(f"_ok_{field.name}"), f"datahub.import.bad_{field.identifier}"))
    return checks


def _first_failing(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """1 + the index of the first check that fails, 0 when all pass."""
    first_failing = pl.lit(0, pl.UInt8)
    for i, (condition, _reason) in reversed(list(enumerate(checks, start=1))):
        first_failing = pl.when(condition).then(pl.lit(i, pl.UInt8)).otherwise(first_failing)
    return first_failing

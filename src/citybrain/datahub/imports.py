"""Importing a file into a resource's table: all or nothing, with a report of every rejected row.

The file is read and validated batch by batch (``ingest``). While no problem has been found, each
batch is written inside a savepoint: new keys inserted, changed rows updated, unchanged rows left
alone, and every insert, update and delete numbered in the resource's change sequence. At the first
problem writing stops (validation goes on, so the report is complete) and at the end the savepoint
is rolled back: the table is exactly as it was. The import's record and its report are kept either
way. Services never commit; the caller's transaction does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from sqlalchemy import Table, and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth.principal import Principal
from citybrain.core.auth.scoping import Visibility
from citybrain.core.db.base import utcnow
from citybrain.core.errors import FieldError, ValidationFailed
from citybrain.core.files import service as files
from citybrain.core.i18n import translate
from citybrain.datahub import ingest, tables
from citybrain.datahub.errors import NotProvider, ResourceNotFound
from citybrain.datahub.models import Change, DataImport, Resource, ResourceVersion
from citybrain.datahub.schemas import TableSchema

#: Problems kept on the import record for pages and API answers; the report CSV has them all.
FIRST_ERRORS = 200
#: Keys looked up per query when comparing a batch with the table.
LOOKUP_CHUNK = 2_000

Progress = Callable[[int], None]


def _schema_of(session: Session, resource: Resource) -> tuple[ResourceVersion, TableSchema]:
    version = session.scalar(
        select(ResourceVersion).where(ResourceVersion.resource_id == resource.id, ResourceVersion.version == resource.latest_version)
    )
    if version is None or not version.table_schema:
        raise ValidationFailed("datahub.import.no_schema")
    schema = TableSchema.from_descriptor(version.table_schema)
    if not schema.primary_key:
        raise ValidationFailed("datahub.import.no_key")
    return version, schema


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _allocate(session: Session, resource: Resource, count: int) -> int:
    """Reserve ``count`` change numbers; returns the first. Locks the resource row until commit."""
    from sqlalchemy import update as sa_update

    last = session.execute(
        sa_update(Resource).where(Resource.id == resource.id).values(change_seq=Resource.change_seq + count).returning(Resource.change_seq)
    ).scalar_one()
    session.expire(resource, ["change_seq"])
    return int(last) - count + 1


def _key_of(row: dict[str, Any], key: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row[k] for k in key)


class _Writer:
    """Upserts validated batches into the resource's table and numbers the changes."""

    def __init__(self, session: Session, resource: Resource, table: Table, schema: TableSchema, record: DataImport) -> None:
        self.session, self.resource, self.table, self.schema, self.record = session, resource, table, schema, record
        self.key = list(schema.primary_key)
        self.fields = [f.name for f in schema.fields]
        self.types = {f.name: f.type for f in schema.fields}
        # Into an empty table every row is an insert (the file's keys are unique, validation saw to
        # it), so the first load skips the comparison and goes straight to the bulk path.
        self.empty = session.execute(select(table.c[self.key[0]]).limit(1)).first() is None

    def _bulk_insert(self, frame: pl.DataFrame, first: int) -> None:
        """Rows and their change records through the driver's bulk path: COPY on PostgreSQL,
        executemany on SQLite."""
        dialect = self.session.get_bind().dialect.name
        now = utcnow()
        data = frame.select(self.fields).with_columns(pl.int_range(first, first + frame.height, eager=True).alias(tables.SEQ))
        keys = frame.select(self.key).with_columns(pl.col(c).cast(pl.String) for c in self.key)
        key_json = keys.select(pl.struct(self.key).struct.json_encode().alias("k"))["k"]
        changes = pl.DataFrame(
            {
                "resource_id": [self.resource.id] * frame.height,
                "seq": data[tables.SEQ],
                "op": ["insert"] * frame.height,
                "key": key_json,
                "import_id": [self.record.id] * frame.height,
            }
        )
        columns = [*self.fields, tables.SEQ]
        raw = self.session.connection().connection.dbapi_connection
        assert raw is not None
        if dialect == "postgresql":
            # Polars writes the CSV (in Rust); COPY reads it. Validation turned empty strings into
            # nulls, and an unquoted empty CSV field is NULL to COPY.
            utc = [
                pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
                for c, t in self.types.items()
                if t == "datetime"
            ]
            body = data.with_columns(utc).write_csv(include_header=False, null_value="").encode()
            log = changes.with_columns(pl.lit(now.strftime("%Y-%m-%d %H:%M:%S.%f+00")).alias("at")).write_csv(include_header=False).encode()
            with raw.cursor() as cur:
                quoted = ", ".join(f'"{c}"' for c in columns)
                with cur.copy(f'COPY "{self.table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)') as copy:
                    copy.write(body)
                with cur.copy("COPY datahub_changes (resource_id, seq, op, key, import_id, at) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(log)
            return
        data = data.with_columns(
            [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in self.types.items() if t == "date"]
            + [pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%6f") for c, t in self.types.items() if t == "datetime"]
        )
        at = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        cursor = raw.cursor()
        try:
            marks = ", ".join("?" for _ in columns)
            quoted = ", ".join(f'"{c}"' for c in columns)
            cursor.executemany(f'INSERT INTO "{self.table.name}" ({quoted}) VALUES ({marks})', data.iter_rows())  # noqa: S608
            cursor.executemany(
                "INSERT INTO datahub_changes (resource_id, seq, op, key, import_id, at) VALUES (?, ?, ?, ?, ?, ?)",
                ((*row, at) for row in changes.iter_rows()),
            )
        finally:
            cursor.close()

    def _existing(self, keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        columns = [self.table.c[k] for k in self.key]
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            condition = columns[0].in_([k[0] for k in chunk]) if len(columns) == 1 else tuple_(*columns).in_(chunk)
            for row in self.session.execute(select(*[self.table.c[f] for f in self.fields]).where(condition)).mappings():
                found[_key_of(dict(row), self.key)] = dict(row)
        return found

    def write(self, frame: pl.DataFrame) -> None:
        if self.empty:
            first = _allocate(self.session, self.resource, frame.height)
            self._bulk_insert(frame, first)
            self.record.inserted += frame.height
            return
        rows = frame.select(self.fields).to_dicts()
        existing = self._existing([_key_of(r, self.key) for r in rows])
        inserts, updates = [], []
        for row in rows:
            before = existing.get(_key_of(row, self.key))
            if before is None:
                inserts.append(row)
            elif any(before[f] != row[f] for f in self.fields):
                updates.append(row)
        changed = len(inserts) + len(updates)
        self.record.unchanged += len(rows) - changed
        if not changed:
            return
        first = _allocate(self.session, self.resource, changed)
        log = []
        for offset, row in enumerate(inserts):
            row[tables.SEQ] = first + offset
            log.append(self._change(first + offset, "insert", row))
        for offset, row in enumerate(updates, start=len(inserts)):
            row[tables.SEQ] = first + offset
            log.append(self._change(first + offset, "update", row))
        if inserts:
            self.session.execute(insert(self.table), inserts)
        if updates:
            params = [{**{f"new_{k}": v for k, v in row.items()}, **{f"key_{k}": row[k] for k in self.key}} for row in updates]
            stmt = (
                update(self.table)
                .where(and_(*[self.table.c[k] == bindparam(f"key_{k}") for k in self.key]))
                .values({c: bindparam(f"new_{c}") for c in [*self.fields, tables.SEQ]})
            )
            self.session.connection().execute(stmt, params)
        self.session.execute(insert(Change), log)
        self.record.inserted += len(inserts)
        self.record.updated += len(updates)

    def delete_missing(self, kept: set[tuple[Any, ...]]) -> None:
        """Replace mode: delete the rows whose keys the file did not hold."""
        columns = [self.table.c[k] for k in self.key]
        gone = [tuple(r) for r in self.session.execute(select(*columns)) if tuple(r) not in kept]
        if not gone:
            return
        first = _allocate(self.session, self.resource, len(gone))
        for start in range(0, len(gone), LOOKUP_CHUNK):
            chunk = gone[start : start + LOOKUP_CHUNK]
            condition = columns[0].in_([k[0] for k in chunk]) if len(columns) == 1 else tuple_(*columns).in_(chunk)
            self.session.execute(delete(self.table).where(condition))
        self.session.execute(
            insert(Change), [self._change(first + i, "delete", dict(zip(self.key, k, strict=True))) for i, k in enumerate(gone)]
        )
        self.record.deleted += len(gone)

    def _change(self, seq: int, op: str, row: dict[str, Any]) -> dict[str, Any]:
        key = {k: (row[k].isoformat() if hasattr(row[k], "isoformat") else row[k]) for k in self.key}
        return {"resource_id": self.resource.id, "seq": seq, "op": op, "key": key, "import_id": self.record.id, "at": utcnow()}


def import_file(
    session: Session,
    principal: Principal,
    resource_id: int,
    path: Path,
    *,
    filename: str,
    files_root: Path,
    mode: str = "upsert",
    progress: Progress | None = None,
) -> DataImport:
    """Validate ``path`` against the resource's latest schema and load it, or nothing.

    Returns the import record: ``status`` is ``succeeded`` (rows written, changes numbered) or
    ``rejected`` (nothing written; ``report_file_id`` holds every rejected row). Only a data steward
    of the provider (or the console) may import.
    """
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise ResourceNotFound(id=resource_id)
    if principal.via != "cli" and resource.provider_org_id != principal.org_id:
        raise NotProvider()
    if mode not in ("upsert", "replace"):
        raise ValidationFailed("error.validation", errors=[FieldError(("mode",), "datahub.import.bad_mode")])
    version, schema = _schema_of(session, resource)
    record = DataImport(
        resource_id=resource.id,
        version=version.version,
        filename=filename[:255],
        file_format="?",
        sha256=_sha256(path),
        mode=mode,
        status="running",
        actor=principal.actor_ref(),
        first_errors=[],
    )
    session.add(record)
    session.flush()

    errors: list[ingest.RowError] = []
    try:
        record.file_format = ingest.detect_format(filename)
        batches = ingest.read_batches(path, record.file_format)
        validator = ingest.Validator(schema)
        savepoint = session.begin_nested()
        table = tables.ensure_table(session.connection(), resource.id, schema)
        writer = _Writer(session, resource, table, schema, record)
        header_checked = False
        for _first, raw in batches:
            if not header_checked:
                ingest.check_header(raw.columns, schema)
                header_checked = True
            batch = validator.validate(_first, raw)
            record.rows_read += raw.height
            errors.extend(batch.errors)
            if not errors and batch.rows.height:
                writer.write(batch.rows)
            if progress is not None:
                progress(record.rows_read)
        if not header_checked:
            raise ingest.FileProblem("datahub.import.empty")
        if not errors and mode == "replace":
            writer.delete_missing(validator.seen_keys())
        if not errors:
            tables.ensure_key_index(session.connection(), table)
        if errors:
            savepoint.rollback()
            record.inserted = record.updated = record.deleted = record.unchanged = 0
        else:
            savepoint.commit()
    except ingest.FileProblem as problem:
        if "savepoint" in locals() and savepoint.is_active:
            savepoint.rollback()
        record.status = "rejected"
        record.file_problem = problem.key
        record.first_errors = [{"row": None, "field": None, "value": None, "reason": problem.key, "params": problem.params}]
        record.errors_count = 1
        record.finished_at = utcnow()
        session.flush()
        _audit(session, principal, resource, record)
        return record

    record.errors_count = len(errors)
    record.rows_rejected = len({e.row for e in errors})
    record.status = "rejected" if errors else "succeeded"
    record.first_errors = [{"row": e.row, "field": e.field, "value": e.value, "reason": e.reason} for e in errors[:FIRST_ERRORS]]
    if errors:
        report = files.store(
            session,
            _owner(principal, resource),
            files_root,
            io.BytesIO(report_csv(errors)),
            name=f"import-{record.id}-rejected-rows.csv",
            media_type="text/csv",
            visibility=Visibility.PRIVATE,
        )
        record.report_file_id = report.id
    record.finished_at = utcnow()
    session.flush()
    _audit(session, principal, resource, record)
    return record


def import_upload(
    session: Session,
    principal: Principal,
    resource_id: int,
    stream: BinaryIO,
    filename: str | None,
    *,
    files_root: Path,
    mode: str = "upsert",
) -> DataImport:
    """:func:`import_file` for an uploaded stream: spooled to a temporary file (the format comes
    from the file name's extension), imported, and removed."""
    name = filename or "upload"
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix.lower()) as tmp:
        shutil.copyfileobj(stream, tmp)
        tmp.flush()
        return import_file(session, principal, resource_id, Path(tmp.name), filename=name, files_root=files_root, mode=mode)


def _owner(principal: Principal, resource: Resource) -> Principal:
    """The report belongs to the provider, also when the console ran the import."""
    if principal.org_id == resource.provider_org_id:
        return principal
    from dataclasses import replace

    return replace(principal, org_id=resource.provider_org_id)


def _audit(session: Session, principal: Principal, resource: Resource, record: DataImport) -> None:
    audit.record(
        session,
        principal,
        f"datahub.import.{record.status}",
        subject_type="datahub.resource",
        subject_id=resource.id,
        org_id=resource.provider_org_id,
        detail={
            "import_id": record.id,
            "rows": record.rows_read,
            "inserted": record.inserted,
            "updated": record.updated,
            "deleted": record.deleted,
            "errors": record.errors_count,
        },
    )


def report_csv(errors: Sequence[ingest.RowError]) -> bytes:
    """Every rejected value: row, field, value (masked when personal) and the reason in both languages.
    UTF-8 with a byte-order mark, so spreadsheet programs open the Chinese correctly."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "value", "原因", "reason"])
    for e in errors:
        writer.writerow([e.row, e.field, e.value or "", translate(e.reason, "zh-CN"), translate(e.reason, "en")])
    return ("\ufeff" + out.getvalue()).encode("utf-8")

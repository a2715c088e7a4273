"""Importing a file into a resource's table: all or nothing, with a report of every rejected row.

The file is read and validated batch by batch (``ingest``; the next batch on a worker thread while
this one is written) and written in bulk inside a savepoint (``bulk``): new keys inserted, changed
rows updated, unchanged rows left alone, and every insert, update and delete numbered in the
resource's change sequence. At the first problem writing stops (validation goes on, so the report
is complete) and at the end the savepoint is rolled back: the table is exactly as it was. The
import's record and its report are kept either way. Services never commit; the caller's
transaction does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth.principal import Principal
from citybrain.core.auth.scoping import Visibility
from citybrain.core.db.base import utcnow
from citybrain.core.errors import FieldError, ValidationFailed
from citybrain.core.files import service as files
from citybrain.core.i18n import translate
from citybrain.datahub import bulk, ingest, tables
from citybrain.datahub.errors import NotProvider, ResourceNotFound
from citybrain.datahub.models import DataImport, Resource, ResourceVersion
from citybrain.datahub.schemas import TableSchema

#: Problems kept on the import record for pages and API answers; the report CSV has them all.
FIRST_ERRORS = 200

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


def _validated(
    batches: Iterator[tuple[int, pl.DataFrame]], validator: ingest.Validator, schema: TableSchema
) -> Iterator[tuple[int, ingest.Batch]]:
    """(rows read, validated batch) for each batch of the file, in order; the first batch's header
    is checked against the schema. The next batch is read and validated on a worker thread while
    the caller writes this one: Polars and the database drivers release the GIL, so on two cores
    checking and writing overlap. Two batches are held at a time."""

    def step(first_batch: bool) -> tuple[int, ingest.Batch] | None:
        item = next(batches, None)
        if item is None:
            return None
        first, raw = item
        if first_batch:
            ingest.check_header(raw.columns, schema)
        return raw.height, validator.validate(first, raw)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datahub-import") as worker:
        pending = worker.submit(step, True)
        while (done := pending.result()) is not None:
            pending = worker.submit(step, False)
            yield done


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
        load = bulk.BulkLoad(session, resource, table, schema, import_id=record.id)
        any_batch = False
        for read, batch in _validated(batches, validator, schema):
            any_batch = True
            record.rows_read += read
            errors.extend(batch.errors)
            if not errors and batch.rows.height:
                load.add(batch.rows)
            if progress is not None:
                progress(record.rows_read)
        if not any_batch:
            raise ingest.FileProblem("datahub.import.empty")
        errors.extend(validator.finish(lambda: ingest.read_batches(path, record.file_format)))
        if not errors:
            counts = load.finish(replace=mode == "replace")
            tables.ensure_key_index(session.connection(), table)
        if errors:
            savepoint.rollback()
            errors.sort(key=lambda e: (e.row, e.field))
        else:
            record.inserted, record.updated, record.deleted, record.unchanged = (
                counts.inserted,
                counts.updated,
                counts.deleted,
                counts.unchanged,
            )
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

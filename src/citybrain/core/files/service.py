"""Storing and reading files; reads go through organisation scoping."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth.principal import Principal
from citybrain.core.auth.scoping import Visibility, visible_to
from citybrain.core.errors import FieldError, Forbidden, NotFound, ValidationFailed
from citybrain.core.files.models import StoredFile

#: Largest upload accepted, bytes.
MAX_SIZE = 50 * 1024 * 1024
_CHUNK = 1024 * 1024


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def store(
    session: Session,
    principal: Principal,
    root: Path,
    stream: BinaryIO,
    *,
    name: str,
    media_type: str,
    visibility: Visibility = Visibility.PRIVATE,
) -> StoredFile:
    """Save ``stream`` under its SHA-256 (identical content is kept once) and record it for the
    caller's organisation. Files over :data:`MAX_SIZE` bytes are refused."""
    if principal.org_id is None:
        raise Forbidden("files.needs_org")
    clean_name = os.path.basename(name.replace("\\", "/")).strip() or "file"
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=root, delete=False) as tmp:
        try:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > MAX_SIZE:
                    raise ValidationFailed(
                        "files.too_large", errors=[FieldError(("body", "file"), "files.too_large", {"max_mb": MAX_SIZE // 2**20})]
                    )
                digest.update(chunk)
                tmp.write(chunk)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    sha = digest.hexdigest()
    target = blob_path(root, sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        Path(tmp.name).unlink()
    else:
        os.replace(tmp.name, target)
    row = StoredFile(
        sha256=sha,
        name=clean_name[:255],
        media_type=media_type[:127] or "application/octet-stream",
        size=size,
        owner_org_id=principal.org_id,
        visibility=visibility,
        created_by=principal.actor_ref(),
        created_by_user_id=principal.id if principal.kind == "user" else None,
    )
    session.add(row)
    session.flush()
    audit.record(session, principal, "file.stored", subject_type=StoredFile.subject_type, subject_id=row.id, detail={"sha256": sha})
    return row


def get(session: Session, principal: Principal, file_id: int) -> StoredFile:
    """The file if the caller may see it; otherwise not found (existence is not revealed)."""
    row = session.scalar(select(StoredFile).where(StoredFile.id == file_id, visible_to(StoredFile, principal)))
    if row is None:
        raise NotFound("files.not_found", id=file_id)
    return row


def list_visible(session: Session, principal: Principal, *, offset: int = 0, limit: int = 100) -> tuple[Sequence[StoredFile], int]:
    stmt = select(StoredFile).where(visible_to(StoredFile, principal))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return session.scalars(stmt.order_by(StoredFile.id.desc()).offset(offset).limit(limit)).all(), total

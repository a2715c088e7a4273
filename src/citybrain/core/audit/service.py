"""Writing and verifying the audit log.

:func:`record` adds an entry in the caller's transaction, so the entry commits or rolls back with the
change it records. :func:`verify` walks the chain and names the first entry that was altered,
removed or inserted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from citybrain.core.audit.chain import CHAINED_FIELDS, GENESIS_HASH, entry_hash
from citybrain.core.audit.models import AuditEntry, AuditHead
from citybrain.core.auth.principal import Principal
from citybrain.core.context import current_request_id
from citybrain.core.db.base import utcnow
from citybrain.core.errors import ValidationFailed


def _lock_head(session: Session) -> tuple[int, str]:
    """Advance the head's sequence and return (new seq, previous hash), holding its row lock.

    The UPDATE comes first so that on SQLite it takes the write lock before anything is read, and on
    PostgreSQL it holds the row lock until commit: two writers can never chain onto the same entry.
    """
    row = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1).returning(AuditHead.seq, AuditHead.hash)
    ).first()
    if row is None:
        session.add(AuditHead(id=1, seq=1, hash=GENESIS_HASH))
        session.flush()
        return 1, GENESIS_HASH
    return int(row[0]), str(row[1])


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    purpose: str | None = None,
    personal: bool = False,
    detail: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> AuditEntry:
    """Append an entry for ``action`` by ``principal`` (not committed: the caller's transaction is).

    ``personal=True`` marks a read or change of personal data, which needs a ``purpose``.
    """
    if personal and not (purpose and purpose.strip()):
        raise ValidationFailed("audit.purpose_required")
    seq, prev_hash = _lock_head(session)
    fields: dict[str, Any] = {
        "seq": seq,
        "at": utcnow(),
        "actor": principal.actor_ref() if principal.via != "cli" else f"cli:{principal.name}",
        "actor_name": principal.name,
        "org_id": org_id if org_id is not None else principal.org_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": None if subject_id is None else str(subject_id),
        "purpose": purpose.strip() if purpose else None,
        "personal": personal,
        "request_id": current_request_id(),
        "detail": detail or {},
        "prev_hash": prev_hash,
    }
    digest = entry_hash(fields)
    entry = AuditEntry(**fields, hash=digest)
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None  # message key: audit.altered, audit.removed, audit.truncated, ...

    @property
    def params(self) -> dict[str, Any]:
        return {"seq": self.first_bad_seq, "checked": self.checked}


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in CHAINED_FIELDS}


def iter_entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def list_entries(
    session: Session,
    *,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[AuditEntry], int]:
    """Entries newest first, filtered by action and subject, and how many match."""
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if subject_type:
        stmt = stmt.where(AuditEntry.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditEntry.subject_id == subject_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return session.scalars(stmt.order_by(AuditEntry.seq.desc()).offset(offset).limit(limit)).all(), total


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def verify(session: Session, progress: Any = None) -> VerifyResult:
    """Walk the chain from the first entry; report the first one that does not fit.

    - an entry whose stored hash is not the hash of its content was **altered**;
    - a gap in the sequence, or a ``prev_hash`` that is not the previous entry's hash, means entries
      were **removed** (or inserted) there;
    - a head that points past the last entry means the tail was **truncated**.
    ``progress`` (optional) is called with the number of entries checked so far.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in iter_entries(session):
        if entry.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, "audit.removed")
        if entry_hash(_fields(entry)) != entry.hash:
            return VerifyResult(False, checked, entry.seq, "audit.altered")
        if entry.prev_hash != expected_prev:
            # The content hashes, but it does not chain onto its predecessor: the predecessor was
            # altered together with its stored hash, or replaced.
            return VerifyResult(False, checked, entry.seq - 1, "audit.altered")
        expected_prev = entry.hash
        expected_seq += 1
        checked += 1
        if progress is not None and checked % 1000 == 0:
            progress(checked)
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != expected_prev):
        if head.seq > expected_seq - 1:
            return VerifyResult(False, checked, expected_seq, "audit.truncated")
        return VerifyResult(False, checked, expected_seq - 1, "audit.head_mismatch")
    if progress is not None:
        progress(checked)
    return VerifyResult(True, checked)

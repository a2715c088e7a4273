"""Writing and verifying the audit log.

:func:`record` adds an entry in the caller's transaction, so the entry commits or rolls back with the
change it records; :func:`append` adds many at once (the group-commit writer's batches).
:func:`verify` walks the chain and names the first entry that was altered, removed or inserted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from citybrain.core.audit.chain import CHAINED_FIELDS, GENESIS_HASH, entry_hash
from citybrain.core.audit.models import AuditEntry, AuditHead
from citybrain.core.auth.principal import Principal
from citybrain.core.context import current_request_id
from citybrain.core.db.base import utcnow
from citybrain.core.db.prepared import Prepared, dbapi_connection
from citybrain.core.errors import ValidationFailed


def _advance_head(session: Session, count: int) -> tuple[int, str]:
    """Advance the head's sequence by ``count`` and return (the first new seq, the previous hash),
    holding its row lock.

    The UPDATE comes first so that on SQLite it takes the write lock before anything is read, and on
    PostgreSQL it holds the row lock until commit: two writers can never chain onto the same entry.
    """
    row = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + count).returning(AuditHead.seq, AuditHead.hash)
    ).first()
    if row is None:
        session.add(AuditHead(id=1, seq=count, hash=GENESIS_HASH))
        session.flush()
        return 1, GENESIS_HASH
    return int(row[0]) - count + 1, str(row[1])


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry with everything but its place in the chain (``seq`` and ``prev_hash``), which
    :func:`append` gives it. Built by :func:`entry` at the moment of the act it records."""

    at: datetime
    actor: str
    actor_name: str
    org_id: int | None
    action: str
    subject_type: str | None
    subject_id: str | None
    purpose: str | None
    personal: bool
    request_id: str | None
    detail: dict[str, Any]


def entry(
    principal: Principal,
    action: str,
    *,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    purpose: str | None = None,
    personal: bool = False,
    detail: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> PendingEntry:
    """An entry for ``action`` by ``principal``, now, in the current request; not yet written.

    ``personal=True`` marks a read or change of personal data, which needs a ``purpose``.
    """
    if personal and not (purpose and purpose.strip()):
        raise ValidationFailed("audit.purpose_required")
    return PendingEntry(
        at=utcnow(),
        actor=principal.actor_ref() if principal.via != "cli" else f"cli:{principal.name}",
        actor_name=principal.name,
        org_id=org_id if org_id is not None else principal.org_id,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        purpose=purpose.strip() if purpose else None,
        personal=personal,
        request_id=current_request_id(),
        detail=detail or {},
    )


def _chained(pending: Sequence[PendingEntry], first_seq: int, prev_hash: str) -> list[dict[str, Any]]:
    rows = []
    for offset, item in enumerate(pending):
        fields: dict[str, Any] = {name: getattr(item, name) for name in PendingEntry.__slots__}
        fields["seq"], fields["prev_hash"] = first_seq + offset, prev_hash
        fields["hash"] = prev_hash = entry_hash(fields)
        rows.append(fields)
    return rows


@lru_cache(maxsize=16)
def _batch_statements(dialect: Dialect) -> tuple[Prepared, Prepared, Prepared, Prepared]:
    head = cast(Table, AuditHead.__table__)
    advance = update(head).where(head.c.id == 1).values(seq=head.c.seq + bindparam("count", type_=Integer()))
    return (
        Prepared(advance.returning(head.c.seq, head.c.hash), dialect),
        Prepared(insert(head), dialect, columns=["id", "seq", "hash"]),
        Prepared(insert(AuditEntry), dialect, columns=[*CHAINED_FIELDS, "hash"]),
        Prepared(update(head).where(head.c.id == 1).values(hash=bindparam("head_hash")), dialect),
    )


def append(session: Session, pending: Sequence[PendingEntry]) -> None:
    """Append ``pending`` to the chain in this order, in the caller's transaction (not committed).

    The head is locked and moved once for all of them: this is how the group-commit writer
    (:mod:`citybrain.core.audit.writer`) records the reads of many concurrent calls in one
    transaction. The statements are prepared ones on the transaction's own connection (see
    :mod:`citybrain.core.db.prepared`); the session's identity map is not updated.
    """
    if not pending:
        return
    advance, start, add, move = _batch_statements(session.get_bind().dialect)
    connection = dbapi_connection(session)
    found = advance.rows(connection, {"count": len(pending)})
    if not found:
        start.run(connection, [{"id": 1, "seq": len(pending), "hash": GENESIS_HASH}])
        first_seq, prev_hash = 1, GENESIS_HASH
    else:
        first_seq, prev_hash = int(found[0][0]) - len(pending) + 1, str(found[0][1])
    rows = _chained(pending, first_seq, prev_hash)
    add.run(connection, rows)
    move.run(connection, [{"head_hash": rows[-1]["hash"]}])


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
    pending = entry(
        principal,
        action,
        subject_type=subject_type,
        subject_id=subject_id,
        purpose=purpose,
        personal=personal,
        detail=detail,
        org_id=org_id,
    )
    seq, prev_hash = _advance_head(session, 1)
    (fields,) = _chained([pending], seq, prev_hash)
    row = AuditEntry(**fields)
    session.add(row)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=row.hash))
    session.flush()
    return row


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

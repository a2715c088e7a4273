"""Audit tables: the entries and the chain head (one row: last sequence number and hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.core.db.base import Base, utcnow
from citybrain.core.db.types import JSONType, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "core_audit_log"
    #: a subject's history (e.g. a person's access trail) is looked up by type and id
    __table_args__ = (Index("ix_core_audit_log_subject", "subject_type", "subject_id"),)

    #: 1, 2, 3, ... with no gaps: a missing number is a removed entry.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # "user:3", "system:7", "cli", "anonymous"
    actor_name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)  # "user.created", "person.read"
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    #: Why personal data was read; required for such reads.
    purpose: Mapped[str | None] = mapped_column(Text)
    personal: Mapped[bool] = mapped_column(default=False)
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: SHA-256 (hex) of the previous entry's canonical form; 64 zeros for the first.
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 (hex) of this entry's canonical form (which includes ``prev_hash``).
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head. Appending locks this row, so entries form one chain under concurrency,
    and verification can tell a truncated tail from an intact one."""

    __tablename__ = "core_audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    hash: Mapped[str] = mapped_column(String(64))

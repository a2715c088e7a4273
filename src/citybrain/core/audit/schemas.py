"""Pydantic shapes of audit entries and verification results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
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
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    total: int


class AuditVerifyRead(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    message: str

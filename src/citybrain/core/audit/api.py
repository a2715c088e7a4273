"""``/api/v1/audit``: read and verify the audit log (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from citybrain.core.audit import service
from citybrain.core.audit.schemas import AuditEntryRead, AuditPage, AuditVerifyRead
from citybrain.core.auth.principal import AUDIT_READ, Principal
from citybrain.core.i18n import translate
from citybrain.core.web.deps import SessionDep, require
from citybrain.core.web.params import Limit, Offset

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("")
def list_entries(
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    subject_type: Annotated[str | None, Query(max_length=64)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Offset = 0,
    limit: Limit = 100,
    _: Principal = require(AUDIT_READ),
) -> AuditPage:
    """Newest entries first, filtered by action and subject."""
    rows, total = service.list_entries(session, action=action, subject_type=subject_type, subject_id=subject_id, offset=offset, limit=limit)
    return AuditPage(items=[AuditEntryRead.model_validate(r) for r in rows], total=total)


@router.post("/verify")
def verify(request: Request, session: SessionDep, _: Principal = require(AUDIT_READ)) -> AuditVerifyRead:
    """Walk the hash chain; name the first entry that was altered or removed."""
    result = service.verify(session)
    lang = getattr(request.state, "lang", "zh-CN")
    message = translate(result.reason or "audit.intact", lang, result.params)
    return AuditVerifyRead(ok=result.ok, checked=result.checked, first_bad_seq=result.first_bad_seq, reason=result.reason, message=message)

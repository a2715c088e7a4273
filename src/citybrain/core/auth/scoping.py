"""Organisation scoping: rows belong to an organisation and are private to it by default.

A table mixes in :class:`OrgOwned` and reads go through :func:`visible_to`. Another organisation
sees a private row only through a :class:`~citybrain.core.auth.models.Grant` from the owner, for
that row or for all the owner's rows of that type. This holds for admins too: running the platform
is not a licence to read a department's data.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, String, and_, exists, false, or_, select, true
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from citybrain.core.auth.models import Grant
from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow


class Visibility(StrEnum):
    PRIVATE = "private"  # the owner and grantees only
    SHARED = "shared"  # every logged-in organisation (无条件共享)
    PUBLIC = "public"  # anyone, without login (open data)


class OrgOwned:
    """Mixin: ``owner_org_id`` and ``visibility`` columns."""

    #: the name grants use for rows of this table, e.g. ``"core.file"``
    subject_type: str

    @declared_attr
    def owner_org_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(ForeignKey("core_organisations.id"), index=True)

    @declared_attr
    def visibility(cls) -> Mapped[str]:  # noqa: N805
        return mapped_column(String(16), default=Visibility.PRIVATE)


def granted_filter(model: Any, principal: Principal) -> ColumnElement[bool]:
    """Rows of ``model`` some live grant lets ``principal``'s organisation read."""
    if principal.org_id is None:
        return false()
    now = utcnow()
    return exists(
        select(Grant.id).where(
            Grant.grantee_org_id == principal.org_id,
            Grant.grantor_org_id == model.owner_org_id,
            Grant.subject_type == model.subject_type,
            or_(Grant.subject_id.is_(None), Grant.subject_id == model.id.cast(String)),
            Grant.revoked_at.is_(None),
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    )


def visible_to(model: Any, principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause: the rows of ``model`` that ``principal`` may read."""
    if principal.via == "cli":
        return true()
    clauses: list[ColumnElement[bool]] = [model.visibility == Visibility.PUBLIC]
    if principal.authenticated:
        clauses.append(model.visibility == Visibility.SHARED)
        if principal.org_id is not None:
            clauses.append(model.owner_org_id == principal.org_id)
            clauses.append(and_(model.visibility == Visibility.PRIVATE, granted_filter(model, principal)))
    return or_(*clauses)

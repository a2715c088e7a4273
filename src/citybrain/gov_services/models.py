"""Tables of the government-services domain: the e-licence registry (电子证照库) and the keys that
sign its licences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.core.db.base import Base, IdMixin, TimestampMixin
from citybrain.core.db.types import JSONType, UTCDateTime


class LicenceKey(IdMixin, TimestampMixin, Base):
    """An issuing department's signing key. Only its PKCS#8 PEM encrypted under a key derived from
    the platform secret is kept, so a copy of the database alone cannot mint licences."""

    __tablename__ = "gov_licence_keys"

    issuer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    #: the CWT ``iss`` the key signs for: the issuing organisation's code
    issuer_code: Mapped[str] = mapped_column(String(64))
    #: 8 bytes, hex: the first 8 bytes of the SHA-256 of the public key (licences.key_id)
    kid: Mapped[str] = mapped_column(String(16), unique=True)
    #: EdDSA / ES256
    algorithm: Mapped[str] = mapped_column(String(8))
    encrypted_private_key: Mapped[str] = mapped_column(Text)
    #: SubjectPublicKeyInfo DER, base64: what the trust list publishes
    public_key: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the end of its signing period (rotation); None while it is the issuer's current key
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: taken off the trust list (compromised): its licences then fail with licence.key_withdrawn
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Licence(IdMixin, TimestampMixin, Base):
    """One issued licence: what its code says (holder masked), who holds and issued it, and whether
    it was revoked. The code itself is kept so the holder can show it again."""

    __tablename__ = "gov_licences"
    __table_args__ = (Index("ix_gov_licences_holder", "holder_kind", "holder_ref"),)

    #: readable and unique, e.g. ``JN-SP-2026-000123``
    licence_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: the licence kind's code (``SP``: 食品经营许可证) and name
    kind: Mapped[str] = mapped_column(String(32), index=True)
    kind_name: Mapped[str] = mapped_column(String(200))
    #: person / organisation
    holder_kind: Mapped[str] = mapped_column(String(16))
    #: as printed in the code: a person's name and resident ID masked, an organisation's in clear
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_identifier: Mapped[str] = mapped_column(String(32))
    #: a person's pseudonym (core identity.person_ref) or an organisation's credit code
    holder_ref: Mapped[str] = mapped_column(String(64))
    #: the holder's citizen account, when one is bound to that person
    holder_user_id: Mapped[int | None] = mapped_column(ForeignKey("core_users.id"), index=True)
    issuer_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    issuer_code: Mapped[str] = mapped_column(String(64))
    issuer_name: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: None: no end date (长期有效)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: the ``CB1:`` code (what the QR code holds)
    code: Mapped[str] = mapped_column(Text)
    kid: Mapped[str] = mapped_column(String(16))
    issued_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    #: the application that produced it (the applications slice fills this in)
    application_id: Mapped[int | None] = mapped_column(Integer, index=True)

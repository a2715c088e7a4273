"""Request and response shapes of the government-services API (e-licences)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LICENCE_KIND = r"^[A-Z][A-Z0-9]{0,15}$"
LICENCE_ID = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"


class HolderIn(BaseModel):
    """Who the licence is for: a person (name and resident ID number) or an organisation (name and
    unified social credit code). The ID number is never stored or printed in clear."""

    kind: Literal["person", "organisation"]
    name: str = Field(min_length=1, max_length=100)
    id_number: str | None = Field(None, max_length=18, description="a person's resident ID number (GB 11643)")
    credit_code: str | None = Field(None, max_length=18, description="an organisation's unified social credit code (GB 32100)")


class LicenceCreate(BaseModel):
    kind: str = Field(pattern=LICENCE_KIND, description="the licence kind's code, e.g. SP (食品经营许可证)")
    kind_name: str = Field(min_length=1, max_length=100)
    holder: HolderIn
    fields: dict[str, Any] = Field(default_factory=dict, description="the licence's own fields (scope, address, ...)")
    valid_days: int | None = Field(365, ge=1, le=36500, description="days of validity; null: no end date (长期有效)")
    issuer_org_code: str | None = Field(None, max_length=64, description="default: the caller's organisation (others: bureau only)")
    application_id: int | None = None


class LicenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    licence_id: str
    kind: str
    kind_name: str
    holder_kind: str
    holder_name: str
    holder_identifier: str
    issuer_code: str
    issuer_name: str
    issued_at: datetime
    expires_at: datetime | None
    fields: dict[str, Any]
    code: str
    kid: str
    revoked_at: datetime | None
    revoke_reason: str | None
    application_id: int | None


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class VerifyRequest(BaseModel):
    code: str = Field(max_length=8192, description="the text of the licence QR code (CB1:...)")


class ClaimsRead(BaseModel):
    """What the code says, as printed in it (a person's name and ID number are masked there)."""

    licence_id: str
    kind: str
    kind_name: str
    holder_kind: str
    holder_name: str
    holder_identifier: str
    issuer: str
    issuer_name: str
    issued_at: datetime
    expires_at: datetime | None
    fields: dict[str, Any]


class VerificationRead(BaseModel):
    valid: bool
    #: a stable key (licence.expired, licence.revoked, ...); null when valid
    reason: str | None
    message: str
    kid: str | None
    claims: ClaimsRead | None


class SignedDocument(BaseModel):
    """A published list: ``document`` is the exact JSON text that ``signature`` (a detached JWS,
    RFC 7515 appendix F) signs; check it against the pinned trust anchor, then parse it."""

    document: str
    signature: str
    anchor_kid: str


class TrustAnchorRead(BaseModel):
    """The public key to pin in offline verifiers (SubjectPublicKeyInfo DER, base64)."""

    kid: str
    algorithm: str
    public_key: str
    public_key_pem: str


class LicenceFigures(BaseModel):
    issued: int
    revoked: int
    active_keys: int
    verifications: int
    verifications_valid: int

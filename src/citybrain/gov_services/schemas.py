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


# --- service items and applications ----------------------------------------------------------------

ITEM_CODE = r"^[a-z][a-z0-9_]{1,63}$"
APPLICATION_NUMBER = r"^SQ-[0-9]{4}-[0-9]{6,}$"


class MaterialSpec(BaseModel):
    """One material of an item: uploaded by the applicant, or filled from a registry through a
    governed data service (``service``: its code; ``kind`` lookup by the applicant's key, or query
    with ``match`` = the applicant's key), or from the applicant's e-licences (``licence_kind``)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    name: str = Field(min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    source: Literal["upload", "registry", "licence"]
    required: bool = True
    service: str | None = Field(None, max_length=64)
    kind: Literal["lookup", "query"] = "lookup"
    match: str | None = Field(None, max_length=64)
    fields: list[str] | None = None
    licence_kind: str | None = Field(None, pattern=LICENCE_KIND)


class LicenceSpec(BaseModel):
    """A licence the item issues when ``on`` (``decision``, or a process id) ends approved."""

    on: str = Field(min_length=1, max_length=64)
    kind: str = Field(pattern=LICENCE_KIND)
    kind_name: str = Field(min_length=1, max_length=100)
    issuer: str | None = Field(None, max_length=64, description="organisation code; default: the item's department")
    valid_days: int | None = Field(None, ge=1, le=36500)
    fields: dict[str, Any] = Field(default_factory=dict, description="label -> form.<f> | fact.<f> | material.<k>.<f> | literal")


class ItemCreate(BaseModel):
    code: str = Field(pattern=ITEM_CODE)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    department_code: str = Field(max_length=64)
    kind: str = Field(min_length=1, max_length=32, description="行政许可 / 行政确认 / 行政给付 / 公共服务 ...")
    summary: str = Field("", max_length=4000)
    conditions: str = Field("", max_length=4000)
    legal_basis: str = Field("", max_length=4000)
    statutory_days: int = Field(ge=0, le=365)
    promised_days: int = Field(ge=0, le=365)
    fee: str = Field("不收费", max_length=200)
    channels: list[str] = Field(default_factory=lambda: ["网上办"])
    applicant_kinds: list[Literal["person", "organisation"]] = Field(default_factory=lambda: ["person"])
    materials: list[MaterialSpec] = Field(default_factory=list, max_length=40)
    form_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    facts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    process_id: str | None = Field(None, max_length=64)
    lane_orgs: dict[str, str] = Field(default_factory=dict)
    decision_id: str | None = Field(None, max_length=64)
    bpmn: str | None = Field(None, max_length=1_000_000, description="the process as BPMN 2.0 XML (default: a shipped process_id)")
    dmn: str | None = Field(None, max_length=2_000_000, description="the decision table as DMN XML (default: a shipped decision_id)")
    licences: list[LicenceSpec] = Field(default_factory=list, max_length=10)
    published: bool = True


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str | None
    kind: str
    summary: str
    conditions: str
    legal_basis: str
    statutory_days: int
    promised_days: int
    fee: str
    channels: list[str]
    applicant_kinds: list[str]
    materials: list[dict[str, Any]]
    form_schema: dict[str, Any]
    process_id: str | None
    decision_id: str | None
    instant: bool = False


class ApplicationStart(BaseModel):
    item: str = Field(pattern=ITEM_CODE)
    id_number: str | None = Field(None, max_length=18, description="a citizen confirms their own resident ID number")
    form: dict[str, Any] | None = Field(None, description="given: submit at once with this form")


class SubmitRequest(BaseModel):
    form: dict[str, Any] = Field(default_factory=dict)


class TaskComplete(BaseModel):
    decision: Literal["approve", "reject", "request_more"] | None = None
    note: str | None = Field(None, max_length=1000)


class ReasonRequest(BaseModel):
    reason: str = Field("", max_length=500)


class RatingRequest(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=500)


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    actor: str | None
    department: str | None
    role: str | None
    name: str | None
    outcome: str | None
    note: str | None


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    task_id: str
    task: str
    name: str
    process_id: str
    department: str | None
    role: str | None
    due_at: datetime | None
    overdue: bool


class ApplicationRead(BaseModel):
    number: str
    item: str
    item_name: str
    status: str
    applicant_kind: str
    applicant_name: str
    form: dict[str, Any]
    materials: dict[str, Any]
    facts: dict[str, Any]
    decision: dict[str, Any] | None
    instant: bool
    submitted_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    rating: int | None
    timeline: list[EventRead]
    tasks: list[TaskRead]
    licences: list[LicenceRead]


class QueueRead(BaseModel):
    number: str
    item: str
    item_name: str
    applicant_name: str
    task: TaskRead

"""Tables of the government-services domain: the e-licence registry (电子证照库) and the keys that
sign its licences; service items (事项), applications (办件), their timelines and the work queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
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


class ServiceItem(IdMixin, TimestampMixin, Base):
    """A published service item (政务服务事项) as its service guide (办事指南) shows it, with what
    runs it: a form (JSON Schema), the materials (uploaded, or filled from a registry or licence),
    the facts instant approval reads, a BPMN process and a DMN decision, and the licences it issues."""

    __tablename__ = "gov_service_items"

    #: stable and readable, e.g. ``elderly_preferential_card``
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    department_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    #: 行政许可 / 行政确认 / 行政给付 / 公共服务 ...
    kind: Mapped[str] = mapped_column(String(32), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    #: days the law allows and days the department promises (calendar days)
    statutory_days: Mapped[int] = mapped_column(Integer)
    promised_days: Mapped[int] = mapped_column(Integer)
    fee: Mapped[str] = mapped_column(String(200), default="不收费")
    #: e.g. ``["网上办", "掌上办", "窗口办"]``
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: ``["person"]``, ``["organisation"]`` or both
    applicant_kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    form_schema: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: a demo process id (``processes/<id>.bpmn``) run for manual handling; None: instant only
    process_id: Mapped[str | None] = mapped_column(String(64))
    #: lane department name (as the BPMN says it) -> organisation code
    lane_orgs: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    #: the department's own BPMN document (validated at publishing; no Python runs from it), else
    #: ``process_id`` names a shipped process (``processes/<id>.bpmn``)
    bpmn: Mapped[str | None] = mapped_column(Text)
    #: the decision table's id for instant approval (秒批); None: none
    decision_id: Mapped[str | None] = mapped_column(String(64))
    #: the department's own DMN document (UNIQUE overlaps refused at publishing), else the shipped
    #: table ``dmn/<decision_id>.dmn``
    dmn: Mapped[str | None] = mapped_column(Text)
    #: licences issued when a process (this one, or one a bundle calls) ends approved
    licences: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    #: lower-cased words of name, summary, department and kind: what the guide's search matches
    search_text: Mapped[str] = mapped_column(Text, default="")


class Application(IdMixin, TimestampMixin, Base):
    """One application (办件): who applied for which item, the form and materials, the decision
    with its reasons, the running process's saved state, deadlines and the applicant's rating."""

    __tablename__ = "gov_applications"
    __table_args__ = (Index("ix_gov_applications_item_status", "item_id", "status"),)

    #: readable, e.g. ``SQ-2026-000123``
    number: Mapped[str] = mapped_column(String(32), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("gov_service_items.id"))
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("core_users.id"), index=True)
    applicant_org_id: Mapped[int | None] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    #: person / organisation
    applicant_kind: Mapped[str] = mapped_column(String(16))
    applicant_name: Mapped[str] = mapped_column(String(200))
    #: a person's pseudonym (identity.person_ref) or an organisation's credit code
    applicant_ref: Mapped[str] = mapped_column(String(64), index=True)
    #: a person's resident ID number, encrypted under a key derived from the platform secret (kept to
    #: issue the licence when staff finish the case; never shown)
    sealed_identifier: Mapped[str | None] = mapped_column(Text)
    #: draft / submitted / in_progress / supplement / approved / rejected / withdrawn
    status: Mapped[str] = mapped_column(String(16), index=True)
    form_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: material key -> {source, status, values, masked, file_id, sha256, ...}
    materials: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: the facts instant approval read (age, household_district, ...)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: the decision record: outcome, reasons, the rules that fired and the facts used
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: decided by the rules in seconds (秒批), without a person
    instant: Mapped[bool] = mapped_column(Boolean, default=False)
    manual_review_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ProcessInstance.dumps() of the running case (None before a process starts)
    instance_state: Mapped[str | None] = mapped_column(Text)
    #: when the process next has a timer to fire (what the periodic job looks for)
    next_timer_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: the promised and the statutory deadline, from submission
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    statutory_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: 1-5 after completion (好差评)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)


class ApplicationEvent(IdMixin, Base):
    """One line of an application's status timeline, as the applicant and staff see it."""

    __tablename__ = "gov_application_events"

    application_id: Mapped[int] = mapped_column(ForeignKey("gov_applications.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: submitted, filled, uploaded, decided, task_completed, supplement_requested, supplemented,
    #: timer_fired, licence_issued, manual_review, withdrawn, completed, rated
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class WorkTask(IdMixin, Base):
    """A ready user task of a running application, as a department's work queue lists it. Derived
    from the saved process after every change (the process state is the truth)."""

    __tablename__ = "gov_work_tasks"
    __table_args__ = (Index("ix_gov_work_tasks_queue", "org_id", "role"),)

    application_id: Mapped[int] = mapped_column(ForeignKey("gov_applications.id", ondelete="CASCADE"), index=True)
    #: SpiffWorkflow's task id (a UUID)
    task_id: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    process_id: Mapped[str] = mapped_column(String(64))
    #: the lane's department name and role as the BPMN says them
    department: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(64))
    #: the organisation working it (from the item's lane_orgs); None for the applicant's tasks
    org_id: Mapped[int | None] = mapped_column(ForeignKey("core_organisations.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime())

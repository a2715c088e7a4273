"""Service items and applications (issue #5 §1, §2, §4, §6): the business functions.

A department publishes a **service item** (事项) with its guide, form (JSON Schema), materials, the
facts instant approval reads, a BPMN process (:mod:`workflow`) and a DMN decision
(:mod:`decisions`). Anyone reads the guide without logging in.

An **application** (办件) goes: *start* (the applicant's identity is checked and every registry or
licence material is filled, each fill a governed data-service call of the item's department, with
its purpose, so it lands in the citizen's access trail) → *upload* the rest (type sniffed from the
magic bytes, size checked, stored by content hash in the kernel's file store, never executed) →
*submit* (the form is validated with ``jsonschema``; nothing changes when it fails). Then either the
decision table decides in the same request (秒批: the outcome, the rules that fired and the facts are
stored and shown; approved results become e-licences through :func:`service.issue_licence`), or the
item's process starts and its ready user tasks become rows of the departments' work queues. Staff
complete tasks (受理, 审查, 决定 ...), may ask for more material (补正, the applicant answers), the
applicant may withdraw, and a periodic job (:func:`tick`) fires timers on statutory deadlines. The
process state is saved in the application row after every step, so a restart resumes it.

Services never commit: the request, command or job that calls them owns the transaction.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth import identity
from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow
from citybrain.core.errors import CitybrainError, Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from citybrain.gov_services import decisions, forms, workflow
from citybrain.gov_services.models import Application, ApplicationEvent, Licence, ServiceItem, WorkTask

#: publish service items (a department's data stewards, for their department)
PUBLISH = "gov:publish"
#: work on applications in one's department's queue (gov staff roles)
WORK = "gov:work"

#: staff roles: window clerks accept, reviewers examine, approvers decide (and handle escalations)
CLERK = "gov_clerk"
REVIEWER = "gov_reviewer"
APPROVER = "gov_approver"
STAFF_ROLES = (CLERK, REVIEWER, APPROVER)
#: a BPMN lane's role (as the process names it) -> the platform role that works it
LANE_ROLES: Mapping[str, str] = {"受理": CLERK, "综合窗口": CLERK, "审查": REVIEWER, "督办": APPROVER, "决定": APPROVER}
#: the lane whose tasks the applicant works (补正材料)
APPLICANT_LANE = "申请人"
DECISIONS = ("approve", "reject", "request_more")

SUBJECT = "gov.application"
CITY = ZoneInfo("Asia/Shanghai")
OPEN = ("draft", "in_progress", "supplement")
ENDED = ("approved", "rejected", "withdrawn", "completed")


# --- errors -------------------------------------------------------------------------------------


class ItemNotFound(NotFound):
    default_key = "gov.item_not_found"


class ApplicationNotFound(NotFound):
    """No such application, or not one the caller may see (not told apart)."""

    default_key = "gov.application_not_found"


class WrongState(Conflict):
    default_key = "gov.application_wrong_state"


class BadItem(ValidationFailed):
    default_key = "gov.bad_item"


class FormInvalid(ValidationFailed):
    default_key = "gov.form_invalid"


class BadUpload(ValidationFailed):
    default_key = "gov.bad_upload"


class NotYourTask(Forbidden):
    default_key = "gov.not_your_task"


# --- definitions (parsed once per process) ------------------------------------------------------


@lru_cache(maxsize=64)
def process_definition(process_id: str) -> workflow.ProcessDefinition:
    """A demo process, parsed and validated once per server process (parsing costs ~50 ms)."""
    return workflow.load_demo_process(process_id)


@lru_cache(maxsize=64)
def decision_table(decision_id: str) -> decisions.DecisionTable:
    """A demo decision table, parsed and checked (UNIQUE overlaps refused) once per server process."""
    table = decisions.demo_table(decision_id)
    decisions.check_table(table)
    return table


@lru_cache(maxsize=64)
def _uploaded_process(process_id: str, document: str) -> workflow.ProcessDefinition:
    return workflow.load_process(process_id, ("uploaded.bpmn", document.encode()))


@lru_cache(maxsize=64)
def _uploaded_table(decision_id: str, document: str) -> decisions.DecisionTable:
    tables = decisions.validate_upload(document)  # every table parsed and checked (UNIQUE overlaps)
    if decision_id not in tables:
        raise decisions.DmnFormatError(f"no decision {decision_id!r} in the document (it has: {', '.join(sorted(tables))})")
    return tables[decision_id]


def definition_of(process_id: str, bpmn: str | None) -> workflow.ProcessDefinition:
    """The item's process: its department's own BPMN when it has one, else the shipped one."""
    return _uploaded_process(process_id, bpmn) if bpmn else process_definition(process_id)


def table_of(decision_id: str, dmn: str | None) -> decisions.DecisionTable:
    """The item's decision table: its department's own DMN when it has one, else the shipped one."""
    return _uploaded_table(decision_id, dmn) if dmn else decision_table(decision_id)


def _clock(now: datetime | None) -> workflow.Clock:
    if now is None:
        return workflow.utc_now
    fixed = now.astimezone(UTC)
    return lambda: fixed


def _system(org_id: int, name: str, scopes: frozenset[str] = frozenset()) -> Principal:
    """The platform acting for a department (filling materials, issuing the result): audited under
    that department, as its systems' calls are."""
    return Principal(kind="system", id=None, name=name, org_id=org_id, scopes=scopes)


# --- service items ------------------------------------------------------------------------------


def _bad(path: tuple[str | int, ...], key: str, **params: Any) -> BadItem:
    return BadItem(errors=[FieldError(("body", *path), key, params)])


def _check_item(session: Session, data: Mapping[str, Any]) -> tuple[int, dict[str, str]]:
    from citybrain.core.auth import service as auth

    try:
        forms.check_schema(data.get("form_schema") or {"type": "object", "properties": {}})
    except forms.BadSchema as error:
        raise _bad(("form_schema",), "gov.item.bad_schema", reason=str(error)) from None
    keys = set()
    for i, material in enumerate(data.get("materials", [])):
        source = material.get("source")
        if source not in ("upload", "registry", "licence") or not material.get("key") or not material.get("name"):
            raise _bad(("materials", i), "gov.item.bad_material")
        if source == "registry" and (not material.get("service") or material.get("kind", "lookup") not in ("lookup", "query")):
            raise _bad(("materials", i, "service"), "gov.item.bad_material")
        keys.add(material["key"])
    for name, fact in (data.get("facts") or {}).items():
        origin = str(fact.get("from", ""))
        if fact.get("derive", "value") not in DERIVATIONS or not re.fullmatch(r"[^\W\d]\w*", name):
            raise _bad(("facts", name), "gov.item.bad_fact")
        if origin.startswith("material.") and origin.split(".")[1] not in keys:
            raise _bad(("facts", name), "gov.item.bad_fact")
    if data.get("dmn") and not data.get("decision_id"):
        raise _bad(("decision_id",), "gov.item.unknown_decision", decision="")
    if data.get("bpmn") and not data.get("process_id"):
        raise _bad(("process_id",), "gov.item.bad_process", reason="name the process id of the uploaded BPMN")
    if data.get("decision_id"):
        try:
            table = table_of(data["decision_id"], data.get("dmn"))
        except KeyError:
            raise _bad(("decision_id",), "gov.item.unknown_decision", decision=data["decision_id"]) from None
        except decisions.DecisionTableError as error:
            raise _bad(("dmn" if data.get("dmn") else "decision_id",), "gov.item.bad_decision", reason=str(error)) from None
        missing = [n for n in table.required_facts if n not in (data.get("facts") or {})]
        if missing:
            raise _bad(("facts",), "gov.item.facts_missing", facts=", ".join(missing))
    lane_orgs: dict[str, str] = dict(data.get("lane_orgs") or {})
    if data.get("process_id"):
        try:
            definition = definition_of(data["process_id"], data.get("bpmn"))
        except workflow.WorkflowError as error:
            raise _bad(("bpmn" if data.get("bpmn") else "process_id",), "gov.item.bad_process", reason=str(error)) from None
        lanes = _lane_departments(definition)
        unmapped = sorted(lanes - set(lane_orgs) - {APPLICANT_LANE})
        if unmapped:
            raise _bad(("lane_orgs",), "gov.item.lanes_unmapped", lanes="、".join(unmapped))
    for lane, code in lane_orgs.items():
        try:
            auth.get_org_by_code(session, code)
        except NotFound:
            raise _bad(("lane_orgs", lane), "gov.item.unknown_org", code=code) from None
    try:
        department = auth.get_org_by_code(session, str(data.get("department_code", "")))
    except NotFound:
        raise _bad(("department_code",), "gov.item.unknown_org", code=data.get("department_code")) from None
    for i, spec in enumerate(data.get("licences", [])):
        if not spec.get("kind") or not spec.get("kind_name") or not spec.get("on"):
            raise _bad(("licences", i), "gov.item.bad_licence_spec")
        try:
            auth.get_org_by_code(session, spec.get("issuer") or department.code)
        except NotFound:
            raise _bad(("licences", i, "issuer"), "gov.item.unknown_org", code=spec.get("issuer")) from None
    return department.id, lane_orgs


def _lane_departments(definition: workflow.ProcessDefinition) -> set[str]:
    names: set[str] = set()
    for spec in (definition.spec, *definition.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            department = (getattr(task_spec, "extensions", None) or {}).get("department")
            if department:
                names.add(department)
    return names


def publish_item(session: Session, principal: Principal, data: Mapping[str, Any], *, bureau_id: int | None = None) -> ServiceItem:
    """Publish (or republish, by ``code``) a service item. Every part is checked first and nothing
    is written when one fails: the form schema, materials, facts (each fact a decision table reads),
    the process (every lane department mapped to an organisation) and the licences it issues.
    Only the item's own department's stewards (``gov:publish``), the data bureau or an admin."""
    if not principal.has(PUBLISH):
        raise Forbidden("auth.missing_scope", scope=PUBLISH)
    department_id, lane_orgs = _check_item(session, data)
    if not (principal.is_admin or principal.org_id == department_id or (bureau_id is not None and principal.org_id == bureau_id)):
        raise Forbidden("gov.not_department")
    from citybrain.core.auth import service as auth

    department = auth.get_org(session, department_id)
    row = session.scalar(select(ServiceItem).where(ServiceItem.code == data["code"]))
    if row is None:
        row = ServiceItem(code=data["code"])
    row.name = data["name"]
    row.name_en = data.get("name_en")
    row.department_org_id = department_id
    row.kind = data["kind"]
    row.summary = data.get("summary", "")
    row.conditions = data.get("conditions", "")
    row.legal_basis = data.get("legal_basis", "")
    row.statutory_days = int(data["statutory_days"])
    row.promised_days = int(data["promised_days"])
    row.fee = data.get("fee", "不收费")
    row.channels = list(data.get("channels", ["网上办"]))
    row.applicant_kinds = list(data.get("applicant_kinds", ["person"]))
    row.materials = [dict(m) for m in data.get("materials", [])]
    row.form_schema = dict(data.get("form_schema") or {"type": "object", "properties": {}})
    row.facts = {k: dict(v) for k, v in (data.get("facts") or {}).items()}
    row.process_id = data.get("process_id")
    row.lane_orgs = lane_orgs
    row.decision_id = data.get("decision_id")
    row.bpmn = data.get("bpmn") or None
    row.dmn = data.get("dmn") or None
    row.licences = [dict(s) for s in data.get("licences", [])]
    row.published = bool(data.get("published", True))
    words = [row.code, row.name, row.name_en or "", row.summary, row.kind, department.name, department.name_en or "", row.conditions]
    row.search_text = " ".join(words).lower()
    session.add(row)
    session.flush()
    audit.record(session, principal, "gov.item.published", subject_type="gov.item", subject_id=row.code, detail={"name": row.name})
    return row


def get_item(session: Session, code: str) -> ServiceItem:
    """A published item by code (the guide's page: public)."""
    row = session.scalar(select(ServiceItem).where(ServiceItem.code == code, ServiceItem.published.is_(True)))
    if row is None:
        raise ItemNotFound(code=code)
    return row


def search_items(
    session: Session, q: str = "", *, kind: str | None = None, department_id: int | None = None, limit: int = 100
) -> Sequence[ServiceItem]:
    """Published items whose name, summary, department or kind contain every word of ``q`` (public)."""
    query = select(ServiceItem).where(ServiceItem.published.is_(True))
    for word in q.lower().split()[:8]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ServiceItem.search_text.like(f"%{escaped}%", escape="\\"))
    if kind:
        query = query.where(ServiceItem.kind == kind)
    if department_id is not None:
        query = query.where(ServiceItem.department_org_id == department_id)
    return session.scalars(query.order_by(ServiceItem.department_org_id, ServiceItem.code).limit(limit)).all()


def items_by_id(session: Session, ids: set[int]) -> Sequence[ServiceItem]:
    return session.scalars(select(ServiceItem).where(ServiceItem.id.in_(ids))).all() if ids else []


def item_kinds(session: Session) -> list[str]:
    return list(session.scalars(select(ServiceItem.kind).where(ServiceItem.published.is_(True)).distinct().order_by(ServiceItem.kind)))


# --- identity sealing -----------------------------------------------------------------------------


def _fernet(secret: str) -> Any:
    from cryptography.fernet import Fernet

    from citybrain.gov_services.service import _derive

    return Fernet(base64.urlsafe_b64encode(_derive(secret, b"application-identifiers v1")))


def _seal(secret: str, value: str) -> str:
    return str(_fernet(secret).encrypt(value.encode()).decode())


def _unseal(secret: str, token: str) -> str:
    return str(_fernet(secret).decrypt(token.encode()).decode())


# --- starting: identity and materials -------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    kind: str  # person / organisation
    name: str
    ref: str
    key: str  # the registry key: resident ID number or credit code (kept only in memory)
    user_id: int | None
    org_id: int | None


def _applicant(session: Session, principal: Principal, item: ServiceItem, id_number: str | None, secret: str) -> Applicant:
    from citybrain.core.auth.models import Organisation, OrgKind, User

    if principal.kind != "user" or principal.id is None:
        raise Forbidden("gov.applicant_only")
    user = session.get(User, principal.id)
    org = session.get(Organisation, principal.org_id) if principal.org_id is not None else None
    if user is None or org is None:
        raise Forbidden("gov.applicant_only")
    if org.kind == OrgKind.ENTERPRISE:
        if "organisation" not in item.applicant_kinds:
            raise Forbidden("gov.item_not_for_you")
        code = (org.credit_code or "").strip().upper()
        if not code:
            raise ValidationFailed(errors=[FieldError(("body", "credit_code"), "gov.bad_credit_code")])
        return Applicant("organisation", org.name, code, code, user.id, org.id)
    if "person" not in item.applicant_kinds:
        raise Forbidden("gov.item_not_for_you")
    number = (id_number or "").strip().upper()
    if user.person_ref is None:
        raise Forbidden("gov.identity_not_bound")
    if not identity.is_resident_id(number):
        raise ValidationFailed(errors=[FieldError(("body", "id_number"), "gov.bad_resident_id")])
    if identity.person_ref(secret, number) != user.person_ref:
        # Only one's own records may be filled in: the number must be the account holder's.
        raise ValidationFailed(errors=[FieldError(("body", "id_number"), "gov.id_not_yours")])
    return Applicant("person", user.display_name, user.person_ref, number, user.id, org.id)


def _event(session: Session, app: Application, kind: str, *, at: datetime | None = None, **details: Any) -> None:
    session.add(ApplicationEvent(application_id=app.id, at=at or utcnow(), kind=kind, **details))


def _holder_licences(session: Session, applicant_ref: str, holder_kind: str, now: datetime) -> Sequence[Licence]:
    return session.scalars(
        select(Licence)
        .where(Licence.holder_ref == applicant_ref, Licence.holder_kind == holder_kind, Licence.revoked_at.is_(None))
        .where(or_(Licence.expires_at.is_(None), Licence.expires_at > now))
        .order_by(Licence.id)
    ).all()


def _fill(session: Session, item: ServiceItem, app: Application, applicant: Applicant, secret: str, now: datetime) -> dict[str, Any]:
    """Every registry and licence material, filled; uploads left to the applicant."""
    from citybrain.datahub import service as datahub

    filled: dict[str, Any] = {}
    caller = _system(item.department_org_id, f"gov_services:{item.code}")
    for material in item.materials:
        key, source = material["key"], material["source"]
        if source == "upload":
            filled[key] = {"source": "upload", "status": "missing"}
            continue
        if source == "licence":
            held = [
                lic for lic in _holder_licences(session, applicant.ref, applicant.kind, now) if lic.kind == material.get("licence_kind")
            ]
            filled[key] = {
                "source": "licence",
                "status": "filled" if held else "not_found",
                "licence_id": held[-1].licence_id if held else None,
                "values": {"证照名称": held[-1].kind_name, "证照编号": held[-1].licence_id} if held else {},
            }
            continue
        service_code = material["service"]
        try:
            if material.get("kind", "lookup") == "lookup":
                result = datahub.call_data_service(
                    session, caller, service_code, secret=secret, key=applicant.key, fields=material.get("fields")
                )
            else:
                result = datahub.call_data_service(
                    session,
                    caller,
                    service_code,
                    secret=secret,
                    filters={material.get("match", "credit_code"): applicant.key},
                    fields=material.get("fields"),
                    limit=100,
                )
        except CitybrainError as error:
            # No grant, refused or rate limited: the applicant uploads it instead, or staff check it.
            filled[key] = {"source": "registry", "service": service_code, "status": "unavailable", "reason": error.key}
            continue
        rows = [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()} for row in result.rows]
        query = material.get("kind") == "query"
        filled[key] = {
            "source": "registry",
            "service": service_code,
            # a query's answer is the material even when it finds nothing (no credit records)
            "status": "filled" if rows or query else "not_found",
            "values": rows[0] if rows and material.get("kind", "lookup") == "lookup" else {},
            "rows": rows if material.get("kind") == "query" else None,
            "masked": list(result.masked or []),
            "filled_at": now.isoformat(),
        }
        _event(session, app, "filled", at=now, name=material["name"], outcome=filled[key]["status"], note=service_code)
    return filled


def _next_number(app: Application, now: datetime) -> str:
    return f"SQ-{now.astimezone(CITY).year}-{app.id:06d}"


def start_application(
    session: Session,
    principal: Principal,
    item_code: str,
    *,
    secret: str,
    id_number: str | None = None,
    now: datetime | None = None,
) -> Application:
    """Open a draft application for the logged-in citizen or company: check who they are (a
    citizen confirms their resident ID number, which must be the account's), then fill every
    registry and licence material (governed calls by the item's department, audited with the
    grant's purpose: they show in the citizen's access trail)."""
    now = now or utcnow()
    item = get_item(session, item_code)
    applicant = _applicant(session, principal, item, id_number, secret)
    app = Application(
        number=f"pending-{secrets.token_hex(8)}",
        item_id=item.id,
        applicant_user_id=applicant.user_id,
        applicant_org_id=applicant.org_id,
        applicant_kind=applicant.kind,
        applicant_name=applicant.name,
        applicant_ref=applicant.ref,
        sealed_identifier=_seal(secret, applicant.key) if applicant.kind == "person" else None,
        status="draft",
        form_data={},
        materials={},
        facts={},
    )
    session.add(app)
    session.flush()
    app.number = _next_number(app, now)
    _event(session, app, "started", at=now, actor=principal.actor_ref(), name=item.name)
    app.materials = _fill(session, item, app, applicant, secret, now)
    # Opening a draft writes no audit entry of its own: its fills are audited (personal reads, with
    # the grant's purpose) and submitting is; fewer entries on the audit chain's one head row keep
    # concurrent applications from queueing behind each other longer than they must.
    session.flush()
    return app


# --- uploads ----------------------------------------------------------------------------------------


def upload_material(
    session: Session,
    principal: Principal,
    number: str,
    material_key: str,
    stream: BinaryIO,
    *,
    filename: str,
    files_root: Any,
) -> Application:
    """Attach an uploaded material: PDF, PNG or JPEG by its magic bytes (not its name or stated
    type), at most :data:`forms.MAX_UPLOAD_BYTES`; stored by content hash in the kernel's file
    store, served back only as an attachment and never executed. Nothing is stored on refusal."""
    import io

    from citybrain.core.files import service as files

    app = _own(session, principal, number)
    if app.status not in ("draft", "supplement"):
        raise WrongState(status=app.status)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    material = next((m for m in item.materials if m["key"] == material_key), None)
    if material is None:
        raise BadUpload(errors=[FieldError(("body", "material"), "gov.upload.unknown_material", {"material": material_key})])
    content = stream.read(forms.MAX_UPLOAD_BYTES + 1)
    if len(content) > forms.MAX_UPLOAD_BYTES:
        raise BadUpload(errors=[FieldError(("body", "file"), "gov.upload.too_large", {"max_mb": forms.MAX_UPLOAD_BYTES // 2**20})])
    if not content:
        raise BadUpload(errors=[FieldError(("body", "file"), "gov.upload.empty")])
    media_type = forms.sniff_media_type(content[:16])
    if media_type is None:
        raise BadUpload(errors=[FieldError(("body", "file"), "gov.upload.bad_type", {"allowed": "PDF、PNG、JPEG"})])
    stored = files.store(session, principal, files_root, io.BytesIO(content), name=filename, media_type=media_type)
    materials = dict(app.materials)
    materials[material_key] = {
        "source": "upload",
        "status": "uploaded",
        "file_id": stored.id,
        "sha256": stored.sha256,
        "name": stored.name,
        "media_type": media_type,
        "size": stored.size,
    }
    app.materials = materials
    _event(session, app, "uploaded", actor=principal.actor_ref(), name=material["name"], note=stored.name)
    session.flush()
    return app


def material_file(session: Session, principal: Principal, number: str, material_key: str, *, bureau_id: int | None = None) -> Any:
    """The stored file of an uploaded material, for the applicant or the staff handling the case."""
    from citybrain.core.files.models import StoredFile

    app = get_application(session, principal, number, bureau_id=bureau_id, audited=False)
    entry = app.materials.get(material_key) or {}
    row = session.get(StoredFile, entry.get("file_id") or -1)
    if row is None:
        raise NotFound("files.not_found", id=material_key)
    return row


# --- facts ------------------------------------------------------------------------------------------


def _age(value: Any, today: date) -> int | None:
    if not value:
        return None
    born = date.fromisoformat(str(value)[:10])
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _credit_status(rows: Sequence[Mapping[str, Any]] | None) -> str:
    categories = {row.get("category") for row in rows or []}
    if "失信惩戒" in categories:
        return "失信惩戒"
    if "守信激励" in categories:
        return "守信激励"
    return "正常"  # no record in the public credit registry under this identifier


DERIVATIONS: Mapping[str, Callable[..., Any]] = {
    "value": lambda value, **_: value,
    "age": lambda value, today, **_: _age(value, today),
    "found": lambda value, material, **_: (material or {}).get("status") == "filled",
    "credit_status": lambda value, material, **_: _credit_status((material or {}).get("rows")),
    "licence_names": lambda value, held, **_: [lic.kind_name for lic in held],
}


def compute_facts(session: Session, item: ServiceItem, app: Application, form: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The facts the item's decision reads, from the form, the filled materials and the applicant's
    licences. ``from`` is ``form.<field>``, ``material.<key>`` or ``material.<key>.<field>``;
    ``derive`` is value, age (whole years on today's date in Asia/Shanghai), found, credit_status
    or licence_names. A fact whose source is missing is null (the table decides what null means)."""
    today = now.astimezone(CITY).date()
    held: Sequence[Licence] | None = None
    facts: dict[str, Any] = {}
    for name, spec in item.facts.items():
        origin = str(spec.get("from", ""))
        parts = origin.split(".")
        material = None
        value: Any = None
        if parts[0] == "form" and len(parts) == 2:
            value = form.get(parts[1])
        elif parts[0] == "material" and len(parts) >= 2:
            material = app.materials.get(parts[1])
            if len(parts) == 3 and material:
                value = (material.get("values") or {}).get(parts[2])
        derive = spec.get("derive", "value")
        if derive == "licence_names" and held is None:
            held = _holder_licences(session, app.applicant_ref, app.applicant_kind, now)
        facts[name] = DERIVATIONS[derive](value, today=today, material=material, held=held or [])
    return facts


# --- submitting and deciding ------------------------------------------------------------------------


def _own(session: Session, principal: Principal, number: str) -> Application:
    """The caller's own application (as applicant), or not found."""
    app = session.scalar(select(Application).where(Application.number == number))
    if app is None or principal.kind != "user" or app.applicant_user_id != principal.id:
        raise ApplicationNotFound(number=number)
    return app


def submit(
    session: Session,
    principal: Principal,
    number: str,
    form: Mapping[str, Any],
    *,
    secret: str,
    now: datetime | None = None,
) -> Application:
    """Submit a draft with its form. The form is checked against the item's JSON Schema and every
    required material must be there (filled or uploaded); on any problem a :class:`FormInvalid`
    names each field and nothing changes. Then the decision table decides at once (秒批) or the
    process starts."""
    now = now or utcnow()
    app = _own(session, principal, number)
    if app.status != "draft":
        raise WrongState(status=app.status)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    errors = forms.validate(item.form_schema, form)
    for material in item.materials:
        entry = app.materials.get(material["key"]) or {}
        if material.get("required", True) and entry.get("status") not in ("filled", "uploaded"):
            errors.append(FieldError(("body", "materials", material["key"]), "gov.material.missing", {"material": material["name"]}))
    if errors:
        raise FormInvalid(errors=errors)
    app.form_data = dict(form)
    app.facts = compute_facts(session, item, app, form, now)
    app.submitted_at = now
    app.due_at = now + timedelta(days=item.promised_days)
    app.statutory_due_at = now + timedelta(days=item.statutory_days)
    app.status = "submitted"
    _event(session, app, "submitted", at=now, actor=principal.actor_ref(), name=item.name)
    if item.decision_id:
        _decide(session, item, app, secret, now)
    else:
        _start_process(session, item, app, principal.actor_ref(), secret, now)
    # audited last: from its first audit entry a transaction holds the chain's head row until it commits
    audit.record(session, principal, "gov.application.submitted", subject_type=SUBJECT, subject_id=app.number, detail={"item": item.code})
    session.flush()
    return app


def check_form(session: Session, item_code: str, form: Mapping[str, Any]) -> None:
    """Raise :class:`FormInvalid` naming each field when ``form`` does not fit the item's schema."""
    errors = forms.validate(get_item(session, item_code).form_schema, form)
    if errors:
        raise FormInvalid(errors=errors)


def _decide(session: Session, item: ServiceItem, app: Application, secret: str, now: datetime) -> None:
    """Instant approval: evaluate the item's decision table over the facts and store the record."""
    assert item.decision_id is not None
    table = table_of(item.decision_id, item.dmn)
    try:
        result = decisions.evaluate(table, app.facts)
        record: dict[str, Any] = dict(result.as_json())
        outputs = record["outputs"]
        outcome = str(outputs.get("outcome") or "manual_review")
        reasons = [str(outputs["reason"])] if outputs.get("reason") else [r["description"] for r in record["rules"]]
    except decisions.DecisionTableError as error:
        # A table that cannot decide this case (an overlap under UNIQUE, a fact of the wrong type)
        # must not decide it wrongly: a person does.
        record = {"decision": {"id": table.id, "name": table.name}, "error": str(error), "rules": [], "facts": app.facts}
        outcome, reasons = "manual_review", [str(error)]
    if outcome not in ("approved", "rejected"):
        outcome = "manual_review"
    record.update(outcome=outcome, reasons=reasons, decided_at=now.isoformat())
    app.decision = record
    _event(session, app, "decided", at=now, actor="rules", name=table.name, outcome=outcome, note="；".join(reasons))
    if outcome == "manual_review":
        _start_process(session, item, app, "rules", secret, now)
        return
    app.instant = True
    app.status = outcome
    app.completed_at = now
    if outcome == "approved":
        _issue(session, item, app, "decision", secret, now)


def request_manual_review(
    session: Session, principal: Principal, number: str, reason: str, *, secret: str, now: datetime | None = None
) -> Application:
    """The applicant disagrees with an instant refusal (or approval terms) and asks a person to
    decide: the item's process starts, the rules' record is kept beside it."""
    now = now or utcnow()
    app = _own(session, principal, number)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    if not app.instant or app.status != "rejected" or app.manual_review_requested:
        raise WrongState(status=app.status)
    if not item.process_id:
        raise WrongState(status="no_process")
    app.manual_review_requested = True
    app.completed_at = None
    _event(session, app, "manual_review", at=now, actor=principal.actor_ref(), note=reason.strip()[:500])
    _start_process(session, item, app, principal.actor_ref(), secret, now)
    session.flush()
    return app


# --- the process ------------------------------------------------------------------------------------


def _process_data(app: Application) -> dict[str, Any]:
    # Only identifier keys reach the process (its conditions name them); personal values stay out.
    return {k: v for k, v in app.form_data.items() if re.fullmatch(r"[^\W\d]\w*", k) and not k.startswith("_")}


def _start_process(session: Session, item: ServiceItem, app: Application, actor: str, secret: str, now: datetime) -> None:
    if not item.process_id:
        app.status = "rejected"
        app.completed_at = now
        return
    instance = workflow.ProcessInstance.start(definition_of(item.process_id, item.bpmn), _process_data(app), actor=actor, clock=_clock(now))
    _save(session, item, app, instance, instance.timeline, secret, now)


def _load(app: Application, now: datetime | None) -> workflow.ProcessInstance:
    if app.instance_state is None:
        raise WrongState(status=app.status)
    return workflow.ProcessInstance.loads(app.instance_state, clock=_clock(now))


_KINDS = {
    workflow.TimelineKind.STARTED: "process_started",
    workflow.TimelineKind.TASK_COMPLETED: "task_completed",
    workflow.TimelineKind.TIMER_FIRED: "timer_fired",
    workflow.TimelineKind.SUBPROCESS_ENDED: "part_ended",
    workflow.TimelineKind.ENDED: "completed",
    workflow.TimelineKind.CANCELLED: "withdrawn",
}


def _save(
    session: Session,
    item: ServiceItem,
    app: Application,
    instance: workflow.ProcessInstance,
    entries: Sequence[workflow.TimelineEntry],
    secret: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Keep the process state in the row, its new timeline entries as events, the licences of the
    parts that ended approved, the status, and the work queue rows of its ready tasks."""
    app.instance_state = instance.dumps()
    app.next_timer_due = instance.next_timer_due()
    for entry in entries:
        _event(
            session,
            app,
            _KINDS[entry.kind],
            at=entry.at,
            actor=entry.actor,
            department=entry.department,
            role=entry.role,
            name=entry.name or entry.task,
            outcome=entry.outcome,
            note=note if entry.kind is workflow.TimelineKind.TASK_COMPLETED else None,
        )
        if entry.kind is workflow.TimelineKind.SUBPROCESS_ENDED and entry.outcome == "approved":
            _issue(session, item, app, entry.process_id, secret, now)
    status = instance.status
    ready = instance.ready_user_tasks()
    if status is workflow.InstanceStatus.RUNNING:
        app.status = "supplement" if any(_applicants(t) for t in ready) else "in_progress"
    else:
        app.status = {"approved": "approved", "rejected": "rejected", "cancelled": "withdrawn"}.get(status.value, "completed")
        app.completed_at = now
        app.next_timer_due = None
        if status is workflow.InstanceStatus.APPROVED:
            _issue(session, item, app, instance.process_id, secret, now)
    session.execute(delete(WorkTask).where(WorkTask.application_id == app.id))
    org_ids = _org_ids(session, item)
    for task in ready:
        if _applicants(task):
            continue
        session.add(
            WorkTask(
                application_id=app.id,
                task_id=task.id,
                task=task.task,
                name=task.name,
                process_id=task.process_id,
                department=task.department,
                role=task.role,
                org_id=org_ids.get(task.department or "", item.department_org_id),
                due_at=task.due or app.due_at,
                overdue=task.overdue,
                since=now,
            )
        )
    session.flush()


def _applicants(task: workflow.UserTaskView) -> bool:
    """A task of the applicant's lane (补正材料): done by the applicant, not in any queue."""
    return APPLICANT_LANE in (task.department, task.role)


def _org_ids(session: Session, item: ServiceItem) -> dict[str, int]:
    from citybrain.core.auth.models import Organisation

    codes = set(item.lane_orgs.values())
    if not codes:
        return {}
    by_code = dict(session.execute(select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))).all())
    return {lane: by_code[code] for lane, code in item.lane_orgs.items() if code in by_code}


def _value(template: Any, app: Application) -> Any:
    """A licence field from ``form.<f>``, ``fact.<f>``, ``material.<k>.<f>`` or ``decision.<output>``;
    anything else is literal."""
    if not isinstance(template, str):
        return template
    parts = template.split(".")
    if parts[0] == "form" and len(parts) == 2:
        return app.form_data.get(parts[1])
    if parts[0] == "fact" and len(parts) == 2:
        return app.facts.get(parts[1])
    if parts[0] == "material" and len(parts) == 3:
        return ((app.materials.get(parts[1]) or {}).get("values") or {}).get(parts[2])
    if parts[0] == "decision" and len(parts) == 2:
        return ((app.decision or {}).get("outputs") or {}).get(parts[1])
    return template


def _issue(session: Session, item: ServiceItem, app: Application, on: str, secret: str, now: datetime) -> None:
    """Issue the licences the item gives when ``on`` (``decision`` or a process id) ends approved,
    through the e-licence registry, linked to the application. The item's own process ending
    approved also issues the decision's licences (a case the rules sent to a person)."""
    triggers = {on, "decision"} if on == item.process_id else {on}
    from citybrain.core.auth import service as auth
    from citybrain.gov_services import service
    from citybrain.gov_services.schemas import HolderIn

    for spec in item.licences:
        if spec.get("on") not in triggers:
            continue
        issuer = auth.get_org_by_code(session, spec.get("issuer") or auth.get_org(session, item.department_org_id).code)
        if app.applicant_kind == "person":
            holder = HolderIn(kind="person", name=app.applicant_name, id_number=_unseal(secret, app.sealed_identifier or ""))
        else:
            holder = HolderIn(kind="organisation", name=app.applicant_name, credit_code=app.applicant_ref)
        fields = {label: _value(template, app) for label, template in (spec.get("fields") or {}).items()}
        licence = service.issue_licence(
            session,
            _system(issuer.id, f"gov_services:{item.code}", frozenset({service.ISSUE})),
            kind=spec["kind"],
            kind_name=spec["kind_name"],
            holder=holder,
            fields={k: v for k, v in fields.items() if v is not None},
            valid_days=spec.get("valid_days"),
            secret=secret,
            issuer_org_id=issuer.id,
            application_id=app.id,
            now=now,
        )
        _event(
            session,
            app,
            "licence_issued",
            at=now,
            actor=issuer.code,
            department=issuer.name,
            name=licence.kind_name,
            outcome=licence.licence_id,
        )


# --- staff ------------------------------------------------------------------------------------------


def may_work(principal: Principal, task: WorkTask) -> bool:
    """Whether the caller may complete this task (its department, a role of its lane, or admin)."""
    return _may_work(principal, task)


def _may_work(principal: Principal, task: WorkTask) -> bool:
    if principal.is_admin:
        return True
    if not principal.has(WORK) or task.org_id is None or principal.org_id != task.org_id:
        return False
    wanted = LANE_ROLES.get(task.role or "")
    return wanted is None or wanted in principal.roles


@dataclass(frozen=True)
class QueueEntry:
    task: WorkTask
    application: Application
    item: ServiceItem


def work_queue(session: Session, principal: Principal, *, limit: int = 200) -> list[QueueEntry]:
    """The ready tasks the caller may work: their department's, in the lanes of their roles (every
    department's for an admin), earliest deadline first."""
    query = (
        select(WorkTask, Application, ServiceItem)
        .join(Application, Application.id == WorkTask.application_id)
        .join(ServiceItem, ServiceItem.id == Application.item_id)
    )
    if not principal.is_admin:
        query = query.where(WorkTask.org_id == (principal.org_id if principal.has(WORK) else -1))
    rows = session.execute(query.order_by(WorkTask.due_at, WorkTask.id).limit(limit * 4)).all()
    return [QueueEntry(t, a, i) for t, a, i in rows if _may_work(principal, t)][:limit]


def complete_task(
    session: Session,
    principal: Principal,
    number: str,
    task_id: str,
    *,
    decision: str | None,
    note: str | None = None,
    secret: str,
    now: datetime | None = None,
) -> Application:
    """Complete a ready task of the caller's queue with a decision (approve / reject /
    request_more, or none where the step has no choice) and a note; the process runs on (gateways,
    called processes, ends) and is saved."""
    now = now or utcnow()
    app = session.scalar(select(Application).where(Application.number == number))
    task = session.scalar(select(WorkTask).where(WorkTask.task_id == task_id, WorkTask.application_id == (app.id if app else -1)))
    if app is None or task is None:
        raise ApplicationNotFound(number=number)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    if not _may_work(principal, task):
        # staff of the case hear it is not theirs to do; anyone else that it does not exist
        if _staff_of(session, principal, app, item, None):
            raise NotYourTask()
        raise ApplicationNotFound(number=number)
    if decision is not None and decision not in DECISIONS:
        raise ValidationFailed(errors=[FieldError(("body", "decision"), "gov.task.bad_decision", {"allowed": ", ".join(DECISIONS)})])
    instance = _load(app, now)
    try:
        entries = instance.complete_task(task_id, actor=principal.actor_ref(), decision=decision)
    except workflow.WorkflowError as error:
        raise WrongState(status=str(error)) from None
    _save(session, item, app, instance, entries, secret, now, note=(note or "").strip()[:1000] or None)
    if app.status == "supplement":
        _event(session, app, "supplement_requested", at=now, actor=principal.actor_ref(), note=(note or "").strip()[:1000] or None)
    audit.record(
        session,
        principal,
        "gov.task.completed",
        subject_type=SUBJECT,
        subject_id=app.number,
        detail={"task": task.task, "decision": decision},
    )
    session.flush()
    return app


def answer_supplement(
    session: Session, principal: Principal, number: str, *, note: str | None = None, secret: str, now: datetime | None = None
) -> Application:
    """The applicant has uploaded what was asked for (补正) and hands the case back: the process's
    applicant task completes and it returns to the department."""
    now = now or utcnow()
    app = _own(session, principal, number)
    if app.status != "supplement":
        raise WrongState(status=app.status)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    instance = _load(app, now)
    task = next(t for t in instance.ready_user_tasks() if _applicants(t))
    entries = instance.complete_task(task.id, actor=principal.actor_ref())
    _save(session, item, app, instance, entries, secret, now, note=(note or "").strip()[:1000] or None)
    _event(session, app, "supplemented", at=now, actor=principal.actor_ref(), note=(note or "").strip()[:1000] or None)
    session.flush()
    return app


def withdraw(session: Session, principal: Principal, number: str, reason: str, *, secret: str, now: datetime | None = None) -> Application:
    """The applicant withdraws a draft or a running application; its tasks leave the queues."""
    now = now or utcnow()
    app = _own(session, principal, number)
    if app.status not in (*OPEN, "submitted"):
        raise WrongState(status=app.status)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    if app.instance_state is not None:
        instance = _load(app, now)
        before = len(instance.timeline)
        instance.cancel(actor=principal.actor_ref(), reason=reason.strip()[:500] or None)
        _save(session, item, app, instance, instance.timeline[before:], secret, now)
    else:
        _event(session, app, "withdrawn", at=now, actor=principal.actor_ref(), note=reason.strip()[:500] or None)
    app.status = "withdrawn"
    app.completed_at = now
    app.next_timer_due = None
    audit.record(session, principal, "gov.application.withdrawn", subject_type=SUBJECT, subject_id=app.number)
    session.flush()
    return app


def rate(session: Session, principal: Principal, number: str, rating: int, comment: str | None = None) -> Application:
    """The applicant's rating (好差评, 1-5) of a finished application, once."""
    app = _own(session, principal, number)
    if app.status not in ("approved", "rejected", "completed") or app.rating is not None:
        raise WrongState(status=app.status)
    if not 1 <= rating <= 5:
        raise ValidationFailed(errors=[FieldError(("body", "rating"), "gov.rating.range")])
    app.rating = rating
    app.rating_comment = (comment or "").strip()[:500] or None
    _event(session, app, "rated", actor=principal.actor_ref(), outcome=str(rating), note=app.rating_comment)
    session.flush()
    return app


def tick(session: Session, *, secret: str, now: datetime | None = None, limit: int = 500) -> int:
    """Fire the timers that are due (statutory deadlines: overdue flags, escalations) on every
    application whose next timer has come, and save them. What the periodic job runs; returns
    how many applications moved."""
    now = now or utcnow()
    due = session.scalars(
        select(Application)
        .where(Application.next_timer_due.is_not(None), Application.next_timer_due <= now, Application.status.in_(OPEN))
        .order_by(Application.next_timer_due)
        .limit(limit)
    ).all()
    moved = 0
    for app in due:
        item = session.get(ServiceItem, app.item_id)
        assert item is not None
        instance = _load(app, now)
        entries = instance.advance()
        _save(session, item, app, instance, entries, secret, now)
        moved += bool(entries)
    session.flush()
    return moved


# --- reading ----------------------------------------------------------------------------------------


def _staff_of(session: Session, principal: Principal, app: Application, item: ServiceItem, bureau_id: int | None) -> bool:
    if principal.is_admin or (bureau_id is not None and principal.org_id == bureau_id and principal.has(WORK)):
        return True
    if not principal.has(WORK) or principal.org_id is None:
        return False
    return principal.org_id == item.department_org_id or principal.org_id in _org_ids(session, item).values()


def get_application(
    session: Session, principal: Principal, number: str, *, bureau_id: int | None = None, audited: bool = True
) -> Application:
    """One application, for its applicant or the staff of a department in its process (anyone else
    is told it does not exist). A staff read of a person's application is audited with purpose."""
    app = session.scalar(select(Application).where(Application.number == number))
    if app is None:
        raise ApplicationNotFound(number=number)
    own = principal.kind == "user" and app.applicant_user_id == principal.id
    if not own:
        item = session.get(ServiceItem, app.item_id)
        assert item is not None
        if not _staff_of(session, principal, app, item, bureau_id):
            raise ApplicationNotFound(number=number)
        if audited and app.applicant_kind == "person":
            audit.record(
                session, principal, "gov.application.read", subject_type=SUBJECT, subject_id=app.number, personal=True, purpose="办件审查"
            )
    return app


def my_applications(session: Session, principal: Principal, *, limit: int = 100) -> Sequence[Application]:
    """The caller's own applications, newest first."""
    if principal.kind != "user" or principal.id is None:
        return []
    return session.scalars(
        select(Application).where(Application.applicant_user_id == principal.id).order_by(Application.id.desc()).limit(limit)
    ).all()


def timeline(session: Session, app: Application) -> Sequence[ApplicationEvent]:
    return session.scalars(
        select(ApplicationEvent).where(ApplicationEvent.application_id == app.id).order_by(ApplicationEvent.at, ApplicationEvent.id)
    ).all()


def licences_of(session: Session, app: Application) -> Sequence[Licence]:
    """The licences this application produced."""
    return session.scalars(select(Licence).where(Licence.application_id == app.id).order_by(Licence.id)).all()


def open_tasks(session: Session, app: Application) -> Sequence[WorkTask]:
    return session.scalars(select(WorkTask).where(WorkTask.application_id == app.id).order_by(WorkTask.id)).all()


# --- statistics -------------------------------------------------------------------------------------


def statistics(session: Session) -> dict[str, Any]:
    """Figures for the operations center: applications per item and per department, the
    instant-approval rate (share of submitted applications decided by the rules alone), the on-time
    rate (finished by the promised deadline, of those finished), the average handling time
    (hours from submission to completion) and satisfaction (mean rating 1-5, and how many rated)."""
    from citybrain.core.auth.models import Organisation

    submitted = Application.submitted_at.is_not(None)
    rows = session.execute(
        select(
            ServiceItem.code,
            ServiceItem.name,
            Organisation.name,
            func.count(Application.id),
            func.count(Application.id).filter(Application.instant.is_(True)),
            func.count(Application.id).filter(Application.status == "approved"),
            func.count(Application.id).filter(Application.status == "rejected"),
            func.count(Application.id).filter(Application.status.in_(("in_progress", "supplement"))),
            func.count(Application.rating),
            func.avg(Application.rating),
        )
        .join(Application, Application.item_id == ServiceItem.id)
        .join(Organisation, Organisation.id == ServiceItem.department_org_id)
        .where(submitted)
        .group_by(ServiceItem.code, ServiceItem.name, Organisation.name)
        .order_by(func.count(Application.id).desc())
    ).all()
    items = [
        {
            "code": code,
            "name": name,
            "department": department,
            "applications": total,
            "instant": instant,
            "approved": approved,
            "rejected": rejected,
            "in_progress": running,
            "ratings": rated,
            "satisfaction": round(float(avg), 2) if avg is not None else None,
        }
        for code, name, department, total, instant, approved, rejected, running, rated, avg in rows
    ]
    departments: dict[str, dict[str, Any]] = {}
    for entry in items:
        dept = departments.setdefault(
            entry["department"], {"department": entry["department"], "applications": 0, "instant": 0, "approved": 0}
        )
        for key in ("applications", "instant", "approved"):
            dept[key] += entry[key]
    finished = session.execute(
        select(Application.submitted_at, Application.completed_at, Application.due_at).where(
            submitted, Application.completed_at.is_not(None)
        )
    ).all()
    on_time = sum(1 for s, c, d in finished if d is None or c <= d)
    hours = [(c - s).total_seconds() / 3600 for s, c, _ in finished]
    total = sum(e["applications"] for e in items)
    rated = sum(e["ratings"] for e in items)
    rating_sum = session.scalar(select(func.sum(Application.rating)).where(submitted)) or 0
    return {
        "applications": total,
        "instant": sum(e["instant"] for e in items),
        "instant_approval_rate": round(sum(e["instant"] for e in items) / total, 4) if total else None,
        "finished": len(finished),
        "on_time_rate": round(on_time / len(finished), 4) if finished else None,
        "average_handling_hours": round(sum(hours) / len(hours), 3) if hours else None,
        "satisfaction": round(float(rating_sum) / rated, 2) if rated else None,
        "ratings": rated,
        "in_progress": sum(e["in_progress"] for e in items),
        "items": items,
        "departments": sorted(departments.values(), key=lambda d: -d["applications"]),
    }

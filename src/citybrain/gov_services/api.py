"""The government-services API: the service guide, applications and work queues, the e-licence
registry, public verification and the signed lists offline verifiers download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse

from citybrain.core.auth.principal import Principal
from citybrain.core.i18n import translate
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.problems import language_of
from citybrain.gov_services import applications, licences, service
from citybrain.gov_services.models import Application, Licence, ServiceItem
from citybrain.gov_services.schemas import (
    APPLICATION_NUMBER,
    ITEM_CODE,
    LICENCE_ID,
    ApplicationRead,
    ApplicationStart,
    ClaimsRead,
    EventRead,
    ItemCreate,
    ItemRead,
    LicenceCreate,
    LicenceRead,
    QueueRead,
    RatingRequest,
    ReasonRequest,
    RevokeRequest,
    SignedDocument,
    SubmitRequest,
    TaskComplete,
    TaskRead,
    TrustAnchorRead,
    VerificationRead,
    VerifyRequest,
)

router = APIRouter(prefix="/api/v1/gov", tags=["gov_services"])

LicenceRef = Annotated[str, Path(pattern=LICENCE_ID, description="the licence id, e.g. JN-SP-2026-000123")]
ItemRef = Annotated[str, Path(pattern=ITEM_CODE, description="the service item's code, e.g. elderly_preferential_card")]
NumberRef = Annotated[str, Path(pattern=APPLICATION_NUMBER, description="the application number, e.g. SQ-2026-000123")]
MaterialRef = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="the material's key")]
TaskRef = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="the task id (a UUID)")]


def _bureau(session: SessionDep, settings: SettingsDep) -> int | None:
    return service.bureau_org_id(session, settings.bureau_org_code)


def verification_read(result: licences.VerificationResult, lang: str) -> VerificationRead:
    """A verdict as the API and the pages show it: the reason's key, its message in ``lang``, and
    what the code says (as printed in it: a person's name and ID number are masked there)."""
    claims = None
    if isinstance(result.claims, licences.LicenceClaims):
        c = result.claims
        claims = ClaimsRead(
            licence_id=c.licence_id,
            kind=c.kind,
            kind_name=c.kind_name,
            holder_kind=c.holder.kind,
            holder_name=c.holder.name,
            holder_identifier=c.holder.identifier,
            issuer=c.issuer,
            issuer_name=c.issuer_name,
            issued_at=c.issued_at,
            expires_at=c.expires_at,
            fields=dict(c.fields),
        )
    reason = None if result.reason is None else result.reason.value
    return VerificationRead(
        valid=result.valid,
        reason=reason,
        message=translate(reason or "licence.valid", lang),
        kid=None if result.kid is None else result.kid.hex(),
        claims=claims,
    )


@router.post("/licences", status_code=status.HTTP_201_CREATED)
def issue(session: SessionDep, settings: SettingsDep, body: LicenceCreate, principal: Principal = require(service.ISSUE)) -> LicenceRead:
    """Issue a licence in the caller's department's name (the data bureau may name another
    department with ``issuer_org_code``). Returns it with its code (CB1:...), which the QR holds."""
    from citybrain.core.auth import service as auth

    issuer_org_id = auth.get_org_by_code(session, body.issuer_org_code).id if body.issuer_org_code else None
    row = service.issue_licence(
        session,
        principal,
        kind=body.kind,
        kind_name=body.kind_name,
        holder=body.holder,
        fields=body.fields,
        valid_days=body.valid_days,
        secret=settings.resolved_secret_key(),
        issuer_org_id=issuer_org_id,
        bureau_id=_bureau(session, settings),
        application_id=body.application_id,
    )
    return LicenceRead.model_validate(row)


@router.get("/licences")
def issued(session: SessionDep, settings: SettingsDep, principal: Principal = require(service.ISSUE)) -> list[LicenceRead]:
    """The licences the caller's department issued (every department's for the data bureau), newest first."""
    return [LicenceRead.model_validate(r) for r in service.issued_by_me(session, principal, bureau_id=_bureau(session, settings))]


@router.get("/wallet")
def wallet(session: SessionDep, principal: Principal = require("")) -> list[LicenceRead]:
    """The caller's own licences: issued to the person their account names, or to their organisation."""
    return [LicenceRead.model_validate(r) for r in service.wallet(session, principal)]


@router.get("/licences/{licence_id}")
def get_licence(session: SessionDep, settings: SettingsDep, licence_id: LicenceRef, principal: Principal = require("")) -> LicenceRead:
    """One licence, for its holder or its issuing department (audited; a person is shown masked)."""
    return LicenceRead.model_validate(service.get_licence(session, principal, licence_id, bureau_id=_bureau(session, settings)))


def _visible(session: SessionDep, settings: SettingsDep, principal: Principal, licence_id: str) -> Licence:
    return service.get_licence(session, principal, licence_id, bureau_id=_bureau(session, settings), audited=False)


@router.get("/licences/{licence_id}/qr.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def qr_svg(session: SessionDep, settings: SettingsDep, licence_id: LicenceRef, principal: Principal = require("")) -> Response:
    """The licence's QR code (SVG), for its holder or issuer."""
    return Response(service.qr_svg(_visible(session, settings, principal, licence_id)), media_type="image/svg+xml")


@router.get("/licences/{licence_id}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def qr_png(session: SessionDep, settings: SettingsDep, licence_id: LicenceRef, principal: Principal = require("")) -> Response:
    """The licence's QR code (PNG), for its holder or issuer."""
    return Response(service.qr_png(_visible(session, settings, principal, licence_id)), media_type="image/png")


@router.post("/licences/{licence_id}/revoke")
def revoke(
    session: SessionDep, settings: SettingsDep, licence_id: LicenceRef, body: RevokeRequest, principal: Principal = require(service.ISSUE)
) -> LicenceRead:
    """Revoke a licence (its issuing department or the data bureau): verification then says revoked."""
    row = service.revoke(session, principal, licence_id, body.reason, bureau_id=_bureau(session, settings))
    return LicenceRead.model_validate(row)


@router.post("/licences/verify", dependencies=[Public])
def verify(request: Request, session: SessionDep, settings: SettingsDep, body: VerifyRequest) -> VerificationRead:
    """Verify a licence code (no login): valid or not, why not (a key and a message in the caller's
    language), and what the code says. The same check as offline, against the published lists."""
    result = service.verify(session, body.code, secret=settings.resolved_secret_key())
    return verification_read(result, language_of(request))


def _signed(document: bytes, signature: str, settings: SettingsDep) -> SignedDocument:
    anchor = service.trust_anchor(settings.resolved_secret_key())
    return SignedDocument(document=document.decode("utf-8"), signature=signature, anchor_kid=anchor.kid.hex())


@router.get("/trust-list", dependencies=[Public])
def trust_list(session: SessionDep, settings: SettingsDep) -> SignedDocument:
    """The trust list (kid -> public key, issuer, signing period), signed by the trust anchor."""
    return _signed(*service.published_trust_list(session, settings.resolved_secret_key()), settings)


@router.get("/revocation-list", dependencies=[Public])
def revocation_list(session: SessionDep, settings: SettingsDep) -> SignedDocument:
    """The revocation list (16-byte hashes, no identifiers), signed by the trust anchor."""
    return _signed(*service.published_revocation_list(session, settings.resolved_secret_key()), settings)


@router.get("/trust-anchor", dependencies=[Public])
def trust_anchor(settings: SettingsDep) -> TrustAnchorRead:
    """The public key offline verifiers pin to check the two lists."""
    import base64

    from cryptography.hazmat.primitives import serialization

    anchor = service.trusted_anchor(settings.resolved_secret_key())
    pem = anchor.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return TrustAnchorRead(
        kid=anchor.kid.hex(),
        algorithm=anchor.algorithm.value,
        public_key=base64.b64encode(anchor.public_key_der).decode(),
        public_key_pem=pem.decode(),
    )


# --- the service guide and applications ----------------------------------------------------------


def item_read(item: ServiceItem) -> ItemRead:
    read = ItemRead.model_validate(item)
    read.instant = item.decision_id is not None
    return read


def application_read(session: SessionDep, app: Application) -> ApplicationRead:
    """An application as its applicant and the staff see it: status, form, materials (personal
    registry values as the grant returned them), the decision with its reasons, fired rules and
    facts, the timeline, the open tasks and the licences it produced."""
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    return ApplicationRead(
        number=app.number,
        item=item.code,
        item_name=item.name,
        status=app.status,
        applicant_kind=app.applicant_kind,
        applicant_name=app.applicant_name,
        form=app.form_data,
        materials=app.materials,
        facts=app.facts,
        decision=app.decision,
        instant=app.instant,
        submitted_at=app.submitted_at,
        due_at=app.due_at,
        completed_at=app.completed_at,
        rating=app.rating,
        timeline=[EventRead.model_validate(e) for e in applications.timeline(session, app)],
        tasks=[TaskRead.model_validate(t) for t in applications.open_tasks(session, app)],
        licences=[LicenceRead.model_validate(r) for r in applications.licences_of(session, app)],
    )


@router.get("/items", dependencies=[Public])
def items(
    session: SessionDep,
    q: Annotated[str, Query(max_length=100, description="words in name, summary, department or kind")] = "",
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> list[ItemRead]:
    """The service guide (办事指南), without login: published items matching every word of ``q``."""
    return [item_read(i) for i in applications.search_items(session, q, kind=kind)]


@router.get("/items/{code}", dependencies=[Public])
def item(session: SessionDep, code: ItemRef) -> ItemRead:
    """One item's guide: conditions, legal basis, days, fee, channels, materials and form."""
    return item_read(applications.get_item(session, code))


@router.put("/items")
def publish_item(
    session: SessionDep, settings: SettingsDep, body: ItemCreate, principal: Principal = require(applications.PUBLISH)
) -> ItemRead:
    """Publish or republish (by code) a service item of the caller's department."""
    row = applications.publish_item(session, principal, body.model_dump(), bureau_id=_bureau(session, settings))
    return item_read(row)


@router.post("/applications", status_code=status.HTTP_201_CREATED)
def start_application(
    session: SessionDep, settings: SettingsDep, body: ApplicationStart, principal: Principal = require("")
) -> ApplicationRead:
    """Open an application (materials filled from the registries); with ``form``, submit it at
    once: an instant item then answers with its decision (and licence) in this response."""
    secret = settings.resolved_secret_key()
    if body.form is not None:
        applications.check_form(session, body.item, body.form)  # bad input changes nothing, not even a draft
    app = applications.start_application(session, principal, body.item, secret=secret, id_number=body.id_number)
    if body.form is not None:
        # The draft and its fills are committed first: every transaction that writes an audit entry
        # queues on the chain's one head row until it commits, so two short transactions let
        # concurrent applicants through faster than one long one (a material missing after the
        # fills then leaves the draft, with its audited reads, for the applicant to complete).
        number = app.number
        session.commit()
        app = applications.submit(session, principal, number, body.form, secret=secret)
    return application_read(session, app)


@router.get("/applications")
def my_applications(session: SessionDep, principal: Principal = require("")) -> list[ApplicationRead]:
    """The caller's own applications, newest first."""
    return [application_read(session, a) for a in applications.my_applications(session, principal)]


@router.get("/applications/{number}")
def get_application(session: SessionDep, settings: SettingsDep, number: NumberRef, principal: Principal = require("")) -> ApplicationRead:
    """One application, for its applicant or the staff handling it (a staff read is audited)."""
    app = applications.get_application(session, principal, number, bureau_id=_bureau(session, settings))
    return application_read(session, app)


@router.post("/applications/{number}/submit")
def submit(
    session: SessionDep, settings: SettingsDep, number: NumberRef, body: SubmitRequest, principal: Principal = require("")
) -> ApplicationRead:
    """Submit the form: field errors (zh-CN/en) and nothing changed, or the decision / the process."""
    app = applications.submit(session, principal, number, body.form, secret=settings.resolved_secret_key())
    return application_read(session, app)


@router.post("/applications/{number}/materials/{key}")
def upload_material(
    session: SessionDep, settings: SettingsDep, number: NumberRef, key: MaterialRef, file: UploadFile, principal: Principal = require("")
) -> ApplicationRead:
    """Upload a material (PDF, PNG or JPEG by content, at most 10 MB; stored by content hash)."""
    app = applications.upload_material(
        session, principal, number, key, file.file, filename=file.filename or "material", files_root=settings.files_dir
    )
    return application_read(session, app)


@router.get(
    "/applications/{number}/materials/{key}", response_class=FileResponse, responses={200: {"content": {"application/octet-stream": {}}}}
)
def download_material(
    session: SessionDep, settings: SettingsDep, number: NumberRef, key: MaterialRef, principal: Principal = require("")
) -> FileResponse:
    """An uploaded material, always as an attachment (never rendered inline)."""
    from citybrain.core.files import service as files

    row = applications.material_file(session, principal, number, key, bureau_id=_bureau(session, settings))
    return FileResponse(
        files.blob_path(settings.files_dir, row.sha256), media_type=row.media_type, filename=row.name, content_disposition_type="attachment"
    )


@router.post("/applications/{number}/withdraw")
def withdraw(
    session: SessionDep, settings: SettingsDep, number: NumberRef, body: ReasonRequest, principal: Principal = require("")
) -> ApplicationRead:
    """Withdraw an application that is not finished."""
    return application_read(session, applications.withdraw(session, principal, number, body.reason, secret=settings.resolved_secret_key()))


@router.post("/applications/{number}/manual-review")
def manual_review(
    session: SessionDep, settings: SettingsDep, number: NumberRef, body: ReasonRequest, principal: Principal = require("")
) -> ApplicationRead:
    """Ask a person to decide an instant refusal: the item's process starts."""
    app = applications.request_manual_review(session, principal, number, body.reason, secret=settings.resolved_secret_key())
    return application_read(session, app)


@router.post("/applications/{number}/supplement")
def supplement(
    session: SessionDep, settings: SettingsDep, number: NumberRef, body: ReasonRequest, principal: Principal = require("")
) -> ApplicationRead:
    """Hand the case back after uploading what the department asked for (补正)."""
    app = applications.answer_supplement(session, principal, number, note=body.reason, secret=settings.resolved_secret_key())
    return application_read(session, app)


@router.post("/applications/{number}/rating")
def rating(session: SessionDep, number: NumberRef, body: RatingRequest, principal: Principal = require("")) -> ApplicationRead:
    """Rate a finished application (好差评, 1-5), once."""
    return application_read(session, applications.rate(session, principal, number, body.rating, body.comment))


@router.get("/queue")
def queue(session: SessionDep, principal: Principal = require(applications.WORK)) -> list[QueueRead]:
    """The caller's work queue: ready tasks of their department in their roles' lanes, by deadline."""
    return [
        QueueRead(
            number=e.application.number,
            item=e.item.code,
            item_name=e.item.name,
            applicant_name=e.application.applicant_name,
            task=TaskRead.model_validate(e.task),
        )
        for e in applications.work_queue(session, principal)
    ]


@router.post("/applications/{number}/tasks/{task_id}")
def complete_task(
    session: SessionDep,
    settings: SettingsDep,
    number: NumberRef,
    task_id: TaskRef,
    body: TaskComplete,
    principal: Principal = require(applications.WORK),
) -> ApplicationRead:
    """Complete a task of the caller's queue (受理, 审查, 决定 ...) with a decision and a note."""
    app = applications.complete_task(
        session, principal, number, task_id, decision=body.decision, note=body.note, secret=settings.resolved_secret_key()
    )
    return application_read(session, app)


@router.get("/statistics")
def statistics(session: SessionDep, principal: Principal = require("")) -> dict[str, Any]:
    """Applications per item and department, instant-approval and on-time rates, average handling
    time and satisfaction (what the operations center shows)."""
    return service.statistics(session)

"""The government-services API: the e-licence registry, public verification and the signed lists
offline verifiers download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from citybrain.core.auth.principal import Principal
from citybrain.core.i18n import translate
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.problems import language_of
from citybrain.gov_services import licences, service
from citybrain.gov_services.models import Licence
from citybrain.gov_services.schemas import (
    LICENCE_ID,
    ClaimsRead,
    LicenceCreate,
    LicenceRead,
    RevokeRequest,
    SignedDocument,
    TrustAnchorRead,
    VerificationRead,
    VerifyRequest,
)

router = APIRouter(prefix="/api/v1/gov", tags=["gov_services"])

LicenceRef = Annotated[str, Path(pattern=LICENCE_ID, description="the licence id, e.g. JN-SP-2026-000123")]


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

"""The government-services domain's public face: the e-licence registry (电子证照库).

Signing, encoding and verifying codes are the algorithm module :mod:`citybrain.gov_services.licences`
(no database, no web); this module keeps the registry and the issuers' keys, publishes the trust
list and revocation list, and is what the API, the pages, the CLI, the demo and the applications
slice (``issue_licence`` when an application is approved) call.

Keys and what they are derived from:

- **Issuing keys** (one current key per department, EdDSA): created on a department's first licence
  and stored as PKCS#8 PEM encrypted under a password derived (HKDF-SHA256) from the platform secret,
  so a copy of the database without the secret cannot mint licences.
- **The trust anchor** (Ed25519) that signs the published lists is *derived* from the platform secret
  the same way, not stored: every server process of one deployment has the same anchor without a
  file to share, and it changes only when the secret does (verifiers then pin the new anchor, which
  ``GET /api/v1/gov/trust-anchor`` publishes). A city that keeps its anchor offline in an HSM would
  replace :func:`trust_anchor`; nothing else depends on where it comes from.

``verify`` checks a code against the lists *as published*: it builds and signs both documents, loads
them back through the signature check an offline verifier does, and verifies with
:func:`licences.verify_licence`. So the server and an offline verifier cannot disagree.

Verifications are counted in memory, per server process, since it started (``figures``): the public
verification endpoint must stay cheap and write nothing, so anonymous callers cannot load the
database's write path.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth import identity
from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow
from citybrain.core.errors import FieldError, Forbidden
from citybrain.gov_services import licences
from citybrain.gov_services.errors import BadLicence, LicenceAlreadyRevoked, LicenceNotFound, NotIssuer
from citybrain.gov_services.models import Licence, LicenceKey
from citybrain.gov_services.schemas import LICENCE_KIND, HolderIn

#: issue and revoke licences in one's own department's name (data stewards)
ISSUE = "gov:issue"
#: the city's prefix of licence ids (``JN-SP-2026-000123``)
CITY_PREFIX = "JN"
#: the CWT issuer of the published lists' anchor
ANCHOR_ISSUER = "citybrain"
#: longest code issued, characters: a version-40 QR code at error correction Q holds 1,852
MAX_CODE_CHARS = 1800
LICENCE_SUBJECT = "gov.licence"

_verifications: Counter[str] = Counter()
_verifications_lock = threading.Lock()


# --- keys ---------------------------------------------------------------------------------------


def _derive(secret: str, purpose: bytes) -> bytes:
    """32 bytes for one purpose from the platform secret (HKDF-SHA256, RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"citybrain.gov_services", info=purpose).derive(secret.encode())


def trust_anchor(secret: str) -> licences.SigningKey:
    """The platform's trust anchor, which signs the published trust and revocation lists."""
    return _anchor(_derive(secret, b"trust-anchor v1"))


@lru_cache(maxsize=8)
def _anchor(seed: bytes) -> licences.SigningKey:
    return licences.SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(seed), ANCHOR_ISSUER)


def trusted_anchor(secret: str) -> licences.TrustedKey:
    """The anchor's public half, as a verifier pins it."""
    return licences.TrustedKey.from_signing_key(trust_anchor(secret))


@lru_cache(maxsize=256)
def _decrypt(pem: str, password: bytes, issuer: str) -> licences.SigningKey:
    # Decrypting PKCS#8 costs a key derivation (~tens of ms): kept per process.
    return licences.SigningKey.from_pem(pem.encode(), issuer, password)


def _whole_seconds(moment: datetime) -> datetime:
    # CWT times are whole seconds; a key's signing period must not start after its first licence.
    return moment.astimezone(UTC).replace(microsecond=0)


def _signing_key(session: Session, org_id: int, issuer_code: str, secret: str, now: datetime) -> licences.SigningKey:
    """The issuer's current signing key, created (EdDSA) on its first licence."""
    password = _derive(secret, b"licence-keys v1")
    row = session.scalar(
        select(LicenceKey)
        .where(LicenceKey.issuer_org_id == org_id, LicenceKey.valid_until.is_(None), LicenceKey.withdrawn_at.is_(None))
        .order_by(LicenceKey.id.desc())
        .limit(1)
    )
    if row is not None:
        return _decrypt(row.encrypted_private_key, password, row.issuer_code)
    key = licences.generate_signing_key(licences.Algorithm.EDDSA, issuer_code)
    spki = key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    session.add(
        LicenceKey(
            issuer_org_id=org_id,
            issuer_code=issuer_code,
            kid=key.kid.hex(),
            algorithm=key.algorithm.value,
            encrypted_private_key=key.to_pem(password).decode(),
            public_key=base64.b64encode(spki).decode(),
            valid_from=_whole_seconds(now),
        )
    )
    session.flush()
    return key


# --- issuing and revoking -----------------------------------------------------------------------


def bureau_org_id(session: Session, bureau_code: str) -> int | None:
    """The data bureau's organisation id (it may act for every issuer), or None if absent."""
    from citybrain.core.auth.models import Organisation

    return session.scalar(select(Organisation.id).where(Organisation.code == bureau_code))


def _may_act_for(principal: Principal, org_id: int, bureau_id: int | None) -> bool:
    return principal.is_admin or principal.org_id == org_id or (bureau_id is not None and principal.org_id == bureau_id)


def _holder(session: Session, holder: HolderIn, secret: str) -> tuple[licences.Holder, str, int | None]:
    """The holder as printed in the code, their registry reference, and their account if bound."""
    from citybrain.core.auth.models import User

    if holder.kind == "person":
        number = (holder.id_number or "").strip().upper()
        if not identity.is_resident_id(number):
            raise BadLicence(errors=[FieldError(("body", "holder", "id_number"), "gov.bad_resident_id")])
        # The code carries no pseudonym (licences.Holder.person would add one): a public QR code
        # that linked a person's licences to each other would be a tracking handle.
        printed = licences.Holder("person", licences.mask_name(holder.name), licences.mask_identifier(number))
        ref = identity.person_ref(secret, number)
        return printed, ref, session.scalar(select(User.id).where(User.person_ref == ref))
    from stdnum.cn import uscc

    code = (holder.credit_code or "").strip().upper()
    if not uscc.is_valid(code):
        raise BadLicence(errors=[FieldError(("body", "holder", "credit_code"), "gov.bad_credit_code")])
    return licences.Holder.organisation(holder.name, code), code, None


def issue_licence(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    kind_name: str,
    holder: HolderIn,
    fields: Mapping[str, Any],
    valid_days: int | None,
    secret: str,
    issuer_org_id: int | None = None,
    bureau_id: int | None = None,
    application_id: int | None = None,
    now: datetime | None = None,
) -> Licence:
    """Issue a licence in ``issuer_org_id``'s name (default: the caller's organisation): sign its
    code with the issuer's key (created on first use) and enter it in the registry. Audited.

    ``valid_days`` is its validity in days from ``now`` (None: no end date). Only the caller's own
    department may issue, unless the caller is the data bureau (``bureau_id``) or an admin.
    """
    from citybrain.core.auth import service as auth

    if not principal.has(ISSUE):
        raise Forbidden("auth.missing_scope", scope=ISSUE)
    org_id = issuer_org_id if issuer_org_id is not None else principal.org_id
    if org_id is None or not _may_act_for(principal, org_id, bureau_id):
        raise NotIssuer()
    if not re.fullmatch(LICENCE_KIND, kind) or not kind_name.strip():
        raise BadLicence(errors=[FieldError(("body", "kind"), "gov.bad_form")])
    org = auth.get_org(session, org_id)
    printed, ref, user_id = _holder(session, holder, secret)
    issued_at = _whole_seconds(now or utcnow())
    expires_at = None if valid_days is None else issued_at + timedelta(days=valid_days)
    key = _signing_key(session, org.id, org.code, secret, issued_at)
    row = Licence(
        licence_id=f"pending-{secrets.token_hex(12)}",
        kind=kind,
        kind_name=kind_name,
        holder_kind=printed.kind,
        holder_name=printed.name,
        holder_identifier=printed.identifier,
        holder_ref=ref,
        holder_user_id=user_id,
        issuer_org_id=org.id,
        issuer_code=org.code,
        issuer_name=org.name,
        issued_at=issued_at,
        expires_at=expires_at,
        fields=dict(fields),
        code="",
        kid=key.kid.hex(),
        issued_by=principal.actor_ref(),
        application_id=application_id,
    )
    session.add(row)
    session.flush()  # the row id numbers the licence: unique without a counter to contend on
    row.licence_id = f"{CITY_PREFIX}-{kind}-{issued_at.astimezone(licences_timezone()).year}-{row.id:06d}"
    claims = licences.LicenceClaims(
        licence_id=row.licence_id,
        kind=kind,
        kind_name=kind_name,
        holder=printed,
        issuer=org.code,
        issuer_name=org.name,
        issued_at=issued_at,
        expires_at=expires_at,
        fields=dict(fields),
    )
    try:
        code = licences.issue_licence(claims, key)
    except ValueError as error:
        raise BadLicence(errors=[FieldError(("body", "fields"), "gov.fields_not_encodable", {"error": str(error)})]) from error
    if len(code) > MAX_CODE_CHARS:
        raise BadLicence(errors=[FieldError(("body", "fields"), "gov.code_too_long", {"chars": len(code), "limit": MAX_CODE_CHARS})])
    row.code = code
    session.flush()
    audit.record(
        session,
        principal,
        "gov.licence.issued",
        subject_type=LICENCE_SUBJECT,
        subject_id=row.licence_id,
        personal=printed.kind == "person",
        purpose="电子证照签发" if printed.kind == "person" else None,
        detail={"kind": kind, "holder_kind": printed.kind, "issuer": org.code, "kid": row.kid},
        org_id=principal.org_id if principal.org_id is not None else org.id,
    )
    return row


def licences_timezone() -> Any:
    """Licence ids carry the year in the city's time zone (Asia/Shanghai)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def _get(session: Session, licence_id: str) -> Licence:
    row = session.scalar(select(Licence).where(Licence.licence_id == licence_id))
    if row is None:
        raise LicenceNotFound(licence_id=licence_id)
    return row


def revoke(session: Session, principal: Principal, licence_id: str, reason: str, *, bureau_id: int | None = None) -> Licence:
    """Revoke a licence: every code of it fails verification from the next revocation list on.
    Only the issuing department's stewards (``gov:issue``), the data bureau's, or an admin. Audited."""
    row = _get(session, licence_id)
    if not principal.has(ISSUE) or not _may_act_for(principal, row.issuer_org_id, bureau_id):
        if not _holds(session, principal, row):
            raise LicenceNotFound(licence_id=licence_id)
        raise NotIssuer()
    if row.revoked_at is not None:
        raise LicenceAlreadyRevoked(licence_id=licence_id)
    row.revoked_at = utcnow()
    row.revoke_reason = reason.strip()
    row.revoked_by = principal.actor_ref()
    session.flush()
    audit.record(
        session,
        principal,
        "gov.licence.revoked",
        subject_type=LICENCE_SUBJECT,
        subject_id=row.licence_id,
        detail={"reason": row.revoke_reason, "issuer": row.issuer_code},
    )
    return row


# --- reading ------------------------------------------------------------------------------------


def _person_ref_of(session: Session, principal: Principal) -> str | None:
    from citybrain.core.auth.models import User

    if principal.kind != "user" or principal.id is None:
        return None
    return session.scalar(select(User.person_ref).where(User.id == principal.id))


def _credit_code_of(session: Session, principal: Principal) -> str | None:
    from citybrain.core.auth.models import Organisation

    if principal.org_id is None:
        return None
    code = session.scalar(select(Organisation.credit_code).where(Organisation.id == principal.org_id))
    return code.strip().upper() if code else None


def _holds(session: Session, principal: Principal, row: Licence) -> bool:
    if row.holder_kind == "person":
        bound = principal.kind == "user" and row.holder_user_id is not None and row.holder_user_id == principal.id
        return bound or row.holder_ref == _person_ref_of(session, principal)
    return row.holder_ref == _credit_code_of(session, principal)


def get_licence(session: Session, principal: Principal, licence_id: str, *, bureau_id: int | None = None, audited: bool = True) -> Licence:
    """One licence, for its holder, its issuing department, the data bureau or an admin (anyone
    else is told it does not exist). A read of a person's licence is audited as personal data."""
    row = _get(session, licence_id)
    issuer_side = principal.has(ISSUE) and _may_act_for(principal, row.issuer_org_id, bureau_id)
    if not issuer_side and not _holds(session, principal, row):
        raise LicenceNotFound(licence_id=licence_id)
    if audited:
        audit.record(
            session,
            principal,
            "gov.licence.read",
            subject_type=LICENCE_SUBJECT,
            subject_id=row.licence_id,
            personal=row.holder_kind == "person",
            purpose=("持证人查看" if not issuer_side else "发证部门查看") if row.holder_kind == "person" else None,
        )
    return row


def wallet(session: Session, principal: Principal) -> Sequence[Licence]:
    """The caller's own licences (卡包): those issued to the person their account names, and those
    issued to their organisation's credit code; newest first."""
    conditions = []
    if (ref := _person_ref_of(session, principal)) is not None:
        conditions.append((Licence.holder_kind == "person") & (Licence.holder_ref == ref))
    if (credit := _credit_code_of(session, principal)) is not None:
        conditions.append((Licence.holder_kind == "organisation") & (Licence.holder_ref == credit))
    if not conditions:
        return []
    return session.scalars(select(Licence).where(or_(*conditions)).order_by(Licence.issued_at.desc(), Licence.id.desc())).all()


def issued_by_me(session: Session, principal: Principal, *, bureau_id: int | None = None, limit: int = 200) -> Sequence[Licence]:
    """The licences the caller's department issued (every department's for the bureau), newest first."""
    query = select(Licence).order_by(Licence.id.desc()).limit(limit)
    if not (principal.is_admin or (bureau_id is not None and principal.org_id == bureau_id)):
        query = query.where(Licence.issuer_org_id == (principal.org_id or -1))
    return session.scalars(query).all()


def qr_svg(row: Licence) -> bytes:
    """The licence's QR code as SVG."""
    return licences.licence_qr_svg(row.code)


def qr_png(row: Licence) -> bytes:
    """The licence's QR code as PNG."""
    return licences.licence_qr_png(row.code)


# --- publishing and verifying -------------------------------------------------------------------


def _kid_bytes(kid_hex: str) -> bytes:
    return bytes.fromhex(kid_hex)


def trust_list(session: Session, *, now: datetime | None = None) -> licences.TrustList:
    """Every issuing key ever made (withdrawn ones as withdrawn), from the registry."""
    rows = session.scalars(select(LicenceKey).order_by(LicenceKey.id)).all()
    keys = [
        licences.TrustedKey(
            kid=_kid_bytes(r.kid),
            algorithm=licences.Algorithm(r.algorithm),
            public_key_der=base64.b64decode(r.public_key),
            issuer=r.issuer_code,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
        )
        for r in rows
        if r.withdrawn_at is None
    ]
    withdrawn = [_kid_bytes(r.kid) for r in rows if r.withdrawn_at is not None]
    return licences.TrustList.of(keys, withdrawn=withdrawn, issued_at=_whole_seconds(now or utcnow()))


def revocation_list(session: Session, *, now: datetime | None = None) -> licences.RevocationList:
    """Every revoked licence, as the hash of issuer and licence id (no identifiers published)."""
    rows = session.execute(select(Licence.issuer_code, Licence.licence_id).where(Licence.revoked_at.is_not(None))).all()
    return licences.RevocationList.of(
        (licences.licence_revocation_hash(issuer, licence_id) for issuer, licence_id in rows), issued_at=_whole_seconds(now or utcnow())
    )


def published_trust_list(session: Session, secret: str) -> tuple[bytes, str]:
    """The trust list as published: its JSON document and the anchor's detached JWS over it."""
    document = trust_list(session).to_json()
    return document, licences.sign_document(document, trust_anchor(secret), typ=licences.TRUST_LIST_TYPE)


def published_revocation_list(session: Session, secret: str) -> tuple[bytes, str]:
    """The revocation list as published: its JSON document and the anchor's detached JWS over it."""
    document = revocation_list(session).to_json()
    return document, licences.sign_document(document, trust_anchor(secret), typ=licences.REVOCATION_LIST_TYPE)


def _registry_state(session: Session) -> tuple[Any, ...]:
    """What the published lists depend on, in two cheap queries: keys change only by being added,
    retired or withdrawn (each moves ``updated_at``), and revocations are only ever added."""
    keys = session.execute(select(func.count(), func.max(LicenceKey.id), func.max(LicenceKey.updated_at)).select_from(LicenceKey)).one()
    revoked = session.execute(select(func.count(), func.max(Licence.revoked_at)).where(Licence.revoked_at.is_not(None))).one()
    return (*keys, *revoked)


_published: dict[tuple[Any, ...], tuple[licences.TrustList, licences.RevocationList]] = {}
_published_lock = threading.Lock()


def _verified_lists(session: Session, secret: str) -> tuple[licences.TrustList, licences.RevocationList]:
    """The trust and revocation lists as an offline verifier holds them: published (signed), then
    loaded back through the anchor's signature check. Kept per process while the registry's keys
    and revocations are unchanged (re-signing both on every verification would cost ~1 ms)."""
    state = (hashlib.sha256(secret.encode()).hexdigest(), *_registry_state(session))
    with _published_lock:
        found = _published.get(state)
    if found is not None:
        return found
    anchors = [trusted_anchor(secret)]
    lists = (
        licences.load_trust_list(*published_trust_list(session, secret), anchors),
        licences.load_revocation_list(*published_revocation_list(session, secret), anchors),
    )
    with _published_lock:
        _published.clear()
        _published[state] = lists
    return lists


def verify(session: Session, code: str, *, secret: str, now: datetime | None = None) -> licences.VerificationResult:
    """Verify a code as an offline verifier would: against the published, signed trust list and
    revocation list (loaded back through their signature check). Never raises on ``code``; counted."""
    trust, revoked = _verified_lists(session, secret)
    result = licences.verify_licence(code, trust, revoked, now=now)
    with _verifications_lock:
        _verifications["all"] += 1
        _verifications["valid" if result.valid else "invalid"] += 1
    return result


def figures(session: Session) -> dict[str, int]:
    """Licences issued and revoked (registry), active keys, and verifications answered by this
    server process since it started (counted in memory)."""
    issued = session.scalar(select(func.count()).select_from(Licence)) or 0
    revoked = session.scalar(select(func.count()).select_from(Licence).where(Licence.revoked_at.is_not(None))) or 0
    keys = session.scalar(select(func.count()).select_from(LicenceKey).where(LicenceKey.withdrawn_at.is_(None))) or 0
    with _verifications_lock:
        return {
            "issued": issued,
            "revoked": revoked,
            "active_keys": keys,
            "verifications": _verifications["all"],
            "verifications_valid": _verifications["valid"],
        }


# --- applications, for other domains ------------------------------------------------------------


def statistics(session: Session) -> dict[str, Any]:
    """The government services' figures for the operations center (plain JSON-ready dict):
    ``applications``, ``instant``, ``instant_approval_rate``, ``finished``, ``on_time_rate``,
    ``average_handling_hours``, ``satisfaction`` (mean rating 1-5), ``ratings``, ``in_progress``,
    and per-item (``items``) and per-department (``departments``) counts. Rates are 0-1; None
    where there is nothing to divide by yet."""
    from citybrain.gov_services import applications

    return applications.statistics(session)

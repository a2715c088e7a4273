"""Electronic licences (电子证照): signed QR codes that anyone can verify offline.

A licence is carried the way the EU Digital COVID Certificate (HCERT) carries a certificate, one
layer inside the next::

    "CB1:" + Base45( zlib( COSE_Sign1( CWT claims ) ) )  ->  QR code

- **CWT** (RFC 8392): ``iss`` (1, the issuing organisation's code), ``iat`` (6), ``exp`` (4, left out
  for a licence without an end date, 长期有效) and one private claim, :data:`LICENCE_CLAIM`, a map
  with the licence itself (id, kind, holder, issuing organisation's name, the licence's fields).
  HCERT puts its certificate under the registered claim -260; ours is -65537, the first key of the
  CWT registry's private-use range (< -65536), so it can never collide with a registered claim.
- **COSE_Sign1** (RFC 9052), tagged (18), signed with EdDSA (Ed25519) or ES256 (P-256); the protected
  header holds ``alg`` and ``kid``. ``kid`` is the first 8 bytes of the SHA-256 of the public key's
  SubjectPublicKeyInfo DER (:func:`key_id`). HCERT takes the 8 bytes from the SHA-256 of the signer's
  X.509 certificate instead (:func:`certificate_key_id`); our keys have no certificates, so the key
  itself is hashed, which makes every ``kid`` checkable against the key it names.
- **zlib** (RFC 1950), **Base45** (RFC 9285), whose alphabet is QR's alphanumeric mode, so the code
  fits a QR code at about 5.5 bits per character; a **context prefix** says what follows: ``CB1:``
  for citybrain licences, ``HC1:`` for HCERT.

**Holder privacy.** A licence QR is shown in public: 营业执照 and 食品经营许可证 hang on the shop
wall, a citizen hands a phone to a clerk. So the code never holds a person's full name or resident ID
number (:class:`Holder`): the name keeps its first and last character (``张*明``, the usual Chinese
masking), the ID number only its last four characters (``**************123X``), enough for a clerk
who holds the ID card to see that they match, while a reader of the QR learns neither birth date nor
birthplace (the first 14 digits). For the registry to link a licence back to its holder there is a
keyed pseudonym, HMAC-SHA256 of the full ID number under an issuer secret: an unkeyed hash would be
useless, because a resident ID has so little entropy (region, birth date, 3 digits) that anyone could
hash every candidate. Organisations are public by law (名称 and 统一社会信用代码 are printed on the
licence and published in the enterprise credit register), so they are not masked.

**Trust list** (:class:`TrustList`). Verifiers are offline: they hold a published JSON document,
``kid`` -> public key (SPKI DER, base64), algorithm, issuer, signing period (valid from/until). Keys
rotate by ``kid``: :meth:`TrustList.rotate` ends the signing period of an issuer's current key and
adds the next one; licences signed before stay verifiable as long as their key is listed, and a
licence that claims to be issued outside its key's signing period fails (``licence.key_expired``,
``licence.key_not_yet_valid``). A key taken off the list is recorded as withdrawn, so its licences
fail with ``licence.key_withdrawn`` rather than a bare ``licence.unknown_kid``.

The published lists are **signed** (:func:`sign_document`): a detached JWS (RFC 7515 appendix F,
via joserfc) over the document's exact bytes, by a trust-anchor key whose public key is pinned in
the verifier. A trust list decides which keys may issue licences, and offline verifiers get it from
wherever they can (an app update, a mirror, a USB stick at a service counter), so whoever could edit
it in transit could add a key and mint licences. The signature makes the document's integrity
independent of the transport, as the DCC gateway's signed trust lists do. Anchor keys are few,
long-lived and kept offline; the issuing keys they vouch for rotate.

**Revocation** (:class:`RevocationList`) follows the DCC revocation design (EU eHealth Network,
2022): the published list holds no identifiers, only the first 16 bytes of SHA-256 hashes, so it does
not announce whose licence was withdrawn. An entry matches either a licence (the hash of issuer and
licence id, :func:`licence_revocation_hash`, like the DCC's COUNTRYCODEUCI: every code ever printed
for that licence) or one code (the hash of its signature, :func:`signature_revocation_hash`, like the
DCC's SIGNATURE type: a leaked copy, while a re-issued code for the same licence stays good). As in
the DCC, an ECDSA signature is hashed by its ``r`` half only, because ``(r, s)`` and ``(r, n - s)``
are both valid and a forger could otherwise dodge the entry. For ``HC1:`` codes the verifier computes
the DCC's own three hashes (UCI, COUNTRYCODEUCI, SIGNATURE), so entries of a DCC revocation list work
unchanged. A hash hides an id only from those who cannot guess it; enumerable licence ids can be
tested one by one, exactly as in the DCC.

**Verification** (:func:`verify_licence`) never raises on its input: prefix -> Base45 -> zlib ->
COSE -> ``kid`` lookup -> signature -> claims (issuer, the key's signing period, ``iat``/``nbf``,
``exp``) -> revocation, and the first step that fails names the reason (:class:`Reason`). Lengths
are capped before work is done (:data:`MAX_CODE_CHARS`, :data:`MAX_PAYLOAD_BYTES`, the latter against
zlib bombs).

**HCERT interoperability.** ``HC1:`` codes are verified against trust-list entries made from the
signers' X.509 certificates (:meth:`TrustedKey.from_certificate`, DSCs with EC P-256 -> ES256 or RSA
-> PS256, the two algorithms HCERT allows), with ``kid`` the certificate hash. As HCERT validators do,
a ``kid`` in the protected header wins and one in the unprotected header is used only when the
protected header has none; ``alg`` likewise (it is safe to take from the unprotected bucket because
it must equal the algorithm the trust list pins for the key). Certificate chains to a CSCA and the
DSC's extended key usage (test/vaccination/recovery) are not checked here: the trust list is the
statement of which DSCs are trusted.

**Two engines, one answer.** pycose is the reference implementation of COSE_Sign1 here: issuing
signs with it, and ``verify_licence(..., engine="pycose")`` checks signatures with it. Its ES256
runs on pure-Python ``ecdsa`` (about 1.7 ms a verification, under 600/s), short of the 2,000/s a
verifier needs, so the default engine builds the same Sig_structure and checks it with
``cryptography`` (OpenSSL) directly; everything else, parsing and every other check, is shared. The
unit tests run both engines over valid, tampered and malformed codes and require identical results.

Things done by hand, and why:

- pycose 1.1 cannot decode messages with cbor2 >= 6, which decodes a tag's content as a tuple
  (pycose issue #141): the COSE envelope is parsed here with cbor2 and handed to pycose's
  ``Sign1Message.from_cose_obj``, the constructor its own ``decode`` calls.
- cbor2 ignores bytes after the first item, so the envelope is read with a ``CBORDecoder`` that
  reports how much it consumed; trailing bytes are refused (they are not covered by the signature).
- An ES256 COSE signature is ``r || s`` (32 + 32 bytes) while OpenSSL takes DER: the fast engine
  converts with ``encode_dss_signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal, TypeAlias, cast

import base45
import cbor2
import segno
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwk, jws
from joserfc.errors import JoseError
from pycose.algorithms import EdDSA, Es256, Ps256
from pycose.headers import KID
from pycose.headers import Algorithm as AlgorithmHeader
from pycose.keys.cosekey import CoseKey
from pycose.messages.sign1message import Sign1Message

CONTEXT_PREFIX = "CB1:"
"""The context prefix of citybrain licence codes (HCERT's is ``HC1:``)."""
HCERT_PREFIX = "HC1:"

LICENCE_CLAIM = -65537
"""The CWT claim key of the licence map: the first private-use key (RFC 8392 section 9.1)."""
HCERT_CLAIM = -260
"""The CWT claim key of HCERT's certificate map (IANA CWT Claims registry)."""

LICENCE_FORMAT_VERSION = 1
MAX_CODE_CHARS = 8192
"""Longest code accepted, characters; a version-40 QR code holds at most 4,296 alphanumerics."""
MAX_PAYLOAD_BYTES = 64 * 1024
"""Largest decompressed COSE message accepted, bytes: a zlib bomb stops here."""
DEFAULT_LEEWAY = timedelta(minutes=5)
"""Clock skew allowed between the issuing server and an offline verifier."""

TRUST_LIST_FORMAT = "citybrain.trust-list.v1"
REVOCATION_LIST_FORMAT = "citybrain.revocation-list.v1"
TRUST_LIST_TYPE = "citybrain-trust-list+json"
REVOCATION_LIST_TYPE = "citybrain-revocation-list+json"

# CWT claim keys (RFC 8392 section 4).
_ISS, _EXP, _NBF, _IAT = 1, 4, 5, 6
# COSE header labels (RFC 9052 section 3.1).
_ALG, _KID = 1, 4
_COSE_SIGN1_TAG = 18
_REVOCATION_HASH_BYTES = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_NUMERIC_DATE = -62135596800  # 0001-01-01T00:00:00Z
_MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


class Algorithm(StrEnum):
    """Signature algorithms, by their COSE names. PS256 is only verified (HCERT's RSA signers)."""

    EDDSA = "EdDSA"
    ES256 = "ES256"
    PS256 = "PS256"


_COSE_ALGORITHM_IDS: dict[int, Algorithm] = {-8: Algorithm.EDDSA, -7: Algorithm.ES256, -37: Algorithm.PS256}
_PYCOSE_ALGORITHMS = {Algorithm.EDDSA: EdDSA, Algorithm.ES256: Es256, Algorithm.PS256: Ps256}
# Trust-list signatures are JWS; RFC 9864 names Ed25519 fully ("EdDSA" left the curve open).
_JWS_ALGORITHMS = {Algorithm.EDDSA: "Ed25519", Algorithm.ES256: "ES256"}


class Reason(StrEnum):
    """Why a code did not verify: stable keys, translated by the pages that show them."""

    BAD_PREFIX = "licence.bad_prefix"
    TOO_LARGE = "licence.too_large"
    BAD_ENCODING = "licence.bad_encoding"
    BAD_COMPRESSION = "licence.bad_compression"
    BAD_COSE = "licence.bad_cose"
    UNSUPPORTED_ALGORITHM = "licence.unsupported_algorithm"
    UNKNOWN_KID = "licence.unknown_kid"
    KEY_WITHDRAWN = "licence.key_withdrawn"
    ALGORITHM_MISMATCH = "licence.algorithm_mismatch"
    BAD_SIGNATURE = "licence.bad_signature"
    BAD_CLAIMS = "licence.bad_claims"
    WRONG_ISSUER = "licence.wrong_issuer"
    KEY_NOT_YET_VALID = "licence.key_not_yet_valid"
    KEY_EXPIRED = "licence.key_expired"
    NOT_YET_VALID = "licence.not_yet_valid"
    EXPIRED = "licence.expired"
    REVOKED = "licence.revoked"


Engine: TypeAlias = Literal["fast", "pycose"]
FieldValue: TypeAlias = str | int | float | bool | list["FieldValue"] | dict[str, "FieldValue"] | None
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


# --- keys ---------------------------------------------------------------------------------------


def _spki_der(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key: PublicKey) -> bytes:
    """The ``kid`` of a key: the first 8 bytes of the SHA-256 of its SubjectPublicKeyInfo DER."""
    return hashlib.sha256(_spki_der(public_key)).digest()[:8]


def certificate_key_id(certificate: x509.Certificate) -> bytes:
    """HCERT's ``kid`` of a signer certificate: the first 8 bytes of the SHA-256 of its DER."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()[:8]


def _algorithm_of(public_key: object) -> Algorithm:
    """The one algorithm a key may sign with; pinning it stops algorithm substitution."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return Algorithm.EDDSA
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return Algorithm.ES256
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048:
        return Algorithm.PS256
    raise ValueError(f"unsupported key: {type(public_key).__name__} (Ed25519, EC P-256 or RSA >= 2048 bits)")


@dataclass(frozen=True)
class SigningKey:
    """An issuer's private key (EdDSA or ES256) with its ``kid`` and the issuer it signs for."""

    private_key: PrivateKey
    issuer: str
    algorithm: Algorithm = field(init=False)
    kid: bytes = field(init=False)
    _cose_key: CoseKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        algorithm = _algorithm_of(self.private_key.public_key())
        if algorithm is Algorithm.PS256:
            raise ValueError("licences are signed with EdDSA or ES256")
        if not self.issuer:
            raise ValueError("a signing key needs its issuer")
        pem = self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "kid", key_id(self.private_key.public_key()))
        object.__setattr__(self, "_cose_key", CoseKey.from_pem_private_key(pem.decode()))

    @property
    def public_key(self) -> PublicKey:
        """The public half, as published in the trust list."""
        return self.private_key.public_key()

    def to_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted under ``password`` when one is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    @classmethod
    def from_pem(cls, pem: bytes, issuer: str, password: bytes | None = None) -> SigningKey:
        """Load a key written by :meth:`to_pem`."""
        key = serialization.load_pem_private_key(pem, password)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"unsupported private key: {type(key).__name__}")
        return cls(key, issuer)


def generate_signing_key(algorithm: Algorithm, issuer: str) -> SigningKey:
    """A fresh issuing key: Ed25519 for EdDSA, P-256 for ES256."""
    if algorithm is Algorithm.EDDSA:
        return SigningKey(ed25519.Ed25519PrivateKey.generate(), issuer)
    if algorithm is Algorithm.ES256:
        return SigningKey(ec.generate_private_key(ec.SECP256R1()), issuer)
    raise ValueError(f"licences are signed with EdDSA or ES256, not {algorithm}")


# --- claims -------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """A person's name as shown in public: first and last character kept (``张*明``, ``李*``)."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_identifier(identifier: str, keep_last: int = 4) -> str:
    """An ID number as shown in public: only the last ``keep_last`` characters kept."""
    identifier = identifier.strip().upper()
    keep = min(keep_last, len(identifier) // 2)
    return "*" * (len(identifier) - keep) + identifier[len(identifier) - keep :]


def pseudonym(key: bytes, identifier: str) -> str:
    """A keyed pseudonym of an identifier: HMAC-SHA256 under ``key``, 128 bits, base64url.

    Stable for one key (the registry can find a holder's licences), useless to anyone without it
    (a resident ID number has too little entropy for an unkeyed hash to hide it).
    """
    if len(key) < 16:
        raise ValueError("a pseudonym key needs at least 16 bytes")
    digest = hmac.new(key, identifier.strip().upper().encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Holder:
    """A licence's holder as printed in the code: masked for a person, in clear for an organisation."""

    kind: Literal["person", "organisation"]
    name: str
    identifier: str
    reference: str | None = None
    """A person's keyed pseudonym (:func:`pseudonym`), for the registry; None for organisations."""

    @classmethod
    def person(cls, name: str, resident_id: str, *, pseudonym_key: bytes) -> Holder:
        """A natural person: name and resident ID masked, plus a keyed pseudonym of the ID."""
        return cls("person", mask_name(name), mask_identifier(resident_id), pseudonym(pseudonym_key, resident_id))

    @classmethod
    def organisation(cls, name: str, credit_code: str) -> Holder:
        """A company or other organisation, by its unified social credit code (public by law)."""
        return cls("organisation", name.strip(), credit_code.strip().upper())


@dataclass(frozen=True)
class LicenceClaims:
    """What a licence code says. Times are whole seconds (CWT NumericDate), timezone-aware."""

    licence_id: str
    kind: str
    """The licence kind's code, e.g. ``JY`` for a food business permit."""
    kind_name: str
    holder: Holder
    issuer: str
    """The issuing organisation's code (CWT ``iss``), e.g. its unified social credit code."""
    issuer_name: str
    issued_at: datetime
    expires_at: datetime | None
    """None for a licence without an end date (长期有效)."""
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    """The licence's own fields (business scope, address, ...): CBOR-able values."""


@dataclass(frozen=True)
class HcertClaims:
    """What an ``HC1:`` code says: its CWT times and the certificate under claim -260/1."""

    issuer: str | None
    issued_at: datetime | None
    expires_at: datetime | None
    certificate: Mapping[str, Any]


def _numeric_date(moment: datetime, what: str) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware")
    return int(moment.timestamp())


def _from_numeric_date(value: int | float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def encode_licence_claims(claims: LicenceClaims) -> bytes:
    """The CWT claims set of a licence, CBOR-encoded (the COSE payload)."""
    if not claims.licence_id or not claims.issuer:
        raise ValueError("a licence needs an id and an issuer")
    iat = _numeric_date(claims.issued_at, "issued_at")
    cwt: dict[int, object] = {_ISS: claims.issuer, _IAT: iat}
    if claims.expires_at is not None:
        exp = _numeric_date(claims.expires_at, "expires_at")
        if exp <= iat:
            raise ValueError("a licence must expire after it is issued")
        cwt[_EXP] = exp
    holder: dict[str, str] = {"t": claims.holder.kind, "n": claims.holder.name, "i": claims.holder.identifier}
    if claims.holder.reference is not None:
        holder["r"] = claims.holder.reference
    # Short keys, as HCERT's "nam"/"dob": every byte costs QR modules.
    cwt[LICENCE_CLAIM] = {
        "v": LICENCE_FORMAT_VERSION,
        "id": claims.licence_id,
        "k": claims.kind,
        "kn": claims.kind_name,
        "h": holder,
        "o": claims.issuer_name,
        "f": dict(claims.fields),
    }
    try:
        return cbor2.dumps(cwt)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as error:
        raise ValueError(f"licence fields are not CBOR-encodable: {error}") from error


class _Malformed(Exception):
    """Internal: a code that cannot be read, with the reason to report."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _str(value: object, what: str, *, optional: bool = False) -> str:
    if isinstance(value, str) and (value or optional):
        return value
    raise _Malformed(Reason.BAD_CLAIMS, f"{what} must be a non-empty text string")


def _time(value: object, what: str) -> int | float:
    # bool is an int in Python; a CWT time is never a boolean.
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) < 2**53:
        return value
    raise _Malformed(Reason.BAD_CLAIMS, f"{what} must be a NumericDate")


def _decode_licence_claims(cwt: Mapping[Any, Any]) -> LicenceClaims:
    body = cwt.get(LICENCE_CLAIM)
    if not isinstance(body, Mapping):
        raise _Malformed(Reason.BAD_CLAIMS, f"claim {LICENCE_CLAIM} (the licence) is missing")
    if body.get("v") != LICENCE_FORMAT_VERSION:
        raise _Malformed(Reason.BAD_CLAIMS, f"unsupported licence format version {body.get('v')!r}")
    holder = body.get("h")
    if not isinstance(holder, Mapping) or holder.get("t") not in ("person", "organisation"):
        raise _Malformed(Reason.BAD_CLAIMS, "the holder is missing or of an unknown kind")
    reference = holder.get("r")
    if reference is not None and not isinstance(reference, str):
        raise _Malformed(Reason.BAD_CLAIMS, "the holder reference must be text")
    fields = body.get("f", {})
    if not isinstance(fields, Mapping) or not all(isinstance(k, str) for k in fields):
        raise _Malformed(Reason.BAD_CLAIMS, "the licence fields must be a map with text keys")
    exp = cwt.get(_EXP)
    return LicenceClaims(
        licence_id=_str(body.get("id"), "the licence id"),
        kind=_str(body.get("k"), "the licence kind", optional=True),
        kind_name=_str(body.get("kn"), "the licence kind's name", optional=True),
        holder=Holder(holder["t"], _str(holder.get("n"), "the holder's name"), _str(holder.get("i"), "the holder's id"), reference),
        issuer=_str(cwt.get(_ISS), "iss"),
        issuer_name=_str(body.get("o"), "the issuing organisation", optional=True),
        issued_at=_from_numeric_date(_time(cwt.get(_IAT), "iat")),
        expires_at=None if exp is None else _from_numeric_date(_time(exp, "exp")),
        fields=dict(fields),
    )


def _decode_hcert_claims(cwt: Mapping[Any, Any]) -> HcertClaims:
    hcert = cwt.get(HCERT_CLAIM)
    certificate = hcert.get(1) if isinstance(hcert, Mapping) else None
    if not isinstance(certificate, Mapping):
        raise _Malformed(Reason.BAD_CLAIMS, f"claim {HCERT_CLAIM}/1 (the certificate) is missing")
    iss, iat, exp = cwt.get(_ISS), cwt.get(_IAT), cwt.get(_EXP)
    return HcertClaims(
        issuer=None if iss is None else _str(iss, "iss"),
        issued_at=None if iat is None else _from_numeric_date(_time(iat, "iat")),
        expires_at=None if exp is None else _from_numeric_date(_time(exp, "exp")),
        certificate=dict(certificate),
    )


# --- issuing ------------------------------------------------------------------------------------


def _check_prefix(prefix: str) -> None:
    # The prefix shares the QR code's alphanumeric segment with the Base45 text.
    body = prefix[:-1]
    if not prefix.endswith(":") or not body or not all(c.isascii() and (c.isupper() or c.isdigit()) for c in body):
        raise ValueError(f"a context prefix is upper-case letters and digits ending in ':', not {prefix!r}")


def issue_licence(claims: LicenceClaims, key: SigningKey, *, prefix: str = CONTEXT_PREFIX) -> str:
    """Sign a licence and return its code: ``prefix`` + Base45(zlib(COSE_Sign1(CWT))).

    Signed with pycose; ``key.issuer`` must be the licence's issuer (a department cannot sign for
    another). Raises ValueError for claims that cannot be encoded.
    """
    _check_prefix(prefix)
    if claims.issuer != key.issuer:
        raise ValueError(f"key {key.kid.hex()} signs for {key.issuer!r}, not {claims.issuer!r}")
    message = Sign1Message(
        phdr={AlgorithmHeader: _PYCOSE_ALGORITHMS[key.algorithm], KID: key.kid},
        payload=encode_licence_claims(claims),
    )
    message.key = key._cose_key
    compressed = zlib.compress(message.encode(tag=True), 9)
    encoded: bytes = base45.b45encode(compressed)
    return prefix + encoded.decode("ascii")


def licence_qr(code: str) -> segno.QRCode:
    """The QR code of a licence code: error correction Q (~25%), as HCERT recommends."""
    return segno.make(code, error="q", micro=False)


def licence_qr_svg(code: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The QR code as an SVG document (``scale`` pixels a module, ``border`` modules of margin)."""
    out = io.BytesIO()
    licence_qr(code).save(out, kind="svg", scale=scale, border=border, xmldecl=True)
    return out.getvalue()


def licence_qr_png(code: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The QR code as a PNG image (``scale`` pixels a module, ``border`` modules of margin)."""
    out = io.BytesIO()
    licence_qr(code).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


# --- trust list ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as error:
        raise ValueError(f"{what} is not valid base64") from error


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: object, what: str) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"{what} must be an ISO 8601 time or null")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{what} is not an ISO 8601 time: {text!r}") from error
    if moment.tzinfo is None:
        raise ValueError(f"{what} must carry a timezone: {text!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class TrustedKey:
    """One trust-list entry: a public key, the algorithm it signs with, its issuer and signing period.

    ``issuer`` None (X.509 signers without a country) means the code's ``iss`` is not checked
    against it; a citybrain licence always needs a key whose issuer equals its ``iss``.
    """

    kid: bytes
    algorithm: Algorithm
    public_key_der: bytes
    issuer: str | None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    certificate_der: bytes | None = None
    """The signer's X.509 certificate for HCERT entries (their ``kid`` is its hash)."""
    public_key: PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        public_key = serialization.load_der_public_key(self.public_key_der)
        algorithm = _algorithm_of(public_key)
        if algorithm is not self.algorithm:
            raise ValueError(f"key {self.kid.hex()} is an {algorithm} key, listed as {self.algorithm}")
        if self.certificate_der is not None:
            expected = hashlib.sha256(self.certificate_der).digest()[:8]
        else:
            expected = hashlib.sha256(self.public_key_der).digest()[:8]
        if self.kid != expected:
            raise ValueError(f"kid {self.kid.hex()} does not match its key (expected {expected.hex()})")
        if self.certificate_der is not None:
            certificate = x509.load_der_x509_certificate(self.certificate_der)
            if _spki_der(cast(PublicKey, certificate.public_key())) != self.public_key_der:
                raise ValueError(f"key {self.kid.hex()} is not its certificate's key")
        for moment in (self.valid_from, self.valid_until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("a key's validity must be timezone-aware")
        object.__setattr__(self, "public_key", cast(PublicKey, public_key))

    @classmethod
    def from_signing_key(cls, key: SigningKey, valid_from: datetime | None = None, valid_until: datetime | None = None) -> TrustedKey:
        """The entry publishing ``key``'s public half."""
        return cls(key.kid, key.algorithm, _spki_der(key.public_key), key.issuer, valid_from, valid_until)

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate | bytes) -> TrustedKey:
        """An HCERT signer (DSC) from its X.509 certificate (DER bytes or loaded).

        The algorithm follows the key (EC P-256 -> ES256, RSA -> PS256), the signing period is the
        certificate's validity, and the issuer is the subject's country (HCERT's ``iss``) if it has one.
        """
        if isinstance(certificate, bytes):
            certificate = x509.load_der_x509_certificate(certificate)
        public_key = certificate.public_key()
        algorithm = _algorithm_of(public_key)
        countries = certificate.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
        country = countries[0].value if countries else None
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(
            kid=certificate_key_id(certificate),
            algorithm=algorithm,
            public_key_der=_spki_der(cast(PublicKey, public_key)),
            issuer=country if isinstance(country, str) else None,
            valid_from=certificate.not_valid_before_utc,
            valid_until=certificate.not_valid_after_utc,
            certificate_der=der,
        )


@dataclass(frozen=True)
class TrustList:
    """The keys a verifier trusts, by ``kid``, and the ``kid``s withdrawn from it."""

    keys: Mapping[bytes, TrustedKey] = field(default_factory=dict)
    withdrawn: frozenset[bytes] = frozenset()
    issued_at: datetime | None = None

    @classmethod
    def of(cls, keys: Iterable[TrustedKey], *, withdrawn: Iterable[bytes] = (), issued_at: datetime | None = None) -> TrustList:
        """A trust list of ``keys``; a ``kid`` listed twice is an error."""
        by_kid: dict[bytes, TrustedKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ValueError(f"kid {key.kid.hex()} is listed twice")
            by_kid[key.kid] = key
        return cls(by_kid, frozenset(withdrawn) - by_kid.keys(), issued_at)

    @classmethod
    def from_certificates(cls, certificates: Iterable[x509.Certificate | bytes]) -> TrustList:
        """A trust list of HCERT signer certificates (DSCs)."""
        return cls.of(TrustedKey.from_certificate(c) for c in certificates)

    def add(self, key: TrustedKey) -> TrustList:
        """This list with ``key`` added."""
        return TrustList.of([*self.keys.values(), key], withdrawn=self.withdrawn, issued_at=self.issued_at)

    def rotate(self, new_key: TrustedKey, *, at: datetime) -> TrustList:
        """Start signing with ``new_key`` at ``at``: the issuer's current keys stop signing then.

        The old keys stay listed, so the licences they signed keep verifying; a code that claims to
        be issued by an old key after ``at`` fails with ``licence.key_expired``.
        """
        if at.tzinfo is None:
            raise ValueError("the rotation time must be timezone-aware")
        keys = [
            replace(k, valid_until=at) if k.issuer == new_key.issuer and (k.valid_until is None or k.valid_until > at) else k
            for k in self.keys.values()
        ]
        return TrustList.of([*keys, replace(new_key, valid_from=new_key.valid_from or at)], withdrawn=self.withdrawn)

    def remove(self, kid: bytes) -> TrustList:
        """Take a key off the list (compromised, or its licences all expired): it is recorded as withdrawn."""
        return TrustList({k: v for k, v in self.keys.items() if k != kid}, self.withdrawn | {kid}, self.issued_at)

    def to_json(self) -> bytes:
        """The published document: UTF-8 JSON, deterministic (sorted keys), so its signature is stable."""
        document = {
            "format": TRUST_LIST_FORMAT,
            "issued_at": _iso(self.issued_at),
            "keys": {
                _b64(kid): {
                    "alg": key.algorithm.value,
                    "issuer": key.issuer,
                    "public_key": _b64(key.public_key_der),
                    "valid_from": _iso(key.valid_from),
                    "valid_until": _iso(key.valid_until),
                    **({"certificate": _b64(key.certificate_der)} if key.certificate_der is not None else {}),
                }
                for kid, key in self.keys.items()
            },
            "withdrawn": sorted(_b64(kid) for kid in self.withdrawn),
        }
        return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> TrustList:
        """Read a document written by :meth:`to_json`; ValueError names what is wrong.

        This checks the document, not who published it: use :func:`load_trust_list` for a signed one.
        """
        document = _load_json_object(data, TRUST_LIST_FORMAT)
        entries = document.get("keys")
        if not isinstance(entries, dict):
            raise ValueError("'keys' must be an object of kid -> key")
        keys = []
        for kid_text, entry in entries.items():
            if not isinstance(entry, dict):
                raise ValueError(f"key {kid_text}: must be an object")
            alg = entry.get("alg")
            if alg not in set(Algorithm):
                raise ValueError(f"key {kid_text}: unsupported alg {alg!r}")
            algorithm = Algorithm(alg)
            issuer = entry.get("issuer")
            if issuer is not None and not isinstance(issuer, str):
                raise ValueError(f"key {kid_text}: issuer must be text or null")
            certificate = entry.get("certificate")
            try:
                keys.append(
                    TrustedKey(
                        kid=_unb64(kid_text, "kid"),
                        algorithm=algorithm,
                        public_key_der=_unb64(entry.get("public_key"), f"key {kid_text}: public_key"),
                        issuer=issuer,
                        valid_from=_parse_iso(entry.get("valid_from"), f"key {kid_text}: valid_from"),
                        valid_until=_parse_iso(entry.get("valid_until"), f"key {kid_text}: valid_until"),
                        certificate_der=None if certificate is None else _unb64(certificate, f"key {kid_text}: certificate"),
                    )
                )
            except ValueError as error:
                raise ValueError(f"key {kid_text}: {error}") from error
        withdrawn = document.get("withdrawn", [])
        if not isinstance(withdrawn, list):
            raise ValueError("'withdrawn' must be a list of kids")
        return cls.of(
            keys,
            withdrawn=[_unb64(k, "withdrawn kid") for k in withdrawn],
            issued_at=_parse_iso(document.get("issued_at"), "issued_at"),
        )


def _load_json_object(data: bytes | str, expected_format: str) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Two entries for one kid would let two parsers disagree on which key counts.
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError(f"duplicate keys in a JSON object: {sorted({k for k in keys if keys.count(k) > 1})}")
        return dict(pairs)

    try:
        document = json.loads(data, object_pairs_hook=no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != expected_format:
        raise ValueError(f"not a {expected_format} document")
    return document


# --- revocation ---------------------------------------------------------------------------------


def _revocation_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:_REVOCATION_HASH_BYTES]


def licence_revocation_hash(issuer: str, licence_id: str) -> bytes:
    """The revocation entry for every code of one licence: SHA-256(issuer NUL licence id), 16 bytes."""
    # The NUL keeps ("A", "BC") and ("AB", "C") apart.
    return _revocation_hash(f"{issuer}\x00{licence_id}".encode())


def signature_revocation_hash(algorithm: Algorithm, signature: bytes) -> bytes:
    """The revocation entry for one code, by its signature (the DCC's SIGNATURE hash).

    For ES256 only ``r`` (the first half) is hashed: ``s`` can be replaced by ``n - s``.
    """
    return _revocation_hash(signature[: len(signature) // 2] if algorithm is Algorithm.ES256 else signature)


def hcert_revocation_hashes(issuer: str | None, uci: str) -> tuple[bytes, bytes]:
    """The DCC's UCI and COUNTRYCODEUCI revocation hashes of a certificate identifier."""
    return _revocation_hash(uci.encode()), _revocation_hash(f"{issuer or ''}{uci}".encode())


def code_revocation_hash(code: str) -> bytes | None:
    """The signature revocation entry of one code (not verified), or None if it cannot be read."""
    try:
        envelope = _decode_envelope(code)
    except _Malformed:
        return None
    if envelope.algorithm is None:
        return None
    return signature_revocation_hash(envelope.algorithm, envelope.signature)


@dataclass(frozen=True)
class RevocationList:
    """Revoked licences and codes, as 16-byte hashes (never the ids themselves)."""

    entries: frozenset[bytes] = frozenset()
    issued_at: datetime | None = None

    @classmethod
    def of(cls, entries: Iterable[bytes], *, issued_at: datetime | None = None) -> RevocationList:
        """A revocation list of hashes from :func:`licence_revocation_hash` and friends."""
        entries = frozenset(entries)
        if any(len(e) != _REVOCATION_HASH_BYTES for e in entries):
            raise ValueError(f"revocation entries are {_REVOCATION_HASH_BYTES}-byte hashes")
        return cls(entries, issued_at)

    def revoke(self, *entries: bytes) -> RevocationList:
        """This list with more entries."""
        return RevocationList.of(self.entries | set(entries), issued_at=self.issued_at)

    def __contains__(self, entry: object) -> bool:
        return entry in self.entries

    def to_json(self) -> bytes:
        """The published document: UTF-8 JSON, deterministic (sorted entries)."""
        document = {"format": REVOCATION_LIST_FORMAT, "issued_at": _iso(self.issued_at), "entries": sorted(_b64(e) for e in self.entries)}
        return json.dumps(document, sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> RevocationList:
        """Read a document written by :meth:`to_json`; ValueError names what is wrong."""
        document = _load_json_object(data, REVOCATION_LIST_FORMAT)
        entries = document.get("entries")
        if not isinstance(entries, list):
            raise ValueError("'entries' must be a list of base64 hashes")
        return cls.of((_unb64(e, "revocation entry") for e in entries), issued_at=_parse_iso(document.get("issued_at"), "issued_at"))


# --- signed publication -------------------------------------------------------------------------


def _jwk(key: PrivateKey | PublicKey) -> jwk.OKPKey | jwk.ECKey:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return jwk.OKPKey.import_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return jwk.ECKey.import_key(key)
    raise ValueError("trust anchors are Ed25519 or P-256 keys")


def sign_document(document: bytes, anchor: SigningKey, *, typ: str) -> str:
    """A detached JWS (RFC 7515 appendix F) over ``document``'s exact bytes, by a trust anchor.

    ``typ`` names the kind of document (:data:`TRUST_LIST_TYPE`, :data:`REVOCATION_LIST_TYPE`), so a
    signature on one kind cannot be passed off for another.
    """
    alg = _JWS_ALGORITHMS[anchor.algorithm]
    header = {"alg": alg, "kid": base64.urlsafe_b64encode(anchor.kid).rstrip(b"=").decode(), "typ": typ}
    compact = jws.serialize_compact(header, document, _jwk(anchor.private_key), algorithms=[alg])
    protected, _payload, signature = compact.split(".")
    return f"{protected}..{signature}"


def verify_document(document: bytes, signature: str, anchors: Iterable[TrustedKey], *, typ: str) -> None:
    """Check a detached JWS from :func:`sign_document`; ValueError says why it does not verify."""
    try:
        header = json.loads(base64.urlsafe_b64decode(signature.split(".")[0] + "=="))
    except (ValueError, IndexError) as error:
        raise ValueError("the signature is not a detached JWS") from error
    if not isinstance(header, dict) or header.get("typ") != typ:
        raise ValueError(f"the signature is not for a {typ} document")
    by_kid = {base64.urlsafe_b64encode(a.kid).rstrip(b"=").decode(): a for a in anchors}
    kid = header.get("kid")
    anchor = by_kid.get(kid) if isinstance(kid, str) else None
    if anchor is None or anchor.algorithm not in _JWS_ALGORITHMS:
        raise ValueError(f"the document is signed by an unknown trust anchor {header.get('kid')!r}")
    alg = _JWS_ALGORITHMS[anchor.algorithm]
    try:
        jws.deserialize_compact(signature, _jwk(anchor.public_key), algorithms=[alg], payload=document)
    except JoseError as error:
        raise ValueError(f"the document's signature does not verify: {error}") from error


def load_trust_list(document: bytes, signature: str, anchors: Iterable[TrustedKey]) -> TrustList:
    """A published trust list, after checking its signature against the pinned trust anchors."""
    verify_document(document, signature, anchors, typ=TRUST_LIST_TYPE)
    return TrustList.from_json(document)


def load_revocation_list(document: bytes, signature: str, anchors: Iterable[TrustedKey]) -> RevocationList:
    """A published revocation list, after checking its signature against the pinned trust anchors."""
    verify_document(document, signature, anchors, typ=REVOCATION_LIST_TYPE)
    return RevocationList.from_json(document)


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    """The verdict on one code. ``valid`` is the only verdict; ``reason`` says why not.

    ``claims`` is set on success, and also when the signature checked out but a later check failed
    (expired, revoked, ...), so a page can say *which* licence that was; it is None when the code
    could not be authenticated.
    """

    valid: bool
    reason: Reason | None = None
    detail: str = ""
    kid: bytes | None = None
    claims: LicenceClaims | HcertClaims | None = None


@dataclass(frozen=True)
class _Envelope:
    hcert: bool
    protected: bytes
    signed_protected: bytes
    """The protected bucket as it enters the Sig_structure (empty when the map is empty)."""
    alg_id: object
    alg_in_protected: bool
    algorithm: Algorithm | None
    kid: object
    payload: bytes
    signature: bytes


def _b45decode(text: str) -> bytes:
    try:
        return bytes(base45.b45decode(text))
    except (ValueError, TypeError) as error:
        raise _Malformed(Reason.BAD_ENCODING, "not Base45") from error


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_PAYLOAD_BYTES)
    except zlib.error as error:
        raise _Malformed(Reason.BAD_COMPRESSION, f"not zlib data: {error}") from error
    if inflater.unconsumed_tail:
        raise _Malformed(Reason.TOO_LARGE, f"decompresses to more than {MAX_PAYLOAD_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise _Malformed(Reason.BAD_COMPRESSION, "truncated zlib data, or bytes after it")
    return out


def _cbor_one(data: bytes, reason: Reason, what: str) -> Any:
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream, allow_duplicate_keys=False, max_depth=32).decode()
    except Exception as error:  # cbor2 raises many types on hostile input; all mean "malformed"
        raise _Malformed(reason, f"{what} is not valid CBOR: {error}") from error
    if stream.tell() != len(data):
        raise _Malformed(reason, f"bytes after the {what}")
    return value


def _decode_envelope(code: str) -> _Envelope:
    if not isinstance(code, str):
        raise _Malformed(Reason.BAD_PREFIX, "a code is text")
    code = code.strip("\r\n\t")  # scanners add line ends; a space is a Base45 character, so kept
    if len(code) > MAX_CODE_CHARS:
        raise _Malformed(Reason.TOO_LARGE, f"longer than {MAX_CODE_CHARS} characters")
    if code.startswith(CONTEXT_PREFIX):
        hcert = False
    elif code.startswith(HCERT_PREFIX):
        hcert = True
    else:
        raise _Malformed(Reason.BAD_PREFIX, f"does not start with {CONTEXT_PREFIX} or {HCERT_PREFIX}")
    cose = _cbor_one(_inflate(_b45decode(code[4:])), Reason.BAD_COSE, "COSE message")
    if isinstance(cose, cbor2.CBORTag):
        if cose.tag != _COSE_SIGN1_TAG:
            raise _Malformed(Reason.BAD_COSE, f"CBOR tag {cose.tag}, not COSE_Sign1 (18)")
        cose = cose.value
    # HCERT validators accept an untagged COSE_Sign1 too; so do we.
    if not isinstance(cose, list | tuple) or len(cose) != 4:
        raise _Malformed(Reason.BAD_COSE, "not a COSE_Sign1 array of 4")
    protected, unprotected, payload, signature = cose
    if not isinstance(protected, bytes) or not isinstance(unprotected, Mapping):
        raise _Malformed(Reason.BAD_COSE, "malformed COSE headers")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise _Malformed(Reason.BAD_COSE, "the payload and signature must be byte strings")
    phdr = _cbor_one(protected, Reason.BAD_COSE, "protected header") if protected else {}
    if not isinstance(phdr, Mapping):
        raise _Malformed(Reason.BAD_COSE, "the protected header is not a map")
    alg_in_protected = _ALG in phdr
    alg_id = phdr[_ALG] if alg_in_protected else unprotected.get(_ALG)
    algorithm = _COSE_ALGORITHM_IDS.get(alg_id) if isinstance(alg_id, int) and not isinstance(alg_id, bool) else None
    kid = phdr[_KID] if _KID in phdr else unprotected.get(_KID)
    return _Envelope(
        hcert=hcert,
        protected=protected,
        # pycose (and so the reference) signs an empty protected map as b"", whatever its encoding.
        signed_protected=protected if phdr else b"",
        alg_id=alg_id,
        alg_in_protected=alg_in_protected,
        algorithm=algorithm,
        kid=kid,
        payload=payload,
        signature=signature,
    )


def _verify_fast(key: TrustedKey, envelope: _Envelope) -> bool:
    to_be_signed = cbor2.dumps(["Signature1", envelope.signed_protected, b"", envelope.payload])
    public_key, signature = key.public_key, envelope.signature
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, to_be_signed)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public_key.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))
        else:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            public_key.verify(signature, to_be_signed, pss, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@lru_cache(maxsize=256)
def _pycose_public_key(public_key_der: bytes) -> CoseKey:
    pem = serialization.load_der_public_key(public_key_der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return CoseKey.from_pem_public_key(pem.decode())


def _verify_pycose(key: TrustedKey, envelope: _Envelope) -> bool:
    # Unprotected headers are not signed; only alg is passed on, when the protected bucket lacks it.
    unprotected = {} if envelope.alg_in_protected else {_ALG: envelope.alg_id}
    try:
        message = Sign1Message.from_cose_obj([envelope.protected, unprotected, envelope.payload, envelope.signature], True)
        message.key = _pycose_public_key(key.public_key_der)
        return bool(message.verify_signature())
    except Exception:  # noqa: BLE001 - the reference raises on malformed signatures; that is a failed check
        return False


def verify_licence(
    code: str,
    trust_list: TrustList,
    revocations: RevocationList | None = None,
    *,
    now: datetime | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
    engine: Engine = "fast",
) -> VerificationResult:
    """Verify a ``CB1:`` licence code or an ``HC1:`` HCERT code, offline. Never raises on ``code``.

    ``now`` defaults to the current time; ``leeway`` is the clock skew allowed on ``iat``, ``nbf``
    and ``exp``. ``engine`` picks the signature check: ``"fast"`` (cryptography) or ``"pycose"``
    (the reference); they give the same result.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    moment = now.timestamp()
    skew = leeway.total_seconds()
    try:
        envelope = _decode_envelope(code)
    except _Malformed as error:
        return VerificationResult(False, error.reason, error.detail)

    kid = envelope.kid
    if not isinstance(kid, bytes) or not kid:
        return VerificationResult(False, Reason.UNKNOWN_KID, "the code names no key (kid)")
    if envelope.algorithm is None:
        return VerificationResult(False, Reason.UNSUPPORTED_ALGORITHM, f"algorithm {envelope.alg_id!r} is not EdDSA, ES256 or PS256", kid)
    key = trust_list.keys.get(kid)
    if key is None:
        if kid in trust_list.withdrawn:
            return VerificationResult(False, Reason.KEY_WITHDRAWN, f"key {kid.hex()} has been withdrawn from the trust list", kid)
        return VerificationResult(False, Reason.UNKNOWN_KID, f"key {kid.hex()} is not in the trust list", kid)
    if key.algorithm is not envelope.algorithm:
        detail = f"key {kid.hex()} signs {key.algorithm}, the code says {envelope.algorithm}"
        return VerificationResult(False, Reason.ALGORITHM_MISMATCH, detail, kid)
    verified = _verify_fast(key, envelope) if engine == "fast" else _verify_pycose(key, envelope)
    if not verified:
        return VerificationResult(False, Reason.BAD_SIGNATURE, "the signature does not verify", kid)

    try:
        cwt = _cbor_one(envelope.payload, Reason.BAD_CLAIMS, "CWT payload")
        if not isinstance(cwt, Mapping):
            raise _Malformed(Reason.BAD_CLAIMS, "the CWT payload is not a map")
        claims: LicenceClaims | HcertClaims = _decode_hcert_claims(cwt) if envelope.hcert else _decode_licence_claims(cwt)
        iat = _time(cwt[_IAT], "iat") if _IAT in cwt else None
        nbf = _time(cwt[_NBF], "nbf") if _NBF in cwt else None
        exp = _time(cwt[_EXP], "exp") if _EXP in cwt else None
        if iat is None:
            raise _Malformed(Reason.BAD_CLAIMS, "the code has no issue time (iat)")
    except _Malformed as error:
        return VerificationResult(False, error.reason, error.detail, kid)

    def fail(reason: Reason, detail: str) -> VerificationResult:
        return VerificationResult(False, reason, detail, kid, claims)

    if (key.issuer is not None or not envelope.hcert) and claims.issuer != key.issuer:
        return fail(Reason.WRONG_ISSUER, f"key {kid.hex()} signs for {key.issuer!r}, the code says {claims.issuer!r}")
    if key.valid_from is not None and iat < key.valid_from.timestamp():
        return fail(Reason.KEY_NOT_YET_VALID, f"issued before its key's signing period began ({_iso(key.valid_from)})")
    if key.valid_until is not None and iat > key.valid_until.timestamp():
        return fail(Reason.KEY_EXPIRED, f"issued after its key's signing period ended ({_iso(key.valid_until)})")
    if iat > moment + skew or (nbf is not None and nbf > moment + skew):
        return fail(Reason.NOT_YET_VALID, "not valid yet")
    if exp is not None and moment >= exp + skew:
        return fail(Reason.EXPIRED, f"expired at {_iso(_from_numeric_date(exp))}")
    if revocations is not None and revocations.entries and _revoked(envelope, claims, revocations):
        return fail(Reason.REVOKED, "revoked")
    return VerificationResult(True, None, "", kid, claims)


def _revoked(envelope: _Envelope, claims: LicenceClaims | HcertClaims, revocations: RevocationList) -> bool:
    assert envelope.algorithm is not None
    candidates = [signature_revocation_hash(envelope.algorithm, envelope.signature)]
    if isinstance(claims, LicenceClaims):
        candidates.append(licence_revocation_hash(claims.issuer, claims.licence_id))
    else:
        # The DCC's certificate identifier: "ci" of its one vaccination, test or recovery entry.
        for group in ("v", "t", "r"):
            entries = claims.certificate.get(group)
            if isinstance(entries, list | tuple) and entries and isinstance(entries[0], Mapping) and isinstance(entries[0].get("ci"), str):
                candidates.extend(hcert_revocation_hashes(claims.issuer, entries[0]["ci"]))
    return any(c in revocations.entries for c in candidates)

"""E-licences: issuing, the trust and revocation lists, offline verification, HCERT vectors, QR codes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import string
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pycose.messages.sign1message import Sign1Message

from citybrain.gov_services import licences as lic
from citybrain.gov_services.licences import Algorithm, Reason

HCERT_DIR = Path(__file__).resolve().parents[2] / "data" / "hcert"
ISSUER = "11370100MB28510467"  # a department's unified social credit code
OTHER_ISSUER = "11370100004188264W"
NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ENGINES = ("fast", "pycose")
ALGORITHMS = (Algorithm.EDDSA, Algorithm.ES256)


@pytest.fixture(scope="module", params=ALGORITHMS, ids=lambda a: a.value)
def key(request: pytest.FixtureRequest) -> lic.SigningKey:
    return lic.generate_signing_key(request.param, ISSUER)


def trust(*keys: lic.SigningKey, valid_from: datetime = NOW - timedelta(days=365)) -> lic.TrustList:
    return lic.TrustList.of(lic.TrustedKey.from_signing_key(k, valid_from=valid_from) for k in keys)


def claims(**changes: Any) -> lic.LicenceClaims:
    base = lic.LicenceClaims(
        licence_id="JY13701020012345",
        kind="JY",
        kind_name="食品经营许可证",
        holder=lic.Holder.organisation("济南泉城餐饮有限公司", "91370102ma3c1234x5"),
        issuer=ISSUER,
        issuer_name="济南市市场监督管理局",
        issued_at=NOW - timedelta(days=10),
        expires_at=NOW + timedelta(days=5 * 365),
        fields={"scope": "热食类食品制售", "address": "历下区泉城路 1 号", "seats": 40, "chain": False, "rooms": ["A", "B"]},
    )
    return replace(base, **changes)


def verify(code: str, trust_list: lic.TrustList, **kwargs: Any) -> lic.VerificationResult:
    """Verify with both engines, require the same answer, return it."""
    kwargs.setdefault("now", NOW)
    fast = lic.verify_licence(code, trust_list, engine="fast", **kwargs)
    reference = lic.verify_licence(code, trust_list, engine="pycose", **kwargs)
    assert fast == reference
    return fast


# --- building codes by hand, for the attacks -----------------------------------------------------


def unpack(code: str) -> list[Any]:
    tag = cbor2.loads(zlib.decompress(base45.b45decode(code[4:])))
    assert tag.tag == 18
    return list(tag.value)


def pack(cose: Any, prefix: str = "CB1:") -> str:
    return prefix + base45.b45encode(zlib.compress(cbor2.dumps(cose))).decode()


def sign_raw(payload: bytes, key: lic.SigningKey, phdr: dict[int, Any] | None = None, uhdr: dict[int, Any] | None = None) -> list[Any]:
    """A COSE_Sign1 over any payload and headers, signed with pycose (as [phdr, uhdr, payload, sig])."""
    alg = {Algorithm.EDDSA: -8, Algorithm.ES256: -7}[key.algorithm]
    message = Sign1Message(phdr={1: alg, 4: key.kid} if phdr is None else phdr, uhdr=uhdr or {}, payload=payload)
    message.key = key._cose_key
    return list(cbor2.loads(message.encode(tag=True)).value)


def cwt(**changes: Any) -> dict[int, Any]:
    return cbor2.loads(lic.encode_licence_claims(claims(**changes)))


# --- issuing and round trips ------------------------------------------------------------------------


def test_round_trip_gives_back_the_claims(key: lic.SigningKey) -> None:
    code = lic.issue_licence(claims(), key)
    assert code.startswith("CB1:")
    assert set(code[4:]) <= set(base45.BASE45_CHARSET)
    result = verify(code, trust(key))
    assert result.valid
    assert result.reason is None
    assert result.kid == key.kid
    assert result.claims == claims()


def test_round_trip_of_a_person_without_an_end_date(key: lic.SigningKey) -> None:
    holder = lic.Holder.person("欧阳晓明", "37010219900307123x", pseudonym_key=b"registry-secret-0123456789")
    original = claims(holder=holder, expires_at=None, issued_at=NOW.replace(microsecond=0), fields={})
    result = verify(lic.issue_licence(original, key), trust(key), now=NOW + timedelta(days=50 * 365))
    assert result.valid
    assert result.claims == original


def test_times_are_whole_seconds(key: lic.SigningKey) -> None:
    result = verify(lic.issue_licence(claims(issued_at=NOW - timedelta(seconds=0.75)), key), trust(key))
    assert isinstance(result.claims, lic.LicenceClaims)
    assert result.claims.issued_at == NOW - timedelta(seconds=1)


def test_the_code_holds_no_full_name_or_id_number(key: lic.SigningKey) -> None:
    holder = lic.Holder.person("张晓明", "37010219900307123X", pseudonym_key=b"registry-secret-0123456789")
    assert (holder.name, holder.identifier) == ("张*明", "**************123X")
    payload = unpack(lic.issue_licence(claims(holder=holder), key))[2]
    assert "晓".encode() not in payload
    assert b"3701021990" not in payload
    assert b"19900307" not in payload


def test_masking_and_pseudonyms() -> None:
    assert [lic.mask_name(n) for n in ("王", "李明", "张晓明", "欧阳晓明", " 诸葛孔明 ")] == ["王", "李*", "张*明", "欧**明", "诸**明"]
    assert lic.mask_identifier("37010219900307123x") == "**************123X"
    assert lic.mask_identifier("123") == "**3"
    key = b"registry-secret-0123456789"
    assert lic.pseudonym(key, "37010219900307123x") == lic.pseudonym(key, " 37010219900307123X")
    assert lic.pseudonym(key, "37010219900307123X") != lic.pseudonym(b"another-secret-0123456789", "37010219900307123X")
    with pytest.raises(ValueError, match="16 bytes"):
        lic.pseudonym(b"short", "37010219900307123X")


def test_kid_is_the_spki_hash(key: lic.SigningKey) -> None:
    spki = key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.kid == hashlib.sha256(spki).digest()[:8] == lic.key_id(key.public_key)
    phdr = cbor2.loads(unpack(lic.issue_licence(claims(), key))[0])
    assert phdr == {1: {Algorithm.EDDSA: -8, Algorithm.ES256: -7}[key.algorithm], 4: key.kid}


def test_issuing_refuses_what_it_cannot_sign(key: lic.SigningKey) -> None:
    with pytest.raises(ValueError, match="signs for"):
        lic.issue_licence(claims(issuer=OTHER_ISSUER), key)
    with pytest.raises(ValueError, match="timezone-aware"):
        lic.issue_licence(claims(issued_at=datetime(2026, 5, 1)), key)
    with pytest.raises(ValueError, match="expire after"):
        lic.issue_licence(claims(expires_at=NOW - timedelta(days=30)), key)
    with pytest.raises(ValueError, match="CBOR"):
        lic.issue_licence(claims(fields={"when": object()}), key)
    with pytest.raises(ValueError, match="prefix"):
        lic.issue_licence(claims(), key, prefix="cb1:")
    assert lic.issue_licence(claims(), key, prefix="JN2:").startswith("JN2:")  # a prefix of one's own is allowed...
    assert verify(lic.issue_licence(claims(), key, prefix="JN2:"), trust(key)).reason is Reason.BAD_PREFIX  # ...but not verified


def test_signing_keys_round_trip_through_pem(key: lic.SigningKey) -> None:
    again = lic.SigningKey.from_pem(key.to_pem(), ISSUER)
    assert (again.kid, again.algorithm) == (key.kid, key.algorithm)
    locked = lic.SigningKey.from_pem(key.to_pem(b"passphrase"), ISSUER, b"passphrase")
    assert verify(lic.issue_licence(claims(), locked), trust(key)).valid
    with pytest.raises(ValueError, match="unsupported key"):
        lic.SigningKey(ec.generate_private_key(ec.SECP384R1()), ISSUER)
    with pytest.raises(ValueError, match="EdDSA or ES256"):
        lic.generate_signing_key(Algorithm.PS256, ISSUER)


# --- tampering ------------------------------------------------------------------------------------


def test_a_tampered_payload_fails(key: lic.SigningKey) -> None:
    cose = unpack(lic.issue_licence(claims(), key))
    cose[2] = lic.encode_licence_claims(claims(expires_at=NOW + timedelta(days=50 * 365)))
    result = verify(pack(cbor2.CBORTag(18, cose)), trust(key))
    assert (result.valid, result.reason, result.claims) == (False, Reason.BAD_SIGNATURE, None)


def test_a_tampered_signature_fails(key: lic.SigningKey) -> None:
    cose = unpack(lic.issue_licence(claims(), key))
    for signature in (bytes([cose[3][0] ^ 1]) + cose[3][1:], cose[3][:-1], cose[3] + b"\0", b"", bytes(64), b"foo"):
        assert verify(pack(cbor2.CBORTag(18, [*cose[:3], signature])), trust(key)).reason is Reason.BAD_SIGNATURE


def test_a_tampered_protected_header_fails(key: lic.SigningKey) -> None:
    cose = unpack(lic.issue_licence(claims(), key))
    phdr = cbor2.loads(cose[0])
    reordered = cbor2.dumps(dict(reversed(list(phdr.items()))))  # the same map, other bytes
    assert verify(pack(cbor2.CBORTag(18, [reordered, *cose[1:]])), trust(key)).reason is Reason.BAD_SIGNATURE


def test_a_licence_of_another_issuer_fails(key: lic.SigningKey) -> None:
    # The department's key signs a licence claiming to come from another department.
    cose = sign_raw(cbor2.dumps(cwt(issuer=OTHER_ISSUER)), key)
    result = verify(pack(cbor2.CBORTag(18, cose)), trust(key))
    assert result.reason is Reason.WRONG_ISSUER
    assert isinstance(result.claims, lic.LicenceClaims)
    assert result.claims.issuer == OTHER_ISSUER


def test_an_algorithm_other_than_the_keys_fails() -> None:
    eddsa = lic.generate_signing_key(Algorithm.EDDSA, ISSUER)
    es256 = lic.generate_signing_key(Algorithm.ES256, ISSUER)
    # The EdDSA key's kid with an ES256 header: signed by the ES256 key under the EdDSA key's name.
    cose = sign_raw(lic.encode_licence_claims(claims()), es256, phdr={1: -7, 4: eddsa.kid})
    assert verify(pack(cbor2.CBORTag(18, cose)), trust(eddsa, es256)).reason is Reason.ALGORITHM_MISMATCH


@pytest.mark.parametrize("alg", [-35, -257, "EdDSA", None, True])
def test_an_unsupported_algorithm_fails(key: lic.SigningKey, alg: object) -> None:
    cose = unpack(lic.issue_licence(claims(), key))
    phdr = {4: key.kid} if alg is None else {1: alg, 4: key.kid}
    result = verify(pack(cbor2.CBORTag(18, [cbor2.dumps(phdr), *cose[1:]])), trust(key))
    assert result.reason is Reason.UNSUPPORTED_ALGORITHM


# --- time -------------------------------------------------------------------------------------------


def test_expiry(key: lic.SigningKey) -> None:
    expires = NOW + timedelta(days=30)
    code = lic.issue_licence(claims(expires_at=expires), key)
    assert verify(code, trust(key), now=expires - timedelta(seconds=1), leeway=timedelta(0)).valid
    result = verify(code, trust(key), now=expires, leeway=timedelta(0))
    assert (result.valid, result.reason) == (False, Reason.EXPIRED)
    assert isinstance(result.claims, lic.LicenceClaims)
    assert result.claims.licence_id == "JY13701020012345"
    assert verify(code, trust(key), now=expires + timedelta(minutes=4)).valid  # within the default leeway
    assert verify(code, trust(key), now=expires + timedelta(minutes=5)).reason is Reason.EXPIRED


def test_not_yet_valid(key: lic.SigningKey) -> None:
    code = lic.issue_licence(claims(issued_at=NOW + timedelta(hours=1)), key)
    assert verify(code, trust(key)).reason is Reason.NOT_YET_VALID
    assert verify(code, trust(key), now=NOW + timedelta(minutes=56)).valid  # a verifier's clock a little behind
    assert verify(code, trust(key), now=NOW + timedelta(hours=1), leeway=timedelta(0)).valid
    later = cwt() | {5: int((NOW + timedelta(days=1)).timestamp())}  # nbf
    assert verify(pack(cbor2.CBORTag(18, sign_raw(cbor2.dumps(later), key))), trust(key)).reason is Reason.NOT_YET_VALID


def test_now_must_be_aware(key: lic.SigningKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        lic.verify_licence(lic.issue_licence(claims(), key), trust(key), now=datetime(2026, 5, 1))


# --- keys: unknown, rotated, withdrawn --------------------------------------------------------------


def test_unknown_kid(key: lic.SigningKey) -> None:
    stranger = lic.generate_signing_key(key.algorithm, ISSUER)
    result = verify(lic.issue_licence(claims(), stranger), trust(key))
    assert (result.valid, result.reason, result.kid) == (False, Reason.UNKNOWN_KID, stranger.kid)
    cose = unpack(lic.issue_licence(claims(), key))
    no_kid = [cbor2.dumps({1: cbor2.loads(cose[0])[1]}), *cose[1:]]
    assert verify(pack(cbor2.CBORTag(18, no_kid)), trust(key)).reason is Reason.UNKNOWN_KID
    text_kid = [cbor2.dumps({1: cbor2.loads(cose[0])[1], 4: key.kid.hex()}), *cose[1:]]
    assert verify(pack(cbor2.CBORTag(18, text_kid)), trust(key)).reason is Reason.UNKNOWN_KID


def test_rotation_keeps_old_licences_and_retires_the_old_key(key: lic.SigningKey) -> None:
    old_code = lic.issue_licence(claims(issued_at=NOW - timedelta(days=100)), key)
    rotated_at = NOW - timedelta(days=30)
    successor = lic.generate_signing_key(key.algorithm, ISSUER)
    trust_list = trust(key).rotate(lic.TrustedKey.from_signing_key(successor), at=rotated_at)
    assert trust_list.keys[key.kid].valid_until == rotated_at
    assert trust_list.keys[successor.kid].valid_from == rotated_at

    assert verify(old_code, trust_list).valid  # signed before the rotation: still good
    assert verify(lic.issue_licence(claims(licence_id="JY2"), successor), trust_list).valid
    late = verify(lic.issue_licence(claims(issued_at=NOW - timedelta(days=1)), key), trust_list)
    assert late.reason is Reason.KEY_EXPIRED  # the old key signed after it was retired
    early = verify(lic.issue_licence(claims(issued_at=NOW - timedelta(days=40)), successor), trust_list)
    assert early.reason is Reason.KEY_NOT_YET_VALID

    # Once the old key is taken off the list, its licences fail, and say why.
    withdrawn = trust_list.remove(key.kid)
    result = verify(old_code, withdrawn)
    assert (result.valid, result.reason) == (False, Reason.KEY_WITHDRAWN)
    assert verify(old_code, lic.TrustList.of(withdrawn.keys.values())).reason is Reason.UNKNOWN_KID
    # Another issuer's keys are not touched by this issuer's rotation.
    other = lic.generate_signing_key(key.algorithm, OTHER_ISSUER)
    both = trust(key, other).rotate(lic.TrustedKey.from_signing_key(successor), at=rotated_at)
    assert both.keys[other.kid].valid_until is None


# --- revocation -------------------------------------------------------------------------------------


def test_revoking_a_licence_revokes_all_its_codes(key: lic.SigningKey) -> None:
    first = lic.issue_licence(claims(), key)
    reissued = lic.issue_licence(claims(issued_at=NOW - timedelta(days=1)), key)
    other = lic.issue_licence(claims(licence_id="JY13701020099999"), key)
    revoked = lic.RevocationList.of([lic.licence_revocation_hash(ISSUER, "JY13701020012345")])
    for code in (first, reissued):
        result = verify(code, trust(key), revocations=revoked)
        assert (result.valid, result.reason) == (False, Reason.REVOKED)
        assert isinstance(result.claims, lic.LicenceClaims)
        assert result.claims.licence_id == "JY13701020012345"
    assert verify(other, trust(key), revocations=revoked).valid
    assert verify(first, trust(key), revocations=lic.RevocationList()).valid
    # The same id at another issuer is another licence.
    assert lic.licence_revocation_hash(OTHER_ISSUER, "JY13701020012345") not in revoked


def test_revoking_one_code_by_its_signature(key: lic.SigningKey) -> None:
    leaked = lic.issue_licence(claims(), key)
    reissued = lic.issue_licence(claims(issued_at=NOW - timedelta(days=1)), key)
    entry = lic.code_revocation_hash(leaked)
    assert entry is not None
    assert len(entry) == 16
    revoked = lic.RevocationList().revoke(entry)
    assert verify(leaked, trust(key), revocations=revoked).reason is Reason.REVOKED
    assert verify(reissued, trust(key), revocations=revoked).valid
    assert lic.code_revocation_hash("garbage") is None


def test_an_es256_signature_cannot_dodge_revocation_by_malleation() -> None:
    key = lic.generate_signing_key(Algorithm.ES256, ISSUER)
    code = lic.issue_licence(claims(), key)
    revoked = lic.RevocationList.of([lic.code_revocation_hash(code) or b""])
    cose = unpack(code)
    r, s = cose[3][:32], int.from_bytes(cose[3][32:], "big")
    twin = pack(cbor2.CBORTag(18, [*cose[:3], r + (P256_ORDER - s).to_bytes(32, "big")]))
    assert twin != code
    assert verify(twin, trust(key)).valid
    assert verify(twin, trust(key), revocations=revoked).reason is Reason.REVOKED  # ...and revoked with it


# --- malformed input: a reason for every string, never an exception --------------------------------


def test_malformed_codes_each_get_a_reason(key: lic.SigningKey) -> None:
    good = lic.issue_licence(claims(), key)
    cose = unpack(good)
    payload_cbor = zlib.compress(cbor2.dumps(cbor2.CBORTag(18, cose)))
    cases: dict[str, Reason] = {
        "": Reason.BAD_PREFIX,
        "CB1": Reason.BAD_PREFIX,
        "cb1:" + good[4:]: Reason.BAD_PREFIX,
        "HL1:" + good[4:]: Reason.BAD_PREFIX,
        good[4:]: Reason.BAD_PREFIX,  # the Base45 without its context
        "CB1:" + "A" * (lic.MAX_CODE_CHARS + 1): Reason.TOO_LARGE,
        "CB1:": Reason.BAD_COMPRESSION,  # nothing to inflate
        "CB1:abc": Reason.BAD_ENCODING,  # lower case is not Base45
        "CB1:ABCD": Reason.BAD_ENCODING,  # a length of 3n + 1
        "CB1:GGW": Reason.BAD_ENCODING,  # a triple above 0xFFFF
        "CB1:证照": Reason.BAD_ENCODING,
        "CB1:" + base45.b45encode(b"not zlib at all").decode(): Reason.BAD_COMPRESSION,
        "CB1:" + base45.b45encode(payload_cbor[:-3]).decode(): Reason.BAD_COMPRESSION,  # truncated
        "CB1:" + base45.b45encode(payload_cbor + b"junk").decode(): Reason.BAD_COMPRESSION,
        "CB1:" + base45.b45encode(zlib.compress(b"\0" * (lic.MAX_PAYLOAD_BYTES + 1))).decode(): Reason.TOO_LARGE,
        "CB1:" + base45.b45encode(zlib.compress(b"\xff\xfe")).decode(): Reason.BAD_COSE,
        pack(cbor2.CBORTag(17, cose)): Reason.BAD_COSE,
        pack(cbor2.CBORTag(18, cose[:3])): Reason.BAD_COSE,
        pack(cbor2.CBORTag(18, {"a": 1})): Reason.BAD_COSE,
        pack(cbor2.CBORTag(18, [cose[0], [], cose[2], cose[3]])): Reason.BAD_COSE,
        pack(cbor2.CBORTag(18, [cose[0], cose[1], None, cose[3]])): Reason.BAD_COSE,  # detached payload
        pack(cbor2.CBORTag(18, [b"\xa1\x01", *cose[1:]])): Reason.BAD_COSE,  # truncated protected header
        pack(cbor2.CBORTag(18, [cbor2.dumps([1, 2]), *cose[1:]])): Reason.BAD_COSE,
        pack(cbor2.CBORTag(18, [b"\xa2\x01\x26\x01\x27", *cose[1:]])): Reason.BAD_COSE,  # alg twice
        "CB1:" + base45.b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(18, cose)) + b"\0")).decode(): Reason.BAD_COSE,
        pack(cbor2.CBORTag(18, [*cose[:3], "signature"])): Reason.BAD_COSE,
    }
    for code, reason in cases.items():
        result = verify(code, trust(key))
        assert (result.valid, result.reason, result.claims) == (False, reason, None), code[:60]
        assert result.detail
    assert verify(None, trust(key)).reason is Reason.BAD_PREFIX  # type: ignore[arg-type]
    # Scanners add line ends; an untagged COSE_Sign1 is accepted, as HCERT validators do.
    assert verify(good + "\r\n", trust(key)).valid
    assert verify(pack(cose), trust(key)).valid


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (cbor2.dumps([1, 2, 3]), "not a map"),
        (b"\xa1\x01", "not valid CBOR"),
        (cbor2.dumps({1: ISSUER, 6: 1}) + b"\0", "bytes after"),
        ({1: ISSUER, 4: 2000000000}, "licence"),
        ("no-iat", "iat"),
        ("iat-bool", "iat"),
        ("iat-huge", "iat"),
        ("exp-text", "exp"),
        ("version-2", "version"),
        ("holder-kind", "holder"),
        ("fields-keys", "fields"),
        ("empty-id", "licence id"),
        ("reference-int", "reference"),
        ("iss-missing", "iss"),
    ],
)
def test_malformed_claims_are_bad_claims(key: lic.SigningKey, payload: Any, why: str) -> None:
    good = cwt()
    body = good[lic.LICENCE_CLAIM]
    variants: dict[str, dict[Any, Any]] = {
        "no-iat": {k: v for k, v in good.items() if k != 6},
        "iat-bool": good | {6: True},
        "iat-huge": good | {6: 10**20},
        "exp-text": good | {4: "2030-01-01"},
        "version-2": good | {lic.LICENCE_CLAIM: body | {"v": 2}},
        "holder-kind": good | {lic.LICENCE_CLAIM: body | {"h": body["h"] | {"t": "robot"}}},
        "fields-keys": good | {lic.LICENCE_CLAIM: body | {"f": {1: "x"}}},
        "empty-id": good | {lic.LICENCE_CLAIM: body | {"id": ""}},
        "reference-int": good | {lic.LICENCE_CLAIM: body | {"h": body["h"] | {"r": 7}}},
        "iss-missing": {k: v for k, v in good.items() if k != 1},
    }
    raw = payload if isinstance(payload, bytes) else cbor2.dumps(variants[payload] if isinstance(payload, str) else payload)
    result = verify(pack(cbor2.CBORTag(18, sign_raw(raw, key))), trust(key))
    assert (result.valid, result.reason) == (False, Reason.BAD_CLAIMS)
    assert why in result.detail


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.text(alphabet=base45.BASE45_CHARSET, max_size=300).map(lambda t: "CB1:" + t)))
def test_fuzz_text_never_raises(text: str) -> None:
    key = _FUZZ_KEY
    result = lic.verify_licence(text, trust(key), now=NOW)
    assert not result.valid
    assert result.reason in set(Reason)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), prefix=st.sampled_from(["CB1:", "HC1:"]))
def test_fuzz_compressed_bytes_never_raise(data: bytes, prefix: str) -> None:
    code = prefix + base45.b45encode(zlib.compress(data)).decode()
    for engine in ENGINES:
        result = lic.verify_licence(code, trust(_FUZZ_KEY), now=NOW, engine=engine)
        assert not result.valid
        assert result.reason in set(Reason)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from(base45.BASE45_CHARSET + "abc:"))
def test_fuzz_one_changed_character_never_verifies(position: int, char: str) -> None:
    code = _FUZZ_CODE
    position %= len(code)
    if code[position] == char:
        return
    mutated = code[:position] + char + code[position + 1 :]
    result = verify(mutated, trust(_FUZZ_KEY))
    assert not result.valid
    assert result.reason in set(Reason)


@settings(max_examples=100, deadline=None)
@given(
    cose=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.binary(max_size=20), st.text(max_size=10)),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.integers(-300, 10) | st.text(max_size=3), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_fuzz_cbor_structures_never_raise(cose: Any) -> None:
    for wrapped in (cose, cbor2.CBORTag(18, cose), cbor2.CBORTag(18, [b"", {}, cbor2.dumps(cose), b"x" * 64])):
        result = verify(pack(wrapped), trust(_FUZZ_KEY))
        assert not result.valid
        assert result.reason in set(Reason)


_FUZZ_KEY = lic.generate_signing_key(Algorithm.EDDSA, ISSUER)
_FUZZ_CODE = lic.issue_licence(claims(), _FUZZ_KEY)


# --- the engines agree ------------------------------------------------------------------------------


def test_engines_agree_on_edge_cases() -> None:
    """Cases where a hand-written verifier and pycose could part ways; `verify` asserts they do not."""
    es256 = lic.generate_signing_key(Algorithm.ES256, ISSUER)
    eddsa = lic.generate_signing_key(Algorithm.EDDSA, ISSUER)
    trust_list = trust(es256, eddsa)
    payload = lic.encode_licence_claims(claims())
    seen = set()
    for key in (es256, eddsa):
        cose = sign_raw(payload, key)
        sig = cose[3]
        variants = [
            sig,
            sig[:32] + (P256_ORDER - int.from_bytes(sig[32:], "big")).to_bytes(32, "big") if key is es256 else sig,
            bytes(32) + sig[32:],  # r = 0
            sig[:32] + bytes(32),  # s = 0
            P256_ORDER.to_bytes(32, "big") + sig[32:],  # r = n
            b"\xff" * 64,
            sig + b"\0",
            b"\0" + sig,
            sig[:-1],
        ]
        for signature in variants:
            seen.add(verify(pack(cbor2.CBORTag(18, [*cose[:3], signature])), trust_list).valid)
        # An empty protected map: encoded as h'' or as h'a0', signed over b"" (RFC 9052 section 3).
        alg = -7 if key is es256 else -8
        for protected in (b"", b"\xa0"):
            unprotected_only = sign_raw(payload, key, phdr={}, uhdr={1: alg, 4: key.kid})
            result = verify(pack(cbor2.CBORTag(18, [protected, *unprotected_only[1:]])), trust_list)
            assert result.valid
    assert seen == {True, False}


# --- trust and revocation lists as published documents ----------------------------------------------


def test_trust_list_json_round_trip(key: lic.SigningKey) -> None:
    other = lic.generate_signing_key(Algorithm.EDDSA, OTHER_ISSUER)
    trust_list = lic.TrustList.of(
        [
            lic.TrustedKey.from_signing_key(key, NOW - timedelta(days=300), NOW - timedelta(days=10)),
            lic.TrustedKey.from_signing_key(other, NOW - timedelta(days=10)),
        ],
        withdrawn=[b"12345678"],
        issued_at=NOW,
    )
    document = trust_list.to_json()
    assert lic.TrustList.from_json(document) == trust_list
    assert lic.TrustList.from_json(document).to_json() == document
    parsed = json.loads(document)
    entry = parsed["keys"][base64.b64encode(key.kid).decode()]
    assert entry["alg"] == key.algorithm.value
    assert entry["issuer"] == ISSUER
    assert entry["valid_until"] == (NOW - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parsed["withdrawn"] == [base64.b64encode(b"12345678").decode()]


def test_trust_list_json_is_checked(key: lic.SigningKey) -> None:
    document = json.loads(trust(key).to_json())
    (kid, entry), *_ = document["keys"].items()

    def bad(doc: object, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            lic.TrustList.from_json(json.dumps(doc))

    bad({**document, "format": "x"}, "not a")
    bad([], "not a")
    bad({**document, "keys": []}, "'keys'")
    bad({**document, "keys": {kid: entry | {"alg": "HS256"}}}, "unsupported alg")
    bad({**document, "keys": {kid: entry | {"alg": "PS256"}}}, "listed as")
    bad({**document, "keys": {base64.b64encode(b"87654321").decode(): entry}}, "does not match its key")
    bad({**document, "keys": {kid: entry | {"public_key": "%%%"}}}, "base64")
    bad({**document, "keys": {kid: entry | {"valid_from": "yesterday"}}}, "ISO 8601")
    bad({**document, "keys": {kid: entry | {"valid_from": "2026-01-01T00:00:00"}}}, "timezone")
    bad({**document, "keys": {kid: entry | {"issuer": 7}}}, "issuer")
    bad({**document, "withdrawn": "all"}, "withdrawn")
    with pytest.raises(ValueError, match="duplicate"):
        lic.TrustList.from_json('{"format": "citybrain.trust-list.v1", "keys": {}, "keys": {}}')
    with pytest.raises(ValueError, match="not JSON"):
        lic.TrustList.from_json(b"\xff{")


def test_signed_trust_and_revocation_lists(key: lic.SigningKey) -> None:
    anchor = lic.generate_signing_key(Algorithm.EDDSA, "citybrain trust anchor")
    anchors = [lic.TrustedKey.from_signing_key(anchor)]
    document = trust(key).to_json()
    signature = lic.sign_document(document, anchor, typ=lic.TRUST_LIST_TYPE)
    assert signature.count(".") == 2
    assert ".." in signature
    assert lic.load_trust_list(document, signature, anchors) == trust(key)

    with pytest.raises(ValueError, match="does not verify"):
        lic.load_trust_list(document.replace(b'"valid_until": null', b'"valid_until": "2099-01-01T00:00:00Z"'), signature, anchors)
    impostor = lic.generate_signing_key(Algorithm.EDDSA, "citybrain trust anchor")
    with pytest.raises(ValueError, match="unknown trust anchor"):
        lic.load_trust_list(document, lic.sign_document(document, impostor, typ=lic.TRUST_LIST_TYPE), anchors)
    with pytest.raises(ValueError, match="not a detached JWS"):
        lic.load_trust_list(document, "garbage", anchors)

    revocations = lic.RevocationList.of([lic.licence_revocation_hash(ISSUER, "JY1")], issued_at=NOW)
    rev_document = revocations.to_json()
    rev_signature = lic.sign_document(rev_document, anchor, typ=lic.REVOCATION_LIST_TYPE)
    assert lic.load_revocation_list(rev_document, rev_signature, anchors) == revocations
    with pytest.raises(ValueError, match="not for a"):  # a revocation list's signature is no trust list's
        lic.load_trust_list(rev_document, rev_signature, anchors)
    es_anchor = lic.generate_signing_key(Algorithm.ES256, "citybrain trust anchor")
    es_signature = lic.sign_document(document, es_anchor, typ=lic.TRUST_LIST_TYPE)
    assert lic.load_trust_list(document, es_signature, [lic.TrustedKey.from_signing_key(es_anchor)]) == trust(key)


def test_revocation_list_json(key: lic.SigningKey) -> None:
    revocations = lic.RevocationList.of([lic.licence_revocation_hash(ISSUER, "JY1"), bytes(16)])
    assert lic.RevocationList.from_json(revocations.to_json()) == revocations
    assert b"JY1" not in revocations.to_json()
    with pytest.raises(ValueError, match="16-byte"):
        lic.RevocationList.of([b"short"])
    with pytest.raises(ValueError, match="entries"):
        lic.RevocationList.from_json('{"format": "citybrain.revocation-list.v1", "entries": "x"}')


# --- HCERT interoperability -------------------------------------------------------------------------

HCERT_EXPECTED = {
    "CO1": None,
    "CO3": None,
    "CO5": Reason.BAD_SIGNATURE,
    "CO17": Reason.KEY_EXPIRED,
    "CO19": None,
    "CO22": Reason.UNKNOWN_KID,
}


def hcert_case(name: str) -> tuple[dict[str, Any], lic.TrustList, datetime]:
    case = json.loads((HCERT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    trust_list = lic.TrustList.from_certificates([base64.b64decode(case["TESTCTX"]["CERTIFICATE"])])
    return case, trust_list, datetime.fromisoformat(case["TESTCTX"]["VALIDATIONCLOCK"])


@pytest.mark.parametrize(("name", "reason"), HCERT_EXPECTED.items())
def test_hcert_test_vectors(name: str, reason: Reason | None) -> None:
    case, trust_list, clock = hcert_case(name)
    expected = case["EXPECTEDRESULTS"]
    result = verify(case["PREFIX"], trust_list, now=clock, leeway=timedelta(0))
    assert (result.valid, result.reason) == (reason is None, reason), result.detail
    assert result.valid is (expected.get("EXPECTEDVERIFY", True) and expected.get("EXPECTEDEXPIRATIONCHECK", True))
    if result.valid:
        assert isinstance(result.claims, lic.HcertClaims)
        assert result.claims.issuer == "AT"
        assert result.claims.issued_at == datetime(2021, 5, 3, 18, tzinfo=UTC)
        assert result.claims.certificate == cbor2.loads(bytes.fromhex(case["CBOR"]))[-260][1]
        if "JSON" in case:  # EXPECTEDVALIDJSON: the decoded certificate is the case's JSON
            assert result.claims.certificate == case["JSON"]


def test_hcert_kid_is_the_certificate_hash() -> None:
    _case, trust_list, _ = hcert_case("CO3")
    (trusted,) = trust_list.keys.values()
    assert trusted.kid == bytes.fromhex("c27cf6f2194e4445")  # the kid in the vector's protected header
    assert (trusted.algorithm, trusted.issuer) == (Algorithm.ES256, None)
    assert lic.TrustList.from_json(trust_list.to_json()) == trust_list  # X.509 entries survive the JSON
    _rsa_case, rsa_trust, _ = hcert_case("CO1")
    assert next(iter(rsa_trust.keys.values())).algorithm is Algorithm.PS256


def test_hcert_revocation_uses_the_dcc_hashes() -> None:
    case, trust_list, clock = hcert_case("CO3")
    uci_hash, country_hash = lic.hcert_revocation_hashes("AT", "urn:uvci:01:AT:10807843F94AEE0EE5093FBC254BD813P")
    signature_hash = lic.code_revocation_hash(case["PREFIX"])
    assert signature_hash == hashlib.sha256(bytes.fromhex(case["COSE"])[-64:-32]).digest()[:16]
    for entry in (uci_hash, country_hash, signature_hash):
        assert entry is not None
        result = verify(case["PREFIX"], trust_list, now=clock, revocations=lic.RevocationList.of([entry]))
        assert result.reason is Reason.REVOKED


def test_hcert_codes_need_hcert_claims_and_the_right_prefix(key: lic.SigningKey) -> None:
    # A citybrain licence relabelled HC1: is signed all right but carries no HCERT certificate.
    code = lic.issue_licence(claims(), key)
    assert verify("HC1:" + code[4:], trust(key)).reason is Reason.BAD_CLAIMS
    # An HCERT code relabelled CB1: is read as a citybrain licence, which it is not.
    case, trust_list, clock = hcert_case("CO3")
    assert verify("CB1:" + case["PREFIX"][4:], trust_list, now=clock).reason is Reason.BAD_CLAIMS


# --- QR codes -----------------------------------------------------------------------------------------


def test_qr_codes_read_back_to_the_exact_code(key: lic.SigningKey) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    code = lic.issue_licence(claims(), key)
    qr = lic.licence_qr(code)
    assert qr.mode == "alphanumeric"
    assert qr.error in ("Q", "H")
    png = lic.licence_qr_png(code, scale=3)
    assert png.startswith(b"\x89PNG")
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert read.text == code
    svg = ElementTree.fromstring(lic.licence_qr_svg(code))  # noqa: S314 - our own SVG
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("{http://www.w3.org/2000/svg}path") is not None
    side = (qr.symbol_size(scale=4, border=4))[0]
    assert svg.get("width") == str(side)
    assert svg.get("height") == str(side)


@pytest.mark.parametrize("text", ["CB1:" + string.digits + string.ascii_uppercase + " $%*+-./:"])
def test_qr_keeps_every_base45_character(text: str) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(lic.licence_qr_png(text))))
    assert read.text == text

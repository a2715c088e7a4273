"""E-licences through the API and pages: issued by a department, verified by anyone without a login
(against the signed published lists), revoked, expired, and kept in the holder's wallet."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.core.auth.principal import cli_principal
from citybrain.core.web import csrf
from citybrain.gov_services import licences, service
from citybrain.gov_services.models import LicenceKey
from citybrain.gov_services.schemas import HolderIn
from tests.builders.core import make_org
from tests.builders.gov_services import GovActors, make_gov_actors
from tests.conftest import TEST_SECRET

G = "/api/v1/gov"


def _company_licence(actors: GovActors, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "SP",
        "kind_name": "食品经营许可证",
        "holder": {"kind": "organisation", "name": actors.company_name, "credit_code": actors.company_code},
        "fields": {"经营场所": "历下区泉城路1号", "经营项目": "热食类食品制售"},
        "valid_days": 1825,
        **extra,
    }


def _person_licence(actors: GovActors) -> dict[str, Any]:
    return {
        "kind": "JZZM",
        "kind_name": "居住证明",
        "holder": {"kind": "person", "name": actors.citizen_name, "id_number": actors.citizen_id},
        "fields": {"居住地址": "历下区泉城路1号"},
        "valid_days": 180,
    }


def _issue(client: TestClient, actors: GovActors, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{G}/licences", json=body, headers=actors.market)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _verify(client: TestClient, code: str, lang: str = "zh-CN") -> dict[str, Any]:
    response = client.post(f"{G}/licences/verify", json={"code": code}, headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_an_issued_licence_verifies_without_a_login_and_a_changed_character_does_not(client: TestClient, session: Session) -> None:
    actors = make_gov_actors(client, session)
    licence = _issue(client, actors, _company_licence(actors))

    assert licence["licence_id"].startswith("JN-SP-20")
    assert licence["code"].startswith("CB1:")
    valid = _verify(client, licence["code"], "en")
    assert valid["valid"] is True
    assert valid["reason"] is None
    assert valid["message"].startswith("Genuine")
    assert valid["claims"]["licence_id"] == licence["licence_id"]
    assert valid["claims"]["holder_identifier"] == actors.company_code
    assert valid["claims"]["fields"]["经营项目"] == "热食类食品制售"

    code = licence["code"]
    middle = len(code) // 2
    tampered = code[:middle] + ("0" if code[middle] != "0" else "1") + code[middle + 1 :]
    refused = _verify(client, tampered)
    assert refused["valid"] is False
    assert refused["reason"].startswith("licence.")
    assert refused["message"]
    assert refused["message"] != refused["reason"]
    assert _verify(client, "garbage")["reason"] == "licence.bad_prefix"


def test_a_revoked_licence_fails_verification_with_the_reason(client: TestClient, session: Session) -> None:
    actors = make_gov_actors(client, session)
    licence = _issue(client, actors, _company_licence(actors))
    lid = licence["licence_id"]

    assert client.post(f"{G}/licences/{lid}/revoke", json={"reason": "x"}, headers=actors.viewer).status_code == 403
    assert client.post(f"{G}/licences/{lid}/revoke", json={"reason": "x"}, headers=actors.police).status_code == 404
    revoked = client.post(f"{G}/licences/{lid}/revoke", json={"reason": "企业申请注销"}, headers=actors.market)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoke_reason"] == "企业申请注销"
    assert client.post(f"{G}/licences/{lid}/revoke", json={"reason": "again"}, headers=actors.market).status_code == 409

    result = _verify(client, licence["code"], "en")
    assert result["valid"] is False
    assert result["reason"] == "licence.revoked"
    assert "revoked" in result["message"]
    assert result["claims"]["licence_id"] == lid  # which licence it was is still shown
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "gov.licence.revoked", AuditEntry.subject_id == lid))


def test_an_expired_licence_fails_verification(session: Session) -> None:
    market = make_org(session, name="市市场监管局")
    holder = HolderIn(kind="organisation", name="济南测试有限公司", credit_code="91370102MA3C8X2Y18")
    row = service.issue_licence(
        session, cli_principal("test"), kind="YYZZ", kind_name="营业执照", holder=holder, fields={}, valid_days=1,
        secret=TEST_SECRET, issuer_org_id=market.id,
    )  # fmt: skip

    assert service.verify(session, row.code, secret=TEST_SECRET).valid
    later = service.verify(session, row.code, secret=TEST_SECRET, now=datetime.now(UTC) + timedelta(days=2))
    assert later.reason is licences.Reason.EXPIRED
    # the department's key is stored encrypted, never in clear
    key = session.scalar(select(LicenceKey).where(LicenceKey.issuer_org_id == market.id))
    assert key is not None
    assert "ENCRYPTED PRIVATE KEY" in key.encrypted_private_key


def test_issuing_needs_the_scope_and_is_audited(client: TestClient, session: Session) -> None:
    actors = make_gov_actors(client, session)
    body = _company_licence(actors)

    assert client.post(f"{G}/licences", json=body).status_code == 401
    assert client.post(f"{G}/licences", json=body, headers=actors.viewer).status_code == 403
    assert client.post(f"{G}/licences", json=body, headers=actors.citizen).status_code == 403
    # a department issues only in its own name
    other = client.post(f"{G}/licences", json={**body, "issuer_org_code": actors.market_code}, headers=actors.police)
    assert other.status_code == 403
    bad = client.post(
        f"{G}/licences", json={**body, "holder": {**body["holder"], "credit_code": "91370102MA3C8X2Y19"}}, headers=actors.market
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "holder", "credit_code"]

    licence = _issue(client, actors, body)
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "gov.licence.issued", AuditEntry.subject_id == licence["licence_id"])
    )
    assert entry is not None
    assert entry.detail["issuer"] == actors.market_code
    listed = client.get(f"{G}/licences", headers=actors.market).json()
    assert [row["licence_id"] for row in listed] == [licence["licence_id"]]
    assert client.get(f"{G}/licences", headers=actors.police).json() == []


def test_holders_see_their_own_licences_in_the_wallet_masked_and_no_one_elses(client: TestClient, session: Session) -> None:
    actors = make_gov_actors(client, session)
    personal = _issue(client, actors, _person_licence(actors))
    business = _issue(client, actors, _company_licence(actors))

    assert personal["holder_name"] == "张*明"
    assert personal["holder_identifier"] == "*" * 14 + actors.citizen_id[-4:]
    assert actors.citizen_id not in personal["code"]
    assert [row["licence_id"] for row in client.get(f"{G}/wallet", headers=actors.citizen).json()] == [personal["licence_id"]]
    assert [row["licence_id"] for row in client.get(f"{G}/wallet", headers=actors.company).json()] == [business["licence_id"]]
    assert client.get(f"{G}/wallet", headers=actors.other_citizen).json() == []
    assert client.get(f"{G}/wallet").status_code == 401

    pid = personal["licence_id"]
    assert client.get(f"{G}/licences/{pid}", headers=actors.other_citizen).status_code == 404
    assert client.get(f"{G}/licences/{pid}", headers=actors.police).status_code == 404
    mine = client.get(f"{G}/licences/{pid}", headers=actors.citizen)
    assert mine.status_code == 200
    assert mine.json()["holder_name"] == "张*明"
    read = session.scalar(select(AuditEntry).where(AuditEntry.action == "gov.licence.read", AuditEntry.subject_id == pid))
    assert read is not None
    assert read.personal
    png = client.get(f"{G}/licences/{pid}/qr.png", headers=actors.citizen)
    assert png.status_code == 200
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in client.get(f"{G}/licences/{pid}/qr.svg", headers=actors.market).content
    assert client.get(f"{G}/licences/{pid}/qr.svg", headers=actors.other_citizen).status_code == 404

    page = client.get("/gov/wallet", headers=actors.citizen)
    assert page.status_code == 200
    assert pid in page.text
    assert business["licence_id"] not in page.text


def test_the_published_lists_verify_with_the_trust_anchor(client: TestClient, session: Session) -> None:
    actors = make_gov_actors(client, session)
    licence = _issue(client, actors, _company_licence(actors))
    client.post(f"{G}/licences/{licence['licence_id']}/revoke", json={"reason": "演示"}, headers=actors.market)

    anchor_doc = client.get(f"{G}/trust-anchor").json()
    anchor_der = base64.b64decode(anchor_doc["public_key"])
    anchor = licences.TrustedKey(bytes.fromhex(anchor_doc["kid"]), licences.Algorithm.EDDSA, anchor_der, service.ANCHOR_ISSUER)
    trust = client.get(f"{G}/trust-list").json()
    revocations = client.get(f"{G}/revocation-list").json()

    trust_list = licences.load_trust_list(trust["document"].encode(), trust["signature"], [anchor])
    revocation_list = licences.load_revocation_list(revocations["document"].encode(), revocations["signature"], [anchor])
    assert bytes.fromhex(licence["kid"]) in trust_list.keys
    assert licences.licence_revocation_hash(actors.market_code, licence["licence_id"]) in revocation_list
    # what an offline verifier concludes from the lists alone
    assert licences.verify_licence(licence["code"], trust_list, revocation_list).reason is licences.Reason.REVOKED
    forged = json.loads(trust["document"])
    forged["withdrawn"] = []
    forged["issued_at"] = "2000-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="signature"):
        licences.load_trust_list(json.dumps(forged).encode(), trust["signature"], [anchor])
    with pytest.raises(ValueError, match="not for a"):  # a trust-list signature is no revocation-list signature
        licences.load_revocation_list(trust["document"].encode(), trust["signature"], [anchor])


def test_the_pages_verify_without_a_login_and_let_a_department_issue_and_revoke(client: TestClient, session: Session) -> None:
    actors = make_gov_actors(client, session)
    licence = _issue(client, actors, _company_licence(actors))

    assert client.get("/gov/verify").status_code == 200
    token = client.cookies.get(csrf.COOKIE) or ""
    shown = client.post("/gov/verify", data={"code": licence["code"], "csrf_token": token})
    assert shown.status_code == 200
    assert 'data-valid="true"' in shown.text
    assert licence["licence_id"] in shown.text
    bad = client.post("/gov/verify?lang=en", data={"code": licence["code"][:-3] + "AAA", "csrf_token": token})
    assert 'data-valid="false"' in bad.text

    assert client.get("/gov/licences", headers=actors.citizen).status_code == 403
    page = client.get("/gov/licences", headers=actors.market)
    assert page.status_code == 200
    assert licence["licence_id"] in page.text
    form = {
        "kind": "YYZZ",
        "kind_name": "营业执照",
        "holder_kind": "organisation",
        "holder_name": actors.company_name,
        "holder_identifier": actors.company_code,
        "valid_days": "",
        "fields": '{"住所": "历下区"}',
        "csrf_token": token,
    }
    issued = client.post("/gov/licences", data=form, headers=actors.market, follow_redirects=False)
    assert issued.status_code == 303, issued.text
    refused = client.post("/gov/licences", data={**form, "holder_identifier": "123"}, headers=actors.market)
    assert refused.status_code == 422
    assert 'id="gov-issue-error"' in refused.text
    revoked = client.post(
        f"/gov/licences/{licence['licence_id']}/revoke",
        data={"reason": "吊销", "csrf_token": token},
        headers=actors.market,
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert _verify(client, licence["code"])["reason"] == "licence.revoked"

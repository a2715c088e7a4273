"""A citizen's own data trail: the account is bound to an ID number (only its pseudonym kept), and
the citizen sees which organisation read their data, when, through which service and why."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.auth.models import OrgKind, User
from citybrain.core.web import csrf
from tests.builders.core import PASSWORD, login, make_org, make_user
from tests.integration.datahub.test_services import D, _apply, _service, _setup


def _citizen(client: TestClient, admin: dict[str, str], org_code: str, username: str, id_number: str) -> object:
    body = {"username": username, "display_name": "张三丰", "password": PASSWORD, "org_code": org_code, "roles": [], "id_number": id_number}
    return client.post("/api/v1/users", json=body, headers=admin)


def test_a_citizen_sees_who_read_their_data_and_no_one_elses(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _setup(client, session)
    bureau = actors.bureau  # type: ignore[attr-defined]
    make_user(session, bureau, username="trail.admin", roles=["admin"])
    citizens = make_org(session, code="t.citizens", name="市民", kind=OrgKind.CITIZEN)
    session.commit()
    admin = login(client, "trail.admin")

    created = _citizen(client, admin, citizens.code, "zhang.sanfeng", people[0][0])
    assert created.status_code == 201, created.text  # type: ignore[attr-defined]
    assert created.json()["identity_bound"] is True  # type: ignore[attr-defined]
    stored = session.scalar(select(User).where(User.username == "zhang.sanfeng"))
    assert stored is not None
    assert stored.person_ref is not None
    assert people[0][0] not in stored.person_ref  # only the pseudonym is kept

    bad = _citizen(client, admin, citizens.code, "someone", people[0][0][:-1] + ("0" if people[0][0][-1] != "0" else "1"))
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert bad.json()["errors"][0]["loc"] == ["body", "id_number"]  # type: ignore[attr-defined]
    taken = _citizen(client, admin, citizens.code, "zhang.again", people[0][0])
    assert taken.status_code == 409  # type: ignore[attr-defined]
    make_user(session, citizens, username="li.si", roles=[])  # a citizen account without an ID number
    session.commit()

    _service(client, actors, rid, "gaj.trail.lookup")
    app_id = _apply(client, consumer, "gaj.trail.lookup", ["id_number", "name"])
    client.post(f"{D}/applications/{app_id}/approve", json={"rate_per_minute": 60}, headers=actors.steward)  # type: ignore[attr-defined]
    assert client.get(f"{D}/services/gaj.trail.lookup/lookup", params={"key": people[0][0]}, headers=consumer).status_code == 200
    assert client.get(f"{D}/services/gaj.trail.lookup/lookup", params={"key": people[1][0]}, headers=consumer).status_code == 200

    citizen = login(client, "zhang.sanfeng")
    trail = client.get(f"{D}/my-trail", headers=citizen)
    assert trail.status_code == 200, trail.text
    entries = trail.json()
    assert len(entries) == 1  # their own read, not the other person's
    assert entries[0]["organisation"] == "市民政局"
    assert entries[0]["service"] == "gaj.trail.lookup"
    assert entries[0]["purpose"] == "低保资格核验"
    assert client.get(f"{D}/my-trail", headers=login(client, "li.si")).status_code == 404

    client.get("/login")
    token = client.cookies.get(csrf.COOKIE) or ""
    client.post("/login", data={"username": "zhang.sanfeng", "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    page = client.get("/datahub/my-trail")
    assert page.status_code == 200
    assert "市民政局" in page.text
    assert "低保资格核验" in page.text
    assert 'href="/datahub/my-trail"' in page.text  # in the navigation

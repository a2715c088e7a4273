"""Organisation scoping: a department never sees another department's private rows without a grant."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.builders.core import login, make_org, make_user


def _upload(client: TestClient, headers: dict[str, str], name: str, visibility: str = "private") -> int:
    response = client.post(
        "/api/v1/files", files={"file": (name, b"id,name\n1,test\n", "text/csv")}, data={"visibility": visibility}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_another_department_is_refused_a_private_row_until_granted(client: TestClient, session: Session) -> None:
    police = make_org(session, name="市公安局")
    transport = make_org(session, name="市交通运输局")
    make_user(session, police, username="steward.police", roles=["data_steward"])
    make_user(session, transport, username="steward.transport", roles=["data_steward"])
    session.commit()
    police_headers = login(client, "steward.police")
    transport_headers = login(client, "steward.transport")

    file_id = _upload(client, police_headers, "户籍.csv")

    assert client.get(f"/api/v1/files/{file_id}", headers=police_headers).status_code == 200
    refused = client.get(f"/api/v1/files/{file_id}", headers=transport_headers)
    assert refused.status_code == 404
    assert refused.json()["code"] == "files.not_found"
    assert client.get(f"/api/v1/files/{file_id}/content", headers=transport_headers).status_code == 404
    assert file_id not in [f["id"] for f in client.get("/api/v1/files", headers=transport_headers).json()["items"]]

    grant = client.post(
        "/api/v1/grants",
        json={"grantee_org_code": transport.code, "subject_type": "core.file", "subject_id": str(file_id), "purpose": "交通事故处理核验"},
        headers=police_headers,
    )
    assert grant.status_code == 201, grant.text
    granted = client.get(f"/api/v1/files/{file_id}/content", headers=transport_headers)
    assert granted.status_code == 200
    assert granted.content == b"id,name\n1,test\n"
    assert granted.headers["content-disposition"].startswith("attachment")

    assert client.delete(f"/api/v1/grants/{grant.json()['id']}", headers=police_headers).status_code == 200
    assert client.get(f"/api/v1/files/{file_id}", headers=transport_headers).status_code == 404


def test_a_grant_for_all_rows_of_a_type_covers_later_rows_but_not_other_owners(client: TestClient, session: Session) -> None:
    police, transport, health = make_org(session), make_org(session), make_org(session)
    for org, name in ((police, "p"), (transport, "t"), (health, "h")):
        make_user(session, org, username=f"steward.{name}", roles=["data_steward"])
    session.commit()
    p, t, h = login(client, "steward.p"), login(client, "steward.t"), login(client, "steward.h")

    client.post(
        "/api/v1/grants", json={"grantee_org_code": transport.code, "subject_type": "core.file", "purpose": "联合执法"}, headers=p
    ).raise_for_status()
    police_file = _upload(client, p, "a.csv")
    health_file = _upload(client, h, "b.csv")

    assert client.get(f"/api/v1/files/{police_file}", headers=t).status_code == 200
    assert client.get(f"/api/v1/files/{health_file}", headers=t).status_code == 404


def test_admins_of_the_platform_do_not_read_departments_private_rows(client: TestClient, session: Session) -> None:
    police = make_org(session)
    make_user(session, police, username="steward.x", roles=["data_steward"])
    make_user(session, make_org(session, name="市大数据局"), username="root", roles=["admin"])
    session.commit()
    file_id = _upload(client, login(client, "steward.x"), "c.csv")

    assert client.get(f"/api/v1/files/{file_id}", headers=login(client, "root")).status_code == 404


def test_shared_rows_are_visible_to_every_logged_in_organisation(client: TestClient, session: Session) -> None:
    make_user(session, make_org(session), username="owner", roles=["data_steward"])
    make_user(session, make_org(session), username="reader", roles=["viewer"])
    session.commit()
    file_id = _upload(client, login(client, "owner"), "shared.csv", visibility="shared")

    assert client.get(f"/api/v1/files/{file_id}", headers=login(client, "reader")).status_code == 200
    assert client.get(f"/api/v1/files/{file_id}").status_code == 401


def test_a_grant_needs_a_purpose_and_another_organisation(client: TestClient, session: Session) -> None:
    org = make_org(session)
    make_user(session, org, username="granter", roles=["data_steward"])
    session.commit()
    headers = {**login(client, "granter"), "Accept-Language": "en"}

    no_purpose = client.post("/api/v1/grants", json={"grantee_org_code": org.code, "subject_type": "core.file"}, headers=headers)
    to_self = client.post(
        "/api/v1/grants", json={"grantee_org_code": org.code, "subject_type": "core.file", "purpose": "x" * 5}, headers=headers
    )

    assert no_purpose.status_code == 422
    assert no_purpose.json()["errors"][0]["field"] == "purpose"
    assert to_self.status_code == 422
    assert to_self.json()["errors"][0]["message"] == "An organisation cannot grant access to itself."

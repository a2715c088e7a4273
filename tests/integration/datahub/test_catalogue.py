"""The resource catalogue: drafts, versions, the review workflow and search, through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.builders.datahub import make_actors, person_draft, publish

R = "/api/v1/datahub/resources"


def test_a_steward_drafts_the_bureau_approves_and_everyone_sees_the_published_version(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)

    created = client.post(R, json=person_draft(), headers=actors.steward)
    assert created.status_code == 201, created.text
    body = created.json()
    rid = body["id"]
    assert body["status"] == "draft"
    assert body["code"] == f"{actors.provider.code}/00001"
    assert body["current"]["table_schema"]["primaryKey"] == ["id_number"]
    assert body["current"]["table_schema"]["fields"][0]["constraints"] == {"required": True, "unique": True}
    assert body["current"]["table_schema"]["fields"][0]["sensitivity"] == "sensitive_personal"

    assert client.get(f"{R}/{rid}", headers=actors.other).status_code == 404
    assert client.post(f"{R}/{rid}/approve", headers=actors.reviewer).status_code == 409

    assert client.post(f"{R}/{rid}/submit", headers=actors.steward).json()["status"] == "in_review"
    queue = client.get("/api/v1/datahub/queue", headers=actors.reviewer).json()
    assert [r["id"] for r in queue] == [rid]

    approved = client.post(f"{R}/{rid}/approve", headers=actors.reviewer).json()
    assert approved["status"] == "published"
    assert approved["published_version"] == 1
    assert approved["first_published_on"] is not None

    seen = client.get(f"{R}/{rid}", headers=actors.other)
    assert seen.status_code == 200
    assert seen.json()["current"]["name"] == "户籍人口基本信息"


def test_every_change_is_a_new_version_and_the_published_one_stays_until_approved(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    rid = publish(client, actors, person_draft())

    revised = client.put(
        f"{R}/{rid}", json=person_draft(name="户籍人口信息（含迁入迁出）", change_note="增加迁移记录"), headers=actors.steward
    )

    assert revised.status_code == 200
    assert revised.json()["latest_version"] == 2
    assert revised.json()["status"] == "draft"
    assert client.get(f"{R}/{rid}", headers=actors.other).json()["current"]["name"] == "户籍人口基本信息"
    assert client.get(f"{R}/{rid}", headers=actors.steward).json()["current"]["version"] == 2
    assert [v["version"] for v in client.get(f"{R}/{rid}/versions", headers=actors.other).json()] == [1]
    assert [v["version"] for v in client.get(f"{R}/{rid}/versions", headers=actors.steward).json()] == [2, 1]
    assert client.get(f"{R}/{rid}?version=2", headers=actors.other).status_code == 404

    client.post(f"{R}/{rid}/submit", headers=actors.steward)
    client.post(f"{R}/{rid}/approve", headers=actors.reviewer)

    current = client.get(f"{R}/{rid}", headers=actors.other).json()
    assert current["current"]["name"] == "户籍人口信息（含迁入迁出）"
    assert client.get(f"{R}/{rid}?version=1", headers=actors.other).json()["current"]["name"] == "户籍人口基本信息"


def test_a_returned_resource_carries_the_reason_and_can_be_resubmitted(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    rid = client.post(R, json=person_draft(), headers=actors.steward).json()["id"]
    client.post(f"{R}/{rid}/submit", headers=actors.steward)

    no_reason = client.post(f"{R}/{rid}/return", json={"reason": ""}, headers=actors.reviewer)
    returned = client.post(f"{R}/{rid}/return", json={"reason": "请补充字段的数据来源说明"}, headers=actors.reviewer)

    assert no_reason.status_code == 422
    assert returned.json()["status"] == "returned"
    reviews = client.get(f"{R}/{rid}/reviews", headers=actors.steward).json()
    assert [(e["action"], e["reason"]) for e in reviews] == [("submitted", None), ("returned", "请补充字段的数据来源说明")]
    assert [r["id"] for r in client.get("/api/v1/datahub/queue", headers=actors.steward).json()] == [rid]
    assert client.post(f"{R}/{rid}/submit", headers=actors.steward).json()["status"] == "in_review"


def test_only_the_provider_edits_and_only_the_bureau_reviews(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    rid = client.post(R, json=person_draft(), headers=actors.steward).json()["id"]

    assert client.put(f"{R}/{rid}", json=person_draft(), headers=actors.other).status_code == 403
    client.post(f"{R}/{rid}/submit", headers=actors.steward)
    assert client.put(f"{R}/{rid}", json=person_draft(), headers=actors.steward).status_code == 409
    assert client.post(f"{R}/{rid}/approve", headers=actors.steward).json()["code"] == "auth.missing_scope"


def test_a_reviewer_outside_the_bureau_cannot_approve(client: TestClient, session: Session) -> None:
    from tests.builders.core import login, make_org, make_user

    actors = make_actors(client, session)
    make_user(session, make_org(session), username="outside.reviewer", roles=["reviewer"])
    session.commit()
    rid = client.post(R, json=person_draft(), headers=actors.steward).json()["id"]
    client.post(f"{R}/{rid}/submit", headers=actors.steward)

    refused = client.post(f"{R}/{rid}/approve", headers={**login(client, "outside.reviewer"), "Accept-Language": "en"})

    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only reviewers of the Big Data Bureau review resources."


def test_bad_drafts_name_each_problem(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    bad = person_draft(
        sharing="none",
        open_attribute="open",
        table_schema={
            "fields": [{"name": "id_number", "title": "号码", "sensitivity": "personal"}, {"name": "id_number", "title": "重复"}],
            "primary_key": ["nope"],
        },
    )

    response = client.post(R, json=bad, headers={**actors.steward, "Accept-Language": "en"})

    assert response.status_code == 422
    messages = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert messages["table_schema.fields.1.name"] == 'The field name "id_number" appears twice.'
    assert messages["table_schema.primary_key.0"] == 'The key field "nope" is not among the fields.'


def test_sharing_rules_are_checked(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)

    response = client.post(R, json=person_draft(sharing="none", open_attribute="open", sharing_conditions=None), headers=actors.steward)

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"no_sharing_basis", "open_attribute"}


def test_search_is_word_segmented_with_facets(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    person = publish(client, actors, person_draft())
    air = publish(
        client,
        actors,
        person_draft(
            name="空气质量监测小时数据",
            name_en="Hourly air quality",
            summary="监测站点的 AQI 和 PM2.5 小时浓度",
            classification="theme",
            category_path=["生态环境"],
            sharing="unconditional",
            sharing_conditions=None,
            open_attribute="open",
            tags=["环境"],
            table_schema={"fields": [{"name": "station", "title": "站点", "sensitivity": "public"}], "primary_key": ["station"]},
        ),
    )
    client.post(R, json=person_draft(name="未发布的草稿人口"), headers=actors.steward)

    def ids(**params: str) -> list[int]:
        return [r["id"] for r in client.get(R, params=params, headers=actors.other).json()["items"]]

    assert ids(q="户籍人口") == [person]
    assert ids(q="人口") == [person]
    assert ids(q="air quality") == [air]
    assert ids(q="AQI") == [air]
    assert set(ids(q="公安")) == {air, person}  # the provider's name is searchable
    assert ids(q="身份号码") == [person]
    assert ids(q="人口 空气") == []
    assert ids(classification="theme") == [air]

    page = client.get(R, params={"classification": "theme"}, headers=actors.other).json()
    assert page["total"] == 1
    assert page["facets"]["classification"] == {"base": 1, "theme": 1}
    assert page["facets"]["sharing"] == {"unconditional": 1}
    assert page["facets"]["provider"] == {str(actors.provider.id): 1}


def test_the_catalogue_pages_show_search_detail_and_queue(client: TestClient, session: Session) -> None:
    from citybrain.core.web import csrf
    from tests.builders.core import PASSWORD

    actors = make_actors(client, session)
    rid = publish(client, actors, person_draft())
    pending = client.post(R, json=person_draft(name="待审核资源"), headers=actors.steward).json()["id"]
    client.post(f"{R}/{pending}/submit", headers=actors.steward)
    reviewer_name = actors.reviewer_name

    client.get("/login")
    token = client.cookies.get(csrf.COOKIE)
    client.post("/login", data={"username": reviewer_name, "password": PASSWORD, "csrf_token": token})

    catalogue = client.get("/datahub", params={"q": "户籍"})
    assert catalogue.status_code == 200
    assert "户籍人口基本信息" in catalogue.text
    assert "有条件共享" in catalogue.text
    detail = client.get(f"/datahub/resources/{rid}")
    assert "公民身份号码" in detail.text
    assert "敏感个人信息" in detail.text
    queue = client.get("/datahub/queue")
    assert "待审核资源" in queue.text

    approved = client.post(f"/datahub/resources/{pending}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert approved.status_code == 303
    assert "已发布" in client.get(f"/datahub/resources/{pending}").text

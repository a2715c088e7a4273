"""Governed data services: apply, decide, call within the grant, masking, metering, audit, trail."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.datahub.models import ServiceUsage
from tests.builders.core import login, make_org, make_user
from tests.builders.datahub import import_file, make_actors, person_csv, person_draft, publish, resident_id

D = "/api/v1/datahub"


def _setup(client: TestClient, session: Session, **draft: object) -> tuple[object, dict[str, str], int, list[tuple[str, str, str]]]:
    """A published person resource with three people, and a consumer department's steward."""
    actors = make_actors(client, session)
    consumer_org = make_org(session, name="市民政局")
    make_user(session, consumer_org, username=f"consumer.{consumer_org.id}", roles=["data_steward"])
    session.commit()
    consumer = login(client, f"consumer.{consumer_org.id}")
    rid = publish(client, actors, person_draft(**draft))  # type: ignore[arg-type]
    people = [(resident_id(i), name, "历下区") for i, name in ((1, "张三丰"), (2, "李四"), (3, "王五"))]
    assert import_file(client, actors, rid, person_csv(people)).status_code == 201  # type: ignore[arg-type]
    return actors, consumer, rid, people


def _service(client: TestClient, actors: object, rid: int, code: str, kind: str = "lookup", match: list[str] | None = None) -> None:
    body = {"code": code, "name": "人口查询", "kind": kind, "match_fields": match or []}
    response = client.post(f"{D}/resources/{rid}/services", json=body, headers=actors.steward)  # type: ignore[attr-defined]
    assert response.status_code == 201, response.text


def _apply(client: TestClient, consumer: dict[str, str], code: str, fields: list[str], clear: list[str] | None = None) -> int:
    response = client.post(
        f"{D}/services/{code}/applications",
        json={"fields": fields, "clear_fields": clear or [], "purpose": "低保资格核验", "scenario": "社会救助审批"},
        headers=consumer,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_granted_lookup_masks_personal_fields_refuses_others_and_is_audited(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, "gaj.person.lookup")
    app_id = _apply(client, consumer, "gaj.person.lookup", ["id_number", "name"])

    assert client.get(f"{D}/services/gaj.person.lookup/lookup", params={"key": people[0][0]}, headers=consumer).json()["code"] == (
        "datahub.service.no_grant"
    )
    # conditional sharing: the provider decides, not the bureau
    assert client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.reviewer).status_code == 404  # type: ignore[attr-defined]
    approved = client.post(f"{D}/applications/{app_id}/approve", json={"rate_per_minute": 2}, headers=actors.steward)  # type: ignore[attr-defined]
    assert approved.json()["status"] == "approved"

    found = client.get(f"{D}/services/gaj.person.lookup/lookup", params={"key": people[0][0]}, headers=consumer)
    assert found.status_code == 200, found.text
    row = found.json()["rows"][0]
    assert row["name"] == "张**"
    assert row["id_number"] == people[0][0][:6] + "********" + people[0][0][-4:]
    assert sorted(found.json()["masked"]) == ["id_number", "name"]

    outside = client.get(
        f"{D}/services/gaj.person.lookup/lookup", params={"key": people[0][0], "fields": "name,district"}, headers=consumer
    )
    assert outside.status_code == 403
    assert outside.json()["detail"] == "以下字段不在授权范围内：district。"

    client.get(f"{D}/services/gaj.person.lookup/lookup", params={"key": people[1][0]}, headers=consumer)
    limited = client.get(f"{D}/services/gaj.person.lookup/lookup", params={"key": people[2][0]}, headers=consumer)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1

    trail = client.get(f"{D}/access-trail", params={"id_number": people[0][0]}, headers=_admin(client, session)).json()
    assert [(t["organisation"], t["purpose"], t["service"], t["way"]) for t in trail] == [
        ("市民政局", "低保资格核验", "gaj.person.lookup", "lookup")
    ]
    assert client.get(f"{D}/access-trail", params={"id_number": people[2][0]}, headers=_admin(client, session)).json() == []

    usage = session.scalars(select(ServiceUsage)).all()
    assert [(u.calls, u.rows, u.refused) for u in usage] == [(2, 2, 3)]
    figures = client.get(f"{D}/figures", headers=consumer).json()
    assert figures == {
        "published_resources": 1,
        "mounted_services": 1,
        "landed_records": 3,
        "service_calls": 2,
        "rows_served": 2,
        "refused_calls": 3,
        "exchanged_records": 0,
        "active_subscriptions": 0,
        "connected_departments": 2,
        "base_registries": 0,
        "registry_records": 0,
    }


def test_clear_fields_come_unmasked_and_queries_page(client: TestClient, session: Session) -> None:
    actors, consumer, rid, _people = _setup(client, session)
    _service(client, actors, rid, "gaj.person.query", kind="query")
    app_id = _apply(client, consumer, "gaj.person.query", ["id_number", "name", "district"], clear=["name"])
    client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward)  # type: ignore[attr-defined]

    page = client.get(f"{D}/services/gaj.person.query/query", params={"where": "district:历下区", "limit": 2}, headers=consumer).json()

    assert [r["name"] for r in page["rows"]] == ["张三丰", "李四"]
    assert page["masked"] == ["id_number"]
    bad = client.get(f"{D}/services/gaj.person.query/query", params={"where": "district"}, headers=consumer)
    assert bad.status_code == 422


def test_verification_answers_yes_or_no_only(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, "gaj.person.district", kind="verify", match=["id_number", "district"])
    app_id = _apply(client, consumer, "gaj.person.district", ["district"])
    client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward)  # type: ignore[attr-defined]

    yes = client.post(
        f"{D}/services/gaj.person.district/verify", json={"values": {"id_number": people[0][0], "district": "历下区"}}, headers=consumer
    )
    no = client.post(
        f"{D}/services/gaj.person.district/verify", json={"values": {"id_number": people[0][0], "district": "市中区"}}, headers=consumer
    )

    assert yes.json() == {"match": True}
    assert no.json() == {"match": False}


def test_the_bureau_decides_unconditional_resources_and_unshared_ones_cannot_be_applied_for(client: TestClient, session: Session) -> None:
    actors, consumer, rid, _ = _setup(client, session, sharing="unconditional", sharing_conditions=None)
    _service(client, actors, rid, "gaj.open.lookup")
    app_id = _apply(client, consumer, "gaj.open.lookup", ["name"])
    assert client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward).status_code == 404  # type: ignore[attr-defined]
    assert (
        client.post(f"{D}/applications/{app_id}/reject", json={"reason": "用途不明确"}, headers=actors.reviewer).json()["status"]
        == "rejected"
    )  # type: ignore[attr-defined]

    closed = publish(
        client, actors, person_draft(name="不共享的资源", sharing="none", sharing_conditions=None, no_sharing_basis="法律规定")
    )  # type: ignore[arg-type]
    import_file(client, actors, closed, person_csv([(resident_id(7), "赵七", "历下区")]))  # type: ignore[arg-type]
    _service(client, actors, closed, "gaj.closed.lookup")
    refused = client.post(
        f"{D}/services/gaj.closed.lookup/applications",
        json={"fields": ["name"], "purpose": "随便看看", "scenario": "没有场景"},
        headers={**consumer, "Accept-Language": "en"},
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == "A resource that is not shared cannot be applied for."


def _admin(client: TestClient, session: Session) -> dict[str, str]:
    name = "trail.admin"
    from citybrain.core.auth.models import User

    if session.scalar(select(User).where(User.username == name)) is None:
        make_user(session, make_org(session), username=name, roles=["admin"])
        session.commit()
    return login(client, name)


def test_a_subscriber_pulls_changes_since_a_cursor(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, "gaj.person.feed", kind="query")
    app_id = _apply(client, consumer, "gaj.person.feed", ["id_number", "name"], clear=["id_number"])
    client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward)  # type: ignore[attr-defined]

    first = client.get(f"{D}/services/gaj.person.feed/changes", params={"limit": 2}, headers=consumer).json()
    assert [(c["seq"], c["op"]) for c in first["changes"]] == [(1, "insert"), (2, "insert")]
    assert first["more"] is True
    assert first["changes"][0]["row"] == {"id_number": people[0][0], "name": "张**"}
    assert "district" not in first["changes"][0]["row"]
    again = client.get(f"{D}/services/gaj.person.feed/changes", params={"limit": 2}, headers=consumer).json()
    assert again["changes"] == first["changes"]

    import_file(client, actors, rid, person_csv(people[:1]), mode="replace")  # type: ignore[arg-type]
    rest = client.get(f"{D}/services/gaj.person.feed/changes", params={"since": first["next"]}, headers=consumer).json()
    assert [(c["seq"], c["op"]) for c in rest["changes"]] == [(3, "insert"), (4, "delete"), (5, "delete")]
    assert rest["changes"][1]["row"] is None
    assert rest["more"] is False
    done = client.get(f"{D}/services/gaj.person.feed/changes", params={"since": rest["next"]}, headers=consumer).json()
    assert done == {"changes": [], "next": rest["next"], "more": False, "masked": ["name"]}
    # records exchanged are counted per grant (the subscription) and day: 2 + 2 + 3 changes pulled
    assert client.get(f"{D}/figures", headers=consumer).json()["exchanged_records"] == 7
    # the person read through the feed sees it in their trail as an exchange, not a lookup
    trail = client.get(f"{D}/access-trail", params={"id_number": people[0][0]}, headers=_admin(client, session)).json()
    assert {(t["service"], t["way"]) for t in trail} == {("gaj.person.feed", "changes")}


def _feed(client: TestClient, session: Session, code: str) -> tuple[object, dict[str, str], int, list[tuple[str, str, str]]]:
    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, code, kind="query")
    app_id = _apply(client, consumer, code, ["id_number", "name"], clear=["id_number"])
    client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward)  # type: ignore[attr-defined]
    return actors, consumer, rid, people


def test_a_subscription_keeps_the_acknowledged_cursor_and_counts_per_day(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _feed(client, session, "gaj.person.sub")
    made = client.post(f"{D}/subscriptions", json={"service": "gaj.person.sub", "name": "低保系统同步"}, headers=consumer)
    assert made.status_code == 201, made.text
    sub = made.json()
    assert (sub["cursor"], sub["latest"], sub["lag"], sub["status"]) == (0, 3, 3, "active")
    sid = sub["id"]

    first = client.get(f"{D}/subscriptions/{sid}/changes", params={"limit": 2}, headers=consumer).json()
    assert [(c["seq"], c["op"]) for c in first["changes"]] == [(1, "insert"), (2, "insert")]
    assert first["changes"][0]["row"] == {"id_number": people[0][0], "name": "张**"}
    # pulling without ``since`` does not acknowledge: the consumer lost its cursor and gets the same page
    assert client.get(f"{D}/subscriptions/{sid}/changes", params={"limit": 2}, headers=consumer).json() == first
    # pulling with since=2 acknowledges 1..2; afterwards the stored cursor resumes there
    second = client.get(f"{D}/subscriptions/{sid}/changes", params={"since": first["next"]}, headers=consumer).json()
    assert [c["seq"] for c in second["changes"]] == [3]
    assert client.get(f"{D}/subscriptions/{sid}", headers=consumer).json()["cursor"] == 2
    assert client.get(f"{D}/subscriptions/{sid}/changes", headers=consumer).json() == second
    # an older cursor re-reads (idempotent) but never moves the stored one back
    assert [c["seq"] for c in client.get(f"{D}/subscriptions/{sid}/changes", params={"since": 0}, headers=consumer).json()["changes"]] == [
        1,
        2,
        3,
    ]
    assert client.get(f"{D}/subscriptions/{sid}", headers=consumer).json()["cursor"] == 2

    import_file(client, actors, rid, person_csv(people[:1]), mode="replace")  # type: ignore[arg-type]
    rest = client.get(f"{D}/subscriptions/{sid}/changes", params={"since": second["next"]}, headers=consumer).json()
    assert [(c["seq"], c["op"]) for c in rest["changes"]] == [(4, "delete"), (5, "delete")]

    ahead = client.get(f"{D}/subscriptions/{sid}/changes", params={"since": 99}, headers=consumer)
    assert ahead.status_code == 422
    assert ahead.json()["errors"][0]["loc"] == ["query", "since"]

    read = client.get(f"{D}/subscriptions/{sid}", headers=consumer).json()
    assert (read["cursor"], read["latest"], read["lag"]) == (3, 5, 2)
    # 2 + 2 + 1 + 1 + 3 + 2 changes delivered in 6 pulls today (the refused pull is not counted)
    assert (read["exchanged_today"], read["exchanged_total"]) == (11, 11)
    assert [(u["pulls"], u["exchanged"]) for u in read["usage"]] == [(6, 11)]
    figures = client.get(f"{D}/figures", headers=consumer).json()
    assert (figures["exchanged_records"], figures["active_subscriptions"]) == (11, 1)

    # the provider sees who subscribes to its data; a third organisation does not
    assert [s["id"] for s in client.get(f"{D}/subscriptions", headers=actors.steward).json()] == [sid]  # type: ignore[attr-defined]
    assert client.get(f"{D}/subscriptions/{sid}", headers=actors.reviewer).status_code == 404  # type: ignore[attr-defined]
    assert client.get(f"{D}/subscriptions/{sid}/changes", headers=actors.steward).status_code == 404  # type: ignore[attr-defined]


def test_a_subscription_needs_a_live_grant_a_unique_name_and_ends_when_cancelled(client: TestClient, session: Session) -> None:
    actors, consumer, _, _ = _feed(client, session, "gaj.person.sub2")
    # the provider itself holds no grant on its own service
    outsider = client.post(f"{D}/subscriptions", json={"service": "gaj.person.sub2", "name": "x"}, headers=actors.steward)  # type: ignore[attr-defined]
    assert outsider.status_code == 403
    assert outsider.json()["code"] == "datahub.service.no_grant"
    from_now = client.post(f"{D}/subscriptions", json={"service": "gaj.person.sub2", "name": "增量", "start": "now"}, headers=consumer)
    assert (from_now.json()["cursor"], from_now.json()["lag"]) == (3, 0)
    again = client.post(f"{D}/subscriptions", json={"service": "gaj.person.sub2", "name": "增量"}, headers=consumer)
    assert again.status_code == 409
    assert again.json()["code"] == "datahub.subscription.name_taken"
    sid = from_now.json()["id"]
    assert client.get(f"{D}/subscriptions/{sid}/changes", headers=consumer).json()["changes"] == []

    cancelled = client.post(f"{D}/subscriptions/{sid}/cancel", headers=consumer)
    assert cancelled.json()["status"] == "cancelled"
    refused = client.get(f"{D}/subscriptions/{sid}/changes", headers=consumer)
    assert refused.status_code == 409
    assert refused.json()["code"] == "datahub.subscription.cancelled"

    # a revoked grant stops a live subscription's next pull too
    live = client.post(f"{D}/subscriptions", json={"service": "gaj.person.sub2", "name": "全量"}, headers=consumer).json()
    grant = client.get(f"{D}/grants", headers=consumer).json()[0]
    client.post(f"{D}/grants/{grant['id']}/revoke", headers=actors.steward)  # type: ignore[attr-defined]
    stopped = client.get(f"{D}/subscriptions/{live['id']}/changes", headers=consumer)
    assert stopped.status_code == 403
    assert stopped.json()["code"] == "datahub.service.no_grant"


def test_a_snapshot_holds_the_granted_fields_and_the_cursor_to_continue_from(client: TestClient, session: Session) -> None:
    import io

    import polars as pl

    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, "gaj.person.bulk", kind="query")
    app_id = _apply(client, consumer, "gaj.person.bulk", ["id_number", "name"], clear=["id_number"])
    client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward)  # type: ignore[attr-defined]

    csv_file = client.get(f"{D}/services/gaj.person.bulk/snapshot", headers=consumer)
    parquet = client.get(f"{D}/services/gaj.person.bulk/snapshot", params={"format": "parquet"}, headers=consumer)

    assert csv_file.headers["x-change-seq"] == "3"
    frame = pl.read_csv(io.BytesIO(csv_file.content.removeprefix("\ufeff".encode())))
    assert frame.columns == ["id_number", "name"]
    assert frame["id_number"].to_list() == sorted(p[0] for p in people)
    assert frame["name"].to_list()[0].endswith("*")
    assert pl.read_parquet(io.BytesIO(parquet.content)).height == 3


def test_a_revoked_grant_stops_the_next_call(client: TestClient, session: Session) -> None:
    actors, consumer, rid, people = _setup(client, session)
    _service(client, actors, rid, "gaj.person.revoke")
    app_id = _apply(client, consumer, "gaj.person.revoke", ["name"])
    client.post(f"{D}/applications/{app_id}/approve", json={}, headers=actors.steward)  # type: ignore[attr-defined]
    assert client.get(f"{D}/services/gaj.person.revoke/lookup", params={"key": people[0][0]}, headers=consumer).status_code == 200
    grant = client.get(f"{D}/grants", headers=consumer).json()[0]

    assert client.post(f"{D}/grants/{grant['id']}/revoke", headers=consumer).status_code == 404  # not the consumer's to end
    revoked = client.post(f"{D}/grants/{grant['id']}/revoke", headers=actors.steward)  # type: ignore[attr-defined]

    assert revoked.json()["revoked_at"] is not None
    refused = client.get(f"{D}/services/gaj.person.revoke/lookup", params={"key": people[0][0]}, headers=consumer)
    assert refused.json()["code"] == "datahub.service.no_grant"

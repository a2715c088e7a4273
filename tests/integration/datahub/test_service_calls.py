"""Governed calls on the fast path: every read committed to the audit log before it is answered,
grouped under concurrency, refused at once when access is revoked, and never answered when its
record cannot be written."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx  # the dev extras install httpx2, as Starlette's TestClient uses it
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.orm import Session

from citybrain.app import create_app
from citybrain.core import cache
from citybrain.core.audit import service as audit
from citybrain.core.audit.models import AuditEntry
from citybrain.core.auth import service as auth
from citybrain.core.auth.models import ApiKey
from citybrain.core.auth.principal import cli_principal
from citybrain.core.db import migrations
from citybrain.core.db.base import utcnow
from citybrain.datahub import dataservices
from citybrain.datahub.models import ServiceGrant, ServiceUsage
from citybrain.settings import Environment, Settings
from tests.builders.core import login, make_api_key, make_org, make_user
from tests.builders.datahub import import_file, make_actors, person_csv, person_draft, publish, resident_id
from tests.conftest import BACKENDS, ROOT, TEST_SECRET, fresh_database_url

D = "/api/v1/datahub"
CODE = "gaj.person.fast"
LOOKUP = f"{D}/services/{CODE}/lookup"

T = TypeVar("T")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(make())`` on a thread of its own: the browser tests leave an event loop
    running on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


@dataclass
class Granted:
    """A published person resource with a lookup service, and a consumer system holding a grant."""

    people: list[tuple[str, str, str]]
    api_key: str
    key_id: int
    steward: dict[str, str]


def grant_lookup(client: TestClient, session: Session, people: int = 3, rate_per_minute: int = 600) -> Granted:
    actors = make_actors(client, session)
    consumer_org = make_org(session, name="市民政局")
    make_user(session, consumer_org, username=f"consumer.{consumer_org.id}", roles=["data_steward"])
    key, raw = make_api_key(session, consumer_org, ["datahub:call"])
    session.commit()
    consumer = login(client, f"consumer.{consumer_org.id}")
    rid = publish(client, actors, person_draft())
    rows = [(resident_id(i), f"张{i}丰", "历下区") for i in range(1, people + 1)]
    assert import_file(client, actors, rid, person_csv(rows)).status_code == 201
    body = {"code": CODE, "name": "人口查询", "kind": "lookup", "match_fields": []}
    assert client.post(f"{D}/resources/{rid}/services", json=body, headers=actors.steward).status_code == 201
    applied = client.post(
        f"{D}/services/{CODE}/applications",
        json={"fields": ["id_number", "name"], "purpose": "低保资格核验", "scenario": "社会救助审批"},
        headers=consumer,
    )
    approved = client.post(
        f"{D}/applications/{applied.json()['id']}/approve", json={"rate_per_minute": rate_per_minute}, headers=actors.steward
    )
    assert approved.status_code == 200, approved.text
    return Granted(rows, raw, key.id, actors.steward)


def _lookups(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "datahub.service.lookup")))


def _usage(session: Session) -> tuple[int, int, int]:
    row = session.execute(select(func.sum(ServiceUsage.calls), func.sum(ServiceUsage.rows), func.sum(ServiceUsage.refused))).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


# -- many calls at once, on a database that really commits ------------------------------------------


@pytest.fixture(params=BACKENDS)
def live_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Settings:
    """Settings of a fresh database of each backend that is committed to (not rolled back), so
    that the writers' transactions, their locks and their order are the real ones."""
    url = fresh_database_url(request.param, request, tmp_path_factory)
    migrations.upgrade(url)
    return Settings(
        environment=Environment.TEST,
        var_dir=tmp_path / "var",
        database_url=url,
        secret_key=TEST_SECRET,
        data_dir=Path(os.environ.get("CITYBRAIN_DATA_DIR", ROOT.parent / "shared" / "data")),
        assets_dir=ROOT / "node_modules",
    )


@pytest.fixture
def two_workers(live_settings: Settings) -> Iterator[tuple[FastAPI, FastAPI]]:
    """Two apps on one database: two server processes' worth of caches and audit writers."""
    apps = (create_app(live_settings), create_app(live_settings))
    yield apps
    for app in apps:
        app.state.audit_writer.close()
        app.state.database.dispose()


def test_concurrent_calls_each_commit_one_audit_entry_and_are_metered(two_workers: tuple[FastAPI, FastAPI]) -> None:
    first, second = two_workers
    with TestClient(first) as client, first.state.database.sessionmaker() as session:
        granted = grant_lookup(client, session, people=40, rate_per_minute=100_000)
    calls = 240

    async def call_all() -> list[httpx.Response]:
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") for app in two_workers]
        try:
            return await asyncio.gather(
                *[
                    clients[i % 2].get(LOOKUP, params={"key": granted.people[i % 40][0]}, headers={"X-API-Key": granted.api_key})
                    for i in range(calls)
                ]
            )
        finally:
            for c in clients:
                await c.aclose()

    responses = run_async(call_all)

    assert [r.status_code for r in responses] == [200] * calls
    assert all(r.json()["rows"][0]["name"].startswith("张*") for r in responses)  # masked
    with second.state.database.sessionmaker() as session:
        entries = _lookups(session)
        # exactly one entry per call: each names the call's request and the person it read
        assert sorted(e.request_id or "" for e in entries) == sorted(r.headers["x-request-id"] for r in responses)
        assert all(e.purpose == "低保资格核验" and e.personal for e in entries)
        assert _usage(session) == (calls, calls, 0)
        assert audit.verify(session).ok
    writers = [app.state.audit_writer for app in two_workers]
    assert sum(w.jobs for w in writers) >= calls
    # grouped: far fewer transactions than calls
    assert sum(w.batches for w in writers) < calls / 2


# -- revocation despite the caches ------------------------------------------------------------------


def test_a_revoked_api_key_is_refused_at_once(client: TestClient, session: Session) -> None:
    granted = grant_lookup(client, session)
    headers = {"X-API-Key": granted.api_key}
    assert client.get(LOOKUP, params={"key": granted.people[0][0]}, headers=headers).status_code == 200

    auth.revoke_api_key(session, cli_principal("test"), str(granted.key_id))
    session.commit()

    refused = client.get(LOOKUP, params={"key": granted.people[0][0]}, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "auth.apikey_revoked"


def test_a_revoked_grant_is_refused_at_once_for_a_cached_caller(client: TestClient, session: Session) -> None:
    granted = grant_lookup(client, session)
    headers = {"X-API-Key": granted.api_key}
    for person in granted.people:  # the key, the service and the grant are cached now
        assert client.get(LOOKUP, params={"key": person[0]}, headers=headers).status_code == 200
    grant_id = session.scalar(select(ServiceGrant.id).order_by(ServiceGrant.id.desc()))

    assert client.post(f"{D}/grants/{grant_id}/revoke", headers=granted.steward).status_code == 200

    refused = client.get(LOOKUP, params={"key": granted.people[0][0]}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "datahub.service.no_grant"


def test_a_revocation_by_another_process_is_seen_within_the_cache_lifetime(
    app: FastAPI, client: TestClient, session: Session, connection: Connection, settings: Settings
) -> None:
    """Another worker or the ``citybrain`` command revokes: nothing tells this process, so its
    cached decisions last until they expire (here 0.3 s instead of the default second)."""
    app.state.principal_cache = cache.TTLCache(0.3, refresh=False)
    app.state.datahub_gateway = dataservices.Gateway(app.state.database, app.state.audit_writer, settings.resolved_secret_key(), ttl=0.3)
    granted = grant_lookup(client, session)
    headers = {"X-API-Key": granted.api_key}
    key = granted.people[0][0]
    assert client.get(LOOKUP, params={"key": key}, headers=headers).status_code == 200

    # written as another process would: no event reaches this one
    connection.execute(update(ServiceGrant).values(revoked_at=utcnow()))
    time.sleep(0.35)
    assert client.get(LOOKUP, params={"key": key}, headers=headers).json()["code"] == "datahub.service.no_grant"

    connection.execute(update(ApiKey).where(ApiKey.id == granted.key_id).values(revoked_at=utcnow()))
    time.sleep(0.35)
    assert client.get(LOOKUP, params={"key": key}, headers=headers).json()["code"] == "auth.apikey_revoked"


# -- no record, no data -----------------------------------------------------------------------------


def _break_audit_store(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "CREATE FUNCTION test_audit_store_down() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$ LANGUAGE plpgsql"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER test_audit_store_down BEFORE INSERT ON core_audit_log FOR EACH ROW EXECUTE FUNCTION test_audit_store_down()"
            )
        )
    else:
        connection.execute(
            text(
                "CREATE TRIGGER test_audit_store_down BEFORE INSERT ON core_audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"
            )
        )


def test_a_read_whose_record_cannot_be_committed_is_not_answered(client: TestClient, session: Session, connection: Connection) -> None:
    granted = grant_lookup(client, session)
    headers = {"X-API-Key": granted.api_key}
    assert client.get(LOOKUP, params={"key": granted.people[0][0]}, headers=headers).status_code == 200
    before_entries, before_usage = len(_lookups(session)), _usage(session)

    _break_audit_store(connection)
    failed = client.get(LOOKUP, params={"key": granted.people[1][0]}, headers=headers)

    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "1"
    assert failed.json()["code"] == "audit.unavailable"
    assert "rows" not in failed.json()
    assert granted.people[1][1] not in failed.text
    # nothing of the failed call was kept: neither its entry nor its metering
    assert (len(_lookups(session)), _usage(session)) == (before_entries, before_usage)

    on_table = " ON core_audit_log" if connection.dialect.name == "postgresql" else ""
    connection.execute(text(f"DROP TRIGGER test_audit_store_down{on_table}"))
    assert client.get(LOOKUP, params={"key": granted.people[1][0]}, headers=headers).status_code == 200
    assert len(_lookups(session)) == before_entries + 1
    assert audit.verify(session).ok

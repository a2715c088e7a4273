"""Builders for the operations center's tests: a department with a connected system and its key,
staff who handle alarms, and points and rules to push."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.auth.principal import cli_principal
from citybrain.core.web import csrf
from citybrain.operations_center import service
from citybrain.operations_center.models import AlarmRule, System
from citybrain.operations_center.schemas import RuleCreate, SystemCreate
from tests.builders.core import PASSWORD, login, make_org, make_user

_n = itertools.count(1)
T = TypeVar("T")


def run_async(make: Callable[[], Coroutine[object, object, T]]) -> T:
    """Run a coroutine to its end in a thread of its own: the test's thread may already run an event
    loop (the browser tests' Playwright does, in the same session), where ``asyncio.run`` refuses."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


@dataclass
class OpsActors:
    admin: dict[str, str]  # bearer headers of an admin (registers systems, writes rules and scenarios)
    staff: dict[str, str]  # an operator: reads and handles alarms
    viewer: dict[str, str]  # reads only
    system: System
    key: dict[str, str]  # the system's API key headers
    department_code: str
    admin_name: str
    staff_name: str


def make_system(
    session: Session, owner_code: str, *, code: str | None = None, health_url: str | None = None, **extra: Any
) -> tuple[System, str]:
    n = next(_n)
    return service.register_system(
        session,
        cli_principal("test"),
        SystemCreate(
            code=code or f"sys{n}", name=f"测试系统{n}", kind="sensor_network", owner_org_code=owner_code, health_url=health_url, **extra
        ),
    )


def make_ops_actors(client: TestClient, session: Session) -> OpsActors:
    n = next(_n)
    dept = make_org(session, code=f"t.slj{n}", name="市水务局")
    make_user(session, dept, username=f"opsadmin{n}", roles=["admin"])
    make_user(session, dept, username=f"opsstaff{n}", roles=["operator"])
    make_user(session, dept, username=f"opsviewer{n}", roles=["viewer"])
    system, key = make_system(session, dept.code, code=f"water{n}")
    session.commit()
    return OpsActors(
        admin=login(client, f"opsadmin{n}"),
        staff=login(client, f"opsstaff{n}"),
        viewer=login(client, f"opsviewer{n}"),
        system=system,
        key={"X-API-Key": key},
        department_code=dept.code,
        admin_name=f"opsadmin{n}",
        staff_name=f"opsstaff{n}",
    )


def point(name: str, value: float, *, district: str | None = None, at: datetime | None = None, **tags: str) -> dict[str, Any]:
    """A metric point as the API takes it."""
    all_tags = dict(tags)
    if district:
        all_tags["district"] = district
    body: dict[str, Any] = {"name": name, "value": value, "tags": all_tags}
    if at is not None:
        body["time"] = at.isoformat()
    return body


def make_rule(session: Session, metric: str, **fields: Any) -> AlarmRule:
    data = {
        "name": f"{metric} 规则",
        "kind": "threshold",
        "metric": metric,
        "comparator": ">",
        "threshold": 3.0,
        "severity": "critical",
        **fields,
    }
    return service.create_rule(session, cli_principal("test"), RuleCreate(**data))


def page_login(client: TestClient, username: str) -> str:
    """Log in through the login form; returns the CSRF token that page forms repeat."""
    client.get("/login")
    token = client.cookies.get(csrf.COOKIE) or ""
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return token

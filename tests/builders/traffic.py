"""Builders for the traffic domain's tests: people with traffic roles."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.builders.core import login, make_org, make_user

_n = itertools.count(1)


@dataclass
class TrafficActors:
    engineer: dict[str, str]  # operator: imports networks, runs evaluations and plans
    signal_operator: dict[str, str]  # traffic_operator: also commands junctions
    viewer: dict[str, str]


def make_traffic_actors(client: TestClient, session: Session) -> TrafficActors:
    n = next(_n)
    transport = make_org(session, code=f"t.jtj{n}", name="市交通运输局")
    police = make_org(session, code=f"t.jj{n}", name="市公安局交警支队")
    make_user(session, transport, username=f"engineer{n}", roles=["operator"])
    make_user(session, police, username=f"signal{n}", roles=["traffic_operator"])
    make_user(session, transport, username=f"tviewer{n}", roles=["viewer"])
    session.commit()
    return TrafficActors(login(client, f"engineer{n}"), login(client, f"signal{n}"), login(client, f"tviewer{n}"))

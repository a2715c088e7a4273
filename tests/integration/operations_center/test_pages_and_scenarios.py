"""The operations-center pages (big screen, systems, alarms, scenarios) and scenario definitions:
validated YAML/JSON, each field's error named, a bad edit changing nothing."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from citybrain.core.audit.models import AuditEntry
from citybrain.core.auth.principal import cli_principal
from citybrain.operations_center import scenarios, service
from tests.builders.operations_center import make_ops_actors, make_rule, page_login, point

API = "/api/v1/ops"

KPI_ONLY = """
code: river
group: public_safety
title: 河道
widgets:
  - {type: kpi, title: 水位, metric: water.level_m, agg: max}
"""


def test_scenarios_through_the_api_as_yaml_or_json(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    put = client.put(f"{API}/scenarios/river", json={"source": KPI_ONLY}, headers=actors.admin)
    assert put.status_code == 200, put.text
    assert put.json()["definition"]["widgets"][0]["metric"] == "water.level_m"
    as_json = json.dumps({**scenarios.parse(KPI_ONLY).model_dump(), "title": "河道水情"}, ensure_ascii=False)
    assert client.put(f"{API}/scenarios/river", json={"source": as_json}, headers=actors.admin).json()["title"] == "河道水情"
    assert client.put(f"{API}/scenarios/river", json={"source": KPI_ONLY}, headers=actors.staff).status_code == 403
    wrong_code = client.put(f"{API}/scenarios/other", json={"source": KPI_ONLY}, headers=actors.admin)
    assert wrong_code.status_code == 422
    bad = client.put(
        f"{API}/scenarios/river", json={"source": KPI_ONLY.replace("metric: water.level_m", "metric: Water Level")}, headers=actors.admin
    )
    assert bad.status_code == 422
    assert "widgets.0.kpi.metric" in bad.text
    assert client.get(f"{API}/scenarios/river", headers=actors.viewer).json()["title"] == "河道水情"  # unchanged
    audited = list(session.scalars(select(AuditEntry.action).where(AuditEntry.subject_type == "ops.scenario")))
    assert audited == ["ops.scenario.created", "ops.scenario.updated"]


def test_the_admin_edits_a_scenario_on_its_page(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    service.save_scenario(session, cli_principal("test"), KPI_ONLY)
    session.commit()
    token = page_login(client, actors.admin_name)
    page = client.get("/ops/scenarios/river/edit")
    assert page.status_code == 200
    assert "water.level_m" in page.text
    bad = client.post(
        "/ops/scenarios/river/edit", data={"csrf_token": token, "source": KPI_ONLY.replace("group: public_safety", "group: sports")}
    )
    assert bad.status_code == 422
    assert "group" in bad.text
    assert service.get_scenario(session, "river").group == "public_safety"
    good = client.post(
        "/ops/scenarios/river/edit",
        data={"csrf_token": token, "source": KPI_ONLY.replace("title: 河道", "title: 河湖")},
        follow_redirects=False,
    )
    assert good.status_code == 303
    session.expire_all()
    assert service.get_scenario(session, "river").title == "河湖"


def test_the_big_screen_page_carries_its_state_and_both_languages(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    service.save_scenario(session, cli_principal("test"), KPI_ONLY)
    make_rule(session, "water.level_m", threshold=3.0)
    session.commit()
    client.post(f"{API}/metrics", json={"points": [point("water.level_m", 3.4, district="370105")]}, headers=actors.key)
    page_login(client, actors.staff_name)
    screen = client.get("/ops/screen")
    assert screen.status_code == 200
    assert "智慧泉城 · 城市运行管理中心" in screen.text
    assert "/vendor/echarts/echarts.min.js" in screen.text
    assert 'data-width="1920"' in screen.text
    state = json.loads(re.search(r"state: (\{.*?\}),\n  wide:", screen.text, re.S).group(1))  # type: ignore[union-attr]
    assert [a["metric"] for a in state["alarms"]] == ["water.level_m"]
    assert {"name": "water.level_m", "district": "370105"}.items() <= state["latest"][0].items()
    assert state["scenarios"][0]["code"] == "river"
    assert set(state["figures"]) == {"datahub", "gov", "traffic", "ops"}
    wide = client.get("/ops/screen", params={"wide": 1, "lang": "en"})
    assert 'data-width="3840"' in wide.text
    assert "City Operations Center" in wide.text
    assert client.get("/ops/scenarios/river").status_code == 200
    assert client.get("/ops/scenarios/nope").status_code == 404
    geo = client.get("/ops/geo/districts.json")
    if geo.status_code == 200:  # the public data set is present on this machine
        assert len(geo.json()["features"]) == 12


def test_alarms_are_worked_from_the_alarm_page(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    make_rule(session, "water.level_m", threshold=3.0)
    session.commit()
    client.post(f"{API}/metrics", json={"points": [point("water.level_m", 3.4, district="370105")]}, headers=actors.key)
    (alarm,) = service.list_alarms(session)
    token = page_login(client, actors.staff_name)
    page = client.get("/ops/alarms")
    assert f'id="alarm-{alarm.id}"' in page.text
    assert (
        client.post(f"/ops/alarms/{alarm.id}/acknowledge", data={"csrf_token": token, "note": "已查看"}, follow_redirects=False).status_code
        == 303
    )
    assigned = client.post(
        f"/ops/alarms/{alarm.id}/assign", data={"csrf_token": token, "org_code": actors.department_code}, follow_redirects=False
    )
    assert assigned.status_code == 303
    assert client.post(f"/ops/alarms/{alarm.id}/close", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    session.expire_all()
    assert service.get_alarm(session, alarm.id).status == "closed"
    # without the CSRF token nothing happens
    assert client.post(f"/ops/alarms/{alarm.id}/note", data={"note": "x"}).status_code == 403


def test_the_systems_page_filters(client: TestClient, session: Session) -> None:
    actors = make_ops_actors(client, session)
    client.post(f"{API}/heartbeat", json={"status": "degraded", "message": "磁盘将满"}, headers=actors.key)
    page_login(client, actors.staff_name)
    degraded = client.get("/ops", params={"status": "degraded"})
    assert f'data-system="{actors.system.code}"' in degraded.text
    assert "磁盘将满" in degraded.text
    assert f'data-system="{actors.system.code}"' not in client.get("/ops", params={"status": "up"}).text
    assert f'data-system="{actors.system.code}"' in client.get("/ops", params={"q": actors.system.code}).text

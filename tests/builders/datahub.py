"""Typed builders for the data hub: a provider with a steward, the bureau with a reviewer, drafts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.auth.models import Organisation
from tests.builders.core import login, make_org, make_user

_n = itertools.count(1)


@dataclass
class Actors:
    provider: Organisation
    bureau: Organisation
    steward: dict[str, str]
    reviewer: dict[str, str]
    other: dict[str, str]
    #: usernames, for logging in to the pages
    steward_name: str
    reviewer_name: str


def make_actors(client: TestClient, session: Session, bureau_code: str = "jn.dsjj") -> Actors:
    """A provider department with a data steward, the data bureau with a reviewer, and a viewer of
    a third department; returns their bearer headers."""
    n = next(_n)
    provider = make_org(session, code=f"t.prov{n}", name="市公安局")
    bureau = make_org(session, code=bureau_code, name="市大数据局")
    other = make_org(session, code=f"t.other{n}", name="市交通运输局")
    make_user(session, provider, username=f"steward{n}", roles=["data_steward"])
    make_user(session, bureau, username=f"reviewer{n}", roles=["reviewer"])
    make_user(session, other, username=f"viewer{n}", roles=["viewer"])
    session.commit()
    return Actors(
        provider,
        bureau,
        login(client, f"steward{n}"),
        login(client, f"reviewer{n}"),
        login(client, f"viewer{n}"),
        steward_name=f"steward{n}",
        reviewer_name=f"reviewer{n}",
    )


def person_draft(**overrides: Any) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "name": "户籍人口基本信息",
        "name_en": "Registered population",
        "summary": "全市户籍人口的身份号码、姓名和户籍地址。",
        "classification": "base",
        "category_path": ["人口", "户籍"],
        "update_cycle": "daily",
        "sharing": "conditional",
        "sharing_conditions": "依法履职需要核验身份的部门",
        "open_attribute": "closed",
        "tags": ["人口", "户籍"],
        "table_schema": {
            "fields": [
                {
                    "name": "id_number",
                    "title": "公民身份号码",
                    "required": True,
                    "unique": True,
                    "sensitivity": "sensitive_personal",
                    "identifier": "resident_id",
                },
                {"name": "name", "title": "姓名", "sensitivity": "personal", "required": True},
                {"name": "district", "title": "户籍所在区县", "enum": ["历下区", "市中区"]},
            ],
            "primary_key": ["id_number"],
        },
    }
    draft.update(overrides)
    return draft


def publish(client: TestClient, actors: Actors, draft: dict[str, Any]) -> int:
    """Draft, submit and approve; returns the resource id."""
    created = client.post("/api/v1/datahub/resources", json=draft, headers=actors.steward)
    assert created.status_code == 201, created.text
    rid = int(created.json()["id"])
    assert client.post(f"/api/v1/datahub/resources/{rid}/submit", headers=actors.steward).status_code == 200
    assert client.post(f"/api/v1/datahub/resources/{rid}/approve", headers=actors.reviewer).status_code == 200
    return rid


def resident_id(n: int, code: str = "370102", born: str = "19900101") -> str:
    """A valid resident ID number (stdnum computes the check character)."""
    from stdnum.cn import ric

    body = f"{code}{born}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person_csv(rows: list[tuple[str, str, str]]) -> bytes:
    """A CSV of (id_number, name, district) rows with the person draft's header."""
    lines = ["id_number,name,district", *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode()


def import_file(client: TestClient, actors: Actors, rid: int, content: bytes, name: str = "people.csv", mode: str = "upsert") -> Any:
    return client.post(
        f"/api/v1/datahub/resources/{rid}/imports",
        files={"file": (name, content, "application/octet-stream")},
        data={"mode": mode},
        headers=actors.steward,
    )

"""A steward's day on the pages: draft a resource with the form, import a file, fix it, import again."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from citybrain.core.web import csrf
from tests.builders.core import PASSWORD
from tests.builders.datahub import make_actors, person_csv, resident_id

FIELDS = "\n".join(
    [
        "id_number | 公民身份号码 | string | sensitive_personal | required key resident_id",
        "name | 姓名 | string | personal | required",
        "district | 户籍所在区县 | string | internal | enum=历下区/市中区",
    ]
)


def _page_login(client: TestClient, username: str) -> str:
    client.get("/login")
    token = client.cookies.get(csrf.COOKIE) or ""
    assert (
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    return token


def test_draft_with_the_form_import_a_bad_file_then_a_good_one(client: TestClient, session: Session) -> None:
    actors = make_actors(client, session)
    token = _page_login(client, actors.steward_name)
    form = {
        "csrf_token": token,
        "name": "户籍人口基本信息",
        "summary": "户籍人口的身份号码、姓名和区县",
        "classification": "base",
        "resource_type": "table",
        "update_cycle": "daily",
        "sharing": "conditional",
        "sharing_conditions": "依法核验身份",
        "open_attribute": "closed",
        "category_path": "人口/户籍",
        "tags": "人口，户籍",
        "fields": FIELDS,
    }

    bad_form = client.post("/datahub/new", data={**form, "fields": "id_number | 号码 | text"})
    assert bad_form.status_code == 422
    assert "第 1 行的类型无效" in bad_form.text

    created = client.post("/datahub/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    rid = int(created.headers["location"].rsplit("/", 1)[1])
    detail = client.get(f"/datahub/resources/{rid}")
    assert "公民身份号码" in detail.text
    assert "敏感个人信息" in detail.text

    bad_id = resident_id(2)[:-1] + ("0" if resident_id(2)[-1] != "0" else "1")
    bad = person_csv([(resident_id(1), "张一", "历下区"), (bad_id, "李二", "历下区"), (resident_id(3), "王三", "火星区")])
    rejected = client.post(
        f"/datahub/resources/{rid}/import", data={"csrf_token": token, "mode": "upsert"}, files={"file": ("people.csv", bad, "text/csv")}
    )
    assert rejected.status_code == 200
    assert "未写入任何数据" in rejected.text
    assert "公民身份号码无效" in rejected.text
    assert bad_id not in rejected.text
    assert re.search(r"下载完整的问题报告（共 2 个问题", rejected.text)

    good = person_csv([(resident_id(1), "张一", "历下区"), (resident_id(2), "李二", "历下区"), (resident_id(3), "王三", "市中区")])
    imported = client.post(
        f"/datahub/resources/{rid}/import", data={"csrf_token": token, "mode": "upsert"}, files={"file": ("people.csv", good, "text/csv")}
    )
    assert "导入成功：读取 3 行，新增 3" in imported.text
    history = client.get(f"/datahub/resources/{rid}")
    assert "被拒绝" in history.text
    assert "成功" in history.text

    edit = client.get(f"/datahub/resources/{rid}/edit")
    assert "required key resident_id" in edit.text
    saved = client.post(f"/datahub/resources/{rid}/edit", data={**form, "change_note": "补充说明"}, follow_redirects=False)
    assert saved.status_code == 303
    assert "补充说明" in client.get(f"/datahub/resources/{rid}").text

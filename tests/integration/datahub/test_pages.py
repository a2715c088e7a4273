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


def test_publish_apply_decide_and_trace_from_the_pages(client: TestClient, session: Session) -> None:
    from tests.builders.core import login, make_org, make_user
    from tests.builders.datahub import import_file, person_draft, publish

    actors = make_actors(client, session)
    consumer_org = make_org(session, name="市民政局")
    make_user(session, consumer_org, username="page.consumer", roles=["data_steward"])
    make_user(session, make_org(session), username="page.admin", roles=["admin"])
    session.commit()
    rid = publish(client, actors, person_draft())
    import_file(client, actors, rid, person_csv([(resident_id(1), "张一", "历下区")]))

    token = _page_login(client, actors.steward_name)
    assert (
        client.post(
            f"/datahub/resources/{rid}/services",
            data={"csrf_token": token, "code": "gaj.pages.lookup", "name": "人口查询", "kind": "lookup"},
        ).status_code
        == 200
    )  # followed to the services page
    client.post("/logout", data={"csrf_token": token})

    token = _page_login(client, "page.consumer")
    applied = client.post(
        "/datahub/services/gaj.pages.lookup/apply",
        data={"csrf_token": token, "fields": "id_number, name", "purpose": "低保资格核验", "scenario": "社会救助"},
    )
    assert "待审核" in applied.text
    client.post("/logout", data={"csrf_token": token})

    token = _page_login(client, actors.steward_name)
    page = client.get("/datahub/services")
    app_id = re.search(r"/datahub/applications/(\d+)/decide", page.text)
    assert app_id is not None
    decided = client.post(f"/datahub/applications/{app_id.group(1)}/decide", data={"csrf_token": token, "decision": "approve"})
    assert "已授权" in decided.text
    client.post("/logout", data={"csrf_token": token})

    # the consumer subscribes to the service's changes from the page, and sees what waits
    token = _page_login(client, "page.consumer")
    subscribed = client.post("/datahub/subscriptions", data={"csrf_token": token, "code": "gaj.pages.lookup", "name": "救助系统同步"})
    assert subscribed.status_code == 200
    row = re.search(
        # cursor 0, latest change 1, one change waiting
        r"<td><code>gaj.pages.lookup</code></td><td>救助系统同步</td><td>市民政局</td>\s*"
        r"<td class=\"num\">0</td><td class=\"num\">1</td><td class=\"num\">1</td>",
        subscribed.text,
    )
    assert row is not None, subscribed.text
    sub_id = re.search(r"/datahub/subscriptions/(\d+)/cancel", subscribed.text)
    assert sub_id is not None
    cancelled = client.post(f"/datahub/subscriptions/{sub_id.group(1)}/cancel", data={"csrf_token": token})
    assert "已取消" in cancelled.text
    client.post("/logout", data={"csrf_token": token})

    consumer = login(client, "page.consumer")
    assert (
        client.get("/api/v1/datahub/services/gaj.pages.lookup/lookup", params={"key": resident_id(1)}, headers=consumer).status_code == 200
    )
    client.cookies.clear()
    _page_login(client, "page.admin")
    trail = client.get("/datahub/trail", params={"id_number": resident_id(1)})
    assert "市民政局" in trail.text
    assert "低保资格核验" in trail.text

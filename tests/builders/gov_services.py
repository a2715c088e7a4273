"""Builders for the government-services domain's tests: issuers, holders and valid identifiers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc

from citybrain.core.auth import service as auth
from citybrain.core.auth.models import OrgKind
from citybrain.core.auth.principal import cli_principal
from citybrain.core.auth.schemas import OrgCreate, UserCreate
from tests.builders.core import PASSWORD, login, make_org, make_user
from tests.conftest import TEST_SECRET

_n = itertools.count(1)


def resident_id(n: int) -> str:
    """A valid resident ID number (GB 11643) of someone born in 历下区 on 1990-01-01."""
    body = f"37010219900101{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def credit_code(n: int) -> str:
    """A valid unified social credit code (GB 32100) of a company in 历下区."""
    body = f"91370102MA{n % 10**7:07d}"
    return body + uscc.calc_check_digit(body)


@dataclass
class GovActors:
    market: dict[str, str]  # 市场监管局 data steward: issues and revokes its licences
    police: dict[str, str]  # another department's steward
    viewer: dict[str, str]  # 市场监管局 viewer: no gov:issue
    citizen: dict[str, str]  # a citizen account bound to citizen_id
    other_citizen: dict[str, str]
    company: dict[str, str]  # a user of the company with company_code
    market_code: str
    citizen_id: str
    citizen_name: str
    company_code: str
    company_name: str


def make_gov_actors(client: TestClient, session: Session) -> GovActors:
    n = next(_n)
    market = make_org(session, code=f"t.scjgj{n}", name="市市场监管局")
    police = make_org(session, code=f"t.gaj{n}", name="市公安局")
    make_user(session, market, username=f"gsteward{n}", roles=["data_steward"])
    make_user(session, police, username=f"gpolice{n}", roles=["data_steward"])
    make_user(session, market, username=f"gviewer{n}", roles=["viewer"])
    citizen_id, other_id = resident_id(2 * n), resident_id(2 * n + 1)
    for username, number in ((f"gcitizen{n}", citizen_id), (f"gother{n}", other_id)):
        org = make_org(session, code=f"t.citizen.{username}", kind=OrgKind.CITIZEN)
        auth.create_user(
            session,
            cli_principal("test"),
            UserCreate(username=username, display_name="张晓明", password=PASSWORD, org_code=org.code, roles=[], id_number=number),
            secret=TEST_SECRET,
        )
    company_code = credit_code(n)
    company = auth.create_organisation(
        session,
        cli_principal("test"),
        OrgCreate(code=f"t.firm{n}", name=f"济南泉城餐饮有限公司{n}", kind=OrgKind.ENTERPRISE, credit_code=company_code),
    )
    make_user(session, company, username=f"gfirm{n}", roles=["viewer"])
    session.commit()
    return GovActors(
        market=login(client, f"gsteward{n}"),
        police=login(client, f"gpolice{n}"),
        viewer=login(client, f"gviewer{n}"),
        citizen=login(client, f"gcitizen{n}"),
        other_citizen=login(client, f"gother{n}"),
        company=login(client, f"gfirm{n}"),
        market_code=market.code,
        citizen_id=citizen_id,
        citizen_name="张晓明",
        company_code=company_code,
        company_name=company.name,
    )


# --- a small city for applications: registries with governed services, departments, applicants ---

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import polars as pl  # noqa: E402

from citybrain.core.auth.principal import Principal, scopes_for_roles  # noqa: E402

DEPARTMENTS = {
    "jn.dsjj": "市大数据局",
    "jn.mzj": "市民政局",
    "jn.wjw": "市卫生健康委员会",
    "jn.scjgj": "市市场监管局",
    "jn.gaj": "市公安局",
    "jn.xzspj": "市行政审批服务局",
    "jn.xfzd": "市消防救援支队",
    "jn.cgj": "市城市管理局",
    "jn.zjj": "市住房和城乡建设局",
    "jn.zrzyj": "市自然资源和规划局",
    "jn.sthjj": "市生态环境局",
}
STAFF = ["gov_clerk", "gov_reviewer", "gov_approver"]


def acting(org_id: int, role: str) -> Principal:
    return Principal(
        kind="user", id=None, name=f"test.{role}", org_id=org_id, roles=frozenset({role}), scopes=scopes_for_roles([role]), via="cli"
    )


def senior_id(n: int) -> str:
    """A valid resident ID of someone born in 济南 on 1946-03-01 (80 in 2026); 370100, since stdnum
    knows 历下区 (370102) only from later years."""
    body = f"37010019460301{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class GovCity:
    orgs: dict[str, int]
    senior: dict[str, str]  # a citizen born 1946, 历下区: elderly card and senior allowance approve
    senior_id: str
    young: dict[str, str]  # a citizen born 1990, 历下区
    young_id: str
    company: dict[str, str]  # a company user (restaurant bundle)
    company_code: str
    staff: dict[str, dict[str, str]]  # org code -> headers of a staff member with all three roles
    reviewer_only: dict[str, str]  # 市市场监管局, gov_reviewer only
    usernames: dict[str, str]


def _resource(
    session: Session, bureau: int, code: str, fields: list[dict[str, Any]], key: str, sharing: str, rows: list[dict[str, Any]], files: Path
) -> None:
    from citybrain.datahub import imports
    from citybrain.datahub import service as datahub
    from citybrain.datahub.schemas import ResourceDraft

    draft = {
        "code": code,
        "name": f"测试基础库 {code}",
        "summary": "测试用基础库",
        "classification": "base",
        "category_path": ["基础库"],
        "update_cycle": "daily",
        "sharing": sharing,
        "sharing_conditions": "政务服务" if sharing == "conditional" else None,
        "open_attribute": "closed",
        "tags": ["基础库"],
        "table_schema": {"fields": fields, "primary_key": [key]},
    }
    steward, reviewer = acting(bureau, "data_steward"), acting(bureau, "reviewer")
    view = datahub.create_draft(session, steward, ResourceDraft.model_validate(draft))
    datahub.submit(session, steward, view.resource.id)
    datahub.approve(session, reviewer, view.resource.id, bureau)
    files.mkdir(parents=True, exist_ok=True)
    path = files / f"{code.replace('/', '-')}.csv"
    pl.DataFrame(rows, infer_schema_length=None).write_csv(path)
    record = imports.import_file(session, cli_principal("test"), view.resource.id, path, filename=path.name, files_root=files)
    assert record.status == "succeeded", record.first_errors[:3]


def make_gov_city(client: TestClient, session: Session, files_root: Path, *, publish: bool = True) -> GovCity:
    """The demo's departments (their real codes), population and credit registries with the
    governed services the demo items fill from (granted to the consuming departments), the demo
    items published, two citizens, a company and one staff member per department."""
    from citybrain.datahub import dataservices
    from citybrain.gov_services import applications, catalogue

    n = next(_n)
    orgs: dict[str, int] = {}
    for code, name in DEPARTMENTS.items():
        existing = auth.get_org_by_code(session, code) if _exists(session, code) else None
        orgs[code] = (existing or make_org(session, code=code, name=name)).id
    bureau = orgs["jn.dsjj"]
    senior, young = senior_id(n), resident_id(n)
    company_code = credit_code(500 + n)
    text = {"sensitivity": "internal"}
    _resource(
        session,
        bureau,
        f"jn.base/population{n}",
        [
            {
                "name": "id_number",
                "title": "公民身份号码",
                "required": True,
                "unique": True,
                "sensitivity": "sensitive_personal",
                "identifier": "resident_id",
            },
            {"name": "name", "title": "姓名", "sensitivity": "personal"},
            {"name": "birth_date", "title": "出生日期", "type": "date", "sensitivity": "personal"},
            {"name": "district", "title": "户籍所在区县", **text},
            {"name": "address", "title": "户籍地址", "sensitivity": "personal"},
        ],
        "id_number",
        "conditional",
        [
            {"id_number": senior, "name": "王秀英", "birth_date": "1946-03-01", "district": "历下区", "address": "历下区泉城路1号"},
            {"id_number": young, "name": "李明", "birth_date": "1990-01-01", "district": "历下区", "address": "历下区经十路2号"},
        ],
        files_root,
    )
    _resource(
        session,
        bureau,
        f"jn.base/credit{n}",
        [
            {"name": "record_no", "title": "信用记录编号", "required": True, "unique": True, "sensitivity": "public"},
            {"name": "credit_code", "title": "统一社会信用代码", "required": True, "sensitivity": "public"},
            {"name": "category", "title": "信息类别", "sensitivity": "public"},
            {"name": "title", "title": "事项", "sensitivity": "public"},
        ],
        "record_no",
        "unconditional",
        [{"record_no": f"XY{n}", "credit_code": company_code, "category": "守信激励", "title": "纳税信用A级纳税人"}],
        files_root,
    )
    from sqlalchemy import select

    from citybrain.datahub.models import DataService, Resource

    steward = acting(bureau, "data_steward")
    for (service_code, _, name, kind), resource_code in zip(
        catalogue.REGISTRY_SERVICES, (f"jn.base/population{n}", f"jn.base/credit{n}"), strict=True
    ):
        old = session.scalar(select(DataService).where(DataService.code == service_code))
        if old is not None:  # another test's city in this session: one service code per city
            old.active = False
            old.code = f"{service_code}.old{old.id}"
            session.flush()
        resource_id = session.scalar(select(Resource.id).where(Resource.code == resource_code))
        assert resource_id is not None
        dataservices.create_service(session, steward, resource_id, code=service_code, name=name, kind=kind, match_fields=[])
    for consumer in ("jn.mzj", "jn.wjw", "jn.scjgj", "jn.gaj"):
        for service_code, fields, clear in (
            ("base.population.lookup", catalogue.POPULATION_FIELDS, catalogue.POPULATION_CLEAR),
            ("base.credit.query", catalogue.CREDIT_FIELDS, []),
        ):
            application = dataservices.apply(
                session,
                acting(orgs[consumer], "data_steward"),
                service_code,
                fields=fields,
                clear_fields=clear,
                purpose=catalogue.GRANT_PURPOSE,
                scenario="政务服务",
                bureau_id=bureau,
            )
            dataservices.approve(session, steward, application.id, rate_per_minute=6000, days=30)
    if publish:
        for item in catalogue.DEMO_ITEMS:
            applications.publish_item(session, cli_principal("test"), item)
    names = {}
    for label, number, person in (("senior", senior, "王秀英"), ("young", young, "李明")):
        username = f"c{label}{n}"
        org = make_org(session, code=f"t.citizen.{username}", kind=OrgKind.CITIZEN)
        auth.create_user(
            session,
            cli_principal("test"),
            UserCreate(username=username, display_name=person, password=PASSWORD, org_code=org.code, roles=[], id_number=number),
            secret=TEST_SECRET,
        )
        names[label] = username
    firm = auth.create_organisation(
        session,
        cli_principal("test"),
        OrgCreate(code=f"t.firm.gov{n}", name=f"济南泉城餐饮有限公司{n}", kind=OrgKind.ENTERPRISE, credit_code=company_code),
    )
    make_user(session, firm, username=f"gcompany{n}", roles=["viewer"])
    names["company"] = f"gcompany{n}"
    staff_names = {}
    for code in ("jn.mzj", "jn.scjgj", "jn.xzspj", "jn.xfzd", "jn.cgj", "jn.zjj", "jn.zrzyj", "jn.sthjj", "jn.gaj"):
        username = f"staff{code.split('.')[1]}{n}"
        make_user(session, auth.get_org(session, orgs[code]), username=username, roles=STAFF)
        staff_names[code] = username
    make_user(session, auth.get_org(session, orgs["jn.scjgj"]), username=f"revonly{n}", roles=["gov_reviewer"])
    session.commit()
    return GovCity(
        orgs=orgs,
        senior=login(client, names["senior"]),
        senior_id=senior,
        young=login(client, names["young"]),
        young_id=young,
        company=login(client, names["company"]),
        company_code=company_code,
        staff=_Logins(client, staff_names),
        reviewer_only=login(client, f"revonly{n}"),
        usernames={**names, **{f"staff:{k}": v for k, v in staff_names.items()}},
    )


class _Logins(dict[str, dict[str, str]]):
    """Bearer headers per organisation code, logged in on first use (each login hashes a password)."""

    def __init__(self, client: TestClient, usernames: dict[str, str]) -> None:
        super().__init__()
        self.client, self.usernames = client, usernames

    def __missing__(self, code: str) -> dict[str, str]:
        self[code] = login(self.client, self.usernames[code])
        return self[code]


def _exists(session: Session, code: str) -> bool:
    from sqlalchemy import select

    from citybrain.core.auth.models import Organisation

    return session.scalar(select(Organisation.id).where(Organisation.code == code)) is not None


#: the smallest files of each accepted kind, and one that only claims to be a PDF
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
NOT_A_PDF = b"#!/bin/sh\necho pwned\n"

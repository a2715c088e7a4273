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

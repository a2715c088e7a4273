"""The government-services part of the demo city: e-licences (a residence certificate for the demo
citizen, business and food licences for a few companies, one revoked so verification shows a
failure), then the service items, their staff and a few applications."""

from __future__ import annotations

import io
from typing import Any

from citybrain.core.plugins import DemoContext


def seed_licences(ctx: DemoContext) -> None:
    """Issue the demo's licences (the datahub step leaves the demo citizen and companies in
    ``ctx.shared``; without them, as in a city built without department data, none are issued)."""
    from citybrain.core.auth import service as auth
    from citybrain.core.errors import NotFound
    from citybrain.gov_services import service
    from citybrain.gov_services.schemas import HolderIn

    citizen = ctx.shared.get("demo_citizen")
    companies = ctx.shared.get("demo_companies") or []
    try:
        police = auth.get_org_by_code(ctx.session, "jn.gaj")
        market = auth.get_org_by_code(ctx.session, "jn.scjgj")
    except NotFound:
        ctx.console.print("[yellow]no 市公安局/市市场监管局 in this city: no demo licences[/]")
        return
    secret = ctx.settings.resolved_secret_key()
    issued = []
    if citizen:
        issued.append(
            service.issue_licence(
                ctx.session,
                ctx.principal,
                kind="JZZM",
                kind_name="居住证明",
                holder=HolderIn(kind="person", name=citizen["name"], id_number=citizen["id_number"]),
                fields={"居住地址": citizen["address"]},
                valid_days=180,
                secret=secret,
                issuer_org_id=police.id,
            )
        )
    for company in companies:
        holder = HolderIn(kind="organisation", name=company["name"], credit_code=company["credit_code"])
        issued.append(
            service.issue_licence(
                ctx.session,
                ctx.principal,
                kind="YYZZ",
                kind_name="营业执照",
                holder=holder,
                fields={"住所": company["address"], "法定代表人": company["legal_representative"]},
                valid_days=None,
                secret=secret,
                issuer_org_id=market.id,
            )
        )
    if companies:
        first = companies[0]
        food = service.issue_licence(
            ctx.session,
            ctx.principal,
            kind="SP",
            kind_name="食品经营许可证",
            holder=HolderIn(kind="organisation", name=first["name"], credit_code=first["credit_code"]),
            fields={"经营场所": first["address"], "经营项目": "热食类食品制售"},
            valid_days=5 * 365,
            secret=secret,
            issuer_org_id=market.id,
        )
        issued.append(food)
        service.revoke(ctx.session, ctx.principal, issued[-2].licence_id, "企业申请注销登记（演示）")
    revoked = sum(1 for licence in issued if licence.revoked_at is not None)
    ctx.console.print(f"[green]✓[/] e-licences: {len(issued)} issued, {revoked} revoked; verify them at /gov/verify")


#: (username, display name, organisation, roles): department staff who work the demo's queues
STAFF: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("clerk.xzspj", "政务服务中心综合窗口", "jn.xzspj", ("gov_clerk",)),
    ("officer.scjgj", "市场监管局审批科", "jn.scjgj", ("gov_reviewer", "gov_approver")),
    ("officer.xfzd", "消防救援支队防火监督员", "jn.xfzd", ("gov_reviewer", "gov_approver")),
    ("officer.cgj", "城市管理局审批科", "jn.cgj", ("gov_reviewer", "gov_approver")),
    ("officer.mzj", "民政局养老服务科", "jn.mzj", ("gov_clerk", "gov_reviewer", "gov_approver")),
)
CONSUMERS = ("jn.mzj", "jn.wjw", "jn.scjgj", "jn.gaj")


def seed(ctx: DemoContext) -> None:
    """The licences above, then the government services: data services over the base registries
    granted to the departments whose items fill from them, the demo items published, staff and a
    company account, and a few applications (an instant approval, an instant refusal and the
    restaurant bundle waiting in the window's queue)."""
    seed_licences(ctx)
    seed_applications(ctx)


def _acting(org_id: int, role: str) -> Any:
    from citybrain.core.auth.principal import Principal, scopes_for_roles

    return Principal(
        kind="user", id=None, name=f"demo.{role}", org_id=org_id, roles=frozenset({role}), scopes=scopes_for_roles([role]), via="cli"
    )


def seed_applications(ctx: DemoContext) -> None:
    from sqlalchemy import select

    from citybrain.core.auth import service as auth
    from citybrain.core.auth.models import OrgKind, Role, User
    from citybrain.core.auth.schemas import OrgCreate, UserCreate
    from citybrain.core.errors import CitybrainError, NotFound
    from citybrain.datahub import service as datahub
    from citybrain.gov_services import applications, catalogue

    session = ctx.session
    try:
        bureau = auth.get_org_by_code(session, ctx.settings.bureau_org_code)
        for code in (*CONSUMERS, *(s[2] for s in STAFF)):
            auth.get_org_by_code(session, code)
    except NotFound as missing:
        ctx.console.print(f"[yellow]departments missing ({missing.params}): no service items[/]")
        return
    steward = _acting(bureau.id, Role.DATA_STEWARD)
    wired = 0
    try:
        for code, resource, name, kind in catalogue.REGISTRY_SERVICES:
            datahub.provide_data_service(session, steward, resource, code=code, name=name, kind=kind)
        for consumer in CONSUMERS:
            org = auth.get_org_by_code(session, consumer)
            for code, fields, clear in (
                ("base.population.lookup", catalogue.POPULATION_FIELDS, catalogue.POPULATION_CLEAR),
                ("base.credit.query", catalogue.CREDIT_FIELDS, []),
            ):
                datahub.grant_data_service(
                    session,
                    _acting(org.id, Role.DATA_STEWARD),
                    steward,
                    code,
                    fields=fields,
                    clear_fields=clear,
                    purpose=catalogue.GRANT_PURPOSE,
                    scenario="政务服务一网通办",
                    bureau_id=bureau.id,
                )
                wired += 1
    except CitybrainError as error:
        # without the base registries (a city built without department data) the fills say so
        ctx.console.print(f"[yellow]registry services not wired ({error.key}): materials will not be filled[/]")
    for item in catalogue.DEMO_ITEMS:
        applications.publish_item(session, ctx.principal, item)
    password = ctx.shared.get("admin_password") or "demo-password-change-me"
    for username, display, org_code, roles in STAFF:
        auth.create_user(
            session,
            ctx.principal,
            UserCreate(username=username, display_name=display, password=password, org_code=org_code, roles=list(roles)),
        )
    companies = ctx.shared.get("demo_companies") or []
    if companies:
        first = companies[0]
        auth.create_organisation(
            session,
            ctx.principal,
            OrgCreate(code="jn.company.demo", name=first["name"], kind=OrgKind.ENTERPRISE, credit_code=first["credit_code"]),
        )
        auth.create_user(
            session,
            ctx.principal,
            UserCreate(
                username="company.demo", display_name=first["legal_representative"], password=password, org_code="jn.company.demo", roles=[]
            ),
        )
    secret = ctx.settings.resolved_secret_key()
    made = []
    citizen = ctx.shared.get("demo_citizen")
    account = session.scalar(select(User).where(User.username == "citizen.demo"))
    if citizen and account is not None:
        # A citizen confirms their own ID number when applying; the demo's is synthetic, so the demo
        # leaves it beside the admin's password for whoever tries the journeys.
        (ctx.settings.var_dir / "demo-citizen.txt").write_text(f"citizen.demo / {citizen['id_number']}\n", encoding="utf-8")
        principal = auth.principal_for_user(account, "cli")
        # the residence certificate last: the wallet lists the newest first, and shows it on top
        for code, form in (
            ("senior_allowance", {"phone": "13900000000", "bank_account": "6217001234567890"}),
            ("residence_certificate", {"residence_months": 36, "use": "子女入学"}),
        ):
            app = applications.start_application(session, principal, code, secret=secret, id_number=citizen["id_number"])
            made.append(applications.submit(session, principal, app.number, form, secret=secret))
    company = session.scalar(select(User).where(User.username == "company.demo"))
    if company is not None:
        principal = auth.principal_for_user(company, "cli")
        app = applications.start_application(session, principal, "restaurant_bundle", secret=secret)
        applications.upload_material(
            session, principal, app.number, "floor_plan", io.BytesIO(_DEMO_PLAN), filename="平面图.png", files_root=ctx.settings.files_dir
        )
        made.append(
            applications.submit(
                session,
                principal,
                app.number,
                {"shop_name": "泉城小馆", "address": "济南市历下区泉城路188号", "seats": 60, "signage_text": "泉城小馆"},
                secret=secret,
            )
        )
    ctx.console.print(
        f"[green]✓[/] {len(catalogue.DEMO_ITEMS)} service items, {wired} registry grants, {len(STAFF)} staff accounts, "
        f"{len(made)} applications ({', '.join(a.status for a in made)}); the guide is at /gov/items"
    )


# a 1x1 PNG: the demo's floor plan (uploads are recognised by their magic bytes)
_DEMO_PLAN = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)

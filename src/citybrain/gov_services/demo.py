"""The e-licence part of the demo city: a residence certificate for the demo citizen, business and
food licences for a few companies, and one revoked licence so verification shows a failure."""

from __future__ import annotations

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

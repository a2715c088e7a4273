"""``citybrain gov ...``: the service guide, applying, the timer job and figures; ``citybrain gov
licence ...``: issue, revoke and verify e-licences at the console."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from citybrain.core.auth.principal import cli_principal
from citybrain.core.db.session import Database, create_database
from citybrain.core.errors import CitybrainError
from citybrain.core.i18n import translate
from citybrain.settings import Settings

app = typer.Typer(name="gov", help="Government services: the guide, applications, timers, figures and e-licences.", no_args_is_help=True)
licence_app = typer.Typer(name="licence", help="E-licences: issue, revoke, verify.", no_args_is_help=True)
app.add_typer(licence_app)
console = Console()
err = Console(stderr=True)


def _fail(error: CitybrainError) -> typer.Exit:
    err.print(f"[red]error:[/] {translate(error.key, 'zh-CN', error.params)} / {translate(error.key, 'en', error.params)}")
    for item in error.errors:
        err.print(f"  {'.'.join(str(p) for p in item.loc)}: {translate(item.key, 'en', item.params)}")
    return typer.Exit(1)


def _database() -> tuple[Settings, Database]:
    settings = Settings()
    return settings, create_database(settings.effective_database_url)


@licence_app.command("issue")
def issue_command(
    issuer: Annotated[str, typer.Option(help="the issuing organisation's code, e.g. jn.scjgj")],
    kind: Annotated[str, typer.Option(help="the licence kind's code, e.g. SP")],
    kind_name: Annotated[str, typer.Option(help="the licence kind's name, e.g. 食品经营许可证")],
    holder_name: Annotated[str, typer.Option(help="the holder's name")],
    id_number: Annotated[str | None, typer.Option(help="a person's resident ID number")] = None,
    credit_code: Annotated[str | None, typer.Option(help="an organisation's unified social credit code")] = None,
    valid_days: Annotated[int | None, typer.Option(help="days valid (default: no end date)")] = None,
    fields: Annotated[str, typer.Option(help="the licence's fields as a JSON object")] = "{}",
) -> None:
    """Issue a licence and print its id and code (the text its QR code holds)."""
    from citybrain.core.auth import service as auth
    from citybrain.gov_services import service
    from citybrain.gov_services.schemas import HolderIn

    if (id_number is None) == (credit_code is None):
        raise typer.BadParameter("give --id-number (a person) or --credit-code (an organisation)")
    settings, database = _database()
    try:
        with database.transaction() as session:
            holder = HolderIn(
                kind="person" if id_number else "organisation", name=holder_name, id_number=id_number, credit_code=credit_code
            )
            row = service.issue_licence(
                session,
                cli_principal(),
                kind=kind,
                kind_name=kind_name,
                holder=holder,
                fields=json.loads(fields),
                valid_days=valid_days,
                secret=settings.resolved_secret_key(),
                issuer_org_id=auth.get_org_by_code(session, issuer).id,
            )
            console.print(f"[green]✓[/] {row.licence_id}")
            print(row.code)
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()


@licence_app.command("revoke")
def revoke_command(
    licence_id: Annotated[str, typer.Argument(help="e.g. JN-SP-2026-000123")],
    reason: Annotated[str, typer.Option(help="why it is revoked")],
) -> None:
    """Revoke a licence: its codes fail verification from now on."""
    from citybrain.gov_services import service

    _settings, database = _database()
    try:
        with database.transaction() as session:
            row = service.revoke(session, cli_principal(), licence_id, reason)
            console.print(f"[green]✓[/] {row.licence_id} revoked")
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()


@licence_app.command("verify")
def verify_command(code: Annotated[str, typer.Argument(help="the licence code (CB1:...)")]) -> None:
    """Verify a code against the published trust and revocation lists; exit 1 when it is not valid."""
    from citybrain.gov_services import licences, service

    settings, database = _database()
    try:
        with database.transaction() as session:
            result = service.verify(session, code, secret=settings.resolved_secret_key())
    finally:
        database.dispose()
    key = result.reason.value if result.reason else "licence.valid"
    colour = "green" if result.valid else "red"
    console.print(f"[{colour}]{'valid' if result.valid else 'NOT valid'}[/] {key}: {translate(key, 'zh-CN')} / {translate(key, 'en')}")
    claims = result.claims
    if isinstance(claims, licences.LicenceClaims):
        console.print(f"{claims.licence_id} · {claims.kind_name} · {claims.holder.name} · {claims.issuer_name}")
    if not result.valid:
        raise typer.Exit(1)


@app.command("items")
def items_command(q: Annotated[str, typer.Argument(help="words to search for")] = "") -> None:
    """The service guide: published items matching every word of Q."""
    from rich.table import Table

    from citybrain.gov_services import applications

    _settings, database = _database()
    try:
        with database.transaction() as session:
            table = Table("code", "name", "kind", "promised days", "instant", "process")
            for item in applications.search_items(session, q):
                table.add_row(
                    item.code, item.name, item.kind, str(item.promised_days), "秒批" if item.decision_id else "", item.process_id or ""
                )
    finally:
        database.dispose()
    console.print(table)


@app.command("apply")
def apply_command(
    item: Annotated[str, typer.Argument(help="the item's code, e.g. residence_certificate")],
    user: Annotated[str, typer.Option(help="apply as this citizen or company account")],
    form: Annotated[str, typer.Option(help="the form as a JSON object")] = "{}",
    id_number: Annotated[str | None, typer.Option(help="a citizen confirms their resident ID number")] = None,
) -> None:
    """Apply for an item as USER and submit at once; prints the status, the decision's reasons and
    any licence issued. Exits 1 on refusal of the input (the reasons are printed)."""
    from sqlalchemy import select

    from citybrain.core.auth import service as auth
    from citybrain.core.auth.models import User
    from citybrain.gov_services import applications

    settings, database = _database()
    secret = settings.resolved_secret_key()
    try:
        with database.transaction() as session:
            account = session.scalar(select(User).where(User.username == user))
            if account is None:
                raise typer.BadParameter(f"no user {user!r}")
            principal = auth.principal_for_user(account, "cli")
            row = applications.start_application(session, principal, item, secret=secret, id_number=id_number)
            row = applications.submit(session, principal, row.number, json.loads(form), secret=secret)
            console.print(f"[green]✓[/] {row.number}: {row.status}")
            for reason in (row.decision or {}).get("reasons", []):
                console.print(f"  {reason}")
            for licence in applications.licences_of(session, row):
                console.print(f"  licence {licence.licence_id} {licence.kind_name}")
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()


@app.command("tick")
def tick_command() -> None:
    """Fire the processes' timers that are due now (what the server does every minute)."""
    from citybrain.gov_services import applications

    settings, database = _database()
    try:
        with database.transaction() as session:
            moved = applications.tick(session, secret=settings.resolved_secret_key())
    finally:
        database.dispose()
    console.print(f"[green]✓[/] {moved} applications moved by their timers")


@app.command("stats")
def stats_command() -> None:
    """Applications per item, instant-approval and on-time rates, handling time, satisfaction."""
    from rich.table import Table

    from citybrain.gov_services import service

    _settings, database = _database()
    try:
        with database.transaction() as session:
            figures = service.statistics(session)
    finally:
        database.dispose()

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    console.print(
        f"{figures['applications']} applications · instant {pct(figures['instant_approval_rate'])} · "
        f"on time {pct(figures['on_time_rate'])} · average {figures['average_handling_hours'] or '-'} h · "
        f"satisfaction {figures['satisfaction'] or '-'} ({figures['ratings']} ratings)"
    )
    table = Table("item", "department", "applications", "instant", "approved", "rejected", "in progress")
    for row in figures["items"]:
        table.add_row(
            row["name"], row["department"], *(str(row[k]) for k in ("applications", "instant", "approved", "rejected", "in_progress"))
        )
    console.print(table)

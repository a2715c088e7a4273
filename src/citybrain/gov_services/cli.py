"""``citybrain gov licence ...``: issue, revoke and verify e-licences at the console."""

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

app = typer.Typer(name="gov", help="Government services: e-licences (issue, revoke, verify).", no_args_is_help=True)
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

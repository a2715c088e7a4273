"""``citybrain ops ...``: connected systems, alarms and retention at the console."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from citybrain.core.auth.principal import cli_principal
from citybrain.core.db.session import Database, create_database
from citybrain.core.errors import CitybrainError
from citybrain.core.i18n import translate
from citybrain.settings import Settings

app = typer.Typer(name="ops", help="Operations center: connected systems, alarms, metric retention.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _fail(error: CitybrainError) -> typer.Exit:
    err.print(f"[red]error:[/] {translate(error.key, 'zh-CN', error.params)} / {translate(error.key, 'en', error.params)}")
    for item in error.errors:
        err.print(f"  {'.'.join(str(p) for p in item.loc)}: {translate(item.key, 'en', item.params)}")
    return typer.Exit(1)


def _database() -> Database:
    settings = Settings()
    return create_database(settings.effective_database_url)


@app.command("register")
def register_command(
    code: Annotated[str, typer.Argument(help="the system's code, e.g. water-level")],
    name: Annotated[str, typer.Option(help="its name, e.g. 河道水位监测系统")],
    owner: Annotated[str, typer.Option(help="the owner department's code, e.g. jn.slj")],
    kind: Annotated[str, typer.Option(help="platform, sensor_network, hotline, video, business, ...")] = "business",
    health_url: Annotated[str | None, typer.Option(help="probed by citybrain when given")] = None,
    contact: Annotated[str | None, typer.Option(help="who answers for it")] = None,
) -> None:
    """Register a connected system and print its API key (scope ops:push; shown once)."""
    from citybrain.operations_center import service
    from citybrain.operations_center.schemas import SystemCreate

    database = _database()
    try:
        with database.transaction() as session:
            system, key = service.register_system(
                session,
                cli_principal(),
                SystemCreate(code=code, name=name, kind=kind, owner_org_code=owner, health_url=health_url, contact=contact),
            )
            system_id = system.id
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()
    console.print(f"system {code} registered (id {system_id})")
    console.print(f"API key (shown once): {key}")


@app.command("systems")
def systems_command(status: Annotated[str | None, typer.Option(help="up, degraded, down or unknown")] = None) -> None:
    """The connected systems with their status and last contact."""
    from citybrain.operations_center import service

    database = _database()
    try:
        with database.read_session() as session:
            rows, total = service.list_systems(session, status=status, limit=1000)
            table = Table("code", "name", "kind", "status", "last seen (UTC)")
            for s in rows:
                table.add_row(s.code, s.name, s.kind, s.status, s.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if s.last_seen_at else "–")
    finally:
        database.dispose()
    console.print(table)
    console.print(f"{total} systems")


@app.command("alarms")
def alarms_command(all_: Annotated[bool, typer.Option("--all", help="closed ones too")] = False) -> None:
    """Active alarms, critical first."""
    from citybrain.operations_center import service

    database = _database()
    try:
        with database.read_session() as session:
            rows = service.list_alarms(session, active=not all_, limit=500)
    finally:
        database.dispose()
    table = Table("id", "severity", "status", "rule", "district", "value", "opened (UTC)")
    for a in rows:
        table.add_row(
            str(a.id),
            a.severity,
            a.status,
            a.rule_name,
            a.district_name or a.district or "–",
            f"{a.value:g}" if a.value is not None else "–",
            a.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@app.command("retention")
def retention_command() -> None:
    """Downsample raw points older than two days to hourly means and delete points older than 90 days."""
    from citybrain.operations_center import jobs

    database = _database()
    try:
        done = jobs.retention(database)
    finally:
        database.dispose()
    console.print(
        f"rolled up {done['rolled_up']} raw points into {done['written']} hourly points; deleted {done['deleted']} expired points"
    )

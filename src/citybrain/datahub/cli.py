"""``citybrain data ...``: the data hub at the console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from citybrain.core.auth.principal import cli_principal
from citybrain.core.db.session import create_database
from citybrain.core.errors import CitybrainError
from citybrain.core.i18n import translate
from citybrain.settings import Settings

app = typer.Typer(
    name="data", help="The data hub: import files into catalogued resources, consolidate the base registries.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, XLSX or JSON file")],
    resource: Annotated[str, typer.Option(help="the resource's code, e.g. jn.gaj/00001")],
    mode: Annotated[str, typer.Option(help="upsert (by key) or replace (also delete rows missing from the file)")] = "upsert",
) -> None:
    """Validate FILE against the resource's schema and import it, all or nothing.

    On any invalid row nothing is written and every rejected row is listed (and saved as a report).
    """
    from citybrain.datahub import imports
    from citybrain.datahub.models import Resource

    settings = Settings()
    database = create_database(settings.effective_database_url)
    try:
        with database.transaction() as session:
            row = session.scalar(select(Resource).where(Resource.code == resource))
            if row is None:
                err.print(f"[red]error:[/] 未找到资源 / no resource {resource}")
                raise typer.Exit(1)
            with Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"), TimeElapsedColumn(), console=err
            ) as bar:
                task = bar.add_task(f"importing {file.name}", total=None)
                record = imports.import_file(
                    session,
                    cli_principal(),
                    row.id,
                    file,
                    filename=file.name,
                    files_root=settings.files_dir,
                    mode=mode,
                    progress=lambda n: bar.update(task, completed=n),
                )
            if record.status == "succeeded":
                console.print(
                    f"[green]✓[/] {record.rows_read:,} rows: {record.inserted:,} inserted, {record.updated:,} updated, "
                    f"{record.deleted:,} deleted, {record.unchanged:,} unchanged (import {record.id})"
                )
                return
            table = Table(
                "row",
                "field",
                "value",
                "原因 / reason",
                title=f"rejected: {record.errors_count:,} problems in {record.rows_rejected:,} rows",
            )
            for p in record.first_errors[:50]:
                reason = f"{translate(p['reason'], 'zh-CN', p.get('params') or {})} / {translate(p['reason'], 'en', p.get('params') or {})}"
                table.add_row(str(p.get("row") or ""), p.get("field") or "", p.get("value") or "", reason)
            err.print(table)
            if record.report_file_id:
                report = f"/api/v1/datahub/imports/{record.id}/report.csv"
                err.print(f"未写入任何数据 / nothing was written; the full report: GET {report}")
    except CitybrainError as exc:
        err.print(f"[red]error:[/] {translate(exc.key, 'zh-CN', exc.params)} / {translate(exc.key, 'en', exc.params)}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
    raise typer.Exit(2)


@app.command("registries")
def registries_command(
    set_up: Annotated[bool, typer.Option("--setup", help="first create the six registries that do not exist yet")] = False,
) -> None:
    """List the base registries: records, sources, the last consolidation, conflicts to decide."""
    from citybrain.datahub import registries, service

    settings = Settings()
    database = create_database(settings.effective_database_url)
    try:
        with database.transaction() as session:
            if set_up:
                registries.setup(session, cli_principal(), service.bureau_org_id(session, settings.bureau_org_code))
            counts, open_counts = registries.figures(session), registries.open_conflict_counts(session)
            table = Table("基础库 / registry", "records", "sources", "last consolidation", "to decide")
            for r in registries.list_registries(session):
                spec = registries.spec(r.kind)
                srcs = "\n".join(f"{s.priority}: {res.code}" for s, res in registries.sources(session, r.kind))
                when = f"{r.last_run_at:%Y-%m-%d %H:%M} UTC" if r.last_run_at else "-"
                name = f"{r.kind}\n{spec.name}"
                table.add_row(name, f"{counts.get(r.kind, 0):,}", srcs, when, f"{open_counts.get(r.kind, 0):,}")
            console.print(table)
    except CitybrainError as exc:
        err.print(f"[red]error:[/] {translate(exc.key, 'zh-CN', exc.params)} / {translate(exc.key, 'en', exc.params)}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()


@app.command("consolidate")
def consolidate_command(
    kind: Annotated[str, typer.Argument(help="population, legal_entity, credit, geography, economy or licence")],
) -> None:
    """Rebuild a base registry from its sources.

    Rows join their record by key (ID number, credit code); rows without one are linked with
    Splink; each field comes from the most trusted source, conflicts wait for a steward, and the
    records load all or nothing.
    """
    from citybrain.datahub import registries, service

    settings = Settings()
    database = create_database(settings.effective_database_url)
    try:
        with database.transaction() as session:
            bureau = service.bureau_org_id(session, settings.bureau_org_code)
            run = registries.consolidate(session, cli_principal(), bureau, kind, files_root=settings.files_dir)
        console.print(
            f"[green]✓[/] {kind}: {run.records:,} records from {run.sources} sources ({run.rows_read:,} rows read); "
            f"{run.keyed:,} joined by key, {run.linked_probabilistically:,} linked by Splink, {run.linked_by_steward:,} by stewards; "
            f"{run.to_review:,} possible matches and {run.conflicts:,} value conflicts to decide, {run.unlinked:,} not linked; "
            f"{run.inserted:,} inserted, {run.updated:,} updated, {run.deleted:,} deleted"
        )
    except CitybrainError as exc:
        err.print(f"[red]error:[/] {translate(exc.key, 'zh-CN', exc.params)} / {translate(exc.key, 'en', exc.params)}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()

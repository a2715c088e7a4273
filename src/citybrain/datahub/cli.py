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

app = typer.Typer(name="data", help="The data hub: import files into catalogued resources.", no_args_is_help=True)
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

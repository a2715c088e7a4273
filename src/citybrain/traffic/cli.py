"""``citybrain traffic ...``: networks, controller comparisons, green waves and tidal lanes at the console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from citybrain.core.auth.principal import cli_principal
from citybrain.core.db.session import Database, create_database
from citybrain.core.errors import CitybrainError
from citybrain.core.i18n import translate
from citybrain.settings import Settings

app = typer.Typer(
    name="traffic",
    help="Smart traffic: import networks, compare signal controllers in SUMO, plan green waves and tidal lanes.",
    no_args_is_help=True,
)
# the comparison table is wide: printed to a file or a pipe it keeps its columns rather than wrap at 80
console = Console(width=None if sys.stdout.isatty() else 170)
err = Console(stderr=True)


def _fail(error: CitybrainError) -> typer.Exit:
    err.print(f"[red]error:[/] {translate(error.key, 'zh-CN', **error.params)} / {translate(error.key, 'en', **error.params)}")
    for item in error.errors:
        err.print(f"  {'.'.join(str(p) for p in item.loc)}: {translate(item.key, 'en', **item.params)}")
    return typer.Exit(1)


def _database() -> tuple[Settings, Database]:
    settings = Settings()
    return settings, create_database(settings.effective_database_url)


def _network(database: Database, settings: Settings, ref: str) -> Any:
    """The network ``ref`` (code or id); a public data set's name is imported on first use."""
    from citybrain.traffic import service
    from citybrain.traffic.errors import NetworkNotFound

    with database.transaction() as session:
        try:
            network = service.get_network(session, ref)
        except NetworkNotFound:
            if ref not in service.BUILTIN:
                raise
            err.print(f"importing the public data set {ref} (CityFlow → SUMO) …")
            network = service.import_builtin(session, cli_principal(), ref, data_dir=settings.data_dir, var_dir=settings.var_dir)
        session.expunge(network)
        return network


@app.command("import")
def import_command(
    dataset: Annotated[str | None, typer.Argument(help="a public data set by name: jinan_3x4")] = None,
    roadnet: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="CityFlow roadnet JSON")] = None,
    flow: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="CityFlow flow JSON")] = None,
    net: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="SUMO .net.xml")] = None,
    routes: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="SUMO .rou.xml")] = None,
    code: Annotated[str | None, typer.Option(help="the network's code (default: the data set's name)")] = None,
    name: Annotated[str | None, typer.Option(help="the network's name")] = None,
) -> None:
    """Import a road network with its demand: a public data set, a CityFlow pair or a SUMO pair.

    CityFlow files are converted to SUMO (netconvert) once and cached by content.
    """
    from citybrain.traffic import service

    settings, database = _database()
    principal = cli_principal()
    try:
        with database.transaction() as session:
            if dataset:
                network = service.import_builtin(
                    session, principal, dataset, data_dir=settings.data_dir, var_dir=settings.var_dir, code=code, name=name
                )
            elif roadnet and flow:
                if not code:
                    raise typer.BadParameter("--code is needed with --roadnet/--flow")
                network = service.import_cityflow(
                    session, principal, code=code, name=name or code, roadnet=roadnet, flow=flow, var_dir=settings.var_dir
                )
            elif net and routes:
                if not code:
                    raise typer.BadParameter("--code is needed with --net/--routes")
                network = service.import_sumo(
                    session, principal, code=code, name=name or code, net=net, routes=routes, var_dir=settings.var_dir
                )
            else:
                raise typer.BadParameter("give a data set name, --roadnet and --flow, or --net and --routes")
            console.print(
                f"[green]imported[/] {network.code} ({network.name}): {network.junctions} signalised junctions, "
                f"{network.vehicles:,} vehicles, {network.source}"
            )
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()


@app.command("networks")
def networks_command() -> None:
    """List the networks."""
    from citybrain.traffic import service

    _, database = _database()
    with database.read_session() as session:
        table = Table("code", "name", "source", "junctions", "vehicles")
        for n in service.list_networks(session):
            table.add_row(n.code, n.name, n.source, str(n.junctions), f"{n.vehicles:,}")
    console.print(table)
    database.dispose()


def _run(
    network_ref: str, controllers: list[str] | None, seeds: list[int], duration: int, workers: int | None
) -> tuple[dict[str, Any], Any, float]:
    from citybrain.traffic import runner, service

    settings, database = _database()
    try:
        network = _network(database, settings, network_ref)
        with database.transaction() as session:
            run = service.create_run(
                session,
                cli_principal(),
                service.get_network(session, network.id),
                controllers=controllers,
                seeds=seeds,
                duration_s=duration,
            )
            run_id, total = run.id, run.simulations_total
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("simulations"), TimeElapsedColumn(), console=err
        ) as bar:
            task = bar.add_task(f"{network.code}: {duration} s simulated per run", total=total)
            done = runner.execute_run(
                database,
                run_id,
                var_dir=settings.var_dir,
                workers=workers or settings.traffic.workers,
                progress=lambda n, _total: bar.update(task, completed=n),
            )
        if done.status != "done" or done.result is None:
            err.print(f"[red]run {run_id} failed:[/] {done.error}")
            raise typer.Exit(1)
        elapsed = (done.finished_at - done.started_at).total_seconds() if done.finished_at and done.started_at else 0.0
        return done.result, network, elapsed
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()


def _spread(row: dict[str, Any], figure: str, digits: int = 1) -> str:
    value = row[figure]
    if value["min"] == value["max"]:
        return f"{value['median']:,.{digits}f}"
    return f"{value['median']:,.{digits}f} [dim]({value['min']:,.{digits}f}–{value['max']:,.{digits}f})[/]"


def print_comparison(result: dict[str, Any], title: str) -> None:
    """The comparison table: one row per controller (medians over seeds, range in brackets) and the
    free-flow floor."""
    table = Table(title=title, title_justify="left")
    for header in (
        "controller",
        "ATT s",
        "ATT+entry s",
        "trip s",
        "waiting s",
        "time loss s",
        "stops",
        "completed",
        "not inserted",
        "wall s",
        "/ MaxP",
    ):
        table.add_column(header, justify="left" if header == "controller" else "right")
    for name, row in result["controllers"].items():
        ratio = row.get("ratio_to_max_pressure")
        table.add_row(
            name,
            _spread(row, "att_s"),
            _spread(row, "att_with_entry_s"),
            _spread(row, "mean_trip_s"),
            _spread(row, "mean_waiting_s"),
            _spread(row, "mean_time_loss_s"),
            _spread(row, "mean_stops", 2),
            _spread(row, "completed", 0),
            _spread(row, "never_inserted", 0),
            _spread(row, "wall_s"),
            f"{ratio:.3f}x" if ratio is not None else "",
        )
    floor = result["free_flow"]
    table.add_row(
        "[dim]free-flow floor[/]", f"[dim]{floor['att_s']:.1f}[/]", "", f"[dim]{floor['trip_s']:.1f}[/]", "", "", "", "", "", "", ""
    )
    console.print(table)
    console.print(
        "ATT: average travel time as the traffic-signal literature defines it (time on signalised approaches; "
        "vehicles never inserted not counted); ATT+entry adds the wait to enter. trip/waiting/time loss/stops: "
        "SUMO's tripinfo of completed trips. Medians over the seeds, (min–max) where they differ.",
        style="dim",
    )


@app.command("compare")
def compare_command(
    network: Annotated[str, typer.Option(help="the network's code (a public data set such as jinan_3x4 is imported on first use)")],
    controllers: Annotated[str | None, typer.Option(help="comma-separated controller names (default: all registered)")] = None,
    seeds: Annotated[str, typer.Option(help="comma-separated seeds; the spread over them is shown")] = "1,2,3",
    duration: Annotated[int, typer.Option(min=60, max=4 * 3600, help="simulated seconds per run")] = 3600,
    workers: Annotated[int | None, typer.Option(min=1, max=32, help="simulations at once (default: settings.traffic.workers)")] = None,
) -> None:
    """Compare signal controllers on a network in SUMO and print every controller's figures.

    Each controller runs once per seed with teleporting off; the table shows medians over the seeds
    (with their range), the travel time of the traffic-signal literature and SUMO's trip statistics,
    and the free-flow floor. The run is stored and shown on the network's page.
    """
    names = [c.strip() for c in controllers.split(",") if c.strip()] if controllers else None
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    result, found, elapsed = _run(network, names, seed_list, duration, workers)
    print_comparison(result, f"{found.name} ({found.code}): {len(seed_list)} seeds × {duration} s, {elapsed:.0f} s wall")


@app.command("evaluate")
def evaluate_command(
    network: Annotated[str, typer.Option(help="the network's code")],
    controller: Annotated[str, typer.Option(help="the controller's name")] = "citybrain",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "1,2,3",
    duration: Annotated[int, typer.Option(min=60, max=4 * 3600, help="simulated seconds per run")] = 3600,
) -> None:
    """Evaluate one controller on a network, per network and per junction."""
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    result, found, elapsed = _run(network, [controller], seed_list, duration, None)
    print_comparison(result, f"{found.name} ({found.code}): {controller}, {elapsed:.0f} s wall")
    row = result["controllers"][controller]
    table = Table(
        "junction", "vehicles", "ATT s", "mean queue veh", "max queue veh", title="per junction (medians over seeds)", title_justify="left"
    )
    for junction, figures in sorted(row["junctions"].items()):
        table.add_row(
            junction,
            f"{figures['vehicles']:,.0f}",
            f"{figures['att_s']:.1f}",
            f"{figures['mean_queue_veh']:.2f}",
            str(figures["max_queue_veh"]),
        )
    console.print(table)

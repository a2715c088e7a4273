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
    err.print(f"[red]error:[/] {translate(error.key, 'zh-CN', error.params)} / {translate(error.key, 'en', error.params)}")
    for item in error.errors:
        err.print(f"  {'.'.join(str(p) for p in item.loc)}: {translate(item.key, 'en', item.params)}")
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
    table = Table(title="per junction (medians over seeds)", title_justify="left")
    for header in ("junction", "vehicles", "ATT s", "mean queue veh", "max queue veh", "stops", "stops/veh"):
        table.add_column(header, justify="left" if header == "junction" else "right")
    for junction, figures in sorted(row["junctions"].items()):
        table.add_row(
            junction,
            f"{figures['vehicles']:,.0f}",
            f"{figures['att_s']:.1f}",
            f"{figures['mean_queue_veh']:.2f}",
            str(figures["max_queue_veh"]),
            f"{figures['stops']:,.0f}",
            f"{figures['stops_per_vehicle']:.2f}",
        )
    console.print(table)
    console.print(
        "stops: halts (below 0.1 m/s) that started on the junction's approach lanes, per vehicle that entered them.",
        style="dim",
    )


def _check_now(database: Database, settings: Settings, plan_id: int, what: str) -> Any:
    """Run the plan's queued check here (or, if a running server took it first, wait for it)."""
    import time

    from citybrain.traffic import runner
    from citybrain.traffic.models import Plan

    with err.status(f"checking the {what} in SUMO (with against without) …"):
        plan = runner.execute_plan_check(database, plan_id, var_dir=settings.var_dir)
        while plan.check_status in ("queued", "running"):
            time.sleep(2)
            with database.read_session() as session:
                plan = session.get(Plan, plan_id)
                session.expunge(plan)
        return plan


@app.command("greenwave")
def greenwave_command(
    network: Annotated[str, typer.Option(help="the network's code (jinan_3x4 is imported on first use)")] = "jinan_3x4",
    junctions: Annotated[str, typer.Option(help="signalised junctions in order along the arterial, comma-separated")] = ",".join(
        f"intersection_{i}_1" for i in range(1, 5)
    ),
    red: Annotated[float, typer.Option(help="red of the arterial's through movements, s (both directions)")] = 36.0,
    cycle: Annotated[str, typer.Option(help="common cycle in s, or a range MIN-MAX to choose from")] = "60-120",
    volume_ratio: Annotated[float, typer.Option(help="inbound/outbound volume: the weight of the inbound band")] = 1.0,
    check: Annotated[bool, typer.Option(help="check the offsets in SUMO against all-zero and random offsets")] = True,
    seeds: Annotated[str, typer.Option(help="seeds of the SUMO check")] = "0,1,2",
    png: Annotated[Path | None, typer.Option(help="write the time-space diagram to this PNG file")] = None,
    name: Annotated[str, typer.Option(help="the plan's name")] = "绿波方案",
) -> None:
    """Plan a two-way green wave for an arterial (MAXBAND, solved with HiGHS) and check it in SUMO.

    Prints each junction's offset, the cycle and both bandwidths; the check prints stops per vehicle
    and travel times of the coordinated offsets against uncoordinated ones. The plan is stored and
    shown at /traffic/greenwave.
    """
    from citybrain.traffic import service

    settings, database = _database()
    low, _, high = cycle.partition("-")
    params = {
        "network": network,
        "junctions": [j.strip() for j in junctions.split(",") if j.strip()],
        "red_outbound_s": red,
        "red_inbound_s": red,
        "reds": None,
        "cycle_s": [float(low), float(high)] if high else float(low),
        "speed_mps": None,
        "volume_ratio": volume_ratio,
        "demand": {"through_outbound_vph": 500.0, "through_inbound_vph": 500.0, "cross_vph": 200.0},
        "seeds": [int(s) for s in seeds.split(",") if s.strip()],
    }
    try:
        found = _network(database, settings, network)
        params["network"] = found.code
        with database.transaction() as session:
            plan = service.plan_greenwave(
                session,
                cli_principal(),
                name=name,
                params=params,
                network=service.get_network(session, found.id),
                var_dir=settings.var_dir,
                check=check,
            )
            plan_id, result = plan.id, plan.result
            diagram = service.greenwave_diagram(plan, service.get_network(session, found.id), settings.var_dir) if png else None
        table = Table(
            "junction", "position m", "offset s", "green out s", "green in s", title=f"green wave #{plan_id}: {name}", title_justify="left"
        )
        for j in result["junctions"]:
            table.add_row(
                j["id"], f"{j['position_m']:.0f}", f"{j['offset_s']:.1f}", f"{j['green_outbound_s']:.1f}", f"{j['green_inbound_s']:.1f}"
            )
        console.print(table)
        console.print(
            f"cycle {result['cycle_s']:.1f} s; bands {result['bandwidth_outbound_s']:.1f} s outbound "
            f"({100 * result['bandwidth_outbound_fraction']:.0f}%), {result['bandwidth_inbound_s']:.1f} s inbound "
            f"({100 * result['bandwidth_inbound_fraction']:.0f}%); HiGHS {result['status']} in {1000 * result['solve_time_s']:.0f} ms"
        )
        if png and diagram is not None:
            png.write_bytes(diagram)
            console.print(f"time-space diagram: {png}")
        if check:
            done = _check_now(database, settings, plan_id, "green wave")
            if done.check_status != "done":
                err.print(f"[red]check failed:[/] {done.check_error}")
                raise typer.Exit(1)
            figures = Table(
                "offsets",
                "through stops/veh",
                "through travel s",
                "through without a stop",
                "all stops/veh",
                "all travel s",
                "not inserted",
                title=f"SUMO check: seeds {', '.join(map(str, done.check['seeds']))}, {done.check['duration_s']} s each",
                title_justify="left",
            )
            for variant, v in done.check["variants"].items():
                figures.add_row(
                    variant,
                    f"{v['through']['stops_per_vehicle']:.2f}",
                    f"{v['through']['mean_travel_time_s']:.0f}",
                    f"{100 * v['through']['share_without_stop']:.0f}%",
                    f"{v['all']['stops_per_vehicle']:.2f}",
                    f"{v['all']['mean_travel_time_s']:.0f}",
                    str(v["not_inserted"]),
                )
            console.print(figures)
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()


def _read_counts(path: Path) -> tuple[list[float], list[float]]:
    """Two columns of 15-minute counts (a, b) from a CSV; a header line is skipped."""
    import csv

    a, b = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            try:
                a.append(float(cells[0]))
                b.append(float(cells[1]))
            except (ValueError, IndexError):
                if number == 1:
                    continue  # the header
                raise typer.BadParameter(f"{path.name} line {number}: expected two numbers (a,b), found {row!r}") from None
    return a, b


@app.command("tidal")
def tidal_command(
    counts: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="CSV of 15-minute counts: a,b per line")] = None,
    lanes: Annotated[str, typer.Option(help="lanes of direction a and b, e.g. 3,3")] = "2,2",
    capacity: Annotated[float | None, typer.Option(help="capacity per lane, veh/h (default: the demo corridor's signalised lane)")] = None,
    start: Annotated[str, typer.Option(help="when the first bin starts, HH:MM")] = "00:00",
    names: Annotated[str, typer.Option(help="names of directions a and b")] = "进城,出城",
    check: Annotated[bool, typer.Option(help="check the plan in SUMO against no reversal")] = True,
    name: Annotated[str, typer.Option(help="the plan's name")] = "潮汐车道方案",
) -> None:
    """Plan a tidal (reversible) lane from directional 15-minute counts and check it in SUMO.

    Without --counts the demo corridor's day (a morning peak in, an evening peak out, compressed
    to 4.5 hours) is planned. Prints the periods, the lane-use schedule and the rule; the check
    prints total delay, travel time and throughput with and without the plan.
    """
    from citybrain.traffic import service
    from citybrain.traffic.tidal import Corridor

    settings, database = _database()
    lanes_a, _, lanes_b = lanes.partition(",")
    hours, _, minutes = start.partition(":")
    name_a, _, name_b = names.partition(",")
    params: dict[str, Any] = {
        "section": {
            "lanes_a": int(lanes_a),
            "lanes_b": int(lanes_b or lanes_a),
            "lane_capacity_vph": capacity or round(Corridor().lane_capacity_vph()),
        },
        "counts": None,
        "rule": None,
        "seed": 0,
    }
    if counts is not None:
        a, b = _read_counts(counts)
        start_s = int(hours) * 3600 + int(minutes or 0) * 60
        params["counts"] = {"a": a, "b": b, "start_s": start_s, "name_a": name_a, "name_b": name_b or "b", "source": counts.name}
    try:
        with database.transaction() as session:
            plan = service.plan_tidal(session, cli_principal(), name=name, params=params, check=check)
            plan_id, result = plan.id, plan.result
        console.print(f"[bold]tidal plan #{plan_id}[/]: {result['summary']['zh-CN']}")
        console.print(result["summary"]["en"])
        console.print(f"[dim]{result['rule_text']['en']}[/]")
        if check:
            done = _check_now(database, settings, plan_id, "tidal plan")
            if done.check_status != "done":
                err.print(f"[red]check failed:[/] {done.check_error}")
                raise typer.Exit(1)
            before, after = done.check["before"], done.check["after"]
            table = Table("", "without reversal", "with the plan", title="SUMO check (same demand and seed)", title_justify="left")
            table.add_row("total delay, veh-h", f"{before['total_delay_h']:,.0f}", f"{after['total_delay_h']:,.0f}")
            table.add_row(
                "mean travel time incl. wait to enter, s", f"{before['mean_travel_time_s']:.0f}", f"{after['mean_travel_time_s']:.0f}"
            )
            table.add_row("arrived within the demand period", f"{before['arrived_in_horizon']:,}", f"{after['arrived_in_horizon']:,}")
            table.add_row("never inserted", str(before["not_inserted"]), str(after["not_inserted"]))
            console.print(table)
            console.print(f"delay ratio (with / without): {done.check['delay_ratio']:.2f}")
    except CitybrainError as error:
        raise _fail(error) from error
    finally:
        database.dispose()

"""Evaluation runs in the background: queued by the API or the pages, run one at a time by a thread
of the serving process (each simulation in a process of its own), their progress and result stored
on the run's row. The CLI runs the same :func:`execute_run` in the foreground with a progress bar.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from citybrain.core.db.base import utcnow
from citybrain.core.db.session import Database
from citybrain.traffic.models import Network, Plan, Run

log = logging.getLogger(__name__)

#: figures of a run summarised per controller (median and spread over the seeds)
FIGURES = (
    "att_s",
    "att_with_entry_s",
    "mean_trip_s",
    "mean_waiting_s",
    "mean_time_loss_s",
    "mean_depart_delay_s",
    "mean_stops",
    "mean_queue_veh",
    "completed",
    "inserted",
    "never_inserted",
    "vehicles_due",
    "wall_s",
    "guard_overrides",
)
BASELINE = "max_pressure"


def summarise(comparison: Any) -> dict[str, Any]:
    """A :class:`citybrain.traffic.evaluation.Comparison` as the JSON a run stores: per controller
    each figure's median, min and max over the seeds, per junction medians, the ratio of its
    travel time to Max-Pressure's, and the free-flow floor."""
    import statistics

    controllers: dict[str, Any] = {}
    for summary in comparison.summaries:
        row: dict[str, Any] = {}
        for figure in FIGURES:
            low, high = summary.spread(figure)
            row[figure] = {"median": summary.median(figure), "min": low, "max": high}
        junctions: dict[str, Any] = {}
        for j in summary.runs[0].junctions:
            per_seed = [next(x for x in run.junctions if x.junction_id == j.junction_id) for run in summary.runs]
            junctions[j.junction_id] = {
                "vehicles": statistics.median(x.vehicles for x in per_seed),
                "att_s": statistics.median(x.att_s for x in per_seed),
                "mean_queue_veh": statistics.median(x.mean_queue_veh for x in per_seed),
                "max_queue_veh": max(x.max_queue_veh for x in per_seed),
                "stops": statistics.median(x.stops for x in per_seed),
                "stops_per_vehicle": statistics.median(x.stops_per_vehicle for x in per_seed),
            }
        row["junctions"] = junctions
        row["runs"] = [{"seed": run.seed, "att_s": run.att_s, "wall_s": run.wall_s} for run in summary.runs]
        controllers[summary.controller] = row
    baseline = controllers.get(BASELINE)
    for row in controllers.values():
        row["ratio_to_max_pressure"] = (
            row["att_s"]["median"] / baseline["att_s"]["median"] if baseline and baseline["att_s"]["median"] else None
        )
    floor = comparison.free_flow
    return {
        "controllers": controllers,
        "free_flow": {"att_s": floor.att_s, "trip_s": floor.trip_s},
        "seeds": list(comparison.seeds),
        "duration_s": comparison.duration_s,
    }


def execute_run(
    database: Database, run_id: int, *, var_dir: Path, workers: int = 1, progress: Callable[[int, int], None] | None = None
) -> Run:
    """Run the queued evaluation ``run_id`` to the end and store its result (or its error).

    Commits its own short transactions (running, each simulation done, finished), so the pages
    follow its progress. ``progress(done, total)`` is called after each simulation.
    """
    from citybrain.traffic.evaluation import evaluate

    with database.transaction() as session:
        # claimed atomically: with several server processes, each run's queue may see the run queued
        claimed = session.execute(
            update(Run).where(Run.id == run_id, Run.status == "queued").values(status="running", started_at=utcnow(), simulations_done=0)
        ).rowcount
        run = session.get(Run, run_id)
        assert run is not None
        if not claimed:
            session.expunge(run)
            return run
        network = session.get(Network, run.network_id)
        assert network is not None
        net, routes = var_dir / network.net_file, var_dir / network.routes_file
        controllers, seeds, duration, total = list(run.controllers), list(run.seeds), run.duration_s, run.simulations_total

    def step(done: int) -> None:
        with database.transaction() as s:
            s.execute(update(Run).where(Run.id == run_id).values(simulations_done=done))
        if progress is not None:
            progress(done, total)

    try:
        comparison = evaluate(net, [routes], controllers, seeds=seeds, duration_s=duration, max_workers=workers, progress=step)
        result, error, status = summarise(comparison), None, "done"
    except Exception as failure:
        log.exception("traffic run %s failed", run_id)
        result, status = None, "failed"
        error = "".join(traceback.format_exception_only(type(failure), failure)).strip()[:2000]
    with database.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status, run.result, run.error, run.finished_at = status, result, error, utcnow()
        if status == "done":
            run.simulations_done = total
    with database.read_session() as session:
        found = session.get(Run, run_id)
        assert found is not None
        session.expunge(found)
        return found


def execute_plan_check(database: Database, plan_id: int, *, var_dir: Path) -> Plan:
    """Run the queued SUMO check of plan ``plan_id`` and store its figures (or its error)."""
    from citybrain.traffic import service

    with database.transaction() as session:
        claimed = session.execute(
            update(Plan).where(Plan.id == plan_id, Plan.check_status == "queued").values(check_status="running")
        ).rowcount
        plan = session.get(Plan, plan_id)
        assert plan is not None
        if not claimed:
            session.expunge(plan)
            return plan
        kind, params, result = plan.kind, dict(plan.params), dict(plan.result)
        network = session.get(Network, plan.network_id) if plan.network_id else None
        net = var_dir / network.net_file if network is not None else None
    try:
        check, error, status = service.run_plan_check(kind, params, result, net), None, "done"
    except Exception as failure:
        log.exception("check of traffic plan %s failed", plan_id)
        check, status = None, "failed"
        error = "".join(traceback.format_exception_only(type(failure), failure)).strip()[:2000]
    with database.transaction() as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        plan.check, plan.check_status, plan.check_error = check, status, error
    with database.read_session() as session:
        found = session.get(Plan, plan_id)
        assert found is not None
        session.expunge(found)
        return found


class RunQueue:
    """The serving process's evaluation worker: one thread that runs queued runs in order."""

    def __init__(self, database: Database, *, var_dir: Path, workers: int = 1) -> None:
        self._database = database
        self._var_dir = var_dir
        self._workers = workers
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker; runs left running by a previous process are marked failed first."""
        with self._database.transaction() as session:
            session.execute(
                update(Run)
                .where(Run.status == "running")
                .values(status="failed", error="interrupted: the server stopped during the run", finished_at=utcnow())
            )
            session.execute(
                update(Plan)
                .where(Plan.check_status == "running")
                .values(check_status="failed", check_error="interrupted: the server stopped during the check")
            )
        self._thread = threading.Thread(target=self._loop, name="citybrain-traffic-runs", daemon=True)
        self._thread.start()
        self._wake.set()

    def submit(self) -> None:
        """A run was queued: look for it now."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _next(self) -> tuple[str, int] | None:
        """The oldest queued work: an evaluation run first, then a plan's check."""
        with self._database.read_session() as session:
            run = session.scalar(select(Run.id).where(Run.status == "queued").order_by(Run.id).limit(1))
            plan = session.scalar(select(Plan.id).where(Plan.check_status == "queued").order_by(Plan.id).limit(1))
        if run is not None:
            return ("run", run)
        return ("plan", plan) if plan is not None else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while not self._stop.is_set():
                try:
                    work = self._next()
                except Exception:
                    log.exception("could not look for queued traffic work")
                    break
                if work is None:
                    break
                kind, ident = work
                if kind == "run":
                    execute_run(self._database, ident, var_dir=self._var_dir, workers=self._workers)
                else:
                    execute_plan_check(self._database, ident, var_dir=self._var_dir)

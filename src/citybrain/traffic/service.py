"""The traffic domain's public face: networks, evaluation runs, plans and the live twin's commands.

Algorithms live in their own modules (``cityflow``, ``network``, ``controllers``, ``simulation``,
``evaluation``, ``greenwave``, ``tidal``) and import nothing from the web or the database; this module
stores what they produce and is what the API, the pages, the CLI and other domains call.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth.principal import Principal
from citybrain.core.errors import FieldError
from citybrain.traffic.errors import BadNetworkFiles, NetworkCodeTaken, NetworkNotFound, PlanNotFound, RunNotFound
from citybrain.traffic.models import Command, Network, Plan, Run

READ = "traffic:read"
#: import networks, run evaluations, compute green-wave and tidal plans
PLAN = "traffic:plan"
#: command junctions of the live twin (the traffic-operator role only)
CONTROL = "traffic:control"

#: the public data sets that can be imported by name (under ``<data dir>/traffic/``)
BUILTIN: dict[str, dict[str, str]] = {
    "jinan_3x4": {
        "name": "济南 3×4 路网（真实流量）",
        "roadnet": "jinan_3x4/roadnet_3_4.json",
        "flow": "jinan_3x4/anon_3_4_jinan_real.json",
    }
}


def scenario_dir(var_dir: Path) -> Path:
    """Where converted and uploaded scenarios are kept (a content-addressed cache)."""
    from citybrain.traffic.scenario import default_cache_dir

    return default_cache_dir(var_dir)


def _stored(path: Path, var_dir: Path) -> str:
    """A path as stored: relative to the var dir when inside it, so the var dir can move."""
    try:
        return str(path.resolve().relative_to(var_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def files_of(network: Network, var_dir: Path) -> tuple[Path, Path]:
    """The network's SUMO net and route files."""
    return var_dir / network.net_file, var_dir / network.routes_file


def layout_of(net_file: Path) -> dict[str, Any]:
    """What the pages draw: every node (x, y; signalised or not) and every edge as a polyline, in
    the network's own metres; plus each signalised junction's phases."""
    import sumolib

    from citybrain.traffic.network import load_network

    net = sumolib.net.readNet(str(net_file))
    model = load_network(net_file)
    tls_of_node = {node: j.id for j in model.junctions for node in j.node_ids}
    nodes = {}
    for node in net.getNodes():
        if node.getType() == "internal":
            continue
        x, y = node.getCoord()
        nodes[node.getID()] = {"x": round(x, 1), "y": round(y, 1), "tls": tls_of_node.get(node.getID())}
    edges = [
        {
            "id": e.getID(),
            "from": e.getFromNode().getID(),
            "to": e.getToNode().getID(),
            "lanes": e.getLaneNumber(),
            "shape": [[round(x, 1), round(y, 1)] for x, y in e.getShape()],
        }
        for e in net.getEdges()
        if e.getFunction() != "internal"
    ]
    junctions = {j.id: {"nodes": list(j.node_ids), "phases": [p.name for p in j.phases]} for j in model.junctions}
    return {"nodes": nodes, "edges": edges, "junctions": junctions}


def _register(
    session: Session, principal: Principal, *, code: str, name: str, source: str, scenario: Any, var_dir: Path, horizon_s: int
) -> Network:
    if session.scalar(select(Network.id).where(Network.code == code)) is not None:
        raise NetworkCodeTaken(code=code)
    layout = layout_of(scenario.net)
    network = Network(
        code=code,
        name=name,
        source=source,
        source_hash=scenario.source_hash,
        net_file=_stored(scenario.net, var_dir),
        routes_file=_stored(scenario.routes, var_dir),
        junctions=len(layout["junctions"]),
        vehicles=scenario.vehicles,
        horizon_s=horizon_s,
        layout=layout,
        created_by=principal.name,
    )
    session.add(network)
    session.flush()
    audit.record(
        session, principal, "traffic.network.imported", subject_type="traffic.network", subject_id=network.id, detail={"code": code}
    )
    return network


def _bad_files(error: Exception, files: dict[str, Path]) -> BadNetworkFiles:
    """The error of a file that cannot be used, located at the input field that brought it."""
    name = getattr(error, "params", {}).get("file")
    field = next((f for f, path in files.items() if path.name == name), next(iter(files)))
    return BadNetworkFiles(errors=[FieldError(("body", field), "traffic.bad_file", {"reason": str(error)})], reason=str(error))


def import_cityflow(
    session: Session,
    principal: Principal,
    *,
    code: str,
    name: str,
    roadnet: Path,
    flow: Path,
    var_dir: Path,
    horizon_s: int = 3600,
    fields: tuple[str, str] = ("roadnet", "flow"),
) -> Network:
    """Convert a CityFlow roadnet + flow to SUMO (cached by content) and register the network."""
    from citybrain.traffic.cityflow import CityFlowError, convert_to_sumo
    from citybrain.traffic.scenario import ScenarioError
    from citybrain.traffic.sumo_tools import SumoFailed

    try:
        scenario = convert_to_sumo(roadnet, flow, scenario_dir(var_dir), horizon=float(horizon_s))
    except (CityFlowError, ScenarioError, SumoFailed) as error:
        raise _bad_files(error, dict(zip(fields, (roadnet, flow), strict=True))) from error
    return _register(session, principal, code=code, name=name, source="cityflow", scenario=scenario, var_dir=var_dir, horizon_s=horizon_s)


def import_sumo(
    session: Session,
    principal: Principal,
    *,
    code: str,
    name: str,
    net: Path,
    routes: Path,
    var_dir: Path,
    horizon_s: int = 3600,
    fields: tuple[str, str] = ("net", "routes"),
) -> Network:
    """Register an existing SUMO network and routes (copied into the scenario store by content)."""
    from citybrain.traffic.scenario import cached, content_hash, open_sumo_scenario

    try:
        open_sumo_scenario(net, routes)  # checks both before anything is copied
        key = content_hash([net, routes], salt="sumo")

        def build(folder: Path) -> dict[str, Any]:
            shutil.copyfile(net, folder / "network.net.xml")
            shutil.copyfile(routes, folder / "routes.rou.xml")
            return {"source": "sumo", "net": net.name, "routes": routes.name}

        entry, _, _ = cached(scenario_dir(var_dir), key, build)
        scenario = open_sumo_scenario(entry / "network.net.xml", entry / "routes.rou.xml")
        layout_of(scenario.net)  # a network the model cannot describe is refused here
    except Exception as error:
        # sumolib or the static model refusing a file is bad input, whatever it raises
        raise _bad_files(error, dict(zip(fields, (net, routes), strict=True))) from error
    return _register(session, principal, code=code, name=name, source="sumo", scenario=scenario, var_dir=var_dir, horizon_s=horizon_s)


def import_uploaded(
    session: Session,
    principal: Principal,
    *,
    code: str,
    name: str,
    kind: str,
    first: tuple[str, bytes],
    second: tuple[str, bytes],
    var_dir: Path,
) -> Network:
    """Import uploaded files: ``kind`` cityflow (roadnet, flow) or sumo (net, routes)."""
    with tempfile.TemporaryDirectory(prefix="citybrain-traffic-") as folder:
        paths = []
        for index, (filename, body) in enumerate((first, second)):
            path = Path(folder) / f"{index}-{Path(filename).name or 'file'}"
            path.write_bytes(body)
            paths.append(path)
        fields = ("network_file", "demand_file")
        if kind == "cityflow":
            return import_cityflow(
                session, principal, code=code, name=name, roadnet=paths[0], flow=paths[1], var_dir=var_dir, fields=fields
            )
        return import_sumo(session, principal, code=code, name=name, net=paths[0], routes=paths[1], var_dir=var_dir, fields=fields)


def import_builtin(
    session: Session, principal: Principal, dataset: str, *, data_dir: Path, var_dir: Path, code: str | None = None, name: str | None = None
) -> Network:
    """Import a public data set by name (e.g. ``jinan_3x4``) from the data dir."""
    spec = BUILTIN.get(dataset)
    if spec is None:
        raise BadNetworkFiles(errors=[FieldError(("body", "dataset"), "traffic.unknown_dataset", {"dataset": dataset})], reason=dataset)
    roadnet, flow = data_dir / "traffic" / spec["roadnet"], data_dir / "traffic" / spec["flow"]
    for path in (roadnet, flow):
        if not path.is_file():
            raise BadNetworkFiles(
                errors=[FieldError(("body", "dataset"), "traffic.dataset_missing", {"path": str(path)})], reason=str(path)
            )
    return import_cityflow(session, principal, code=code or dataset, name=name or spec["name"], roadnet=roadnet, flow=flow, var_dir=var_dir)


def list_networks(session: Session) -> Sequence[Network]:
    return session.scalars(select(Network).order_by(Network.code)).all()


def get_network(session: Session, code_or_id: str | int) -> Network:
    """A network by its code or id."""
    if isinstance(code_or_id, int) or str(code_or_id).isdigit():
        found = session.get(Network, int(code_or_id))
    else:
        found = session.scalar(select(Network).where(Network.code == code_or_id))
    if found is None:
        raise NetworkNotFound(network=str(code_or_id))
    return found


# -- evaluation runs ------------------------------------------------------------------------------


def controller_names() -> list[str]:
    """Every registered controller, in the registry's order."""
    from citybrain.traffic.controllers.registry import controller_names as registered

    return list(registered())


def create_run(
    session: Session, principal: Principal, network: Network, *, controllers: list[str] | None, seeds: list[int], duration_s: int
) -> Run:
    """A queued evaluation of ``controllers`` (default: all) on ``network`` over ``seeds``."""
    known = controller_names()
    chosen = list(dict.fromkeys(controllers or known))
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise BadNetworkFiles(
            "traffic.unknown_controller",
            errors=[
                FieldError(("body", "controllers"), "traffic.unknown_controller", {"name": n, "known": ", ".join(known)}) for n in unknown
            ],
            name=", ".join(unknown),
            known=", ".join(known),
        )
    seeds = list(dict.fromkeys(seeds))
    run = Run(
        network_id=network.id,
        controllers=chosen,
        seeds=seeds,
        duration_s=duration_s,
        status="queued",
        simulations_done=0,
        simulations_total=len(chosen) * len(seeds),
        created_by=principal.name,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        principal,
        "traffic.run.created",
        subject_type="traffic.run",
        subject_id=run.id,
        detail={"network": network.code, "controllers": chosen, "seeds": seeds},
    )
    return run


def get_run(session: Session, run_id: int) -> Run:
    found = session.get(Run, run_id)
    if found is None:
        raise RunNotFound(run=run_id)
    return found


def runs_of(session: Session, network: Network, limit: int = 20) -> Sequence[Run]:
    return session.scalars(select(Run).where(Run.network_id == network.id).order_by(Run.id.desc()).limit(limit)).all()


def latest_result(session: Session, network: Network) -> Run | None:
    """The network's most recent finished evaluation."""
    return session.scalar(select(Run).where(Run.network_id == network.id, Run.status == "done").order_by(Run.id.desc()).limit(1))


# -- plans ----------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A result dataclass as JSON values (tuples as lists, paths as strings)."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _invalid(error: Exception) -> BadNetworkFiles:
    """An algorithm's input error (``key``, ``params`` with ``field`` and ``reason``) as a 422."""
    params = dict(getattr(error, "params", {}))
    key = getattr(error, "key", "traffic.invalid")
    return BadNetworkFiles(key, errors=[FieldError(("body", str(params.get("field", "body"))), key, params)], **params)


def tidal_inputs(params: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The planner's inputs from a plan's stored parameters: counts (the demo corridor's compressed
    day when none are given), section and rule. Raises the planner's input error."""
    from citybrain.traffic import tidal

    section_params = dict(params["section"])
    section_params["reversible_from"] = tuple(section_params.get("reversible_from") or ("a", "b"))
    section = tidal.Section(**section_params)
    if params.get("counts"):
        counts = tidal.DirectionalCounts(**params["counts"])
    else:
        day = tidal.corridor_day_counts(section, name_a="进城", name_b="出城")
        counts = tidal.DirectionalCounts(
            day.a, day.b, day.start_s, day.name_a, day.name_b, source="citybrain demo corridor: a day compressed to 4.5 h"
        )
    # seconds are whole numbers, the thresholds fractions (JSON gives floats for both)
    rule = tidal.TidalRule(**{k: int(v) if k.endswith("_s") else float(v) for k, v in (params.get("rule") or {}).items()})
    return counts, section, rule


def plan_tidal(
    session: Session, principal: Principal, *, name: str, params: dict[str, Any], network: Network | None = None, check: bool = False
) -> Plan:
    """Plan a reversible-lane schedule from directional 15-minute counts (see ``tidal``) and store it;
    with ``check`` its SUMO check (with against without the plan) is queued."""
    from citybrain.traffic import tidal

    try:
        counts, section, rule = tidal_inputs(params)
        plan = tidal.plan_tidal_lanes(counts, section, rule)
    except tidal.TidalInputError as error:
        raise _invalid(error) from error
    except TypeError as error:  # an unknown or missing parameter
        raise BadNetworkFiles("traffic.invalid", errors=[FieldError(("body",), "traffic.invalid", {"reason": str(error)})]) from error
    result = _jsonable(plan)
    result["schedule"] = _jsonable(plan.lane_schedule())
    result["summary"] = {"zh-CN": plan.describe("zh-CN"), "en": plan.describe("en")}
    result["rule_text"] = {"zh-CN": rule.describe("zh-CN"), "en": rule.describe("en")}
    stored = save_plan(session, principal, kind="tidal", name=name, network=network, params=params, result=result, check=None)
    if check:
        stored.check_status = "queued"
    return stored


def greenwave_inputs(params: dict[str, Any], net: Path) -> tuple[Any, Any]:
    """The MAXBAND arterial and the SUMO corridor from a plan's stored parameters: the junctions in
    order along the arterial (distances and the speed limit read from the network), the reds of the
    arterial's through movements (s) and the cycle (s, or a range to choose from)."""
    from citybrain.traffic import greenwave

    corridor = greenwave.corridor_from_sumo(net, list(params["junctions"]))
    reds = params.get("reds") or {}
    junctions = tuple(
        greenwave.ArterialJunction(
            j,
            float(reds.get(j, [params["red_outbound_s"], params["red_inbound_s"]])[0]),
            float(reds.get(j, [params["red_outbound_s"], params["red_inbound_s"]])[1]),
        )
        for j in params["junctions"]
    )
    cycle = params["cycle_s"]
    speed = float(params.get("speed_mps") or corridor.speed_limit_mps)
    arterial = greenwave.Arterial(
        junctions,
        corridor.distances_m,
        (float(cycle[0]), float(cycle[1])) if isinstance(cycle, list | tuple) else float(cycle),
        greenwave.SpeedRange(speed, speed * 0.9, speed * 1.1),
        volume_ratio=float(params.get("volume_ratio", 1.0)),
    )
    return arterial, corridor


def plan_greenwave(
    session: Session, principal: Principal, *, name: str, params: dict[str, Any], network: Network, var_dir: Path, check: bool = False
) -> Plan:
    """Two-way green-wave offsets for an arterial of ``network`` by MAXBAND (HiGHS) and store them;
    with ``check`` its SUMO check (against all-zero and random offsets) is queued."""
    from citybrain.traffic import greenwave

    net, _ = files_of(network, var_dir)
    try:
        arterial, _corridor = greenwave_inputs(params, net)
        plan = greenwave.maxband(arterial)
    except greenwave.GreenWaveError as error:
        raise _invalid(error) from error
    except (KeyError, TypeError, ValueError) as error:
        raise BadNetworkFiles("traffic.invalid", errors=[FieldError(("body",), "traffic.invalid", {"reason": str(error)})]) from error
    result = _jsonable(plan)
    result["offsets_s"] = list(plan.offsets_s)
    result["bandwidth_outbound_fraction"] = plan.bandwidth_outbound_fraction
    result["bandwidth_inbound_fraction"] = plan.bandwidth_inbound_fraction
    stored = save_plan(session, principal, kind="greenwave", name=name, network=network, params=params, result=result, check=None)
    if check:
        stored.check_status = "queued"
    return stored


def greenwave_diagram(plan: Plan, network: Network, var_dir: Path) -> bytes:
    """The plan's time-space diagram as PNG (MAXBAND is solved again from the stored parameters:
    milliseconds, and the same answer)."""
    from citybrain.traffic import greenwave

    net, _ = files_of(network, var_dir)
    arterial, _ = greenwave_inputs(plan.params, net)
    return greenwave.time_space_diagram(greenwave.maxband(arterial))


def run_plan_check(kind: str, params: dict[str, Any], result: dict[str, Any], net: Path | None = None) -> dict[str, Any]:
    """The SUMO check of a plan (minutes of simulation; called by the run queue, not by requests)."""
    if kind == "greenwave":
        from citybrain.traffic import greenwave

        assert net is not None
        arterial, corridor = greenwave_inputs(params, net)
        demand = greenwave.CorridorDemand(**(params.get("demand") or {}))
        seeds = tuple(params.get("seeds") or (0, 1, 2))
        checked = greenwave.check_in_sumo(greenwave.maxband(arterial), corridor, demand=demand, seeds=seeds)
        return _jsonable(checked)
    if kind == "tidal":
        from citybrain.traffic import tidal

        counts, section, rule = tidal_inputs(params)
        checked = tidal.check_in_sumo(tidal.plan_tidal_lanes(counts, section, rule), seed=int(params.get("seed", 0)), workers=1)
        figures = _jsonable(checked)
        figures.pop("plan", None)
        figures["delay_ratio"] = checked.delay_ratio
        return figures
    raise ValueError(f"no check for plans of kind {kind!r}")


def save_plan(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    name: str,
    network: Network | None,
    params: dict[str, Any],
    result: dict[str, Any],
    check: dict[str, Any] | None,
) -> Plan:
    plan = Plan(
        network_id=network.id if network else None,
        kind=kind,
        name=name,
        params=params,
        result=result,
        check=check,
        created_by=principal.name,
    )
    session.add(plan)
    session.flush()
    audit.record(session, principal, f"traffic.{kind}.planned", subject_type="traffic.plan", subject_id=plan.id, detail={"name": name})
    return plan


def get_plan(session: Session, plan_id: int, kind: str | None = None) -> Plan:
    found = session.get(Plan, plan_id)
    if found is None or (kind is not None and found.kind != kind):
        raise PlanNotFound(plan=plan_id)
    return found


def plans(session: Session, kind: str, limit: int = 50) -> Sequence[Plan]:
    return session.scalars(select(Plan).where(Plan.kind == kind).order_by(Plan.id.desc()).limit(limit)).all()


# -- commands to the live twin --------------------------------------------------------------------


def refuse_command(session: Session, principal: Principal, network: Network, junction_id: str, action: str) -> None:
    """Record a command refused for want of the traffic-operator role (the request then fails)."""
    audit.record(
        session,
        principal,
        "traffic.twin.command_refused",
        subject_type="traffic.junction",
        subject_id=f"{network.code}/{junction_id}"[:64],
        detail={"action": action, "reason": "missing scope " + CONTROL},
    )


def record_command(
    session: Session,
    principal: Principal,
    network: Network,
    junction_id: str,
    *,
    action: str,
    value: str | None,
    duration_s: int | None,
    ack: dict[str, Any],
) -> Command | None:
    """Store and audit a command the twin answered: taken (a :class:`Command` row) or refused by the
    simulation (unknown junction or phase: audited, no row)."""
    from citybrain.core.db.base import utcnow

    audit.record(
        session,
        principal,
        "traffic.twin.command" if ack.get("ok") else "traffic.twin.command_failed",
        subject_type="traffic.junction",
        subject_id=f"{network.code}/{junction_id}"[:64],
        detail={"action": action, "value": value, "duration_s": ack.get("duration_s", duration_s), "ack": ack},
    )
    if not ack.get("ok"):
        return None
    command = Command(
        network_id=network.id,
        junction_id=junction_id,
        action=action,
        value=value,
        duration_s=int(ack["duration_s"]) if ack.get("duration_s") is not None else duration_s,
        actor=principal.actor_ref(),
        actor_name=principal.name,
        at=utcnow(),
        sim_time_s=ack.get("sim_time_s"),
    )
    session.add(command)
    session.flush()
    return command


def recent_commands(session: Session, network: Network, limit: int = 20) -> Sequence[Command]:
    return session.scalars(select(Command).where(Command.network_id == network.id).order_by(Command.id.desc()).limit(limit)).all()


@dataclass(frozen=True)
class Figures:
    """The traffic figures the operations center shows."""

    networks: int
    junctions: int
    evaluations: int
    best_controller: str | None
    best_travel_time_s: float | None


def figures(session: Session) -> Figures:
    """Networks and junctions under management, evaluations done and the best controller's average
    travel time in the latest evaluation."""
    networks = session.scalar(select(func.count()).select_from(Network)) or 0
    junctions = session.scalar(select(func.coalesce(func.sum(Network.junctions), 0))) or 0
    evaluations = session.scalar(select(func.count()).select_from(Run).where(Run.status == "done")) or 0
    latest = session.scalar(select(Run).where(Run.status == "done").order_by(Run.id.desc()).limit(1))
    best, best_time = None, None
    if latest is not None and latest.result:
        rows = [(name, row.get("att_s", {}).get("median")) for name, row in latest.result.get("controllers", {}).items()]
        rows = [(n, t) for n, t in rows if t is not None]
        if rows:
            best, best_time = min(rows, key=lambda r: r[1])
    return Figures(int(networks), int(junctions), int(evaluations), best, best_time)


def live_twin(app: Any) -> Any | None:
    """The serving process's live twin (:class:`~citybrain.traffic.live.LiveTwin`: ``status()``,
    ``snapshots()``), or None when it is off: what the operations center's screens watch."""
    return getattr(app.state, "traffic_twin", None)

"""The operations center's step of the demo city: the connected systems (each with its API key,
kept in ``var/ops-demo-keys.json`` for the feeder that pushes their data while the app serves),
alarm rules and the scenarios of the big screen."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from citybrain.core.plugins import DemoContext

KEYS_FILE = "ops-demo-keys.json"

#: (code, name, English name, kind, owner department, contact, probed at the app's /healthz)
SYSTEMS: tuple[tuple[str, str, str, str, str, str, bool], ...] = (
    ("datahub", "城市大数据平台", "City big-data platform", "platform", "jn.dsjj", "大数据局运维 0531-12345", False),
    ("traffic-twin", "交通数字孪生", "Traffic digital twin", "platform", "jn.jtj", "交通运输局信息中心", False),
    ("gov-services", "政务服务一网通办", "Online government services", "platform", "jn.xzspj", "行政审批服务局", False),
    ("hotline-12345", "12345市民服务热线", "12345 citizen hotline", "hotline", "jn.xfj", "12345 热线办", False),
    ("water-level", "河道水位监测系统", "River water-level monitor", "sensor_network", "jn.slj", "水务局防汛办", False),
    ("air-quality", "空气质量监测网", "Air-quality network", "sensor_network", "jn.sthjj", "生态环境局监测站", False),
    ("urban-grid", "城市管理网格化平台", "Urban-management grid", "business", "jn.cgj", "城市管理局数字城管中心", False),
    ("video-platform", "视频资源共享平台", "Video resource platform", "video", "jn.gaj", "公安局科信处", True),
    ("weather", "智慧气象服务系统", "Smart weather service", "sensor_network", "jn.qxj", "气象台值班室", False),
    ("emergency", "应急指挥调度系统", "Emergency command system", "business", "jn.yjglj", "应急管理局指挥中心", True),
)

#: (name, English name, kind, metric, comparator, threshold, window, severity, department)
RULES: tuple[tuple[str, str, str, str, str | None, float | None, int | None, str, str], ...] = (
    ("河道水位超警戒", "River above warning level", "threshold", "water.level_m", ">", 3.2, None, "critical", "jn.slj"),
    ("空气质量重度污染", "Heavy air pollution", "threshold", "air.aqi", ">", 150.0, None, "warning", "jn.sthjj"),
    ("热线接通率过低", "Hotline answer rate low", "threshold", "hotline.answer_rate", "<", 0.88, None, "warning", "jn.xfj"),
    ("路口排队过长", "Long junction queues", "threshold", "traffic.mean_queue", ">", 15.0, None, "warning", "jn.gaj"),
    ("水位数据中断", "Water-level data missing", "nodata", "water.level_m", None, None, 120, "critical", "jn.slj"),
)

SCENARIOS = ("convenience.yaml", "city-management.yaml", "public-safety.yaml", "data-hub.yaml")


def scenario_source(name: str) -> str:
    """A demo scenario's YAML, shipped as package data (``operations_center/scenarios/``)."""
    return (resources.files("citybrain.operations_center") / "scenarios" / name).read_text(encoding="utf-8")


def keys_path(var_dir: Path) -> Path:
    return var_dir / KEYS_FILE


def seed_operations_center(ctx: DemoContext) -> None:
    from citybrain.core.auth import service as auth
    from citybrain.core.errors import NotFound
    from citybrain.operations_center import service
    from citybrain.operations_center.schemas import RuleCreate, SystemCreate

    keys: dict[str, str] = {}
    base = ctx.settings.base_url.rstrip("/")
    for code, name, name_en, kind, owner, contact, probed in SYSTEMS:
        try:
            auth.get_org_by_code(ctx.session, owner)
        except NotFound:
            continue
        _system, key = service.register_system(
            ctx.session,
            ctx.principal,
            SystemCreate(
                code=code,
                name=name,
                name_en=name_en,
                kind=kind,
                owner_org_code=owner,
                endpoint=f"https://{code}.jinan.example/api" if kind != "platform" else f"{base}/",
                # probed systems answer on the platform's own health endpoint (there is no
                # other server in the demo); the checks loop probes it over loopback
                health_url=f"{base}/healthz" if probed else None,
                contact=contact,
                heartbeat_timeout_s=60,
                probe_interval_s=15,
            ),
        )
        if not probed:
            keys[code] = key
    for name, name_en, kind, metric, comparator, threshold, window, severity, department in RULES:
        service.create_rule(
            ctx.session,
            ctx.principal,
            RuleCreate(
                name=name,
                name_en=name_en,
                kind=kind,
                metric=metric,
                comparator=comparator,
                threshold=threshold,
                window_s=window,
                severity=severity,
                department_org_code=department,
            ),
        )
    for file in SCENARIOS:
        service.save_scenario(ctx.session, ctx.principal, scenario_source(file))
    path = keys_path(ctx.settings.var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=1), encoding="utf-8")
    path.chmod(0o600)
    ctx.console.print(f"operations center: {len(SYSTEMS)} connected systems, {len(RULES)} alarm rules, {len(SCENARIOS)} scenarios")

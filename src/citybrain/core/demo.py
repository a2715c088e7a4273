"""The kernel's step of the demo city: Jinan's departments, districts and the first accounts.

Departments are real municipal bodies of Jinan (济南市); the 12 districts and counties get their
boundaries from ``CITYBRAIN_DATA_DIR/geo`` when present (WGS 84 GeoJSON), and the demo says so when
they are not.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

from citybrain.core.auth import service as auth
from citybrain.core.auth.models import OrgKind, Role
from citybrain.core.auth.schemas import OrgCreate, UserCreate
from citybrain.core.plugins import DemoContext

CITY_CODE = "jn"
DATA_BUREAU = "jn.dsjj"

#: (code suffix, name, English name). Municipal departments and bodies of the Jinan government.
DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("zfbgt", "市政府办公厅", "General Office of the Municipal Government"),
    ("fgw", "市发展和改革委员会", "Development and Reform Commission"),
    ("jyj", "市教育局", "Education Bureau"),
    ("kjj", "市科学技术局", "Science and Technology Bureau"),
    ("gxj", "市工业和信息化局", "Industry and Information Technology Bureau"),
    ("mzzj", "市民族宗教事务委员会", "Ethnic and Religious Affairs Commission"),
    ("gaj", "市公安局", "Public Security Bureau"),
    ("mzj", "市民政局", "Civil Affairs Bureau"),
    ("sfj", "市司法局", "Justice Bureau"),
    ("czj", "市财政局", "Finance Bureau"),
    ("rsj", "市人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("zrzyj", "市自然资源和规划局", "Natural Resources and Planning Bureau"),
    ("sthjj", "市生态环境局", "Ecology and Environment Bureau"),
    ("zjj", "市住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    ("jtj", "市交通运输局", "Transport Bureau"),
    ("slj", "市水务局", "Water Affairs Bureau"),
    ("nyncj", "市农业农村局", "Agriculture and Rural Affairs Bureau"),
    ("swj", "市商务局", "Commerce Bureau"),
    ("whlyj", "市文化和旅游局", "Culture and Tourism Bureau"),
    ("wjw", "市卫生健康委员会", "Health Commission"),
    ("tyjrj", "市退役军人事务局", "Veterans Affairs Bureau"),
    ("yjglj", "市应急管理局", "Emergency Management Bureau"),
    ("sjj", "市审计局", "Audit Bureau"),
    ("gzw", "市国有资产监督管理委员会", "State-owned Assets Supervision and Administration Commission"),
    ("scjgj", "市市场监管局", "Market Supervision Administration"),
    ("tyj", "市体育局", "Sports Bureau"),
    ("tjj", "市统计局", "Statistics Bureau"),
    ("ybj", "市医疗保障局", "Healthcare Security Bureau"),
    ("cgj", "市城市管理局", "Urban Management Bureau"),
    ("yllhj", "市园林和林业绿化局", "Landscape and Forestry Bureau"),
    ("xzspj", "市行政审批服务局", "Administrative Approval Services Bureau"),
    ("dsjj", "市大数据局", "Big Data Bureau"),
    ("jrj", "市地方金融监督管理局", "Local Financial Supervision Bureau"),
    ("xfj", "市信访局", "Letters and Visits Bureau"),
    ("tzcjj", "市投资促进局", "Investment Promotion Bureau"),
    ("wsb", "市外事办公室", "Foreign Affairs Office"),
    ("rfb", "市人民防空办公室", "Civil Air Defence Office"),
    ("jgsw", "市机关事务服务中心", "Government Offices Administration Centre"),
    ("gjj", "市住房公积金管理中心", "Housing Provident Fund Management Centre"),
    ("ggzy", "市公共资源交易中心", "Public Resources Trading Centre"),
    ("bdc", "市不动产登记中心", "Real Estate Registration Centre"),
    ("dag", "市档案馆", "Municipal Archives"),
    ("qxj", "市气象局", "Meteorological Bureau"),
    ("tax", "国家税务总局济南市税务局", "Jinan Municipal Tax Service"),
    ("xfzd", "市消防救援支队", "Fire and Rescue Detachment"),
    ("cl", "市残疾人联合会", "Disabled Persons' Federation"),
)

#: (division code, name, English name) of Jinan's 12 districts and counties.
DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("370102", "历下区", "Lixia District"),
    ("370103", "市中区", "Shizhong District"),
    ("370104", "槐荫区", "Huaiyin District"),
    ("370105", "天桥区", "Tianqiao District"),
    ("370112", "历城区", "Licheng District"),
    ("370113", "长清区", "Changqing District"),
    ("370114", "章丘区", "Zhangqiu District"),
    ("370115", "济阳区", "Jiyang District"),
    ("370116", "莱芜区", "Laiwu District"),
    ("370117", "钢城区", "Gangcheng District"),
    ("370124", "平阴县", "Pingyin County"),
    ("370126", "商河县", "Shanghe County"),
)

#: (username, display name, organisation code, roles) of the demo's accounts besides the admin.
DEMO_USERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("steward.gaj", "公安局数据管理员", "jn.gaj", (Role.DATA_STEWARD,)),
    ("steward.scjgj", "市场监管局数据管理员", "jn.scjgj", (Role.DATA_STEWARD,)),
    ("reviewer.dsjj", "大数据局审核员", DATA_BUREAU, (Role.REVIEWER,)),
    ("steward.dsjj", "大数据局数据管理员", DATA_BUREAU, (Role.DATA_STEWARD,)),
    ("operator.dsjj", "运行中心值班员", DATA_BUREAU, (Role.OPERATOR,)),
    ("viewer.jtj", "交通运输局查看员", "jn.jtj", (Role.VIEWER,)),
    ("engineer.jtj", "交通运输局交通工程师", "jn.jtj", (Role.OPERATOR,)),
    ("signal.gaj", "公安交警信号调度员", "jn.gaj", (Role.TRAFFIC_OPERATOR,)),
)

BOUNDARY_FILE = Path("geo") / "jinan_370100_districts.wgs84.geojson"


def load_district_boundaries(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Division code -> GeoJSON geometry (WGS 84), or empty when the data set is absent."""
    path = data_dir / BOUNDARY_FILE
    if not path.exists():
        return {}
    collection = json.loads(path.read_text(encoding="utf-8"))
    return {str(f["properties"]["adcode"]): f["geometry"] for f in collection.get("features", [])}


def generate_password(rng: Any, length: int = 16) -> str:
    """A password from ``rng`` (a seeded ``random.Random`` for reproducible demos, or ``secrets``)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(length))


def seed_city(ctx: DemoContext) -> None:
    """Departments, districts with boundaries, the admin and one account per role."""
    session, actor = ctx.session, ctx.principal
    org_ids: dict[str, int] = {}
    for suffix, name, name_en in DEPARTMENTS:
        org = auth.create_organisation(
            session, actor, OrgCreate(code=f"{CITY_CODE}.{suffix}", name=name, name_en=name_en, kind=OrgKind.DEPARTMENT)
        )
        org_ids[org.code] = org.id
    boundaries = load_district_boundaries(ctx.settings.data_dir)
    if not boundaries:
        ctx.console.print(f"[yellow]{ctx.settings.data_dir / BOUNDARY_FILE} not found: districts get no boundaries[/]")
    for division, name, name_en in DISTRICTS:
        org = auth.create_organisation(
            session,
            actor,
            OrgCreate(code=f"{CITY_CODE}.d{division}", name=name, name_en=name_en, kind=OrgKind.DISTRICT, division_code=division),
        )
        org.boundary = boundaries.get(division)
        org_ids[org.code] = org.id

    password = generate_password(ctx.rng if ctx.shared.get("seeded") else secrets.SystemRandom())
    auth.create_user(
        session,
        actor,
        UserCreate(username="admin", display_name="平台管理员", password=password, org_code=DATA_BUREAU, roles=[Role.ADMIN]),
    )
    for username, display, org_code, roles in DEMO_USERS:
        auth.create_user(
            session, actor, UserCreate(username=username, display_name=display, password=password, org_code=org_code, roles=list(roles))
        )
    ctx.shared["org_ids"] = org_ids
    ctx.shared["admin_password"] = password
    ctx.console.print(
        f"[green]✓[/] {len(DEPARTMENTS)} departments, {len(DISTRICTS)} districts "
        f"({sum(1 for d, _, _ in DISTRICTS if d in boundaries)} with boundaries), {1 + len(DEMO_USERS)} accounts"
    )

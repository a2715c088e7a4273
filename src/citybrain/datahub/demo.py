"""The data hub's step of the demo city: a published catalogue of Jinan department resources."""

from __future__ import annotations

from typing import Any

from citybrain.core.auth.models import Role
from citybrain.core.auth.principal import Principal, scopes_for_roles
from citybrain.core.plugins import DemoContext
from citybrain.datahub import service
from citybrain.datahub.schemas import ResourceDraft


def _field(name: str, title: str, type_: str = "string", sensitivity: str = "internal", **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "type": type_, "sensitivity": sensitivity, **extra}


PERSON_FIELDS = [
    _field("id_number", "公民身份号码", sensitivity="sensitive_personal", required=True, unique=True, identifier="resident_id"),
    _field("name", "姓名", sensitivity="personal", required=True),
    _field("gender", "性别", enum=["男", "女"]),
    _field("birth_date", "出生日期", "date", sensitivity="personal"),
    _field(
        "district",
        "户籍所在区县",
        enum=["历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县", "商河县"],
    ),
    _field("address", "户籍地址", sensitivity="personal"),
]

#: (provider code, draft fields). Each is drafted by the provider, submitted and approved.
CATALOGUE: list[tuple[str, dict[str, Any]]] = [
    (
        "jn.gaj",
        {
            "name": "户籍人口基本信息",
            "name_en": "Registered population",
            "summary": "全市户籍人口的身份号码、姓名、性别、出生日期和户籍地址，按日更新。",
            "classification": "base",
            "category_path": ["人口", "户籍"],
            "update_cycle": "daily",
            "sharing": "conditional",
            "sharing_conditions": "仅限依法履职需要核验身份的部门，须说明用途。",
            "open_attribute": "closed",
            "tags": ["人口", "户籍", "身份核验"],
            "table_schema": {"fields": PERSON_FIELDS, "primary_key": ["id_number"]},
        },
    ),
    (
        "jn.scjgj",
        {
            "name": "市场主体登记信息",
            "name_en": "Registered market entities",
            "summary": "企业和个体工商户的统一社会信用代码、名称、类型、住所、法定代表人、成立日期和登记状态。",
            "classification": "base",
            "category_path": ["法人", "市场主体"],
            "update_cycle": "daily",
            "sharing": "unconditional",
            "open_attribute": "conditional",
            "tags": ["法人", "企业", "营业执照"],
            "table_schema": {
                "fields": [
                    _field("credit_code", "统一社会信用代码", required=True, unique=True, identifier="credit_code", sensitivity="public"),
                    _field("name", "名称", required=True, sensitivity="public"),
                    _field(
                        "entity_type",
                        "市场主体类型",
                        enum=["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "个体工商户"],
                        sensitivity="public",
                    ),
                    _field("legal_representative", "法定代表人", sensitivity="personal"),
                    _field("registered_on", "成立日期", "date", sensitivity="public"),
                    _field("district", "住所所在区县", sensitivity="public"),
                    _field("address", "住所", sensitivity="public"),
                    _field("status", "登记状态", enum=["存续", "吊销", "注销"], sensitivity="public"),
                ],
                "primary_key": ["credit_code"],
            },
        },
    ),
    (
        "jn.sthjj",
        {
            "name": "空气质量监测小时数据",
            "name_en": "Hourly air quality",
            "summary": "全市国控、省控空气质量监测站点的 AQI、PM2.5、PM10、臭氧等小时浓度。",
            "classification": "theme",
            "category_path": ["生态环境", "空气质量"],
            "update_cycle": "realtime",
            "sharing": "unconditional",
            "open_attribute": "open",
            "tags": ["空气质量", "AQI", "PM2.5"],
            "table_schema": {
                "fields": [
                    _field("station_code", "站点编码", required=True, sensitivity="public"),
                    _field("observed_at", "监测时间", "datetime", required=True, sensitivity="public"),
                    _field("aqi", "空气质量指数", "integer", sensitivity="public"),
                    _field("pm25", "PM2.5 浓度（微克/立方米）", "number", sensitivity="public"),
                    _field("pm10", "PM10 浓度（微克/立方米）", "number", sensitivity="public"),
                    _field("o3", "臭氧浓度（微克/立方米）", "number", sensitivity="public"),
                ],
                "primary_key": ["station_code", "observed_at"],
            },
        },
    ),
    (
        "jn.jtj",
        {
            "name": "公交线路与站点",
            "name_en": "Bus routes and stops",
            "summary": "济南公交线路、站点名称、站点坐标（WGS 84）和首末班时间。",
            "classification": "department",
            "category_path": ["交通", "公共交通"],
            "update_cycle": "monthly",
            "sharing": "unconditional",
            "open_attribute": "open",
            "tags": ["公交", "线路", "站点"],
            "table_schema": {
                "fields": [
                    _field("route_code", "线路编号", required=True, sensitivity="public"),
                    _field("stop_seq", "站序", "integer", required=True, sensitivity="public"),
                    _field("stop_name", "站点名称", required=True, sensitivity="public"),
                    _field("lon", "经度", "number", sensitivity="public"),
                    _field("lat", "纬度", "number", sensitivity="public"),
                ],
                "primary_key": ["route_code", "stop_seq"],
            },
        },
    ),
    (
        "jn.mzj",
        {
            "name": "婚姻登记信息",
            "name_en": "Marriage registrations",
            "summary": "结婚、离婚登记的双方身份号码、登记类型和登记日期。",
            "classification": "department",
            "category_path": ["人口", "婚姻"],
            "update_cycle": "daily",
            "sharing": "conditional",
            "sharing_conditions": "仅用于政务服务中的婚姻状况核验，须经民政局审核。",
            "open_attribute": "closed",
            "tags": ["婚姻", "民政"],
            "table_schema": {
                "fields": [
                    _field("registration_no", "登记证号", required=True, unique=True),
                    _field("party_a_id", "一方身份号码", sensitivity="sensitive_personal", identifier="resident_id"),
                    _field("party_b_id", "另一方身份号码", sensitivity="sensitive_personal", identifier="resident_id"),
                    _field("kind", "登记类型", enum=["结婚", "离婚"]),
                    _field("registered_on", "登记日期", "date"),
                ],
                "primary_key": ["registration_no"],
            },
        },
    ),
    (
        "jn.rsj",
        {
            "name": "社会保险参保信息",
            "name_en": "Social insurance enrolment",
            "summary": "参保人员的社保个人编号、身份号码、姓名、性别、出生日期、联系电话、参保状态和缴费单位统一社会信用代码。",
            "classification": "department",
            "category_path": ["人力资源", "社会保险"],
            "update_cycle": "monthly",
            "sharing": "conditional",
            "sharing_conditions": "用于就业、救助等资格核验。",
            "open_attribute": "closed",
            "tags": ["社保", "参保"],
            "table_schema": {
                "fields": [
                    _field("insured_no", "社保个人编号", required=True, unique=True),
                    _field("id_number", "公民身份号码", sensitivity="sensitive_personal", identifier="resident_id"),
                    _field("name", "姓名", sensitivity="personal", required=True),
                    _field("gender", "性别", enum=["男", "女"]),
                    _field("birth_date", "出生日期", "date", sensitivity="personal"),
                    _field("phone", "联系电话", sensitivity="personal", identifier="mobile"),
                    _field("status", "参保状态", enum=["正常", "暂停", "终止"]),
                    _field("employer_credit_code", "缴费单位统一社会信用代码", identifier="credit_code"),
                ],
                "primary_key": ["insured_no"],
            },
        },
    ),
    (
        "jn.tax",
        {
            "name": "税务登记信息",
            "name_en": "Tax registrations",
            "summary": "纳税人识别号、统一社会信用代码、名称、法定代表人、主管区县和纳税状态。",
            "classification": "department",
            "category_path": ["法人", "税务"],
            "update_cycle": "daily",
            "sharing": "conditional",
            "sharing_conditions": "用于市场主体信用评价和政务服务核验。",
            "open_attribute": "closed",
            "tags": ["税务", "纳税人"],
            "table_schema": {
                "fields": [
                    _field("taxpayer_no", "纳税人识别号", required=True, unique=True),
                    _field("credit_code", "统一社会信用代码", identifier="credit_code"),
                    _field("name", "纳税人名称", required=True),
                    _field("legal_representative", "法定代表人", sensitivity="personal"),
                    _field("district", "主管区县"),
                    _field("tax_status", "纳税状态", enum=["正常", "非正常户", "注销"]),
                ],
                "primary_key": ["taxpayer_no"],
            },
        },
    ),
    (
        "jn.fgw",
        {
            "name": "公共信用信息（信用济南）",
            "name_en": "Public credit records",
            "summary": "各部门报送的行政许可、行政处罚、守信激励和失信惩戒信息，按统一社会信用代码归集。",
            "classification": "theme",
            "category_path": ["信用", "公共信用"],
            "update_cycle": "daily",
            "sharing": "unconditional",
            "open_attribute": "conditional",
            "tags": ["信用", "双公示", "红黑名单"],
            "table_schema": {
                "fields": [
                    _field("record_no", "信用记录编号", required=True, unique=True, sensitivity="public"),
                    _field("credit_code", "统一社会信用代码", required=True, identifier="credit_code", sensitivity="public"),
                    _field("subject_name", "主体名称", sensitivity="public"),
                    _field("category", "信息类别", enum=["行政许可", "行政处罚", "守信激励", "失信惩戒"], sensitivity="public"),
                    _field("title", "事项", sensitivity="public"),
                    _field("decided_on", "决定日期", "date", sensitivity="public"),
                    _field("authority", "认定机关", sensitivity="public"),
                    _field("valid_until", "公示截止日期", "date", sensitivity="public"),
                ],
                "primary_key": ["record_no"],
            },
        },
    ),
    (
        "jn.zrzyj",
        {
            "name": "标准地址与网格",
            "name_en": "Standard addresses and grids",
            "summary": "标准地址编码、地址、所属区县街道社区和网格，以及 WGS 84 坐标。",
            "classification": "base",
            "category_path": ["空间地理", "地址"],
            "update_cycle": "monthly",
            "sharing": "unconditional",
            "open_attribute": "open",
            "tags": ["地址", "网格", "空间地理"],
            "table_schema": {
                "fields": [
                    _field("address_code", "标准地址编码", required=True, unique=True, sensitivity="public"),
                    _field("address", "标准地址", sensitivity="public"),
                    _field("district", "区县", sensitivity="public"),
                    _field("street", "街道（镇）", sensitivity="public"),
                    _field("community", "社区（村）", sensitivity="public"),
                    _field("grid_code", "网格编码", sensitivity="public"),
                    _field("lon", "经度", "number", sensitivity="public"),
                    _field("lat", "纬度", "number", sensitivity="public"),
                ],
                "primary_key": ["address_code"],
            },
        },
    ),
    (
        "jn.tjj",
        {
            "name": "主要经济指标（区县年度）",
            "name_en": "Main economic indicators by district",
            "summary": "各区县地区生产总值、一般公共预算收入、社会消费品零售总额等主要经济指标，按年度。",
            "classification": "theme",
            "category_path": ["宏观经济", "统计"],
            "update_cycle": "yearly",
            "sharing": "unconditional",
            "open_attribute": "open",
            "tags": ["经济", "统计", "GDP"],
            "table_schema": {
                "fields": [
                    _field("indicator_code", "指标编码", required=True, sensitivity="public"),
                    _field("indicator", "指标名称", sensitivity="public"),
                    _field("district", "地区", required=True, sensitivity="public"),
                    _field("period", "统计期", required=True, sensitivity="public"),
                    _field("value", "数值", "number", sensitivity="public"),
                    _field("unit", "计量单位", sensitivity="public"),
                ],
                "primary_key": ["indicator_code", "district", "period"],
            },
        },
    ),
    (
        "jn.scjgj",
        {
            "name": "营业执照电子证照",
            "name_en": "Electronic business licences",
            "summary": "市场主体营业执照的电子证照信息：证照编号、持证主体、签发日期和状态。",
            "classification": "department",
            "category_path": ["电子证照", "营业执照"],
            "update_cycle": "daily",
            "sharing": "conditional",
            "sharing_conditions": "用于政务服务办理中的营业执照核验。",
            "open_attribute": "closed",
            "tags": ["电子证照", "营业执照"],
            "table_schema": {
                "fields": [
                    _field("licence_no", "证照编号", required=True, unique=True, sensitivity="public"),
                    _field("licence_type", "证照类型", required=True, sensitivity="public"),
                    _field("holder_kind", "持证主体类型", enum=["自然人", "法人"]),
                    _field("holder_id", "持证主体代码", sensitivity="personal"),
                    _field("holder_name", "持证主体名称", sensitivity="personal"),
                    _field("issuer", "签发机关", sensitivity="public"),
                    _field("issued_on", "签发日期", "date", sensitivity="public"),
                    _field("valid_until", "有效期至", "date", sensitivity="public"),
                    _field("status", "状态", enum=["有效", "注销", "吊销"]),
                ],
                "primary_key": ["licence_no"],
            },
        },
    ),
    (
        "jn.gaj",
        {
            "name": "刑事案件侦查信息",
            "name_en": "Criminal investigations",
            "summary": "侦查中的刑事案件信息。",
            "classification": "department",
            "category_path": ["公共安全"],
            "update_cycle": "realtime",
            "sharing": "none",
            "no_sharing_basis": "《中华人民共和国刑事诉讼法》关于侦查秘密的规定。",
            "open_attribute": "closed",
            "tags": ["案件"],
            "resource_type": "api",
        },
    ),
    (
        "jn.qxj",
        {
            "name": "天气预报",
            "name_en": "Weather forecast",
            "summary": "未来七天逐日天气预报：天气现象、最高最低气温、风向风力。",
            "classification": "theme",
            "category_path": ["气象"],
            "update_cycle": "daily",
            "sharing": "unconditional",
            "open_attribute": "open",
            "tags": ["天气", "预报"],
            "resource_type": "api",
        },
    ),
]


def _acting(org_id: int, role: str) -> Principal:
    return Principal(
        kind="user", id=None, name=f"demo.{role}", org_id=org_id, roles=frozenset({role}), scopes=scopes_for_roles([role]), via="cli"
    )


def seed_catalogue(ctx: DemoContext) -> None:
    """Draft, submit and approve the demo catalogue, and leave one draft in review."""
    org_ids: dict[str, int] = ctx.shared["org_ids"]
    bureau = org_ids.get(ctx.settings.bureau_org_code)
    reviewer = _acting(bureau or 0, Role.REVIEWER)
    for provider_code, fields in CATALOGUE:
        steward = _acting(org_ids[provider_code], Role.DATA_STEWARD)
        view = service.create_draft(ctx.session, steward, ResourceDraft.model_validate(fields))
        service.submit(ctx.session, steward, view.resource.id)
        service.approve(ctx.session, reviewer, view.resource.id, bureau)
    pending = service.create_draft(
        ctx.session,
        _acting(org_ids["jn.wjw"], Role.DATA_STEWARD),
        ResourceDraft.model_validate(
            {
                "name": "医疗机构名录",
                "name_en": "Medical institutions",
                "summary": "全市医疗机构名称、类别、等级、地址和床位数。",
                "classification": "department",
                "category_path": ["卫生健康"],
                "sharing": "unconditional",
                "open_attribute": "open",
                "tags": ["医院", "医疗机构"],
                "table_schema": {
                    "fields": [
                        _field("licence_no", "执业许可证登记号", required=True, sensitivity="public"),
                        _field("name", "机构名称", required=True, sensitivity="public"),
                        _field(
                            "level", "等级", enum=["三级甲等", "三级乙等", "二级甲等", "二级乙等", "一级", "未定级"], sensitivity="public"
                        ),
                        _field("beds", "床位数", "integer", sensitivity="public"),
                    ],
                    "primary_key": ["licence_no"],
                },
            }
        ),
    )
    service.submit(ctx.session, _acting(org_ids["jn.wjw"], Role.DATA_STEWARD), pending.resource.id)
    ctx.console.print(f"[green]✓[/] data catalogue: {len(CATALOGUE)} published resources, 1 waiting for review")
    _seed_rows_and_services(ctx, org_ids)


#: registry kind -> (resource code, priority, mapping) of the demo's sources
SOURCES: dict[str, list[tuple[str, int, dict[str, Any]]]] = {
    "population": [
        ("jn.gaj/00001", 1, {"keys": [["id_number"]], "fields": {f: f for f in ("name", "gender", "birth_date", "district", "address")}}),
        (
            "jn.rsj/00001",
            2,
            {
                "keys": [["id_number"]],
                "fields": {
                    "name": "name",
                    "gender": "gender",
                    "birth_date": "birth_date",
                    "phone": "phone",
                    "insured": "status",
                    "employer_credit_code": "employer_credit_code",
                },
            },
        ),
        (
            "jn.mzj/00001",
            3,
            {
                "keys": [["party_a_id"], ["party_b_id"]],
                "fields": {"marital_status": {"field": "kind", "map": {"结婚": "已婚", "离婚": "离异"}}},
                "latest_by": "registered_on",
            },
        ),
    ],
    "legal_entity": [
        (
            "jn.scjgj/00001",
            1,
            {
                "keys": [["credit_code"]],
                "fields": {f: f for f in ("name", "entity_type", "legal_representative", "registered_on", "district", "address", "status")},
            },
        ),
        (
            "jn.tax/00001",
            2,
            {"keys": [["credit_code"]], "fields": {f: f for f in ("name", "legal_representative", "district", "tax_status")}},
        ),
    ],
    "credit": [
        (
            "jn.fgw/00001",
            1,
            {
                "keys": [["record_no"]],
                "fields": {f: f for f in ("credit_code", "subject_name", "category", "title", "decided_on", "authority", "valid_until")},
            },
        )
    ],
    "geography": [
        (
            "jn.zrzyj/00001",
            1,
            {
                "keys": [["address_code"]],
                "fields": {f: f for f in ("address", "district", "street", "community", "grid_code", "lon", "lat")},
            },
        )
    ],
    "economy": [
        ("jn.tjj/00001", 1, {"keys": [["indicator_code", "district", "period"]], "fields": {f: f for f in ("indicator", "value", "unit")}})
    ],
    "licence": [
        (
            "jn.scjgj/00002",
            1,
            {
                "keys": [["licence_no"]],
                "fields": {
                    f: f
                    for f in ("licence_type", "holder_kind", "holder_id", "holder_name", "issuer", "issued_on", "valid_until", "status")
                },
            },
        )
    ],
}


def _seed_rows_and_services(ctx: DemoContext, org_ids: dict[str, int]) -> None:
    """Synthetic department data (people, companies, credit, addresses, indicators, licences), the
    six base registries consolidated from it, and governed services over the population data."""
    import tempfile
    import time
    from pathlib import Path

    import polars as pl
    from sqlalchemy import select

    from citybrain.core.auth.principal import cli_principal
    from citybrain.core.demo import load_district_boundaries
    from citybrain.datahub import dataservices, imports, registries, synthetic
    from citybrain.datahub.models import Resource

    rng, settings = ctx.rng, ctx.settings
    started = time.perf_counter()
    people = synthetic.persons(rng, settings.demo.persons)
    firms = synthetic.companies(rng, settings.demo.companies, people)
    datasets: dict[str, list[dict[str, Any]]] = {
        "jn.gaj/00001": synthetic.household_rows(people),
        "jn.rsj/00001": synthetic.social_insurance_rows(rng, people, firms),
        "jn.mzj/00001": synthetic.marriage_rows(rng, people),
        "jn.scjgj/00001": synthetic.market_rows(firms),
        "jn.tax/00001": synthetic.tax_rows(rng, firms),
        "jn.fgw/00001": synthetic.credit_rows(rng, firms),
        "jn.zrzyj/00001": synthetic.address_rows(rng, 400, load_district_boundaries(settings.data_dir)),
        "jn.tjj/00001": synthetic.economy_rows(rng),
        "jn.scjgj/00002": synthetic.licence_rows(firms),
    }
    console = cli_principal("demo")
    landed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for code, rows in datasets.items():
            resource = ctx.session.scalar(select(Resource).where(Resource.code == code))
            assert resource is not None, code
            path = Path(tmp) / f"{code.replace('/', '-')}.csv"
            pl.DataFrame(rows, infer_schema_length=None).write_csv(path)
            record = imports.import_file(ctx.session, console, resource.id, path, filename=path.name, files_root=settings.files_dir)
            assert record.status == "succeeded", (code, record.first_errors[:3])
            landed += record.inserted
    ctx.console.print(
        f"[green]✓[/] {landed:,} department records landed ({len(people):,} residents, {len(firms):,} market entities)"
        f" in {time.perf_counter() - started:.0f} s"
    )

    bureau = org_ids[settings.bureau_org_code]
    bureau_steward = _acting(bureau, Role.DATA_STEWARD)
    registries.setup(ctx.session, bureau_steward, bureau)
    for kind, feeds in SOURCES.items():
        for code, priority, mapping in feeds:
            resource = ctx.session.scalar(select(Resource).where(Resource.code == code))
            assert resource is not None, code
            registries.add_source(ctx.session, bureau_steward, bureau, kind, resource.id, priority=priority, mapping=mapping)
        run = registries.consolidate(ctx.session, bureau_steward, bureau, kind, files_root=settings.files_dir)
        ctx.console.print(
            f"[green]✓[/] registry {kind}: {run.records:,} records from {run.sources} sources"
            + (f"; {run.linked_probabilistically:,} linked by Splink, {run.to_review:,} to review" if run.linked_probabilistically else "")
            + (f"; {run.conflicts:,} conflicts for a steward" if run.conflicts else "")
        )

    police = org_ids["jn.gaj"]
    population = ctx.session.scalar(select(Resource).where(Resource.code == "jn.gaj/00001"))
    assert population is not None
    steward = _acting(police, Role.DATA_STEWARD)
    dataservices.create_service(
        ctx.session, steward, population.id, code="gaj.person.lookup", name="人口基本信息查询", kind="lookup", match_fields=[]
    )
    dataservices.create_service(
        ctx.session,
        steward,
        population.id,
        code="gaj.person.district",
        name="户籍所在区县核验",
        kind="verify",
        match_fields=["id_number", "district"],
    )
    consumer = _acting(org_ids["jn.mzj"], Role.DATA_STEWARD)
    application = dataservices.apply(
        ctx.session,
        consumer,
        "gaj.person.lookup",
        fields=["id_number", "name", "district"],
        clear_fields=[],
        purpose="低保、特困人员救助资格核验",
        scenario="社会救助审批",
        bureau_id=org_ids.get(ctx.settings.bureau_org_code),
    )
    dataservices.approve(ctx.session, steward, application.id, rate_per_minute=600, days=365)
    ctx.console.print(f"[green]✓[/] 2 data services, 1 grant (市民政局); demo data built in {time.perf_counter() - started:.0f} s")
    _seed_citizen(ctx, org_ids, people, firms, bureau_steward, bureau)


def _seed_citizen(ctx: DemoContext, org_ids: dict[str, int], people: list[Any], firms: list[Any], bureau_steward: Any, bureau: int) -> None:
    """A citizen account bound to one synthetic resident, whose data two departments then read for
    a stated purpose, so the citizen's own data trail has something to show; and a batch of real
    governed lookups (some refused), so the usage page has figures."""
    import contextlib

    from citybrain.core.auth import service as auth
    from citybrain.core.auth.models import OrgKind
    from citybrain.core.auth.schemas import OrgCreate, UserCreate
    from citybrain.core.errors import CitybrainError
    from citybrain.datahub import dataservices, registries

    person = people[0]
    # for later demo steps (the citizen's licences): other domains never read the datahub's tables
    ctx.shared["demo_citizen"] = {"name": person.name, "id_number": person.id_number, "address": person.address}
    ctx.shared["demo_companies"] = [
        {"name": f.name, "credit_code": f.credit_code, "address": f.address, "legal_representative": f.legal_representative}
        for f in firms[:4]
    ]
    secret = ctx.settings.resolved_secret_key()
    auth.create_organisation(
        ctx.session, ctx.principal, OrgCreate(code="jn.citizen.demo", name=f"市民 {person.name}", kind=OrgKind.CITIZEN)
    )
    auth.create_user(
        ctx.session,
        ctx.principal,
        UserCreate(
            username="citizen.demo",
            display_name=person.name,
            password=ctx.shared.get("admin_password") or "citizen-demo-password",
            org_code="jn.citizen.demo",
            roles=[],
            id_number=person.id_number,
        ),
        secret=secret,
    )
    registries.record(ctx.session, bureau_steward, bureau, "population", person.id_number, purpose="户籍与参保信息核对", secret=secret)
    mzj = _acting(org_ids["jn.mzj"], Role.OPERATOR)
    dataservices.call(ctx.session, mzj, "gaj.person.lookup", secret=secret, key=person.id_number)
    # a morning of 市民政局's eligibility checks, and a few asks outside the grant that are refused
    for other in ctx.rng.sample(people, min(120, len(people))):
        dataservices.call(ctx.session, mzj, "gaj.person.lookup", secret=secret, key=other.id_number)
    for other in ctx.rng.sample(people, 6):
        with contextlib.suppress(CitybrainError):  # refused, and metered as such
            dataservices.call(ctx.session, mzj, "gaj.person.lookup", secret=secret, key=other.id_number, fields=["address"])
    # 市民政局's assistance system follows the population's changes by subscription: its first
    # two pulls of an initial sync (the server keeps the acknowledged cursor)
    feed = dataservices.subscribe(ctx.session, mzj, "gaj.person.lookup", name="社会救助系统同步")
    page = dataservices.pull(ctx.session, mzj, feed.id, secret=secret, limit=50)
    dataservices.pull(ctx.session, mzj, feed.id, secret=secret, since=page.next, limit=50)
    ctx.console.print(
        f"[green]✓[/] citizen account citizen.demo ({person.name}) with two reads in its trail; 127 governed calls; 1 subscription"
    )

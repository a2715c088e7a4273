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
            "summary": "参保人员身份号码、参保险种、参保状态和缴费单位统一社会信用代码。",
            "classification": "department",
            "category_path": ["人力资源", "社会保险"],
            "update_cycle": "monthly",
            "sharing": "conditional",
            "sharing_conditions": "用于就业、救助等资格核验。",
            "open_attribute": "closed",
            "tags": ["社保", "参保"],
            "table_schema": {
                "fields": [
                    _field("id_number", "公民身份号码", sensitivity="sensitive_personal", required=True, identifier="resident_id"),
                    _field("insurance", "险种", enum=["养老", "医疗", "失业", "工伤", "生育"], required=True),
                    _field("status", "参保状态", enum=["正常", "暂停", "终止"]),
                    _field("employer_credit_code", "缴费单位统一社会信用代码", identifier="credit_code"),
                ],
                "primary_key": ["id_number", "insurance"],
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


DISTRICT_CODES = {
    "历下区": "370102", "市中区": "370103", "槐荫区": "370104", "天桥区": "370105", "历城区": "370112", "长清区": "370113",
    "章丘区": "370114", "济阳区": "370115", "莱芜区": "370116", "钢城区": "370117", "平阴县": "370124", "商河县": "370126",
}  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
PERSONS = 2_000


def _seed_rows_and_services(ctx: DemoContext, org_ids: dict[str, int]) -> None:
    """Synthetic residents with valid ID numbers in the population resource, a lookup and a
    verification service over it, and the Civil Affairs Bureau granted the lookup."""
    import csv
    import tempfile
    from datetime import date
    from pathlib import Path

    from sqlalchemy import select
    from stdnum.cn import ric

    from citybrain.core.auth.principal import cli_principal
    from citybrain.datahub import dataservices, imports
    from citybrain.datahub.models import Resource
    from citybrain.datahub.validators import _place_known

    rng = ctx.rng
    police = org_ids["jn.gaj"]
    population = ctx.session.scalar(select(Resource).where(Resource.code == "jn.gaj/00001"))
    assert population is not None
    years = {code: [y for y in range(1940, 2020) if _place_known(code, y)] or [2020] for code in DISTRICT_CODES.values()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "population.csv"
        seen: set[str] = set()
        with path.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["id_number", "name", "gender", "birth_date", "district", "address"])
            while len(seen) < PERSONS:
                district, code = rng.choice(list(DISTRICT_CODES.items()))
                born = date(rng.choice(years[code]), rng.randint(1, 12), rng.randint(1, 28))
                sequence = rng.randint(0, 999)
                body = f"{code}{born:%Y%m%d}{sequence:03d}"
                number = body + ric.calc_check_digit(body + "0")
                if number in seen:
                    continue
                seen.add(number)
                gender = "男" if sequence % 2 else "女"
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
                out.writerow([number, name, gender, born.isoformat(), district, f"济南市{district}某路{rng.randint(1, 999)}号"])
        record = imports.import_file(
            ctx.session, cli_principal("demo"), population.id, path, filename="population.csv", files_root=ctx.settings.files_dir
        )
        assert record.status == "succeeded", record.first_errors[:3]
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
    ctx.console.print(f"[green]✓[/] {PERSONS:,} synthetic residents landed; 2 data services, 1 grant (市民政局)")

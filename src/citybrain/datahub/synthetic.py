"""Synthetic Jinan people and companies for the demo city, reproducible from a seed.

Nothing here describes a real person or company: names are drawn from common surnames and given-name
characters, ID numbers and credit codes are made with valid check characters (GB 11643, GB 32100)
for Jinan's real division codes, and every department's view of them carries the noise real
department data has: records without the ID number, a name keyed in with another character, an old
taxpayer number instead of the credit code, a birth date off by some days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from stdnum.cn import ric, uscc

from citybrain.datahub.validators import USCC_ALPHABET, _place_known

DISTRICT_CODES = {
    "历下区": "370102",
    "市中区": "370103",
    "槐荫区": "370104",
    "天桥区": "370105",
    "历城区": "370112",
    "长清区": "370113",
    "章丘区": "370114",
    "济阳区": "370115",
    "莱芜区": "370116",
    "钢城区": "370117",
    "平阴县": "370124",
    "商河县": "370126",
}
#: population shares of the districts (rough, after the 2020 census)
DISTRICT_WEIGHTS = [11, 8, 6, 7, 13, 6, 11, 6, 9, 3, 4, 5]
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
    "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国文辉斌宇浩凯俊峰"
    "晨欣怡雪梅琳婷倩慧颖佳瑞博思源子涵泽轩浩然梓萱一诺欣妍嘉怡"
)
#: characters keyed in for one another (同音、形近)
SIMILAR = dict(
    zip(
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉兰红鹏飞文辉斌宇浩凯俊峰晨欣雪梅琳婷倩慧颖佳瑞博思源",
        "玮方那民晶莉墙垒君阳永燕洁鹃滔铭潮绣侠萍钢瑛桦钰岚虹朋菲雯晖彬雨皓恺骏锋辰新薛玫林亭茜惠莹嘉睿波斯元",
        strict=True,
    )
)
ROADS = [
    "经十路",
    "经七路",
    "经四路",
    "泉城路",
    "解放路",
    "和平路",
    "历山路",
    "山大路",
    "花园路",
    "工业南路",
    "二环东路",
    "旅游路",
    "北园大街",
    "大明湖路",
    "英雄山路",
    "纬二路",
    "纬十二路",
    "段店北路",
    "无影山路",
    "蓝翔路",
    "世纪大道",
    "汇泉路",
    "明水大道",
    "龙山路",
    "鹏泉大街",
    "汶源大街",
    "府前街",
    "顺河街",
]
INDUSTRIES = [
    "科技",
    "商贸",
    "建筑",
    "餐饮",
    "物流",
    "信息技术",
    "文化传媒",
    "医药",
    "机械",
    "电子",
    "食品",
    "服装",
    "环保",
    "教育咨询",
    "物业管理",
    "新能源",
    "广告",
    "装饰工程",
]
FIRM_WORDS = [
    "泉城",
    "齐鲁",
    "趵突",
    "大明",
    "华山",
    "千佛",
    "泺源",
    "舜耕",
    "鹊华",
    "历山",
    "黄河",
    "济水",
    "明湖",
    "东岳",
    "鲁中",
    "海岱",
    "章丘",
    "莱芜",
    "长清",
    "恒信",
    "宏达",
    "鑫源",
    "正和",
    "博远",
    "金泰",
    "瑞丰",
    "嘉禾",
    "华信",
    "中天",
    "永盛",
]


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    gender: str
    birth_date: date
    district: str
    address: str
    phone: str


@dataclass(frozen=True)
class Company:
    credit_code: str
    name: str
    entity_type: str
    legal_representative: str
    registered_on: date
    district: str
    address: str
    status: str


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.75 else "")
    return rng.choice(SURNAMES) + given


def misspell(rng: random.Random, name: str) -> str:
    """The name with one given-name character keyed in as a similar one."""
    positions = [i for i in range(1, len(name)) if name[i] in SIMILAR] or list(range(1, len(name)))
    i = rng.choice(positions)
    return name[:i] + SIMILAR.get(name[i], rng.choice(GIVEN)) + name[i + 1 :]


def _district(rng: random.Random) -> str:
    return rng.choices(list(DISTRICT_CODES), weights=DISTRICT_WEIGHTS)[0]


def _address(rng: random.Random, district: str) -> str:
    return (
        f"济南市{district}{rng.choice(ROADS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}号楼{rng.randint(1, 6)}单元{rng.randint(101, 2803)}"
    )


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def persons(rng: random.Random, n: int) -> list[Person]:
    """``n`` residents with distinct, valid ID numbers issued by the district of their household."""
    years = {code: [y for y in range(1935, 2024) if _place_known(code, y)] or [2020] for code in DISTRICT_CODES.values()}
    seen: set[str] = set()
    out: list[Person] = []
    while len(out) < n:
        district = _district(rng)
        code = DISTRICT_CODES[district]
        born = date(rng.choice(years[code]), rng.randint(1, 12), rng.randint(1, 28))
        sequence = rng.randint(0, 999)
        body = f"{code}{born:%Y%m%d}{sequence:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number in seen:
            continue
        seen.add(number)
        out.append(Person(number, _name(rng), "男" if sequence % 2 else "女", born, district, _address(rng, district), _phone(rng)))
    return out


def _credit_code(rng: random.Random, kind: str, district: str) -> str:
    body = kind + DISTRICT_CODES[district] + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc.calc_check_digit(body + "0")


def companies(rng: random.Random, n: int, people: list[Person]) -> list[Company]:
    """``n`` market entities with valid credit codes; their legal representatives are residents."""
    types = ["有限责任公司"] * 60 + ["股份有限公司"] * 3 + ["个人独资企业"] * 5 + ["合伙企业"] * 2 + ["个体工商户"] * 30
    seen: set[str] = set()
    out: list[Company] = []
    while len(out) < n:
        district = _district(rng)
        kind = rng.choice(types)
        code = _credit_code(rng, "92" if kind == "个体工商户" else "91", district)
        if code in seen:
            continue
        seen.add(code)
        person = rng.choice(people)
        area = district[:-1] if kind != "个体工商户" else district
        trade = rng.choice(FIRM_WORDS) + rng.choice(FIRM_WORDS) if rng.random() < 0.5 else rng.choice(FIRM_WORDS)
        industry = rng.choice(INDUSTRIES)
        if kind == "个体工商户":
            name = f"{area}{person.name}{industry}店"
        elif kind == "股份有限公司":
            name = f"济南{trade}{industry}股份有限公司"
        elif kind == "有限责任公司":
            name = f"济南{trade}{industry}有限公司"
        elif kind == "合伙企业":
            name = f"济南{trade}{industry}合伙企业（有限合伙）"
        else:
            name = f"济南{area}{trade}{industry}中心"
        registered = date(2000, 1, 1) + timedelta(days=rng.randint(0, 9000))
        status = rng.choices(["存续", "吊销", "注销"], weights=[90, 4, 6])[0]
        out.append(Company(code, name, kind, person.name, registered, district, _address(rng, district), status))
    return out


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


# -- what each department holds --------------------------------------------------------------------


def household_rows(people: list[Person]) -> list[dict[str, Any]]:
    """公安 household registration: everyone, exactly."""
    return [
        {
            "id_number": p.id_number,
            "name": p.name,
            "gender": p.gender,
            "birth_date": _iso(p.birth_date),
            "district": p.district,
            "address": p.address,
        }
        for p in people
    ]


def social_insurance_rows(rng: random.Random, people: list[Person], firms: list[Company]) -> list[dict[str, Any]]:
    """人社 social insurance: working-age residents (about 60%); 3% enrolled without the ID number,
    1% with the name keyed in differently, a few with the birth date off; 1% are from elsewhere."""
    employers: list[str | None] = [c.credit_code for c in firms if c.status == "存续"] or [None]
    out = []
    n = 0
    for p in people:
        age = 2026 - p.birth_date.year
        if not 18 <= age <= 65 or rng.random() > 0.78:
            continue
        n += 1
        row = {
            "insured_no": f"37{n:010d}",
            "id_number": p.id_number,
            "name": p.name,
            "gender": p.gender,
            "birth_date": _iso(p.birth_date),
            "phone": p.phone,
            "status": rng.choices(["正常", "暂停", "终止"], weights=[88, 7, 5])[0],
            "employer_credit_code": rng.choice(employers),
        }
        roll = rng.random()
        if roll < 0.03:
            row["id_number"] = None
            if rng.random() < 0.1:
                row["name"] = misspell(rng, p.name)
            if rng.random() < 0.05:
                row["birth_date"] = _iso(p.birth_date + timedelta(days=rng.choice([-10, -1, 1, 31])))
        elif roll < 0.04:
            row["name"] = misspell(rng, p.name)
        out.append(row)
    # people insured here whose household is elsewhere (valid IDs of other provinces)
    for _ in range(max(1, len(out) // 100)):
        n += 1
        born = date(rng.randint(1965, 2004), rng.randint(1, 12), rng.randint(1, 28))
        body = f"110101{born:%Y%m%d}{rng.randint(0, 999):03d}"
        out.append(
            {
                "insured_no": f"37{n:010d}",
                "id_number": body + ric.calc_check_digit(body + "0"),
                "name": _name(rng),
                "gender": rng.choice(["男", "女"]),
                "birth_date": _iso(born),
                "phone": _phone(rng),
                "status": "正常",
                "employer_credit_code": rng.choice(employers),
            }
        )
    return out


def marriage_rows(rng: random.Random, people: list[Person]) -> list[dict[str, Any]]:
    """民政 marriage registrations between adults; some later divorced."""
    adults = [p for p in people if 2026 - p.birth_date.year >= 22]
    men = [p for p in adults if p.gender == "男"]
    women = [p for p in adults if p.gender == "女"]
    rng.shuffle(men)
    rng.shuffle(women)
    pairs = min(len(men), len(women)) * 2 // 5
    out = []
    for i in range(pairs):
        a, b = men[i], women[i]
        married = max(a.birth_date, b.birth_date).replace(day=1) + timedelta(days=365 * 22 + rng.randint(0, 365 * 15))
        married = min(married, date(2026, 10, 31))
        out.append(
            {
                "registration_no": f"J370100-{married.year}-{i:06d}",
                "party_a_id": a.id_number,
                "party_b_id": b.id_number,
                "kind": "结婚",
                "registered_on": _iso(married),
            }
        )
        if rng.random() < 0.12 and married < date(2025, 1, 1):
            parted = married + timedelta(days=rng.randint(365, 3650))
            if parted < date(2026, 10, 31):
                out.append(
                    {
                        "registration_no": f"L370100-{parted.year}-{i:06d}",
                        "party_a_id": a.id_number,
                        "party_b_id": b.id_number,
                        "kind": "离婚",
                        "registered_on": _iso(parted),
                    }
                )
    return out


def market_rows(firms: list[Company]) -> list[dict[str, Any]]:
    """市场监管 market-entity registration: every entity, exactly."""
    return [
        {
            "credit_code": c.credit_code,
            "name": c.name,
            "entity_type": c.entity_type,
            "legal_representative": c.legal_representative,
            "registered_on": _iso(c.registered_on),
            "district": c.district,
            "address": c.address,
            "status": c.status,
        }
        for c in firms
    ]


def tax_rows(rng: random.Random, firms: list[Company]) -> list[dict[str, Any]]:
    """税务 tax registration of live entities (about 80%); 3% still under an old 15-digit taxpayer
    number without the credit code, 2% with the name written another way."""
    out = []
    for c in firms:
        if c.status == "注销" or rng.random() > 0.85:
            continue
        row: dict[str, str | None] = {
            "taxpayer_no": c.credit_code,
            "credit_code": c.credit_code,
            "name": c.name,
            "legal_representative": c.legal_representative,
            "district": c.district,
            "tax_status": "非正常户" if c.status == "吊销" or rng.random() < 0.03 else "正常",
        }
        roll = rng.random()
        if roll < 0.03:
            row["taxpayer_no"] = f"{DISTRICT_CODES[c.district]}{rng.randint(0, 999_999_999):09d}"
            row["credit_code"] = None
        elif roll < 0.05 and "有限公司" in c.name:
            row["name"] = c.name.replace("有限公司", "有限责任公司")
        out.append(row)
    return out


def credit_rows(rng: random.Random, firms: list[Company]) -> list[dict[str, Any]]:
    """信用济南 public credit records: licences, penalties, honours and blacklist entries."""
    titles = {
        "行政许可": ["食品经营许可", "排污许可", "建筑施工许可", "道路运输经营许可"],
        "行政处罚": ["未按规定公示年度报告", "违反食品安全法", "违规排放大气污染物", "消防设施未保持完好有效"],
        "守信激励": ["纳税信用A级纳税人", "守合同重信用企业", "劳动保障诚信示范单位"],
        "失信惩戒": ["拖欠农民工工资失信联合惩戒对象", "重大税收违法失信主体", "严重违法失信企业名单"],
    }
    authorities = [
        "市市场监管局",
        "市生态环境局",
        "市住房和城乡建设局",
        "国家税务总局济南市税务局",
        "市人力资源和社会保障局",
        "市消防救援支队",
    ]
    out = []
    for i in range(len(firms) * 3 // 10):
        c = rng.choice(firms)
        category = rng.choices(list(titles), weights=[45, 35, 12, 8])[0]
        decided = date(2018, 1, 1) + timedelta(days=rng.randint(0, 3200))
        out.append(
            {
                "record_no": f"XY{decided.year}{i:07d}",
                "credit_code": c.credit_code,
                "subject_name": c.name,
                "category": category,
                "title": rng.choice(titles[category]),
                "decided_on": _iso(decided),
                "authority": rng.choice(authorities),
                "valid_until": _iso(decided + timedelta(days=365 * 3)),
            }
        )
    return out


def _inside(lon: float, lat: float, geometry: dict[str, Any]) -> bool:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    hit = False
    for polygon in polygons:
        ring = polygon[0]
        for (x1, y1), (x2, y2) in pairwise(ring):
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                hit = not hit
    return hit


def address_rows(rng: random.Random, per_district: int, boundaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """自然资源 standard addresses, each in a street, community and grid of its district, with a
    point inside the district's real boundary when the boundary data set is present."""
    out = []
    for district, code in DISTRICT_CODES.items():
        geometry = boundaries.get(code)
        ring = (geometry["coordinates"][0][0] if geometry["type"] == "MultiPolygon" else geometry["coordinates"][0]) if geometry else []
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        for i in range(per_district):
            street, community = rng.randint(1, 12), rng.randint(1, 20)
            lon = lat = None
            if ring:
                for _ in range(200):
                    x, y = rng.uniform(min(lons), max(lons)), rng.uniform(min(lats), max(lats))
                    if _inside(x, y, geometry):  # type: ignore[arg-type]
                        lon, lat = round(x, 6), round(y, 6)
                        break
            out.append(
                {
                    "address_code": f"{code}{street:03d}{community:03d}{i:05d}",
                    "address": _address(rng, district).split("号")[0] + "号",
                    "district": district,
                    "street": f"{district[:-1]}第{street}街道",
                    "community": f"第{community}社区",
                    "grid_code": f"{code}{street:03d}{community:03d}{rng.randint(1, 8):02d}",
                    "lon": lon,
                    "lat": lat,
                }
            )
    return out


INDICATORS = (
    ("GDP", "地区生产总值", "亿元", 1200.0),
    ("GDP_GROWTH", "地区生产总值增速", "%", 5.5),
    ("BUDGET_REVENUE", "一般公共预算收入", "亿元", 90.0),
    ("RETAIL", "社会消费品零售总额", "亿元", 480.0),
    ("FAI_GROWTH", "固定资产投资增速", "%", 4.0),
    ("RESIDENT_INCOME", "城镇居民人均可支配收入", "元", 52000.0),
    ("POPULATION", "常住人口", "万人", 78.0),
    ("ENTERPRISES", "市场主体数量", "户", 90000.0),
)


def economy_rows(rng: random.Random) -> list[dict[str, Any]]:
    """统计 main economic indicators per district and year (synthetic values of the right size)."""
    out = []
    for district, weight in zip(DISTRICT_CODES, DISTRICT_WEIGHTS, strict=True):
        for code, name, unit, base in INDICATORS:
            value = base * (weight / 8 if unit not in ("%", "元") else 1.0)
            for year in range(2020, 2026):
                drift = rng.uniform(0.97, 1.09) if unit not in ("%",) else rng.uniform(0.7, 1.3)
                value = value * drift if unit not in ("%",) else base * drift
                out.append(
                    {
                        "indicator_code": code,
                        "indicator": name,
                        "district": district,
                        "period": str(year),
                        "value": round(value, 2),
                        "unit": unit,
                    }
                )
    return out


def licence_rows(firms: list[Company]) -> list[dict[str, Any]]:
    """市场监管 business licences (营业执照) of every entity, as electronic licences."""
    out = []
    for c in firms:
        out.append(
            {
                "licence_no": f"YYZZ{c.credit_code}",
                "licence_type": "营业执照",
                "holder_kind": "法人",
                "holder_id": c.credit_code,
                "holder_name": c.name,
                "issuer": "济南市市场监督管理局",
                "issued_on": _iso(c.registered_on),
                "valid_until": None,
                "status": {"存续": "有效", "吊销": "吊销", "注销": "注销"}[c.status],
            }
        )
    return out

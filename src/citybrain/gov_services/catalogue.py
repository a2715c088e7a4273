"""The demo city's service items (事项): five instant items (秒批), the restaurant bundle
(开餐馆一件事, four departments' processes as call activities) and a parallel joint review (并联审批).

Plain data in the shape :func:`applications.publish_item` takes, so the demo, the tests and a city's
own loader publish them the same way. Registry materials name the governed data services the demo
provides over the base registries (:data:`REGISTRY_SERVICES`); a city wires its own.
"""

from __future__ import annotations

from typing import Any, Final

#: (service code, registry resource code, name, kind): the data bureau's services the items fill from
REGISTRY_SERVICES: Final = (
    ("base.population.lookup", "jn.base/population", "人口基础信息核验（政务服务材料免提交）", "lookup"),
    ("base.credit.query", "jn.base/credit", "公共信用信息查询（政务服务）", "query"),
)
#: what each consuming department is granted, and why (the purpose every fill is audited with)
POPULATION_FIELDS: Final = ["name", "birth_date", "district", "address"]
POPULATION_CLEAR: Final = ["name", "birth_date", "address"]
CREDIT_FIELDS: Final = ["record_no", "credit_code", "category", "title"]
GRANT_PURPOSE: Final = "政务服务事项办理：申请材料免提交、秒批条件核验"

DISTRICTS: Final = ["历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县", "商河县"]

_PHONE: Final = {"type": "string", "title": "联系电话", "x-title-en": "Phone", "pattern": "^1[3-9][0-9]{9}$"}
_HOUSEHOLD: Final = {
    "key": "household",
    "name": "户口簿（户籍信息）",
    "name_en": "Household register",
    "source": "registry",
    "service": "base.population.lookup",
    "kind": "lookup",
}
_PHOTO: Final = {"key": "photo", "name": "本人近期免冠照片", "name_en": "Recent photo", "source": "upload", "required": False}
_AGE: Final = {"from": "material.household.birth_date", "derive": "age"}
_HOUSEHOLD_DISTRICT: Final = {"from": "material.household.district"}
_MANUAL = {"process_id": "simple_item"}

DEMO_ITEMS: Final[tuple[dict[str, Any], ...]] = (
    {
        "code": "elderly_preferential_card",
        "name": "老年人优待证办理",
        "name_en": "Senior citizen preferential card",
        "department_code": "jn.mzj",
        "kind": "公共服务",
        "summary": (
            "年满60周岁的本市户籍老年人申领济南市老年人优待证，凭证享受公共交通、公园景区等优待。秒批秒办：户籍和年龄由人口基础库自动核验。"
        ),
        "conditions": "年满60周岁；本市户籍（非本市户籍的常住老年人转人工核验居住证）。",
        "legal_basis": "《中华人民共和国老年人权益保障法》第五十七条；《山东省老年人权益保障条例》",
        "statutory_days": 20,
        "promised_days": 1,
        "fee": "不收费",
        "channels": ["网上办", "掌上办", "窗口办"],
        "applicant_kinds": ["person"],
        "materials": [_HOUSEHOLD, _PHOTO],
        "form_schema": {"type": "object", "required": ["phone"], "properties": {"phone": _PHONE}},
        "facts": {"age": _AGE, "household_district": _HOUSEHOLD_DISTRICT},
        "decision_id": "elderly_preferential_card",
        **_MANUAL,
        "lane_orgs": {"济南市行政审批服务局": "jn.mzj"},
        "licences": [
            {
                "on": "decision",
                "kind": "LNYDZ",
                "kind_name": "济南市老年人优待证",
                "issuer": "jn.mzj",
                "fields": {"户籍所在区县": "fact.household_district"},
            }
        ],
    },
    {
        "code": "senior_allowance",
        "name": "高龄津贴申领",
        "name_en": "Senior allowance",
        "department_code": "jn.mzj",
        "kind": "行政给付",
        "summary": "80周岁以上本市户籍老年人申领高龄津贴，按年龄段按月发放。年龄与户籍由人口基础库核验，符合条件即时核定。",
        "conditions": "年满80周岁；本市户籍。",
        "legal_basis": "《山东省老年人权益保障条例》；济南市高龄津贴制度（演示标准）",
        "statutory_days": 20,
        "promised_days": 1,
        "channels": ["网上办", "掌上办"],
        "applicant_kinds": ["person"],
        "materials": [_HOUSEHOLD],
        "form_schema": {
            "type": "object",
            "required": ["phone", "bank_account"],
            "properties": {
                "phone": _PHONE,
                "bank_account": {
                    "type": "string",
                    "title": "社保卡金融账号",
                    "x-title-en": "Social security card account",
                    "pattern": "^[0-9]{12,19}$",
                },
            },
        },
        "facts": {"age": _AGE, "household_district": _HOUSEHOLD_DISTRICT},
        "decision_id": "senior_allowance",
        **_MANUAL,
        "lane_orgs": {"济南市行政审批服务局": "jn.mzj"},
        "licences": [
            {
                "on": "decision",
                "kind": "GLJT",
                "kind_name": "高龄津贴资格确认书",
                "issuer": "jn.mzj",
                "fields": {"每月津贴（元）": "decision.monthly_amount"},
            }
        ],
    },
    {
        "code": "birth_registration",
        "name": "生育登记",
        "name_en": "Birth registration",
        "department_code": "jn.wjw",
        "kind": "公共服务",
        "summary": "夫妻生育第一至第三个子女的，在户籍地或居住地办理生育登记，秒批秒办，电子凭证即时发放。",
        "conditions": "本市户籍，或持有本市居住证。",
        "legal_basis": "《中华人民共和国人口与计划生育法》；《山东省人口与计划生育条例》",
        "statutory_days": 10,
        "promised_days": 1,
        "channels": ["网上办", "掌上办"],
        "applicant_kinds": ["person"],
        "materials": [_HOUSEHOLD],
        "form_schema": {
            "type": "object",
            "required": ["spouse_name", "child_order", "phone"],
            "properties": {
                "spouse_name": {"type": "string", "title": "配偶姓名", "x-title-en": "Spouse's name", "minLength": 2, "maxLength": 20},
                "child_order": {"type": "integer", "title": "本次登记孩次", "x-title-en": "Child order", "minimum": 1, "maximum": 10},
                "has_residence_permit": {"type": "boolean", "title": "持有本市居住证", "x-title-en": "Holds a Jinan residence permit"},
                "phone": _PHONE,
            },
        },
        "facts": {
            "household_district": _HOUSEHOLD_DISTRICT,
            "has_residence_permit": {"from": "form.has_residence_permit"},
            "child_order": {"from": "form.child_order"},
        },
        "decision_id": "birth_registration",
        **_MANUAL,
        "lane_orgs": {"济南市行政审批服务局": "jn.wjw"},
        "licences": [
            {
                "on": "decision",
                "kind": "SYDJ",
                "kind_name": "生育服务登记凭证",
                "issuer": "jn.wjw",
                "valid_days": 730,
                "fields": {"孩次": "form.child_order"},
            }
        ],
    },
    {
        "code": "individual_business_registration",
        "name": "个体工商户设立登记",
        "name_en": "Individual business registration",
        "department_code": "jn.scjgj",
        "kind": "行政许可",
        "summary": "年满18周岁、信用良好的自然人申请设立个体工商户，秒批秒办，即时核发电子营业执照。",
        "conditions": "年满18周岁；未被列入失信联合惩戒对象名单；未持有个体工商户营业执照。",
        "legal_basis": "《促进个体工商户发展条例》；《中华人民共和国市场主体登记管理条例》",
        "statutory_days": 3,
        "promised_days": 1,
        "channels": ["网上办", "掌上办", "窗口办"],
        "applicant_kinds": ["person"],
        "materials": [
            _HOUSEHOLD,
            {
                "key": "credit",
                "name": "公共信用信息",
                "name_en": "Public credit records",
                "source": "registry",
                "service": "base.credit.query",
                "kind": "query",
                "match": "credit_code",
            },
            {"key": "premises", "name": "经营场所使用证明", "name_en": "Proof of premises", "source": "upload", "required": False},
        ],
        "form_schema": {
            "type": "object",
            "required": ["business_name", "business_scope", "address"],
            "properties": {
                "business_name": {
                    "type": "string",
                    "title": "个体工商户名称",
                    "x-title-en": "Business name",
                    "minLength": 2,
                    "maxLength": 50,
                },
                "business_scope": {
                    "type": "string",
                    "title": "经营范围",
                    "x-title-en": "Business scope",
                    "enum": ["餐饮服务", "食品销售", "日用百货零售", "理发及美容服务", "家电维修"],
                },
                "address": {"type": "string", "title": "经营场所", "x-title-en": "Premises", "minLength": 4, "maxLength": 100},
            },
        },
        "facts": {
            "age": _AGE,
            "credit_status": {"from": "material.credit", "derive": "credit_status"},
            "existing_licences": {"derive": "licence_names"},
        },
        "decision_id": "individual_business_registration",
        **_MANUAL,
        "lane_orgs": {"济南市行政审批服务局": "jn.scjgj"},
        "licences": [
            {
                "on": "decision",
                "kind": "GTGSH",
                "kind_name": "个体工商户营业执照",
                "issuer": "jn.scjgj",
                "fields": {"名称": "form.business_name", "经营范围": "form.business_scope", "经营场所": "form.address"},
            }
        ],
    },
    {
        "code": "residence_certificate",
        "name": "居住证明开具",
        "name_en": "Certificate of residence",
        "department_code": "jn.gaj",
        "kind": "行政确认",
        "summary": "在本市居住并已办理居住登记、连续居住满6个月的，即时开具电子居住证明，用于入学、就业等。",
        "conditions": "本市居住；已办理居住登记；连续居住满6个月。",
        "legal_basis": "《居住证暂行条例》；《山东省流动人口服务管理条例》",
        "statutory_days": 5,
        "promised_days": 1,
        "channels": ["网上办", "掌上办", "派出所窗口"],
        "applicant_kinds": ["person"],
        "materials": [_HOUSEHOLD],
        "form_schema": {
            "type": "object",
            "required": ["residence_months", "use"],
            "properties": {
                "residence_months": {
                    "type": "integer",
                    "title": "连续居住月数",
                    "x-title-en": "Months lived here without a break",
                    "minimum": 0,
                    "maximum": 1200,
                },
                "use": {"type": "string", "title": "证明用途", "x-title-en": "Used for", "enum": ["子女入学", "就业", "社保办理", "其他"]},
            },
        },
        "facts": {
            "residence_district": _HOUSEHOLD_DISTRICT,
            "residence_registered": {"from": "material.household", "derive": "found"},
            "residence_months": {"from": "form.residence_months"},
        },
        "decision_id": "residence_certificate",
        **_MANUAL,
        "lane_orgs": {"济南市行政审批服务局": "jn.gaj"},
        "licences": [
            {
                "on": "decision",
                "kind": "JZZM",
                "kind_name": "居住证明",
                "issuer": "jn.gaj",
                "valid_days": 180,
                "fields": {"居住地址": "material.household.address", "用途": "form.use"},
            }
        ],
    },
    {
        "code": "restaurant_bundle",
        "name": "开餐馆“一件事”",
        "name_en": "Opening a restaurant (one-go bundle)",
        "department_code": "jn.xzspj",
        "kind": "一件事",
        "summary": (
            "开餐馆一次申请、一窗受理、并联办理：营业执照、食品经营许可、消防安全检查、户外招牌设置四个事项，"
            "由市场监管、消防救援、城市管理部门分别审批，统一出件。"
        ),
        "conditions": "申请人为已在本市登记的企业；经营场所符合食品安全和消防要求。",
        "legal_basis": "《国务院关于加快推进政务服务标准化规范化便利化的指导意见》；《中华人民共和国食品安全法》；《中华人民共和国消防法》",
        "statutory_days": 20,
        "promised_days": 10,
        "channels": ["网上办", "窗口办"],
        "applicant_kinds": ["organisation"],
        "materials": [
            {"key": "floor_plan", "name": "经营场所平面图", "name_en": "Floor plan", "source": "upload"},
            {"key": "fire_plan", "name": "消防设施平面图", "name_en": "Fire safety plan", "source": "upload", "required": False},
        ],
        "form_schema": {
            "type": "object",
            "required": ["shop_name", "address", "seats", "signage_text"],
            "properties": {
                "shop_name": {"type": "string", "title": "餐馆名称", "x-title-en": "Restaurant name", "minLength": 2, "maxLength": 50},
                "address": {"type": "string", "title": "经营场所", "x-title-en": "Premises", "minLength": 4, "maxLength": 100},
                "seats": {"type": "integer", "title": "餐位数", "x-title-en": "Seats", "minimum": 1, "maximum": 2000},
                "signage_text": {"type": "string", "title": "招牌文字", "x-title-en": "Sign text", "minLength": 1, "maxLength": 30},
            },
        },
        "process_id": "restaurant_bundle",
        "lane_orgs": {
            "济南市政务服务中心": "jn.xzspj",
            "济南市市场监督管理局": "jn.scjgj",
            "济南市消防救援支队": "jn.xfzd",
            "济南市城市管理局": "jn.cgj",
        },
        "licences": [
            {
                "on": "business_licence",
                "kind": "YYZZ",
                "kind_name": "营业执照",
                "issuer": "jn.scjgj",
                "fields": {"名称": "form.shop_name", "住所": "form.address"},
            },
            {
                "on": "food_business_permit",
                "kind": "SP",
                "kind_name": "食品经营许可证",
                "issuer": "jn.scjgj",
                "valid_days": 1825,
                "fields": {"经营场所": "form.address", "经营项目": "热食类食品制售"},
            },
            {
                "on": "fire_safety",
                "kind": "XFJC",
                "kind_name": "公众聚集场所投入使用、营业前消防安全检查合格证",
                "issuer": "jn.xfzd",
                "fields": {"场所": "form.address", "餐位数": "form.seats"},
            },
            {
                "on": "outdoor_signage",
                "kind": "HWZP",
                "kind_name": "户外招牌设置许可",
                "issuer": "jn.cgj",
                "valid_days": 1095,
                "fields": {"招牌文字": "form.signage_text", "设置地点": "form.address"},
            },
        ],
    },
    {
        "code": "construction_joint_review",
        "name": "建设工程规划与施工并联审批",
        "name_en": "Construction project joint review",
        "department_code": "jn.zjj",
        "kind": "行政许可",
        "summary": "住建部门一窗受理，自然资源和规划、生态环境、消防救援部门同时审查（并联审批），逾期未反馈视为同意，住建部门统一决定。",
        "conditions": "建设单位为本市登记的企业，项目已立项。",
        "legal_basis": "《中华人民共和国建筑法》；《工程建设项目审批制度改革》相关规定",
        "statutory_days": 20,
        "promised_days": 15,
        "channels": ["网上办"],
        "applicant_kinds": ["organisation"],
        "materials": [{"key": "drawings", "name": "施工图设计文件", "name_en": "Construction drawings", "source": "upload"}],
        "form_schema": {
            "type": "object",
            "required": ["project_name", "floor_area"],
            "properties": {
                "project_name": {"type": "string", "title": "项目名称", "x-title-en": "Project name", "minLength": 2, "maxLength": 100},
                "floor_area": {"type": "number", "title": "建筑面积（平方米）", "x-title-en": "Floor area (m²)", "minimum": 1},
            },
        },
        "process_id": "joint_review",
        "lane_orgs": {
            "济南市住房和城乡建设局": "jn.zjj",
            "济南市自然资源和规划局": "jn.zrzyj",
            "济南市生态环境局": "jn.sthjj",
            "济南市消防救援支队": "jn.xfzd",
        },
        "licences": [
            {
                "on": "joint_review",
                "kind": "SGXK",
                "kind_name": "建筑工程施工许可证",
                "issuer": "jn.zjj",
                "fields": {"项目名称": "form.project_name"},
            }
        ],
    },
)

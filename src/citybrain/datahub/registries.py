"""Base registries (基础库) and their golden records.

Six registries with fixed schemas: population (人口), legal entities (法人), public credit (公共信用),
spatial geography (空间地理), macro-economy (宏观经济) and electronic licences (电子证照). Each is a
catalogue resource of the data bureau, so it is searched, served, exchanged and audited like any
other; its schema cannot be changed.

Department resources feed a registry through a *source*: which of their fields give which registry
fields, and a priority. Consolidation reads every source, joins rows to registry records by key (ID
number, credit code...), links rows without a reliable key with Splink (:mod:`linkage`), and for
each field takes the value of the most trusted source that has one. Every field keeps its
provenance (source resource and version), sources that disagree raise a conflict for a steward, and
a steward's decisions (a value, or which record a row belongs to) hold on later runs until the
sources change. The result is loaded into the registry's table as one all-or-nothing import
(``replace``), so its change sequence tells subscribers what changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.auth.principal import Principal
from citybrain.core.db.base import utcnow
from citybrain.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from citybrain.datahub import linkage, service, tables
from citybrain.datahub.errors import NotBureau
from citybrain.datahub.linkage import Comparison, MatchSpec
from citybrain.datahub.models import (
    DataImport,
    GoldenLink,
    GoldenRecord,
    Registry,
    RegistryConflict,
    RegistrySource,
    Resource,
    ResourceVersion,
)
from citybrain.datahub.schemas import ResourceDraft, Sensitivity, TableSchema

SUBJECT = "datahub.registry"
KEY_SEPARATOR = "|"
DISTRICTS = ["历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县", "商河县"]


def _f(name: str, title: str, type_: str = "string", sensitivity: str = "internal", **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "type": type_, "sensitivity": sensitivity, **extra}


@dataclass(frozen=True)
class RegistrySpec:
    kind: str
    code: str
    name: str
    name_en: str
    summary: str
    category: str
    sharing: str
    open_attribute: str
    fields: tuple[dict[str, Any], ...]
    key: tuple[str, ...]
    #: how rows without a reliable key are linked (None: they cannot be)
    match: MatchSpec | None = None
    sharing_conditions: str | None = None

    def draft(self) -> ResourceDraft:
        return ResourceDraft.model_validate(
            {
                "code": self.code,
                "name": self.name,
                "name_en": self.name_en,
                "summary": self.summary,
                "classification": "base",
                "category_path": ["基础库", self.category],
                "update_cycle": "daily",
                "sharing": self.sharing,
                "sharing_conditions": self.sharing_conditions,
                "open_attribute": self.open_attribute,
                "tags": ["基础库", self.category],
                "table_schema": {"fields": list(self.fields), "primary_key": list(self.key)},
            }
        )

    @property
    def schema(self) -> TableSchema:
        return TableSchema.model_validate({"fields": list(self.fields), "primary_key": list(self.key)})


SPECS: tuple[RegistrySpec, ...] = (
    RegistrySpec(
        kind="population",
        code="jn.base/population",
        name="人口基础库",
        name_en="Population registry",
        summary="全市人口的权威信息：以公民身份号码为键，汇聚公安户籍、人社参保、民政婚姻等部门数据，逐字段记录来源。",
        category="人口",
        sharing="conditional",
        sharing_conditions="依法履职需要核验或使用人口信息的部门，须说明用途；个人信息默认脱敏。",
        open_attribute="closed",
        fields=(
            _f("id_number", "公民身份号码", sensitivity="sensitive_personal", required=True, unique=True, identifier="resident_id"),
            _f("name", "姓名", sensitivity="personal"),
            _f("gender", "性别", enum=["男", "女"]),
            _f("birth_date", "出生日期", "date", sensitivity="personal"),
            _f("district", "户籍所在区县", enum=DISTRICTS),
            _f("address", "户籍地址", sensitivity="personal"),
            _f("phone", "联系电话", sensitivity="personal", identifier="mobile"),
            _f("marital_status", "婚姻状况", sensitivity="personal", enum=["已婚", "离异"]),
            _f("insured", "社会保险参保状态", enum=["正常", "暂停", "终止"]),
            _f("employer_credit_code", "工作单位统一社会信用代码", identifier="credit_code"),
        ),
        key=("id_number",),
        match=MatchSpec(
            comparisons=(Comparison("name", "name"), Comparison("birth_date", "date"), Comparison("gender", "exact")),
            blocking=(("birth_date",), ("name",)),
        ),
    ),
    RegistrySpec(
        kind="legal_entity",
        code="jn.base/legal-entity",
        name="法人基础库",
        name_en="Legal entity registry",
        summary="全市企业、个体工商户等市场主体的权威信息：以统一社会信用代码为键，汇聚市场监管登记、税务登记等部门数据。",
        category="法人",
        sharing="unconditional",
        open_attribute="conditional",
        fields=(
            _f("credit_code", "统一社会信用代码", sensitivity="public", required=True, unique=True, identifier="credit_code"),
            _f("name", "名称", sensitivity="public"),
            _f(
                "entity_type",
                "市场主体类型",
                sensitivity="public",
                enum=["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "个体工商户"],
            ),
            _f("legal_representative", "法定代表人", sensitivity="personal"),
            _f("registered_on", "成立日期", "date", sensitivity="public"),
            _f("district", "住所所在区县", sensitivity="public", enum=DISTRICTS),
            _f("address", "住所", sensitivity="public"),
            _f("status", "登记状态", sensitivity="public", enum=["存续", "吊销", "注销"]),
            _f("tax_status", "纳税状态", enum=["正常", "非正常户", "注销"]),
        ),
        key=("credit_code",),
        match=MatchSpec(
            comparisons=(Comparison("name", "name"), Comparison("legal_representative", "name"), Comparison("district", "exact")),
            blocking=(("legal_representative",), ("name",)),
        ),
    ),
    RegistrySpec(
        kind="credit",
        code="jn.base/credit",
        name="公共信用基础库",
        name_en="Public credit registry",
        summary="行政许可、行政处罚、守信激励和失信惩戒等公共信用信息，以信用记录编号为键，关联市场主体的统一社会信用代码。",
        category="公共信用",
        sharing="unconditional",
        open_attribute="conditional",
        fields=(
            _f("record_no", "信用记录编号", sensitivity="public", required=True, unique=True),
            _f("credit_code", "统一社会信用代码", sensitivity="public", required=True, identifier="credit_code"),
            _f("subject_name", "主体名称", sensitivity="public"),
            _f("category", "信息类别", sensitivity="public", enum=["行政许可", "行政处罚", "守信激励", "失信惩戒"]),
            _f("title", "事项", sensitivity="public"),
            _f("decided_on", "决定日期", "date", sensitivity="public"),
            _f("authority", "认定机关", sensitivity="public"),
            _f("valid_until", "公示截止日期", "date", sensitivity="public"),
        ),
        key=("record_no",),
    ),
    RegistrySpec(
        kind="geography",
        code="jn.base/geography",
        name="空间地理基础库",
        name_en="Spatial geography registry",
        summary="标准地址及其所属区县、街道、社区和网格，带 WGS 84 坐标，是网格化管理和地址核验的基准。",
        category="空间地理",
        sharing="unconditional",
        open_attribute="open",
        fields=(
            _f("address_code", "标准地址编码", sensitivity="public", required=True, unique=True),
            _f("address", "标准地址", sensitivity="public"),
            _f("district", "区县", sensitivity="public", enum=DISTRICTS),
            _f("street", "街道（镇）", sensitivity="public"),
            _f("community", "社区（村）", sensitivity="public"),
            _f("grid_code", "网格编码", sensitivity="public"),
            _f("lon", "经度（WGS 84）", "number", sensitivity="public"),
            _f("lat", "纬度（WGS 84）", "number", sensitivity="public"),
        ),
        key=("address_code",),
    ),
    RegistrySpec(
        kind="economy",
        code="jn.base/economy",
        name="宏观经济基础库",
        name_en="Macro-economy registry",
        summary="全市及各区县主要经济指标：地区生产总值、一般公共预算收入、社会消费品零售总额、固定资产投资等，按年度。",
        category="宏观经济",
        sharing="unconditional",
        open_attribute="open",
        fields=(
            _f("indicator_code", "指标编码", sensitivity="public", required=True),
            _f("indicator", "指标名称", sensitivity="public"),
            _f("district", "地区", sensitivity="public", required=True),
            _f("period", "统计期", sensitivity="public", required=True),
            _f("value", "数值", "number", sensitivity="public"),
            _f("unit", "计量单位", sensitivity="public"),
        ),
        key=("indicator_code", "district", "period"),
    ),
    RegistrySpec(
        kind="licence",
        code="jn.base/licence",
        name="电子证照基础库",
        name_en="Electronic licence registry",
        summary="各部门签发的电子证照目录：证照编号、类型、持证主体、签发机关、有效期和状态，供办事时免提交纸质材料。",
        category="电子证照",
        sharing="conditional",
        sharing_conditions="用于政务服务办理中的证照核验和材料免提交。",
        open_attribute="closed",
        fields=(
            _f("licence_no", "证照编号", sensitivity="public", required=True, unique=True),
            _f("licence_type", "证照类型", sensitivity="public", required=True),
            _f("holder_kind", "持证主体类型", enum=["自然人", "法人"]),
            _f("holder_id", "持证主体代码", sensitivity="personal"),
            _f("holder_name", "持证主体名称", sensitivity="personal"),
            _f("issuer", "签发机关", sensitivity="public"),
            _f("issued_on", "签发日期", "date", sensitivity="public"),
            _f("valid_until", "有效期至", "date", sensitivity="public"),
            _f("status", "状态", enum=["有效", "注销", "吊销"]),
        ),
        key=("licence_no",),
    ),
)
BY_KIND = {s.kind: s for s in SPECS}


def spec(kind: str) -> RegistrySpec:
    try:
        return BY_KIND[kind]
    except KeyError:
        raise NotFound("datahub.registry.not_found", kind=kind) from None


# -- setting up ------------------------------------------------------------------------------------


def _require_bureau(principal: Principal, bureau_id: int | None) -> None:
    if principal.via != "cli" and not service.is_bureau(principal, bureau_id):
        raise NotBureau()


def _platform(org_id: int, role: str) -> Principal:
    """The platform acting for the data bureau: the registries' schemas are fixed in code, so
    setting them up is drafted and approved by the platform itself (and audited as such)."""
    from citybrain.core.auth.principal import scopes_for_roles

    return Principal(
        kind="system",
        id=None,
        name="citybrain.registries",
        org_id=org_id,
        roles=frozenset({role}),
        scopes=scopes_for_roles([role]),
        via="cli",
    )


def setup(session: Session, principal: Principal, bureau_id: int | None) -> list[Registry]:
    """Create the six registries (those missing) as published resources of the data bureau."""
    from citybrain.core.auth.models import Role

    _require_bureau(principal, bureau_id)
    if bureau_id is None:
        raise Conflict("datahub.registry.no_bureau")
    steward, reviewer = _platform(bureau_id, Role.DATA_STEWARD), _platform(bureau_id, Role.REVIEWER)
    out = []
    for s in SPECS:
        registry = session.get(Registry, s.kind)
        if registry is None:
            view = service.create_draft(session, steward, s.draft())
            service.submit(session, steward, view.resource.id)
            service.approve(session, reviewer, view.resource.id, bureau_id)
            registry = Registry(kind=s.kind, resource_id=view.resource.id, last_run={})
            session.add(registry)
            session.flush()
            audit.record(session, principal, "datahub.registry.set_up", subject_type=SUBJECT, subject_id=s.kind)
        out.append(registry)
    return out


def is_registry(session: Session, resource_id: int) -> bool:
    return session.scalar(select(Registry.kind).where(Registry.resource_id == resource_id)) is not None


def get(session: Session, kind: str) -> Registry:
    spec(kind)
    registry = session.get(Registry, kind)
    if registry is None:
        raise NotFound("datahub.registry.not_set_up", kind=kind)
    return registry


def list_registries(session: Session) -> Sequence[Registry]:
    order = {s.kind: i for i, s in enumerate(SPECS)}
    return sorted(session.scalars(select(Registry)).all(), key=lambda r: order.get(r.kind, 99))


def _published_schema(session: Session, resource: Resource) -> tuple[ResourceVersion, TableSchema]:
    number = resource.published_version or resource.latest_version
    version = service.get_version(session, resource, number)
    if not version.table_schema:
        raise Conflict("datahub.service.no_table")
    return version, TableSchema.from_descriptor(version.table_schema)


def _field_error(path: tuple[str | int, ...], key: str, **params: Any) -> ValidationFailed:
    return ValidationFailed("error.validation", errors=[FieldError(("body", *path), key, params)])


def validate_mapping(registry: RegistrySpec, source: TableSchema, mapping: dict[str, Any]) -> dict[str, Any]:
    """Check a source mapping against both schemas; the normalised mapping, or a 422 naming the field."""
    names = {f.name for f in source.fields}
    registry_names = {f["name"] for f in registry.fields}
    keys = mapping.get("keys")
    if not isinstance(keys, list) or not keys:
        raise _field_error(("mapping", "keys"), "datahub.registry.keys_required", key=", ".join(registry.key))
    for i, alternative in enumerate(keys):
        if not isinstance(alternative, list) or len(alternative) != len(registry.key):
            raise _field_error(("mapping", "keys", i), "datahub.registry.key_arity", key=", ".join(registry.key))
        for j, name in enumerate(alternative):
            if name not in names:
                raise _field_error(("mapping", "keys", i, j), "datahub.registry.unknown_source_field", name=name)
    fields = mapping.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _field_error(("mapping", "fields"), "datahub.registry.fields_required")
    out_fields: dict[str, Any] = {}
    for target, rule in fields.items():
        if target not in registry_names or target in registry.key:
            raise _field_error(("mapping", "fields", target), "datahub.registry.unknown_registry_field", name=target)
        source_field = rule if isinstance(rule, str) else rule.get("field") if isinstance(rule, dict) else None
        if source_field not in names:
            raise _field_error(("mapping", "fields", target), "datahub.registry.unknown_source_field", name=str(source_field))
        if isinstance(rule, dict) and not isinstance(rule.get("map", {}), dict):
            raise _field_error(("mapping", "fields", target, "map"), "datahub.registry.bad_value_map")
        out_fields[target] = rule
    latest_by = mapping.get("latest_by")
    if latest_by is not None and latest_by not in names:
        raise _field_error(("mapping", "latest_by"), "datahub.registry.unknown_source_field", name=str(latest_by))
    return {"keys": keys, "fields": out_fields, "latest_by": latest_by}


def add_source(
    session: Session, principal: Principal, bureau_id: int | None, kind: str, resource_id: int, *, priority: int, mapping: dict[str, Any]
) -> RegistrySource:
    """Feed registry ``kind`` from a published table resource (the data bureau decides)."""
    _require_bureau(principal, bureau_id)
    registry = get(session, kind)
    resource = session.get(Resource, resource_id)
    if resource is None or resource.published_version is None:
        raise Conflict("datahub.service.unpublished")
    if resource.id == registry.resource_id or is_registry(session, resource.id):
        raise _field_error(("resource",), "datahub.registry.source_is_registry")
    _, schema = _published_schema(session, resource)
    normalised = validate_mapping(spec(kind), schema, mapping)
    existing = session.scalar(select(RegistrySource).where(RegistrySource.registry_kind == kind, RegistrySource.resource_id == resource.id))
    if existing is not None:
        existing.priority, existing.mapping = priority, normalised
        source = existing
    else:
        source = RegistrySource(
            registry_kind=kind, resource_id=resource.id, priority=priority, mapping=normalised, created_by=principal.actor_ref()
        )
        session.add(source)
    session.flush()
    audit.record(
        session, principal, "datahub.registry.source_set", subject_type=SUBJECT, subject_id=kind, detail={"resource": resource.code}
    )
    return source


def sources(session: Session, kind: str) -> list[tuple[RegistrySource, Resource]]:
    stmt = (
        select(RegistrySource, Resource)
        .join(Resource, Resource.id == RegistrySource.resource_id)
        .where(RegistrySource.registry_kind == kind)
        .order_by(RegistrySource.priority, Resource.code)
    )
    return [(s, r) for s, r in session.execute(stmt)]


# -- consolidation ---------------------------------------------------------------------------------


@dataclass
class _Source:
    source: RegistrySource
    resource: Resource
    version: int
    schema: TableSchema


def _read(session: Session, src: _Source, columns: list[str]) -> pl.DataFrame:
    """The source's rows (only ``columns``), all as text."""
    table = tables.data_table(src.resource.id, src.schema)
    if not tables_exist(session, table.name):
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.Utf8))
    rows = session.execute(select(*[table.c[c] for c in columns])).all()
    frame = pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row", infer_schema_length=None)
    return frame.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%d") if frame.schema[c] == pl.Date else pl.col(c).cast(pl.Utf8) for c in columns]
    )


def tables_exist(session: Session, name: str) -> bool:
    from sqlalchemy import inspect

    return inspect(session.connection()).has_table(name)


def _source_frame(session: Session, src: _Source) -> pl.DataFrame:
    """One row per (record key, source row): ``_key`` (None when the row has no usable key),
    ``_row`` (the source row's own key, JSON) and the registry fields the source gives."""
    mapping = src.source.mapping
    rules: dict[str, Any] = mapping["fields"]
    alternatives: list[list[str]] = mapping["keys"]
    own_key = src.schema.primary_key or [f.name for f in src.schema.fields]
    needed = list(
        dict.fromkeys(
            [*own_key, *(n for alt in alternatives for n in alt), *(r if isinstance(r, str) else r["field"] for r in rules.values())]
            + ([mapping["latest_by"]] if mapping.get("latest_by") else [])
        )
    )
    raw = _read(session, src, needed)
    row_id = pl.concat_str(
        [pl.lit("["), pl.concat_list([pl.col(k).cast(pl.Utf8).fill_null("") for k in own_key]).list.join("\u241f"), pl.lit("]")]
    )
    values = []
    for target, rule in rules.items():
        if isinstance(rule, str):
            values.append(pl.col(rule).alias(target))
        else:
            mapped = pl.col(rule["field"])
            if rule.get("map"):
                mapped = mapped.replace_strict(rule["map"], default=None, return_dtype=pl.Utf8)
            values.append(mapped.alias(target))
    parts = []
    for alternative in alternatives:
        key = pl.concat_str([pl.col(n) for n in alternative], separator=KEY_SEPARATOR)
        order = pl.col(mapping["latest_by"]) if mapping.get("latest_by") else pl.lit(None)
        part = raw.select(key.alias("_key"), row_id.alias("_row"), order.alias("_order"), *values)
        if len(alternatives) > 1:  # a row naming several records (e.g. both parties) counts only where it names one
            part = part.filter(pl.col("_key").is_not_null())
        parts.append(part)
    frame = pl.concat(parts, how="vertical_relaxed")
    if mapping.get("latest_by"):
        keyed = frame.filter(pl.col("_key").is_not_null()).sort("_order", descending=True, nulls_last=True).unique("_key", keep="first")
        frame = pl.concat([keyed, frame.filter(pl.col("_key").is_null())])
    else:
        keyed = frame.filter(pl.col("_key").is_not_null()).unique("_key", keep="first")
        frame = pl.concat([keyed, frame.filter(pl.col("_key").is_null())])
    return frame.drop("_order").with_columns(
        _uid=pl.format("{}:{}", pl.lit(src.resource.id), pl.col("_row")),
        _resource=pl.lit(src.resource.code),
        _version=pl.lit(src.version),
        _priority=pl.lit(src.source.priority),
    )


@dataclass
class RunFigures:
    records: int
    sources: int
    rows_read: int
    keyed: int
    linked_probabilistically: int
    linked_by_steward: int
    to_review: int
    unlinked: int
    conflicts: int
    inserted: int
    updated: int
    deleted: int
    import_id: int | None
    trained_on: int


def consolidate(session: Session, principal: Principal, bureau_id: int | None, kind: str, *, files_root: Path) -> RunFigures:
    """Rebuild registry ``kind``'s records from its sources (see the module's description)."""
    _require_bureau(principal, bureau_id)
    registry_spec = spec(kind)
    registry = get(session, kind)
    srcs = []
    for source, resource in sources(session, kind):
        version, schema = _published_schema(session, resource)
        srcs.append(_Source(source, resource, version.version, schema))
    if not srcs:
        raise Conflict("datahub.registry.no_sources", kind=kind)

    frames = [_source_frame(session, s) for s in srcs]
    for s in srcs:  # the platform read these rows to build the registry
        personal = [f.name for f in s.schema.fields if f.sensitivity in (Sensitivity.PERSONAL, Sensitivity.SENSITIVE_PERSONAL)]
        audit.record(
            session,
            principal,
            "datahub.registry.source_read",
            subject_type=SUBJECT,
            subject_id=kind,
            purpose="基础库归集" if personal else None,
            personal=bool(personal),
            detail={"resource": s.resource.code, "version": s.version},
        )
    rows = pl.concat(frames, how="diagonal_relaxed")
    rows_read = rows.height
    keyed = rows.filter(pl.col("_key").is_not_null())
    keyless = rows.filter(pl.col("_key").is_null())

    # -- steward decisions, then Splink, for rows without a key
    decided = {
        (link.resource_id, link.source_row): link.key
        for link in session.scalars(select(GoldenLink).where(GoldenLink.registry_kind == kind, GoldenLink.method == "steward"))
    }
    steward_keys = [decided.get((int(u.split(":", 1)[0]), u.split(":", 1)[1]), "\0") for u in keyless["_uid"].to_list()]
    keyless = keyless.with_columns(_decided=pl.Series(steward_keys, dtype=pl.Utf8))
    by_steward = keyless.filter(pl.col("_decided") != "\0").filter(pl.col("_decided").is_not_null())
    by_steward = by_steward.with_columns(_key=pl.col("_decided")).drop("_decided")
    open_rows = keyless.filter(pl.col("_decided") == "\0").drop("_decided")

    result = _link(registry_spec, keyed, open_rows)
    linked = open_rows.join(result.linked.select(pl.col("uid").alias("_uid"), pl.col("key").alias("_linked")), on="_uid")
    linked = linked.with_columns(_key=pl.col("_linked")).drop("_linked")
    rows = pl.concat([keyed, by_steward, linked], how="diagonal_relaxed")

    # -- per field: the most trusted source's value wins; different values are a conflict
    value_fields = [f["name"] for f in registry_spec.fields if f["name"] not in registry_spec.key]
    present = [f for f in value_fields if f in rows.columns]
    long = (
        rows.select("_key", "_resource", "_version", "_priority", *present)
        .unpivot(index=["_key", "_resource", "_version", "_priority"], on=present, variable_name="_field", value_name="_value")
        .filter(pl.col("_value").is_not_null() & (pl.col("_value").str.strip_chars() != ""))
        .sort(["_key", "_field", "_priority", "_resource"])
    )
    winners = long.group_by(["_key", "_field"], maintain_order=True).first()
    disputed = (
        long.group_by(["_key", "_field"], maintain_order=True)
        .agg(
            distinct=pl.col("_value").n_unique(),
            candidates=pl.struct(resource="_resource", version="_version", priority="_priority", value="_value"),
        )
        .filter(pl.col("distinct") > 1)
    )
    overrides, conflicts = _conflicts(session, kind, disputed, winners)
    steward_actor = {k: v[1] for k, v in overrides.items()}
    if overrides:
        fix = pl.DataFrame(
            [(k[0], k[1], v[0]) for k, v in overrides.items()], schema={"_key": pl.Utf8, "_field": pl.Utf8, "_fixed": pl.Utf8}, orient="row"
        )
        winners = winners.join(fix, on=["_key", "_field"], how="left").with_columns(
            _value=pl.coalesce("_fixed", "_value"),
            _resource=pl.when(pl.col("_fixed").is_not_null()).then(pl.lit("steward")).otherwise("_resource"),
        )
        winners = winners.drop("_fixed")

    all_keys = rows.select("_key").unique().sort("_key")
    golden = all_keys.join(winners.pivot(on="_field", index="_key", values="_value"), on="_key", how="left")
    for name in value_fields:
        if name not in golden.columns:
            golden = golden.with_columns(pl.lit(None, dtype=pl.Utf8).alias(name))
    key_parts = pl.col("_key").str.split_exact(KEY_SEPARATOR, len(registry_spec.key) - 1)
    golden = golden.with_columns([key_parts.struct.field(f"field_{i}").alias(name) for i, name in enumerate(registry_spec.key)]).select(
        [f["name"] for f in registry_spec.fields]
    )

    record = _load(session, principal, registry, golden, files_root=files_root)
    counts = rows.group_by("_key").agg(n=pl.col("_resource").n_unique())
    _store_provenance(session, kind, winners, counts, disputed, steward_actor)
    _store_links(session, kind, result)
    _store_match_reviews(session, kind, result, open_rows, keyed)
    session.add_all(conflicts)

    figures = RunFigures(
        records=golden.height,
        sources=len(srcs),
        rows_read=rows_read,
        keyed=keyed.height,
        linked_probabilistically=result.linked.height,
        linked_by_steward=by_steward.height,
        to_review=result.review.height,
        unlinked=len(result.unlinked),
        conflicts=len(conflicts),
        inserted=record.inserted,
        updated=record.updated,
        deleted=record.deleted,
        import_id=record.id,
        trained_on=result.trained_on,
    )
    registry.last_run_at = utcnow()
    registry.last_run = dict(figures.__dict__)
    session.flush()
    audit.record(session, principal, "datahub.registry.consolidated", subject_type=SUBJECT, subject_id=kind, detail=dict(figures.__dict__))
    return figures


def _link(registry: RegistrySpec, keyed: pl.DataFrame, keyless: pl.DataFrame) -> linkage.LinkResult:
    match = registry.match
    if match is None or keyless.is_empty():
        return linkage.unlinkable(keyless["_uid"].to_list())
    fields = match.fields
    top = keyed.sort(["_key", "_priority"])
    # the registry's view of each record: per field, the most trusted source's value
    candidates = top.group_by("_key", maintain_order=True).agg([pl.col(f).drop_nulls().first() for f in fields]).rename({"_key": "key"})
    best_priority = top.group_by("_key").agg(best=pl.col("_priority").min())
    labelled = (
        top.join(best_priority, on="_key")
        .filter(pl.col("_priority") > pl.col("best"))
        .select(pl.col("_uid").alias("uid"), pl.col("_key").alias("key"), *fields)
    )
    return linkage.link(match, candidates, labelled, keyless.select(pl.col("_uid").alias("uid"), *fields))


def _conflicts(
    session: Session, kind: str, disputed: pl.DataFrame, winners: pl.DataFrame
) -> tuple[dict[tuple[str, str], tuple[str, str]], list[RegistryConflict]]:
    """Open conflicts for this run, and the steward's resolutions that still apply (the sources
    still offer the same values)."""
    resolved: dict[tuple[str, str], RegistryConflict] = {}
    for c in session.scalars(
        select(RegistryConflict)
        .where(RegistryConflict.registry_kind == kind, RegistryConflict.kind == "value", RegistryConflict.status == "resolved")
        .order_by(RegistryConflict.id)
    ):
        resolved[(c.key or "", c.field or "")] = c
    session.execute(
        delete(RegistryConflict).where(
            RegistryConflict.registry_kind == kind, RegistryConflict.kind == "value", RegistryConflict.status == "open"
        )
    )
    chosen = {(k, f): v for k, f, v in winners.select("_key", "_field", "_value").iter_rows()} if not disputed.is_empty() else {}
    overrides: dict[tuple[str, str], tuple[str, str]] = {}
    out = []
    for key, field_name, _, candidates in disputed.iter_rows():
        values = sorted({c["value"] for c in candidates})
        decision = resolved.get((key, field_name))
        if decision is not None and sorted({c["value"] for c in decision.candidates["values"]}) == values:
            overrides[(key, field_name)] = (decision.resolution or "", decision.resolved_by or "")
            continue
        out.append(
            RegistryConflict(
                registry_kind=kind,
                kind="value",
                key=key,
                field=field_name,
                candidates={"values": candidates},
                chosen=chosen.get((key, field_name)),
                status="open",
            )
        )
    return overrides, out


def _store_provenance(
    session: Session,
    kind: str,
    winners: pl.DataFrame,
    counts: pl.DataFrame,
    disputed: pl.DataFrame,
    steward: dict[tuple[str, str], str],
) -> None:
    session.execute(delete(GoldenRecord).where(GoldenRecord.registry_kind == kind))
    provenance: dict[str, dict[str, Any]] = {}
    for key, field_name, resource, version in winners.select("_key", "_field", "_resource", "_version").iter_rows():
        entry = {"steward": steward[(key, field_name)]} if resource == "steward" else {"resource": resource, "version": version}
        provenance.setdefault(key, {})[field_name] = entry
    n_conflicts = dict(disputed.group_by("_key").len().iter_rows()) if not disputed.is_empty() else {}
    batch = [
        {"registry_kind": kind, "key": key, "provenance": provenance.get(key, {}), "sources": n, "conflicts": n_conflicts.get(key, 0)}
        for key, n in counts.iter_rows()
    ]
    for start in range(0, len(batch), 5000):
        session.execute(insert(GoldenRecord), batch[start : start + 5000])


def _split_uid(uid: str) -> tuple[int, str]:
    resource, _, row = uid.partition(":")
    return int(resource), row


def _store_links(session: Session, kind: str, result: linkage.LinkResult) -> None:
    session.execute(delete(GoldenLink).where(GoldenLink.registry_kind == kind, GoldenLink.method == "probabilistic"))
    batch = []
    for uid, key, probability in result.linked.iter_rows():
        resource_id, row = _split_uid(uid)
        batch.append(
            {
                "registry_kind": kind,
                "resource_id": resource_id,
                "source_row": row[:255],
                "key": key,
                "method": "probabilistic",
                "probability": round(float(probability), 6),
            }
        )
    if batch:
        session.execute(insert(GoldenLink), batch)


def _store_match_reviews(session: Session, kind: str, result: linkage.LinkResult, open_rows: pl.DataFrame, keyed: pl.DataFrame) -> None:
    """A steward's queue of possible matches: the source row and each candidate record, both with
    the fields the model compared, so the two can be told apart (or not) side by side."""
    session.execute(
        delete(RegistryConflict).where(
            RegistryConflict.registry_kind == kind, RegistryConflict.kind == "match", RegistryConflict.status == "open"
        )
    )
    if result.review.is_empty():
        return
    match = BY_KIND[kind].match
    shown = [c.field for c in match.comparisons] if match else []
    details = {
        uid: {"resource": res, "row": dict(zip(shown, vals, strict=True))}
        for uid, res, *vals in open_rows.select("_uid", "_resource", *shown).iter_rows()
    }
    wanted = {c["key"] for candidates in result.review["candidates"].to_list() for c in candidates or []}
    known = (
        keyed.filter(pl.col("_key").is_in(list(wanted)))
        .sort(["_key", "_priority"])
        .group_by("_key", maintain_order=True)
        .agg([pl.col(f).drop_nulls().first() for f in shown])
    )
    records = {key: dict(zip(shown, vals, strict=True)) for key, *vals in known.iter_rows()}
    for uid, candidates in result.review.iter_rows():
        resource_id, row = _split_uid(uid)
        best = candidates[0] if candidates else None
        session.add(
            RegistryConflict(
                registry_kind=kind,
                kind="match",
                key=best["key"] if best else None,
                field=None,
                candidates={
                    "resource_id": resource_id,
                    "source_row": row,
                    **details.get(uid, {}),
                    "candidates": [
                        {"key": c["key"], "probability": round(float(c["probability"]), 4), "row": records.get(c["key"], {})}
                        for c in candidates
                    ],
                },
                chosen=None,
                status="open",
            )
        )


def _load(session: Session, principal: Principal, registry: Registry, golden: pl.DataFrame, *, files_root: Path) -> DataImport:
    """Load the records into the registry's table: one all-or-nothing import that replaces them."""
    from citybrain.core.auth.principal import cli_principal
    from citybrain.datahub import imports

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"registry-{registry.kind}.csv"
        golden.write_csv(path)
        actor = principal if principal.via == "cli" else cli_principal(principal.actor_ref())
        record = imports.import_file(session, actor, registry.resource_id, path, filename=path.name, files_root=files_root, mode="replace")
    if record.status != "succeeded":
        raise Conflict("datahub.registry.load_rejected", import_id=record.id, errors=record.errors_count, keep_changes=True)
    return record


# -- stewards' work --------------------------------------------------------------------------------


def list_conflicts(
    session: Session,
    principal: Principal,
    bureau_id: int | None,
    kind: str,
    *,
    status: str = "open",
    conflict_kind: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[RegistryConflict], int]:
    """The data bureau's stewards' queue. The values in dispute may be personal, so each page of the
    queue is audited as a read with the purpose of settling them."""
    _require_bureau(principal, bureau_id)
    get(session, kind)
    if any(f["sensitivity"] in ("personal", "sensitive_personal") for f in spec(kind).fields):
        audit.record(
            session,
            principal,
            "datahub.registry.conflicts_read",
            subject_type=SUBJECT,
            subject_id=kind,
            purpose="基础库数据冲突处理",
            personal=True,
            detail={"status": status, "offset": offset, "limit": limit},
        )
    stmt = select(RegistryConflict).where(RegistryConflict.registry_kind == kind, RegistryConflict.status == status)
    if conflict_kind:
        stmt = stmt.where(RegistryConflict.kind == conflict_kind)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return list(session.scalars(stmt.order_by(RegistryConflict.id).offset(offset).limit(limit))), total


def open_conflict_counts(session: Session) -> dict[str, int]:
    stmt = (
        select(RegistryConflict.registry_kind, func.count())
        .where(RegistryConflict.status == "open")
        .group_by(RegistryConflict.registry_kind)
    )
    return {k: int(n) for k, n in session.execute(stmt)}


def resolve(
    session: Session,
    principal: Principal,
    bureau_id: int | None,
    kind: str,
    conflict_id: int,
    *,
    value: str | None = None,
    key: str | None = None,
    no_match: bool = False,
    note: str | None = None,
) -> RegistryConflict:
    """A steward decides: which value a field takes (``value``), or which record a keyless row is
    (``key``, or ``no_match``). The decision applies from the next consolidation on."""
    _require_bureau(principal, bureau_id)
    conflict = session.get(RegistryConflict, conflict_id)
    if conflict is None or conflict.registry_kind != kind:
        raise NotFound("datahub.registry.conflict_not_found", id=conflict_id)
    if conflict.status != "open":
        raise Conflict("datahub.registry.conflict_closed", id=conflict_id)
    if conflict.kind == "value":
        offered = {str(c["value"]) for c in conflict.candidates.get("values", [])}
        if value is None or value not in offered:
            raise _field_error(("value",), "datahub.registry.value_not_offered", values=" / ".join(sorted(offered)))
        conflict.resolution = value
    else:
        offered = {c["key"] for c in conflict.candidates.get("candidates", [])}
        if no_match:
            chosen = None
        elif key is None or key not in offered:
            raise _field_error(("key",), "datahub.registry.key_not_offered", keys=" / ".join(sorted(offered)) or "-")
        else:
            chosen = key
        conflict.resolution = chosen or ""
        resource_id, source_row = int(conflict.candidates["resource_id"]), str(conflict.candidates["source_row"])
        session.execute(
            delete(GoldenLink).where(
                GoldenLink.registry_kind == kind, GoldenLink.resource_id == resource_id, GoldenLink.source_row == source_row[:255]
            )
        )
        session.add(
            GoldenLink(
                registry_kind=kind,
                resource_id=resource_id,
                source_row=source_row[:255],
                key=chosen,
                method="steward",
                probability=None,
                decided_by=principal.actor_ref(),
            )
        )
    conflict.status = "resolved"
    conflict.note = note
    conflict.resolved_by = principal.actor_ref()
    conflict.resolved_at = utcnow()
    session.flush()
    audit.record(
        session,
        principal,
        "datahub.registry.conflict_resolved",
        subject_type=SUBJECT,
        subject_id=kind,
        detail={"conflict": conflict.id, "kind": conflict.kind, "field": conflict.field},
    )
    return conflict


# -- reading a record ------------------------------------------------------------------------------


@dataclass
class GoldenView:
    kind: str
    key: str
    values: dict[str, Any]
    provenance: dict[str, Any]
    sources: int
    conflicts: list[RegistryConflict]
    links: list[GoldenLink]
    masked: list[str]


def record(
    session: Session, principal: Principal, bureau_id: int | None, kind: str, key: str, *, purpose: str, secret: str, clear: bool = False
) -> GoldenView:
    """One registry record with each field's provenance, for the data bureau's stewards. Personal
    fields are masked unless ``clear``; every read of a person's record is audited with its purpose,
    so it shows in that person's access trail."""
    from citybrain.datahub import dataservices, ingest

    _require_bureau(principal, bureau_id)
    registry_spec = spec(kind)
    registry = get(session, kind)
    if not purpose.strip():
        raise _field_error(("purpose",), "audit.purpose_required")
    resource = session.get(Resource, registry.resource_id)
    assert resource is not None
    _, schema = _published_schema(session, resource)
    table = tables.data_table(resource.id, schema)
    parts = key.split(KEY_SEPARATOR)
    if len(parts) != len(registry_spec.key):
        raise NotFound("datahub.registry.record_not_found", key=key)
    stmt = select(*[table.c[f.name] for f in schema.fields])
    for name, part in zip(registry_spec.key, parts, strict=True):
        stmt = stmt.where(table.c[name] == part)
    row = session.execute(stmt).mappings().first() if tables_exist(session, table.name) else None
    golden = session.get(GoldenRecord, (kind, key))
    if row is None or golden is None:
        raise NotFound("datahub.registry.record_not_found", key=key)
    personal = [f for f in schema.fields if f.sensitivity in (Sensitivity.PERSONAL, Sensitivity.SENSITIVE_PERSONAL)]
    masked = [] if clear else [f.name for f in personal]
    values = {}
    for f in schema.fields:
        value = row[f.name]
        if f.name in masked and value is not None:
            # a date keeps its year (an age band is often all a steward needs); the rest as imports mask
            value = f"{value:%Y}-**-**" if f.type == "date" and hasattr(value, "year") else ingest.mask(str(value), f)
        values[f.name] = value.isoformat() if hasattr(value, "isoformat") else value
    people = [f.name for f in schema.fields if f.identifier == "resident_id"]
    if personal:
        audit.record(
            session,
            principal,
            "datahub.registry.record_read",
            subject_type=dataservices.PERSON_SUBJECT if people else SUBJECT,
            subject_id=dataservices.person_ref(secret, str(row[people[0]])) if people else f"{kind}:{key}",
            purpose=purpose,
            personal=True,
            detail={"service": f"registry:{kind}", "fields": sorted(f.name for f in personal), "in_clear": not masked},
        )
    conflicts = list(
        session.scalars(
            select(RegistryConflict)
            .where(RegistryConflict.registry_kind == kind, RegistryConflict.key == key)
            .order_by(RegistryConflict.id.desc())
            .limit(50)
        )
    )
    links = list(session.scalars(select(GoldenLink).where(GoldenLink.registry_kind == kind, GoldenLink.key == key)))
    return GoldenView(kind, key, values, golden.provenance, golden.sources, conflicts, links, masked)


def figures(session: Session) -> dict[str, int]:
    """Registry records per kind, for the operations center."""
    stmt = select(GoldenRecord.registry_kind, func.count()).group_by(GoldenRecord.registry_kind)
    counts = {kind: int(n) for kind, n in session.execute(stmt)}
    return {s.kind: int(counts.get(s.kind, 0)) for s in SPECS}

"""Quality rules (质量规则): the kinds and the workbench's create/edit/retire (R-GOV-1); the YAML files per entry
are :mod:`gongshu.quality.service.rules_yaml`, the defaults from the catalogue :mod:`.rule_defaults`.

A rule is data: ``(entry, key, version)``. Editing a rule retires its row and adds the next version of the same
key, so a check result always names the exact rule text that ran. :data:`KINDS` lists what a rule can be, with the
GB/T 36344-2018 dimension it measures and its parameters; :func:`.rule_defaults.ensure_defaults` derives the rules every published
entry gets from its data items (types, lengths, keys, identifiers, code tables, dates, data elements).

Rules name data items by their catalogue name (``item``); a check maps them to the version's store columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import SYSTEM, Actor, can, require
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.ingest.service.codes import CODE_TABLES
from gongshu.quality.models import SEVERITIES, QualityRule
from gongshu.quality.service import engine

declare("quality.rules.manage", "维护本部门目录的质量规则（主管部门可维护全部）",
        "Maintain the quality rules of one's department's entries (the authority: all)",
        {"dept_officer", "authority_admin"})
declare("quality.check.run", "对目录的当前数据发起质量检查", "Run a quality check of an entry's current data",
        {"dept_officer", "authority_admin", "authority_reviewer"})
declare("quality.view", "查看质量规则与检查结果（部门看本部门，主管部门和审计看全市）",
        "See quality rules and check results (departments their own, the authority and auditors all)",
        {"dept_officer", "dept_staff"} | AUTHORITY_ROLES | {"auditor"}, writes=False)

CITY_WIDE = AUTHORITY_ROLES | {"auditor"}


# Kinds ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    type: str  # choice int share bool str regex bound values item items entry element ref_item keys
    zh: str
    en: str
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kind:
    name: str
    zh: str
    en: str
    dimension: str
    item: str  # "one": the rule is about one data item; "none": the whole record/entry; "optional"
    params: tuple[Param, ...] = ()
    #: at least one of these parameters must be given
    one_of: tuple[str, ...] = ()
    doc_zh: str = ""


P = Param
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("format", "格式（类型、长度）", "Format (type, length)", "normative", "one",
         (P("type", "choice", "类型", "type", choices=tuple("CNYDTLMGBIF")), P("length", "int", "最大长度", "max length"),
          P("min_length", "int", "最小长度", "min length"), P("trim", "bool", "不含首尾空格", "no surrounding spaces"),
          P("pattern", "regex", "格式（正则表达式）", "pattern (regex)")),
         doc_zh="取值符合信息项的类型和长度"),
    Kind("code_table", "代码表", "Code table", "normative", "one",
         (P("table", "choice", "代码表", "code table", choices=tuple(CODE_TABLES)),
          P("values", "values", "允许的取值", "allowed values")), one_of=("table", "values"),
         doc_zh="取值在代码表（性别、婚姻、民族、行政区划）或给定清单中"),
    Kind("checksum", "标识码校验", "Identifier checksum", "normative", "one",
         (P("scheme", "choice", "校验方案", "scheme", required=True, choices=("ric", "uscc")),),
         doc_zh="公民身份号码（GB 11643）或统一社会信用代码（GB 32100）的格式与校验位正确"),
    Kind("element", "数据元符合性", "Data element conformity", "normative", "one",
         (P("element", "element", "数据元代码", "element code", required=True),),
         doc_zh="取值符合所绑定数据元的类型、长度和代码表"),
    Kind("required", "必填", "Required", "complete", "one", (), doc_zh="信息项不为空"),
    Kind("record_complete", "记录完整", "Record completeness", "complete", "none",
         (P("threshold", "share", "填写比例下限", "minimum share filled"),
          P("min_filled", "int", "至少填写项数", "minimum items filled"),
          P("items", "items", "统计的信息项（默认全部）", "items counted (default all)")),
         one_of=("threshold", "min_filled"), doc_zh="每条记录已填写的信息项不少于给定比例或项数"),
    Kind("range", "取值范围", "Range", "accurate", "one",
         (P("min", "bound", "下限", "minimum"), P("max", "bound", "上限", "maximum")), one_of=("min", "max"),
         doc_zh="数值或日期在上下限之间（日期可写 today）"),
    Kind("pattern", "格式（正则）", "Pattern", "accurate", "one",
         (P("regex", "regex", "正则表达式", "regular expression", required=True),), doc_zh="取值整体匹配正则表达式"),
    Kind("reference", "参照数据", "Reference data", "accurate", "one",
         (P("entry", "entry", "参照目录代码", "referenced entry code", required=True),
          P("item", "ref_item", "参照信息项", "referenced item", required=True)),
         doc_zh="取值存在于另一目录当前数据的某一信息项中"),
    Kind("unique", "唯一性", "Uniqueness", "accurate", "optional",
         (P("items", "items", "组合信息项", "combined items"),), doc_zh="一个或多个信息项的组合不重复（唯一性）"),
    Kind("row_rule", "行内一致", "Within-row consistency", "consistent", "one",
         (P("check", "choice", "检查", "check", required=True, choices=engine.ROW_CHECKS),
          P("other", "item", "另一信息项", "other item", required=True),
          P("op", "choice", "比较符", "operator", choices=("=", "!=", "<", "<=", ">", ">="))),
         doc_zh="同一条记录内：出生日期 = 身份号码第 7–14 位（ric_birth）、性别与身份号码第 17 位奇偶（ric_sex）或两项比较"),
    Kind("cross_table", "跨表一致", "Cross-table consistency", "consistent", "one",
         (P("entry", "entry", "对照目录代码", "other entry code", required=True),
          P("item", "ref_item", "对照信息项（默认同名）", "other item (default: same name)"),
          P("keys", "keys", "关联主键（本目录项=对方项）", "join keys (mine=theirs)"),
          P("mode", "choice", "比对方式", "mode", choices=("equals", "exists"))),
         doc_zh="同一主键在另一目录当前版本中存在（exists）且取值相同（equals）"),
    Kind("freshness", "更新及时", "Freshness", "timely", "none",
         (P("grace_days", "int", "宽限天数", "grace days"),), doc_zh="数据不早于更新周期允许的日期（按归集的应更新日期）"),
    Kind("time_order", "时间先后", "Time order", "timely", "one",
         (P("other", "item", "较晚的信息项", "later item", required=True),
          P("strict", "bool", "严格早于", "strictly before")), doc_zh="信息项的时间不晚于另一信息项"),
    Kind("accessible", "可访问", "Accessible", "accessible", "none", (),
         doc_zh="版本的快照存在、可读取，且 SM3 摘要与入库记录一致"),
)}
assert set(KINDS) == set(engine.ENGINE_KINDS)
RULE_FIELDS = ("key", "kind", "item", "params", "severity", "weight", "tolerance", "description", "status")


# Permissions ---------------------------------------------------------------------------------

def may_view(actor: Actor, org_id: int) -> bool:
    """Departments see their own entries' rules and checks; the authority and auditors every department's."""
    if not can(actor, "quality.view"):
        return False
    return bool(actor.roles & CITY_WIDE) or actor.org_id == org_id


def require_view(actor: Actor, org_id: int) -> None:
    require(actor, "quality.view")
    if not may_view(actor, org_id):
        raise Forbidden("只能查看本部门目录的数据质量", "You may see the data quality of your own department's entries only")


def may(actor: Actor, action: str, org_id: int) -> bool:
    """``quality.rules.manage`` / ``quality.check.run``: the source department's officers, or the authority."""
    if actor == SYSTEM:
        return True
    return can(actor, action) and (actor.is_authority or actor.org_id == org_id)


def require_may(actor: Actor, action: str, org_id: int) -> None:
    if actor == SYSTEM:
        return
    require(actor, action)
    if not may(actor, action, org_id):
        raise Forbidden("只有目录的提供部门或数据主管部门可以执行此操作",
                        "Only the entry's department or the authority may do this")


# Reading -------------------------------------------------------------------------------------

def entry_items(session: Session, *, entry_id: int) -> dict[str, dict]:
    """The entry's data items by name, from its latest published version (else its working copy)."""
    try:
        snap = catalog_entries.published_snapshot(session, entry_id=entry_id)
        items = snap["items"]
    except NotFound:
        entry = catalog_entries.fetch(session, entry_id=entry_id)
        items = catalog_entries.snapshot(session, entry=entry)["items"]
    return {it["name"]: it for it in sorted(items, key=lambda it: it["seq"])}


def active_rules(session: Session, *, entry_id: int) -> list[QualityRule]:
    """The entry's active rules (no permission check: for checks)."""
    return list(session.scalars(select(QualityRule).where(QualityRule.entry_id == entry_id,
                                                          QualityRule.status == "active")
                                .order_by(QualityRule.dimension, QualityRule.key)))


def list_rules(session: Session, *, actor: Actor, entry_id: int, include_retired: bool = False) -> list[QualityRule]:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require_view(actor, entry.org_id)
    stmt = select(QualityRule).where(QualityRule.entry_id == entry_id)
    if not include_retired:
        stmt = stmt.where(QualityRule.status == "active")
    return list(session.scalars(stmt.order_by(QualityRule.key, QualityRule.version.desc())))


def get_rule(session: Session, *, actor: Actor, rule_id: int) -> QualityRule:
    rule = session.get(QualityRule, rule_id)
    if rule is None:
        raise NotFound(f"质量规则不存在（编号 {rule_id}）", f"Quality rule {rule_id} not found")
    require_view(actor, catalog_entries.fetch(session, entry_id=rule.entry_id).org_id)
    return rule


def rules_by_id(session: Session, *, rule_ids: Sequence[int]) -> dict[int, QualityRule]:
    if not rule_ids:
        return {}
    return {r.id: r for r in session.scalars(select(QualityRule).where(QualityRule.id.in_(list(set(rule_ids)))))}


def history(session: Session, *, actor: Actor, rule_id: int) -> list[QualityRule]:
    """Every version of the rule's key, newest first."""
    rule = get_rule(session, actor=actor, rule_id=rule_id)
    return list(session.scalars(select(QualityRule).where(QualityRule.entry_id == rule.entry_id,
                                                          QualityRule.key == rule.key)
                                .order_by(QualityRule.version.desc())))


# Validation ----------------------------------------------------------------------------------

def _bad(zh: str, en: str, field: str) -> Invalid:
    return Invalid(zh, en, field=field)


def _param(session: Session, p: Param, value: Any, items: Mapping[str, dict], cache: dict) -> Any:
    field = f"params.{p.name}"
    if p.type == "choice":
        text = str(value).strip()
        if text not in p.choices:
            raise _bad(f"“{p.zh}”应为 {'、'.join(p.choices)} 之一", f"'{p.en}' must be one of {', '.join(p.choices)}", field)
        return text
    if p.type == "int":
        if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", str(value).strip()):
            raise _bad(f"“{p.zh}”应为整数", f"'{p.en}' must be an integer", field)
        n = int(str(value).strip())
        if n < 0:
            raise _bad(f"“{p.zh}”不能为负数", f"'{p.en}' must not be negative", field)
        return n
    if p.type == "share":
        try:
            x = float(value)
        except (TypeError, ValueError):
            x = -1.0
        if isinstance(value, bool) or not 0 <= x <= 1:
            raise _bad(f"“{p.zh}”应为 0 到 1 之间的比例", f"'{p.en}' must be a share between 0 and 1", field)
        return x
    if p.type == "bool":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "1", "yes", "是"):
            return True
        if str(value).strip().lower() in ("false", "0", "no", "否", ""):
            return False
        raise _bad(f"“{p.zh}”应为是/否（true/false）", f"'{p.en}' must be true or false", field)
    if p.type == "str":
        return str(value).strip()
    if p.type == "regex":
        text = str(value)
        err = engine.regex_error(text)
        if err:
            raise _bad(f"“{p.zh}”无效：{err}", f"'{p.en}' is invalid: {err}", field)
        return text
    if p.type == "bound":
        return _bound(p, value, field)
    if p.type == "values":
        values = value if isinstance(value, list) else [v for v in re.split(r"[,，、\s]+", str(value)) if v]
        values = [str(v).strip() for v in values if str(v).strip()]
        if not values:
            raise _bad(f"“{p.zh}”至少要有一个取值", f"'{p.en}' needs at least one value", field)
        return values
    if p.type in ("item", "items"):
        names = [value] if p.type == "item" else (value if isinstance(value, list) else
                                                    [v for v in re.split(r"[,，、]+", str(value)) if v.strip()])
        names = [str(n).strip() for n in names]
        unknown = [n for n in names if n not in items]
        if unknown or not names:
            raise _bad(f"“{p.zh}”中的信息项“{'、'.join(unknown) or '（空）'}”不在本目录中",
                       f"'{p.en}': item {', '.join(unknown) or '(empty)'} is not in this entry", field)
        return names[0] if p.type == "item" else names
    if p.type == "entry":
        code = str(value).strip()
        other = catalog_entries.find_by_code(session, code=code)
        if other is None or other.version < 1:
            raise _bad(f"目录代码“{code}”不存在或尚未发布", f"No published entry with code '{code}'", field)
        cache["entry"] = other
        return code
    if p.type == "element":
        code = str(value).strip()
        if catalog_elements.element_by_code(session, code=code) is None:
            raise _bad(f"数据元代码“{code}”不存在", f"Unknown data element code '{code}'", field)
        return code
    if p.type == "ref_item":
        return str(value).strip()  # checked against the referenced entry below
    if p.type == "keys":
        pairs = value if isinstance(value, list) else [v for v in re.split(r"[,，、]+", str(value)) if v.strip()]
        out = []
        for pair in pairs:
            mine, _, theirs = str(pair).partition("=")
            mine, theirs = mine.strip(), (theirs.strip() or mine.strip())
            if mine not in items:
                raise _bad(f"关联主键“{mine}”不在本目录中", f"Join key '{mine}' is not in this entry", field)
            out.append(mine if mine == theirs else f"{mine}={theirs}")
        return out
    raise ValueError(p.type)


def _bound(p: Param, value: Any, field: str) -> Any:
    if isinstance(value, bool):
        raise _bad(f"“{p.zh}”应为数字、日期（YYYY-MM-DD）或 today", f"'{p.en}' must be a number, a date or today", field)
    if isinstance(value, int | float):
        return value
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if text.lower() == "today":
        return "today"
    try:
        x = float(text)
        return int(x) if x.is_integer() and "." not in text else x
    except ValueError:
        pass
    try:
        return date.fromisoformat(text).isoformat() if len(text) <= 10 else datetime.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise _bad(f"“{p.zh}”应为数字、日期（YYYY-MM-DD）或 today", f"'{p.en}' must be a number, a date or today",
                   field) from exc


def normalise(session: Session, *, entry_id: int, kind: str, item: str = "", params: Mapping[str, Any] | None = None,
              severity: str = "major", weight: Any = 1.0, tolerance: Any = 0.0) -> dict[str, Any]:
    """Check one rule's fields against its kind and the entry's items; returns them cleaned.

    Raises :class:`Invalid` naming the field (``kind``, ``item``, ``params.<name>``, ``severity`` …)."""
    k = KINDS.get((kind or "").strip())
    if k is None:
        raise _bad(f"规则类型“{kind}”未知（可选：{'、'.join(KINDS)}）", f"Unknown rule kind '{kind}' ({', '.join(KINDS)})",
                   "kind")
    items = entry_items(session, entry_id=entry_id)
    item = (item or "").strip()
    if k.item == "one" and not item:
        raise _bad(f"“{k.zh}”规则须指定信息项", f"A '{k.en}' rule needs a data item", "item")
    if k.item == "none" and item:
        raise _bad(f"“{k.zh}”规则针对整条记录，不指定信息项", f"A '{k.en}' rule is about whole records: no item", "item")
    if item and item not in items:
        raise _bad(f"信息项“{item}”不在本目录中", f"Item '{item}' is not in this entry", "item")
    raw = dict(params or {})
    known = {p.name: p for p in k.params}
    extra = [n for n in raw if n not in known]
    if extra:
        raise _bad(f"“{k.zh}”规则没有参数 {'、'.join(extra)}（可用：{'、'.join(known) or '无'}）",
                   f"A '{k.en}' rule has no parameter {', '.join(extra)} (has: {', '.join(known) or 'none'})",
                   f"params.{extra[0]}")
    cache: dict[str, Any] = {}
    clean: dict[str, Any] = {}
    for p in k.params:
        value = raw.get(p.name)
        if value is None or (isinstance(value, str | list) and not value):
            if p.required:
                raise _bad(f"“{k.zh}”规则须填写“{p.zh}”", f"A '{k.en}' rule needs '{p.en}'", f"params.{p.name}")
            continue
        clean[p.name] = _param(session, p, value, items, cache)
    if k.one_of and not any(n in clean for n in k.one_of):
        names = "、".join(known[n].zh for n in k.one_of)
        raise _bad(f"“{k.zh}”规则至少要填写 {names} 之一", f"A '{k.en}' rule needs one of {', '.join(k.one_of)}",
                   f"params.{k.one_of[0]}")
    if k.name == "unique" and not item and not clean.get("items"):
        raise _bad("唯一性规则须指定信息项或组合信息项", "A uniqueness rule needs an item or combined items", "item")
    if "entry" in cache:
        other = entry_items(session, entry_id=cache["entry"].id)
        if k.name == "cross_table":
            clean.setdefault("item", item)
            if not clean.get("keys"):
                clean["keys"] = [n for n, it in items.items() if it.get("is_key")]
                if not clean["keys"]:
                    raise _bad("本目录没有主键信息项，请填写关联主键", "This entry has no key items: give the join keys",
                               "params.keys")
            for pair in clean["keys"]:
                theirs = pair.partition("=")[2] or pair
                if theirs not in other:
                    raise _bad(f"对照目录没有信息项“{theirs}”", f"The other entry has no item '{theirs}'", "params.keys")
        if clean.get("item") not in other:
            raise _bad(f"目录“{cache['entry'].name}”没有信息项“{clean.get('item')}”",
                       f"Entry '{cache['entry'].name}' has no item '{clean.get('item')}'", "params.item")
    if k.name == "row_rule" and clean.get("check") == "compare" and "op" not in clean:
        clean["op"] = "="
    if severity not in SEVERITIES:
        raise _bad(f"严重程度应为 {'、'.join(SEVERITIES)} 之一", f"Severity must be one of {', '.join(SEVERITIES)}",
                   "severity")
    try:
        w, tol = float(weight), float(tolerance)
    except (TypeError, ValueError) as exc:
        raise _bad("权重和容忍比例应为数字", "Weight and tolerance must be numbers", "weight") from exc
    if not 0 < w <= 100:
        raise _bad("权重应大于 0、不超过 100", "Weight must be above 0 and at most 100", "weight")
    if not 0 <= tol <= 1:
        raise _bad("容忍比例应在 0 到 1 之间", "Tolerance must be between 0 and 1", "tolerance")
    return {"kind": k.name, "dimension": k.dimension, "item": item, "params": clean, "severity": severity,
            "weight": w, "tolerance": tol}


def parse_params(text: str) -> dict[str, Any]:
    """Parameters typed in a form as YAML or JSON (``{min: 0, max: 150}`` or one ``name: value`` per line)."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark else ""
        raise _bad(f"参数{where}不是有效的 YAML/JSON", "The parameters are not valid YAML/JSON"
                   + (f" (line {mark.line + 1})" if mark else ""), "params") from exc
    if not isinstance(value, dict):
        raise _bad("参数应写成“名称: 取值”，每行一个", "Write parameters as 'name: value', one per line", "params")
    return value


def default_key(kind: str, item: str, params: Mapping[str, Any]) -> str:
    """The key a rule gets when none is given, e.g. ``required:姓名``, ``row_rule:ric_birth:身份证:出生日期``."""
    if kind == "unique":
        return "unique:" + "+".join(params.get("items") or [item])
    if kind == "row_rule":
        return f"row_rule:{params.get('check')}:{item}:{params.get('other')}"
    if kind == "time_order":
        return f"time_order:{item}:{params.get('other')}"
    if kind in ("reference", "cross_table"):
        return f"{kind}:{item}:{params.get('entry')}"
    if kind == "range":
        return f"range:{item}"
    return f"{kind}:{item}" if item else kind


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 200 or any(c in key for c in "\r\n\t"):
        raise _bad("规则标识应为 1–200 个字符、不含换行", "A rule key has 1-200 characters and no line breaks", "key")
    return key


# Writing -------------------------------------------------------------------------------------

def state(rule: QualityRule) -> dict[str, Any]:
    return {"key": rule.key, "version": rule.version, "kind": rule.kind, "item": rule.item, "params": rule.params,
            "severity": rule.severity, "weight": rule.weight, "tolerance": rule.tolerance,
            "description": rule.description, "status": rule.status}


def current_rule(session: Session, entry_id: int, key: str) -> QualityRule | None:
    return session.scalar(select(QualityRule).where(QualityRule.entry_id == entry_id, QualityRule.key == key,
                                                    QualityRule.status == "active"))


def _next_version(session: Session, entry_id: int, key: str) -> int:
    return (session.scalar(select(func.max(QualityRule.version)).where(QualityRule.entry_id == entry_id,
                                                                      QualityRule.key == key)) or 0) + 1


def add_version(session: Session, actor: Actor, entry_id: int, key: str, clean: dict[str, Any], description: str,
         origin: str) -> QualityRule:
    rule = QualityRule(entry_id=entry_id, key=key, version=_next_version(session, entry_id, key), status="active",
                       origin=origin, description=(description or "").strip()[:2000], created_by=actor.user_id,
                       **clean)
    session.add(rule)
    session.flush()
    return rule


def create_rule(session: Session, *, actor: Actor, entry_id: int, kind: str, item: str = "",
                params: Mapping[str, Any] | None = None, severity: str = "major", weight: Any = 1.0,
                tolerance: Any = 0.0, description: str = "", key: str | None = None,
                origin: str = "workbench") -> QualityRule:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require_may(actor, "quality.rules.manage", entry.org_id)
    clean = normalise(session, entry_id=entry.id, kind=kind, item=item, params=params, severity=severity,
                      weight=weight, tolerance=tolerance)
    key = check_key(key or default_key(clean["kind"], clean["item"], clean["params"]))
    if current_rule(session, entry.id, key) is not None:
        raise Conflict(f"本目录已有规则“{key}”，请修改该规则或换一个标识", f"Rule '{key}' exists; edit it or use another key",
                       field="key")
    rule = add_version(session, actor, entry.id, key, clean, description, origin)
    audit.record(session, actor=actor, action="quality.rule.create", subject_type="quality_rule", subject_id=rule.id,
                 after=state(rule), detail={"entry_id": entry.id, "key": key, "version": rule.version})
    return rule


def update_rule(session: Session, *, actor: Actor, rule_id: int, item: str | None = None,
                params: Mapping[str, Any] | None = None, severity: str | None = None, weight: Any = None,
                tolerance: Any = None, description: str | None = None, origin: str = "workbench") -> QualityRule:
    """A new version of the rule (same key and kind); the old row is retired. Unchanged fields are kept."""
    old = session.get(QualityRule, rule_id)
    if old is None:
        raise NotFound(f"质量规则不存在（编号 {rule_id}）", f"Quality rule {rule_id} not found")
    entry = catalog_entries.fetch(session, entry_id=old.entry_id)
    require_may(actor, "quality.rules.manage", entry.org_id)
    if old.status != "active":
        raise Conflict("这一版规则已停用，请修改当前版本", "This version is retired; edit the current one")
    clean = normalise(session, entry_id=entry.id, kind=old.kind, item=old.item if item is None else item,
                      params=old.params if params is None else params,
                      severity=old.severity if severity is None else severity,
                      weight=old.weight if weight is None else weight,
                      tolerance=old.tolerance if tolerance is None else tolerance)
    text = old.description if description is None else description
    if all(getattr(old, f) == clean[f] for f in ("item", "params", "severity", "weight", "tolerance")) \
            and (text or "").strip() == old.description:
        return old  # nothing changed: no new version
    before = state(old)
    old.status, old.retired_at = "retired", utcnow()
    session.flush()
    rule = add_version(session, actor, entry.id, old.key, clean, text, origin)
    audit.record(session, actor=actor, action="quality.rule.update", subject_type="quality_rule", subject_id=rule.id,
                 before=before, after=state(rule),
                 detail={"entry_id": entry.id, "key": rule.key, "version": rule.version, "replaces": old.id})
    return rule


def retire_rule(session: Session, *, actor: Actor, rule_id: int) -> QualityRule:
    rule = session.get(QualityRule, rule_id)
    if rule is None:
        raise NotFound(f"质量规则不存在（编号 {rule_id}）", f"Quality rule {rule_id} not found")
    entry = catalog_entries.fetch(session, entry_id=rule.entry_id)
    require_may(actor, "quality.rules.manage", entry.org_id)
    if rule.status != "active":
        raise Conflict("规则已停用", "The rule is already retired")
    rule.status, rule.retired_at = "retired", utcnow()
    audit.record(session, actor=actor, action="quality.rule.retire", subject_type="quality_rule", subject_id=rule.id,
                 detail={"entry_id": entry.id, "key": rule.key, "version": rule.version})
    return rule

"""Catalogue entry rules: every check on an entry and its data items, for one entry or thousands.

The rules need a few facts from the database (codes in use, grade ranks, active grading
rules, organisations, data elements).  :func:`load_context` loads them once for any number
of entries in a handful of queries, and :func:`check_many` runs the rules against that
context, so the edit form, the API, the lifecycle and the spreadsheet import all apply the
same checks.  Nothing here writes.  Field names in errors are ``items[i].field`` with ``i``
the 0-based position in ``EntryIn.items``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gongshu.auth.models import Org
from gongshu.catalog.models import (
    FORMATS,
    ITEM_TYPES,
    OPEN_RANK,
    OPEN_TYPES,
    RESOURCE_ATTRS,
    SHARING_MODES,
    SHARING_RANK,
    SHARING_TYPES,
    UPDATE_CYCLES,
    CatalogEntry,
    DataElement,
)
from gongshu.catalog.schemas import EntryIn
from gongshu.catalog.service import grading
from gongshu.errors import Invalid

_CODE = re.compile(r"^(\d+)/(\d+)$")
_CLASS = re.compile(r"^[1-3]\d{5}\d*$")
_CHUNK = 5000  # values per IN (...) list, well under SQLite's and PostgreSQL's parameter limits

#: field -> (zh, en) labels, for diffs and messages
LABELS: dict[str, tuple[str, str]] = {
    "code": ("信息资源代码", "Code"), "resource_attr": ("资源属性", "Resource attribute"),
    "class_code": ("分类码", "Classification code"), "topic": ("主题", "Topic"), "name": ("信息资源名称", "Name"),
    "summary": ("摘要", "Summary"), "format": ("信息资源格式", "Format"), "sharing_type": ("共享类型", "Sharing type"),
    "sharing_condition": ("共享条件", "Sharing condition"), "sharing_basis": ("共享依据", "Sharing basis"),
    "sharing_mode": ("共享方式", "Sharing mode"), "sharing_scope": ("共享范围", "Sharing scope"),
    "open_type": ("开放属性", "Open attribute"), "open_condition": ("开放条件", "Open condition"),
    "update_cycle": ("更新周期", "Update cycle"), "release_date": ("发布日期", "Release date"),
    "legal_basis": ("法律依据", "Legal basis"), "business": ("所属业务", "Business"),
    "source_system": ("来源信息系统", "Source system"), "sharing_period": ("共享期限", "Sharing period"),
    "collecting_org_name": ("采集部门", "Collecting department"),
    "verifying_org_name": ("核准部门", "Verifying department"),
    "related_codes": ("关联资源代码", "Related entries"), "grade": ("分级", "Grade"),
    "filed_with_authority": ("不予共享已备案", "Non-sharing filed"), "org_name": ("提供方", "Provider"),
    "type": ("数据类型", "Type"), "length": ("数据长度", "Length"), "meaning": ("含义", "Meaning"),
    "is_identifier": ("标识项", "Identifier"), "is_key": ("主键项", "Key"), "is_personal": ("个人信息", "Personal"),
    "element_code": ("数据元", "Data element"), "claims_source": ("数源部门", "Claims source"),
}


def err(fld: str, zh: str, en: str) -> dict:
    """One rule violation: ``{"field", "message", "message_en"}``."""
    return {"field": fld, "message": zh, "message_en": en}


@dataclass
class Checked:
    """What validation found out, reused by the write so nothing is computed twice."""

    errors: list[dict] = field(default_factory=list)
    class_code: str = ""
    collecting_org_id: int | None = None
    verifying_org_id: int | None = None
    item_grades: list[tuple[str, list[str]]] = field(default_factory=list)
    element_ids: list[int | None] = field(default_factory=list)
    element_sources: list[int | None] = field(default_factory=list)  # the bound elements' source departments
    entry_grade: str = "一般1"


@dataclass
class Context:
    """The database facts the rules use, loaded once by :func:`load_context`."""

    ranks: dict[str, int]  # grade code -> rank, least strict first
    rules: list[grading.RuleView]  # active grading rules (empty when every item has a grade)
    code_owner: dict[str, int]  # code -> id of the entry holding it (of the codes checked)
    orgs: dict[str, int]  # organisation as written (name, short name or USCC) -> org id
    elements: dict[str, DataElement]  # element code -> element (of the codes named)


def _chunks(values: Iterable, n: int = _CHUNK) -> Iterable[list]:
    seq = sorted(values)
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def load_context(session: Session, data: Sequence[EntryIn]) -> Context:
    """Load what the rules need for these entries: at most five queries (more only for huge batches)."""
    codes = {d.code.strip() for d in data if d.code and d.code.strip()}
    code_owner: dict[str, int] = {}
    for part in _chunks(codes):
        code_owner.update(session.execute(select(CatalogEntry.code, CatalogEntry.id)
                                          .where(CatalogEntry.code.in_(part))).all())
    wanted = {v.strip() for d in data for v in (d.collecting_org, d.verifying_org) if v and v.strip()}
    by_name: dict[str, int] = {}
    by_uscc: dict[str, int] = {}
    by_short: dict[str, int] = {}
    for part in _chunks(wanted):
        upper = sorted({v.upper() for v in part})
        for oid, name, uscc, short in session.execute(
                select(Org.id, Org.name, Org.uscc, Org.short_name)
                .where(or_(Org.name.in_(part), Org.uscc.in_(upper), Org.short_name.in_(part)))):
            for index, key in ((by_name, name), (by_uscc, uscc), (by_short, short)):
                if key is not None and (key not in index or oid < index[key]):
                    index[key] = oid
    orgs = {}
    for v in wanted:  # the lowest id among the organisations the value names, as a lookup by id would give
        found = [i for i in (by_name.get(v), by_uscc.get(v.upper()), by_short.get(v)) if i is not None]
        if found:
            orgs[v] = min(found)
    element_codes = {it.element_code.strip() for d in data for it in d.items
                     if it.element_code and it.element_code.strip()}
    elements: dict[str, DataElement] = {}
    for part in _chunks(element_codes):
        elements.update((e.code, e) for e in session.scalars(select(DataElement).where(DataElement.code.in_(part))))
    rules = grading.active_rules(session) if any(not it.grade for d in data for it in d.items) else []
    ranks = dict(sorted(grading.ranks(session).items(), key=lambda kv: kv[1]))
    return Context(ranks=ranks, rules=rules, code_owner=code_owner, orgs=orgs, elements=elements)


# The rules ------------------------------------------------------------------------------

def _vocab(errors: list[dict], fld: str, value: str | None, allowed, label: str, label_en: str) -> bool:
    if value in allowed:
        return True
    errors.append(err(fld, f"{label}“{value or ''}”无效，可选：{'、'.join(allowed)}",
                      f"Invalid {label_en} '{value or ''}'; one of: {', '.join(allowed)}"))
    return False


def _check_code(ctx: Context, data: EntryIn, existing: CatalogEntry | None, out: Checked) -> None:
    errors = out.errors
    code = (data.code or "").strip()
    m = _CODE.match(code)
    if len(code) > _MAX_LEN["code"]:
        m = None  # too long: reported with the other field lengths
    elif not m or not _CLASS.match(m.group(1)) or len(m.group(1)) > 30:
        errors.append(err("code", f"信息资源代码“{code}”格式不正确：应为“分类码/顺序码”，分类码由类（1位：1基础、2主题、3部门）、"
                                  "项（2位）、目（3位）和可选的细目组成，均为数字，例如 101001/00001",
                          f"Code '{code}' is malformed: expected 'classification/sequence' with the classification "
                          "made of class (1 digit: 1/2/3), item (2), category (3) and optional sub-category "
                          "digits, e.g. 101001/00001"))
    else:
        out.class_code = m.group(1)
        attr = RESOURCE_ATTRS.get(code[0])
        if data.resource_attr in RESOURCE_ATTRS.values() and attr != data.resource_attr:
            errors.append(err("code", f"信息资源代码首位（类）{code[0]} 表示“{attr}”，与资源属性“{data.resource_attr}”不符"
                                      "（1 基础、2 主题、3 部门）",
                              f"The code's class digit {code[0]} means '{attr}', which does not match the resource "
                              f"attribute '{data.resource_attr}' (1 basic, 2 thematic, 3 departmental)"))
        if data.class_code and data.class_code.strip() != out.class_code:
            errors.append(err("class_code", f"分类码“{data.class_code}”与信息资源代码斜杠前部分“{out.class_code}”不一致",
                              f"Classification code '{data.class_code}' differs from the code's prefix "
                              f"'{out.class_code}'"))
    if existing is not None and existing.version > 0 and code != existing.code:
        errors.append(err("code", f"目录已发布过，信息资源代码不可更改（原代码 {existing.code}）",
                          f"The entry has been published; its code is frozen (was {existing.code})"))
    elif m:
        owner = ctx.code_owner.get(code)
        if owner is not None and (existing is None or owner != existing.id):
            errors.append(err("code", f"信息资源代码“{code}”已被其他目录使用", f"Code '{code}' is already in use"))
    for i, rc in enumerate(data.related_codes):
        if not _CODE.match(rc.strip()):
            errors.append(err(f"related_codes[{i}]", f"关联资源代码“{rc}”格式不正确（应为 分类码/顺序码）",
                              f"Related code '{rc}' is malformed (classification/sequence)"))
        elif rc.strip() == code:
            errors.append(err(f"related_codes[{i}]", "关联资源代码不能是本目录自身", "An entry cannot relate to itself"))


#: text fields with a column length (the schema leaves them open; the database would refuse them)
_MAX_LEN = {"code": 60, "topic": 40, "sharing_scope": 200, "business": 200, "source_system": 200,
            "sharing_period": 100}


def _check_attributes(data: EntryIn, errors: list[dict]) -> tuple[bool, bool]:
    if not data.name.strip():
        errors.append(err("name", "请填写信息资源名称", "Name is required"))
    for fld, limit in _MAX_LEN.items():
        if len((getattr(data, fld) or "").strip()) > limit:
            zh, en = LABELS[fld]
            errors.append(err(fld, f"{zh}不能超过 {limit} 个字", f"{en} is limited to {limit} characters"))
    _vocab(errors, "resource_attr", data.resource_attr, tuple(RESOURCE_ATTRS.values()), "资源属性", "resource attribute")
    _vocab(errors, "format", data.format, FORMATS, "信息资源格式", "format")
    _vocab(errors, "update_cycle", data.update_cycle, UPDATE_CYCLES, "更新周期", "update cycle")
    _vocab(errors, "sharing_mode", data.sharing_mode, SHARING_MODES, "共享方式", "sharing mode")
    share_ok = _vocab(errors, "sharing_type", data.sharing_type, SHARING_TYPES, "共享类型", "sharing type")
    open_ok = _vocab(errors, "open_type", data.open_type, OPEN_TYPES, "开放属性", "open attribute")
    if data.sharing_type == "有条件共享":  # R-CAT-3
        if not data.sharing_condition.strip():
            errors.append(err("sharing_condition", "有条件共享的资源必须填写共享条件",
                              "Conditionally shared resources need the sharing condition"))
        if not data.sharing_basis.strip():
            errors.append(err("sharing_basis", "有条件共享的资源必须填写共享依据",
                              "Conditionally shared resources need the sharing basis"))
    if data.sharing_type == "不予共享":  # R-CAT-3
        if not data.sharing_basis.strip() and not data.legal_basis.strip():
            errors.append(err("sharing_basis", "不予共享的资源必须填写法律、行政法规或国家政策依据（共享依据或法律依据）",
                              "Resources not shared need a legal basis (sharing basis or legal basis)"))
        if open_ok and data.open_type != "不予开放":
            errors.append(err("open_type", f"不予共享的资源不得向社会开放：开放属性应为“不予开放”，而不是“{data.open_type}”",
                              f"A resource that is not shared cannot be opened: the open attribute must be "
                              f"'不予开放' (not open), not '{data.open_type}'"))
            open_ok = False
    if data.open_type == "有条件开放" and not data.open_condition.strip():
        errors.append(err("open_condition", "有条件开放的资源必须填写开放条件",
                          "Conditionally open resources need the open condition"))
    return share_ok, open_ok


def _check_items(session: Session, ctx: Context, data: EntryIn, share_ok: bool, open_ok: bool,
                 out: Checked) -> None:
    errors, ranks, found = out.errors, ctx.ranks, ctx.elements
    seen: dict[str, int] = {}
    for i, it in enumerate(data.items):
        p, name = f"items[{i}]", it.name.strip()
        who = f"第 {i + 1} 个信息项“{name}”"
        who_en = f"Data item {i + 1} '{name}'"
        if not name:
            errors.append(err(f"{p}.name", f"第 {i + 1} 个信息项缺少名称", f"Data item {i + 1} has no name"))
        elif name in seen:
            errors.append(err(f"{p}.name", f"{who}与第 {seen[name] + 1} 个信息项重名",
                              f"{who_en} has the same name as item {seen[name] + 1}"))
        else:
            seen[name] = i
        if it.type not in ITEM_TYPES:
            kinds = "、".join(f"{k} {v}" for k, v in ITEM_TYPES.items())
            errors.append(err(f"{p}.type", f"{who}的数据类型“{it.type}”无效，可选：{kinds}",
                              f"{who_en}: invalid type '{it.type}' (one of {', '.join(ITEM_TYPES)})"))
        elif it.type in ("C", "N") and not it.length:
            errors.append(err(f"{p}.length", f"{who}为{ITEM_TYPES[it.type]}型（{it.type}），必须填写数据长度",
                              f"{who_en} is of type {it.type}; its length is required"))
        if it.sharing_type is not None and _vocab(errors, f"{p}.sharing_type", it.sharing_type, SHARING_TYPES,
                                                  f"{who}的共享类型", f"sharing type of item {i + 1}"):
            if share_ok and SHARING_RANK[it.sharing_type] > SHARING_RANK[data.sharing_type]:
                errors.append(err(f"{p}.sharing_type", f"{who}的共享类型“{it.sharing_type}”比所属资源（{data.sharing_type}）更开放；"
                                                       "信息项不得比资源更开放",
                                  f"{who_en} is shared more openly ('{it.sharing_type}') than its resource "
                                  f"('{data.sharing_type}')"))
        if it.open_type is not None and _vocab(errors, f"{p}.open_type", it.open_type, OPEN_TYPES,
                                               f"{who}的开放属性", f"open attribute of item {i + 1}"):
            if open_ok and OPEN_RANK[it.open_type] > OPEN_RANK[data.open_type]:
                errors.append(err(f"{p}.open_type", f"{who}的开放属性“{it.open_type}”比所属资源（{data.open_type}）更开放；"
                                                    "信息项不得比资源更开放",
                                  f"{who_en} is more open ('{it.open_type}') than its resource "
                                  f"('{data.open_type}')"))
        element = None
        if it.element_code and it.element_code.strip():
            element = found.get(it.element_code.strip())
            if element is None:
                errors.append(err(f"{p}.element_code", f"{who}关联的数据元代码“{it.element_code}”不存在",
                                  f"{who_en}: unknown data element code '{it.element_code}'"))
        out.element_ids.append(element.id if element else None)
        out.element_sources.append(element.source_org_id if element else None)
        if it.grade:
            if it.grade not in ranks:
                errors.append(err(f"{p}.grade", f"{who}的分级“{it.grade}”无效，可选：{'、'.join(ranks)}",
                                  f"{who_en}: unknown grade '{it.grade}' (one of {', '.join(ranks)})"))
            out.item_grades.append((it.grade, ["填报人指定"]))
        else:
            s = grading.suggest(session, item=it, element=element, rules=ctx.rules)
            out.item_grades.append((s.grade, list(s.reasons)))


def _check_grade(data: EntryIn, ranks: dict[str, int], out: Checked) -> None:
    """就高从严 (R-CAT-5): the entry's grade is at least the highest grade of its items."""
    graded = [(g, data.items[i].name.strip(), data.items[i].grade is None)
              for i, (g, _) in enumerate(out.item_grades) if g in ranks]
    top = max(graded, key=lambda t: ranks[t[0]], default=None)
    if data.grade is None or data.grade == "":
        out.entry_grade = top[0] if top else "一般1"
        return
    if data.grade not in ranks:
        out.errors.append(err("grade", f"资源分级“{data.grade}”无效，可选：{'、'.join(ranks)}",
                              f"Unknown grade '{data.grade}' (one of {', '.join(ranks)})"))
        return
    out.entry_grade = data.grade
    higher = [t for t in graded if ranks[t[0]] > ranks[data.grade]]
    if higher:
        worst = max(higher, key=lambda t: ranks[t[0]])
        names = "、".join(f"“{n}”（{g}{'，按分级规则建议' if sug else ''}）" for g, n, sug in higher[:3])
        more = f"等 {len(higher)} 项" if len(higher) > 3 else ""
        out.errors.append(err("grade", f"资源分级“{data.grade}”低于信息项{names}{more}的分级；按就高从严，资源分级应不低于"
                                       f"“{worst[0]}”",
                              f"The entry grade '{data.grade}' is lower than that of data item(s) "
                              f"{', '.join(n for _, n, _ in higher)}; by 'highest applies' it must be at least "
                              f"'{worst[0]}'"))


def _check(session: Session, ctx: Context, data: EntryIn, existing: CatalogEntry | None) -> Checked:
    out = Checked()
    _check_code(ctx, data, existing, out)
    share_ok, open_ok = _check_attributes(data, out.errors)
    for fld, value, zh, en in (("collecting_org", data.collecting_org, "采集部门", "collecting department"),
                               ("verifying_org", data.verifying_org, "核准部门", "verifying department")):
        v = (value or "").strip()
        org_id = ctx.orgs.get(v) if v else None
        if v and org_id is None:
            out.errors.append(err(fld, f"{zh}“{value}”不存在（请填写机构全称或统一社会信用代码）",
                                  f"Unknown {en} '{value}' (give the full name or the USCC)"))
        else:
            setattr(out, f"{fld}_id", org_id)
    _check_items(session, ctx, data, share_ok, open_ok, out)
    _check_grade(data, ctx.ranks, out)
    return out


def check_many(session: Session, *, data: Sequence[EntryIn],
               existing: Sequence[CatalogEntry | None]) -> list[Checked]:
    """Run every rule on each would-be entry (``existing[i]`` is the entry ``data[i]`` would overwrite,
    or None for a new one) against one shared context.  A code may be used once in the batch: a
    later entry with the same code is told it is in use, as it would be once the first is saved."""
    if len(data) != len(existing):
        raise ValueError("data and existing differ in length")
    ctx = load_context(session, data)
    out = []
    for i, (d, e) in enumerate(zip(data, existing, strict=True)):
        checked = _check(session, ctx, d, e)
        code = (d.code or "").strip()
        if code:
            ctx.code_owner.setdefault(code, e.id if e is not None else -1 - i)
        out.append(checked)
    return out


def check(session: Session, *, data: EntryIn, existing: CatalogEntry | None) -> Checked:
    """:func:`check_many` for one entry."""
    return check_many(session, data=[data], existing=[existing])[0]


def raise_if(checked: Checked) -> None:
    errs = checked.errors
    if errs:
        more, more_en = (f"（共 {len(errs)} 处问题）", f" ({len(errs)} problems)") if len(errs) > 1 else ("", "")
        raise Invalid(errs[0]["message"] + more, errs[0]["message_en"] + more_en, field=errs[0]["field"],
                      details=errs)


_PYDANTIC_ZH = {
    "missing": "必须填写", "string_too_short": "不能为空", "string_too_long": "过长", "int_parsing": "应为整数",
    "int_type": "应为整数", "int_from_float": "应为整数", "greater_than_equal": "应为正数", "less_than_equal": "过大",
    "date_parsing": "应为日期（YYYY-MM-DD）", "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_type": "应为日期（YYYY-MM-DD）", "bool_parsing": "应为是/否", "bool_type": "应为是/否",
    "string_type": "应为文本", "list_type": "应为列表", "too_short": "至少需要一项", "model_type": "应为对象",
    "dict_type": "应为对象", "model_attributes_type": "应为对象",
}


def _loc_field(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_entry(raw: object) -> tuple[EntryIn | None, list[dict]]:
    """Build an EntryIn from raw input (a JSON body or a parsed form); shape errors come back in the same
    form as ``entries.validate_entry``'s, e.g. ``items[0].length`` ``应为整数``."""
    try:
        return EntryIn.model_validate(raw), []
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = tuple(e.get("loc", ()))
            fld = _loc_field(loc)
            if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
                part = "名称" if loc[-1] == "name" else LABELS.get(str(loc[-1]), (str(loc[-1]),))[0]
                label = f"第 {loc[1] + 1} 个信息项的{part}" if len(loc) > 2 else f"第 {loc[1] + 1} 个信息项"
            elif loc and loc[0] == "items":
                label = "信息项"
            else:
                label = LABELS.get(str(loc[-1]), (fld,))[0] if loc else "内容"
            errors.append(err(fld, f"{label}：{_PYDANTIC_ZH.get(e.get('type', ''), '取值无效')}",
                              f"{fld or 'body'}: {e.get('msg', 'invalid')}"))
        return None, errors


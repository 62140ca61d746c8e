"""Catalogue entries (数据目录): the rules on an entry and its data items, and the review lifecycle.

Lifecycle (R-CAT-1, R-CAT-4, R-CAT-7)::

    draft ──submit──▶ submitted ──approve──▶ published ──revise──▶ revising ──submit──▶ submitted …
      ▲                   │                      │
      └──(edit)── returned ◀──return_entry───────┘ (withdraw, by the authority) ──▶ withdrawn ──revise──▶ …

* The working copy is the ``catalog_entry`` row and its ``catalog_item`` rows; every approval
  freezes a :class:`EntryVersion` (snapshot + SM3 digest). While an entry is being revised the
  public keeps seeing the last published version (search indexes published snapshots only).
* Who: department data officers (``dept_officer``) of the providing department create, edit,
  submit and revise; department staff (``dept_staff``) may create and edit working copies but
  not submit them or start a revision. Authority reviewers (``authority_reviewer``) approve,
  return (reasons required) and withdraw (撤销); a department officer may *request* withdrawal,
  which puts an item in the reviewers' inbox.
* 不予共享 is filed with the authority (备案) when the entry is submitted: the entry is flagged
  ``filed_with_authority`` and the authority's reviewers get an inbox item, closed by the review.
* Field names in errors are ``items[i].field`` with ``i`` the 0-based position in ``EntryIn.items``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError
from sqlalchemy import Select, false, func, insert, or_, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import AUTHORITY_ROLES, GOV_ROLES, declare
from gongshu.auth.models import Org
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.models import (
    FORMATS,
    ITEM_TYPES,
    OPEN_RANK,
    OPEN_TYPES,
    RESOURCE_ATTRS,
    SHARING_MODES,
    SHARING_RANK,
    SHARING_TYPES,
    STATUS_ZH,
    UPDATE_CYCLES,
    CatalogEntry,
    ChangeDeclaration,
    DataElement,
    DataItem,
    EntryVersion,
    Review,
)
from gongshu.catalog.schemas import DataItemIn, EntryIn
from gongshu.catalog.service import elements, grading, search
from gongshu.config import get_settings
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.kit.hashing import digest
from gongshu.kit.pagination import Page
from gongshu.tasks import service as tasks_service
from gongshu.tasks.models import Task

DEPT_ROLES = {"dept_officer", "dept_staff"}
declare("catalog.entry.view", "查看本单位目录", "View own organisation's catalogue entries", GOV_ROLES,
        scope="own_org", writes=False)
declare("catalog.entry.view_all", "查看全市目录（含工作稿）", "View every catalogue entry incl. working copies",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("catalog.entry.edit", "编制和修改目录", "Compile and edit catalogue entries", DEPT_ROLES, scope="own_org")
declare("catalog.entry.submit", "提交目录审核", "Submit catalogue entries for review", {"dept_officer"},
        scope="own_org")
declare("catalog.entry.revise", "发起目录修订", "Start a revision of a published entry", {"dept_officer"},
        scope="own_org")
declare("catalog.entry.request_withdraw", "申请撤销目录", "Request withdrawal of a published entry",
        {"dept_officer"}, scope="own_org")
declare("catalog.entry.declare_change", "申报法定依据或职责变更", "Declare a change of legal basis or duties",
        {"dept_officer"}, scope="own_org")
declare("catalog.entry.review", "审定目录（通过或退回）", "Review catalogue entries (approve or return)",
        {"authority_reviewer"})
declare("catalog.entry.withdraw", "撤销已发布目录", "Withdraw a published entry", {"authority_reviewer"})

EDITABLE = ("draft", "returned", "revising")
REVIEW_BASIS = "东莞市公共数据管理办法第十二条"
FILING_BASIS = "不予共享须有法律、行政法规或国家政策依据并报数据主管部门备案"
CHANGE_KINDS = {"legal_basis": ("法定依据", "legal basis"), "duties": ("职责", "duties")}
#: task kinds this module opens (subject_type "catalog_entry", subject_id = entry id)
TASK_REVIEW, TASK_FILING, TASK_UPDATE, TASK_WITHDRAW = (
    "catalog.review", "catalog.filing", "catalog.update", "catalog.withdraw_request")
SUBJECT = "catalog_entry"

_CODE = re.compile(r"^(\d+)/(\d+)$")
_CLASS = re.compile(r"^[1-3]\d{5}\d*$")

ENTRY_FIELDS = ("code", "resource_attr", "class_code", "topic", "name", "summary", "format", "sharing_type",
                "sharing_condition", "sharing_basis", "sharing_mode", "sharing_scope", "open_type",
                "open_condition", "update_cycle", "release_date", "legal_basis", "business", "source_system",
                "sharing_period", "collecting_org_id", "verifying_org_id", "related_codes", "grade",
                "filed_with_authority")
ITEM_FIELDS = ("name", "type", "length", "meaning", "is_identifier", "is_key", "is_personal", "grade",
               "sharing_type", "open_type", "claims_source")
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
_DIFF_SKIP = {"id", "org_id", "version", "published_at", "items", "collecting_org_id", "verifying_org_id",
              "org_uscc"}


def _err(fld: str, zh: str, en: str) -> dict:
    return {"field": fld, "message": zh, "message_en": en}


@dataclass
class _Checked:
    """What validation found out, reused by the write so nothing is computed twice."""

    errors: list[dict] = field(default_factory=list)
    class_code: str = ""
    collecting_org_id: int | None = None
    verifying_org_id: int | None = None
    item_grades: list[tuple[str, list[str]]] = field(default_factory=list)
    element_ids: list[int | None] = field(default_factory=list)
    entry_grade: str = "一般1"


# Validation ---------------------------------------------------------------------------

def _vocab(errors: list[dict], fld: str, value: str | None, allowed, label: str, label_en: str) -> bool:
    if value in allowed:
        return True
    errors.append(_err(fld, f"{label}“{value or ''}”无效，可选：{'、'.join(allowed)}",
                       f"Invalid {label_en} '{value or ''}'; one of: {', '.join(allowed)}"))
    return False


def _resolve_org(session: Session, value: str | None) -> int | None | bool:
    """Org id for a name, short name or USCC; None for blank; False when unknown."""
    v = (value or "").strip()
    if not v:
        return None
    found = session.scalar(select(Org.id).where(or_(Org.name == v, Org.uscc == v.upper(), Org.short_name == v))
                           .order_by(Org.id).limit(1))
    return found if found is not None else False


def _check_code(session: Session, data: EntryIn, existing: CatalogEntry | None, out: _Checked) -> None:
    errors = out.errors
    code = (data.code or "").strip()
    m = _CODE.match(code)
    if len(code) > _MAX_LEN["code"]:
        m = None  # too long: reported with the other field lengths
    elif not m or not _CLASS.match(m.group(1)) or len(m.group(1)) > 30:
        errors.append(_err("code", f"信息资源代码“{code}”格式不正确：应为“分类码/顺序码”，分类码由类（1位：1基础、2主题、3部门）、"
                                   "项（2位）、目（3位）和可选的细目组成，均为数字，例如 101001/00001",
                           f"Code '{code}' is malformed: expected 'classification/sequence' with the classification "
                           "made of class (1 digit: 1/2/3), item (2), category (3) and optional sub-category "
                           "digits, e.g. 101001/00001"))
    else:
        out.class_code = m.group(1)
        attr = RESOURCE_ATTRS.get(code[0])
        if data.resource_attr in RESOURCE_ATTRS.values() and attr != data.resource_attr:
            errors.append(_err("code", f"信息资源代码首位（类）{code[0]} 表示“{attr}”，与资源属性“{data.resource_attr}”不符"
                                       "（1 基础、2 主题、3 部门）",
                               f"The code's class digit {code[0]} means '{attr}', which does not match the resource "
                               f"attribute '{data.resource_attr}' (1 basic, 2 thematic, 3 departmental)"))
        if data.class_code and data.class_code.strip() != out.class_code:
            errors.append(_err("class_code", f"分类码“{data.class_code}”与信息资源代码斜杠前部分“{out.class_code}”不一致",
                               f"Classification code '{data.class_code}' differs from the code's prefix "
                               f"'{out.class_code}'"))
    if existing is not None and existing.version > 0 and code != existing.code:
        errors.append(_err("code", f"目录已发布过，信息资源代码不可更改（原代码 {existing.code}）",
                           f"The entry has been published; its code is frozen (was {existing.code})"))
    elif m:
        stmt = select(CatalogEntry.id).where(CatalogEntry.code == code)
        if existing is not None:
            stmt = stmt.where(CatalogEntry.id != existing.id)
        if session.scalar(stmt.limit(1)) is not None:
            errors.append(_err("code", f"信息资源代码“{code}”已被其他目录使用", f"Code '{code}' is already in use"))
    for i, rc in enumerate(data.related_codes):
        if not _CODE.match(rc.strip()):
            errors.append(_err(f"related_codes[{i}]", f"关联资源代码“{rc}”格式不正确（应为 分类码/顺序码）",
                               f"Related code '{rc}' is malformed (classification/sequence)"))
        elif rc.strip() == code:
            errors.append(_err(f"related_codes[{i}]", "关联资源代码不能是本目录自身", "An entry cannot relate to itself"))


#: text fields with a column length (the schema leaves them open; the database would refuse them)
_MAX_LEN = {"code": 60, "topic": 40, "sharing_scope": 200, "business": 200, "source_system": 200,
            "sharing_period": 100}


def _check_attributes(data: EntryIn, errors: list[dict]) -> tuple[bool, bool]:
    if not data.name.strip():
        errors.append(_err("name", "请填写信息资源名称", "Name is required"))
    for fld, limit in _MAX_LEN.items():
        if len((getattr(data, fld) or "").strip()) > limit:
            zh, en = LABELS[fld]
            errors.append(_err(fld, f"{zh}不能超过 {limit} 个字", f"{en} is limited to {limit} characters"))
    _vocab(errors, "resource_attr", data.resource_attr, tuple(RESOURCE_ATTRS.values()), "资源属性", "resource attribute")
    _vocab(errors, "format", data.format, FORMATS, "信息资源格式", "format")
    _vocab(errors, "update_cycle", data.update_cycle, UPDATE_CYCLES, "更新周期", "update cycle")
    _vocab(errors, "sharing_mode", data.sharing_mode, SHARING_MODES, "共享方式", "sharing mode")
    share_ok = _vocab(errors, "sharing_type", data.sharing_type, SHARING_TYPES, "共享类型", "sharing type")
    open_ok = _vocab(errors, "open_type", data.open_type, OPEN_TYPES, "开放属性", "open attribute")
    if data.sharing_type == "有条件共享":  # R-CAT-3
        if not data.sharing_condition.strip():
            errors.append(_err("sharing_condition", "有条件共享的资源必须填写共享条件",
                               "Conditionally shared resources need the sharing condition"))
        if not data.sharing_basis.strip():
            errors.append(_err("sharing_basis", "有条件共享的资源必须填写共享依据",
                               "Conditionally shared resources need the sharing basis"))
    if data.sharing_type == "不予共享":  # R-CAT-3
        if not data.sharing_basis.strip() and not data.legal_basis.strip():
            errors.append(_err("sharing_basis", "不予共享的资源必须填写法律、行政法规或国家政策依据（共享依据或法律依据）",
                               "Resources not shared need a legal basis (sharing basis or legal basis)"))
        if open_ok and data.open_type != "不予开放":
            errors.append(_err("open_type", f"不予共享的资源不得向社会开放：开放属性应为“不予开放”，而不是“{data.open_type}”",
                               f"A resource that is not shared cannot be opened: the open attribute must be "
                               f"'不予开放' (not open), not '{data.open_type}'"))
            open_ok = False
    if data.open_type == "有条件开放" and not data.open_condition.strip():
        errors.append(_err("open_condition", "有条件开放的资源必须填写开放条件",
                           "Conditionally open resources need the open condition"))
    return share_ok, open_ok


def _check_items(session: Session, data: EntryIn, share_ok: bool, open_ok: bool, ranks: dict[str, int],
                 out: _Checked) -> None:
    errors = out.errors
    codes = {it.element_code.strip() for it in data.items if it.element_code and it.element_code.strip()}
    found = {e.code: e for e in session.scalars(select(DataElement).where(DataElement.code.in_(codes)))} if codes \
        else {}
    rules = grading.active_rules(session) if any(not it.grade for it in data.items) else []
    seen: dict[str, int] = {}
    for i, it in enumerate(data.items):
        p, name = f"items[{i}]", it.name.strip()
        who = f"第 {i + 1} 个信息项“{name}”"
        who_en = f"Data item {i + 1} '{name}'"
        if not name:
            errors.append(_err(f"{p}.name", f"第 {i + 1} 个信息项缺少名称", f"Data item {i + 1} has no name"))
        elif name in seen:
            errors.append(_err(f"{p}.name", f"{who}与第 {seen[name] + 1} 个信息项重名",
                               f"{who_en} has the same name as item {seen[name] + 1}"))
        else:
            seen[name] = i
        if it.type not in ITEM_TYPES:
            kinds = "、".join(f"{k} {v}" for k, v in ITEM_TYPES.items())
            errors.append(_err(f"{p}.type", f"{who}的数据类型“{it.type}”无效，可选：{kinds}",
                               f"{who_en}: invalid type '{it.type}' (one of {', '.join(ITEM_TYPES)})"))
        elif it.type in ("C", "N") and not it.length:
            errors.append(_err(f"{p}.length", f"{who}为{ITEM_TYPES[it.type]}型（{it.type}），必须填写数据长度",
                               f"{who_en} is of type {it.type}; its length is required"))
        if it.sharing_type is not None and _vocab(errors, f"{p}.sharing_type", it.sharing_type, SHARING_TYPES,
                                                  f"{who}的共享类型", f"sharing type of item {i + 1}"):
            if share_ok and SHARING_RANK[it.sharing_type] > SHARING_RANK[data.sharing_type]:
                errors.append(_err(f"{p}.sharing_type", f"{who}的共享类型“{it.sharing_type}”比所属资源（{data.sharing_type}）更开放；"
                                                        "信息项不得比资源更开放",
                                   f"{who_en} is shared more openly ('{it.sharing_type}') than its resource "
                                   f"('{data.sharing_type}')"))
        if it.open_type is not None and _vocab(errors, f"{p}.open_type", it.open_type, OPEN_TYPES,
                                               f"{who}的开放属性", f"open attribute of item {i + 1}"):
            if open_ok and OPEN_RANK[it.open_type] > OPEN_RANK[data.open_type]:
                errors.append(_err(f"{p}.open_type", f"{who}的开放属性“{it.open_type}”比所属资源（{data.open_type}）更开放；"
                                                     "信息项不得比资源更开放",
                                   f"{who_en} is more open ('{it.open_type}') than its resource "
                                   f"('{data.open_type}')"))
        element = None
        if it.element_code and it.element_code.strip():
            element = found.get(it.element_code.strip())
            if element is None:
                errors.append(_err(f"{p}.element_code", f"{who}关联的数据元代码“{it.element_code}”不存在",
                                   f"{who_en}: unknown data element code '{it.element_code}'"))
        out.element_ids.append(element.id if element else None)
        if it.grade:
            if it.grade not in ranks:
                errors.append(_err(f"{p}.grade", f"{who}的分级“{it.grade}”无效，可选：{'、'.join(ranks)}",
                                   f"{who_en}: unknown grade '{it.grade}' (one of {', '.join(ranks)})"))
            out.item_grades.append((it.grade, ["填报人指定"]))
        else:
            s = grading.suggest(session, item=it, element=element, rules=rules)
            out.item_grades.append((s.grade, list(s.reasons)))


def _check_grade(data: EntryIn, ranks: dict[str, int], out: _Checked) -> None:
    """就高从严 (R-CAT-5): the entry's grade is at least the highest grade of its items."""
    graded = [(g, data.items[i].name.strip(), data.items[i].grade is None)
              for i, (g, _) in enumerate(out.item_grades) if g in ranks]
    top = max(graded, key=lambda t: ranks[t[0]], default=None)
    if data.grade is None or data.grade == "":
        out.entry_grade = top[0] if top else "一般1"
        return
    if data.grade not in ranks:
        out.errors.append(_err("grade", f"资源分级“{data.grade}”无效，可选：{'、'.join(ranks)}",
                               f"Unknown grade '{data.grade}' (one of {', '.join(ranks)})"))
        return
    out.entry_grade = data.grade
    higher = [t for t in graded if ranks[t[0]] > ranks[data.grade]]
    if higher:
        worst = max(higher, key=lambda t: ranks[t[0]])
        names = "、".join(f"“{n}”（{g}{'，按分级规则建议' if sug else ''}）" for g, n, sug in higher[:3])
        more = f"等 {len(higher)} 项" if len(higher) > 3 else ""
        out.errors.append(_err("grade", f"资源分级“{data.grade}”低于信息项{names}{more}的分级；按就高从严，资源分级应不低于"
                                        f"“{worst[0]}”",
                               f"The entry grade '{data.grade}' is lower than that of data item(s) "
                               f"{', '.join(n for _, n, _ in higher)}; by 'highest applies' it must be at least "
                               f"'{worst[0]}'"))


def _check(session: Session, *, data: EntryIn, existing: CatalogEntry | None) -> _Checked:
    out = _Checked()
    _check_code(session, data, existing, out)
    share_ok, open_ok = _check_attributes(data, out.errors)
    for fld, value, zh, en in (("collecting_org", data.collecting_org, "采集部门", "collecting department"),
                               ("verifying_org", data.verifying_org, "核准部门", "verifying department")):
        org_id = _resolve_org(session, value)
        if org_id is False:
            out.errors.append(_err(fld, f"{zh}“{value}”不存在（请填写机构全称或统一社会信用代码）",
                                   f"Unknown {en} '{value}' (give the full name or the USCC)"))
        else:
            setattr(out, f"{fld}_id", org_id)
    ranks = dict(sorted(grading.ranks(session).items(), key=lambda kv: kv[1]))
    _check_items(session, data, share_ok, open_ok, ranks, out)
    _check_grade(data, ranks, out)
    return out


def _raise_if(checked: _Checked) -> None:
    errs = checked.errors
    if errs:
        more, more_en = (f"（共 {len(errs)} 处问题）", f" ({len(errs)} problems)") if len(errs) > 1 else ("", "")
        raise Invalid(errs[0]["message"] + more, errs[0]["message_en"] + more_en, field=errs[0]["field"],
                      details=errs)


def validate_entry(session: Session, *, actor: Actor, data: EntryIn, entry_id: int | None = None) -> list[dict]:
    """Every rule violation of a would-be entry, without writing anything.

    Each is ``{"field": "items[2].grade", "message": zh, "message_en": en}`` (0-based item index).
    """
    require(actor, "catalog.entry.edit")
    existing = _get(session, entry_id) if entry_id is not None else None
    return _check(session, data=data, existing=existing).errors


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
    form as :func:`validate_entry`'s, e.g. ``items[0].length`` ``应为整数``."""
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
            errors.append(_err(fld, f"{label}：{_PYDANTIC_ZH.get(e.get('type', ''), '取值无效')}",
                               f"{fld or 'body'}: {e.get('msg', 'invalid')}"))
        return None, errors


# Reading --------------------------------------------------------------------------------

def _get(session: Session, entry_id: int) -> CatalogEntry:
    entry = session.get(CatalogEntry, entry_id)
    if entry is None:
        raise NotFound(f"目录不存在（编号 {entry_id}）", f"Catalogue entry {entry_id} not found")
    return entry


def visible_to(actor: Actor) -> Select:
    """Entries (working copies) an actor may list: their own org's; the authority and auditors all."""
    stmt = select(CatalogEntry)
    if can(actor, "catalog.entry.view_all"):
        return stmt
    if actor.org_id is not None and can(actor, "catalog.entry.view", org_id=actor.org_id):
        return stmt.where(CatalogEntry.org_id == actor.org_id)
    return stmt.where(false())


def get_entry(session: Session, *, actor: Actor, entry_id: int) -> CatalogEntry:
    entry = _get(session, entry_id)
    if not can(actor, "catalog.entry.view_all"):
        require(actor, "catalog.entry.view", org_id=entry.org_id)
    return entry


def list_entries(session: Session, *, actor: Actor, page: Page, status: str | None = None, q: str = "",
                 org_id: int | None = None) -> tuple[list[CatalogEntry], int]:
    stmt = visible_to(actor)
    if status:
        if status not in STATUS_ZH:
            raise Invalid(f"状态“{status}”无效，可选：{'、'.join(STATUS_ZH)}",
                          f"Unknown status '{status}' (one of {', '.join(STATUS_ZH)})", field="status")
        stmt = stmt.where(CatalogEntry.status == status)
    if org_id:
        stmt = stmt.where(CatalogEntry.org_id == org_id)
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(CatalogEntry.name.like(like), CatalogEntry.code.like(like)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(CatalogEntry.updated_at.desc(), CatalogEntry.id.desc())
                           .offset(page.offset).limit(page.size)).all()
    return list(rows), total


def status_counts(session: Session, *, actor: Actor, org_id: int | None = None) -> dict[str, int]:
    sub = visible_to(actor)
    if org_id:
        sub = sub.where(CatalogEntry.org_id == org_id)
    sub = sub.subquery()
    return dict(session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).tuples().all())


def items_of(session: Session, *, entry_id: int) -> list[DataItem]:
    return list(session.scalars(select(DataItem).where(DataItem.entry_id == entry_id).order_by(DataItem.seq)))


def element_codes_of(session: Session, *, entry_id: int) -> dict[int, str]:
    """Data item id -> bound data element code."""
    rows = session.execute(select(DataItem.id, DataElement.code).join(DataElement, DataElement.id == DataItem.element_id)
                           .where(DataItem.entry_id == entry_id)).tuples().all()
    return dict(rows)


def find_by_code(session: Session, *, code: str) -> CatalogEntry | None:
    return session.scalar(select(CatalogEntry).where(CatalogEntry.code == code.strip()))


def reviews_of(session: Session, *, entry_id: int) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.entry_id == entry_id).order_by(Review.id.desc())))


def open_review(session: Session, *, entry_id: int) -> Review | None:
    return session.scalar(select(Review).where(Review.entry_id == entry_id, Review.decision.is_(None))
                          .order_by(Review.id.desc()).limit(1))


def review_queue(session: Session, *, actor: Actor) -> list[tuple[CatalogEntry, Review]]:
    """Submitted entries awaiting the authority's decision, earliest due first."""
    require(actor, "catalog.entry.view_all")
    rows = session.execute(select(CatalogEntry, Review).join(Review, Review.entry_id == CatalogEntry.id)
                           .where(CatalogEntry.status == "submitted", Review.decision.is_(None))
                           .order_by(Review.due_date, Review.id)).tuples().all()
    return list(rows)


def entry_as_input(session: Session, *, entry: CatalogEntry) -> EntryIn:
    """The working copy in the shape a department submits (for the edit form and re-validation)."""
    codes = element_codes_of(session, entry_id=entry.id)
    orgs = {o.id: o.uscc for o in session.scalars(select(Org).where(
        Org.id.in_([i for i in (entry.collecting_org_id, entry.verifying_org_id) if i])))}
    items = [DataItemIn(name=it.name, type=it.type, length=it.length, meaning=it.meaning,
                        is_identifier=it.is_identifier, is_key=it.is_key, is_personal=it.is_personal, grade=it.grade,
                        sharing_type=it.sharing_type, open_type=it.open_type, element_code=codes.get(it.id),
                        claims_source=it.claims_source) for it in items_of(session, entry_id=entry.id)]
    return EntryIn(code=entry.code, resource_attr=entry.resource_attr, class_code=entry.class_code, topic=entry.topic,
                   name=entry.name, summary=entry.summary, format=entry.format, sharing_type=entry.sharing_type,
                   sharing_condition=entry.sharing_condition, sharing_basis=entry.sharing_basis,
                   sharing_mode=entry.sharing_mode, sharing_scope=entry.sharing_scope, open_type=entry.open_type,
                   open_condition=entry.open_condition, update_cycle=entry.update_cycle,
                   release_date=entry.release_date, legal_basis=entry.legal_basis, business=entry.business,
                   source_system=entry.source_system, sharing_period=entry.sharing_period,
                   collecting_org=orgs.get(entry.collecting_org_id), verifying_org=orgs.get(entry.verifying_org_id),
                   related_codes=list(entry.related_codes or []), grade=entry.grade, items=items)


def _snapshot(session: Session, entry: CatalogEntry) -> dict:
    """The entry as published: every field, the items, and the provider's name and USCC (JSON-safe)."""
    snap = {f: getattr(entry, f) for f in ENTRY_FIELDS}
    snap["release_date"] = entry.release_date.isoformat() if entry.release_date else None
    snap["related_codes"] = list(entry.related_codes or [])
    ids = {entry.org_id, entry.collecting_org_id, entry.verifying_org_id} - {None}
    orgs = {o.id: o for o in session.scalars(select(Org).where(Org.id.in_(ids)))}
    snap.update(id=entry.id, org_id=entry.org_id, org_name=orgs[entry.org_id].name, org_uscc=orgs[entry.org_id].uscc,
                collecting_org_name=orgs[entry.collecting_org_id].name if entry.collecting_org_id else None,
                verifying_org_name=orgs[entry.verifying_org_id].name if entry.verifying_org_id else None)
    codes = element_codes_of(session, entry_id=entry.id)
    snap["items"] = [{**{f: getattr(it, f) for f in ITEM_FIELDS}, "seq": it.seq, "element_id": it.element_id,
                      "element_code": codes.get(it.id)} for it in items_of(session, entry_id=entry.id)]
    return snap


def working_snapshot(session: Session, *, actor: Actor, entry_id: int) -> dict:
    """The current working copy in snapshot shape (e.g. to diff a revision against the published version)."""
    return _snapshot(session, get_entry(session, actor=actor, entry_id=entry_id))


def published_snapshot(session: Session, *, entry_id: int, version: int | None = None) -> dict:
    """The snapshot of a published version (the latest when ``version`` is None)."""
    stmt = select(EntryVersion).where(EntryVersion.entry_id == entry_id)
    stmt = stmt.where(EntryVersion.version == version) if version is not None else \
        stmt.order_by(EntryVersion.version.desc()).limit(1)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"目录 {entry_id} 没有{'第 ' + str(version) + ' 版' if version else '已发布的版本'}",
                       f"Entry {entry_id} has no {'version ' + str(version) if version else 'published version'}")
    return row.snapshot


def history(session: Session, *, actor: Actor, entry_id: int) -> list[EntryVersion]:
    """Published versions, newest first."""
    get_entry(session, actor=actor, entry_id=entry_id)
    return list(session.scalars(select(EntryVersion).where(EntryVersion.entry_id == entry_id)
                                .order_by(EntryVersion.version.desc())))


def _label(f: str) -> tuple[str, str]:
    return LABELS.get(f, (f, f))


def diff_snapshots(old: dict, new: dict) -> dict:
    """Field-level and item-level differences between two snapshots."""
    fields = []
    for f in [k for k in new if k not in _DIFF_SKIP] + [k for k in old if k not in new and k not in _DIFF_SKIP]:
        if old.get(f) != new.get(f):
            zh, en = _label(f)
            fields.append({"field": f, "label": zh, "label_en": en, "before": old.get(f), "after": new.get(f)})
    old_items = {i["name"]: i for i in old.get("items", [])}
    new_items = {i["name"]: i for i in new.get("items", [])}
    changed = []
    for name, it in new_items.items():
        if name not in old_items:
            continue
        was = old_items[name]
        delta = [{"field": f, "label": _label(f)[0], "label_en": _label(f)[1], "before": was.get(f), "after": it.get(f)}
                 for f in (*ITEM_FIELDS, "element_code") if was.get(f) != it.get(f)]
        if delta:
            changed.append({"name": name, "fields": delta})
    return {"fields": fields,
            "items": {"added": [i for n, i in new_items.items() if n not in old_items],
                      "removed": [i for n, i in old_items.items() if n not in new_items],
                      "changed": changed}}


def diff(session: Session, *, actor: Actor, entry_id: int, from_version: int, to_version: int | None = None) -> dict:
    """Differences between two published versions; ``to_version=None`` compares with the working copy."""
    entry = get_entry(session, actor=actor, entry_id=entry_id)
    old = published_snapshot(session, entry_id=entry_id, version=from_version)
    new = published_snapshot(session, entry_id=entry_id, version=to_version) if to_version is not None \
        else _snapshot(session, entry)
    return {"entry_id": entry_id, "from_version": from_version, "to_version": to_version, **diff_snapshots(old, new)}


# Writing --------------------------------------------------------------------------------

def _apply(entry: CatalogEntry, data: EntryIn, checked: _Checked) -> None:
    for f in ("resource_attr", "topic", "summary", "format", "sharing_type", "sharing_condition", "sharing_basis",
              "sharing_mode", "sharing_scope", "open_type", "open_condition", "update_cycle",
              "legal_basis", "business", "source_system", "sharing_period"):
        value = getattr(data, f)
        setattr(entry, f, value.strip() if isinstance(value, str) else value)
    if data.release_date is not None:  # blank keeps the date set at first publication (approve defaults it)
        entry.release_date = data.release_date
    entry.code = data.code.strip()
    entry.name = data.name.strip()
    entry.class_code = checked.class_code
    entry.collecting_org_id = checked.collecting_org_id
    entry.verifying_org_id = checked.verifying_org_id
    entry.related_codes = [c.strip() for c in data.related_codes if c.strip()]
    entry.grade = checked.entry_grade
    if entry.sharing_type != "不予共享":
        entry.filed_with_authority = False
    entry.updated_at = utcnow()


def _item_values(it: DataItemIn, seq: int, checked: _Checked) -> dict:
    return dict(seq=seq, name=it.name.strip(), type=it.type, length=it.length, meaning=it.meaning,
                is_identifier=it.is_identifier, is_key=it.is_key, is_personal=it.is_personal,
                grade=checked.item_grades[seq - 1][0], sharing_type=it.sharing_type, open_type=it.open_type,
                element_id=checked.element_ids[seq - 1], claims_source=it.claims_source)


def _write_items(session: Session, entry: CatalogEntry, data: EntryIn, checked: _Checked, *, new: bool) -> None:
    if new:
        session.execute(insert(DataItem), [{"entry_id": entry.id, **_item_values(it, n, checked)}
                                           for n, it in enumerate(data.items, start=1)])
        return
    existing = {it.name: it for it in items_of(session, entry_id=entry.id)}
    wanted = {it.name.strip() for it in data.items}
    for name, row in existing.items():
        if name not in wanted:
            session.delete(row)
    session.flush()
    for n, it in enumerate(data.items, start=1):
        values = _item_values(it, n, checked)
        row = existing.get(values["name"])
        if row is None:
            session.add(DataItem(entry_id=entry.id, **values))
        else:
            for k, v in values.items():
                setattr(row, k, v)
    session.flush()


def _bind(session: Session, actor: Actor, entry: CatalogEntry, data: EntryIn) -> None:
    elements.bind_items(session, actor=actor, entry=entry,
                        element_codes={it.name.strip(): (it.element_code or "").strip() or None for it in data.items})


def _suggested(data: EntryIn, checked: _Checked) -> dict:
    return {data.items[i].name.strip(): {"grade": g, "reasons": r}
            for i, (g, r) in enumerate(checked.item_grades) if data.items[i].grade is None}


def create_entry(session: Session, *, actor: Actor, data: EntryIn) -> CatalogEntry:
    """A new draft entry of the actor's department (raises Invalid with every problem in ``details``)."""
    if actor.org_id is None:
        raise Forbidden("只有部门人员可以编制目录", "Only department staff compile catalogue entries")
    require(actor, "catalog.entry.edit", org_id=actor.org_id)
    checked = _check(session, data=data, existing=None)
    _raise_if(checked)
    entry = CatalogEntry(org_id=actor.org_id, status="draft", version=0, filed_with_authority=False)
    _apply(entry, data, checked)
    session.add(entry)
    session.flush()
    _write_items(session, entry, data, checked, new=True)
    if any(it.element_code and it.element_code.strip() for it in data.items):
        _bind(session, actor, entry, data)  # a new entry without element codes has nothing to bind or claim
    state = {f: getattr(entry, f) for f in ENTRY_FIELDS} | {
        "items": [{**_item_values(it, n, checked), "element_code": (it.element_code or "").strip() or None}
                  for n, it in enumerate(data.items, start=1)]}
    audit_service.record(session, actor=actor, action="catalog.entry.create", subject_type=SUBJECT,
                         subject_id=entry.id, after=state,
                         detail={"code": entry.code, "name": entry.name, "suggested_grades": _suggested(data, checked)})
    return entry


def _editable(session: Session, actor: Actor, entry_id: int, action: str) -> CatalogEntry:
    entry = _get(session, entry_id)
    require(actor, action, org_id=entry.org_id)
    if entry.status not in EDITABLE:
        raise Conflict(f"目录当前状态为“{_status_zh(entry.status)}”，只有草稿、已退回或修订中的目录可以修改或提交"
                       "（已发布的目录请先发起修订）",
                       f"The entry is {entry.status}; only drafts, returned entries and revisions can be edited or "
                       "submitted (start a revision of a published entry first)")
    return entry


def update_entry(session: Session, *, actor: Actor, entry_id: int, data: EntryIn) -> CatalogEntry:
    entry = _editable(session, actor, entry_id, "catalog.entry.edit")
    checked = _check(session, data=data, existing=entry)
    _raise_if(checked)
    before = _snapshot(session, entry)
    _apply(entry, data, checked)
    session.flush()
    _write_items(session, entry, data, checked, new=False)
    _bind(session, actor, entry, data)
    after = _snapshot(session, entry)
    changes = diff_snapshots(before, after)
    audit_service.record(session, actor=actor, action="catalog.entry.update", subject_type=SUBJECT,
                         subject_id=entry.id, before=before, after=after,
                         detail={"fields": [c["field"] for c in changes["fields"]],
                                 "items_added": [i["name"] for i in changes["items"]["added"]],
                                 "items_removed": [i["name"] for i in changes["items"]["removed"]],
                                 "items_changed": [i["name"] for i in changes["items"]["changed"]],
                                 "suggested_grades": _suggested(data, checked)})
    return entry


# Lifecycle ------------------------------------------------------------------------------

def _status_zh(status: str) -> str:
    return STATUS_ZH.get(status, status)


def _authority_org_id(session: Session) -> int:
    org_id = session.scalar(select(Org.id).where(Org.kind == "authority", Org.active.is_(True)).order_by(Org.id)
                            .limit(1))
    if org_id is None:
        raise Conflict("尚未设置数据主管部门，无法提交审核", "No data authority is configured to review entries")
    return org_id


def _short(name: str) -> str:
    return name if len(name) <= 120 else name[:119] + "…"


def _refresh_declarations(session: Session, org_id: int) -> None:
    """Mark change declarations fulfilled once none of their entries has an open update item."""
    for decl in session.scalars(select(ChangeDeclaration).where(ChangeDeclaration.org_id == org_id,
                                                                ChangeDeclaration.fulfilled_at.is_(None))):
        still = session.scalar(select(func.count()).select_from(Task).where(
            Task.kind == TASK_UPDATE, Task.subject_type == SUBJECT, Task.status == "open",
            Task.subject_id.in_([str(i) for i in decl.entry_ids])))
        if not still:
            decl.fulfilled_at = utcnow()


def submit(session: Session, *, actor: Actor, entry_id: int, note: str = "", start: date | None = None) -> Review:
    """Send a draft, returned entry or revision to the authority; review due in N working days (R-CAT-4)."""
    entry = _editable(session, actor, entry_id, "catalog.entry.submit")
    _raise_if(_check(session, data=entry_as_input(session, entry=entry), existing=entry))
    authority_id = _authority_org_id(session)
    days = get_settings().catalog_review_days
    start = start or tasks_service.today()
    due = tasks_service.calendar(session).add_workdays(start, days)  # fails early on an unknown calendar year
    before = entry.status
    review = Review(entry_id=entry.id, submitted_by=actor.user_id, change_note=note.strip(), due_date=due)
    session.add(review)
    entry.status = "submitted"
    session.flush()
    tasks_service.open_task(session, actor=actor, kind=TASK_REVIEW, title=f"目录审核：{_short(entry.name)}（{entry.code}）",
                            subject_type=SUBJECT, subject_id=entry.id, org_id=authority_id, workdays=days,
                            role="authority_reviewer", basis=REVIEW_BASIS, start=start)
    if entry.sharing_type == "不予共享" and not entry.filed_with_authority:  # 备案 (R-CAT-3)
        entry.filed_with_authority = True
        tasks_service.open_task(session, actor=actor, kind=TASK_FILING,
                                title=f"不予共享备案：{_short(entry.name)}（{entry.code}）", subject_type=SUBJECT,
                                subject_id=entry.id, org_id=authority_id, workdays=days, role="authority_reviewer",
                                basis=FILING_BASIS, start=start)
        audit_service.record(session, actor=actor, action="catalog.entry.file", subject_type=SUBJECT,
                             subject_id=entry.id, detail={"sharing_basis": entry.sharing_basis,
                                                          "legal_basis": entry.legal_basis})
    if tasks_service.close_tasks(session, actor=actor, kind=TASK_UPDATE, subject_type=SUBJECT, subject_id=entry.id):
        _refresh_declarations(session, entry.org_id)
    audit_service.record(session, actor=actor, action="catalog.entry.submit", subject_type=SUBJECT, subject_id=entry.id,
                         before={"status": before}, after={"status": "submitted", "review_id": review.id},
                         detail={"due": due.isoformat(), "note": review.change_note, "version": entry.version})
    return review


def _pending(session: Session, actor: Actor, entry_id: int) -> tuple[CatalogEntry, Review]:
    entry = _get(session, entry_id)
    require(actor, "catalog.entry.review", org_id=entry.org_id)
    review = open_review(session, entry_id=entry.id)
    if entry.status != "submitted" or review is None:
        raise Conflict(f"目录当前状态为“{_status_zh(entry.status)}”，没有待审核的提交",
                       f"The entry is {entry.status}; there is no submission to review")
    return entry, review


def approve(session: Session, *, actor: Actor, entry_id: int, note: str = "") -> EntryVersion:
    """Publish: freeze a new version (snapshot + SM3 digest) and index it for search."""
    entry, review = _pending(session, actor, entry_id)
    now = utcnow()
    entry.version += 1
    entry.status = "published"
    entry.published_at = now
    if entry.release_date is None:
        entry.release_date = tasks_service.today()
    session.flush()
    snap = _snapshot(session, entry)
    snap.update(version=entry.version, published_at=now.isoformat())
    version = EntryVersion(entry_id=entry.id, version=entry.version, snapshot=snap, digest=digest(snap),
                           published_at=now, approved_by=actor.user_id, change_note=review.change_note)
    session.add(version)
    review.decision, review.reasons, review.decided_by, review.decided_at = "approve", note.strip(), actor.user_id, now
    session.flush()
    for kind in (TASK_REVIEW, TASK_FILING):
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=entry.id)
    search.index_entry(session, entry_id=entry.id)
    audit_service.record(session, actor=actor, action="catalog.entry.approve", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": "submitted", "version": entry.version - 1},
                         after={"status": "published", "version": entry.version, "digest": version.digest},
                         detail={"review_id": review.id, "note": review.reasons})
    return version


def return_entry(session: Session, *, actor: Actor, entry_id: int, reasons: str) -> Review:
    """Send a submission back to the department with the reasons (required)."""
    if not (reasons or "").strip():
        raise Invalid("退回时必须说明理由", "Give the reasons for returning the entry", field="reasons")
    entry, review = _pending(session, actor, entry_id)
    review.decision, review.reasons = "return", reasons.strip()
    review.decided_by, review.decided_at = actor.user_id, utcnow()
    entry.status = "returned"
    session.flush()
    for kind in (TASK_REVIEW, TASK_FILING):
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=entry.id)
    audit_service.record(session, actor=actor, action="catalog.entry.return", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": "submitted"}, after={"status": "returned"},
                         detail={"review_id": review.id, "reasons": review.reasons})
    return review


def revise(session: Session, *, actor: Actor, entry_id: int, note: str = "") -> CatalogEntry:
    """Open a published (or withdrawn) entry for revision; the public keeps the last published version."""
    entry = _get(session, entry_id)
    require(actor, "catalog.entry.revise", org_id=entry.org_id)
    if entry.status not in ("published", "withdrawn"):
        raise Conflict(f"目录当前状态为“{_status_zh(entry.status)}”，只有已发布或已撤销的目录可以发起修订",
                       f"The entry is {entry.status}; only published or withdrawn entries can be revised")
    before = entry.status
    entry.status = "revising"
    entry.updated_at = utcnow()
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.entry.revise", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": before}, after={"status": "revising"},
                         detail={"note": note.strip(), "version": entry.version})
    return entry


def _withdrawable(entry: CatalogEntry) -> None:
    if entry.version == 0 or entry.status == "withdrawn":
        raise Conflict("只有已发布过且未撤销的目录可以撤销", "Only published entries that are not withdrawn can be withdrawn")


def request_withdrawal(session: Session, *, actor: Actor, entry_id: int, reason: str) -> Task:
    """A department officer asks the authority to withdraw a published entry (an inbox item for reviewers)."""
    entry = _get(session, entry_id)
    require(actor, "catalog.entry.request_withdraw", org_id=entry.org_id)
    if not (reason or "").strip():
        raise Invalid("申请撤销时必须说明理由", "Give the reason for the withdrawal request", field="reason")
    _withdrawable(entry)
    if session.scalar(select(Task.id).where(Task.kind == TASK_WITHDRAW, Task.subject_type == SUBJECT,
                                            Task.subject_id == str(entry.id), Task.status == "open")):
        raise Conflict("该目录已有待处理的撤销申请", "A withdrawal request for this entry is already pending")
    task = tasks_service.open_task(session, actor=actor, kind=TASK_WITHDRAW,
                                   title=f"撤销申请：{_short(entry.name)}（{entry.code}）：{reason.strip()[:80]}",
                                   subject_type=SUBJECT, subject_id=entry.id, org_id=_authority_org_id(session),
                                   workdays=get_settings().catalog_review_days, role="authority_reviewer",
                                   basis=REVIEW_BASIS)
    audit_service.record(session, actor=actor, action="catalog.entry.request_withdraw", subject_type=SUBJECT,
                         subject_id=entry.id, detail={"reason": reason.strip(), "task_id": task.id})
    return task


def withdraw(session: Session, *, actor: Actor, entry_id: int, reason: str) -> CatalogEntry:
    """The authority withdraws (撤销) a published entry: it leaves search and the public catalogue."""
    if not (reason or "").strip():
        raise Invalid("撤销时必须说明理由", "Give the reason for the withdrawal", field="reason")
    entry = _get(session, entry_id)
    require(actor, "catalog.entry.withdraw", org_id=entry.org_id)
    _withdrawable(entry)
    before = entry.status
    pending = open_review(session, entry_id=entry.id)
    if pending is not None:
        pending.decision, pending.reasons = "withdraw", reason.strip()
        pending.decided_by, pending.decided_at = actor.user_id, utcnow()
    entry.status = "withdrawn"
    entry.updated_at = utcnow()
    session.flush()
    for kind in (TASK_REVIEW, TASK_FILING, TASK_UPDATE):
        tasks_service.close_tasks(session, actor=actor, kind=kind, subject_type=SUBJECT, subject_id=entry.id,
                                  status="cancelled")
    tasks_service.close_tasks(session, actor=actor, kind=TASK_WITHDRAW, subject_type=SUBJECT, subject_id=entry.id)
    _refresh_declarations(session, entry.org_id)
    search.unindex_entry(session, entry_id=entry.id)
    audit_service.record(session, actor=actor, action="catalog.entry.withdraw", subject_type=SUBJECT,
                         subject_id=entry.id, before={"status": before}, after={"status": "withdrawn"},
                         detail={"reason": reason.strip(), "version": entry.version})
    return entry


def declare_change(session: Session, *, actor: Actor, kind: str, description: str,
                   entry_ids: list[int] | None = None, start: date | None = None) -> ChangeDeclaration:
    """A department declares a change of legal basis or duties: each affected published entry gets an
    update item in the department's inbox, due in N working days (R-CAT-4, DG 12)."""
    if actor.org_id is None:
        raise Forbidden("只有部门可以申报变更", "Only departments declare changes")
    require(actor, "catalog.entry.declare_change", org_id=actor.org_id)
    if kind not in CHANGE_KINDS:
        raise Invalid(f"变更类型无效：{kind}（可选：法定依据 legal_basis、职责 duties）",
                      f"Unknown change kind {kind} (legal_basis or duties)", field="kind")
    if not (description or "").strip():
        raise Invalid("请说明变更内容（如新法规名称和条款）", "Describe the change (e.g. the new regulation)",
                      field="description")
    published = {e.id: e for e in session.scalars(
        select(CatalogEntry).where(CatalogEntry.org_id == actor.org_id, CatalogEntry.version > 0,
                                   CatalogEntry.status != "withdrawn").order_by(CatalogEntry.id))}
    if entry_ids:
        wrong = [i for i in entry_ids if i not in published]
        if wrong:
            raise Invalid(f"所选目录 {', '.join(map(str, wrong))} 不是本单位已发布的目录",
                          f"Entries {', '.join(map(str, wrong))} are not published entries of your organisation",
                          field="entry_ids")
        chosen = [published[i] for i in dict.fromkeys(entry_ids)]
    else:
        chosen = list(published.values())
    if not chosen:
        raise Invalid("本单位没有已发布的目录需要更新", "Your organisation has no published entries to update",
                      field="entry_ids")
    days = get_settings().catalog_update_days
    start = start or tasks_service.today()
    due = tasks_service.calendar(session).add_workdays(start, days)
    decl = ChangeDeclaration(org_id=actor.org_id, kind=kind, description=description.strip(),
                             declared_by=actor.user_id, due_date=due, entry_ids=[e.id for e in chosen])
    session.add(decl)
    session.flush()
    what = CHANGE_KINDS[kind][0]
    for e in chosen:
        tasks_service.open_task(session, actor=actor, kind=TASK_UPDATE, title=f"目录更新（{what}变更）：{_short(e.name)}（{e.code}）",
                                subject_type=SUBJECT, subject_id=e.id, org_id=actor.org_id, workdays=days,
                                role="dept_officer", basis=REVIEW_BASIS, start=start)
    audit_service.record(session, actor=actor, action="catalog.entry.declare_change", subject_type="change_declaration",
                         subject_id=decl.id, after={"kind": kind, "entry_ids": decl.entry_ids},
                         detail={"description": decl.description, "due": due.isoformat()})
    return decl


def declarations(session: Session, *, actor: Actor) -> list[ChangeDeclaration]:
    """Change declarations the actor may see: their org's; the authority and auditors all."""
    stmt = select(ChangeDeclaration).order_by(ChangeDeclaration.id.desc())
    if not can(actor, "catalog.entry.view_all"):
        require(actor, "catalog.entry.view", org_id=actor.org_id)
        stmt = stmt.where(ChangeDeclaration.org_id == actor.org_id)
    return list(session.scalars(stmt.limit(200)))

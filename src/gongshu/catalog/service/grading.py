"""Grades and grading rules (分类分级, R-CAT-5).

The grades (GB/T 43697: 一般1–4, 重要, 核心) are seeded by the migration; ``rank``
orders them, higher is stricter. The authority maintains rules that suggest a grade for
a data item from its data element, its personal-information / identifier flags and a
keyword in its name. :func:`suggest` applies every active rule, takes the strictest
grade among those that match (就高从严) and explains itself with every matching rule.

A rule matches when ALL of its criteria that are set match:

- ``element_id``: the item is bound to that data element;
- ``match_personal`` / ``match_identifier``: the item's flag (or its element's flag) equals it;
- ``name_keyword``: the keyword occurs in the item's name.

A rule must set at least one criterion (a rule matching everything would make the
default grade meaningless).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import GOV_ROLES, declare
from gongshu.auth.service import Actor, require
from gongshu.catalog.models import DataElement, Grade, GradingRule
from gongshu.errors import Invalid, NotFound

declare("catalog.grading.manage", "维护分级规则", "Maintain grading rules", {"authority_admin"})
declare("catalog.grading.view", "查看分级标准与规则", "See grades and grading rules", GOV_ROLES,
        writes=False)

DEFAULT_GRADE = "一般1"
DEFAULT_REASON = "未匹配分级规则，默认一般数据（1级）"
DEFAULT_REASON_EN = "No grading rule matched; defaults to general data (level 1)"


class ItemLike(Protocol):
    name: str
    is_personal: bool
    is_identifier: bool


@dataclass(frozen=True)
class GradeSuggestion:
    grade: str
    reasons: list[str]


@dataclass(frozen=True)
class RuleView:
    """An active rule as :func:`suggest` uses it (plain values, detached from the session)."""

    id: int
    name: str
    element_id: int | None
    match_personal: bool | None
    match_identifier: bool | None
    name_keyword: str
    grade: str
    rank: int
    reason: str


# Grades -----------------------------------------------------------------------------

def grades(session: Session) -> list[Grade]:
    """All grades, least strict first."""
    return list(session.scalars(select(Grade).order_by(Grade.rank)))


def list_grades(session: Session, *, actor: Actor) -> list[Grade]:
    require(actor, "catalog.grading.view")
    return grades(session)


def rank(session: Session, *, code: str) -> int:
    """The rank of a grade code (higher = stricter); Invalid if the code is unknown."""
    value = session.scalar(select(Grade.rank).where(Grade.code == code))
    if value is None:
        known = "、".join(g.code for g in grades(session))
        raise Invalid(f"分级“{code}”不存在（可选：{known}）", f"Unknown grade '{code}' (one of: {known})",
                      field="grade")
    return value


def ranks(session: Session) -> dict[str, int]:
    """Grade code → rank, in one query (for callers that compare many grades)."""
    return dict(session.execute(select(Grade.code, Grade.rank)).all())


# Suggestions ------------------------------------------------------------------------

def active_rules(session: Session) -> list[RuleView]:
    """The active rules with their grade ranks, strictest first. Pass the result to
    :func:`suggest` as ``rules=`` when suggesting for many items in one go."""
    rows = session.execute(
        select(GradingRule, Grade.rank).join(Grade, Grade.code == GradingRule.grade)
        .where(GradingRule.active.is_(True)).order_by(Grade.rank.desc(), GradingRule.id)
    ).all()
    return [RuleView(r.id, r.name, r.element_id, r.match_personal, r.match_identifier, r.name_keyword or "",
                     r.grade, rk, r.reason) for r, rk in rows]


def _matches(rule: RuleView, item: ItemLike, element: DataElement | None) -> bool:
    if rule.element_id is not None and (element is None or element.id != rule.element_id):
        return False
    personal = bool(item.is_personal) or bool(element is not None and element.is_personal)
    if rule.match_personal is not None and personal != rule.match_personal:
        return False
    identifier = bool(item.is_identifier) or bool(element is not None and element.is_identifier)
    if rule.match_identifier is not None and identifier != rule.match_identifier:
        return False
    return not (rule.name_keyword and rule.name_keyword not in (item.name or ""))


def explain(rule: RuleView) -> str:
    return f"规则“{rule.name}”：{rule.reason}（{rule.grade}）"


def suggest(session: Session, *, item: ItemLike, element: DataElement | None = None,
            rules: Sequence[RuleView] | None = None) -> GradeSuggestion:
    """Suggest a grade for a data item: the strictest matching rule wins (就高从严).

    ``reasons`` lists every matching rule, strictest first, so the suggestion is explained.
    If ``element`` is not given and the item names an ``element_code``, that element is used.
    """
    if element is None:
        code = getattr(item, "element_code", None)
        if code:
            element = session.scalar(select(DataElement).where(DataElement.code == code))
    applicable = [r for r in (active_rules(session) if rules is None else rules) if _matches(r, item, element)]
    if not applicable:
        return GradeSuggestion(DEFAULT_GRADE, [DEFAULT_REASON])
    best = max(applicable, key=lambda r: r.rank)
    ordered = sorted(applicable, key=lambda r: (-r.rank, r.id))
    return GradeSuggestion(best.grade, [explain(r) for r in ordered])


# Rule maintenance -------------------------------------------------------------------

def try_suggest(session: Session, *, actor: Actor, item: ItemLike) -> GradeSuggestion:
    """:func:`suggest` for a person trying the rules out (the "try it" box and the API)."""
    require(actor, "catalog.grading.view")
    return suggest(session, item=item)


def rules(session: Session, *, actor: Actor, include_inactive: bool = True) -> list[GradingRule]:
    require(actor, "catalog.grading.view")
    stmt = select(GradingRule).order_by(GradingRule.active.desc(), GradingRule.id)
    if not include_inactive:
        stmt = stmt.where(GradingRule.active.is_(True))
    return list(session.scalars(stmt))


def get_rule(session: Session, *, rule_id: int) -> GradingRule:
    rule = session.get(GradingRule, rule_id)
    if rule is None:
        raise NotFound("分级规则不存在", "Grading rule not found")
    return rule


def _rule_state(rule: GradingRule) -> dict[str, Any]:
    return {"name": rule.name, "element_id": rule.element_id, "match_personal": rule.match_personal,
            "match_identifier": rule.match_identifier, "name_keyword": rule.name_keyword, "grade": rule.grade,
            "reason": rule.reason, "active": rule.active}


def _checked(session: Session, *, name: str, element_code: str | None, match_personal: bool | None,
             match_identifier: bool | None, name_keyword: str, grade: str, reason: str) -> dict[str, Any]:
    name, reason, keyword = (name or "").strip(), (reason or "").strip(), (name_keyword or "").strip()
    if not name:
        raise Invalid("请填写规则名称", "Give the rule a name", field="name")
    if len(name) > 100:
        raise Invalid("规则名称不超过 100 字", "Rule names are at most 100 characters", field="name")
    if len(keyword) > 50:
        raise Invalid("名称关键词不超过 50 字", "Name keywords are at most 50 characters", field="name_keyword")
    if not reason:
        raise Invalid("请说明分级理由（建议分级时向填报人展示）", "Give the reason (it explains the suggestion)",
                      field="reason")
    rank(session, code=grade)
    element_id = None
    if element_code:
        element_id = session.scalar(select(DataElement.id).where(DataElement.code == element_code.strip()))
        if element_id is None:
            raise Invalid(f"数据元“{element_code}”不存在", f"Unknown data element '{element_code}'",
                          field="element_code")
    if element_id is None and match_personal is None and match_identifier is None and not keyword:
        raise Invalid("规则至少需要一个匹配条件（数据元、个人信息、标识项或名称关键词）",
                      "A rule needs at least one criterion (element, personal, identifier or name keyword)",
                      field="name_keyword")
    return {"name": name, "element_id": element_id, "match_personal": match_personal,
            "match_identifier": match_identifier, "name_keyword": keyword, "grade": grade, "reason": reason}


def create_rule(session: Session, *, actor: Actor, name: str, grade: str, reason: str,
                element_code: str | None = None, match_personal: bool | None = None,
                match_identifier: bool | None = None, name_keyword: str = "") -> GradingRule:
    require(actor, "catalog.grading.manage")
    values = _checked(session, name=name, element_code=element_code, match_personal=match_personal,
                      match_identifier=match_identifier, name_keyword=name_keyword, grade=grade, reason=reason)
    rule = GradingRule(**values, active=True)
    session.add(rule)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.grading.rule.create", subject_type="grading_rule",
                         subject_id=rule.id, after=_rule_state(rule))
    return rule


def update_rule(session: Session, *, actor: Actor, rule_id: int, name: str, grade: str, reason: str,
                element_code: str | None = None, match_personal: bool | None = None,
                match_identifier: bool | None = None, name_keyword: str = "") -> GradingRule:
    require(actor, "catalog.grading.manage")
    rule = get_rule(session, rule_id=rule_id)
    values = _checked(session, name=name, element_code=element_code, match_personal=match_personal,
                      match_identifier=match_identifier, name_keyword=name_keyword, grade=grade, reason=reason)
    before = _rule_state(rule)
    for k, v in values.items():
        setattr(rule, k, v)
    session.flush()
    audit_service.record(session, actor=actor, action="catalog.grading.rule.update", subject_type="grading_rule",
                         subject_id=rule.id, before=before, after=_rule_state(rule))
    return rule


def set_rule_active(session: Session, *, actor: Actor, rule_id: int, active: bool) -> GradingRule:
    """Deactivate (or reactivate) a rule; rules are never deleted so past suggestions stay explainable."""
    require(actor, "catalog.grading.manage")
    rule = get_rule(session, rule_id=rule_id)
    if rule.active != active:
        before = _rule_state(rule)
        rule.active = active
        session.flush()
        audit_service.record(session, actor=actor,
                             action="catalog.grading.rule.activate" if active else "catalog.grading.rule.deactivate",
                             subject_type="grading_rule", subject_id=rule.id, before=before, after=_rule_state(rule))
    return rule

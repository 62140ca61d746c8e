"""Builders shared by the catalogue tests: realistic entry input and a small cast of orgs and people."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

from gongshu.auth.service import Actor
from gongshu.catalog.schemas import DataItemIn, EntryIn
from gongshu.catalog.service import entries, lifecycle
from gongshu.tasks import service as tasks_service

_seq = itertools.count(1)

#: 户籍人口基本信息 as 公安局 would catalogue it
DEFAULT_ITEMS: list[dict[str, Any]] = [
    {"name": "公民身份号码", "type": "C", "length": 18, "meaning": "GB 11643 公民身份号码", "is_identifier": True,
     "is_key": True, "is_personal": True, "grade": "一般3"},
    {"name": "姓名", "type": "C", "length": 50, "meaning": "户籍登记姓名", "is_personal": True, "grade": "一般3"},
    {"name": "性别", "type": "C", "length": 1, "meaning": "GB/T 2261.1 性别代码", "is_personal": True,
     "grade": "一般2"},
    {"name": "出生日期", "type": "D", "meaning": "公历出生日期", "is_personal": True, "grade": "一般3"},
    {"name": "户籍地址", "type": "C", "length": 200, "meaning": "户籍登记住址", "is_personal": True, "grade": "一般3"},
]


def next_code(prefix: str = "101001") -> str:
    """A fresh, valid code (分类码/顺序码) for a 基础 entry by default."""
    return f"{prefix}/{next(_seq):05d}"


def item_in(**overrides: Any) -> DataItemIn:
    base = dict(DEFAULT_ITEMS[1])
    base.update(overrides)
    return DataItemIn(**base)


def entry_in(**overrides: Any) -> EntryIn:
    """A valid 户籍人口基本信息 entry (基础, 有条件共享, 不予开放); override any field.

    ``items`` may be given as dicts or DataItemIn; a fresh code is generated unless ``code`` is given.
    """
    data: dict[str, Any] = dict(
        code=next_code(), resource_attr="基础", topic="人口", name="户籍人口基本信息",
        summary="本市户籍人口的身份号码、姓名、性别、出生日期和户籍地址等基本信息。",
        format="数据库", sharing_type="有条件共享", sharing_condition="用于政务服务中的身份核验，按需申请",
        sharing_basis="《中华人民共和国户口登记条例》；东莞市公共数据管理办法", sharing_mode="接口",
        sharing_scope="市级政务部门", open_type="不予开放", update_cycle="每日",
        legal_basis="《中华人民共和国户口登记条例》", business="户籍管理", source_system="人口信息管理系统",
        sharing_period="长期", grade="一般3",
        items=[dict(i) for i in DEFAULT_ITEMS],
    )
    data.update(overrides)
    return EntryIn(**data)


@dataclass
class Cast:
    authority: Any
    dept: Any
    other_dept: Any
    officer: Actor
    staff: Actor
    other_officer: Actor
    reviewer: Actor
    auditor: Actor


#: the test city's authority entering its calendar (declare_year needs calendar.manage)
CALENDAR_KEEPER = Actor(None, "calendar", "测试日历维护", None, "authority", "数据局", frozenset({"authority_admin"}))


def cast(f) -> Cast:
    """An authority with a reviewer, 公安局 with an officer and a staff member, and another department.
    Like a real authority, it has entered the calendar of this year and the next when the packaged one
    does not know them (plain Monday–Friday here), so tests that count working days from today keep
    working in late December and in years chinese-calendar does not cover yet."""
    ensure_calendar(f.s, CALENDAR_KEEPER)
    authority = f.org(kind="authority")
    dept = f.org()
    other = f.org()
    return Cast(authority=authority, dept=dept, other_dept=other,
                officer=f.actor(dept, ("dept_officer",)), staff=f.actor(dept, ("dept_staff",)),
                other_officer=f.actor(other, ("dept_officer",)),
                reviewer=f.actor(authority, ("authority_reviewer",)),
                auditor=f.actor(authority, ("auditor",)))


def published(db, c: Cast, start: date = date(2026, 3, 2), *, by: Actor | None = None, **overrides: Any):
    """Create, submit and approve an entry of ``by``'s department (default ``c.officer``, of ``c.dept``)."""
    by = by or c.officer
    e = entries.create_entry(db, actor=by, data=entry_in(**overrides))
    lifecycle.submit(db, actor=by, entry_id=e.id, start=start)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    return e


def ensure_calendar(db, actor: Actor) -> None:
    """Declare plain Monday–Friday years after the packaged calendar, for tests that submit 'today'."""
    today = tasks_service.today()
    tasks_service.declare_unknown_years(db, actor=actor, years=(today.year, today.year + 1),
                                        source="测试用日历（周一至周五）")

"""Seed the demo city through the real services, one transaction per stage.

Everything is deterministic for a given seed: organisation codes come from
``random.Random(seed)``, people's names, vendors and dates from Faker zh_CN seeded with it,
everything else from the data in :mod:`gongshu.demo.city` and :mod:`gongshu.demo.catalogue`.
Only timestamps and deadlines (counted from today's date) differ between runs.

Each stage runs in its own transaction (``sessionmaker.begin()``): the seeding is the edge
that owns the unit of work, the services it calls never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gongshu.auth import service as auth_service
from gongshu.auth.actions import ROLES
from gongshu.auth.models import Org, User
from gongshu.auth.service import SYSTEM, Actor
from gongshu.catalog.schemas import DataItemIn, EntryIn
from gongshu.catalog.service import elements, entries, grading, inventories, lifecycle, projects
from gongshu.demo.catalogue import ATTR_DIGIT, ENTRIES, TOPIC_CODES, EntrySpec, parse_items
from gongshu.demo.city import (
    DEFAULT_SEED,
    DEMO_PASSWORD,
    ELEMENT_BY_NAME,
    ELEMENTS,
    GRADING_RULES,
    ORG_BY_KEY,
    ORGS,
    USERS,
    usccs,
)
from gongshu.demo.demands import seed_demands
from gongshu.kit import workdays
from gongshu.tasks import service as tasks_service

#: states whose entries are submitted at least once
_SUBMITTED = {"submitted", "overdue", "returned", "published", "withdrawn"}
ORG_INDEX = {o.key: n for n, o in enumerate(ORGS)}


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str  # Chinese role name
    org: str


@dataclass
class DemoCity:
    """What was seeded, for the CLI's login table and for tests."""

    seed: int
    logins: list[Login] = field(default_factory=list)
    entry_codes: dict[str, str] = field(default_factory=dict)  # entry name -> code
    states: Counter = field(default_factory=Counter)  # final status -> count
    overdue_entry: str = ""
    overdue: int = 0  # review items flagged overdue by the sweep
    conflict_entry: str = ""
    conflicts: int = 0  # open single-source conflicts
    project: str = ""
    elements: int = 0
    systems: int = 0
    demands: Counter = field(default_factory=Counter)  # data demands per final status


# Data → service inputs ------------------------------------------------------------------------

def _items(spec: str, org_key: str, claims: tuple[str, ...]) -> list[DataItemIn]:
    out = []
    for it in parse_items(spec):
        if it.element:
            el = ELEMENT_BY_NAME[it.element]
            out.append(DataItemIn(name=el.name, type=el.type, length=el.length, meaning=el.definition,
                                  is_identifier=it.identifier, is_key=it.key, is_personal=it.personal,
                                  element_code=el.code, claims_source=el.source == org_key or el.name in claims))
            continue
        out.append(DataItemIn(name=it.name, type=it.type, length=it.length, is_personal=it.personal,
                              is_identifier=it.identifier, is_key=it.key))
    return out


def entry_codes() -> dict[str, str]:
    """信息资源代码 分类码/顺序码 of every demo entry: 类 (1 基础, 2 主题, 3 部门) + 项 (2 digits: the topic,
    or the department for 部门 resources) + 目 (3 digits: the department, or 001) / a 5-digit sequence."""
    seqs: Counter = Counter()
    out = {}
    for e in ENTRIES:
        n = ORG_INDEX[e.org]
        if e.attr == "部门":
            cls = f"{ATTR_DIGIT[e.attr]}{n:02d}001"
        else:
            cls = f"{ATTR_DIGIT[e.attr]}{TOPIC_CODES[e.topic]}{n:03d}"
        seqs[cls] += 1
        out[e.name] = f"{cls}/{seqs[cls]:05d}"
    return out


def _fmt_mode(e: EntrySpec) -> tuple[str, str]:
    if e.cycle == "实时":
        return "服务接口", "接口"
    if e.cycle in ("每年", "每半年", "每季度"):
        return "电子表格", "文件"
    return e.fmt, "库表" if e.cycle == "每月" else e.mode


def _entry_in(e: EntrySpec, code: str, release: date | None, *, summary: str | None = None,
              cycle: str | None = None, extra_items: str = "") -> EntryIn:
    org = ORG_BY_KEY[e.org]
    fmt, mode = _fmt_mode(e)
    items = _items(e.items + (" " + extra_items if extra_items else ""), e.org, e.claims)
    return EntryIn(
        code=code, resource_attr=e.attr, topic=e.topic, name=e.name, summary=summary or e.summary, format=fmt,
        sharing_type=e.sharing, sharing_condition=e.condition, sharing_basis=e.basis, sharing_mode=mode,
        sharing_scope="全市政务部门" if e.sharing != "不予共享" else "", open_type=e.open,
        open_condition=e.open_condition, update_cycle=cycle or e.cycle, release_date=release,
        legal_basis=e.legal, business=e.business, source_system=e.system,
        sharing_period="长期" if e.sharing != "不予共享" else "",
        collecting_org=org.name if e.attr == "基础" else None, verifying_org=org.name if e.attr == "基础" else None,
        items=items)


def _actors(session: Session) -> dict[str, Actor]:
    return {u.username: auth_service.actor_for(session, u) for u in session.scalars(select(User).order_by(User.id))}


def _working_days_before(session: Session, day: date, n: int) -> date:
    """The day ``n`` working days before ``day`` (on the packaged calendar or the authority's)."""
    cal = tasks_service.calendar(session)
    left = n
    while left > 0:
        day -= timedelta(days=1)
        if cal.is_workday(day):
            left -= 1
    return day


# Stages ---------------------------------------------------------------------------------------

def _orgs_and_people(session: Session, seed: int, fake: Faker, city: DemoCity) -> None:
    codes = usccs(seed)
    ids: dict[str, int] = {}
    authority_id = None
    for o in ORGS:
        parent = authority_id if o.kind == "operator" else None
        org = auth_service.create_org(session, actor=SYSTEM, name=o.name, short_name=o.short, kind=o.kind,
                                      uscc=codes[o.key], parent_id=parent)
        ids[o.key] = org.id
        if o.kind == "authority":
            authority_id = org.id
    for u in USERS:
        auth_service.create_user(session, actor=SYSTEM, username=u.username, display_name=fake.name(),
                                 org_id=ids[u.org], password=DEMO_PASSWORD, roles=list(u.roles))
        city.logins.append(Login(u.username, DEMO_PASSWORD, "、".join(ROLES[r][0] for r in u.roles),
                                 ORG_BY_KEY[u.org].name))


def _calendar(session: Session, today: date) -> None:
    """This year and next must be known for deadlines. For a year the packaged calendar does not have
    yet, the demo authority declares the statutory holidays of the 放假办法 — never invented 调休:
    the source says the State Council notice is still to be entered."""
    tasks_service.declare_unknown_years(
        session, actor=_actors(session)["admin"], years=(today.year, today.year + 1),
        holidays=workdays.statutory_holidays,
        source="演示：《全国年节及纪念日放假办法》规定的 {year} 年法定节假日；调休与补假待录入国务院办公厅通知")


def _elements_and_rules(session: Session, city: DemoCity) -> None:
    admin = _actors(session)["admin"]
    org_ids = dict(session.execute(select(Org.short_name, Org.id)).all())
    for el in ELEMENTS:
        elements.create_element(session, actor=admin, code=el.code, name=el.name, type=el.type, length=el.length,
                                definition=el.definition, source_org_id=org_ids[ORG_BY_KEY[el.source].short],
                                source_basis=el.basis, is_personal=el.personal, is_identifier=el.identifier)
    for r in GRADING_RULES:
        grading.create_rule(session, actor=admin, name=r.name, grade=r.grade, reason=r.reason,
                            element_code=ELEMENT_BY_NAME[r.element].code if r.element else None,
                            match_personal=r.personal, match_identifier=r.identifier, name_keyword=r.keyword)
    city.elements = len(ELEMENTS)


def _systems(session: Session, fake: Faker, city: DemoCity) -> None:
    actors = _actors(session)
    for o in ORGS:
        if o.kind not in ("department", "town", "park"):
            continue
        names = list(dict.fromkeys(e.system for e in ENTRIES if e.org == o.key and e.system))
        names += [f"{o.short}协同办公系统"] + ([] if names else [f"{o.short}业务管理系统"])
        for name in names:
            inventories.create_system(session, actor=actors[f"{o.key}_officer"], name=name,
                                      description=f"{o.name}{name}，支撑相关政务服务和内部管理业务",
                                      operator=fake.company(),
                                      launched=fake.date_between(date(2015, 1, 1), date(2025, 12, 31)))
            city.systems += 1


def _create_entries(session: Session, fake: Faker, codes: dict[str, str]) -> dict[str, int]:
    actors = _actors(session)
    ids = {}
    for e in ENTRIES:
        release = fake.date_between(date(2024, 1, 1), date(2026, 10, 31)) if e.state in ("published",
                                                                                            "withdrawn") else None
        entry = entries.create_entry(session, actor=actors[f"{e.org}_officer"], data=_entry_in(e, codes[e.name], release))
        ids[e.name] = entry.id
    return ids


def _submit_and_review(session: Session, ids: dict[str, int]) -> None:
    actors = _actors(session)
    reviewer = actors["reviewer"]
    for e in ENTRIES:
        if e.state in _SUBMITTED and e.state != "overdue":
            lifecycle.submit(session, actor=actors[f"{e.org}_officer"], entry_id=ids[e.name], note="首次编目")
    for e in ENTRIES:
        if e.state in ("published", "withdrawn"):
            lifecycle.approve(session, actor=reviewer, entry_id=ids[e.name], note="符合编目要求")
        elif e.state == "returned":
            lifecycle.return_entry(session, actor=reviewer, entry_id=ids[e.name], reasons=e.reason)


def _revisions(session: Session, ids: dict[str, int], codes: dict[str, str]) -> None:
    actors = _actors(session)
    for e in ENTRIES:
        if e.revision is None:
            continue
        note, change = e.revision
        officer = actors[f"{e.org}_officer"]
        entry_id = ids[e.name]
        lifecycle.revise(session, actor=officer, entry_id=entry_id, note=note)
        current = entries.get_entry(session, actor=officer, entry_id=entry_id)
        data = _entry_in(e, codes[e.name], current.release_date, summary=change.get("summary"),
                         cycle=change.get("cycle"), extra_items=change.get("add", ""))
        entries.update_entry(session, actor=officer, entry_id=entry_id, data=data)
        lifecycle.submit(session, actor=officer, entry_id=entry_id, note=note)
        lifecycle.approve(session, actor=actors["reviewer"], entry_id=entry_id, note="修订内容符合要求")


def _withdrawal(session: Session, ids: dict[str, int]) -> None:
    actors = _actors(session)
    for e in ENTRIES:
        if e.state == "withdrawn":
            reason = "校外培训机构审批职责调整，本目录由新的主管部门重新编制"
            lifecycle.request_withdrawal(session, actor=actors[f"{e.org}_officer"], entry_id=ids[e.name], reason=reason)
            lifecycle.withdraw(session, actor=actors["reviewer"], entry_id=ids[e.name], reason=reason)


def _overdue_review(session: Session, ids: dict[str, int], city: DemoCity, today: date) -> None:
    """One submission whose 5-working-day review deadline has passed: submitted as of eight working
    days ago (``submit(start=…)``), then the overdue sweep flags it for supervision (督办)."""
    actors = _actors(session)
    start = _working_days_before(session, today, 8)
    for e in ENTRIES:
        if e.state == "overdue":
            lifecycle.submit(session, actor=actors[f"{e.org}_officer"], entry_id=ids[e.name], note="首次编目",
                             start=start)
            city.overdue_entry = e.name
    city.overdue = tasks_service.sweep_overdue(session, on=today)


def _project_and_change(session: Session, codes: dict[str, str], city: DemoCity) -> None:
    actors = _actors(session)
    declared = [
        projects.DeclaredItem(codes["社会保险参保信息"], "社会保险参保信息", "社会保险参保状态"),
        projects.DeclaredItem(codes["社会保障卡信息"], "社会保障卡信息", ""),
        projects.DeclaredItem(codes["就业登记信息"], "就业登记信息", "用工单位名称"),
        projects.DeclaredItem("", "养老保险待遇发放信息", "月发放金额"),  # submitted, not yet published
        projects.DeclaredItem("", "失业登记信息", "失业登记注销日期"),  # returned; the item is missing
        projects.DeclaredItem("", "技能人才补贴发放信息", ""),  # not catalogued at all
        projects.DeclaredItem("", "零工市场岗位信息", "岗位名称"),  # not catalogued at all
    ]
    name = "南湾市智慧人社一体化平台建设项目"
    projects.register_project(session, actor=actors["rsj_officer"], name=name, approval_no="南发改审批〔2026〕35号",
                              items=declared)
    city.project = name
    gaj = actors["gaj_officer"]
    chosen = [entries.find_by_code(session, code=codes[n]).id for n in ("流动人口居住登记信息", "居民身份证办理信息")]
    lifecycle.declare_change(session, actor=gaj, kind="duties", entry_ids=chosen,
                             description="机构职能调整：流动人口居住登记的部分采集职责委托镇街（园区）流动人口服务管理机构承担，"
                                         "相关目录的采集部门和共享范围需要更新")


def seed_demo(factory: sessionmaker[Session], *, seed: int = DEFAULT_SEED, today: date | None = None) -> DemoCity:
    """Seed the whole demo city into an empty, migrated database."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    city = DemoCity(seed=seed)
    codes = entry_codes()
    with factory.begin() as s:
        _orgs_and_people(s, seed, fake, city)
    with factory.begin() as s:
        _calendar(s, today or tasks_service.today())
    with factory.begin() as s:
        _elements_and_rules(s, city)
    with factory.begin() as s:
        _systems(s, fake, city)
    with factory.begin() as s:
        ids = _create_entries(s, fake, codes)
    with factory.begin() as s:
        _submit_and_review(s, ids)
    with factory.begin() as s:
        _revisions(s, ids, codes)
    with factory.begin() as s:
        _withdrawal(s, ids)
    with factory.begin() as s:
        _overdue_review(s, ids, city, today or tasks_service.today())
    with factory.begin() as s:
        _project_and_change(s, codes, city)
    with factory.begin() as s:
        city.demands = seed_demands(s, _actors(s), codes)
    city.entry_codes = codes
    city.conflict_entry = next(e.name for e in ENTRIES if e.claims)
    with factory() as s:
        reviewer = _actors(s)["reviewer"]
        city.states = Counter(entries.status_counts(s, actor=reviewer))
        city.conflicts = len(elements.list_conflicts(s, actor=reviewer, status="open"))
    return city

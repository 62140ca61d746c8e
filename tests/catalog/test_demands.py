"""R-DEM-1: the demand list — needs are registered, matched to the catalogue, routed to sources and
tracked to fulfilment; R-CAT-9: the demand list (需求清单) is an inventory like the others."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.models import DataDemand
from gongshu.catalog.service import demands, entries, inventories, lifecycle
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.tasks import service as tasks_service
from gongshu.tasks.models import Task
from tests.catalog.helpers import cast, ensure_calendar, entry_in, published
from tests.factories import login

START = date(2026, 3, 2)  # a Monday
NEEDED = date.today() + timedelta(days=120)  # a needed-by date must not be in the past
TAX_ITEMS = [
    {"name": "统一社会信用代码", "type": "C", "length": 18, "meaning": "GB 32100", "is_identifier": True,
     "is_key": True, "grade": "一般2"},
    {"name": "纳税人名称", "type": "C", "length": 200, "meaning": "登记名称", "grade": "一般2"},
    {"name": "纳税信用等级", "type": "C", "length": 2, "meaning": "A/B/M/C/D", "grade": "一般2"},
]


@pytest.fixture
def c(f, db):
    cast_ = cast(f)
    ensure_calendar(db, f.actor(cast_.authority, ("authority_admin",), kind="authority"))
    return cast_


@pytest.fixture
def third(f):
    """A department that neither asks nor provides."""
    return f.actor(f.org(), ("dept_officer",))


def _audit(db, action, subject_id=None):
    stmt = select(AuditEvent).where(AuditEvent.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEvent.subject_id == str(subject_id))
    return db.scalars(stmt).all()


def _detail(ev):
    return json.loads(ev.detail)


def _tasks(db, demand_id, kind=None):
    stmt = select(Task).where(Task.subject_type == demands.SUBJECT, Task.subject_id == str(demand_id))
    if kind:
        stmt = stmt.where(Task.kind == kind)
    return db.scalars(stmt.order_by(Task.id)).all()


def provider_entry(db, c, **overrides):
    """A published entry of the provider (``c.other_dept``)."""
    data = {"name": "企业纳税信用等级信息", "topic": "法人", "items": TAX_ITEMS, **overrides}
    e = entries.create_entry(db, actor=c.other_officer, data=entry_in(**data))
    lifecycle.submit(db, actor=c.other_officer, entry_id=e.id, start=START)
    lifecycle.approve(db, actor=c.reviewer, entry_id=e.id)
    return e


def demand(db, c, start=START, **overrides):
    values = dict(title="企业纳税信用等级", purpose="政府采购供应商资格审查时核验企业纳税信用",
                  basis="《政府采购法实施条例》第十七条", items=["统一社会信用代码", "纳税信用等级"],
                  provider_org_id=c.other_dept.id, sharing_mode="接口")
    values.update(overrides)
    return demands.register(db, actor=c.officer, start=start, **values)


# Registering and routing -------------------------------------------------------------------

def test_register_with_provider_routes_it_with_a_working_day_due_date_R_DEM_1(db, c):
    d = demand(db, c, start=date(2026, 9, 28), description="按季度核验", needed_by=NEEDED)
    assert d.status == "routed" and d.org_id == c.dept.id and d.provider_org_id == c.other_dept.id
    # 5 working days from Mon 28 Sep 2026 over the National Day holiday (Sat 10 Oct is a 调休 working day)
    assert d.answer_due == date(2026, 10, 10) and demands.ANSWER_WORKDAYS == 5
    [task] = _tasks(db, d.id)
    assert (task.kind, task.assignee_org_id, task.assignee_role, task.status) == (
        demands.TASK_ANSWER, c.other_dept.id, "dept_officer", "open")
    assert task.due_date == date(2026, 10, 10) and task.workdays == 5 and "第二十二条" in task.basis
    assert c.other_officer.org_id in {t.assignee_org_id for t in tasks_service.inbox(db, actor=c.other_officer)}
    [ev] = _audit(db, "catalog.demand.register", d.id)
    detail = _detail(ev)
    assert detail["to"] == "routed" and detail["items"] == ["统一社会信用代码", "纳税信用等级"]
    assert detail["basis"].startswith("《政府采购法") and detail["due"] == "2026-10-10" and ev.after_digest
    assert _audit(db, "tasks.open", task.id)


def test_unrouted_demand_waits_for_the_authority_which_routes_it_R_DEM_1(db, c, third):
    d = demand(db, c, provider_org_id=None)
    assert d.status == "registered" and d.provider_org_id is None and d.answer_due is None
    [route_task] = _tasks(db, d.id)
    assert route_task.kind == demands.TASK_ROUTE and route_task.assignee_org_id == c.authority.id
    assert route_task.assignee_role == "authority_reviewer"
    assert route_task.id in {t.id for t in tasks_service.inbox(db, actor=c.reviewer)}
    with pytest.raises(Forbidden):
        demands.route(db, actor=c.officer, demand_id=d.id, provider_org_id=c.other_dept.id)
    with pytest.raises(Forbidden):
        demands.route(db, actor=c.auditor, demand_id=d.id, provider_org_id=c.other_dept.id)
    with pytest.raises(Invalid) as e:
        demands.route(db, actor=c.reviewer, demand_id=d.id, provider_org_id=c.dept.id)
    assert e.value.field == "provider_org_id"
    demands.route(db, actor=c.reviewer, demand_id=d.id, provider_org_id=c.other_dept.id, note="税务数据", start=START)
    assert d.status == "routed" and d.answer_due == date(2026, 3, 9)
    route_task, answer_task = _tasks(db, d.id)
    assert route_task.status == "done" and answer_task.kind == demands.TASK_ANSWER and answer_task.status == "open"
    with pytest.raises(Conflict):
        demands.route(db, actor=c.reviewer, demand_id=d.id, provider_org_id=c.other_dept.id)
    # re-routed before the answer: the first provider's item is cancelled
    demands.route(db, actor=c.reviewer, demand_id=d.id, provider_org_id=third.org_id)
    assert [t.status for t in _tasks(db, d.id)] == ["done", "cancelled", "open"]
    [ev1, ev2] = _audit(db, "catalog.demand.route", d.id)
    assert _detail(ev1)["from"] == "registered" and _detail(ev1)["provider_org_id"] == c.other_dept.id
    assert _detail(ev1)["note"] == "税务数据" and _detail(ev2)["provider_org_id"] == third.org_id


# Answers -------------------------------------------------------------------------------------

def test_match_must_be_a_published_entry_of_the_provider_then_requester_confirms_R_DEM_1(db, c):
    e = provider_entry(db, c)
    draft = entries.create_entry(db, actor=c.other_officer, data=entry_in(name="未发布的草稿"))
    own = published(db, c, name="本部门的目录")
    d = demand(db, c)
    for bad in (draft.id, own.id, 999999):
        with pytest.raises(Invalid) as err:
            demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="matched", entry_id=bad)
        assert err.value.field == "entry_id"
    with pytest.raises(Invalid) as err:
        demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="matched")
    assert err.value.field == "entry_id"
    with pytest.raises(Invalid) as err:
        demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="maybe")
    assert err.value.field == "outcome"
    demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="matched", entry_id=e.id,
                   reason="请通过共享平台申请接口", start=START)
    assert (d.status, d.entry_id, d.answer) == ("matched", e.id, "请通过共享平台申请接口")
    answer_task, confirm_task = _tasks(db, d.id)
    assert answer_task.status == "done"
    assert confirm_task.kind == demands.TASK_CONFIRM and confirm_task.assignee_org_id == c.dept.id
    assert confirm_task.status == "open" and confirm_task.due_date == date(2026, 3, 9)
    [ev] = _audit(db, "catalog.demand.answer", d.id)
    assert _detail(ev)["outcome"] == "matched" and _detail(ev)["entry_code"] == e.code
    with pytest.raises(Conflict):
        demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="unavailable", reason="重复答复不允许")
    with pytest.raises(Forbidden):
        demands.confirm(db, actor=c.other_officer, demand_id=d.id)
    demands.confirm(db, actor=c.staff, demand_id=d.id, note="已接入")
    assert d.status == "fulfilled" and d.closed_at is not None and _tasks(db, d.id)[1].status == "done"
    assert _detail(_audit(db, "catalog.demand.confirm", d.id)[0])["to"] == "fulfilled"
    for step in (lambda: demands.reopen(db, actor=c.officer, demand_id=d.id, reason="不满足"),
                 lambda: demands.withdraw(db, actor=c.officer, demand_id=d.id)):
        with pytest.raises(Conflict):
            step()


def test_planned_gets_a_working_day_due_date_and_closes_when_matched_R_DEM_1(db, c):
    d = demand(db, c)
    demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="planned", reason="拟于下月编目发布",
                   start=START)
    assert d.status == "planned" and demands.PLAN_WORKDAYS == 15
    assert d.plan_due == tasks_service.calendar(db).add_workdays(START, 15) == date(2026, 3, 23)
    assert demands.due_date(d) == d.plan_due
    plan = _tasks(db, d.id, demands.TASK_PLAN)[0]
    assert plan.status == "open" and plan.assignee_org_id == c.other_dept.id and plan.due_date == date(2026, 3, 23)
    with pytest.raises(Conflict) as err:
        demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="planned")
    assert err.value.field == "outcome"
    e = provider_entry(db, c)
    demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="matched", entry_id=e.id)
    assert d.status == "matched" and _tasks(db, d.id, demands.TASK_PLAN)[0].status == "done"


def test_cannot_supply_needs_a_reason_and_reopening_returns_to_the_authority_R_DEM_1(db, c, third):
    d = demand(db, c)
    for reason in ("", "不行"):
        with pytest.raises(Invalid) as err:
            demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="unavailable", reason=reason)
        assert err.value.field == "reason"
    demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="unavailable",
                   reason="该数据由省级部门采集，本部门未掌握（《税收征收管理法》第八条）")
    assert d.status == "unavailable" and d.entry_id is None and "第八条" in d.answer
    with pytest.raises(Invalid) as err:
        demands.reopen(db, actor=c.officer, demand_id=d.id, reason=" ")
    assert err.value.field == "reason"
    demands.reopen(db, actor=c.officer, demand_id=d.id, reason="据了解该局有本地库", start=START)
    assert d.status == "registered" and d.note == "据了解该局有本地库"
    route_task = _tasks(db, d.id, demands.TASK_ROUTE)[0]
    assert route_task.status == "open" and route_task.assignee_org_id == c.authority.id
    demands.route(db, actor=c.reviewer, demand_id=d.id, provider_org_id=third.org_id)
    assert d.status == "routed" and d.provider_org_id == third.org_id
    assert _detail(_audit(db, "catalog.demand.reopen", d.id)[0])["from"] == "unavailable"


def test_reopening_a_match_sends_it_back_to_the_provider_R_DEM_1(db, c):
    e = provider_entry(db, c)
    d = demand(db, c)
    demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="matched", entry_id=e.id)
    demands.reopen(db, actor=c.officer, demand_id=d.id, reason="缺少纳税信用等级评定年度", start=START)
    assert d.status == "routed" and d.entry_id is None and d.answer_due == date(2026, 3, 9)
    kinds = [(t.kind, t.status) for t in _tasks(db, d.id)]
    assert kinds == [(demands.TASK_ANSWER, "done"), (demands.TASK_CONFIRM, "cancelled"), (demands.TASK_ANSWER, "open")]


def test_withdraw_by_the_requester_cancels_open_items_R_DEM_1(db, c):
    d = demand(db, c)
    with pytest.raises(Forbidden):
        demands.withdraw(db, actor=c.other_officer, demand_id=d.id)
    demands.withdraw(db, actor=c.officer, demand_id=d.id, reason="业务调整")
    assert d.status == "withdrawn" and d.note == "业务调整"
    assert [t.status for t in _tasks(db, d.id)] == ["cancelled"]
    assert _detail(_audit(db, "catalog.demand.withdraw", d.id)[0])["reason"] == "业务调整"
    with pytest.raises(Conflict):
        demands.withdraw(db, actor=c.officer, demand_id=d.id)
    with pytest.raises(Conflict):
        demands.answer(db, actor=c.other_officer, demand_id=d.id, outcome="planned")


# Who may see and do what; bad input ------------------------------------------------------------

def test_other_departments_cannot_see_or_answer_R_DEM_1(db, f, c, third):
    d = demand(db, c)
    mine = demand(db, c, title="另一个需求", provider_org_id=None)
    with pytest.raises(Forbidden):
        demands.get_demand(db, actor=third, demand_id=d.id)
    assert demands.list_demands(db, actor=third) == []
    with pytest.raises(Forbidden):
        demands.answer(db, actor=third, demand_id=d.id, outcome="planned")
    provider_staff = f.actor(c.other_dept, ("dept_staff",))
    assert demands.get_demand(db, actor=provider_staff, demand_id=d.id) is d
    with pytest.raises(Forbidden):
        demands.answer(db, actor=provider_staff, demand_id=d.id, outcome="planned")
    with pytest.raises(Forbidden):
        demands.answer(db, actor=c.officer, demand_id=d.id, outcome="planned")
    with pytest.raises(Conflict):  # not routed yet: nobody answers
        demands.answer(db, actor=c.other_officer, demand_id=mine.id, outcome="planned")
    # the provider sees what was asked of it, not the requester's other demands
    assert [x.id for x in demands.list_demands(db, actor=c.other_officer)] == [d.id]
    assert [x.id for x in demands.list_demands(db, actor=c.other_officer, scope="incoming")] == [d.id]
    assert demands.list_demands(db, actor=c.other_officer, scope="mine") == []
    assert {x.id for x in demands.list_demands(db, actor=c.officer)} == {d.id, mine.id}
    assert {x.id for x in demands.list_demands(db, actor=c.auditor)} >= {d.id, mine.id}
    assert demands.status_counts(db, actor=c.officer) == {"routed": 1, "registered": 1}
    with pytest.raises(Invalid) as err:
        demands.list_demands(db, actor=c.officer, status="lost")
    assert err.value.field == "status"
    with pytest.raises(NotFound):
        demands.get_demand(db, actor=c.officer, demand_id=987654)
    with pytest.raises(Forbidden):  # the authority does not register demands for departments
        demands.register(db, actor=c.reviewer, title="主管部门不替部门登记", purpose="用途", basis="依据")


def test_bad_input_names_the_field_R_DEM_1(db, f, c):
    other_system = inventories.create_system(db, actor=c.other_officer, name="税务系统")
    cases = [
        ({"title": " "}, "title"), ({"title": "长" * 201}, "title"), ({"purpose": ""}, "purpose"),
        ({"basis": ""}, "basis"), ({"sharing_mode": "邮件"}, "sharing_mode"),
        ({"needed_by": date.today() - timedelta(days=2)}, "needed_by"), ({"provider_org_id": c.dept.id}, "provider_org_id"),
        ({"provider_org_id": c.authority.id}, "provider_org_id"), ({"provider_org_id": 999999}, "provider_org_id"),
        ({"system_id": other_system.id}, "system_id"), ({"project_id": 999999}, "project_id"),
        ({"items": ["项" * 101]}, "items"), ({"items": [f"项{i}" for i in range(201)]}, "items"),
    ]
    for overrides, field in cases:
        with pytest.raises(Invalid) as err:
            demand(db, c, **overrides)
        assert err.value.field == field, overrides
        assert err.value.message and err.value.message_en
    assert db.scalar(select(DataDemand.id)) is None
    own_system = inventories.create_system(db, actor=c.officer, name="政府采购系统")
    d = demand(db, c, system_id=own_system.id, items=[" 纳税信用等级 ", "", "纳税信用等级"])
    assert d.items == ["纳税信用等级"] and d.system_id == own_system.id
    assert demands.split_items("统一社会信用代码\n纳税信用等级、纳税人名称,  ") == [
        "统一社会信用代码", "纳税信用等级", "纳税人名称"]


# Suggestions -----------------------------------------------------------------------------------

def test_suggestions_come_from_the_catalogue_search_and_the_requester_may_pick_one_R_DEM_1(db, c):
    tax = provider_entry(db, c)
    provider_entry(db, c, name="道路运输经营许可信息", topic="公共服务",
                   items=[{"name": "许可证号", "type": "C", "length": 30, "grade": "一般2"}])
    published(db, c, name="纳税信用本部门副本", items=TAX_ITEMS)  # the requester's own: never suggested
    d = demand(db, c, provider_org_id=None)
    found = demands.suggestions(db, actor=c.officer, demand=d)
    assert [s.entry_id for s in found] == [tax.id]
    s = found[0]
    assert s.code == tax.code and s.org_id == c.other_dept.id and not s.of_provider
    assert "企业纳税信用等级" in s.matched and "纳税信用等级" in s.matched and s.score >= 5
    assert demands.suggestions(db, actor=c.officer, demand=demand(db, c, title="气象预警", items=[])) == []
    # the requester picks it: the demand goes to the entry's department, which confirms by answering
    with pytest.raises(Forbidden):
        demands.propose(db, actor=c.other_officer, demand_id=d.id, entry_id=tax.id)
    demands.propose(db, actor=c.officer, demand_id=d.id, entry_id=tax.id, start=START)
    assert (d.status, d.provider_org_id, d.entry_id) == ("routed", c.other_dept.id, tax.id)
    assert [(t.kind, t.status) for t in _tasks(db, d.id)] == [(demands.TASK_ROUTE, "done"),
                                                                (demands.TASK_ANSWER, "open")]
    assert demands.suggestions(db, actor=c.other_officer, demand=d)[0].of_provider
    assert _detail(_audit(db, "catalog.demand.propose", d.id)[0])["entry_code"] == tax.code


# The demand list as an inventory -----------------------------------------------------------------

def test_demand_list_inventory_per_department_and_city_exports_R_CAT_9(db, c, third):
    d = demand(db, c, needed_by=NEEDED)
    gone = demand(db, c, title="已撤回的需求")
    demands.withdraw(db, actor=c.officer, demand_id=gone.id)
    assert inventories.KINDS["demand"] == ("需求清单", "Demand list")
    own = inventories.inventory(db, actor=c.officer, kind="demand", org_id=c.dept.id)
    assert [r["title"] for r in own.rows] == ["企业纳税信用等级"] and own.title.endswith("需求清单")
    row = own.rows[0]
    assert row["org_name"] == c.dept.name and row["provider_name"] == c.other_dept.name
    assert row["status"] == "已转派" and row["items"] == ["统一社会信用代码", "纳税信用等级"]
    assert row["needed_by"] == NEEDED.isoformat() and row["due"] == d.answer_due.isoformat()
    incoming = inventories.inventory(db, actor=c.other_officer, kind="demand", org_id=c.other_dept.id)
    assert [r["demand_id"] for r in incoming.rows] == [d.id]
    assert inventories.inventory(db, actor=third, kind="demand", org_id=third.org_id).rows == []
    with pytest.raises(Forbidden):
        inventories.inventory(db, actor=third, kind="demand", org_id=c.dept.id)
    with pytest.raises(Forbidden):
        inventories.inventory(db, actor=c.officer, kind="demand", org_id=None)
    city = inventories.inventory(db, actor=c.auditor, kind="demand", org_id=None)
    assert d.id in [r["demand_id"] for r in city.rows] and gone.id not in [r["demand_id"] for r in city.rows]

    name, media, content = inventories.export(db, actor=c.officer, kind="demand", org_id=c.dept.id, fmt="csv")
    assert "需求清单" in name and media.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["需求部门", "需求名称", "需求描述"] and rows[1][1] == "企业纳税信用等级"
    assert "统一社会信用代码；纳税信用等级" in rows[1]
    _n, _m, content = inventories.export(db, actor=c.officer, kind="demand", org_id=c.dept.id, fmt="xlsx")
    ws = load_workbook(io.BytesIO(content)).active
    assert ws.title == "需求清单" and ws.cell(row=2, column=2).value == "企业纳税信用等级"
    _n, _m, content = inventories.export(db, actor=c.auditor, kind="demand", org_id=None, fmt="json")
    doc = json.loads(content)
    assert doc["inventory"] == "demand" and doc["org_name"] == "全市"
    assert any(r["title"] == "企业纳税信用等级" for r in doc["rows"])
    assert len(_audit(db, "catalog.inventory.export", f"demand:{c.dept.id}")) == 2
    assert len(_audit(db, "catalog.inventory.export", "demand:city")) == 1


# Pages and API -------------------------------------------------------------------------------------

def test_demand_pages_and_api_R_CAT_9_R_DEM_1(db, f, client, c, third):
    tax = provider_entry(db, c)
    requester = f.user(c.dept, ("dept_officer",))
    provider = f.user(c.other_dept, ("dept_officer",))
    outsider = f.user(f.org(), ("dept_officer",))
    db.commit()

    csrf = login(client, requester)
    assert "需求清单" in client.get("/workbench").text
    form = client.get("/workbench/demands/new")
    assert form.status_code == 200 and c.other_dept.name in form.text
    bad = client.post("/workbench/demands/new", data={"csrf_token": csrf, "title": "", "purpose": "p", "basis": "b"})
    assert bad.status_code == 422 and "请填写需求名称" in bad.text
    bad = client.post("/workbench/demands/new", data={"csrf_token": csrf, "title": "t", "purpose": "p", "basis": "b",
                                                      "needed_by": "明年"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    r = client.post("/workbench/demands/new", data={
        "csrf_token": csrf, "title": "企业纳税信用等级", "purpose": "政府采购资格审查", "basis": "《政府采购法实施条例》",
        "items": "统一社会信用代码\n纳税信用等级", "provider_org_id": str(c.other_dept.id), "sharing_mode": "接口"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "企业纳税信用等级" in page.text and "已转派" in page.text
    assert tax.code in page.text  # suggested from the catalogue search
    demand_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    listing = client.get("/workbench/demands?status=routed")
    assert listing.status_code == 200 and f"/workbench/demands/{demand_id}" in listing.text
    assert client.get("/workbench/demands?status=lost").status_code == 422
    assert client.get("/workbench/inventories?kind=demand").status_code == 200
    api = client.get("/api/v1/catalog/demands")
    assert api.status_code == 200 and [x["id"] for x in api.json()] == [demand_id]
    assert client.post(f"/api/v1/catalog/demands/{demand_id}/answer", json={"outcome": "planned"},
                       headers={"x-csrf-token": csrf}).status_code == 403

    csrf = login(client, provider)
    page = client.get(f"/workbench/demands/{demand_id}")
    assert page.status_code == 200 and "匹配此目录" in page.text
    r = client.post(f"/workbench/demands/{demand_id}/answer", data={"csrf_token": csrf, "outcome": "unavailable",
                                                                  "text": ""})
    assert r.status_code == 422 and "理由" in r.text
    r = client.post(f"/workbench/demands/{demand_id}/answer", data={
        "csrf_token": csrf, "outcome": "matched", "entry_id": str(tax.id), "text": "可申请接口"}, follow_redirects=False)
    assert r.status_code == 303
    sug = client.get(f"/api/v1/catalog/demands/{demand_id}/suggestions")
    assert sug.status_code == 200 and sug.json()[0]["entry_id"] == tax.id and sug.json()[0]["of_provider"]

    csrf = login(client, requester)
    r = client.post(f"/api/v1/catalog/demands/{demand_id}/confirm", json={"note": "已满足"},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["status"] == "fulfilled"
    r = client.post("/api/v1/catalog/demands", json={"title": "", "purpose": "p", "basis": "b"},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 422 and r.json()["error"]["field"] == "title"
    r = client.post("/api/v1/catalog/demands", json={"title": "t", "purpose": "p", "basis": "b"},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 201 and r.json()["status"] == "registered"

    login(client, outsider)
    assert client.get(f"/workbench/demands/{demand_id}").status_code == 403
    assert client.get(f"/api/v1/catalog/demands/{demand_id}").status_code == 403
    assert client.get("/api/v1/catalog/demands").json() == []

"""The open catalogue's yearly adjustment with priority to livelihood data (R-OPN-1; DG 32, LZ 24)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.auth.service import Actor
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.opendata.models_disclosure import AdjustmentProposal
from gongshu.opendata.service import adjustment, datasets, reviews
from gongshu.tasks import service as tasks
from tests.catalog.helpers import cast, published
from tests.factories import login
from tests.opendata.helpers import open_entry

OPENED_ON = date(2026, 11, 2)
CLOSES_ON = date(2026, 11, 30)
DURING = date(2026, 11, 10)


def _audited(db, action: str, subject_id) -> bool:
    return db.scalar(select(AuditEvent.id).where(AuditEvent.action == action,
                                                 AuditEvent.subject_id == str(subject_id))) is not None


def _open(db, c, entry):
    open_entry(db, c, entry)
    assert datasets.is_open(db, entry_id=entry.id)
    return entry


def _items(db, org_id, kind):
    """The open inbox items of ``kind`` of an org's data officer."""
    officer = Actor(None, "officer", "数据专员", org_id, "department", "", frozenset({"dept_officer"}))
    return [t for t in tasks.inbox(db, actor=officer) if t.kind == kind]


def test_r_opn_1_a_yearly_round_end_to_end(f, db):
    c = cast(f)
    closed = published(db, c, name="城市公交线路站点信息")  # 不予开放 today: proposed for opening
    ready = published(db, c, open_type="无条件开放", name="义务教育学校名录")  # openable, never reviewed
    conditional = published(db, c, name="医疗机构执业登记信息")
    leaving = _open(db, c, published(db, c, open_type="无条件开放", name="旧版企业名录"))
    school = _open(db, c, published(db, c, open_type="无条件开放", name="幼儿园名录"))

    rnd = adjustment.open_round(db, actor=c.reviewer, year=2027, closes_on=CLOSES_ON, note="2027 年度开放目录调整",
                                today=OPENED_ON)
    assert _audited(db, "opendata.adjustment.open", rnd.id)
    assert len(_items(db, c.dept.id, adjustment.ROUND_TASK)) == 1  # the department with published entries
    assert not _items(db, c.other_dept.id, adjustment.ROUND_TASK)

    kw = {"actor": c.officer, "round_id": rnd.id, "today": DURING}
    add = adjustment.propose(db, entry_id=closed.id, kind="add", open_type="无条件开放", livelihood="交通出行",
                             reason="市民出行查询需求大", **kw)
    add_ready = adjustment.propose(db, entry_id=ready.id, kind="add", open_type="无条件开放", **kw)
    with pytest.raises(Invalid) as cond:
        adjustment.propose(db, entry_id=conditional.id, kind="add", open_type="有条件开放", **kw)
    assert cond.value.field == "open_condition"
    refused = adjustment.propose(db, entry_id=conditional.id, kind="add", open_type="有条件开放",
                                 open_condition="仅向具备数据安全能力的科研机构开放", **kw)
    remove = adjustment.propose(db, entry_id=leaving.id, kind="remove", reason="已由新版企业名录替代", **kw)
    with pytest.raises(Invalid) as domain:
        adjustment.propose(db, entry_id=school.id, kind="priority", **kw)
    assert domain.value.field == "livelihood" and "教育" in domain.value.message
    priority = adjustment.propose(db, entry_id=school.id, kind="priority", livelihood="教育", **kw)
    assert _audited(db, "opendata.adjustment.propose", priority.id)

    # the authority sees livelihood proposals first
    view = adjustment.round_view(db, actor=c.reviewer, round_id=rnd.id)
    assert [p.id for p in view.proposals[:2]] == [add.id, priority.id]
    with pytest.raises(Conflict) as pending:
        adjustment.close_round(db, actor=c.reviewer, round_id=rnd.id)
    assert "未审定" in pending.value.message

    # an approved addition is not opened: the department is asked for the review before opening
    adjustment.approve(db, actor=c.reviewer, proposal_id=add.id, note="同意，优先开放")
    assert add.status == "approved" and not datasets.is_open(db, entry_id=closed.id)
    (item,) = [t for t in tasks.for_subject(db, subject_type=adjustment.PROPOSAL_SUBJECT, subject_id=add.id)]
    assert item.assignee_org_id == c.dept.id and "先修订目录" in item.title and "“不予开放”改为“无条件开放”" in item.title
    assert adjustment.priority_entries(db)[closed.id] == "交通出行"
    assert _audited(db, "opendata.adjustment.approve", add.id) and _audited(db, "opendata.priority.set", closed.id)

    adjustment.approve(db, actor=c.reviewer, proposal_id=add_ready.id)
    (ready_item,) = tasks.for_subject(db, subject_type=adjustment.PROPOSAL_SUBJECT, subject_id=add_ready.id)
    assert "先修订目录" not in ready_item.title and adjustment.follow_up(db) == 0
    review = reviews.submit(db, actor=c.officer, entry_id=ready.id, confidentiality="不涉密", risk_assessment="风险低",
                            risk_level="低")
    assert adjustment.follow_up(db) == 1 and ready_item.status == "done"
    assert adjustment.round_view(db, actor=c.reviewer, round_id=rnd.id).progress[add_ready.id] == "review_submitted"
    reviews.approve(db, actor=c.reviewer, review_id=review.id)
    progress = adjustment.round_view(db, actor=c.reviewer, round_id=rnd.id).progress
    assert progress == {add.id: "awaiting_review", add_ready.id: "open"}

    # a refusal needs reasons
    with pytest.raises(Invalid):
        adjustment.refuse(db, actor=c.reviewer, proposal_id=refused.id, note=" ")
    adjustment.refuse(db, actor=c.reviewer, proposal_id=refused.id, note="开放条件尚不明确，请明年再报")
    assert refused.status == "refused" and not tasks.for_subject(db, subject_type=adjustment.PROPOSAL_SUBJECT,
                                                                   subject_id=refused.id)
    with pytest.raises(Conflict):
        adjustment.approve(db, actor=c.reviewer, proposal_id=refused.id)

    # an approved removal stops the opening at once
    adjustment.approve(db, actor=c.reviewer, proposal_id=remove.id)
    assert not datasets.is_open(db, entry_id=leaving.id)
    assert datasets.latest_review(db, entry_id=leaving.id).status == "closed"
    assert "已由新版企业名录替代" in datasets.latest_review(db, entry_id=leaving.id).note

    adjustment.approve(db, actor=c.reviewer, proposal_id=priority.id)
    assert adjustment.priority_entries(db) == {closed.id: "交通出行", school.id: "教育"}

    adjustment.close_round(db, actor=c.reviewer, round_id=rnd.id)
    assert rnd.status == "closed" and not _items(db, c.dept.id, adjustment.ROUND_TASK)
    assert _audited(db, "opendata.adjustment.close", rnd.id)
    with pytest.raises(Conflict):
        adjustment.propose(db, entry_id=school.id, kind="remove", reason="x", **kw)


def test_r_opn_1_proposals_are_checked_and_bounded_by_the_closing_date(f, db):
    c = cast(f)
    mine = published(db, c, name="公共停车场信息")
    opened = _open(db, c, published(db, c, open_type="无条件开放", name="公共厕所分布"))
    theirs = published(db, c, by=c.other_officer, name="其他部门的目录")
    with pytest.raises(Forbidden):
        adjustment.open_round(db, actor=c.officer, year=2027, closes_on=CLOSES_ON, today=OPENED_ON)
    with pytest.raises(Invalid) as past:
        adjustment.open_round(db, actor=c.reviewer, year=2027, closes_on=OPENED_ON, today=OPENED_ON)
    assert past.value.field == "closes_on" and past.value.message_en
    with pytest.raises(Invalid):
        adjustment.open_round(db, actor=c.reviewer, year=1999, closes_on=CLOSES_ON, today=OPENED_ON)
    rnd = adjustment.open_round(db, actor=c.reviewer, year=2027, closes_on=CLOSES_ON, today=OPENED_ON)
    with pytest.raises(Conflict):
        adjustment.open_round(db, actor=c.reviewer, year=2027, closes_on=CLOSES_ON, today=OPENED_ON)
    with pytest.raises(Conflict):
        adjustment.open_round(db, actor=c.reviewer, year=2028, closes_on=CLOSES_ON, today=OPENED_ON)

    kw = {"actor": c.officer, "round_id": rnd.id, "today": DURING}
    with pytest.raises(Forbidden):
        adjustment.propose(db, entry_id=theirs.id, kind="add", open_type="无条件开放", **kw)
    with pytest.raises(Forbidden):
        adjustment.propose(db, actor=c.staff, round_id=rnd.id, entry_id=mine.id, kind="add", open_type="无条件开放",
                           today=DURING)
    with pytest.raises(Invalid) as kind:
        adjustment.propose(db, entry_id=mine.id, kind="open", **kw)
    assert kind.value.field == "kind"
    with pytest.raises(Invalid):
        adjustment.propose(db, entry_id=mine.id, kind="add", open_type="不予开放", **kw)
    with pytest.raises(Conflict):
        adjustment.propose(db, entry_id=opened.id, kind="add", open_type="无条件开放", **kw)
    with pytest.raises(Conflict):
        adjustment.propose(db, entry_id=mine.id, kind="remove", reason="不再提供", **kw)
    with pytest.raises(Invalid):
        adjustment.propose(db, entry_id=opened.id, kind="remove", reason="", **kw)
    with pytest.raises(Conflict):
        adjustment.propose(db, entry_id=mine.id, kind="priority", livelihood="交通出行", **kw)
    with pytest.raises(NotFound):
        adjustment.propose(db, entry_id=10**12, kind="add", **kw)
    with pytest.raises(NotFound):
        adjustment.propose(db, actor=c.officer, round_id=999999, entry_id=mine.id, kind="add", today=DURING)
    adjustment.propose(db, entry_id=mine.id, kind="add", open_type="无条件开放", **kw)
    with pytest.raises(Conflict):
        adjustment.propose(db, entry_id=mine.id, kind="add", open_type="无条件开放", **kw)
    with pytest.raises(Conflict) as late:
        adjustment.propose(db, actor=c.officer, round_id=rnd.id, entry_id=opened.id, kind="remove", reason="x",
                           today=CLOSES_ON + timedelta(days=1))
    assert "截止" in late.value.message
    (p,) = db.scalars(select(AdjustmentProposal).where(AdjustmentProposal.round_id == rnd.id)).all()
    with pytest.raises(Forbidden):
        adjustment.approve(db, actor=c.officer, proposal_id=p.id)
    # a department sees its own proposals only; it says when it is done
    assert adjustment.round_view(db, actor=c.other_officer, round_id=rnd.id).proposals == []
    assert adjustment.finish(db, actor=c.officer, round_id=rnd.id) == 1
    with pytest.raises(Conflict):
        adjustment.finish(db, actor=c.officer, round_id=rnd.id)


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def test_r_opn_1_the_round_in_the_workbench(f, db, client):
    c = cast(f)
    bus = published(db, c, name="公交实时到站信息")
    db.commit()
    closes = tasks.today() + timedelta(days=20)
    csrf = login(client, _user(db, c.reviewer))
    r = client.post("/workbench/opendata/adjustment", data={"csrf_token": csrf, "year": "MMXXVII",
                                                            "closes_on": closes.isoformat()})
    assert r.status_code == 422 and "年度应为正整数" in r.text
    r = client.post("/workbench/opendata/adjustment", data={"csrf_token": csrf, "year": "2027", "closes_on": "明天"})
    assert r.status_code == 422 and "截止日期应为日期" in r.text
    r = client.post("/workbench/opendata/adjustment", data={"csrf_token": csrf, "year": "2027",
                                                            "closes_on": closes.isoformat()}, follow_redirects=False)
    assert r.status_code == 303, r.text
    round_url = r.headers["location"].split("?")[0]
    round_id = int(round_url.rsplit("/", 1)[1])
    assert "2027" in client.get("/workbench/opendata/adjustment").text

    csrf = login(client, _user(db, c.officer))
    assert "2027 年度开放目录调整" in client.get("/workbench").text  # the inbox item
    page = client.get(round_url)
    assert page.status_code == 200 and 'id="proposal-form"' in page.text and bus.name in page.text
    r = client.post(f"{round_url}/proposals", data={"csrf_token": csrf, "entry_id": str(bus.id), "kind": "add",
                                                    "open_type": "无条件开放", "livelihood": "不存在的领域"})
    assert r.status_code == 422 and "民生领域应为以下之一" in r.text
    r = client.post(f"{round_url}/proposals", data={"csrf_token": csrf, "entry_id": str(bus.id), "kind": "add",
                                                    "open_type": "无条件开放", "livelihood": "交通出行",
                                                    "reason": "出行服务"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    p = db.scalar(select(AdjustmentProposal).where(AdjustmentProposal.round_id == round_id))
    assert client.get(f"/workbench/opendata/adjustment/proposals/{p.id}", follow_redirects=False).status_code == 303
    assert client.post(f"/workbench/opendata/adjustment/proposals/{p.id}/approve",
                       data={"csrf_token": csrf}).status_code == 403

    csrf = login(client, _user(db, c.reviewer))
    page = client.get(round_url)
    assert re.search(rf'id="proposal-{p.id}".*?民生优先 · 交通出行', page.text, re.S)
    r = client.post(f"/workbench/opendata/adjustment/proposals/{p.id}/nonsense", data={"csrf_token": csrf})
    assert r.status_code == 422
    r = client.post(f"/workbench/opendata/adjustment/proposals/{p.id}/approve", data={"csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "待提交开放前审查" in client.get(round_url).text
    english = client.get(round_url, params={"lang": "en"}).text
    assert "Awaiting the review before opening" in english and "Livelihood priority · Transport" in english
    r = client.post(f"{round_url}/close", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303

    login(client, _user(db, c.officer))
    assert "开放前审查" in client.get("/workbench").text
    login(client, _user(db, c.other_officer))
    other = client.get(round_url)
    assert other.status_code == 200 and f'id="proposal-{p.id}"' not in other.text
    assert client.get(f"/workbench/opendata/adjustment/proposals/{p.id}").status_code == 403
    assert client.get("/workbench/opendata/adjustment/999999").status_code == 404

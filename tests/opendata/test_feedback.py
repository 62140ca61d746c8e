"""Open data requests (R-OPN-4) and error reports on open datasets (R-OPN-5): the public pages without login, the
tracking links, the routing with deadlines in working days, the answers, permissions, bad input, the rate limit."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.kit.hashing import sm3_hex
from gongshu.opendata.models_feedback import OpenErrorReport, OpenRequest
from gongshu.opendata.service import accounts, datasets, error_reports, feedback, requests
from gongshu.tasks import service as tasks_service
from gongshu.tasks.models import Supervision, Task
from tests.catalog.helpers import published
from tests.factories import login
from tests.ingest.helpers import load_file, person_rows, write_csv
from tests.opendata.helpers import open_world

REQUEST = {"title": "公交线路站点数据", "description": "全市公交线路、站点名称和经纬度，按月更新，CSV",
           "purpose": "开发出行导航小程序", "contact_name": "李明", "contact_email": "liming@example.com",
           "contact_mobile": "13800138000"}
REPORT = {"item": "户籍地址", "row_ref": "第 2 行", "description": "地址中的街道名称写错了",
          "suggestion": "南城街道应为南城街道办事处", "contact_name": "王芳", "contact_email": "",
          "contact_mobile": "139 0013 9000"}


@pytest.fixture(autouse=True)
def fresh_limits():
    feedback.limits.reset()
    yield
    feedback.limits.reset()


@pytest.fixture
def standalone_reports(monkeypatch):
    """Error reports answered by opendata's own functions, as without the governance loop: in the app a report
    becomes a data issue answered there (tests/quality/test_issue_pages.py covers that path)."""
    monkeypatch.setattr(error_reports, "ON_SUBMIT", [])
    monkeypatch.setattr(error_reports, "HANDLERS", [])


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def _token(location: str, kind: str = "requests") -> str:
    m = re.fullmatch(rf"/open/{kind}/track/([A-Za-z0-9_-]+)\?new=1", location)
    assert m, location
    return m.group(1)


def _audits(db, subject_type: str, subject_id) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == subject_type,
                                                            AuditEvent.subject_id == str(subject_id))
                           .order_by(AuditEvent.seq)))


def _tasks(db, subject_type: str, subject_id) -> list[Task]:
    db.expire_all()
    return tasks_service.for_subject(db, subject_type=subject_type, subject_id=subject_id)


def _due(db, days: int, start: date | None = None) -> date:
    return tasks_service.calendar(db).add_workdays(start or tasks_service.today(), days)


def _submit(db, client_ip: str = "10.0.0.9", **overrides):
    return requests.submit(db, actor=None, client=client_ip, **{**REQUEST, **overrides})


# Open data requests (R-OPN-4) -------------------------------------------------------------------------------

def test_r_opn_4_submit_route_and_fulfil_with_an_open_dataset_the_tracking_link_and_public_pages(f, db, client,
                                                                                                 tmp_path):
    w = open_world(f, db, tmp_path, rows=3)
    c = w.c
    db.commit()
    r = client.post("/open/requests", data=REQUEST, follow_redirects=False)
    assert r.status_code == 303, r.text
    token = _token(r.headers["location"])
    req = db.scalar(select(OpenRequest).order_by(OpenRequest.id.desc()))
    assert req.status == "submitted" and req.token_sm3 == sm3_hex(token.encode()) and token not in req.token_sm3
    assert b"liming@example.com" not in req.contact_sealed and b"13800138000" not in req.contact_sealed
    assert req.account_id is None
    # the authority's triage item, due in 5 working days
    (triage,) = _tasks(db, "open_request", req.id)
    assert triage.kind == "opendata.request.triage" and triage.assignee_org_id == c.authority.id
    assert triage.due_date == _due(db, requests.TRIAGE_WORKDAYS) and req.due_on == triage.due_date
    assert _audits(db, "open_request", req.id) == ["opendata.request.submit"]
    submitted = db.scalar(select(AuditEvent).where(AuditEvent.action == "opendata.request.submit",
                                                   AuditEvent.subject_id == str(req.id)))
    assert submitted.actor_name == "public" and "liming" not in submitted.detail

    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "已提交" in page.text and 'id="tracking-notice"' in page.text
    assert token in page.text and "李*" in page.text and "138****8000" in page.text
    assert "liming@example.com" not in page.text and "13800138000" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and "noindex" in page.text

    route = requests.route(db, actor=c.reviewer, request_id=req.id, dept_org_id=c.dept.id, note="请公安局答复")
    assert route.status == "routed" and route.dept_org_id == c.dept.id
    items = _tasks(db, "open_request", req.id)
    assert [(t.kind, t.status) for t in items] == [("opendata.request.triage", "done"),
                                                   ("opendata.request.answer", "open")]
    assert items[1].assignee_org_id == c.dept.id and items[1].workdays == requests.ANSWER_WORKDAYS == 10
    assert items[1].due_date == _due(db, 10) and route.due_on == items[1].due_date
    with pytest.raises(Forbidden):  # another department cannot answer
        requests.fulfil(db, actor=c.other_officer, request_id=req.id, dataset=w.entry.code)
    with pytest.raises(Forbidden):  # nor can staff without the officer's role
        requests.fulfil(db, actor=c.staff, request_id=req.id, dataset=w.entry.code)
    closed = published(db, c, open_type="无条件开放", name="流动人口居住登记信息")  # published, not opened
    with pytest.raises(Invalid) as exc:
        requests.fulfil(db, actor=c.officer, request_id=req.id, dataset=closed.code)
    assert exc.value.field == "dataset"
    done = requests.fulfil(db, actor=c.officer, request_id=req.id, dataset=datasets.slug(w.entry.code),
                           note="已开放户籍人口数据")
    assert done.status == "fulfilled" and done.dataset_entry_id == w.entry.id and done.due_on is None
    assert all(t.status == "done" for t in _tasks(db, "open_request", req.id))
    assert _audits(db, "open_request", req.id) == ["opendata.request.submit", "opendata.request.route",
                                                   "opendata.request.fulfil"]
    with pytest.raises(Conflict):
        requests.refuse(db, actor=c.officer, request_id=req.id, reason="不能开放的理由", legal_basis="某法第一条")
    db.commit()

    page = client.get(f"/open/requests/track/{token}")
    assert "已开放" in page.text and f'href="/open/datasets/{datasets.slug(w.entry.code)}"' in page.text
    public = client.get(f"/open/requests/{req.id}")
    assert public.status_code == 200 and 'id="fulfilled-by"' in public.text and "已开放户籍人口数据" in public.text
    listing = client.get("/open/requests")
    assert listing.status_code == 200 and "公交线路站点数据" in listing.text and 'id="request-total">共 1 项' in listing.text
    for p in (public, listing):
        assert "李明" not in p.text and "liming@example.com" not in p.text and "13800138000" not in p.text
        assert token not in p.text
    assert client.get("/open/requests/track/" + "x" * 32).status_code == 404
    assert client.get("/open/requests/track/short").status_code == 404


def test_r_opn_4_plan_then_refuse_with_reasons_and_legal_basis(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    c = w.c
    req, _token_ = _submit(db)
    requests.route(db, actor=c.reviewer, request_id=req.id, dept_org_id=c.dept.id)
    start = tasks_service.today()
    with pytest.raises(Invalid) as exc:
        requests.plan(db, actor=c.officer, request_id=req.id, planned_on=start)
    assert exc.value.field == "planned_on"
    planned = requests.plan(db, actor=c.officer, request_id=req.id, planned_on=start + timedelta(days=30),
                            note="脱敏处理后开放")
    assert planned.status == "planned" and planned.planned_on == start + timedelta(days=30)
    plan_item = [t for t in _tasks(db, "open_request", req.id) if t.kind == "opendata.request.plan"]
    assert len(plan_item) == 1 and plan_item[0].status == "open" and plan_item[0].due_date <= planned.planned_on
    before = _audits(db, "open_request", req.id)
    for reason, basis, field in (("", "《数据安全法》第二十一条", "reason"), ("涉及个人隐私", " ", "legal_basis"),
                                 ("涉及个人隐私", "法", "legal_basis")):
        with pytest.raises(Invalid) as exc:
            requests.refuse(db, actor=c.officer, request_id=req.id, reason=reason, legal_basis=basis)
        assert exc.value.field == field
    db.expire_all()
    assert db.get(OpenRequest, req.id).status == "planned" and _audits(db, "open_request", req.id) == before
    refused = requests.refuse(db, actor=c.officer, request_id=req.id, reason="含大量个人信息，脱敏后仍可识别",
                              legal_basis="《中华人民共和国个人信息保护法》第二十五条")
    assert refused.status == "refused" and refused.legal_basis.startswith("《中华人民共和国个人信息保护法》")
    assert all(t.status == "done" for t in _tasks(db, "open_request", req.id))
    db.commit()
    page = client.get(f"/open/requests/{req.id}")
    assert "不予开放" in page.text and "第二十五条" in page.text and 'id="legal-basis"' in page.text


def test_r_opn_4_triage_duplicates_out_of_scope_hidden_return_and_withdraw(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    c = w.c
    first, _ = _submit(db)
    second, _ = _submit(db, title="公交站点位置")
    spam, spam_token = _submit(db, title="请帮我查一下邻居的手机号")
    returned, _ = _submit(db, title="出租车营运数据")
    gone, gone_token = _submit(db, title="停车场泊位数据")
    with pytest.raises(Forbidden):
        requests.route(db, actor=c.officer, request_id=first.id, dept_org_id=c.dept.id)
    with pytest.raises(Invalid):
        requests.close_duplicate(db, actor=c.reviewer, request_id=second.id, duplicate_of_id=second.id)
    dup = requests.close_duplicate(db, actor=c.reviewer, request_id=second.id, duplicate_of_id=first.id)
    assert dup.status == "duplicate" and dup.duplicate_of_id == first.id
    assert f"第 {first.id} 号" in dup.answer
    with pytest.raises(Invalid):
        requests.close_out_of_scope(db, actor=c.reviewer, request_id=spam.id, reason="否")
    hidden = requests.close_out_of_scope(db, actor=c.reviewer, request_id=spam.id,
                                         reason="不属于公共数据开放范围，涉及他人个人信息", hide=True)
    assert hidden.status == "out_of_scope" and hidden.hidden
    requests.route(db, actor=c.reviewer, request_id=returned.id, dept_org_id=c.other_dept.id)
    with pytest.raises(Forbidden):  # only the department it was routed to
        requests.return_to_triage(db, actor=c.officer, request_id=returned.id, reason="非本部门数据")
    back = requests.return_to_triage(db, actor=c.other_officer, request_id=returned.id,
                                     reason="非本部门数据，应由交通运输局提供")
    assert back.status == "submitted" and back.dept_org_id is None and "交通运输局" in back.note
    kinds = [(t.kind, t.status) for t in _tasks(db, "open_request", returned.id)]
    assert kinds == [("opendata.request.triage", "done"), ("opendata.request.answer", "done"),
                     ("opendata.request.triage", "open")]
    db.commit()
    r = client.post(f"/open/requests/track/{gone_token}/withdraw", data={"reason": "已从别处获得"},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get(OpenRequest, gone.id).status == "withdrawn"
    assert [t.status for t in _tasks(db, "open_request", gone.id)] == ["cancelled"]
    assert _audits(db, "open_request", gone.id)[-1] == "opendata.request.withdraw"
    assert client.post(f"/open/requests/track/{gone_token}/withdraw", data={}).status_code == 409

    listing = client.get("/open/requests")
    assert "公交站点位置" in listing.text and "邻居" not in listing.text and 'id="request-total">共 4 项' in listing.text
    assert client.get(f"/open/requests/{spam.id}").status_code == 404
    assert client.get(f"/open/requests/track/{spam_token}").status_code == 200  # the submitter still sees it
    page = client.get(f"/open/requests/{second.id}")
    assert page.status_code == 200 and f'href="/open/requests/{first.id}"' in page.text
    assert client.get("/open/requests", params={"status": "duplicate"}).text.count('id="request-') >= 2
    assert client.get("/open/requests", params={"status": "nonsense"}).status_code == 422


def test_r_opn_4_the_form_searches_the_catalogue_and_names_a_published_entry(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1, name="户籍人口基本信息")
    c = w.c
    other = published(db, c, open_type="有条件开放", open_condition="仅用于科研", name="流动人口居住登记信息")
    secret = published(db, c, name="户籍人口内部核查信息")  # 不予开放: not in the public catalogue
    db.commit()
    page = client.get("/open/requests/new", params={"q": "人口"})
    assert page.status_code == 200 and 'id="catalog-hits"' in page.text
    assert "已开放" in page.text and f"/open/datasets/{datasets.slug(w.entry.code)}" in page.text
    assert f"/open/requests/new?entry={other.id}" in page.text and secret.name not in page.text
    chosen = client.get("/open/requests/new", params={"entry": other.id})
    assert 'id="chosen-entry"' in chosen.text and other.name in chosen.text
    r = client.post("/open/requests", data={**REQUEST, "entry_id": str(other.id)}, follow_redirects=False)
    assert r.status_code == 303
    req = db.scalar(select(OpenRequest).order_by(OpenRequest.id.desc()))
    assert req.entry_id == other.id and req.org_id == c.dept.id  # the entry's department, as a hint
    before = db.scalar(select(func.count()).select_from(OpenRequest))
    bad = client.post("/open/requests", data={**REQUEST, "entry_id": str(secret.id)})
    assert bad.status_code == 422 and "不是公开的已发布目录" in bad.text
    assert db.scalar(select(func.count()).select_from(OpenRequest)) == before
    assert client.get("/open/requests/new", params={"q": "人" * 300}).status_code == 200  # the search says why
    # the portal leads here: /open and an empty search
    assert 'href="/open/requests/new"' in client.get("/open").text
    empty = client.get("/open/datasets", params={"q": "不存在的数据集名称"})
    assert 'id="ask-to-open"' in empty.text and "/open/requests/new?q=" in empty.text


@pytest.mark.parametrize("field,value,status,says", [
    ("title", " ", 422, "需求名称"),
    ("title", "长" * 201, 422, "需求名称不能超过 200 个字"),
    ("description", "", 422, "需求描述"),
    ("purpose", "x\x00y", 422, "控制字符"),
    ("contact_name", "", 422, "联系人姓名"),
    ("contact_email", "not-an-address", 422, "电子邮箱格式不正确"),
    ("contact_mobile", "12345", 422, "手机号码"),
    ("org_id", "abc", 422, "掌握数据的部门"),
    ("org_id", "999999", 422, "部门（编号 999999）无效"),
    ("entry_id", "999999", 422, "不是公开的已发布目录"),
])
def test_r_opn_4_bad_input_is_a_clear_4xx_naming_the_field_and_writes_nothing(f, db, client, tmp_path, field,
                                                                              value, status, says):
    open_world(f, db, tmp_path, rows=1)
    db.commit()
    before = (db.scalar(select(func.count()).select_from(OpenRequest)), db.scalar(select(func.count()).select_from(Task)))
    r = client.post("/open/requests", data={**REQUEST, field: value})
    assert r.status_code == status and says in r.text, r.text[-2000:]
    assert 'role="alert"' in r.text
    json = client.post("/open/requests", data={**REQUEST, field: value}, headers={"accept": "application/json"})
    assert json.status_code == status
    db.expire_all()
    after = (db.scalar(select(func.count()).select_from(OpenRequest)), db.scalar(select(func.count()).select_from(Task)))
    assert after == before


def test_r_opn_4_ids_beyond_the_databases_integers_are_a_404_not_a_500(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    db.commit()
    big = "9" * 25
    for url in (f"/open/requests/{big}", f"/open/datasets/{big}/reports/new", "/open/datasets/99999999999/reports/new"):
        assert client.get(url).status_code == 404, url
    assert client.post("/open/datasets/99999999999/reports", data=REPORT).status_code == 404
    assert client.get("/open/requests/new", params={"entry": big}).status_code == 200  # the form says why
    login(client, _user(db, w.c.reviewer))
    for url in (f"/workbench/opendata/requests/{big}", f"/workbench/opendata/reports/{big}"):
        assert client.get(url).status_code == 404, url
    with pytest.raises(Invalid):
        requests.route(db, actor=w.c.reviewer, request_id=_submit(db)[0].id, dept_org_id=int(big))


def test_r_opn_4_a_signed_in_portal_account_is_recorded_with_its_submissions(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    account = accounts.register(db, kind="person", username="citizen1", display_name="市民", password="s3cret-pass")
    db.commit()
    r = client.get("/open/account/login")
    form_token = re.search(r'name="form_token" value="([^"]+)"', r.text).group(1)
    client.post("/open/account/login", data={"form_token": form_token, "username": "citizen1",
                                             "password": "s3cret-pass"})
    page = client.get("/open/requests/new")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/open/requests", data=REQUEST).status_code == 403  # the account's CSRF token is checked
    r = client.post("/open/requests", data={**REQUEST, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    req = db.scalar(select(OpenRequest).order_by(OpenRequest.id.desc()))
    assert req.account_id == account.id
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "opendata.request.submit",
                                               AuditEvent.subject_id == str(req.id)))
    assert event.actor_name == "open:citizen1"
    r = client.post(f"/open/datasets/{datasets.slug(w.entry.code)}/reports", data={**REPORT, "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert db.scalar(select(OpenErrorReport.account_id).order_by(OpenErrorReport.id.desc())) == account.id


def test_r_opn_4_contact_needs_an_email_or_a_mobile_and_accepts_either(f, db, tmp_path):
    open_world(f, db, tmp_path, rows=1)
    with pytest.raises(Invalid) as exc:
        _submit(db, contact_email="", contact_mobile="")
    assert exc.value.field == "contact_email" and "至少填写" in exc.value.message
    req, _ = _submit(db, contact_email="", contact_mobile="+86 138-0013-8000")
    assert feedback.unseal(req.contact_sealed) == feedback.Contact("李明", "", "13800138000")
    req, _ = _submit(db, contact_mobile="")
    assert feedback.unseal(req.contact_sealed).email == "liming@example.com"


def test_r_opn_4_anonymous_submissions_are_rate_limited_per_address_with_retry_after(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    db.commit()
    for i in range(feedback.SUBMISSIONS_PER_HOUR):
        assert client.post("/open/requests", data={**REQUEST, "title": f"需求{i}"},
                           follow_redirects=False).status_code == 303
    r = client.post("/open/requests", data=REQUEST)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "提交过于频繁" in r.text
    slug = datasets.slug(w.entry.code)
    r = client.post(f"/open/datasets/{slug}/reports", data=REPORT)  # the same budget covers error reports
    assert r.status_code == 429 and "retry-after" in r.headers
    assert client.post("/open/requests", data={**REQUEST, "title": ""}).status_code == 422  # input first
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(OpenRequest)) == feedback.SUBMISSIONS_PER_HOUR
    _submit(db, client_ip="10.9.9.9")  # another address has its own budget
    requests.submit(db, actor=w.c.officer, client="testclient", **REQUEST)  # staff are not limited


def test_r_opn_4_the_bucket_forgets_refilled_addresses():
    bucket = feedback.ClientBucket(per_minute=600, burst=2, max_clients=3)
    for i in range(10):
        assert bucket.take(f"10.0.0.{i}", 1) == 0
        assert bucket.clients() <= 4
    assert bucket.take("x", 1) == 0 and bucket.take("x", 1) == 0 and bucket.take("x", 1) > 0


def test_r_opn_4_workbench_triage_queue_routing_and_the_departments_answer(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    c = w.c
    req, _ = _submit(db, start=date(2026, 11, 2))  # triage due 2026-11-09: overdue today
    db.commit()
    assert tasks_service.sweep_overdue(db) >= 1
    db.commit()
    assert db.scalar(select(Supervision).join(Task, Task.id == Supervision.task_id)
                     .where(Task.subject_type == "open_request", Task.subject_id == str(req.id))) is not None
    csrf = login(client, _user(db, c.reviewer))
    home = client.get("/workbench")
    assert 'href="/workbench/opendata/requests"' in home.text and f"/workbench/opendata/requests/{req.id}" in home.text
    queue = client.get("/workbench/opendata/requests", params={"view": "overdue"})
    assert queue.status_code == 200 and f'id="wb-request-{req.id}"' in queue.text and "已超期" in queue.text
    assert 'id="triage-queue"' in queue.text
    detail = client.get(f"/workbench/opendata/requests/{req.id}")
    assert detail.status_code == 200 and "liming@example.com" in detail.text and "13800138000" in detail.text
    assert 'id="route-form"' in detail.text and 'id="work-items"' in detail.text
    r = client.post(f"/workbench/opendata/requests/{req.id}/route", data={"csrf_token": csrf, "dept_org_id": ""})
    assert r.status_code == 422 and "请选择承办部门" in r.text
    r = client.post(f"/workbench/opendata/requests/{req.id}/route",
                    data={"csrf_token": csrf, "dept_org_id": str(c.dept.id), "note": "请答复"}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()

    csrf = login(client, _user(db, c.other_officer))
    assert client.get(f"/workbench/opendata/requests/{req.id}").status_code == 403
    assert f'id="wb-request-{req.id}"' not in client.get("/workbench/opendata/requests").text
    client.cookies.clear()
    csrf = login(client, _user(db, c.officer))
    mine = client.get("/workbench/opendata/requests")
    assert f'id="wb-request-{req.id}"' in mine.text and "剩余 10 个工作日" in mine.text
    detail = client.get(f"/workbench/opendata/requests/{req.id}")
    assert 'id="fulfil-form"' in detail.text and 'id="refuse-form"' in detail.text and "李明" in detail.text
    assert 'id="route-form"' not in detail.text
    r = client.post(f"/workbench/opendata/requests/{req.id}/fulfil", data={"csrf_token": csrf, "dataset": "101001-99999"})
    assert r.status_code == 422 and "不是已开放的数据集" in r.text
    r = client.post(f"/workbench/opendata/requests/{req.id}/plan", data={"csrf_token": csrf, "planned_on": "2026-13-01"})
    assert r.status_code == 422 and "计划开放日期应为日期" in r.text
    r = client.post(f"/workbench/opendata/requests/{req.id}/nonsense", data={"csrf_token": csrf})
    assert r.status_code == 422
    r = client.post(f"/workbench/opendata/requests/{req.id}/fulfil",
                    data={"csrf_token": csrf, "dataset": w.entry.code}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get(OpenRequest, req.id).status == "fulfilled"


# Error reports (R-OPN-5) -----------------------------------------------------------------------------------

@pytest.mark.usefixtures("standalone_reports")
def test_r_opn_5_report_an_error_the_source_accepts_and_fixes_it_in_a_new_version(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=3)
    c = w.c
    db.commit()
    slug = datasets.slug(w.entry.code)
    page = client.get(f"/open/datasets/{slug}")
    assert page.status_code == 200 and 'id="error-reports"' in page.text and 'id="report-form"' in page.text
    assert f'action="/open/datasets/{slug}/reports"' in page.text and "该数据集还没有纠错" in page.text
    r = client.post(f"/open/datasets/{slug}/reports", data=REPORT, follow_redirects=False)
    assert r.status_code == 303, r.text
    token = _token(r.headers["location"], "reports")
    rep = db.scalar(select(OpenErrorReport).order_by(OpenErrorReport.id.desc()))
    assert (rep.entry_id, rep.org_id, rep.version_number, rep.item, rep.status) == (w.entry.id, c.dept.id, 1,
                                                                                    "户籍地址", "open")
    assert rep.token_sm3 == sm3_hex(token.encode()) and rep.channel == "portal"
    (item,) = _tasks(db, "open_error_report", rep.id)
    assert item.kind == "opendata.report.answer" and item.assignee_org_id == c.dept.id
    assert item.due_date == _due(db, error_reports.ANSWER_WORKDAYS) == rep.due_on
    assert _audits(db, "open_error_report", rep.id) == ["opendata.report.submit"]

    page = client.get(f"/open/datasets/{slug}")
    assert f'id="report-{rep.id}"' in page.text and "地址中的街道名称写错了" in page.text
    assert "王芳" not in page.text and "13900139000" not in page.text
    track = client.get(r.headers["location"])
    assert track.status_code == 200 and "待处理" in track.text and "王*" in track.text and "139****9000" in track.text

    with pytest.raises(Forbidden):
        error_reports.accept(db, actor=c.other_officer, report_id=rep.id, note="我们来修")
    with pytest.raises(Invalid):
        error_reports.accept(db, actor=c.officer, report_id=rep.id, note=" ")
    accepted = error_reports.accept(db, actor=c.officer, report_id=rep.id, note="已核实，将在下次归集时修正")
    assert accepted.status == "accepted"
    kinds = [(t.kind, t.status) for t in _tasks(db, "open_error_report", rep.id)]
    assert kinds == [("opendata.report.answer", "done"), ("opendata.report.fix", "open")]
    assert accepted.due_on == _due(db, error_reports.FIX_WORKDAYS)
    with pytest.raises(Invalid) as exc:  # the fixing version must be newer than the reported one
        error_reports.fix(db, actor=c.officer, report_id=rep.id, version=1)
    assert exc.value.field == "version"
    with pytest.raises(Invalid):
        error_reports.fix(db, actor=c.officer, report_id=rep.id, version=7)
    done = load_file(db, c.officer, w.entry, write_csv(tmp_path / "户籍2.csv", person_rows(3)))
    assert done.status == "applied", done.error
    fixed = error_reports.fix(db, actor=c.officer, report_id=rep.id, version="2")
    assert fixed.status == "fixed" and fixed.fixed_version == 2 and "第 2 版" in fixed.answer
    assert all(t.status == "done" for t in _tasks(db, "open_error_report", rep.id))
    assert _audits(db, "open_error_report", rep.id) == ["opendata.report.submit", "opendata.report.accept",
                                                        "opendata.report.fix"]
    db.commit()
    track = client.get(f"/open/reports/track/{token}")
    assert "已修正" in track.text and "v2" in track.text
    page = client.get(f"/open/datasets/{slug}")
    assert "已在版本" in page.text and "已修正" in page.text


@pytest.mark.usefixtures("standalone_reports")
def test_r_opn_5_the_source_rejects_with_reasons_and_may_keep_a_report_off_the_page(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=2)
    c = w.c
    slug = datasets.slug(w.entry.code)
    rep, token = error_reports.submit(db, actor=None, client="10.1.1.1", dataset=slug, **REPORT)
    other, _ = error_reports.submit(db, actor=None, client="10.1.1.1", dataset=w.entry.id,
                                    **{**REPORT, "description": "我的身份证号是440106198503120017，请删除"})
    with pytest.raises(Invalid):
        error_reports.reject(db, actor=c.officer, report_id=rep.id, reason="无")
    rejected = error_reports.reject(db, actor=c.officer, report_id=rep.id, reason="经与户籍登记核对，地址无误")
    assert rejected.status == "rejected" and not rejected.hidden
    hidden = error_reports.reject(db, actor=c.officer, report_id=other.id, reason="含个人信息，已电话联系本人核实",
                                  hide=True)
    assert hidden.hidden
    with pytest.raises(Conflict):
        error_reports.accept(db, actor=c.officer, report_id=rep.id, note="再看看")
    db.commit()
    page = client.get(f"/open/datasets/{slug}")
    assert "经与户籍登记核对，地址无误" in page.text and "经核实无误" in page.text and "440106198503120017" not in page.text
    assert "经核实无误" in client.get(f"/open/reports/track/{token}").text


@pytest.mark.parametrize("field,value,says", [
    ("item", "公民身份号码的明文", "不是该数据集公开的信息项"),
    ("description", "", "错误描述"),
    ("row_ref", "行" * 201, "所在行"),
    ("version", "99", "没有第 99 版"),
    ("version", "v1", "数据版本应为整数"),
    ("contact_mobile", "1380013800", "手机号码"),
])
def test_r_opn_5_bad_input_is_a_clear_4xx_naming_the_field(f, db, client, tmp_path, field, value, says):
    w = open_world(f, db, tmp_path, rows=1)
    db.commit()
    slug = datasets.slug(w.entry.code)
    r = client.post(f"/open/datasets/{slug}/reports", data={**REPORT, field: value})
    assert r.status_code == 422 and says in r.text and 'role="alert"' in r.text, r.text[-1500:]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(OpenErrorReport)) == 0
    assert client.post("/open/datasets/101001-99999/reports", data=REPORT).status_code == 404
    assert client.get(f"/open/datasets/{slug}/reports/new").status_code == 200


@pytest.mark.usefixtures("standalone_reports")
def test_r_opn_5_workbench_lists_deadlines_and_answers_through_forms(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    c = w.c
    rep, _ = error_reports.submit(db, actor=None, client="10.2.2.2", dataset=w.entry.id, **REPORT,
                                  start=date(2026, 11, 2))
    tasks_service.sweep_overdue(db)
    db.commit()
    csrf = login(client, _user(db, c.officer))
    listing = client.get("/workbench/opendata/reports", params={"view": "overdue"})
    assert listing.status_code == 200 and f'id="wb-report-{rep.id}"' in listing.text and "已超期" in listing.text
    detail = client.get(f"/workbench/opendata/reports/{rep.id}")
    assert "王芳" in detail.text and "13900139000" in detail.text and 'id="accept-form"' in detail.text
    r = client.post(f"/workbench/opendata/reports/{rep.id}/reject", data={"csrf_token": csrf, "reason": ""})
    assert r.status_code == 422 and "核实情况和理由" in r.text
    r = client.post(f"/workbench/opendata/reports/{rep.id}/accept", data={"csrf_token": csrf, "note": "将修正"},
                    follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    login(client, _user(db, c.other_officer))
    assert client.get(f"/workbench/opendata/reports/{rep.id}").status_code == 403
    client.cookies.clear()
    login(client, _user(db, c.auditor))  # oversight: sees all, answers nothing
    seen = client.get(f"/workbench/opendata/reports/{rep.id}")
    assert seen.status_code == 200 and 'id="fix-form"' not in seen.text
    with pytest.raises(Forbidden):
        error_reports.reject(db, actor=c.auditor, report_id=rep.id, reason="审计不能答复纠错")


def test_r_opn_5_the_database_enforces_the_status_vocabulary_named_by_the_convention(f, db, tmp_path):
    w = open_world(f, db, tmp_path, rows=1)
    rep, _ = error_reports.submit(db, actor=None, client="10.3.3.3", dataset=w.entry.id, **REPORT)
    names = {c.name for c in OpenRequest.__table__.constraints} | {c.name for c in OpenErrorReport.__table__.constraints}
    assert {"ck_open_request_status", "uq_open_request_token_sm3", "ck_open_error_report_status",
            "fk_open_error_report_entry_id_catalog_entry"} <= names
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(update(OpenErrorReport).where(OpenErrorReport.id == rep.id).values(status="bogus"))

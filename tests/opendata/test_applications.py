"""Applications for conditionally open data (R-OPN-2): a verified account applies (purpose, capability,
measures); the source decides within a deadline in working days; approval takes effect when the applicant
accepts the versioned data use agreement (recorded with its SM3); the data then goes to that applicant only,
until expiry or revocation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.opendata.service import accounts, applications, datasets
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task
from tests.factories import login
from tests.opendata.helpers import open_world

CONDITIONAL = {"open_type": "有条件开放", "open_condition": "具备数据安全管理能力；仅用于科研"}


def verified(db, username="researcher"):
    a = accounts.register(db, kind="person", username=username, display_name="李研究员", password="s3cret-pass")
    a.verified_at, a.real_name, a.identifier_shown = a.created_at, "李研究员", "4419**********0011"
    db.flush()
    return a


def _apply(db, a, w, **kw):
    args = dict(purpose="城市人口流动研究", capability="有专职数据安全人员和隔离的分析环境", measures="数据加密存储，仅项目组访问",
                delivery="both")
    args.update(kw)
    return applications.apply(db, account=a, dataset_ref=datasets.slug(w.entry.code), **args)


def test_r_opn_2_apply_decide_accept_and_the_data_goes_to_that_applicant_only(f, db, tmp_path):
    w = open_world(f, db, tmp_path, rows=3, **CONDITIONAL)
    a = verified(db)
    unverified = accounts.register(db, kind="person", username="anon", display_name="某人", password="s3cret-pass")
    with pytest.raises(Forbidden):
        _apply(db, unverified, w)
    for kw, field in (({"purpose": ""}, "purpose"), ({"capability": " "}, "capability"), ({"delivery": "fax"}, "delivery")):
        with pytest.raises(Invalid) as exc:
            _apply(db, a, w, **kw)
        assert exc.value.field == field
    app = _apply(db, a, w)
    with pytest.raises(Conflict):
        _apply(db, a, w)  # one at a time
    task = db.scalar(select(Task).where(Task.kind == applications.TASK_KIND, Task.subject_id == str(app.id)))
    assert task.assignee_org_id == w.c.dept.id and task.due_date == app.reply_due
    assert tasks.calendar(db).workdays_between(tasks.today(), task.due_date) == applications.REPLY_WORKDAYS
    assert applications.active_for(db, account_id=a.id, entry_id=w.entry.id, delivery="download") is None

    with pytest.raises(Forbidden):
        applications.approve(db, actor=w.c.other_officer, application_id=app.id)
    with pytest.raises(Invalid):
        applications.approve(db, actor=w.c.officer, application_id=app.id, term_days=0)
    applications.approve(db, actor=w.c.officer, application_id=app.id, term_days=180, note="同意，限科研使用")
    assert app.status == "approved" and app.expires_on == tasks.today() + timedelta(days=180)
    db.refresh(task)
    assert task.status == "done"
    assert applications.active_for(db, account_id=a.id, entry_id=w.entry.id, delivery="download") is None
    with pytest.raises(Conflict):  # the agreement shown was another version
        applications.accept(db, account=a, application_id=app.id, agreement_sm3_seen="0" * 64)
    other = verified(db, "someone.else")
    with pytest.raises(NotFound):  # another account's application does not exist for it
        applications.accept(db, account=other, application_id=app.id, agreement_sm3_seen=applications.agreement_sm3())
    applications.accept(db, account=a, application_id=app.id, agreement_sm3_seen=applications.agreement_sm3())
    assert app.status == "active" and app.agreement_version == applications.AGREEMENT_VERSION
    assert app.agreement_sm3 == applications.agreement_sm3() and app.accepted_at is not None
    assert applications.active_for(db, account_id=a.id, entry_id=w.entry.id, delivery="api").id == app.id
    assert applications.active_for(db, account_id=other.id, entry_id=w.entry.id, delivery="download") is None
    assert applications.active_for(db, account_id=a.id, entry_id=w.entry.id, delivery="download",
                                   on=app.expires_on + timedelta(days=1)) is None
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "open_application")))
    assert {"opendata.application.submit", "opendata.application.approved", "opendata.application.accept"} <= actions

    with pytest.raises(Invalid):
        applications.revoke(db, actor=w.c.officer, application_id=app.id, note="")
    applications.revoke(db, actor=w.c.officer, application_id=app.id, note="发现超范围使用")
    assert applications.active_for(db, account_id=a.id, entry_id=w.entry.id, delivery="download") is None


def test_r_opn_2_refusal_needs_reasons_withdrawal_and_expiry(f, db, tmp_path):
    w = open_world(f, db, tmp_path, rows=3, **CONDITIONAL)
    a = verified(db)
    app = _apply(db, a, w, delivery="download")
    with pytest.raises(Invalid):
        applications.refuse(db, actor=w.c.officer, application_id=app.id, note=" ")
    applications.refuse(db, actor=w.c.officer, application_id=app.id, note="安全措施不足以保护个人信息")
    assert app.status == "refused"
    again = _apply(db, a, w, delivery="download")  # a new application after a refusal
    applications.withdraw(db, account=a, application_id=again.id)
    assert again.status == "withdrawn"
    third = _apply(db, a, w, delivery="download")
    applications.approve(db, actor=w.c.officer, application_id=third.id, term_days=1)
    applications.accept(db, account=a, application_id=third.id, agreement_sm3_seen=applications.agreement_sm3())
    assert applications.active_for(db, account_id=a.id, entry_id=w.entry.id, delivery="api") is None  # download only
    assert applications.expire(db, on=tasks.today() + timedelta(days=3)) == 1 and third.status == "expired"


def test_r_opn_2_unconditional_data_needs_no_application(f, db, tmp_path):
    w = open_world(f, db, tmp_path, rows=3)
    with pytest.raises(Conflict):
        _apply(db, verified(db), w)


def test_r_opn_2_apply_on_the_dataset_page_decide_in_the_workbench_accept_on_the_account_page(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=3, **CONDITIONAL)
    verified(db)
    db.commit()
    slug = datasets.slug(w.entry.code)
    page = client.get(f"/open/datasets/{slug}")
    assert "登录后申请" in page.text and 'id="apply-form"' not in page.text
    r = client.get("/open/account/login")
    token = re.search(r'name="form_token" value="([^"]+)"', r.text).group(1)
    client.post("/open/account/login", data={"form_token": token, "username": "researcher", "password": "s3cret-pass"})
    page = client.get(f"/open/datasets/{slug}")
    assert 'id="apply-form"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(f"/open/datasets/{slug}/apply", data={"csrf_token": csrf, "purpose": "", "capability": "x",
                                                          "measures": "y", "delivery": "both"})
    assert r.status_code == 422 and "用途" in r.text
    r = client.post(f"/open/datasets/{slug}/apply", data={"csrf_token": csrf, "purpose": "科研", "capability": "专人",
                                                          "measures": "加密", "delivery": "both"}, follow_redirects=False)
    assert r.status_code == 303
    assert "待审核" in client.get(f"/open/datasets/{slug}").text

    # the source's officer decides in the workbench (the same browser: a staff session beside the portal's)
    officer_csrf = login(client, db.get(User, w.c.officer.user_id))
    listing = client.get("/workbench/opendata/applications")
    assert listing.status_code == 200 and "科研" in listing.text and "剩 10 个工作日" in listing.text
    app_id = int(re.search(r'id="application-(\d+)"', listing.text).group(1))
    r = client.post(f"/workbench/opendata/applications/{app_id}/approve", data={"csrf_token": officer_csrf,
                                                                                "term_days": "x"})
    assert r.status_code == 422 and "使用期限" in r.text
    r = client.post(f"/workbench/opendata/applications/{app_id}/approve",
                    data={"csrf_token": officer_csrf, "term_days": "90"}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.delete("gongshu_session")

    account = client.get("/open/account")
    assert "阅读并签署数据使用协议" in account.text and applications.AGREEMENT_VERSION in account.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', account.text).group(1)
    r = client.post(f"/open/account/applications/{app_id}/accept",
                    data={"csrf_token": csrf, "agreement_sm3": applications.agreement_sm3()}, follow_redirects=False)
    assert r.status_code == 303
    assert "使用中" in client.get(f"/open/datasets/{slug}").text

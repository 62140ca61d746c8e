"""The loop's pages and channels (R-GOV-2/3, LZ 32, ZQ 20, R-OPN-5): the consumer's form and the business systems'
API, the public's error report as one loop with the data issue (its outcome on the tracking page), the source's
inbox, the reporter's view, the authority's overview, the timeline with the forms each party may use, and the flags
on catalogue, sharing and open data pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.auth.models import User
from gongshu.errors import Conflict
from gongshu.opendata.models_feedback import OpenErrorReport
from gongshu.opendata.service import datasets, error_reports
from gongshu.opendata.service import feedback as open_feedback
from gongshu.quality.models_issues import DataIssue
from gongshu.quality.service import answers, feedback, issues
from gongshu.sharing.service import requests as share_requests
from gongshu.tasks import service as tasks_service
from tests.catalog.helpers import cast, published
from tests.factories import login
from tests.ingest.helpers import load_file, person_rows, write_csv
from tests.opendata.helpers import open_world

BASE = "/workbench/quality/issues"
REPORT = {"item": "户籍地址", "row_ref": "第 2 行", "description": "地址中的街道名称写错了",
          "suggestion": "南城街道应为南城街道办事处", "contact_name": "王芳", "contact_email": "",
          "contact_mobile": "139 0013 9000"}


@pytest.fixture(autouse=True)
def fresh_limits():
    open_feedback.limits.reset()
    yield
    open_feedback.limits.reset()


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def _token(db, actor, scopes=("quality.*",)) -> str:
    plain, _ = auth_service.create_token(db, actor=actor, name="窗口受理系统", scopes=list(scopes), days=30)
    return plain


def test_R_GOV_2_consumer_api_with_a_staff_token_returns_the_id_and_a_status_url(f, db, client):
    """LZ 32 接口对接: the business system reports from its service page; ZQ 20: any authenticated caller with the
    action (an operator's developer too)."""
    c = cast(f)
    e = published(db, c)
    token = _token(db, c.other_officer)
    narrow = _token(db, c.other_officer, scopes=("catalog.*",))
    operator = f.actor(f.org(kind="operator"), ("dept_staff",))
    dev_token = _token(db, operator)
    db.commit()
    body = {"entry": e.code, "title": "户籍地址与不动产登记不一致", "description": "窗口受理时申请人出示的不动产证地址不同",
            "item": "户籍地址", "row_ref": "440106198503120017", "urgent": True, "severity": "critical",
            "evidence": {"seen": "南城街道8号", "source": "不动产登记"}, "external_key": "SL-2026-0001"}
    r = client.post("/api/v1/quality/issues", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "open" and out["status_zh"] == "待处理" and out["org_id"] == c.dept.id
    assert out["status_url"] == f"/api/v1/quality/issues/{out['id']}" and out["due_on"]
    again = client.post("/api/v1/quality/issues", json=body, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 201 and again.json()["id"] == out["id"]  # a retried call: the same issue
    status = client.get(out["status_url"], headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200 and [s["kind"] for s in status.json()["steps"]] == ["raised"]
    db.expire_all()
    issue = db.get(DataIssue, out["id"])
    assert (issue.channel, issue.origin_type, issue.reporter_org_id, issue.urgent) == ("consumer", "api",
                                                                                      c.other_dept.id, True)
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.subject_type == "data_issue",
                                                     AuditEvent.subject_id == str(issue.id))) == "quality.issue.raise"
    dev = client.post("/api/v1/quality/issues", json={**body, "external_key": ""},
                      headers={"Authorization": f"Bearer {dev_token}"})
    assert dev.status_code == 201 and dev.json()["id"] != out["id"]

    # bad input: 4xx with a message naming the field, never a 500
    for bad, field in (({"entry": "nope"}, "entry"), ({"item": "血型"}, "item"), ({"severity": "x"}, "severity"),
                       ({"title": ""}, "title"), ({"version": "v99"}, "version"),
                       ({"evidence": {"rows": "行" * 20_001}}, "evidence")):
        r = client.post("/api/v1/quality/issues", json={**body, "external_key": "", **bad},
                        headers={"Authorization": f"Bearer {token}"})
        assert 400 <= r.status_code < 500 and r.json()["error"]["field"] == field, r.text
    r = client.post("/api/v1/quality/issues", json={"entry": e.id}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "title" in r.json()["error"]["message"]
    assert client.post("/api/v1/quality/issues", json=body).status_code == 401
    assert client.post("/api/v1/quality/issues", json=body,
                       headers={"Authorization": f"Bearer {narrow}"}).status_code == 403
    assert client.get(out["status_url"], headers={"Authorization": f"Bearer {dev_token}"}).status_code == 404


def test_R_GOV_2_workbench_form_inbox_reporter_view_and_timeline_with_permissions(f, db, client, tmp_path):
    c = cast(f)
    e = published(db, c)
    db.commit()
    login(client, _user(db, c.other_officer))
    form = client.get(f"{BASE}/new", params={"entry": e.code})
    assert form.status_code == 200 and 'id="issue-form"' in form.text and '<option value="户籍地址"' in form.text
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    bad = client.post(f"{BASE}/new", data={"csrf_token": csrf, "entry": e.code, "title": "", "description": "x"})
    assert bad.status_code == 422 and 'id="err-title"' in bad.text
    r = client.post(f"{BASE}/new", data={"csrf_token": csrf, "entry": e.code, "title": "姓名有错别字",
                                         "description": "“张三”应为“章三”", "item": "姓名", "urgent": "1",
                                         "evidence": "身份证原件"}, follow_redirects=False)
    assert r.status_code == 303
    issue_id = int(re.search(r"/issues/(\d+)", r.headers["location"]).group(1))
    mine = client.get(BASE, params={"view": "reported"})
    assert f'id="issue-{issue_id}"' in mine.text and "紧急" in mine.text
    page = client.get(f"{BASE}/{issue_id}")
    assert page.status_code == 200 and 'id="withdraw-form"' in page.text and 'id="accept-form"' not in page.text

    client.cookies.clear()
    csrf = login(client, _user(db, c.officer))
    inbox = client.get(BASE, params={"filter": "urgent"})
    assert inbox.status_code == 200 and f'id="issue-{issue_id}"' in inbox.text
    assert f'id="issue-{issue_id}"' not in client.get(BASE, params={"filter": "closed"}).text
    page = client.get(f"{BASE}/{issue_id}")
    for form_id in ("accept-form", "confirm-form", "negotiate-form", "reject-form", "correct-form"):
        assert f'id="{form_id}"' in page.text
    assert 'id="coordinate-form"' not in page.text and 'id="issue-timeline"' in page.text
    # 完成整改 says where the corrected data goes and that the re-check closes the issue by itself
    entry_id = db.get(DataIssue, issue_id).entry_id
    assert 'id="correct-hint"' in page.text and f'href="/workbench/ingest/entries/{entry_id}"' in page.text
    r = client.post(f"{BASE}/{issue_id}/confirm", data={"csrf_token": csrf, "explanation": ""})
    assert r.status_code == 422 and 'id="err-explanation"' in r.text
    r = client.post(f"{BASE}/{issue_id}/confirm", data={"csrf_token": csrf, "explanation": "已与户籍档案核对，姓名无误"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.post(f"{BASE}/{issue_id}/bogus", data={"csrf_token": csrf}).status_code == 404

    client.cookies.clear()
    csrf = login(client, _user(db, c.other_officer))
    page = client.get(f"{BASE}/{issue_id}")
    assert 'id="dispute-form"' in page.text and "已与户籍档案核对" in page.text
    r = client.post(f"{BASE}/{issue_id}/dispute", data={"csrf_token": csrf, "reasons": "身份证原件为“章三”"},
                    follow_redirects=False)
    assert r.status_code == 303

    third = f.actor(f.org())
    db.commit()
    client.cookies.clear()
    csrf = login(client, _user(db, third))
    assert client.get(f"{BASE}/{issue_id}").status_code == 404  # another department cannot see it…
    assert client.post(f"{BASE}/{issue_id}/failed", data={"csrf_token": csrf, "record": "x"}).status_code == 404
    assert client.get(f"{BASE}/overview").status_code == 403

    client.cookies.clear()
    csrf = login(client, _user(db, c.reviewer))
    overview = client.get(f"{BASE}/overview")
    assert overview.status_code == 200 and f'id="org-{c.dept.id}"' in overview.text
    assert f'id="issue-{issue_id}"' in overview.text  # among the disputes in progress
    page = client.get(f"{BASE}/{issue_id}")
    assert 'id="escalate-form"' in page.text and 'id="accept-form"' not in page.text
    r = client.post(f"{BASE}/{issue_id}/escalate", data={"csrf_token": csrf, "note": "主管部门直接协调"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"{BASE}/{issue_id}")
    assert 'id="coordinate-form"' in page.text and 'data-kind="disputed"' in page.text
    r = client.post(f"{BASE}/{issue_id}/coordinate", data={"csrf_token": csrf, "record": "协调未果", "result": "failed"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"{BASE}/{issue_id}/consult", data={"csrf_token": csrf, "participants": "公安局、民政局、市委编办",
                                                        "minutes": "会商未果", "result": "failed"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"{BASE}/{issue_id}/report", data={"csrf_token": csrf, "party_org": ["公安局", "民政局"],
                                                       "party_reasons": ["数据无误", "应予更正"], "opinion": "建议更正"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[-2000:]
    page = client.get(f"{BASE}/{issue_id}")
    assert 'id="decide-form"' in page.text and "建议更正" in page.text and "市委编办" in page.text
    r = client.post(f"{BASE}/{issue_id}/decide", data={"csrf_token": csrf, "decision": "由公安局更正", "result": "fix"},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert (db.get(DataIssue, issue_id).status, db.get(DataIssue, issue_id).stage) == ("fixing", 4)


def test_R_GOV_2_a_public_error_report_is_one_loop_with_its_data_issue(f, db, client, tmp_path):
    """R-OPN-5 + LZ 31: the report becomes a "public" issue at the source; the source answers the issue only; each
    answer reaches the submitter's tracking page and the dataset's page."""
    w = open_world(f, db, tmp_path, rows=3)
    c = w.c
    db.commit()
    slug = datasets.slug(w.entry.code)
    r = client.post(f"/open/datasets/{slug}/reports", data=REPORT, follow_redirects=False)
    assert r.status_code == 303, r.text
    track_url = r.headers["location"].split("?")[0]
    db.expire_all()
    rep = db.scalar(select(OpenErrorReport).order_by(OpenErrorReport.id.desc()))
    issue = issues.of_origin(db, origin_type="open_error_report", origin_id=rep.id)
    assert (issue.channel, issue.org_id, issue.item, issue.row_ref, issue.version_number) == (
        "public", c.dept.id, "户籍地址", "第 2 行", 1)
    assert issue.evidence["suggestion"] == REPORT["suggestion"] and issue.reporter_org_id is None
    assert issue.due_on == rep.due_on == tasks_service.calendar(db).add_workdays(
        tasks_service.today(), issues.DEADLINES["answer_public"][0])
    assert [t.kind for t in error_reports.work_items(db, report_id=rep.id)] == ["quality.issue.answer"]  # one inbox
    assert error_reports.handled_by(db, report_id=rep.id) == ("data_issue", issue.id)
    with pytest.raises(Conflict):  # the report's own answers are closed: one place to answer
        error_reports.accept(db, actor=c.officer, report_id=rep.id, note="我们来修")

    csrf = login(client, _user(db, c.officer))
    page = client.get(f"/workbench/opendata/reports/{rep.id}")
    assert f'href="{BASE}/{issue.id}"' in page.text and 'id="accept-form"' not in page.text
    r = client.post(f"{BASE}/{issue.id}/accept", data={"csrf_token": csrf, "plan": "核对后在下次归集时修正"},
                    follow_redirects=False)
    assert r.status_code == 303
    track = client.get(track_url)
    assert "已确认，待修正" in track.text and "核对后在下次归集时修正" in track.text and "问题数据待整改" in track.text

    done = load_file(db, c.officer, w.entry, write_csv(tmp_path / "户籍2.csv", person_rows(3)))
    assert done.status == "applied", done.error
    db.commit()
    r = client.post(f"{BASE}/{issue.id}/correct", data={"csrf_token": csrf, "version": "2", "note": ""},
                    follow_redirects=False)
    assert r.status_code == 303
    track = client.get(track_url)
    assert "已修正" in track.text and "v2" in track.text and "已在第 2 版数据中修正" in track.text
    assert "已修正" in client.get(f"/open/datasets/{slug}").text
    db.expire_all()
    rep = db.get(OpenErrorReport, rep.id)
    assert (rep.status, rep.fixed_version, rep.due_on) == ("fixed", 2, None)
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "open_error_report",
                                                               AuditEvent.subject_id == str(rep.id))
                              .order_by(AuditEvent.seq)))
    assert actions == ["opendata.report.submit", "opendata.report.settle", "opendata.report.settle",
                       "opendata.report.settle"]


def test_R_GOV_2_the_public_is_told_a_confirmation_and_a_report_can_be_kept_off_the_page(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=2)
    c = w.c
    rep, token = error_reports.submit(db, actor=None, client="10.9.9.9", dataset=w.entry.id,
                                      **{**REPORT, "description": "我的身份证号是440106198503120017，地址错了"})
    issue = issues.of_origin(db, origin_type="open_error_report", origin_id=rep.id)
    answers.confirm(db, actor=c.officer, issue_id=issue.id, explanation="经与户籍登记核对，地址无误")
    feedback.hide_report(db, actor=c.officer, issue_id=issue.id)
    db.commit()
    track = client.get(f"/open/reports/track/{token}")
    assert "经核实无误" in track.text and "经与户籍登记核对，地址无误" in track.text
    page = client.get(f"/open/datasets/{datasets.slug(w.entry.code)}")
    assert "440106198503120017" not in page.text


def test_R_GOV_2_open_critical_issues_flag_catalogue_sharing_and_open_data_pages(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=2)
    c = w.c
    flag = "存在待整改的严重问题数据"
    slug = datasets.slug(w.entry.code)
    req = share_requests.submit(db, actor=c.other_officer, entry_id=w.entry.id, items=["姓名"], mode="api",
                                matter="高龄津贴发放核验", legal_basis="《老年人权益保障法》", system_name="民政业务系统",
                                purpose_kind="public_service", row_scope={}, term_days=365, application_id=None)
    db.commit()
    login(client, _user(db, c.other_officer))
    assert flag not in client.get(f"/catalog/{w.entry.code}").text
    assert flag not in client.get(f"/open/datasets/{slug}").text
    issue = issues.raise_issue(db, actor=c.reviewer, entry_id=w.entry.id, channel="rule", title="身份号码校验位错误",
                               description="", severity="critical", dedupe_key=f"rule:{w.entry.id}:checksum")
    db.commit()
    assert flag in client.get(f"/catalog/{w.entry.code}").text
    assert flag in client.get(f"/open/datasets/{slug}").text
    assert flag in client.get(f"/workbench/sharing/requests/{req.id}").text
    answers.withdraw(db, actor=c.reviewer, issue_id=issue.id, reason="规则误报")
    db.commit()
    assert flag not in client.get(f"/open/datasets/{slug}").text

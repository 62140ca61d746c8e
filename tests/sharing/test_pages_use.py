"""Using shared data in the browser (R-SHR-3, R-SHR-4, R-SHR-5, R-SHR-6, R-SHR-10): the grant page's panel per
mode for the consumer's staff — verification, analysis, exchange packages — through the same services as
applications (every use and refusal an access event); the applications page (secret shown once); the access
log with its filters (a data subject by its key, which never appears in a URL or on the page); the source's
usage of its data."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.config import get_settings
from gongshu.crypto import sm2
from gongshu.errors import Unauthenticated
from gongshu.kit.hashing import sm3_hex
from gongshu.sharing.models import (
    AccessEvent,
    AccessSubject,
    Application,
    ExchangePackage,
    Grant,
    ShareRequest,
)
from gongshu.sharing.service import access, apps, evidence, exchange, grants, requests, verify
from tests.factories import login
from tests.ingest.helpers import make_id
from tests.sharing.helpers import World, ask, world

NOT_SHARED = {"sharing_type": "不予共享", "sharing_condition": "", "sharing_basis": "《中华人民共和国个人信息保护法》",
              "open_type": "不予开放"}
WOMAN = make_id(2)  # 张三2, 性别 2, born 1985-03-12


@pytest.fixture(autouse=True)
def platform(tmp_path, monkeypatch):
    """The platform's data key (subject digests) and SM2 signing key in this test's own data directory."""
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GONGSHU_DATA_KEY", "5a" * 32)
    monkeypatch.delenv("GONGSHU_SIGNATURE_PROVIDER", raising=False)
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    verify.limits.reset()
    access._buckets.clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    verify.limits.reset()
    access._buckets.clear()


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def grant_for(db, w: World, *, mode: str, items=("公民身份号码", "姓名", "性别", "出生日期"), masked=("姓名",),
              **kw) -> Grant:
    req = ask(db, w, items=items, mode=mode, **kw)
    return requests.approve(db, actor=w.c.officer, request_id=req.id,
                            items=[{"name": n, "masked": n in masked} for n in items])


def events(db, **where) -> list[AccessEvent]:
    db.expire_all()
    stmt = select(AccessEvent).order_by(AccessEvent.id)
    for k, v in where.items():
        stmt = stmt.where(getattr(AccessEvent, k) == v)
    return list(db.scalars(stmt))


def log_rows(html: str) -> str:
    """The body of the access log's table."""
    return html.split('id="access-events"')[1].split("<tbody>")[1].split("</tbody>")[0]


def error_text(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>(.*?)</p>', html, re.S)
    return m.group(1) if m else ""


# Verification ------------------------------------------------------------------------------------------

def test_r_shr_4_consumer_staff_verify_on_the_grant_page_and_every_check_is_logged(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=10, **NOT_SHARED)
    grant = grant_for(db, w, mode="verify", items=("性别", "出生日期", "姓名"), masked=())
    staff = f.user(w.c.other_dept, ("dept_staff",))
    db.commit()
    csrf = login(client, staff)
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert page.status_code == 200 and 'id="verify-form"' in page.text and "公民身份号码（主键）" in page.text
    url = f"/workbench/sharing/grants/{grant.id}/use/verify"
    form = {"csrf_token": csrf, "purpose": "HY-2026-000017", "key": WOMAN, "item": "性别", "op": "eq", "value": "2"}

    r = client.post(url, data=form)
    assert r.status_code == 200 and 'id="verify-result"' in r.text and "<strong>一致</strong>" in r.text
    assert "张三2" not in r.text  # never the value
    (ev,) = events(db, grant_id=grant.id)
    assert (ev.operation, ev.result, ev.end_user, ev.purpose, ev.consumer_org_id, ev.source_org_id, ev.keys) == \
        ("verify", "ok", staff.display_name, "HY-2026-000017", w.c.other_dept.id, w.c.dept.id, 1)
    assert set(db.scalars(select(AccessSubject.key_digest).where(AccessSubject.event_id == ev.id))) == \
        {evidence.subject_digest(WOMAN)}

    r = client.post(url, data={**form, "value": "1"})
    assert "<strong>不一致</strong>" in r.text
    r = client.post(url, data={**form, "key": make_id(999)})
    assert "<strong>查无此记录</strong>" in r.text
    r = client.post(url, data={**form, "item": "出生日期", "op": "range", "value": "", "low": "1985-01-01",
                               "high": "1985-12-31"})
    assert "<strong>一致</strong>" in r.text
    assert [e.result for e in events(db, grant_id=grant.id)] == ["ok"] * 4

    # bad input: a clear 4xx naming the problem; the refused use is logged too
    r = client.post(url, data={**form, "item": "户籍地址"})
    assert r.status_code == 403 and "授权不包括以下信息项" in error_text(r.text) and "户籍地址" in error_text(r.text)
    last = events(db, grant_id=grant.id)[-1]
    assert (last.result, last.reason) == ("denied", "item_not_granted")
    r = client.post(url, data={**form, "item": "出生日期", "value": "去年"})
    assert r.status_code == 422 and "不是该信息项类型的有效值" in error_text(r.text)
    r = client.post(url, data={**form, "item": "姓名", "op": "range", "value": "", "low": "a"})
    assert r.status_code == 422 and "只能核验是否等于某值" in error_text(r.text)
    before = len(events(db, grant_id=grant.id))
    r = client.post(url, data={**form, "purpose": " "})
    assert r.status_code == 422 and "事项编号" in error_text(r.text)
    r = client.post(url, data={**form, "value": ""})
    assert r.status_code == 422 and "请填写要核验的值" in error_text(r.text)
    assert len(events(db, grant_id=grant.id)) == before  # refused by the form before any data was touched


def test_r_shr_3_other_departments_get_no_panel_and_their_attempts_are_refused_and_logged(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=5, **NOT_SHARED)
    grant = grant_for(db, w, mode="verify", items=("性别",), masked=())
    db.commit()
    csrf = login(client, _user(db, w.c.officer))  # the source sees the grant, but it is not theirs to use
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert page.status_code == 200 and 'id="use-data"' not in page.text
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/verify",
                    data={"csrf_token": csrf, "purpose": "X-1", "key": WOMAN, "item": "性别", "value": "2"})
    assert r.status_code == 403 and "其他使用部门" in error_text(r.text)
    last = events(db, grant_id=grant.id)[-1]
    assert (last.result, last.reason, last.consumer_org_id) == ("denied", "other_consumer", w.c.dept.id)

    outsider = f.user(f.org(), ("dept_officer",))
    db.commit()
    login(client, outsider)
    assert client.get(f"/workbench/sharing/grants/{grant.id}").status_code == 404


def test_r_shr_3_a_revoked_grant_says_why_it_cannot_be_used(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=5, **NOT_SHARED)
    grant = grant_for(db, w, mode="verify", items=("性别",), masked=())
    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="业务系统停用")
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert 'id="use-blocked"' in page.text and "授权已撤销" in page.text and 'id="verify-form"' not in page.text
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/verify",
                    data={"csrf_token": csrf, "purpose": "X-1", "key": WOMAN, "item": "性别", "value": "2"})
    assert r.status_code == 403 and "授权已撤销" in error_text(r.text)
    assert events(db, grant_id=grant.id)[-1].reason == "revoked"


def test_r_shr_2_a_grant_awaiting_delivery_shows_its_deadline_in_working_days(f, db, client, tmp_path):
    w = world(f, db, tmp_path, load=False)
    grant = grant_for(db, w, mode="analysis")
    assert grant.status == "awaiting_delivery" and grant.delivery_due is not None
    db.commit()
    login(client, _user(db, w.consumer))
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    due = page.text.split('id="delivery-due"')[1].split("</p>")[0]
    assert grant.delivery_due.isoformat() in due and re.search(r"剩余 \d 个工作日", due)
    blocked = page.text.split('id="use-blocked"')[1].split("</p>")[0]
    assert "数据尚未交付" in blocked and grant.delivery_due.isoformat() in blocked
    assert 'id="analysis-form"' not in page.text
    listing = client.get("/workbench/sharing")
    assert f"交付期限 {grant.delivery_due.isoformat()}" in listing.text


# Analysis ----------------------------------------------------------------------------------------------

def test_r_shr_5_analysis_on_the_grant_page_returns_results_masked_and_refuses_sql_outside_the_view(
        f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=6)
    grant = grant_for(db, w, mode="analysis")
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert 'id="analysis-form"' in page.text and 'id="granted-columns"' in page.text
    assert "户籍地址" not in page.text.split('id="granted-columns"')[1].split("</table>")[0]
    url = f"/workbench/sharing/grants/{grant.id}/use/analysis"
    r = client.post(url, data={"csrf_token": csrf, "sql": "SELECT 性别, count(*) AS n FROM granted GROUP BY 1 ORDER BY 1",
                               "max_rows": "100", "purpose": "FX-2026-3"})
    assert r.status_code == 200, error_text(r.text)
    table = r.text.split('id="analysis-result"')[1]
    assert re.search(r"<td>1</td><td>3</td>", table) and re.search(r"<td>2</td><td>3</td>", table)
    ev = events(db, grant_id=grant.id)[-1]
    assert (ev.operation, ev.result, ev.purpose, ev.rows) == ("analysis", "ok", "FX-2026-3", 2)
    assert ev.reason.startswith("sql_sm3=")

    r = client.post(url, data={"csrf_token": csrf, "sql": "SELECT 姓名 FROM granted ORDER BY 1 LIMIT 1"})
    assert r.status_code == 200 and "张*" in r.text.split('id="analysis-result"')[1]  # masked as granted
    assert "张一1" not in r.text

    for sql, words in (("SELECT * FROM granted; DROP VIEW granted", "语句"),
                       ("SELECT 户籍地址 FROM granted", "户籍地址"),
                       ("SELECT * FROM read_csv('/etc/passwd')", "read_csv")):
        r = client.post(url, data={"csrf_token": csrf, "sql": sql})
        assert r.status_code == 422, sql
        assert words in error_text(r.text), (sql, error_text(r.text))
        last = events(db, grant_id=grant.id)[-1]
        assert (last.result, last.reason.startswith("sql_refused")) == ("denied", True), last.reason
    r = client.post(url, data={"csrf_token": csrf, "sql": "SELECT 1 FROM granted", "max_rows": "many"})
    assert r.status_code == 422 and "返回行数上限应为整数" in error_text(r.text)


# Exchange ----------------------------------------------------------------------------------------------

def test_r_shr_5_exchange_build_download_manifest_receive_on_the_grant_page(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=8)
    grant = grant_for(db, w, mode="exchange", items=("公民身份号码", "姓名", "性别"))
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert 'id="exchange-form"' in page.text and "尚未生成数据包" in page.text
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/exchange",
                    data={"csrf_token": csrf, "kind": "incremental", "fmt": "csv"})
    assert r.status_code == 409 and "不能生成增量包" in error_text(r.text)
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/exchange",
                    data={"csrf_token": csrf, "kind": "full", "fmt": "xls"})
    assert r.status_code == 422 and "xls" in error_text(r.text)
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/exchange",
                    data={"csrf_token": csrf, "kind": "full", "fmt": "csv", "purpose": "JK-7"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    db.expire_all()
    pkg = db.scalar(select(ExchangePackage).where(ExchangePackage.grant_id == grant.id))
    assert pkg is not None and pkg.rows == 8 and f'id="package-{pkg.id}"' in page.text
    assert "gongshu sharing verify-package" in page.text and pkg.manifest["signer"]["public_key"] in page.text

    got = client.post(f"/workbench/sharing/packages/{pkg.id}/file", data={"csrf_token": csrf})
    assert got.status_code == 200 and got.headers["x-content-sm3"] == pkg.sm3
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["公民身份号码", "姓名", "性别"] and all(r["姓名"].endswith("*") for r in rows)
    env = client.get(f"/workbench/sharing/packages/{pkg.id}/manifest")
    assert env.status_code == 200 and "attachment" in env.headers["content-disposition"]
    envelope = exchange.read_envelope(env.content)
    check = exchange.verify_package(envelope.manifest_bytes, envelope.signature, got.content, envelope.public_key)
    assert check.ok, check.problems
    assert [(e.reason, e.result, e.rows) for e in events(db, grant_id=grant.id)] == \
        [("build full", "ok", 8), (f"download package {pkg.id}", "ok", 8)]

    r = client.post(f"/workbench/sharing/packages/{pkg.id}/receive", data={"csrf_token": csrf, "sm3": "ab" * 32})
    assert r.status_code == 422 and "SM3" in error_text(r.text)
    r = client.post(f"/workbench/sharing/packages/{pkg.id}/receive", data={"csrf_token": csrf,
                                                                         "sm3": sm3_hex(got.content)},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert db.get(ExchangePackage, pkg.id).status == "received"
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "sharing.package.receive"))
    assert audit is not None and json.loads(audit.detail)["sm3_confirmed"] is True
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/exchange",
                    data={"csrf_token": csrf, "kind": "incremental", "fmt": "csv"})
    assert r.status_code == 409 and "没有新版本" in error_text(r.text)

    csrf = login(client, _user(db, w.c.officer))  # the source sees the packages, may not download them
    # A refused delivery's event is queued for the evidence writer, to be written once the page's transaction
    # has ended (tests/sharing/test_exchange.py checks it); in this harness the writer and the page share one
    # connection, so the writer is paused here rather than racing the page's rollback.
    evidence.stop_writer()
    try:
        r = client.post(f"/workbench/sharing/packages/{pkg.id}/file", data={"csrf_token": csrf})
    finally:
        evidence.start_writer()
    assert r.status_code == 403 and "其他使用部门" in error_text(r.text)
    assert "attachment" not in r.headers.get("content-disposition", "")


# API mode: what an application needs -------------------------------------------------------------------

def test_r_shr_5_api_grant_page_shows_endpoints_headers_and_the_departments_applications(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    app, _secret = apps.register(db, actor=w.consumer, name="不动产登记系统")
    grant = grant_for(db, w, mode="api", application_id=app.id)
    db.commit()
    login(client, _user(db, w.consumer))
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert page.status_code == 200 and 'id="api-usage"' in page.text
    assert f"/api/v1/share/grants/{grant.id}/records" in page.text and app.client_id in page.text
    assert "X-Purpose" in page.text and 'href="/workbench/sharing/apps"' in page.text
    assert _secret not in page.text


def test_r_shr_5_consumer_staff_look_up_one_record_of_an_api_grant_and_every_lookup_is_logged(
        f, db, client, tmp_path, monkeypatch):
    w = world(f, db, tmp_path, rows=6)
    app, _secret = apps.register(db, actor=w.consumer, name="不动产登记系统")
    grant = grant_for(db, w, mode="api", application_id=app.id, row_scope={"性别": ["2"]})
    staff = f.user(w.c.other_dept, ("dept_staff",))
    db.commit()
    csrf = login(client, staff)
    page = client.get(f"/workbench/sharing/grants/{grant.id}")
    assert page.status_code == 200 and 'id="lookup-form"' in page.text and "公民身份号码（主键）" in page.text
    url = f"/workbench/sharing/grants/{grant.id}/use/lookup"
    form = {"csrf_token": csrf, "purpose": "BDC-2026-000321", "key": WOMAN}

    r = client.post(url, data=form)
    assert r.status_code == 200 and 'id="lookup-result"' in r.text, error_text(r.text)
    result = r.text[r.text.index('id="lookup-result"'):]
    assert "张**" in result and "张三2" not in r.text and "1985-03-12" in result and "户籍地址" not in result
    (ev,) = events(db, grant_id=grant.id)
    assert (ev.operation, ev.result, ev.end_user, ev.purpose, ev.application_id, ev.consumer_org_id, ev.rows) == \
        ("lookup", "ok", staff.display_name, "BDC-2026-000321", None, w.c.other_dept.id, 1)
    assert set(db.scalars(select(AccessSubject.key_digest).where(AccessSubject.event_id == ev.id))) == \
        {evidence.subject_digest(WOMAN)}

    # a man is outside the row scope: "no record" to the user, denied in the log
    r = client.post(url, data={**form, "key": make_id(1)})
    assert r.status_code == 404 and "没有该主键的记录" in error_text(r.text) and 'id="lookup-result"' not in r.text
    assert (events(db, grant_id=grant.id)[-1].result, events(db, grant_id=grant.id)[-1].reason) == \
        ("denied", "row_out_of_scope")
    r = client.post(url, data={**form, "key": make_id(998)})
    assert r.status_code == 404 and events(db, grant_id=grant.id)[-1].result == "not_found"

    # the form's own refusals touch no data and log nothing
    before = len(events(db, grant_id=grant.id))
    r = client.post(url, data={**form, "purpose": " "})
    assert r.status_code == 422 and "事项编号" in error_text(r.text)
    r = client.post(url, data={**form, "key": ""})
    assert r.status_code == 422 and "主键" in error_text(r.text)
    assert len(events(db, grant_id=grant.id)) == before

    # a per-user rate limit
    access._buckets.clear()
    monkeypatch.setattr(access, "STAFF_BURST", 1)
    monkeypatch.setattr(access, "STAFF_PER_MINUTE", 1)
    assert client.post(url, data=form).status_code == 200
    r = client.post(url, data=form)
    assert r.status_code == 429 and "调用过于频繁" in error_text(r.text)
    assert (events(db, grant_id=grant.id)[-1].result, events(db, grant_id=grant.id)[-1].reason) == \
        ("denied", "rate_limited")


def test_r_shr_3_staff_lookups_outside_the_consumer_or_after_revocation_are_refused_and_logged(
        f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    grant = grant_for(db, w, mode="api")
    db.commit()
    csrf = login(client, _user(db, w.c.officer))  # the source department's officer: not the consumer
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/lookup",
                    data={"csrf_token": csrf, "purpose": "X-1", "key": WOMAN})
    assert r.status_code == 403 and "张三2" not in r.text
    ev = events(db, grant_id=grant.id)[-1]
    assert (ev.result, ev.reason, ev.consumer_org_id) == ("denied", "other_consumer", w.c.dept.id)

    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="业务已办结")
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    r = client.post(f"/workbench/sharing/grants/{grant.id}/use/lookup",
                    data={"csrf_token": csrf, "purpose": "X-1", "key": WOMAN})
    assert r.status_code == 403 and "张三2" not in r.text and "张**" not in r.text
    assert (events(db, grant_id=grant.id)[-1].result, events(db, grant_id=grant.id)[-1].reason) == \
        ("denied", "revoked")


# Applications -------------------------------------------------------------------------------------------

def test_r_shr_5_applications_page_shows_the_secret_once_rotates_limits_and_deactivates(f, db, client, tmp_path):
    w = world(f, db, tmp_path, load=False)
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    assert client.get("/workbench/sharing/apps").status_code == 200
    r = client.post("/workbench/sharing/apps", data={"csrf_token": csrf, "name": " ", "rate_per_minute": "60"})
    assert r.status_code == 422 and "名称" in error_text(r.text)
    r = client.post("/workbench/sharing/apps", data={"csrf_token": csrf, "name": "低保审核系统", "rate_per_minute": "x"})
    assert r.status_code == 422 and "调用频率上限（次/分钟）应为整数" in error_text(r.text)
    r = client.post("/workbench/sharing/apps", data={"csrf_token": csrf, "name": "低保审核系统", "rate_per_minute": "600"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
    client_id = re.search(r'id="client-id">([^<]+)<', r.text).group(1)
    db.expire_all()
    app = db.scalar(select(Application).where(Application.client_id == client_id))
    assert app.secret_sm3 == sm3_hex(secret.encode()) and app.rate_per_minute == 600 and app.org_id == w.c.other_dept.id
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sharing.app.register")) is not None
    listing = client.get("/workbench/sharing/apps")
    assert client_id in listing.text and secret not in listing.text and secret[-4:] in listing.text

    r = client.post(f"/workbench/sharing/apps/{app.id}/rotate", data={"csrf_token": csrf})
    new_secret = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
    assert r.status_code == 200 and new_secret != secret
    db.expire_all()
    assert apps.authenticate(db, client_id=client_id, secret=new_secret).application_id == app.id
    with pytest.raises(Unauthenticated):
        apps.authenticate(db, client_id=client_id, secret=secret)

    for bad, message in (("0", "1 到"), ("", "每分钟调用次数上限"), ("1.5", "应为整数")):
        r = client.post(f"/workbench/sharing/apps/{app.id}/rate", data={"csrf_token": csrf, "rate_per_minute": bad})
        assert r.status_code == 422 and message in error_text(r.text), (bad, error_text(r.text))
    r = client.post(f"/workbench/sharing/apps/{app.id}/rate", data={"csrf_token": csrf, "rate_per_minute": "120"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/workbench/sharing/apps/{app.id}/deactivate", data={"csrf_token": csrf, "reason": "系统下线"},
                    follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert (db.get(Application, app.id).rate_per_minute, db.get(Application, app.id).active) == (120, False)
    assert json.loads(db.scalar(select(AuditEvent.detail).where(AuditEvent.action == "sharing.app.deactivate"))
                      )["reason"] == "系统下线"
    r = client.post(f"/workbench/sharing/apps/{app.id}/rotate", data={"csrf_token": csrf})
    assert r.status_code == 409 and "已停用" in error_text(r.text)

    csrf = login(client, _user(db, w.c.officer))  # another department may not touch it
    assert client.post(f"/workbench/sharing/apps/{app.id}/rotate", data={"csrf_token": csrf}).status_code == 403
    login(client, _user(db, w.c.staff))  # staff do not manage credentials
    assert client.get("/workbench/sharing/apps").status_code == 403
    login(client, _user(db, w.c.auditor))  # the auditor sees every department's applications, manages none
    page = client.get("/workbench/sharing/apps")
    assert page.status_code == 200 and client_id in page.text and 'id="app-form"' not in page.text


def test_r_shr_5_a_request_may_bind_the_grant_to_one_application(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=3, sharing_type="无条件共享", sharing_condition="")
    app, _ = apps.register(db, actor=w.consumer, name="入学资格审核系统")
    db.commit()
    csrf = login(client, _user(db, w.consumer))
    form = client.get(f"/workbench/sharing/new?entry={w.entry.id}")
    assert f'<option value="{app.id}"' in form.text
    r = client.post("/workbench/sharing/new", data={
        "csrf_token": csrf, "entry_id": str(w.entry.id), "mode": "api", "matter": "入学资格审核", "legal_basis": "《义务教育法》",
        "purpose_kind": "public_service", "term_days": "30", "items": ["公民身份号码", "性别"],
        "application_id": str(app.id)}, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    grant = db.scalar(select(Grant).join(ShareRequest, ShareRequest.id == Grant.request_id)
                      .where(ShareRequest.consumer_org_id == w.c.other_dept.id))
    assert grant.application_id == app.id and grant.status == "active"
    r = client.post("/workbench/sharing/new", data={
        "csrf_token": csrf, "entry_id": str(w.entry.id), "mode": "api", "matter": "入学资格审核", "legal_basis": "x",
        "items": ["性别"], "application_id": "abc"})
    assert r.status_code == 422 and "application_id" in error_text(r.text)


# The access log -----------------------------------------------------------------------------------------

def _some_events(db, w: World, grant: Grant, n: int = 3) -> None:
    base = dict(grant_id=grant.id, consumer_org_id=grant.consumer_org_id, source_org_id=grant.source_org_id,
                entry_id=grant.entry_id, items=("性别",), end_user="王五", purpose="HY-1")
    for i in range(n):
        evidence.record(evidence.Access(operation="verify", result="ok", keys=1, rows=1,
                                        subjects=(evidence.subject_digest(make_id(i + 10)),), **base))
    evidence.record(evidence.Access(operation="verify", result="denied", reason="item_not_granted", keys=1,
                                    subjects=(evidence.subject_digest(WOMAN),), **base))


def test_r_shr_3_auditor_filters_the_access_log_and_searches_a_data_subject_without_its_key_in_urls(
        f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=3, **NOT_SHARED)
    grant = grant_for(db, w, mode="verify", items=("性别",), masked=())
    _some_events(db, w, grant, n=3)
    auditor = _user(db, w.c.auditor)
    db.commit()
    csrf = login(client, auditor)
    page = client.get("/workbench/sharing/access")
    assert page.status_code == 200 and log_rows(page.text).count("王五") == 4
    page = client.get(f"/workbench/sharing/access?result=denied&grant={grant.id}&operation=verify")
    assert log_rows(page.text).count("王五") == 1 and "请求了未授权的信息项" in log_rows(page.text)
    page = client.get(f"/workbench/sharing/access?consumer={w.c.dept.id}")  # the source called nothing
    assert "王五" not in log_rows(page.text) and "没有符合条件的访问记录" in page.text

    r = client.post("/workbench/sharing/access", data={"csrf_token": csrf, "subject": f" {WOMAN.lower()} ",
                                                       "grant": str(grant.id)}, follow_redirects=False)
    assert r.status_code == 303 and WOMAN not in r.headers["location"] and WOMAN.lower() not in r.headers["location"]
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["digest"] == [evidence.subject_digest(WOMAN)] and query["grant"] == [str(grant.id)]
    page = client.get(r.headers["location"])
    assert log_rows(page.text).count("王五") == 1 and 'id="subject-filter"' in page.text
    assert WOMAN not in page.text and WOMAN[:14] not in page.text

    for params, field in (("since=2026-13-01", "YYYY-MM-DD"), ("grant=abc", "授权编号应为整数"), ("result=maybe", "maybe"),
                          ("digest=nothex", "摘要"), ("operation=delete", "delete")):
        bad = client.get(f"/workbench/sharing/access?{params}")
        assert bad.status_code == 422 and field in error_text(bad.text), (params, error_text(bad.text))


def test_r_shr_3_departments_see_access_to_their_data_and_their_own_calls_only(f, db, client, tmp_path):
    w = world(f, db, tmp_path, rows=3, **NOT_SHARED)
    grant = grant_for(db, w, mode="verify", items=("性别",), masked=())
    _some_events(db, w, grant, n=1)
    third = f.org()
    evidence.record(evidence.Access(operation="lookup", result="ok", consumer_org_id=third.id, source_org_id=third.id,
                                    end_user="别人家的经办人", purpose="Z-1"))
    db.commit()
    login(client, _user(db, w.c.officer))  # the source
    page = client.get("/workbench/sharing/access?side=source")
    assert page.status_code == 200 and log_rows(page.text).count("王五") == 2 and "别人家的经办人" not in page.text
    assert "王五" not in log_rows(client.get("/workbench/sharing/access?side=consumer").text)
    assert "别人家的经办人" not in client.get(f"/workbench/sharing/access?consumer={third.id}").text
    overview = client.get("/workbench/sharing")
    usage = overview.text.split('id="data-usage"')[1]
    assert w.c.other_dept.name in usage and w.entry.name in usage and '<span class="badge red">1</span>' in usage

    login(client, _user(db, w.consumer))
    assert log_rows(client.get("/workbench/sharing/access?side=consumer").text).count("王五") == 2
    assert client.get("/workbench/sharing/access?side=elsewhere").status_code == 422
    login(client, _user(db, w.c.staff))  # staff have no access log
    assert client.get("/workbench/sharing/access").status_code == 403


def test_r_shr_3_access_log_pages_by_keyset(f, db, client, tmp_path):
    w = world(f, db, tmp_path, load=False)
    for i in range(55):
        evidence.record(evidence.Access(operation="query", result="ok", consumer_org_id=w.c.other_dept.id,
                                        source_org_id=w.c.dept.id, end_user=f"经办人{i:02d}", purpose="Q"))
    db.commit()
    login(client, _user(db, w.c.auditor))
    first = client.get("/workbench/sharing/access?operation=query")
    assert log_rows(first.text).count("经办人") == 50 and "经办人54" in first.text and "经办人04" not in first.text
    nxt = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    assert "operation=query" in nxt
    second = client.get(nxt)
    assert log_rows(second.text).count("经办人") == 5 and "经办人04" in second.text and "经办人05" not in second.text
    assert 'rel="next"' not in second.text

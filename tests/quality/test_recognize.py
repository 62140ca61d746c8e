"""Sensitive-data recognizers (R-GOV-4): what columns really hold against the declared grade and personal flag;
mismatches go to the authority as grading suggestions; a recognizer that cannot run says so."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import select
from stdnum import luhn
from stdnum.cn import ric

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.catalog.service import entries, lifecycle
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.quality.models_compare import GradingSuggestion
from gongshu.quality.service import compare, recognize, recognizers
from gongshu.tasks.models import Task
from tests.catalog.helpers import cast, entry_in, published
from tests.factories import login, make_uscc
from tests.ingest.helpers import load_file, make_id, write_csv


def _hits(test, values: list[str]) -> list[bool]:
    return pl.DataFrame({"v": values}).select(test(pl.col("v"))).to_series().to_list()


def _card(n: int) -> str:
    body = f"622202{n:012d}"
    return body + luhn.calc_check_digit(body)


def test_R_GOV_4_id_numbers_by_checksum():
    good = make_id(7)
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    bad_date = "440106" + "19851341" + "123"
    bad_date += ric.calc_check_digit(bad_date + "0")
    assert _hits(recognizers.is_ric, [good, good.lower(), wrong_check, bad_date, "4401061985031", ""]) == \
        [True, True, False, False, False, False]


def test_R_GOV_4_uscc_by_checksum():
    good = make_uscc(42)
    wrong = good[:-1] + ("1" if good[-1] != "1" else "2")
    assert _hits(recognizers.is_uscc, [good, good.lower(), wrong, "91440101MA5CXXXXXI"]) == [True, True, False, False]


def test_R_GOV_4_bank_cards_by_luhn_and_not_id_numbers():
    card = _card(1234)
    broken = card[:-1] + str((int(card[-1]) + 1) % 10)
    id_luhn = next(make_id(i) for i in range(1, 200) if luhn.is_valid(make_id(i)))  # an ID number that passes Luhn
    assert _hits(recognizers.is_bank_card, [card, card[:4] + " " + card[4:], broken, id_luhn, "1234"]) == \
        [True, True, False, False, False]


def test_R_GOV_4_mobile_email_name_address():
    assert _hits(recognizers.is_mobile, ["13812345678", "+86 139-1234-5678", "12345678901", "1381234567"]) == \
        [True, True, False, False]
    assert _hits(recognizers.is_email, ["zhang.san@dg.gov.cn", "a@b", "no at.cn"]) == [True, False, False]
    assert _hits(recognizers.is_name, ["张三", "欧阳娜娜", "阿依古丽·买买提", "东莞市", "市场监管局", "Smith", "张"]) == \
        [True, True, True, False, False, False, False]
    assert _hits(recognizers.is_address, ["广东省东莞市南城街道鸿福路1号", "东莞市莞城区", "三号"]) == [True, False, False]


def test_R_GOV_4_a_recognizer_that_raises_is_reported_and_the_others_run():
    broken = recognizers.Recognizer("broken", "坏", "Broken", lambda s: s.str.contains("("), str, True, "一般3", "", "")
    df = pl.DataFrame({"a": [make_id(i) for i in range(1, 5)]})
    findings, status = recognizers.scan_frame(df, recognizers={"ric": recognizers.RECOGNIZERS["ric"], "broken": broken})
    assert status["ric"]["ran"] and not status["broken"]["ran"] and "识别器运行出错" in status["broken"]["error"]
    assert [(x.column, x.recognizer, x.matched, x.share) for x in findings] == [("a", "ric", 4, 1.0)]
    assert all("*" in v for v in findings[0].sample)


VOLUNTEER = [
    {"name": "登记编号", "type": "C", "length": 20, "is_identifier": True, "is_key": True, "grade": "一般1"},
    {"name": "证件号码", "type": "C", "length": 18, "grade": "一般1"},
    {"name": "联系电话", "type": "C", "length": 20, "grade": "一般1"},
    {"name": "服务时长", "type": "N", "length": 8, "grade": "一般1"},
]


@pytest.fixture
def volunteers(f, db, tmp_path):
    """志愿者登记 declares ID numbers and mobile numbers as general level-1, not personal."""
    c = cast(f)
    admin = f.actor(c.authority, ("authority_admin",), kind="authority")
    entry = published(db, c, name="志愿者服务记录", grade="一般1", items=VOLUNTEER)
    rows = [[f"ZY{i:04d}", make_id(i), f"1381234{i:04d}", str(i)] for i in range(1, 9)]
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "zy.csv", rows,
                                                     header=[i["name"] for i in VOLUNTEER]))
    assert load.status == "applied", load.error
    return c, admin, entry, load


def test_R_GOV_4_declared_vs_found_mismatch_becomes_a_suggestion_for_the_authority(volunteers, db):
    c, admin, entry, load = volunteers
    scan = recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    assert scan.status == "done" and scan.sampled == 8 and all(s["ran"] for s in scan.recognizers.values())
    found = {x["item"]: x["recognizer"] for x in scan.findings if x["found"]}
    assert found == {"证件号码": "ric", "联系电话": "mobile"}
    rows = {s.item: s for s in db.scalars(select(GradingSuggestion).where(GradingSuggestion.entry_id == entry.id))}
    assert set(rows) == {"证件号码", "联系电话"} and scan.suggestions == 2
    idn = rows["证件号码"]
    assert (idn.recognizer, idn.declared_grade, idn.declared_personal, idn.suggested_grade, idn.suggested_personal,
            idn.share, idn.status) == ("ric", "一般1", False, "一般4", True, 1.0, "open")
    assert idn.sample and all("*" in v for v in idn.sample) and make_id(1) not in idn.sample
    assert (rows["联系电话"].suggested_grade, rows["联系电话"].sample[0]) == ("一般3", "138****0001")
    task = db.scalar(select(Task).where(Task.subject_type == recognize.SUBJECT, Task.subject_id == str(idn.id)))
    assert task.assignee_org_id == c.authority.id and task.kind == recognize.TASK_DECIDE
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.suggestion.open",
                                              AuditEvent.subject_id == str(idn.id))) is not None
    # scanning again refreshes, never duplicates
    recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    assert len(db.scalars(select(GradingSuggestion).where(GradingSuggestion.entry_id == entry.id)).all()) == 2
    # the department sees its own, another does not
    assert {s.id for s in recognize.list_suggestions(db, actor=c.officer)} == {s.id for s in rows.values()}
    assert recognize.list_suggestions(db, actor=c.other_officer) == []


def test_R_GOV_4_the_authority_accepts_or_dismisses_and_both_are_audited(volunteers, db):
    c, admin, entry, load = volunteers
    recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    rows = {s.item: s for s in db.scalars(select(GradingSuggestion).where(GradingSuggestion.entry_id == entry.id))}
    with pytest.raises(Forbidden):
        recognize.accept(db, actor=c.officer, suggestion_id=rows["证件号码"].id)
    s = recognize.accept(db, actor=c.reviewer, suggestion_id=rows["证件号码"].id, note="身份号码属敏感个人信息")
    assert (s.status, s.decided_by, s.decision_note) == ("accepted", c.reviewer.user_id, "身份号码属敏感个人信息")
    revise = db.scalar(select(Task).where(Task.kind == recognize.TASK_REVISE, Task.subject_id == str(s.id)))
    assert revise.assignee_org_id == c.dept.id and revise.status == "open" and "一般4" in revise.title
    decide = db.scalar(select(Task).where(Task.kind == recognize.TASK_DECIDE, Task.subject_id == str(s.id)))
    assert decide.status == "done"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.suggestion.accept",
                                              AuditEvent.subject_id == str(s.id))) is not None
    with pytest.raises(Conflict):
        recognize.dismiss(db, actor=c.reviewer, suggestion_id=s.id, reason="重复")
    with pytest.raises(Invalid) as bad:
        recognize.dismiss(db, actor=c.reviewer, suggestion_id=rows["联系电话"].id, reason="  ")
    assert bad.value.field == "reason"
    d = recognize.dismiss(db, actor=c.reviewer, suggestion_id=rows["联系电话"].id, reason="为单位办公电话，非个人信息")
    assert (d.status, d.decision_note) == ("dismissed", "为单位办公电话，非个人信息")
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.suggestion.dismiss",
                                              AuditEvent.subject_id == str(d.id))) is not None
    # a decided suggestion is not raised again for the same declaration
    again = recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    assert again.suggestions == 0
    assert db.scalar(select(GradingSuggestion.status).where(GradingSuggestion.id == d.id)) == "dismissed"


def test_R_GOV_4_a_recognizer_that_could_not_run_is_stored_and_shown(volunteers, db, f, client, monkeypatch):
    c, admin, entry, load = volunteers
    broken = recognizers.Recognizer("email", "电子邮箱", "E-mail", lambda s: s.str.contains("("), str, True, "一般3",
                                  "", "")
    monkeypatch.setitem(recognizers.RECOGNIZERS, "email", broken)
    scan = recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    assert scan.recognizers["email"]["ran"] is False and scan.recognizers["ric"]["ran"] is True
    assert scan.suggestions == 2  # the others still ran
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.scan",
                                               AuditEvent.subject_id == str(scan.id)))
    assert audit is not None
    user = f.user(c.authority, ("authority_reviewer",))
    db.commit()
    csrf = login(client, user)
    page = client.get(f"/workbench/quality/scans/{scan.id}")
    assert page.status_code == 200 and "未能运行" in page.text and "识别器运行出错" in page.text
    listing = client.get("/workbench/quality/suggestions")
    assert listing.status_code == 200 and "证件号码" in listing.text
    sid = db.scalar(select(GradingSuggestion.id).where(GradingSuggestion.item == "证件号码"))
    detail = client.get(f"/workbench/quality/suggestions/{sid}")
    assert detail.status_code == 200 and "accept-form" in detail.text and make_id(1) not in detail.text
    empty = client.post(f"/workbench/quality/suggestions/{sid}/dismiss", data={"csrf_token": csrf, "reason": ""})
    assert empty.status_code == 422 and "驳回理由" in empty.text
    ok = client.post(f"/workbench/quality/suggestions/{sid}/accept", data={"csrf_token": csrf},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_R_GOV_4_a_scan_without_its_snapshot_says_why(volunteers, db):
    c, admin, entry, load = volunteers
    version = next(v for v in ingest_versions.versions_of(db, entry_id=entry.id) if v.id == load.version_id)
    snapshot_path(version).unlink()
    scan = recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    assert scan.status == "failed" and "无法读取" in scan.error
    assert not any(s["ran"] for s in scan.recognizers.values())


def test_R_GOV_4_an_accepted_suggestion_is_applied_when_the_revised_entry_meets_it(volunteers, db, tmp_path):
    c, admin, entry, load = volunteers
    recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    sid = db.scalar(select(GradingSuggestion.id).where(GradingSuggestion.item == "证件号码"))
    recognize.accept(db, actor=c.reviewer, suggestion_id=sid)
    # the department revises its entry as suggested, has it approved, and loads again
    items = [dict(i) for i in VOLUNTEER]
    items[1].update(grade="一般4", is_personal=True)
    lifecycle.revise(db, actor=c.officer, entry_id=entry.id)
    entries.update_entry(db, actor=c.officer, entry_id=entry.id,
                         data=entry_in(code=entry.code, name=entry.name, grade="一般4", items=items))
    lifecycle.submit(db, actor=c.officer, entry_id=entry.id)
    lifecycle.approve(db, actor=c.reviewer, entry_id=entry.id)
    rows = [[f"ZY{i:04d}", make_id(i), f"1381234{i:04d}", str(i)] for i in range(1, 10)]
    again = load_file(db, c.officer, entry, write_csv(tmp_path / "zy2.csv", rows, header=[i["name"] for i in VOLUNTEER]))
    recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=again.version_id)
    s = db.get(GradingSuggestion, sid)
    assert s.applied_at is not None
    revise = db.scalar(select(Task).where(Task.kind == recognize.TASK_REVISE, Task.subject_id == str(sid)))
    assert revise.status == "done"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.suggestion.applied",
                                              AuditEvent.subject_id == str(sid))) is not None


def test_R_GOV_4_suggestions_and_scans_through_the_api(volunteers, db, client):
    """The same suggestions and scans as the pages, for the authority's and the departments' tools: scoped as the
    pages are, samples masked, the authority decides (a dismissal needs its reason), nothing for other departments."""
    c, admin, entry, load = volunteers
    scan = recognize.scan_version(db, actor=compare.GOVERNANCE, entry_id=entry.id, version_id=load.version_id)
    tokens = {who: auth_service.create_token(db, actor=actor, name="t", scopes=["quality.*"], days=30)[0]
              for who, actor in (("authority", c.reviewer), ("dept", c.officer), ("other", c.other_officer))}
    db.commit()

    def h(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}
    rows = client.get("/api/v1/quality/suggestions", headers=h("dept")).json()
    assert {r["item"] for r in rows} == {"证件号码", "联系电话"}
    assert all("*" in v for r in rows for v in r["sample"]) and make_id(1) not in str(rows)
    sid = {r["item"]: r["id"] for r in rows}
    assert client.get("/api/v1/quality/suggestions", headers=h("other")).json() == []
    assert client.get(f"/api/v1/quality/suggestions/{sid['证件号码']}", headers=h("other")).status_code == 404
    assert client.get("/api/v1/quality/suggestions?status=nonsense", headers=h("dept")).status_code == 422
    assert client.post(f"/api/v1/quality/suggestions/{sid['证件号码']}/accept", headers=h("dept"),
                       json={}).status_code == 403
    bad = client.post(f"/api/v1/quality/suggestions/{sid['联系电话']}/dismiss", headers=h("authority"),
                      json={"note": "  "})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "reason"
    ok = client.post(f"/api/v1/quality/suggestions/{sid['证件号码']}/accept", headers=h("authority"),
                     json={"note": "身份号码属敏感个人信息"})
    assert ok.status_code == 200 and (ok.json()["status"], ok.json()["decision_note"]) == ("accepted",
                                                                                        "身份号码属敏感个人信息")
    assert db.scalar(select(Task).where(Task.kind == recognize.TASK_REVISE, Task.subject_id == str(sid["证件号码"])))
    decided = client.get("/api/v1/quality/suggestions?status=accepted", headers=h("authority")).json()
    assert [r["id"] for r in decided] == [sid["证件号码"]]
    scans = client.get(f"/api/v1/quality/scans?entry_id={entry.id}", headers=h("dept")).json()
    assert scan.id in [s["id"] for s in scans]
    one = client.get(f"/api/v1/quality/scans/{scan.id}", headers=h("dept")).json()
    assert one["recognizers"]["ric"]["ran"] is True and {g["item"] for g in one["grading_suggestions"]} == set(sid)
    assert client.get(f"/api/v1/quality/scans/{scan.id}", headers=h("other")).status_code == 404
    assert client.get("/api/v1/quality/suggestions").status_code == 401

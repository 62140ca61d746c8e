"""R-GOV-1 every new data version is checked: the load enqueues the check, the check writes results (X = A/B,
failing rows, masked samples), the score and level, ``latest`` and its audit event; failing rules raise data issues
(R-GOV-2) that a passing re-check of a newer version closes; rules that cannot run say why; the pages show it."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.auth.service import SYSTEM
from gongshu.catalog.service import elements
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden
from gongshu.jobs import service as jobs
from gongshu.quality.models import QualityCheck, QualityResult, QualityRule
from gongshu.quality.models_issues import DataIssue
from gongshu.quality.service import answers, checks, rule_defaults, rules
from gongshu.store import registry
from tests.factories import login
from tests.ingest.helpers import load_file
from tests.quality.helpers import (
    add_rule,
    checks_queued,
    load_persons,
    make_id,
    person_entry,
    person_rows,
    published,
)

#: 姓名 of the person rows is 张 + a digit word + the row number: the first nine have 3 characters, then 4 …
NAME_RULE = {"regex": r"\p{Han}{2}[0-9]"}  # only 张X1 … 张X9 pass


def _results(db, check) -> dict[str, tuple[QualityResult, QualityRule]]:
    return {rule.key: (res, rule) for res, rule in checks.results_of(db, check_id=check.id)}


def test_R_GOV_1_a_new_version_enqueues_its_check_and_the_job_records_it(f, db, tmp_path):
    c, entry = person_entry(f, db)
    version = load_persons(db, c, entry, tmp_path, n=20)
    (job,) = checks_queued(db, entry.id)
    assert job.payload == {"entry_id": entry.id, "version_id": version.id, "trigger": "load"}
    check_id = checks.run_check(**job.payload)  # what the worker's handler does, in its own units of work
    db.expire_all()
    check = db.get(QualityCheck, check_id)
    assert (check.status, check.latest, check.version_number, check.rows, check.trigger) == ("done", True, 1, 20, "load")
    results = _results(db, check)
    assert set(results) >= {"checksum:公民身份号码", "unique:公民身份号码", "row_rule:ric_sex:公民身份号码:性别"}
    assert all(res.ran and res.checked > 0 and res.passed == res.checked for res, _ in results.values()), \
        [(k, r.error, r.checked, r.passed) for k, (r, _) in results.items() if r.passed != r.checked or not r.ran]
    assert results["required:公民身份号码"][0].checked == 20 and results["accessible"][0].checked == 1
    assert (check.score, check.level, check.not_run, check.failed_rules) == (1.0, 1, 0, 0)
    assert set(check.dimensions) == {"normative", "complete", "accurate", "consistent", "timely", "accessible"}
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.check"))
    assert event.subject_id == str(check.id) and json.loads(event.detail)["trigger"] == "load"


def test_R_GOV_1_failing_rows_score_level_and_issues(f, db, tmp_path):
    c, entry = person_entry(f, db)
    load_persons(db, c, entry, tmp_path, n=20)
    rule = add_rule(db, c.officer, entry, "pattern", "姓名", severity="critical", **NAME_RULE)
    check = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    res, _ = _results(db, check)["pattern:姓名"]
    assert (res.checked, res.passed, res.dimension) == (20, 9, "accurate")
    # accurate: range 1.0, unique 1.0, the pattern 9/20, weighted equally; the five other dimensions 1.0
    accurate = (1 + 1 + 9 / 20) / 3
    assert check.dimensions["accurate"] == pytest.approx(accurate, abs=1e-4)
    assert check.score == pytest.approx((5 + accurate) / 6, abs=1e-4) and check.level == 1  # 0.9694 → 优
    assert check.failed_rules == 1
    rows = pl.read_parquet(registry.files_root() / res.failing_path)
    assert rows.columns == ["_row", "公民身份号码", "姓名"] and rows.height == 11
    assert rows.row(0) == (10, make_id(10), "张一10")
    assert res.failing_path.startswith(f"quality/{entry.id}/{check.id}/")
    # the sample is masked for pages; the row number is not
    assert res.sample[0]["_row"] == 10 and res.sample[0]["公民身份号码"] != make_id(10)
    assert res.sample[0]["公民身份号码"].startswith(make_id(10)[:4]) and "*" in res.sample[0]["姓名"]
    # a critical failure raises an issue to the source department, with the evidence
    (issue,) = db.scalars(select(DataIssue).where(DataIssue.entry_id == entry.id)).all()
    assert (issue.channel, issue.severity, issue.org_id, issue.item) == ("rule", "critical", c.dept.id, "姓名")
    assert issue.dedupe_key == checks.dedupe_key(entry.id, rule.key)
    assert issue.evidence["failed"] == 11 and issue.evidence["check_id"] == check.id
    # the same failure again refreshes the issue, no duplicate
    again = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    assert again.latest and not db.get(QualityCheck, check.id).latest
    assert len(db.scalars(select(DataIssue).where(DataIssue.entry_id == entry.id)).all()) == 1
    db.refresh(issue)
    # the same data checked again is not a new finding: the evidence is refreshed, the count stays
    assert issue.occurrences == 1 and issue.evidence["check_id"] == again.id
    # the source corrects: a newer version passes the re-check and the issue closes as 完成整改
    answers.accept(db, actor=c.officer, issue_id=issue.id, plan="修正姓名后重新归集")
    fixed = [[r[0], f"张三{k % 10}", *r[2:]] for k, r in enumerate(person_rows(20))]
    load_persons(db, c, entry, tmp_path, fixed, name="fixed.csv")
    checks.check_version(db, actor=SYSTEM, entry_id=entry.id, trigger="load")
    db.refresh(issue)
    assert issue.status == "corrected" and issue.fixed_version == 2


def test_R_GOV_1_an_edited_rule_runs_as_its_new_version(f, db, tmp_path):
    c, entry = person_entry(f, db)
    load_persons(db, c, entry, tmp_path, n=12)
    v1 = add_rule(db, c.officer, entry, "pattern", "姓名", tolerance=1, **NAME_RULE)
    first = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    v2 = rules.update_rule(db, actor=c.officer, rule_id=v1.id, params={"regex": r"\p{Han}{2}[0-9]+"})
    second = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    res1, rule1 = _results(db, first)["pattern:姓名"]
    res2, rule2 = _results(db, second)["pattern:姓名"]
    assert (rule1.id, rule1.version, res1.passed) == (v1.id, 1, 9)
    assert (rule2.id, rule2.version, res2.passed) == (v2.id, 2, 12)
    assert db.scalars(select(DataIssue)).all() == []  # tolerated: no issue


def test_R_GOV_1_rules_that_cannot_run_say_why_and_the_check_completes(f, db, tmp_path):
    c, entry = person_entry(f, db)
    other = person_entry(f, db)[1]  # published, never loaded
    load_persons(db, c, entry, tmp_path, n=5)
    add_rule(db, c.officer, entry, "reference", "姓名", entry=other.code, item="姓名")
    stale = add_rule(db, c.officer, entry, "required", "户籍地址")
    db.get(QualityRule, stale.id).item = "已删除的信息项"  # as if the catalogue dropped the item since
    check = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    results = _results(db, check)
    ref, _ = results[f"reference:姓名:{other.code}"]
    gone, _ = results["required:户籍地址"]
    assert not ref.ran and "还没有挂接数据" in ref.error and "has no data" in ref.error_en
    assert not gone.ran and "已删除的信息项" in gone.error
    assert check.status == "done" and check.not_run == 2 and check.score == 1.0


def test_R_GOV_1_reference_to_another_entrys_current_version(f, db, tmp_path):
    c, entry = person_entry(f, db)
    other = person_entry(f, db)
    load_persons(db, other[0], other[1], tmp_path, n=8, name="other.csv")
    load_persons(db, c, entry, tmp_path, n=10)
    add_rule(db, c.officer, entry, "reference", "公民身份号码", entry=other[1].code, item="公民身份号码")
    add_rule(db, c.officer, entry, "cross_table", "姓名", entry=other[1].code, mode="equals")
    results = _results(db, checks.check_version(db, actor=c.officer, entry_id=entry.id))
    ref, _ = results[f"reference:公民身份号码:{other[1].code}"]
    cross, _ = results[f"cross_table:姓名:{other[1].code}"]
    assert (ref.ran, ref.checked, ref.passed) == (True, 10, 8)
    assert (cross.ran, cross.checked, cross.passed) == (True, 10, 8)


def test_R_GOV_1_scheduled_recheck_reuses_the_version_and_checks_freshness(f, db, tmp_path):
    c, entry = person_entry(f, db)  # 每日: due the day after the load
    load_persons(db, c, entry, tmp_path, n=12)
    add_rule(db, c.officer, entry, "pattern", "姓名", tolerance=1, **NAME_RULE)
    first = checks.check_version(db, actor=SYSTEM, entry_id=entry.id, trigger="load")
    stuck = QualityCheck(entry_id=entry.id, org_id=entry.org_id, status="running",
                         created_at=utcnow() - timedelta(days=2))  # its worker died
    db.add(stuck)
    db.flush()
    assert checks.recheck_attached(db) >= 1
    assert stuck.status == "failed" and "中断" in stuck.error and stuck.finished_at is not None
    assert checks_queued(db, entry.id)[-1].payload["trigger"] == "schedule"
    later = checks.check_version(db, actor=SYSTEM, entry_id=entry.id, trigger="schedule",
                                 today=date.today() + timedelta(days=10))
    old, new = _results(db, first), _results(db, later)
    assert new["freshness"][0].passed == 0 and old["freshness"][0].passed == 1
    path = old["pattern:姓名"][0].failing_path
    assert path and new["pattern:姓名"][0].failing_path == path  # reused, not recomputed
    assert later.dimensions["timely"] < 1 and later.latest


def test_R_GOV_1_who_may_run_and_see_checks(f, db, tmp_path):
    c, entry = person_entry(f, db)
    with pytest.raises(Conflict):
        checks.request_check(db, actor=c.officer, entry_id=entry.id)  # no data yet
    load_persons(db, c, entry, tmp_path, n=3)
    with pytest.raises(Forbidden):
        checks.request_check(db, actor=c.other_officer, entry_id=entry.id)
    job = checks.request_check(db, actor=c.officer, entry_id=entry.id)
    assert job.payload["trigger"] == "manual"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "quality.check.request")) is not None
    assert jobs.HANDLERS[checks.JOB] is checks._job
    check = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    with pytest.raises(Forbidden):
        checks.get_check(db, actor=c.other_officer, check_id=check.id)
    assert checks.get_check(db, actor=c.auditor, check_id=check.id).id == check.id


def test_R_GOV_1_pages_rules_check_and_failing_rows(f, db, tmp_path, client):
    c, entry = person_entry(f, db)
    load_persons(db, c, entry, tmp_path, n=12)
    user = f.user(c.dept, ("dept_officer",))
    db.commit()
    token = login(client, user)
    page = client.get(f"/workbench/quality/entries/{entry.id}/rules")
    assert page.status_code == 200 and "checksum:公民身份号码" not in page.text  # no defaults before a check
    r = client.post(f"/workbench/quality/entries/{entry.id}/rules",
                    data={"csrf_token": token, "kind": "pattern", "item": "姓名", "params": "regex: '\\p{Han}{2}[0-9]'",
                          "severity": "major", "weight": "1", "tolerance": "0"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    bad = client.post(f"/workbench/quality/entries/{entry.id}/rules",
                      data={"csrf_token": token, "kind": "range", "item": "出生日期", "params": "min: 明天",
                            "severity": "major", "weight": "1", "tolerance": "0"})
    assert bad.status_code == 422 and "“下限”应为数字、日期" in bad.text and "min: 明天" in bad.text  # the form is kept
    check = checks.check_version(db, actor=SYSTEM, entry_id=entry.id)
    db.commit()
    page = client.get(f"/workbench/quality/checks/{check.id}")
    assert page.status_code == 200 and "pattern:姓名" in page.text and "9 / 12" in page.text
    assert make_id(10) not in page.text  # samples masked
    res, _ = _results(db, check)["pattern:姓名"]
    csv = client.get(f"/workbench/quality/checks/{check.id}/results/{res.id}.csv")
    assert csv.status_code == 200 and make_id(10) in csv.text  # the source's officer reads its own data in clear
    _name, masked = checks.failing_csv(db, actor=c.auditor, check_id=check.id, result_id=res.id)
    assert make_id(10) not in masked.decode() and make_id(10)[:4] in masked.decode()  # others see it masked
    downloads = db.scalars(select(AuditEvent).where(AuditEvent.action == "quality.failing.download")).all()
    assert [json.loads(d.detail)["masked"] for d in downloads] == [False, True]
    export = client.get(f"/workbench/quality/entries/{entry.id}/rules.yaml")
    assert export.status_code == 200 and "pattern:姓名" in export.text


def test_R_GOV_1_api_rules_yaml_and_checks(f, db, tmp_path, client):
    c, entry = person_entry(f, db)
    load_persons(db, c, entry, tmp_path, n=12)
    plain, _ = auth_service.create_token(db, actor=c.officer, name="t", scopes=["quality.*"], days=30)
    db.commit()
    h = {"Authorization": f"Bearer {plain}"}
    kinds = client.get("/api/v1/quality/kinds", headers=h).json()
    assert {k["kind"] for k in kinds} == set(rules.KINDS)
    r = client.post(f"/api/v1/quality/entries/{entry.id}/rules", headers=h,
                    json={"kind": "pattern", "item": "姓名", "params": NAME_RULE})
    assert r.status_code == 201 and r.json()["key"] == "pattern:姓名"
    bad = client.put(f"/api/v1/quality/entries/{entry.id}/rules.yaml?filename=r.yaml", headers=h,
                     content="rules:\n  - kind: required\n    item: 无此项\n".encode())
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["line"] == 3
    edited = client.put(f"/api/v1/quality/rules/{r.json()['id']}", headers=h, json={"severity": "critical"})
    assert edited.json()["version"] == 2
    queued = client.post(f"/api/v1/quality/entries/{entry.id}/checks", headers=h)
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    check = checks.check_version(db, actor=SYSTEM, entry_id=entry.id)
    db.commit()
    body = client.get(f"/api/v1/quality/checks/{check.id}", headers=h).json()
    (res,) = [x for x in body["results"] if x["rule"]["key"] == "pattern:姓名"]
    assert (res["checked"], res["passed"], res["rule"]["version"]) == (12, 9, 2) and res["failing_rows"]
    assert body["level"] == check.level and body["dimensions"] == check.dimensions
    other = f.actor(c.other_dept)
    token2, _ = auth_service.create_token(db, actor=other, name="t", scopes=["quality.*"], days=30)
    db.commit()
    assert client.get(f"/api/v1/quality/checks/{check.id}",
                      headers={"Authorization": f"Bearer {token2}"}).status_code == 403


def test_R_GOV_1_clean_dates_and_logicals_raise_nothing_by_default(f, db, tmp_path):
    """Default rules must not flag clean data (officers' trust in the reports): a date bound to a data element of
    length 8 (its YYYYMMDD exchange form) and named with 婚姻 (not the marital code table), an expiry date in the
    future and a logical item all pass; only a past-event date gets the "not after today" bound."""
    c, _ = person_entry(f, db)
    admin = f.actor(c.authority, ("authority_admin",))
    el = elements.create_element(db, actor=admin, code="RK0011", name="婚姻登记日期", type="D", length=8)
    flag = elements.create_element(db, actor=admin, code="RK0019", name="最低生活保障对象标识", type="L", length=1)
    items = [{"name": "证件字号", "type": "C", "length": 30, "is_key": True},
             {"name": "婚姻登记日期", "type": "D", "element_code": el.code},
             {"name": "有效期至", "type": "D"},
             {"name": "最低生活保障对象标识", "type": "L", "element_code": flag.code}]
    entry = published(db, c, name="婚姻登记证件", items=items)
    future = (date.today() + timedelta(days=800)).isoformat()
    path = tmp_path / "marriage.csv"
    path.write_text("证件字号,婚姻登记日期,有效期至,最低生活保障对象标识\n"
                    + "".join(f"J441900-2019-{n:06d},2019-05-0{n % 9 + 1},{future},是\n" for n in range(12)),
                    encoding="utf-8")
    done = load_file(db, c.officer, entry, path)
    assert done.status == "applied", done.error
    defaults = {r.key: r for r in rule_defaults.ensure_defaults(db, entry_id=entry.id)} or \
        {r.key: r for r in rules.active_rules(db, entry_id=entry.id)}
    assert defaults["range:有效期至"].params == {"min": "1900-01-01"}
    assert defaults["range:婚姻登记日期"].params["max"] == "today"
    check = checks.check_version(db, actor=c.officer, entry_id=entry.id)
    failing = {k: (r.checked, r.passed, r.error) for k, (r, _) in _results(db, check).items()
               if not r.ran or r.passed != r.checked}
    assert failing == {} and check.failed_rules == 0
    assert db.scalar(select(DataIssue).where(DataIssue.entry_id == entry.id)) is None

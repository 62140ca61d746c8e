"""R-GOV-1 quality reports: per entry and per department, the city overview and the department ranking for the
authority; CSV (UTF-8 with BOM) and XLSX exports (audited); the pages, and who may see them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import Forbidden, Invalid
from gongshu.quality.service import checks, issues, reports, scores
from tests.catalog.helpers import cast, published
from tests.factories import login
from tests.quality.helpers import add_rule, load_persons, person_entry
from tests.quality.test_scores import T0, QualityData, R


@pytest.fixture
def world(f, db):
    """公安局 (c.dept): e1 checked twice (0.50, then 0.95 with three rules, one that did not run), e2 0.70, e3 data
    but no check; another department: e4 0.96."""
    qd = QualityData(db)
    c = cast(f)
    e1, e2, e3 = (published(db, c, name=f"户籍人口基本信息{i}") for i in (1, 2, 3))
    e4 = published(db, c, by=c.other_officer, name="社保参保信息")
    old = qd.rule(e1, "old")
    qd.check(e1, [R(old, 50, 100)], version=qd.attach(e1), at=T0 - timedelta(days=10))
    req = qd.rule(e1, "required:姓名", dimension="complete", weight=2, severity="critical", item="姓名",
                  description="姓名不能为空")
    fmt = qd.rule(e1, "format:性别", dimension="normative", item="性别", description="性别符合代码表")
    nr = qd.rule(e1, "range:年龄", dimension="accurate", item="年龄", description="年龄在 0–150 之间")
    qd.check(e1, [R(req, 90, 100), R(fmt, 100, 100), R(nr, 0, 0, ran=False)], version=qd.attach(e1, rows=100))
    qd.scored(e2, 0.70)
    qd.attach(e3)
    qd.scored(e4, 0.96)
    return c, (e1, e2, e3, e4)


def _event(db, action: str, subject_id) -> AuditEvent | None:
    return db.scalar(select(AuditEvent).where(AuditEvent.action == action, AuditEvent.subject_id == str(subject_id)))


def test_R_GOV_1_entry_report(db, world):
    c, (e1, *_rest) = world
    rep = reports.entry_report(db, actor=c.officer, entry_id=e1.id)
    assert (rep.score, rep.level) == (0.95, 1)  # (0.90 + 1.00) / 2; the rule that did not run is left out
    assert rep.check.version_number == 2 and rep.org_name == c.dept.name
    assert [(code, v) for code, v in rep.dimensions if v is not None] == [("normative", 1.0), ("complete", 0.9)]
    assert [(ln.rule.key, ln.result.passed, ln.result.checked, ln.x) for ln in rep.lines] == [
        ("format:性别", 100, 100, 1.0), ("required:姓名", 90, 100, 0.9), ("range:年龄", 0, 0, None)]
    assert [t.score for t in rep.trend] == [0.5, 0.95]
    assert rep.open_critical == 0
    issues.raise_issue(db, actor=c.officer, entry_id=e1.id, channel="rule", title="姓名为空", description="10 行",
                       severity="critical")
    assert reports.entry_report(db, actor=c.officer, entry_id=e1.id).open_critical == 1


def test_R_GOV_1_report_permissions(db, world):
    c, (e1, _e2, _e3, e4) = world
    with pytest.raises(Forbidden):
        reports.entry_report(db, actor=c.other_officer, entry_id=e1.id)
    with pytest.raises(Forbidden):
        reports.department_report(db, actor=c.other_officer, org_id=c.dept.id)
    with pytest.raises(Forbidden):
        reports.ranking(db, actor=c.officer)
    with pytest.raises(Forbidden):
        reports.city_overview(db, actor=c.staff)
    assert reports.entry_report(db, actor=c.other_officer, entry_id=e4.id).score == 0.96
    assert reports.department_report(db, actor=c.staff, org_id=c.dept.id).org.id == c.dept.id
    for who in (c.reviewer, c.auditor):
        assert reports.entry_report(db, actor=who, entry_id=e1.id).score == 0.95
        assert reports.department_report(db, actor=who, org_id=c.other_dept.id).aggregate.score == 0.96


def test_R_GOV_1_department_report(db, world):
    c, (e1, e2, e3, _e4) = world
    rep = reports.department_report(db, actor=c.officer, org_id=c.dept.id)
    assert rep.aggregate.score == round((0.95 + 0.70) / 2, 4) and rep.aggregate.level == 3
    assert [(ln.entry.id, ln.check.score if ln.check else None) for ln in rep.entries] == [
        (e2.id, 0.7), (e1.id, 0.95), (e3.id, None)]  # worst first, then data not yet checked
    assert (rep.coverage.with_data, rep.coverage.checked) == (3, 2)
    assert [(w.entry.id, w.x) for w in rep.worst] == [(e2.id, 0.7), (e1.id, 0.9)]  # failing rules, lowest X first
    assert rep.worst[1].rule.key == "required:姓名"
    assert rep.dimensions["normative"] == 1.0 and rep.dimensions["complete"] == round((0.9 + 0.7) / 2, 4)
    assert len(rep.trend) == 12
    assert rep.rank is None  # the ranking is the authority's
    seen = reports.department_report(db, actor=c.reviewer, org_id=c.dept.id)
    assert (seen.rank.rank, seen.ranked) == (2, 2)


def test_R_GOV_1_city_overview_and_ranking(db, world):
    c, _e = world
    city = reports.city_overview(db, actor=c.reviewer)
    assert city.aggregate.score == round((0.95 + 0.70 + 0.96) / 3, 4) and city.aggregate.entries == 3
    assert (city.coverage.with_data, city.coverage.checked) == (4, 3)
    assert [(ln.org.id, ln.rank.rank) for ln in city.ranking] == [(c.other_dept.id, 1), (c.dept.id, 2)]


def test_R_GOV_1_entry_report_csv(db, world):
    c, (e1, *_rest) = world
    name, media, content = reports.export_entry(db, actor=c.officer, entry_id=e1.id, fmt="csv")
    assert name.endswith(".csv") and media.startswith("text/csv")
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["类别", "名称", "维度", "严重程度", "数据项", "通过数A", "检查数B", "得分或指标X（%）", "等级", "说明"]
    assert rows[1][:2] == ["目录", e1.name] and rows[1][7:9] == ["95", "优"] and "数据版本 v2" in rows[1][9]
    assert ["维度", "完整性", "完整性", "", "", "", "", "90", "良", ""] in rows
    assert ["规则", "姓名不能为空", "完整性", "严重", "姓名", "90", "100", "90", "", ""] in rows
    assert rows[-1][:2] == ["规则", "年龄在 0–150 之间"] and rows[-1][5:8] == ["", "", ""] and rows[-1][9]
    event = _event(db, "quality.report.export", e1.id)
    assert event is not None and event.subject_type == "catalog_entry" and '"csv"' in event.detail


def test_R_GOV_1_department_report_xlsx(db, world):
    c, (e1, e2, e3, _e4) = world
    name, media, content = reports.export_department(db, actor=c.reviewer, org_id=c.dept.id, fmt="xlsx")
    assert name.endswith(".xlsx") and "spreadsheetml" in media
    ws = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0][:7] == ["目录代码", "目录名称", "数据版本", "行数", "检查时间", "得分（%）", "等级"]
    assert len(rows) == 4
    assert rows[1][:4] == [e2.code, e2.name, 1, 100] and rows[1][5:7] == [70, "中"]
    assert rows[2][0] == e1.code and rows[2][5] == 95 and rows[2][7:9] == [100, 90]  # 规范性, 完整性
    assert rows[3][0] == e3.code and rows[3][6] == "未检查"
    assert _event(db, "quality.report.export", c.dept.id) is not None


def test_R_GOV_1_ranking_export_and_bad_format(db, world):
    c, _e = world
    _name, _media, content = reports.export_ranking(db, actor=c.auditor, fmt="csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["名次", "部门", "得分（%）", "等级"]
    assert [r[:4] for r in rows[1:]] == [["1", c.other_dept.name, "96", "优"], ["2", c.dept.name, "82.5", "中"]]
    with pytest.raises(Invalid):
        reports.export_entry(db, actor=c.officer, entry_id=1, fmt="pdf")
    with pytest.raises(Forbidden):
        reports.export_ranking(db, actor=c.officer, fmt="csv")
    assert _event(db, "quality.report.export", "city") is not None


# Pages -------------------------------------------------------------------------------------------------------

def test_R_GOV_1_pages_for_a_department(client, f, db, world):
    c, (e1, _e2, _e3, e4) = world
    user = f.user(c.dept, ("dept_staff",))
    db.commit()
    login(client, user)
    home = client.get("/workbench")
    assert 'href="/workbench/quality"' in home.text and "数据质量评分与报告" in home.text
    page = client.get("/workbench/quality")
    assert page.status_code == 200 and c.dept.name in page.text and e1.name in page.text
    assert "82.50%" in page.text and "<svg" in page.text
    assert client.get("/workbench/quality/ranking").status_code == 403
    assert client.get(f"/workbench/quality/reports/departments/{c.other_dept.id}").status_code == 403
    assert client.get(f"/workbench/quality/reports/entries/{e4.id}").status_code == 403
    entry = client.get(f"/workbench/quality/reports/entries/{e1.id}")
    assert entry.status_code == 200 and "姓名不能为空" in entry.text and "95.00%" in entry.text
    got = client.get(f"/workbench/quality/reports/entries/{e1.id}/export?format=csv")
    assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")
    assert "filename*=UTF-8''" in got.headers["content-disposition"]
    assert client.get(f"/workbench/quality/reports/entries/{e1.id}/export?format=doc").status_code == 422
    english = client.get("/workbench/quality?lang=en")
    assert "Quality report" in english.text and "Excellent" in english.text


def test_R_GOV_1_pages_for_the_authority(client, f, db, world):
    c, (e1, *_rest) = world
    user = f.user(c.authority, ("authority_reviewer",))
    db.commit()
    login(client, user)
    page = client.get("/workbench/quality")
    assert page.status_code == 200 and "全市数据质量" in page.text
    assert page.text.index(c.other_dept.name) < page.text.index(c.dept.name)  # the ranking, best first
    ranking = client.get("/workbench/quality/ranking")
    assert ranking.status_code == 200 and 'id="quality-ranking"' in ranking.text
    dept = client.get(f"/workbench/quality/reports/departments/{c.dept.id}")
    assert dept.status_code == 200 and e1.name in dept.text and "2 / 2" in dept.text
    xlsx = client.get(f"/workbench/quality/reports/departments/{c.dept.id}/export?format=xlsx")
    assert xlsx.status_code == 200 and openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.max_row == 4
    assert client.get("/workbench/quality/ranking/export?format=csv").content.startswith(b"\xef\xbb\xbf")


# End to end --------------------------------------------------------------------------------------------------

def test_R_GOV_1_report_of_a_real_check(f, db, tmp_path):
    """Data loaded through ingest and checked by ``checks.check_version`` (the default rules and one pattern rule
    that 9 of the 20 addresses fail): the reports show that check, whose score is ``scores.combine`` of its
    results, and the department's score and coverage follow from it."""
    c, e = person_entry(f, db)
    v = load_persons(db, c, e, tmp_path, n=20)
    add_rule(db, c.officer, e, "pattern", "户籍地址", regex=r"东莞市南城街道1\d*号")
    check = checks.check_version(db, actor=c.officer, entry_id=e.id, version_id=v.id)
    rep = reports.entry_report(db, actor=c.officer, entry_id=e.id)
    assert rep.check.id == check.id and rep.score == check.score is not None
    line = next(ln for ln in rep.lines if ln.rule.kind == "pattern")
    assert (line.result.passed, line.result.checked, line.x) == (11, 20, 0.55)
    assert scores.combine([ln.result for ln in rep.lines], [ln.rule for ln in rep.lines]) == (
        check.score, check.level, check.dimensions)
    assert dict(rep.dimensions)["accurate"] < 1 and check.score < 1
    assert scores.department_scores(db, org_ids=[c.dept.id])[c.dept.id].score == check.score
    assert scores.coverage(db, org_ids=[c.dept.id])[c.dept.id] == scores.Coverage(1, 1)
    _name, _media, content = reports.export_entry(db, actor=c.reviewer, entry_id=e.id, fmt="csv")
    assert "55" in [r[7] for r in csv.reader(io.StringIO(content.decode("utf-8-sig"))) if r[0] == "规则"]

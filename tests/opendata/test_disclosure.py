"""双公示 (R-OPN-9): licensing and penalty decisions published within 7 working days of the decision."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth.models import User
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.kit.workdays import WorkCalendar
from gongshu.opendata.models_disclosure import DisclosureCheck, DisclosureDataset
from gongshu.opendata.service import disclosure
from gongshu.tasks import service as tasks
from gongshu.tasks.models import Task
from tests.catalog.helpers import CALENDAR_KEEPER, cast, published
from tests.factories import login
from tests.ingest.helpers import load_file, make_id, write_csv
from tests.opendata.helpers import open_entry

PENALTY_ITEMS = [
    {"name": "行政处罚决定书文号", "type": "C", "length": 60, "meaning": "决定书文号", "is_key": True, "grade": "一般1"},
    {"name": "当事人名称", "type": "C", "length": 200, "meaning": "被处罚的法人或其他组织名称", "grade": "一般1"},
    {"name": "处罚决定日期", "type": "D", "meaning": "作出行政处罚决定的日期", "grade": "一般1"},
    {"name": "处罚内容", "type": "C", "length": 500, "meaning": "处罚种类和内容", "grade": "一般1"},
]
HEADER = [i["name"] for i in PENALTY_ITEMS]
#: version 1, published on Tuesday 2026-10-13: decision date → working days after it up to the 13th
#: (the 2026 calendar: 25 Sep 中秋节, 1–7 Oct 国庆节, Sunday 20 Sep and Saturday 10 Oct working days)
V1 = [
    ("东市监罚〔2026〕101号", "2026-09-30", 5),    # 8, 9, 10 (Sat, working), 12, 13 Oct
    ("东市监罚〔2026〕102号", "2026-09-28", 7),    # exactly 7: in time (a Monday–Friday count says 11)
    ("东市监罚〔2026〕103号", "2026-09-25", 8),    # the Mid-Autumn holiday itself: late by one
    ("东市监罚〔2026〕104号", "2026-09-19", 13),   # a Saturday, before the working Sunday: late
    ("东市监罚〔2026〕105号", "2026-10-13", 0),    # published the same day
    ("东市监罚〔2026〕106号", "2026-10-09", 3),    # Friday, working Saturday, Monday, Tuesday
    ("东市监罚〔2026〕107号", "2026-10-14", None),  # after the publication: a data error
    ("东市监罚〔2026〕108号", "", None),            # no decision date
]
V1_PUBLISHED = datetime(2026, 10, 13, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
#: version 2 (published Friday 2026-10-23) re-sends version 1 and adds two decisions
V2_NEW = [("东市监罚〔2026〕109号", "2026-10-12", 9), ("东市监罚〔2026〕110号", "2026-10-20", 3)]
V2_PUBLISHED = datetime(2026, 10, 23, 15, 30, tzinfo=UTC)  # 23:30 in Beijing: still the 23rd


def _rows(spec) -> list[list[str]]:
    return [[key, f"东莞某某贸易有限公司{i}", day, "警告，罚款人民币五千元"] for i, (key, day, _lag) in enumerate(spec)]


def _load(db, c, entry, tmp_path, spec, when: datetime, name: str):
    done = load_file(db, c.officer, entry, write_csv(tmp_path / name, _rows(spec), header=HEADER))
    assert done.status == "applied", done.error
    version = ingest_versions.current_version(db, entry_id=entry.id)
    version.created_at = when  # when it reached the platform: the day the test's story happens
    db.flush()
    return version


def _penalties(f, db, tmp_path):
    c = cast(f)
    entry = published(db, c, open_type="无条件开放", name="行政处罚信息", topic="信用", items=[dict(i) for i in PENALTY_ITEMS])
    v1 = _load(db, c, entry, tmp_path, V1, V1_PUBLISHED, "v1.csv")
    open_entry(db, c, entry)
    return c, entry, v1


def _audited(db, action: str, subject_id) -> bool:
    return db.scalar(select(AuditEvent.id).where(AuditEvent.action == action,
                                                 AuditEvent.subject_id == str(subject_id))) is not None


def test_r_opn_9_late_rows_are_counted_in_working_days_across_holidays_and_weekends(f, db, tmp_path):
    c, entry, v1 = _penalties(f, db, tmp_path)
    ds = disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    assert _audited(db, "opendata.disclosure.flag", ds.id)
    assert disclosure.sweep(db) == 1
    check = db.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == v1.id))
    assert check.status == "late" and check.published_on == date(2026, 10, 13)
    assert (check.rows_new, check.rows_checked, check.rows_invalid, check.rows_late) == (8, 6, 2, 2)
    assert check.worst_lag == 13
    assert [(s["key"], s["decision_date"], s["lag"]) for s in check.sample] == [
        ({"行政处罚决定书文号": "东市监罚〔2026〕104号"}, "2026-09-19", 13),
        ({"行政处罚决定书文号": "东市监罚〔2026〕103号"}, "2026-09-25", 8)]
    assert _audited(db, "opendata.disclosure.check", check.id)
    # the source department is asked to explain, once
    items = tasks.for_subject(db, subject_type=disclosure.SUBJECT, subject_id=check.id)
    assert [(t.kind, t.assignee_org_id, t.status) for t in items] == [(disclosure.TASK_KIND, c.dept.id, "open")]
    assert disclosure.sweep(db) == 0

    # version 2: only the rows new in it are checked, against its own publication date
    v2 = _load(db, c, entry, tmp_path, V1 + V2_NEW, V2_PUBLISHED, "v2.csv")
    assert v2.based_on_id == v1.id
    assert disclosure.sweep(db) == 1
    check2 = db.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == v2.id))
    assert (check2.rows_new, check2.rows_checked, check2.rows_late, check2.worst_lag) == (2, 2, 1, 9)
    assert check2.published_on == date(2026, 10, 23) and check2.sample[0]["decision_date"] == "2026-10-12"


def test_r_opn_9_the_authoritys_calendar_overrides_change_the_count_on_a_new_check(f, db, tmp_path):
    c, entry, v1 = _penalties(f, db, tmp_path)
    ds = disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    disclosure.sweep(db)
    first = db.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == v1.id))
    assert first.rows_late == 2
    # the city gave Saturday 10 and Monday 12 October off (e.g. a typhoon): two fewer working days
    tasks.set_override(db, actor=CALENDAR_KEEPER, day=date(2026, 10, 10), is_workday=False, note="台风停工")
    tasks.set_override(db, actor=CALENDAR_KEEPER, day=date(2026, 10, 12), is_workday=False, note="台风停工")
    with pytest.raises(Forbidden):
        disclosure.check_now(db, actor=c.officer, dataset_id=ds.id)
    (again,) = disclosure.check_now(db, actor=c.reviewer, dataset_id=ds.id)
    assert again.id == first.id and again.rows_late == 1 and again.worst_lag == 11
    assert [s["lag"] for s in again.sample] == [11]


def test_r_opn_9_explanations_close_the_inbox_item_and_only_the_source_may_give_them(f, db, tmp_path):
    c, entry, v1 = _penalties(f, db, tmp_path)
    disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    disclosure.sweep(db)
    check = db.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == v1.id))
    with pytest.raises(Forbidden):
        disclosure.explain(db, actor=c.other_officer, check_id=check.id, explanation="不是我们的数据")
    with pytest.raises(Forbidden):
        disclosure.explain(db, actor=c.reviewer, check_id=check.id, explanation="代为说明")
    with pytest.raises(Invalid) as bad:
        disclosure.explain(db, actor=c.officer, check_id=check.id, explanation="  ")
    assert "逾期原因说明" in bad.value.message and bad.value.message_en
    with pytest.raises(NotFound):
        disclosure.explain(db, actor=c.officer, check_id=10**12, explanation="x")
    disclosure.explain(db, actor=c.officer, check_id=check.id, explanation="国庆假期前作出的决定在节后集中录入，已整改")
    assert check.explanation.startswith("国庆") and check.explained_by == c.officer.user_id
    (item,) = tasks.for_subject(db, subject_type=disclosure.SUBJECT, subject_id=check.id)
    assert item.status == "done" and _audited(db, "opendata.disclosure.explain", check.id)


def test_r_opn_9_flagging_needs_an_open_entry_a_kind_and_a_date_item(f, db, tmp_path):
    c, entry, _v1 = _penalties(f, db, tmp_path)
    closed = published(db, c, open_type="无条件开放", name="行政许可信息", items=[dict(i) for i in PENALTY_ITEMS])
    with pytest.raises(Forbidden):
        disclosure.flag(db, actor=c.officer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    with pytest.raises(Conflict) as not_open:
        disclosure.flag(db, actor=c.reviewer, entry_id=closed.id, kind="行政许可", date_item="处罚决定日期")
    assert "已开放" in not_open.value.message
    with pytest.raises(Invalid) as kind:
        disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政检查", date_item="处罚决定日期")
    assert kind.value.field == "kind" and "行政许可" in kind.value.message
    with pytest.raises(Invalid) as item:
        disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="当事人名称")
    assert item.value.field == "date_item" and "处罚决定日期" in item.value.message
    with pytest.raises(NotFound):
        disclosure.flag(db, actor=c.reviewer, entry_id=999999, kind="行政处罚", date_item="处罚决定日期")
    ds = disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    with pytest.raises(Conflict):
        disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    with pytest.raises(Invalid):
        disclosure.unflag(db, actor=c.reviewer, dataset_id=ds.id, reason="")
    disclosure.unflag(db, actor=c.reviewer, dataset_id=ds.id, reason="改由省平台公示")
    assert not ds.active and _audited(db, "opendata.disclosure.unflag", ds.id)
    assert disclosure.sweep(db) == 0  # no longer tracked
    with pytest.raises(Conflict):
        disclosure.check_now(db, actor=c.reviewer, dataset_id=ds.id)


def test_r_opn_9_a_version_whose_base_data_expired_is_reported_not_guessed(f, db, tmp_path):
    c, entry, v1 = _penalties(f, db, tmp_path)
    ingest_versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.0, keep_versions=1)
    v2 = _load(db, c, entry, tmp_path, V1 + V2_NEW, V2_PUBLISHED, "v2.csv")
    disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政处罚", date_item="处罚决定日期")
    assert disclosure.sweep(db) == 2
    checks = {ch.version_id: ch for ch in db.scalars(select(DisclosureCheck))}
    assert checks[v1.id].status == "unverifiable" and "保留期" in checks[v1.id].reason
    assert checks[v2.id].status == "unverifiable" and "第 1 版" in checks[v2.id].reason
    assert checks[v2.id].reason_en and checks[v2.id].rows_late == 0
    assert not db.scalars(select(Task).where(Task.kind == disclosure.TASK_KIND)).all()


def test_r_opn_9_compute_lags_is_vectorised_and_keeps_the_worst_twenty(tmp_path):
    """The computation alone, over Parquet written here: 60 late rows and 40 in time, no base."""
    days = [date(2026, 9, 1)] * 30 + [date(2026, 9, 15)] * 30 + [date(2026, 10, 9)] * 40
    table = pa.table({"c1": pa.array([f"K{i:03d}" for i in range(100)]), "c2": pa.array(days, pa.date32())})
    path = tmp_path / "v.parquet"
    pq.write_table(table, path)
    con = duckdb.connect()
    lags = disclosure.compute_lags(con, new=path, base=None, keys=[("c1", "c1")], date_column="c2",
                                   label={"c1": "文号", "c2": "决定日期"}, published_on=date(2026, 10, 13),
                                   calendar=WorkCalendar())
    assert (lags.rows_new, lags.rows_checked, lags.rows_late) == (100, 100, 60)
    assert len(lags.sample) == disclosure.SAMPLE_ROWS and {s["decision_date"] for s in lags.sample} == {"2026-09-01"}
    assert lags.sample[0]["key"]["文号"].startswith("K0")
    # with a base: the 40 rows it already had are not new
    pq.write_table(table.slice(60), tmp_path / "base.parquet")
    lags = disclosure.compute_lags(con, new=path, base=tmp_path / "base.parquet", keys=[("c1", "c1")],
                                   date_column="c2", label={}, published_on=date(2026, 10, 13),
                                   calendar=WorkCalendar())
    assert (lags.rows_new, lags.rows_late) == (60, 60)
    # the index agrees with the calendar's own count, day by day
    cal = WorkCalendar()
    index = disclosure.WorkdayIndex(cal, date(2026, 9, 1), date(2026, 10, 31))
    numbers = np.arange(disclosure.day_number(date(2026, 9, 1)), disclosure.day_number(date(2026, 10, 31)) + 1)
    end = index.upto(np.array([disclosure.day_number(date(2026, 10, 31))]))[0]
    counted = end - index.upto(numbers)
    expected = [cal.workdays_between(date.fromordinal(date(1970, 1, 1).toordinal() + int(n)), date(2026, 10, 31))
                for n in numbers]
    assert counted.tolist() == expected


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def test_r_opn_9_the_authoritys_page_highlights_late_versions_per_department(f, db, client, tmp_path):
    c, entry, v1 = _penalties(f, db, tmp_path)
    candidate = published(db, c, open_type="无条件开放", name="行政许可决定信息", items=[dict(i) for i in PENALTY_ITEMS])
    open_entry(db, c, candidate)
    db.commit()
    csrf = login(client, _user(db, c.reviewer))
    page = client.get("/workbench/opendata/disclosure")
    assert page.status_code == 200 and 'id="flag-form"' in page.text and "行政许可决定信息" in page.text
    r = client.post("/workbench/opendata/disclosure", data={"csrf_token": csrf, "entry_id": "abc", "kind": "行政处罚",
                                                            "date_item": "处罚决定日期"})
    assert r.status_code == 422 and "目录应为正整数" in r.text
    r = client.post("/workbench/opendata/disclosure", data={"csrf_token": csrf, "entry_id": str(entry.id),
                                                            "kind": "行政处罚", "date_item": "处罚决定日期"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    ds = db.scalar(select(DisclosureDataset).where(DisclosureDataset.entry_id == entry.id))
    r = client.post(f"/workbench/opendata/disclosure/{ds.id}/check", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/workbench/opendata/disclosure")
    check = db.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == v1.id))
    assert f'<tr id="check-{check.id}" class="overdue">' in page.text and "逾期公示" in page.text
    assert f'<tr id="org-{c.dept.id}" class="overdue">' in page.text and "待说明" in page.text
    detail = client.get(f"/workbench/opendata/disclosure/checks/{check.id}")
    assert detail.status_code == 200 and "东市监罚〔2026〕104号" in detail.text and 'id="late-sample"' in detail.text
    assert "提交说明" not in detail.text  # the authority sees it; the source explains
    english = client.get("/workbench/opendata/disclosure", params={"lang": "en"})
    assert "Published late" in english.text and "Worst lag (working days)" in english.text

    # the source department sees its own, explains through the page, and the authority sees the explanation
    csrf = login(client, _user(db, c.officer))
    mine = client.get("/workbench/opendata/disclosure")
    assert mine.status_code == 200 and f'id="check-{check.id}"' in mine.text and 'id="flag-form"' not in mine.text
    assert "双公示逾期说明" in client.get("/workbench").text
    r = client.post(f"/workbench/opendata/disclosure/checks/{check.id}/explain", data={"csrf_token": csrf,
                                                                                      "explanation": ""})
    assert r.status_code == 422 and "请填写逾期原因说明" in r.text
    r = client.post(f"/workbench/opendata/disclosure/checks/{check.id}/explain",
                    data={"csrf_token": csrf, "explanation": "节后集中录入，已整改"}, follow_redirects=False)
    assert r.status_code == 303
    inbox = client.get("/workbench")
    assert "双公示逾期说明" not in inbox.text
    login(client, _user(db, c.other_officer))
    other = client.get("/workbench/opendata/disclosure")
    assert other.status_code == 200 and f'id="check-{check.id}"' not in other.text
    assert client.get(f"/workbench/opendata/disclosure/checks/{check.id}").status_code == 403
    login(client, _user(db, c.reviewer))
    assert "节后集中录入，已整改" in client.get("/workbench/opendata/disclosure").text
    assert client.get("/workbench/opendata/disclosure/checks/999999").status_code == 404


def test_r_opn_9_the_late_sample_masks_personal_keys_as_the_portal_does(f, db, tmp_path):
    """A licence to a natural person, keyed by the ID number: the sample names the row, masked."""
    c = cast(f)
    items = [{"name": "公民身份号码", "type": "C", "length": 18, "meaning": "GB 11643", "is_identifier": True,
              "is_key": True, "is_personal": True, "grade": "一般3"},
             {"name": "许可决定日期", "type": "D", "meaning": "作出许可决定的日期", "grade": "一般1"}]
    entry = published(db, c, open_type="无条件开放", name="个体工商户营业执照许可信息", items=items)
    rows = [[make_id(1), "2026-09-01"], [make_id(2), "2026-10-12"]]
    done = load_file(db, c.officer, entry, write_csv(tmp_path / "xk.csv", rows, header=["公民身份号码", "许可决定日期"]))
    assert done.status == "applied", done.error
    version = ingest_versions.current_version(db, entry_id=entry.id)
    version.created_at = V1_PUBLISHED
    open_entry(db, c, entry)
    disclosure.flag(db, actor=c.reviewer, entry_id=entry.id, kind="行政许可", date_item="许可决定日期")
    disclosure.sweep(db)
    check = db.scalar(select(DisclosureCheck).where(DisclosureCheck.version_id == version.id))
    assert check.rows_late == 1 and len(check.sample) == 1
    shown = check.sample[0]["key"]["公民身份号码"]
    assert shown != make_id(1) and shown.startswith(make_id(1)[:4]) and "*" in shown

"""The aggregation pipeline end to end on the real store (R-AGG-1, R-AGG-2, R-AGG-3, R-AGG-6)."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.catalog.service import entries as catalog_entries
from gongshu.catalog.service import projects
from gongshu.errors import Forbidden, Invalid
from gongshu.ingest.models import DataVersion, LateLoad, Load
from gongshu.ingest.service import files, freshness, loads, pipeline, versions
from gongshu.store import registry
from gongshu.store.service import file_sm3
from gongshu.tasks.models import Task
from tests.ingest.helpers import load_file, make_id, person_rows, setup, write_csv


def test_gbk_csv_with_errors_is_refused_whole_with_a_row_level_report(f, db, tmp_path):
    """R-AGG-3: bad rows are reported by row, field and rule in Chinese; nothing is applied."""
    c, entry = setup(f, db)
    rows = person_rows(20)
    rows[3][0] = rows[3][0][:-1] + ("0" if rows[3][0][-1] != "0" else "1")  # wrong check digit (row 5)
    rows[7][2] = "男"  # normalised to code 1, but the ID number says female (row 9)
    rows[10][3] = "2023/13/45"  # impossible date (row 12)
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "户籍.csv", rows))
    assert load.status == "rejected"
    assert load.report["encoding"] in ("gbk", "gb18030")
    assert (load.rows_read, load.rows_rejected) == (20, 3)
    problems = {(p["row"], p["field"]) for p in load.report["problems"]}
    assert problems == {(5, "公民身份号码"), (9, "性别"), (12, "出生日期")}
    assert "ric_checksum" in load.report["rules"]
    with open(files.load_dir(load.id) / "rejects.csv", encoding="utf-8-sig") as fh:
        report = list(csv.DictReader(fh))
    assert [(r["行号"], r["信息项"]) for r in report] == [("5", "公民身份号码"), ("9", "性别"), ("12", "出生日期")]
    assert all(r["说明"] for r in report) and report[0]["文件"] == "户籍.csv"
    assert db.scalars(select(DataVersion)).all() == []
    assert registry.get_store().tables() == []


def test_fixed_file_becomes_version_1_served_by_key(f, db, tmp_path):
    """R-AGG-6: an accepted load is a version with counts, SM3 digests and a typed table."""
    c, entry = setup(f, db)
    source = write_csv(tmp_path / "ok.csv", person_rows(50))
    load = load_file(db, c.officer, entry, source)
    assert load.status == "applied", load.error
    v = db.get(DataVersion, load.version_id)
    assert (v.number, v.rows, v.added, v.changed, v.deleted, v.status) == (1, 50, 50, 0, 0, "current")
    # the source's digest is taken while it is copied in: the digest of the file as sent, and of the stored copy
    assert load.source_sm3 == file_sm3(source) == file_sm3(pipeline.source_file(files.load_dir(load.id)))
    assert v.snapshot_sm3 == file_sm3(files.snapshot_path(v))
    rows = versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(7)})
    assert rows == [{"公民身份号码": make_id(7), "姓名": "张八7", "性别": "1",
                     "出生日期": rows[0]["出生日期"], "户籍地址": "东莞市南城街道7号"}]
    assert str(rows[0]["出生日期"]) == "1985-03-12"
    reads = db.scalars(select(AuditEvent).where(AuditEvent.action == "ingest.data.read")).all()
    assert len(reads) == 1
    with pytest.raises(Forbidden):
        versions.lookup(db, actor=c.other_officer, entry_id=entry.id, key={"公民身份号码": make_id(7)})


def test_second_full_load_counts_changes_diff_and_rollback(f, db, tmp_path):
    """R-AGG-6: diff between versions by key; rollback re-points and is audited."""
    c, entry = setup(f, db)
    load_file(db, c.officer, entry, write_csv(tmp_path / "v1.csv", person_rows(30)))
    rows = person_rows(30)[5:] + person_rows(3, start=100)  # 5 deleted, 3 added
    rows[0][1] = "李改名"  # one changed
    second = load_file(db, c.officer, entry, write_csv(tmp_path / "v2.csv", rows))
    v2 = db.get(DataVersion, second.version_id)
    assert (v2.number, v2.rows, v2.added, v2.changed, v2.deleted) == (2, 28, 3, 1, 5)
    d = versions.diff(db, actor=c.officer, entry_id=entry.id, old=1, new=2, kind="changed")
    assert d["counts"]["changed"] == 1 and len(d["rows"]) == 1
    versions.rollback(db, actor=c.officer, entry_id=entry.id, number=1, reason="第二版来源数据有误")
    assert versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(1)})
    assert versions.current_version(db, entry_id=entry.id).number == 1
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "ingest.rollback")) is not None
    with pytest.raises(Invalid):
        versions.rollback(db, actor=c.officer, entry_id=entry.id, number=1, reason="again")


def test_acceptance_policy_accepts_valid_rows_under_the_limit(f, db, tmp_path):
    """R-AGG-3: with a 10 % limit, 1 bad row in 20 is rejected and recorded; the rest load."""
    c, entry = setup(f, db)
    versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.1, keep_versions=5)
    rows = person_rows(20)
    rows[0][0] = "44010619850312000"  # 17 characters
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "p.csv", rows, encoding="utf-8"))
    assert load.status == "applied" and load.rows_rejected == 1
    assert db.get(DataVersion, load.version_id).rows == 19
    assert (files.load_dir(load.id) / "rejects.csv").exists()


def test_duplicate_keys_in_one_load_are_rejected(f, db, tmp_path):
    """R-AGG-3: duplicate keys within a load."""
    c, entry = setup(f, db)
    rows = person_rows(5)
    rows.append(list(rows[1]))
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "d.csv", rows))
    assert load.status == "rejected"
    assert {p["rule"] for p in load.report["problems"]} == {"duplicate_key"}


def test_dry_run_checks_without_loading(f, db, tmp_path):
    c, entry = setup(f, db)
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "ok.csv", person_rows(5)), dry_run=True)
    assert load.status == "checked" and load.version_id is None
    assert versions.current_version(db, entry_id=entry.id) is None


def test_push_is_idempotent_and_upserts_and_deletes(f, db, tmp_path):
    """R-AGG-2: API push with an idempotency key; incremental upsert with explicit deletes."""
    c, entry = setup(f, db)
    load_file(db, c.officer, entry, write_csv(tmp_path / "v1.csv", person_rows(10)))
    new = dict(zip(["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"], person_rows(1, start=500)[0], strict=True))
    changed = dict(zip(["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"], person_rows(1, start=2)[0], strict=True))
    changed["姓名"] = "王新"
    first = loads.receive_batch(db, actor=c.officer, entry_id=entry.id, rows=[new, changed],
                                deletes=[{"公民身份号码": make_id(3)}], idempotency_key="batch-0001")
    again = loads.receive_batch(db, actor=c.officer, entry_id=entry.id, rows=[new], deletes=[],
                                idempotency_key="batch-0001")
    assert again.id == first.id
    db.flush()
    done = loads.process(first.id)
    db.expire_all()
    v = db.get(DataVersion, done.version_id)
    assert (v.rows, v.added, v.changed, v.deleted) == (10, 1, 1, 1)
    assert versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(2)})[0]["姓名"] == "王新"
    assert versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(3)}) == []
    assert db.scalar(select(Load).where(Load.id == first.id)).channel == "api"


def test_retention_expires_old_versions_and_drops_their_tables(f, db, tmp_path):
    """R-AGG-6: retention keeps the newest versions; an expired one cannot be rolled back to."""
    c, entry = setup(f, db)
    versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0, keep_versions=2)
    for i in range(3):
        load_file(db, c.officer, entry, write_csv(tmp_path / f"v{i}.csv", person_rows(5 + i)))
    statuses = {v.number: v.status for v in versions.list_versions(db, actor=c.officer, entry_id=entry.id)}
    assert statuses == {3: "current", 2: "kept", 1: "expired"}
    assert len(registry.get_store().tables()) == 2
    with pytest.raises(Invalid):
        versions.rollback(db, actor=c.officer, entry_id=entry.id, number=1, reason="试图回退到过期版本")


def test_freshness_late_load_raises_inbox_item_and_a_load_closes_it(f, db, tmp_path):
    """R-AGG-1: the update cycle gives the next due date; a missed one is recorded once, with a task."""
    c, entry = setup(f, db)
    load_file(db, c.officer, entry, write_csv(tmp_path / "v1.csv", person_rows(5)))
    state = freshness.attachment(db, entry_ids=[entry.id])[entry.id]
    assert state["status"] == "fresh" and state["next_due"] == state["last_loaded_on"] + timedelta(days=1)
    later = state["next_due"] + timedelta(days=2)
    assert freshness.sweep_late(db, on=later) == 1
    assert freshness.sweep_late(db, on=later) == 0  # once per missed due date
    assert freshness.attachment(db, entry_ids=[entry.id], on=later)[entry.id]["status"] == "late"
    task = db.scalar(select(Task).where(Task.kind == "ingest.late"))
    assert task.assignee_org_id == entry.org_id and task.status == "open"
    load_file(db, c.officer, entry, write_csv(tmp_path / "v2.csv", person_rows(5)))
    db.refresh(task)
    assert task.status == "done"
    assert db.scalar(select(LateLoad)).loaded_on is not None


def test_only_the_owning_department_may_load(f, db, tmp_path):
    c, entry = setup(f, db)
    with pytest.raises(Forbidden):
        loads.receive_file(db, actor=c.other_officer, entry_id=entry.id, path=write_csv(tmp_path / "x.csv", []),
                           filename="x.csv", move=False)


def test_header_that_does_not_match_the_items_is_refused_with_the_names(f, db, tmp_path):
    """R-AGG-3: wrong headers are named."""
    c, entry = setup(f, db)
    path = write_csv(tmp_path / "h.csv", person_rows(3), header=["身份证", "姓名", "性别", "出生日期", "户籍地址"])
    load = load_file(db, c.officer, entry, path)
    assert load.status == "rejected"
    assert "公民身份号码" in load.error and "身份证" in load.error


def test_catalogue_shows_attachment_and_project_report_has_attached_column(f, db, tmp_path):
    """R-AGG-1 / R-CAT-8: entries show attached and fresh; the project report gains its attached column."""
    c, entry = setup(f, db)
    assert catalog_entries.badges(db, entry_ids=[entry.id])[entry.id] == []
    load_file(db, c.officer, entry, write_csv(tmp_path / "v1.csv", person_rows(3)))
    labels = [zh for zh, _en, _css in catalog_entries.badges(db, entry_ids=[entry.id])[entry.id]]
    assert labels[0].startswith("已挂接数据") and labels[1] == "按时更新"
    p = projects.register_project(db, actor=c.officer, name="人口服务平台", approval_no="",
                                  items=[projects.DeclaredItem(entry_code=entry.code, item_name="姓名"),
                                         projects.DeclaredItem(entry_code=entry.code, item_name="不存在的项")])
    report = projects.check(db, actor=c.officer, project_id=p.id)
    assert [ch.key for ch in report.checks] == ["catalogued", "published", "attached", "shared"]
    assert [r.results["attached"] for r in report.rows] == [True, False]


def test_upsert_that_changes_nothing_keeps_the_version_and_counts_as_delivered_R_AGG_1_R_AGG_6(f, db, tmp_path):
    """R-AGG-6/R-AGG-1: re-sending rows the entry already holds makes no new version (no table, no snapshot),
    and the delivery still counts for freshness (the late item closes)."""
    c, entry = setup(f, db)
    first = load_file(db, c.officer, entry, write_csv(tmp_path / "v1.csv", person_rows(10)))
    same = dict(zip(["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"], person_rows(1, start=4)[0], strict=True))
    state = freshness.attachment(db, entry_ids=[entry.id])[entry.id]
    assert freshness.sweep_late(db, on=state["next_due"] + timedelta(days=2)) == 1
    task = db.scalar(select(Task).where(Task.kind == "ingest.late"))
    assert task.status == "open"
    tables_before = registry.get_store().tables()
    load = loads.receive_batch(db, actor=c.officer, entry_id=entry.id, rows=[same], deletes=[],
                               idempotency_key="resend-1")
    db.flush()
    done = loads.process(load.id)
    db.expire_all()
    assert done.status == "unchanged" and done.version_id == first.version_id
    assert [v.number for v in db.scalars(select(DataVersion).where(DataVersion.entry_id == entry.id))] == [1]
    assert registry.get_store().tables() == tables_before
    assert not list(files.snapshots_dir(entry.id).glob(f"l{load.id}.parquet"))
    db.refresh(task)
    assert task.status == "done"
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "ingest.unchanged")).all()

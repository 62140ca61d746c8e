"""Libraries and themes stay current and their old builds don't pile up (R-AGG-4, R-AGG-5)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.library.models import LibraryBuild, ThemeBuild
from gongshu.library.service import build, locks, retention, themes, upkeep
from gongshu.store import registry
from gongshu.store.service import Column
from tests.factories import login
from tests.ingest.helpers import load_file, person_rows, write_csv
from tests.library.test_person_library import person_city
from tests.library.test_themes import _define, _disability_rows, theme_city


def test_r_agg_5_stale_theme_is_named_and_rebuilt_by_the_periodic_refresh(f, db, session_factory, tmp_path):
    c, admin, dibao, cjr, huji = theme_city(f, db, tmp_path)
    theme = _define(db, admin, dibao, cjr, huji)
    first = themes.build_theme(db, actor=admin, theme_id=theme.id)
    db.commit()  # as the request that built it does: the build lock goes with the transaction
    assert upkeep.stale_themes(db) == {theme.id: []}
    load_file(db, c.other_officer, cjr, write_csv(tmp_path / "cjr2.csv", _disability_rows([2, 4, 5]),
                                                  header=["残疾人证号", "公民身份号码", "残疾等级"]))
    db.flush()
    assert upkeep.stale_themes(db) == {theme.id: [{"entry_id": cjr.id, "entry_name": "残疾人证信息", "from": 1,
                                                   "to": 2}]}
    done = upkeep.refresh(session_factory)
    assert done["themes"] == [theme.id] and done["failed"] == []
    db.expire_all()
    current = themes.current_build(db, theme_id=theme.id)
    assert current.id != first.id and [s["number"] for s in current.sources] == [1, 2, 1]
    assert upkeep.stale_themes(db) == {theme.id: []}
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "library.theme.build")
                       .order_by(AuditEvent.id.desc())).first()
    assert event.actor_name == "system"
    assert upkeep.refresh(session_factory)["themes"] == []  # nothing stale: nothing rebuilt


def test_r_agg_4_stale_library_is_rebuilt_and_old_builds_expire(f, db, session_factory, tmp_path):
    c, admin, huji, _civil = person_city(f, db, tmp_path)
    build.build(db, actor=admin, kind="person")
    db.commit()
    assert upkeep.stale_libraries(db) == {"person": []}
    tables = []
    for n in range(4):  # four new versions of 户籍, each followed by a refresh
        load_file(db, c.officer, huji, write_csv(tmp_path / f"huji{n}.csv", [r[:3] for r in person_rows(10 + n)],
                                                 header=["公民身份号码", "姓名", "性别"]))
        db.flush()
        moved = upkeep.stale_libraries(db)["person"]
        assert [(m["entry_id"], m["to"]) for m in moved] == [(huji.id, n + 2)]
        assert upkeep.refresh(session_factory)["libraries"] == ["person"]
        db.expire_all()
        tables.append(db.scalar(select(LibraryBuild.table_name).where(LibraryBuild.kind == "person",
                                                                      LibraryBuild.status == "current")))
    builds = list(db.scalars(select(LibraryBuild).where(LibraryBuild.kind == "person").order_by(LibraryBuild.id)))
    assert [b.status for b in builds] == ["expired", "expired", "old", "old", "current"]
    store = registry.get_store()
    assert [store.has_table(b.table_name) for b in builds] == [False, False, True, True, True]
    assert builds[-1].table_name == tables[-1] and store.count(tables[-1]) == 13
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "library.build.expire")).all()


def test_r_agg_5_a_failing_rebuild_does_not_stop_the_others(f, db, session_factory, tmp_path, monkeypatch):
    c, admin, dibao, cjr, huji = theme_city(f, db, tmp_path)
    bad = _define(db, admin, dibao, cjr, huji, code="shjz")
    good = _define(db, admin, dibao, cjr, huji, code="shjz2")
    for t in (bad, good):
        themes.build_theme(db, actor=admin, theme_id=t.id)
    db.commit()
    load_file(db, c.other_officer, cjr, write_csv(tmp_path / "cjr2.csv", _disability_rows([2, 4, 5]),
                                                  header=["残疾人证号", "公民身份号码", "残疾等级"]))
    db.flush()
    real = themes.build_theme

    def flaky(session, *, actor, theme_id, **kw):
        if theme_id == bad.id:
            raise RuntimeError("disk full")
        return real(session, actor=actor, theme_id=theme_id, **kw)
    monkeypatch.setattr(themes, "build_theme", flaky)
    done = upkeep.refresh(session_factory)
    assert done["failed"] == [("theme", bad.id)] and done["themes"] == [good.id]
    db.expire_all()
    fail = db.scalars(select(AuditEvent).where(AuditEvent.action == "library.refresh.fail")).one()
    assert "disk full" in fail.detail
    assert len(list(db.scalars(select(ThemeBuild).where(ThemeBuild.theme_id == bad.id)))) == 1
    assert len(list(db.scalars(select(ThemeBuild).where(ThemeBuild.theme_id == good.id)))) == 2


def test_r_agg_5_theme_page_names_the_sources_that_moved(f, db, client, tmp_path):
    c, admin, dibao, cjr, huji = theme_city(f, db, tmp_path)
    theme = _define(db, admin, dibao, cjr, huji)
    themes.build_theme(db, actor=admin, theme_id=theme.id)
    user = f.user(c.authority, ("authority_admin",))
    db.commit()
    login(client, user)
    url = f"/workbench/library/themes/{theme.id}"
    assert 'id="theme-stale"' not in client.get(url).text
    load_file(db, c.other_officer, cjr, write_csv(tmp_path / "cjr2.csv", _disability_rows([2, 4, 5]),
                                                  header=["残疾人证号", "公民身份号码", "残疾等级"]))
    db.commit()
    page = client.get(url).text
    assert 'id="theme-stale"' in page and "残疾人证信息 v1 → v2" in page


def test_r_agg_4_one_build_of_a_library_at_a_time(f, db, session_factory, tmp_path):
    """A second build (another request, or the refresh job) while the first is uncommitted is refused with
    a clear message, and the refresh skips it; once the first commits the lock is free again."""
    c, admin, huji, _civil = person_city(f, db, tmp_path)
    build.build(db, actor=admin, kind="person")  # not committed yet: its lock is held
    with session_factory() as other:
        with pytest.raises(locks.BuildRunning) as err:
            build.build(other, actor=admin, kind="person")
        assert "人口库正在生成中" in err.value.message and "being built" in err.value.message_en
        other.rollback()
    db.commit()
    load_file(db, c.officer, huji, write_csv(tmp_path / "h2.csv", [r[:3] for r in person_rows(12)],
                                             header=["公民身份号码", "姓名", "性别"]))
    db.commit()
    locks.hold(db, name="person", label_zh="人口库", label_en="The person library")  # a manual build running
    done = upkeep.refresh(session_factory)
    assert done["skipped"] == [("library", "person")] and done["libraries"] == [] and done["failed"] == []
    db.rollback()  # the manual build gave up: the next refresh rebuilds
    assert upkeep.refresh(session_factory)["libraries"] == ["person"]


def test_r_agg_4_a_failed_build_leaves_no_table_or_file_and_start_up_removes_orphans(f, db, tmp_path, monkeypatch):
    c, admin, huji, _civil = person_city(f, db, tmp_path)
    kept = build.build(db, actor=admin, kind="person")
    db.commit()
    store = registry.get_store()
    folder = registry.files_root() / "libraries"
    before_tables, before_files = set(store.tables(retention.PREFIX)), set(folder.glob("*.parquet"))

    def broken(*a, **kw):
        raise RuntimeError("disk full")
    monkeypatch.setattr(build.audit, "record", broken)  # fails after the store table and the Parquet file exist
    with pytest.raises(RuntimeError):
        build.build(db, actor=admin, kind="person")
    db.rollback()
    monkeypatch.undo()
    assert set(store.tables(retention.PREFIX)) == before_tables and set(folder.glob("*.parquet")) == before_files
    # a crashed build (process killed) leaves its table and file behind: the next start removes them
    orphan = "lib_person_20260101000000000"
    store.write_batches(orphan, [Column("k", "主体标识", "C", 18, key=True)],
                        iter([pa.record_batch({"k": ["x"]})]), create=True, index=True)
    (folder / "person-20260101000000000.parquet").write_bytes(b"PAR1")
    gone = retention.recover()
    assert gone["tables"] == [orphan] and [p.rsplit("/", 1)[-1] for p in gone["files"]] == [
        "person-20260101000000000.parquet"]
    assert store.has_table(kept.table_name) and set(folder.glob("*.parquet")) == before_files
    # a build running in another process keeps its table: its lock is held
    store.write_batches(orphan, [Column("k", "主体标识", "C", 18, key=True)],
                        iter([pa.record_batch({"k": ["x"]})]), create=True, index=True)
    locks.hold(db, name="person", label_zh="人口库", label_en="The person library")
    assert retention.recover()["tables"] == [] and store.has_table(orphan)
    db.rollback()
    assert retention.recover()["tables"] == [orphan]

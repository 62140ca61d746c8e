"""The streamed store write (R-AGG-3, R-AGG-6): duplicates under the error limit are left out of the table
and the snapshot; refused loads and dry runs leave no table behind."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from gongshu.config import get_settings
from gongshu.ingest.models import DataVersion
from gongshu.ingest.service import files, pipeline, versions
from gongshu.ingest.service import spec as specs
from gongshu.store import registry
from tests.ingest.helpers import load_file, make_id, person_rows, setup, write_csv


def test_duplicates_under_the_limit_are_left_out_of_table_and_snapshot(f, db, tmp_path):
    c, entry = setup(f, db)
    versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.2, keep_versions=5)
    rows = person_rows(20)
    rows.insert(5, list(rows[1]))   # duplicate of row 3 at row 7
    rows[5][1] = "后来者"            # the later row of a duplicated key is the one rejected
    rows.append(list(rows[10]))     # another duplicate at the end
    rows[0][0] = "bad"
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "d.csv", rows))
    assert load.status == "applied", load.error
    assert (load.rows_read, load.rows_rejected) == (22, 3)
    v = db.get(DataVersion, load.version_id)
    assert v.rows == 19
    store = registry.get_store()
    assert store.count(v.table_name) == 19
    snap = pq.read_table(files.snapshot_path(v))
    assert snap.num_rows == 19 and "_row" not in snap.column_names
    assert snap.column("c1").to_pylist() == [make_id(i) for i in range(2, 21)]
    assert store.tables() == [v.table_name]
    # the streamed table left the same rows out as the snapshot (by their position in the stream)
    table_rows, _ = store.query(v.table_name, specs.columns_from_json(v.columns), limit=100)
    assert sorted(r["c1"] for r in table_rows) == sorted(snap.column("c1").to_pylist())
    assert "后来者" not in {r["c2"] for r in table_rows}


def test_second_full_load_streams_and_first_table_stays(f, db, tmp_path):
    c, entry = setup(f, db)
    a = load_file(db, c.officer, entry, write_csv(tmp_path / "a.csv", person_rows(30)))
    b = load_file(db, c.officer, entry, write_csv(tmp_path / "b.csv", person_rows(25, start=10)))
    assert a.status == b.status == "applied"
    v = db.get(DataVersion, b.version_id)
    assert (v.rows, v.added, v.deleted) == (25, 4, 9)
    assert registry.get_store().count(v.table_name) == 25
    bad = load_file(db, c.officer, entry, write_csv(tmp_path / "c.csv", [["x"] * 5] * 3))
    assert bad.status == "rejected"
    assert len(registry.get_store().tables()) == 2
    dry = load_file(db, c.officer, entry, write_csv(tmp_path / "e.csv", person_rows(5)), dry_run=True)
    assert dry.status == "checked" and len(registry.get_store().tables()) == 2
    assert len(db.scalars(select(DataVersion)).all()) == 2


def test_duplicates_across_batches_name_the_first_row_R_AGG_3(f, db, tmp_path, monkeypatch):
    """Keys are compared across record batches (4 rows each here): every later row of a key is rejected
    and told which row it repeats."""
    monkeypatch.setenv("GONGSHU_INGEST_BATCH_ROWS", "4")
    get_settings.cache_clear()
    try:
        c, entry = setup(f, db)
        versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.5, keep_versions=5)
        rows = person_rows(12)
        rows += [list(rows[0]), list(rows[6]), list(rows[0])]  # rows 14, 15, 16 repeat rows 2, 8, 2
        load = load_file(db, c.officer, entry, write_csv(tmp_path / "d.csv", rows))
    finally:
        get_settings.cache_clear()
    assert load.status == "applied" and (load.rows_read, load.rows_rejected) == (15, 3)
    dup = {p["row"]: p["message"] for p in load.report["problems"] if p["rule"] == "duplicate_key"}
    assert dup == {14: "主键（公民身份号码）重复：与第 2 行相同", 15: "主键（公民身份号码）重复：与第 8 行相同",
                   16: "主键（公民身份号码）重复：与第 2 行相同"}
    assert registry.get_store().count(db.get(DataVersion, load.version_id).table_name) == 12


def test_colliding_key_hashes_are_compared_by_value(tmp_path, monkeypatch):
    """Only rows whose hashes collide are candidates; their real keys decide. With every hash forced equal,
    only the true duplicates are found, and rows with an empty key part are never duplicates."""
    good = pa.table({"_row": pa.array([2, 3, 4, 5, 6, 7], pa.int64()), "k": ["a", "b", "a", None, None, "b"],
                     "n": [1, 1, 1, 1, 1, 2]})
    pq.write_table(good.drop_columns(["_row"]), tmp_path / "delta.parquet")
    monkeypatch.setattr(pl.DataFrame, "hash_rows", lambda self, seed=0: pl.Series([7] * self.height, dtype=pl.UInt64))
    seen = pipeline._Keys(["k"])
    seen.add(good.slice(0, 3))
    seen.add(good.slice(3))
    table, positions = seen.duplicates(tmp_path / "delta.parquet")
    assert table.column("_row").to_pylist() == [4, 7] and table.column("dup_of_row").to_pylist() == [2, 3]
    assert positions == [2, 5]
    both = pipeline._Keys(["k", "n"])  # composite key: (b, 1) and (b, 2) differ
    both.add(good)
    table, positions = both.duplicates(tmp_path / "delta.parquet")
    assert table.column("_row").to_pylist() == [4] and positions == [2]


def _has_statistics(store, table: str) -> bool:
    if store.dialect == "sqlite":
        with store._writer(table).connect() as conn:
            found = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
            return found is not None and conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = ?", (table,)).scalar() > 0
    with store._read.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = %s", (store.schema, table)).scalar() > 0


def test_R_AGG_6_statistics_of_a_new_table_follow_in_a_queued_job(f, db, tmp_path):
    """The load's table serves as soon as it is indexed; ANALYZE runs right after, as the job ``ingest.analyze``
    queued in the applying transaction (a table dropped before it ran is skipped)."""
    from gongshu.jobs.models import Job
    from gongshu.jobs.service import drain

    c, entry = setup(f, db)
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "p.csv", person_rows(50)))
    assert load.status == "applied", load.error
    v = db.get(DataVersion, load.version_id)
    store = registry.get_store()
    job = db.scalars(select(Job).where(Job.kind == "ingest.analyze")).one()
    assert job.payload == {"table": v.table_name}
    assert not _has_statistics(store, v.table_name)
    db.commit()
    drain()
    assert _has_statistics(store, v.table_name)
    assert store.analyze("rd_404_l404") is False  # gone: nothing to do, no error


def test_R_AGG_3_a_nul_character_in_a_file_is_a_reject_on_both_databases(f, db, tmp_path):
    """A NUL byte inside a CSV field is listed with its line and item; the other rows load (PostgreSQL would
    refuse the whole table write, SQLite would keep the byte)."""
    c, entry = setup(f, db)
    versions.set_policy(db, actor=c.officer, entry_id=entry.id, max_error_rate=0.2, keep_versions=5)
    rows = person_rows(10)
    rows[3][1] = "张\x00四"
    load = load_file(db, c.officer, entry, write_csv(tmp_path / "nul.csv", rows, encoding="utf-8"))
    assert load.status == "applied", load.error
    assert (load.rows_read, load.rows_rejected) == (10, 1)
    problem = load.report["problems"][0]
    assert (problem["row"], problem["field"], problem["rule"]) == (5, "姓名", "nul_char")
    v = db.get(DataVersion, load.version_id)
    assert registry.get_store().count(v.table_name) == 9

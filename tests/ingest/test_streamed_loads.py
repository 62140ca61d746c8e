"""The streamed store write (R-AGG-3, R-AGG-6): duplicates under the error limit are left out of the table
and the snapshot; refused loads and dry runs leave no table behind."""

from __future__ import annotations

import pyarrow.parquet as pq
from sqlalchemy import select

from gongshu.ingest.models import DataVersion
from gongshu.ingest.service import files, versions
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

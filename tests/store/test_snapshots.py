"""Parquet snapshots and the DuckDB work over them: duplicates, merge, diff (R-AGG-3, R-AGG-6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshu.errors import Invalid
from gongshu.kit.hashing import sm3_hex
from gongshu.store.service import (
    DiffCounts,
    SnapshotWriter,
    diff_rows,
    diff_snapshots,
    file_sm3,
    merge_snapshot,
)
from tests.store.support import no_metadata_database  # noqa: F401 - fixture

SCHEMA = pa.schema([("k", pa.large_string()), ("n", pa.int64()), ("v", pa.decimal128(18, 2)), ("d", pa.date32())])
LABELS = {"k": "公民身份号码", "n": "序号", "v": "金额", "d": "日期"}


def write(path, rows, schema=SCHEMA, labels=LABELS):
    with SnapshotWriter(path, schema, labels) as w:
        w.write(pa.Table.from_pylist(rows, schema=schema))
    return path


def r(k, n, v, d=date(2024, 1, 1)):
    return {"k": k, "n": n, "v": Decimal(v), "d": d}


def test_file_sm3_streams_the_standard_digest(tmp_path):
    p = tmp_path / "abc.bin"
    p.write_bytes(b"abc")
    assert file_sm3(p) == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    big = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # > 2 MB: several chunks
    big.write_bytes(data)
    assert file_sm3(big) == sm3_hex(data)


def test_r_agg_6_snapshot_writer_labels_and_atomic_rename(tmp_path):
    path = tmp_path / "s" / "v1.parquet"
    with SnapshotWriter(path, SCHEMA, LABELS) as w:
        w.write(pa.Table.from_pylist([r("a", 1, "1.5")], schema=SCHEMA))
        w.write(pa.RecordBatch.from_pylist([r("b", 2, "2")], schema=SCHEMA).select(["d", "v", "n", "k"]))
        assert not path.exists() and path.with_name("v1.parquet.part").exists()
    assert w.rows == 2
    t = pq.read_table(path)
    assert t.schema.field("k").metadata == {b"label": "公民身份号码".encode()}
    assert t.to_pylist() == [r("a", 1, "1.5"), r("b", 2, "2")]
    bad = tmp_path / "s" / "v2.parquet"
    with pytest.raises(RuntimeError), SnapshotWriter(bad, SCHEMA, LABELS) as w:
        w.write(pa.Table.from_pylist([r("a", 1, "1")], schema=SCHEMA))
        raise RuntimeError("load failed")
    assert not bad.exists() and not bad.with_name("v2.parquet.part").exists()


@pytest.fixture
def versions(tmp_path):
    base = write(tmp_path / "base.parquet", [r("d", 4, "4"), r("a", 1, "1"), r("b", 2, "2"), r("c", 3, "3")])
    delta_schema = pa.schema([("_row", pa.int64())] + list(SCHEMA))
    delta = write(tmp_path / "delta.parquet", [{"_row": 2, **r("b", 2, "20")}, {"_row": 3, **r("e", 5, "5")}],
                  delta_schema, {})
    deletes = write(tmp_path / "deletes.parquet", [{"k": "c"}, {"k": "zz"}], pa.schema([("k", pa.large_string())]), {})
    return base, delta, deletes


def test_r_agg_6_merge_snapshot_upserts_and_deletes(tmp_path, versions):
    base, delta, deletes = versions
    out = tmp_path / "v2.parquet"
    assert merge_snapshot(base=base, delta=delta, deletes=deletes, keys=["k"], out=out) == 4
    t = pq.read_table(out)
    assert t.column_names == ["k", "n", "v", "d"]
    assert t.schema.field("v").type == pa.decimal128(18, 2)
    assert t.schema.field("k").metadata == {b"label": "公民身份号码".encode()}
    assert t.to_pylist() == [r("a", 1, "1"), r("b", 2, "20"), r("d", 4, "4"), r("e", 5, "5")]
    assert merge_snapshot(base=base, delta=None, deletes=deletes, keys=["k"], out=out) == 3
    assert pq.read_table(out).column("k").to_pylist() == ["a", "b", "d"]
    assert merge_snapshot(base=None, delta=delta, deletes=None, keys=["k"], out=out) == 2
    assert pq.read_table(out).column_names == ["k", "n", "v", "d"]
    with pytest.raises(Invalid):
        merge_snapshot(base=base, delta=delta, deletes=None, keys=[], out=out)
    with pytest.raises(Invalid):
        merge_snapshot(base=None, delta=None, deletes=None, keys=["k"], out=out)


def test_r_agg_6_diff_counts_by_key(tmp_path, versions):
    base, delta, deletes = versions
    new = tmp_path / "v2.parquet"
    merge_snapshot(base=base, delta=delta, deletes=deletes, keys=["k"], out=new)
    cols = ["k", "n", "v", "d"]
    assert diff_snapshots(base, new, keys=["k"], columns=cols) == DiffCounts(added=1, changed=1, deleted=1,
                                                                             unchanged=2)
    assert diff_snapshots(base, new, keys=["k"], columns=["k", "n"]) == DiffCounts(1, 0, 1, 3)
    assert diff_snapshots(None, new, keys=["k"], columns=cols) == DiffCounts(4, 0, 0, 0)
    assert diff_snapshots(base, base, keys=["k"], columns=cols) == DiffCounts(0, 0, 0, 4)


def test_r_agg_6_diff_rows_by_key(tmp_path, versions):
    base, delta, deletes = versions
    new = tmp_path / "v2.parquet"
    merge_snapshot(base=base, delta=delta, deletes=deletes, keys=["k"], out=new)
    cols = ["n", "v", "d", "k"]
    assert diff_rows(base, new, keys=["k"], columns=cols, kind="added") == [r("e", 5, "5")]
    assert diff_rows(base, new, keys=["k"], columns=cols, kind="deleted") == [r("c", 3, "3")]
    assert diff_rows(base, new, keys=["k"], columns=cols, kind="changed") == [
        {"key": {"k": "b"}, "changes": {"v": {"old": Decimal("2.00"), "new": Decimal("20.00")}}}]
    assert diff_rows(None, new, keys=["k"], columns=cols, kind="added", limit=2, offset=1) == [
        r("b", 2, "20"), r("d", 4, "4")]
    assert diff_rows(None, new, keys=["k"], columns=cols, kind="deleted") == []
    with pytest.raises(Invalid):
        diff_rows(base, new, keys=["k"], columns=cols, kind="moved")


def test_r_agg_6_diff_without_keys_is_a_multiset_comparison(tmp_path):
    old = write(tmp_path / "o.parquet", [r("a", 1, "1"), r("a", 1, "1"), r("b", 2, "2"), r("c", 3, "3")])
    new = write(tmp_path / "n.parquet", [r("a", 1, "1"), r("b", 2, "2"), r("b", 2, "2"), r("b", 2, "2"),
                                         r("d", 4, "4")])
    cols = ["k", "n", "v", "d"]
    assert diff_snapshots(old, new, keys=[], columns=cols) == DiffCounts(added=3, changed=0, deleted=2, unchanged=2)
    assert diff_rows(old, new, keys=[], columns=cols, kind="added") == [r("b", 2, "2"), r("b", 2, "2"), r("d", 4, "4")]
    assert diff_rows(old, new, keys=[], columns=cols, kind="deleted") == [r("a", 1, "1"), r("c", 3, "3")]
    assert diff_rows(old, new, keys=[], columns=cols, kind="changed") == []
    assert diff_rows(old, new, keys=[], columns=cols, kind="added", limit=1, offset=2) == [r("d", 4, "4")]

"""The resource data store's typed tables on SQLite and PostgreSQL (R-AGG-6)."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pytest

from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.store.service import Column, arrow_schema
from tests.store.support import (  # noqa: F401 - fixtures
    ALL_TYPES,
    PERSON,
    all_types_rows,
    batch_of,
    no_metadata_database,
    persons,
    store_fixture,
)

NO_KEY = [Column("c1", "名称", "C"), Column("c2", "数量", "I")]


def _load(store, name, columns, rows_or_batches):
    store.create_table(name, columns)
    batches = [batch_of(rows_or_batches, columns)] if isinstance(rows_or_batches[0], dict) else rows_or_batches
    n = store.write_batches(name, columns, batches)
    store.finish_table(name, columns)
    return n


def test_r_agg_6_every_type_round_trips(store):
    rows = all_types_rows()
    assert _load(store, "rd_1_1", ALL_TYPES, rows) == 4
    assert store.count("rd_1_1") == 4
    for row in rows:
        assert store.lookup("rd_1_1", ALL_TYPES, {"c1": row["c1"], "c2": row["c2"]}) == [row]
    got = list(store.iter_batches("rd_1_1", ALL_TYPES))
    assert all(b.schema == arrow_schema(ALL_TYPES) for b in got)
    assert [r for b in got for r in b.to_pylist()] == rows
    page, nxt = store.query("rd_1_1", ALL_TYPES, limit=10)
    assert page == rows and nxt is None


def test_r_agg_6_iter_batches_streams_in_batches(store):
    _load(store, "rd_1_1", PERSON, [persons(0, 20)])
    sizes = [b.num_rows for b in store.iter_batches("rd_1_1", PERSON, batch_rows=7)]
    assert sizes == [7, 7, 6]
    ids = [r["c1"] for b in store.iter_batches("rd_1_1", PERSON, batch_rows=7) for r in b.to_pylist()]
    assert ids == persons(0, 20).column("c1").to_pylist()


def test_r_agg_6_batches_are_cast_and_extra_columns_ignored(store):
    """Batches carry columns by SQL name, in any order, as text where types allow; ``_row`` is ignored."""
    b = pa.record_batch({"_row": [2], "c4": ["12.5"], "c3": pa.array([date(2000, 1, 2)]), "c2": ["王五"],
                         "c1": ["330100200001020011"]})
    _load(store, "rd_1_1", PERSON, [b])
    assert store.lookup("rd_1_1", PERSON, {"c1": "330100200001020011"}) == [
        {"c1": "330100200001020011", "c2": "王五", "c3": date(2000, 1, 2), "c4": Decimal("12.50")}]


def test_r_agg_6_lookup_and_filters(store):
    rows = all_types_rows()
    _load(store, "rd_1_1", ALL_TYPES, rows)
    assert store.lookup("rd_1_1", ALL_TYPES, {"c1": "330105", "c2": 3}) == []
    assert store.lookup("rd_1_1", ALL_TYPES, {"c1": "330105", "c2": "2"}) == [rows[1]]  # text as from a URL
    f = store.query
    assert f("rd_1_1", ALL_TYPES, filters={"c5": "1990-02-28"})[0] == [rows[0]]
    assert f("rd_1_1", ALL_TYPES, filters={"c5": date(1990, 2, 28)})[0] == [rows[0]]
    assert f("rd_1_1", ALL_TYPES, filters={"c4": "-0.01"})[0] == [rows[1]]
    assert f("rd_1_1", ALL_TYPES, filters={"c7": "false"})[0] == [rows[1]]
    assert f("rd_1_1", ALL_TYPES, filters={"c6": "2024-05-01T08:30:00.123456"})[0] == [rows[0]]
    assert f("rd_1_1", ALL_TYPES, filters={"c3": None})[0] == [rows[2]]
    assert f("rd_1_1", ALL_TYPES, filters={"c1": "330106", "c7": True})[0] == [rows[3]]
    assert f("rd_1_1", ALL_TYPES, filters={"c3": "张三", "c1": "330106"})[0] == []


def test_r_agg_6_bad_filter_values_are_invalid(store):
    _load(store, "rd_1_1", ALL_TYPES, all_types_rows())
    with pytest.raises(Invalid) as e:
        store.query("rd_1_1", ALL_TYPES, filters={"c5": "2024-13-01"})
    assert e.value.field == "c5" and "出生日期" in e.value.message
    with pytest.raises(Invalid) as e:
        store.query("rd_1_1", ALL_TYPES, filters={"nope": 1})
    assert e.value.field == "nope"
    with pytest.raises(Invalid):
        store.lookup("rd_1_1", ALL_TYPES, {"c2": "abc"})
    with pytest.raises(Invalid):
        store.query("rd_1_1", ALL_TYPES, limit=0)


def test_r_agg_6_keyset_pages_cover_every_row_once(store):
    """Composite key (region, serial): 1,000 rows in pages of 37, ascending, none lost or repeated."""
    cols = [Column("c1", "区划", "C", key=True), Column("c2", "序号", "I", key=True), Column("c3", "类别", "C")]
    rows = [{"c1": f"33{(i * 7919) % 13:04d}", "c2": i % 97 - 40, "c3": "甲" if i % 3 else "乙"} for i in range(1000)]
    rows = list({(r["c1"], r["c2"]): r for r in rows}.values())
    _load(store, "rd_1_1", cols, rows)
    for filters in (None, {"c3": "乙"}):
        seen, after, pages = [], None, 0
        while True:
            page, after = store.query("rd_1_1", cols, filters=filters, after=after, limit=37)
            seen += page
            pages += 1
            if after is None:
                break
        want = sorted((r for r in rows if not filters or r["c3"] == "乙"), key=lambda r: (r["c1"], r["c2"]))
        assert seen == want
        assert pages == -(-len(want) // 37) or (len(want) % 37 == 0 and pages == len(want) // 37 + 1)


def test_r_agg_6_keyset_without_key_uses_row_order(store):
    rows = [{"c1": f"名称{i % 5}", "c2": i} for i in range(95)]
    _load(store, "rd_1_1", NO_KEY, rows)
    seen, after = [], None
    while True:
        page, after = store.query("rd_1_1", NO_KEY, after=after, limit=10)
        seen += page
        if after is None:
            break
    assert seen == rows


def test_r_agg_6_duplicate_key_is_invalid_and_names_the_key(store):
    rows = [{"c1": "330100199001010011", "c2": "甲", "c3": None, "c4": None},
            {"c1": "330100199001010022", "c2": "乙", "c3": None, "c4": None},
            {"c1": "330100199001010011", "c2": "丙", "c3": None, "c4": None}]
    with pytest.raises(Invalid) as e:
        _load(store, "rd_1_1", PERSON, rows)
    assert e.value.field == "c1"
    assert "公民身份号码" in e.value.message
    assert e.value.details == [{"key": {"c1": "330100199001010011"}, "count": 2}]


def test_r_agg_6_null_key_is_invalid_and_nothing_is_written(store):
    store.create_table("rd_1_1", PERSON)
    good = batch_of([{"c1": "330100199001010011", "c2": "甲", "c3": None, "c4": None}], PERSON)
    bad = batch_of([{"c1": None, "c2": "乙", "c3": None, "c4": None}], PERSON)
    with pytest.raises(Invalid) as e:
        store.write_batches("rd_1_1", PERSON, [good, bad])
    assert e.value.field == "c1"
    assert store.count("rd_1_1") == 0


def test_r_agg_6_uncastable_values_are_invalid(store):
    store.create_table("rd_1_1", PERSON)
    b = pa.record_batch({"c1": ["1"], "c2": ["x"], "c3": ["not a date"], "c4": ["1"]})
    with pytest.raises(Invalid) as e:
        store.write_batches("rd_1_1", PERSON, [b])
    assert e.value.field == "c3"
    with pytest.raises(Invalid) as e:
        store.write_batches("rd_1_1", PERSON, [pa.record_batch({"c1": ["1"]})])
    assert e.value.field == "c2"


def test_r_agg_6_a_failing_load_leaves_nothing(store):
    """One transaction per write: rows of earlier batches vanish when a later batch fails."""
    store.create_table("rd_1_1", PERSON)

    def batches():
        yield persons(0, 5000)
        yield persons(5000, 5000)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError):
        store.write_batches("rd_1_1", PERSON, batches())
    assert store.count("rd_1_1") == 0
    with pytest.raises(RuntimeError):
        store.write_batches("rd_1_2", PERSON, batches(), create=True)
    assert "rd_1_2" not in store.tables()
    assert store.write_batches("rd_1_2", PERSON, [persons(0, 3)], create=True) == 3
    assert store.count("rd_1_2") == 3


def test_names_are_checked_and_existing_tables_refused(store):
    for bad in ('rd_1"; DROP TABLE x; --', "Rd_1", "1rd", "", "a" * 64):
        with pytest.raises(Invalid):
            store.create_table(bad, PERSON)
    with pytest.raises(Invalid):
        store.create_table("rd_1_1", [Column("c1", "x", "Q")])
    with pytest.raises(Invalid):
        store.create_table("rd_1_1", [Column("c1", "x", "C"), Column("c1", "y", "C")])
    store.create_table("rd_1_1", PERSON)
    with pytest.raises(Conflict):
        store.create_table("rd_1_1", PERSON)
    with pytest.raises(NotFound):
        store.write_batches("rd_9_9", PERSON, [persons(0, 1)])


def test_r_agg_6_tables_cleanup_drops_orphans_only(store):
    for name in ("rd_1_1", "rd_1_2", "rd_2_1", "rdx_1", "other"):
        store.create_table(name, PERSON)
    assert store.tables() == ["rd_1_1", "rd_1_2", "rd_2_1"]
    assert store.cleanup(keep={"rd_1_2", "rd_2_1"}) == ["rd_1_1"]
    assert store.tables() == ["rd_1_2", "rd_2_1"]
    assert store.tables(prefix="") == ["other", "rd_1_2", "rd_2_1", "rdx_1"]
    store.drop_table("rd_1_2")
    store.drop_table("rd_1_2")  # idempotent
    assert store.tables() == ["rd_2_1"]


def test_r_agg_6_copy_table(store):
    _load(store, "rd_1_1", ALL_TYPES, all_types_rows())
    store.create_table("rd_1_2", ALL_TYPES)
    assert store.copy_table("rd_1_1", "rd_1_2") == 4
    store.finish_table("rd_1_2", ALL_TYPES)
    assert [r for b in store.iter_batches("rd_1_2", ALL_TYPES) for r in b.to_pylist()] == all_types_rows()


def test_r_agg_6_load_does_not_block_lookups(store):
    """While another thread loads 100k rows in one long transaction, lookups on the serving table answer fast."""
    _load(store, "rd_1_1", PERSON, [persons(0, 20_000)])
    keys = persons(0, 20_000).column("c1").to_pylist()
    started, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def batches():
        for i in range(10):
            yield persons(100_000 + i * 10_000, 10_000)
            started.set()
            time.sleep(0.05)  # the pace of a file being read and validated: the load lasts at least 0.5 s

    def load():
        try:
            store.write_batches("rd_1_2", PERSON, batches(), create=True)
        except BaseException as exc:  # reported below
            failure.append(exc)
        finally:
            started.set()
            done.set()

    pre = [persons(100_000 + i * 10_000, 10_000) for i in range(1)]  # warm the converters
    assert pre[0].num_rows == 10_000
    t = threading.Thread(target=load)
    t.start()
    started.wait(30)
    worst, n = 0.0, 0
    while not done.is_set():
        k = keys[(n * 7919) % len(keys)]
        t0 = time.perf_counter()
        got = store.lookup("rd_1_1", PERSON, {"c1": k})
        worst = max(worst, time.perf_counter() - t0)
        assert got[0]["c1"] == k
        n += 1
        time.sleep(0.002)  # a steady stream of lookups, not a busy loop starving the writer
    t.join()
    assert not failure, failure
    assert store.count("rd_1_2") == 100_000
    assert n > 20, "the load finished before lookups could be measured"
    assert worst < 0.2, f"slowest lookup during the load took {worst * 1000:.0f} ms over {n} lookups"


def test_r_agg_6_new_table_with_index_refuses_duplicates_and_leaves_nothing(store):
    """``create=True, index=True``: the table appears only complete and indexed; duplicates leave nothing."""
    dup = batch_of([{"c1": "330100199001010011", "c2": "甲", "c3": None, "c4": None},
                    {"c1": "330100199001010011", "c2": "丙", "c3": None, "c4": None}], PERSON)
    with pytest.raises(Invalid) as e:
        store.write_batches("rd_1_1", PERSON, [persons(0, 1000), dup], create=True, index=True)
    assert e.value.field == "c1" and "公民身份号码" in e.value.message
    assert e.value.details == [{"key": {"c1": "330100199001010011"}, "count": 2}]
    assert not store.has_table("rd_1_1") and store.tables() == []
    if store.dialect == "sqlite":
        assert not list(store.root.glob("*.part"))
    assert store.write_batches("rd_1_1", PERSON, [persons(0, 1000)], create=True, index=True) == 1000
    assert store.lookup("rd_1_1", PERSON, {"c1": persons(10, 1).column("c1")[0].as_py()})[0]["c2"] == "姓名10"


def test_r_agg_6_new_table_with_a_null_key_is_invalid(store):
    bad = batch_of([{"c1": None, "c2": "乙", "c3": None, "c4": None}], PERSON)
    with pytest.raises(Invalid) as e:
        store.write_batches("rd_1_1", PERSON, [persons(0, 10), bad], create=True, index=True)
    assert e.value.field == "c1"
    assert not store.has_table("rd_1_1")


def test_r_agg_6_loads_do_not_wait_for_each_other(store):
    """A long load of one table holds nothing another load needs: the second one finishes while the
    first is still writing (one SQLite file per table; one transaction per table on PostgreSQL)."""
    first_started, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def slow_batches():
        yield persons(0, 10_000)
        first_started.set()
        if not release.wait(60):
            raise RuntimeError("never released")
        yield persons(10_000, 10_000)

    def first():
        try:
            store.write_batches("rd_1_1", PERSON, slow_batches(), create=True, index=True)
        except BaseException as exc:  # reported below
            failure.append(exc)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert first_started.wait(30)
        t0 = time.perf_counter()
        assert store.write_batches("rd_2_1", PERSON, [persons(50_000, 20_000)], create=True, index=True) == 20_000
        assert time.perf_counter() - t0 < 5
        assert store.count("rd_2_1") == 20_000 and not store.has_table("rd_1_1")
    finally:
        release.set()
        t.join(60)
    assert not failure, failure
    assert store.count("rd_1_1") == 20_000


def test_r_agg_6_private_files_of_dead_writers_are_cleaned_up(store):
    if store.dialect != "sqlite":
        pytest.skip("SQLite store only: PostgreSQL rolls a dead writer's transaction back itself")
    import os

    store.write_batches("rd_1_1", PERSON, [persons(0, 10)], create=True, index=True)
    dead = store.root / "rd_1_2.999999999.0a1b2c3d.sqlite.part"  # above any pid_max: that writer is gone
    mine = store.root / f"rd_1_3.{os.getpid()}.0a1b2c3d.sqlite.part"  # this process, but nobody writes it
    dead.write_bytes(b"half a table")
    mine.write_bytes(b"half a table")
    assert store.tables() == ["rd_1_1"]
    assert store.cleanup(keep={"rd_1_1"}) == []
    assert not dead.exists() and not mine.exists()
    assert store.count("rd_1_1") == 10


def test_r_agg_6_reading_a_missing_table_is_not_found_and_creates_nothing(store):
    with pytest.raises(NotFound):
        store.lookup("rd_7_7", PERSON, {"c1": "x"})
    with pytest.raises(NotFound):
        store.count("rd_7_7")
    assert store.tables() == []


def test_r_agg_6_rows_can_be_left_out_by_position_after_the_stream(store):
    """``exclude`` is asked once the batches are exhausted (duplicate keys are known only then)."""
    asked: list[bool] = []

    def exclude():
        asked.append(True)
        return [2, 5, 5]

    batch = persons(0, 6)  # keys 0..5; positions 2 and 5 are keys 1 and 4
    n = store.write_batches("rd_1_1", PERSON, [batch], create=True, index=True, exclude=exclude)
    assert asked == [True] and n == 4
    rows, _ = store.query("rd_1_1", PERSON, limit=10)
    keys = batch.column("c1").to_pylist()
    assert [r["c1"] for r in rows] == [keys[0], keys[2], keys[3], keys[5]]


def test_r_agg_6_rows_appended_to_a_new_table_follow_its_rows(store):
    """A table written in one go (on PostgreSQL: row numbers sent with the rows, not drawn from the identity)
    takes appended rows after its own: no clash of row numbers (a table without key is unique on them),
    the stream order kept."""
    first = batch_of([{"c1": f"甲{i}", "c2": i} for i in range(5)], NO_KEY)
    more = batch_of([{"c1": f"乙{i}", "c2": i} for i in range(3)], NO_KEY)
    assert store.write_batches("rd_1_1", NO_KEY, [first], create=True, index=True) == 5
    assert store.write_batches("rd_1_1", NO_KEY, [more]) == 3
    assert store.count("rd_1_1") == 8
    names = [r["c1"] for b in store.iter_batches("rd_1_1", NO_KEY) for r in b.to_pylist()]
    assert names == [f"甲{i}" for i in range(5)] + [f"乙{i}" for i in range(3)]

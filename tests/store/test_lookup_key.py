"""The store's key-lookup path for the sharing API (R-AGG-6, R-SHR-5): ``lookup_key`` answers what ``lookup``
answers, on a connection each thread keeps, and never serves a table that was dropped or replaced."""

from __future__ import annotations

import threading

import pytest

from gongshu.errors import Invalid, NotFound
from gongshu.store.service import ResourceStore
from tests.store.support import (  # noqa: F401 - fixtures
    ALL_TYPES,
    PERSON,
    all_types_rows,
    batch_of,
    no_metadata_database,
    persons,
    store_fixture,
)


def _load(store, name, columns, batches) -> None:
    store.write_batches(name, columns, batches, create=True, index=True)


def test_r_agg_6_lookup_key_answers_what_lookup_answers_for_every_type(store):
    rows = all_types_rows()
    _load(store, "rd_1_1", ALL_TYPES, [batch_of(rows, ALL_TYPES)])
    for row in rows:
        key = {"c1": row["c1"], "c2": row["c2"]}
        assert store.lookup_key("rd_1_1", ALL_TYPES, key) == row == store.lookup("rd_1_1", ALL_TYPES, key)[0]
        text_key = {"c1": row["c1"], "c2": str(row["c2"])}  # values as a query string gives them
        assert store.lookup_key("rd_1_1", ALL_TYPES, text_key) == row
    assert store.lookup_key("rd_1_1", ALL_TYPES, {"c1": "330105", "c2": 99}) is None
    assert store.lookup_key("rd_1_1", ALL_TYPES, {"c1": None, "c2": 1}) is None  # a key is never NULL
    assert store.lookup_key("rd_1_1", ALL_TYPES, {"c3": "张三"}) == rows[0]  # any columns, like lookup()
    with pytest.raises(Invalid) as exc:
        store.lookup_key("rd_1_1", ALL_TYPES, {"c1": "330105", "c2": "一"})
    assert exc.value.field == "c2"
    with pytest.raises(Invalid):
        store.lookup_key("rd_1_1", ALL_TYPES, {"c99": "x"})
    with pytest.raises(Invalid):
        store.lookup_key("rd_1_1", ALL_TYPES, {})
    with pytest.raises(NotFound) as missing:
        store.lookup_key("rd_9_9", PERSON, {"c1": "3301"})
    assert missing.value.field == "name"


def test_r_agg_6_lookup_key_keeps_one_connection_per_thread_and_sees_appended_rows(store):
    _load(store, "rd_1_1", PERSON, [persons(0, 50)])
    key = {"c1": "3301" + "0" * 12 + "10"}
    assert store.lookup_key("rd_1_1", PERSON, key)["c2"] == "姓名10"
    assert store.lookup_key("rd_1_1", PERSON, key)["c2"] == "姓名10"
    assert len(store._held) == 1  # the second call reused this thread's connection
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(store.lookup_key("rd_1_1", PERSON, key)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["c2"] for r in got] == ["姓名10"] * 3
    store.write_batches("rd_1_1", PERSON, [persons(50, 5)])  # an append commits on another connection
    assert store.lookup_key("rd_1_1", PERSON, {"c1": "3301" + "0" * 12 + "52"})["c2"] == "姓名52"
    store.close()
    assert all(h.closed for h in store._held)


def test_r_agg_6_lookup_key_never_serves_a_dropped_or_replaced_table(store):
    _load(store, "rd_1_1", PERSON, [persons(0, 10)])
    key = {"c1": "3301" + "0" * 13 + "3"}
    assert store.lookup_key("rd_1_1", PERSON, key)["c2"] == "姓名3"
    store.drop_table("rd_1_1")
    with pytest.raises(NotFound):
        store.lookup_key("rd_1_1", PERSON, key)
    _load(store, "rd_1_1", PERSON, [persons(3, 1)])
    assert store.lookup_key("rd_1_1", PERSON, key)["c2"] == "姓名3"
    # another process drops the table and writes a new one under the same name: this thread's open
    # connection must not go on reading the old file
    other = ResourceStore(store.url, schema=store.schema)
    try:
        other.drop_table("rd_1_1")
        with pytest.raises(NotFound):
            store.lookup_key("rd_1_1", PERSON, key)
        batch = persons(3, 1).to_pylist()
        batch[0]["c2"] = "新的姓名"
        other.write_batches("rd_1_1", PERSON, [batch_of(batch, PERSON)], create=True, index=True)
    finally:
        other.close()
    assert store.lookup_key("rd_1_1", PERSON, key)["c2"] == "新的姓名"


def test_r_agg_6_lookup_key_of_another_thread_after_a_drop(store):
    """A connection another thread keeps to a dropped table is closed with the drop (SQLite: the file's space
    is given back); the thread's next lookup is NotFound, not the old rows."""
    _load(store, "rd_1_1", PERSON, [persons(0, 10)])
    key = {"c1": "3301" + "0" * 13 + "4"}
    ready, dropped, seen = threading.Event(), threading.Event(), []

    def reader() -> None:
        seen.append(store.lookup_key("rd_1_1", PERSON, key)["c2"])
        ready.set()
        dropped.wait(10)
        try:
            seen.append(store.lookup_key("rd_1_1", PERSON, key))
        except NotFound:
            seen.append("not found")

    t = threading.Thread(target=reader)
    t.start()
    ready.wait(10)
    store.drop_table("rd_1_1")
    if store.dialect == "sqlite":
        assert all(h.closed for h in store._held if h.name == "rd_1_1")
    dropped.set()
    t.join(10)
    assert seen == ["姓名4", "not found"]

"""Shared fixtures and data for the store tests, and the child process of the crash test.

    python -m tests.store.support crash <url> <schema> <create|separate>

writes an endless stream of rows into table ``rd_crash`` and prints ``writing`` once the load's
transaction has received rows; the test kills it with SIGKILL (R-AGG-6).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from gongshu.db import ensure_postgres_database
from gongshu.store.service import ARROW_TYPES, Column, ResourceStore

PG_URL = os.environ.get("GONGSHU_TEST_DATABASE_URL", "")
DIALECTS = ["sqlite"] + (["postgresql"] if PG_URL else [])

#: every item type, a two-column key (region + serial) like many real entries
ALL_TYPES = [
    Column("c1", "行政区划代码", "C", 6, key=True),
    Column("c2", "序号", "I", key=True),
    Column("c3", "姓名", "C", 50),
    Column("c4", "月收入", "Y"),
    Column("c5", "出生日期", "D"),
    Column("c6", "登记时间", "T"),
    Column("c7", "是否在册", "L"),
    Column("c8", "备注", "M"),
    Column("c9", "照片", "G"),
    Column("c10", "面积", "N"),
    Column("c11", "比率", "B"),
    Column("c12", "系数", "F"),
]
PERSON = [Column("c1", "公民身份号码", "C", 18, key=True), Column("c2", "姓名", "C", 50),
          Column("c3", "出生日期", "D"), Column("c4", "月收入", "Y")]



def open_store(dialect: str, tmp_path) -> ResourceStore:
    if dialect == "sqlite":
        return ResourceStore(f"sqlite:///{tmp_path / 'resources'}")
    ensure_postgres_database(PG_URL)
    return ResourceStore(PG_URL, schema=f"resdata_test_{uuid.uuid4().hex[:8]}")


def dispose_store(store: ResourceStore) -> None:
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE')
    store.close()


@pytest.fixture(name="store", params=DIALECTS)
def store_fixture(request, tmp_path) -> Iterator[ResourceStore]:
    s = open_store(request.param, tmp_path)
    try:
        yield s
    finally:
        dispose_store(s)


@pytest.fixture(name="resource_store")
def no_metadata_database() -> Iterator[None]:
    """Overrides the suite's autouse fixture of that name: these tests open their own stores and
    need no metadata database (so they run even while the migrations are being edited)."""
    yield


def all_types_rows() -> list[dict]:
    """Hand-made rows of every type: Chinese text, quotes and newlines, empty values, extremes."""
    return [
        {"c1": "330105", "c2": 1, "c3": "张三", "c4": Decimal("12345.67"), "c5": date(1990, 2, 28),
         "c6": datetime(2024, 5, 1, 8, 30, 0, 123456), "c7": True, "c8": '多行\n备注，含"引号",逗号', "c9": b"\x00\x01\xfe\xff",
         "c10": 1.5, "c11": -0.25, "c12": 1e300},
        {"c1": "330105", "c2": 2, "c3": "", "c4": Decimal("-0.01"), "c5": date(1, 1, 1),
         "c6": datetime(1970, 1, 1), "c7": False, "c8": "", "c9": b"", "c10": 0.0, "c11": 3.0, "c12": -7.0},
        {"c1": "330106", "c2": 1, "c3": None, "c4": None, "c5": None, "c6": None, "c7": None, "c8": None,
         "c9": None, "c10": None, "c11": None, "c12": None},
        {"c1": "330106", "c2": 10**15, "c3": "𠀀生僻字 and ASCII", "c4": Decimal("9999999999999999.99"),
         "c5": date(9999, 12, 31), "c6": datetime(2099, 12, 31, 23, 59, 59, 999999), "c7": True,
         "c8": "\\N \\x00 \t tab", "c9": bytes(range(256)), "c10": 123456789.125, "c11": 0.1, "c12": 2.5},
    ]


def batch_of(rows: list[dict], columns) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=pa.schema([(c.name, ARROW_TYPES[c.type]) for c in columns]))


def persons(start: int, n: int) -> pa.RecordBatch:
    """n person rows with distinct 18-character keys, numbered from ``start``."""
    ids = pa.array([f"3301{i:014d}" for i in range(start, start + n)], pa.large_string())
    names = pa.array([f"姓名{i}" for i in range(start, start + n)], pa.large_string())
    births = pa.array([date(1950, 1, 1) + timedelta(days=i % 20000) for i in range(start, start + n)], pa.date32())
    income = pa.array([Decimal(i % 100000) / 100 for i in range(start, start + n)], pa.decimal128(18, 2))
    return pa.RecordBatch.from_arrays([ids, names, births, income], names=["c1", "c2", "c3", "c4"])


def _endless(announce_after: int) -> Iterator[pa.RecordBatch]:
    i = 0
    while True:
        yield persons(i * 10_000, 10_000)
        i += 1
        if i == announce_after:
            print("writing", flush=True)


def _crash_child(url: str, schema: str, mode: str) -> None:
    store = ResourceStore(url, schema=schema)
    if mode == "separate":
        store.create_table("rd_crash", PERSON)
    store.write_batches("rd_crash", PERSON, _endless(3), create=(mode == "create"))


if __name__ == "__main__":
    if sys.argv[1] == "crash":
        _crash_child(sys.argv[2], sys.argv[3], sys.argv[4])

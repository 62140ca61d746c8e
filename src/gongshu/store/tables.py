"""Typed, indexed SQL tables of resource data, one per accepted version (R-AGG-6).

SQLite: a directory with one file per table (see :mod:`gongshu.store.sqlite_dir`), in WAL mode, so
readers never wait for a load and loads never wait for each other. Reads run in the driver's
autocommit mode (no ``BEGIN IMMEDIATE``, unlike the metadata engine); a new table is written by the
ADBC driver from Arrow into a private file; appends to an existing table are one ``BEGIN IMMEDIATE``
transaction of batched ``executemany``. PostgreSQL: a schema (default
``resdata``) reached through its own engine; a load is one transaction of ``COPY … FROM STDIN``
fed with CSV that pyarrow writes batch by batch (vectorised, no Python per row).

Every table has an internal row id ``_rid`` (insertion order; the keyset of tables without key
columns). Key columns are ``NOT NULL``; their unique index is built by :meth:`finish_table`.
Identifiers are validated against ``^[a-z][a-z0-9_]{0,62}$`` and quoted; values are always bound.
"""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote

import adbc_driver_manager
import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from gongshu.db import make_engine
from gongshu.errors import Invalid

ARROW_TYPES: dict[str, pa.DataType] = {
    "C": pa.large_string(), "M": pa.large_string(),
    "N": pa.float64(), "B": pa.float64(), "F": pa.float64(),
    "Y": pa.decimal128(18, 2), "I": pa.int64(), "D": pa.date32(), "T": pa.timestamp("us"),
    "L": pa.bool_(), "G": pa.binary(),
}
SQLITE_TYPES = {"C": "TEXT", "M": "TEXT", "N": "REAL", "B": "REAL", "F": "REAL", "Y": "TEXT", "I": "INTEGER",
                "D": "TEXT", "T": "TEXT", "L": "INTEGER", "G": "BLOB"}
PG_TYPES = {"C": "text", "M": "text", "N": "double precision", "B": "double precision", "F": "double precision",
            "Y": "numeric(18,2)", "I": "bigint", "D": "date", "T": "timestamp", "L": "boolean", "G": "bytea"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: rows per executemany call on SQLite (one transaction per write_batches call all the same)
SQLITE_CHUNK = 10_000
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Column:
    name: str  # SQL-safe, e.g. "c1"
    label: str  # 中文 data item name
    type: str  # item type letter C N Y D T L M G B I F
    length: int | None = None
    key: bool = False


def check_name(name: str, what: str = "表名") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise Invalid(f"{what}“{name}”不合法：只能用小写字母开头的小写字母、数字和下划线（至多 63 个字符）",
                      f"Invalid name '{name}': lower-case letters, digits and underscores, starting with a letter "
                      "(at most 63 characters)", field="name")
    return name


def check_columns(columns: Sequence[Column]) -> list[Column]:
    cols = list(columns)
    if not cols:
        raise Invalid("资源数据表至少要有一列", "A resource table needs at least one column", field="columns")
    seen: set[str] = set()
    for c in cols:
        check_name(c.name, "列名")
        if c.type not in ARROW_TYPES:
            raise Invalid(f"列 {c.name}（{c.label}）的类型“{c.type}”未知，应为 C N Y D T L M G B I F 之一",
                          f"Column {c.name} ({c.label}): unknown type '{c.type}' (one of C N Y D T L M G B I F)",
                          field=c.name)
        if c.name in seen:
            raise Invalid(f"列名 {c.name} 重复", f"Duplicate column name {c.name}", field=c.name)
        seen.add(c.name)
    return cols


def q(name: str) -> str:
    return f'"{name}"'


def key_names(columns: Sequence[Column]) -> list[str]:
    return [c.name for c in columns if c.key]


def arrow_schema(columns: Sequence[Column], labels: bool = True) -> pa.Schema:
    """The Arrow schema of a table's columns, with each label as field metadata ``label``."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], metadata={"label": c.label} if labels else None)
                      for c in columns])


# Arrow batch -> what the database takes ------------------------------------------------------

def typed_column(batch: pa.RecordBatch, col: Column) -> pa.Array:
    """The batch's column ``col.name`` cast to the column's Arrow type; Invalid when it cannot be."""
    idx = batch.schema.get_field_index(col.name)
    if idx < 0:
        raise Invalid(f"写入的数据缺少列 {col.name}（{col.label}）", f"The data lacks column {col.name} ({col.label})",
                      field=col.name)
    arr = batch.column(idx)
    want = ARROW_TYPES[col.type]
    if arr.type == want:
        return arr
    try:
        return arr.cast(want)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Invalid(f"列 {col.name}（{col.label}）的值不能转换为类型 {col.type}：{exc}",
                      f"Column {col.name} ({col.label}): values cannot be converted to type {col.type}: {exc}",
                      field=col.name) from exc


def sqlite_column(arr: pa.Array, col: Column) -> list:
    """Python values as SQLite stores them: dates, timestamps and decimals as fixed-format text."""
    if col.type in ("D", "T", "Y"):
        arr = arr.cast(pa.large_string())
    return arr.to_pylist()


def sqlite_arrow(batch: pa.RecordBatch, col: Column) -> pa.Array:
    """The column as the Arrow array the ADBC SQLite driver binds: dates, timestamps and decimals as the
    same fixed-format text :func:`sqlite_column` gives."""
    arr = typed_column(batch, col)
    return arr.cast(pa.large_string()) if col.type in ("D", "T", "Y") else arr


def hex_bytea(arr: pa.Array) -> pa.Array:
    """Binary values as PostgreSQL bytea hex text (``\\x0a1b``), vectorised (Polars hex encoding)."""
    hexed = pl.from_arrow(arr.cast(pa.large_binary())).bin.encode("hex").to_arrow().cast(pa.large_string())
    return pc.binary_join_element_wise(pa.scalar("\\x", pa.large_string()), hexed, pa.scalar("", pa.large_string()))


def pg_csv(batch: pa.RecordBatch, columns: Sequence[Column]) -> bytes:
    arrays = []
    for c in columns:
        arr = typed_column(batch, c)
        arrays.append(hex_bytea(arr) if c.type == "G" else arr)
    out = io.BytesIO()
    pacsv.write_csv(pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns]), out,
                    pacsv.WriteOptions(include_header=False))
    return out.getvalue()


# Python values <-> database values ---------------------------------------------------------------

def _bad_value(col: Column, value: object) -> Invalid:
    return Invalid(f"列 {col.name}（{col.label}）的值“{value}”不是类型 {col.type} 的合法值",
                   f"Column {col.name} ({col.label}): '{value}' is not a valid value of type {col.type}",
                   field=col.name)


def to_python(col: Column, value: object) -> object:
    """A filter or key value (Python or text, as from a query string) as the column's Python type."""
    if value is None:
        return None
    t = col.type
    try:
        if t in ("C", "M"):
            return str(value)
        if t in ("N", "B", "F"):
            return float(value)
        if t == "I":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if t == "Y":
            return Decimal(str(value)).quantize(CENT)
        if t == "D":
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if t == "T":
            if isinstance(value, datetime):
                return value.replace(tzinfo=None)
            if isinstance(value, date):
                return datetime(value.year, value.month, value.day)
            return datetime.fromisoformat(str(value)).replace(tzinfo=None)
        if t == "L":
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "t", "yes", "y", "是"):
                    return True
                if low in ("0", "false", "f", "no", "n", "否"):
                    return False
                raise ValueError(value)
            return bool(value)
        if t == "G":
            return bytes(value) if not isinstance(value, str) else value.encode()
    except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
        raise _bad_value(col, value) from exc
    raise _bad_value(col, value)


def to_db(dialect: str, col: Column, value: object) -> object:
    v = to_python(col, value)
    if dialect != "sqlite" or v is None:
        return v
    if col.type == "D":
        return v.isoformat()  # type: ignore[union-attr]
    if col.type == "T":
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")  # type: ignore[union-attr]
    if col.type == "Y":
        return f"{v:.2f}"
    return v


def from_db(dialect: str, col: Column, value: object) -> object:
    if value is None or dialect != "sqlite":
        return value
    t = col.type
    if t == "D":
        return date.fromisoformat(value)  # type: ignore[arg-type]
    if t == "T":
        return datetime.fromisoformat(value)  # type: ignore[arg-type]
    if t == "Y":
        return Decimal(value)  # type: ignore[arg-type]
    if t == "L":
        return bool(value)
    return value


def arrow_from_db(dialect: str, col: Column, values: Sequence[object]) -> pa.Array:
    want = ARROW_TYPES[col.type]
    if dialect == "sqlite":
        if col.type in ("D", "T", "Y"):
            return pa.array(values, pa.large_string()).cast(want)
        if col.type == "L":
            return pa.array(values, pa.int64()).cast(want)
    return pa.array(values, want)


# Engines ------------------------------------------------------------------------------------------

def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA mmap_size=1073741824")
    cur.close()


def store_engine(url: str) -> Engine:
    """The store's own engine. SQLite: driver autocommit, so a read never takes the write lock."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return make_engine(url)


def sqlite_file_engine(path: Path) -> Engine:
    """Reads and small writes on an existing table file (never creates one: ``mode=rw``)."""
    uri = f"file:{quote(str(path))}?mode=rw"
    # pooled per table file: keep few idle connections (each holds the file, its -wal and -shm open)
    engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=2, max_overflow=8,
                           creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None))
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def db_error(exc: BaseException, name: str, columns: Sequence[Column]) -> Invalid:
    """A database refusal of loaded values (NOT NULL key, bad text) as a readable Invalid."""
    orig = getattr(exc, "orig", exc)
    msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    field = None
    for c in columns:
        if re.search(rf'\b{re.escape(c.name)}\b', str(orig)):
            field = c.name
            break
    label = next((f"{c.name}（{c.label}）" for c in columns if c.name == field), "")
    return Invalid(f"写入资源数据表 {name} 失败{('：列 ' + label) if label else ''}：{msg}",
                   f"Writing resource table {name} failed{(' at column ' + field) if field else ''}: {msg}",
                   field=field)


#: errors of the database drivers that mean "these values are not acceptable"
DATA_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, psycopg.DataError,
               psycopg.IntegrityError, DBAPIError, adbc_driver_manager.IntegrityError,
               adbc_driver_manager.DataError, adbc_driver_manager.ProgrammingError,
               adbc_driver_manager.InternalError)  # the ADBC SQLite driver reports constraint failures so


def iter_chunks(batches: Iterable[pa.RecordBatch | pa.Table], rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``rows`` rows (tables are split into their batches)."""
    for b in batches:
        parts = b.to_batches(max_chunksize=rows) if isinstance(b, pa.Table) else [b]
        for part in parts:
            for start in range(0, part.num_rows, rows):
                yield part.slice(start, rows)

"""The department database (前置库) side of a scheduled pull — R-AGG-2.

URLs are checked and completed with our drivers (psycopg, pymysql, pysqlite); sessions are opened
read-only (PostgreSQL ``default_transaction_read_only``, MySQL ``SET SESSION TRANSACTION READ ONLY``,
SQLite ``PRAGMA query_only``) with a connect timeout; a table or a single SELECT is always run wrapped as
``SELECT * FROM (…) AS _src`` (only a query expression can stand there) and streamed through a
server-side cursor into Parquet, every value as text (dates ISO), columns named by data item.
Passwords never reach a message: driver errors are scrubbed and URLs are rendered with *** only.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from gongshu.config import get_settings
from gongshu.errors import Invalid
from gongshu.store import registry

#: SQLAlchemy backend → the driver used when the URL names none
DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "sqlite": "pysqlite"}
CONNECT_TIMEOUT = 10
STREAM_ROWS = 50_000
#: a table name part (quoted when used)
NAME = re.compile(r"^[\w$\-]+$")


class SourceError(Exception):
    """Reading the department database failed; the messages are scrubbed of the password."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def scrub(message: str, url: URL | None) -> str:
    """A driver message with the password (plain or URL-encoded) replaced by ***, one paragraph."""
    pw = url.password if url is not None else None
    for secret in {str(pw), quote_plus(str(pw))} if pw else ():
        message = message.replace(secret, "***")
    return " ".join(message.split())[:300]


def db_error(exc: Exception, url: URL | None) -> str:
    return scrub(str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig is not None else str(exc), url)


def parse_url(url: str, *, platform_url: URL | None = None) -> URL:
    """Check a department URL and fill in our driver; never echoes the URL (it holds a password)."""
    try:
        u = make_url((url or "").strip())
    except (ArgumentError, ValueError):
        raise Invalid("数据库地址无法解析，应形如 postgresql://用户:密码@主机:5432/库名",
                      "The database URL cannot be parsed; expected e.g. postgresql://user:password@host:5432/db",
                      field="url") from None
    backend = u.get_backend_name()
    if backend not in DRIVERS:
        raise Invalid(f"不支持的数据库类型“{backend}”，支持 PostgreSQL、MySQL/MariaDB、SQLite",
                      f"Unsupported database '{backend}': PostgreSQL, MySQL/MariaDB and SQLite are supported",
                      field="url")
    if "+" not in u.drivername:
        u = u.set(drivername=f"{backend}+{DRIVERS[backend]}")
    if backend in ("mysql", "mariadb") and "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    if backend == "sqlite":
        path = Path(u.database or "")
        if not u.database or u.database == ":memory:" or not path.is_absolute() or not path.is_file():
            raise Invalid("SQLite 前置库须为服务器上已存在的数据库文件（绝对路径）",
                          "A SQLite source must be an existing database file (absolute path)", field="url")
        if _is_platform_file(path, platform_url):
            raise Invalid("不能从平台自身的数据文件拉取", "The platform's own data files cannot be a source", field="url")
    elif platform_url is not None and (u.get_backend_name(), u.host, u.port, u.database) == (
            platform_url.get_backend_name(), platform_url.host, platform_url.port, platform_url.database):
        raise Invalid("不能从平台自身的数据库拉取", "The platform's own database cannot be a source", field="url")
    return u


def _is_platform_file(path: Path, platform_url: URL | None) -> bool:
    path = path.resolve()
    settings = get_settings()
    own = [Path(settings.data_dir).resolve(), registry.files_root().resolve()]
    if platform_url is not None and platform_url.get_backend_name() == "sqlite" and platform_url.database:
        own.append(Path(platform_url.database).resolve())
    return any(path == p or p in path.parents for p in own)


def _read_only_mysql(dbapi_conn, _record) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION READ ONLY")


def _read_only_sqlite(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA query_only = ON")


def department_engine(u: URL) -> Engine:
    """A pool-less, read-only engine with a connect timeout."""
    backend = u.get_backend_name()
    if backend == "postgresql":
        args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "options": "-c default_transaction_read_only=on"}
    elif backend == "sqlite":
        args = {"timeout": CONNECT_TIMEOUT}
    else:
        args = {"connect_timeout": CONNECT_TIMEOUT}
    eng = create_engine(u, poolclass=NullPool, connect_args=args)
    if backend in ("mysql", "mariadb"):
        event.listen(eng, "connect", _read_only_mysql)
    elif backend == "sqlite":
        event.listen(eng, "connect", _read_only_sqlite)
    return eng


def check_query(query: str) -> str:
    """A single SELECT (or WITH … SELECT): no ';', starts with SELECT or WITH."""
    q = (query or "").strip()
    if ";" in q:
        raise Invalid("查询语句只能是一条 SELECT，不能含分号（;）", "The query must be a single SELECT without ';'",
                      field="query")
    if not re.match(r"(?is)^(select|with)\b", q):
        raise Invalid("查询语句须以 SELECT 或 WITH 开头", "The query must start with SELECT or WITH", field="query")
    return q


def source_sql(eng: Engine, table_name: str, query: str) -> str:
    if query:
        return f"SELECT * FROM ({query}) AS _pull"  # noqa: S608 - the department's checked SELECT
    prep = eng.dialect.identifier_preparer
    return "SELECT * FROM " + ".".join(prep.quote(p) for p in table_name.split("."))  # noqa: S608 - quoted names


def pull_sql(eng: Engine, base: str, watermark: str, incremental: bool, last: Any) -> str:
    sql = f"SELECT * FROM ({base}) AS _src"  # noqa: S608 - base is ours, built from checked input
    if incremental:
        col = "_src." + eng.dialect.identifier_preparer.quote(watermark)
        # >=, not >: rows committed late with the last watermark value are not missed; the rows already
        # loaded at that value are upserted again by key, which changes nothing
        sql += (f" WHERE {col} >= :last" if last is not None else "") + f" ORDER BY {col}"
    return sql


def column_map(keys: list[str], labels: list[str]) -> tuple[dict[str, str], list[str]]:
    """Data item → source column (exact, else case-insensitive) and the items with no column."""
    lower = {k.lower(): k for k in keys}
    found = {lb: (lb if lb in keys else lower.get(lb.lower())) for lb in labels}
    return {lb: k for lb, k in found.items() if k}, [lb for lb, k in found.items() if not k]


def probe(u: URL, *, table_name: str, query: str) -> list[str]:
    """Connect and return the source's column names; Invalid (zh+en, with field) on any failure."""
    eng = department_engine(u)
    try:
        try:
            conn = eng.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise Invalid(f"无法连接前置库（{u.render_as_string(hide_password=True)}）：{db_error(exc, u)}",
                          f"Cannot connect to the department database: {db_error(exc, u)}", field="url") from None
        with conn:
            try:
                sql = pull_sql(eng, source_sql(eng, table_name, query), "", False, None) + " WHERE 1=0"
                return list(conn.execute(text(sql)).keys())
            except (SQLAlchemyError, OSError) as exc:
                what = ("query", "查询语句", "query") if query else ("table_name", "表", "table")
                raise Invalid(f"前置库中的{what[1]}无法读取：{db_error(exc, u)}",
                              f"The {what[2]} cannot be read from the department database: {db_error(exc, u)}",
                              field=what[0]) from None
    finally:
        eng.dispose()


# Values ------------------------------------------------------------------------------------

def _text_of(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    return str(v)


def as_text(values: tuple | list, item_type: str) -> pa.Array:
    """One column of fetched values as text, vectorised by Arrow (Python per value only for mixed types)."""
    try:
        arr = pa.array(values)
        if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
            arr = pc.local_timestamp(arr)
        if item_type == "D" and pa.types.is_timestamp(arr.type):
            day = pc.cast(arr, pa.date32())
            if pc.all(pc.equal(pc.cast(day, arr.type), arr)).as_py() is not False:
                arr = day
        if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
            raise pa.ArrowInvalid("binary as hex")
        return pc.cast(arr, pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([_text_of(v) for v in values], pa.large_string())


def encode_watermark(v: Any) -> str:
    """A watermark value with its type, so the next run binds it typed: i:/f:/n:/d:/t:/s:."""
    if isinstance(v, datetime):
        return "t:" + v.isoformat(sep=" ")
    if isinstance(v, date):
        return "d:" + v.isoformat()
    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        return "s:" + str(v)
    return ("i:" if isinstance(v, int) else "f:" if isinstance(v, float) else "n:") + str(v)


def decode_watermark(s: str | None) -> Any:
    if s is None:
        return None
    tag, _, raw = s.partition(":")
    return {"i": int, "f": float, "n": Decimal, "d": date.fromisoformat, "t": datetime.fromisoformat}.get(
        tag, str)(raw)


def watermark_display(s: str | None) -> str | None:
    return None if s is None else s.partition(":")[2]


def extract(u: URL, *, table_name: str, query: str, items: list[tuple[str, str]], watermark_column: str,
            incremental: bool, last_watermark: str | None, out: Path) -> tuple[int, Any]:
    """Stream the source into ``out`` (Parquet, text columns named by data item, in ``items`` order);
    returns the rows written and, when incremental, the greatest watermark value seen."""
    eng = department_engine(u)
    try:
        sql = pull_sql(eng, source_sql(eng, table_name, query), watermark_column, incremental,
                        decode_watermark(last_watermark))
        params = {"last": decode_watermark(last_watermark)} if incremental and last_watermark else {}
        with eng.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(text(sql), params)
            keys = list(result.keys())
            mapping, missing = column_map(keys, [name for name, _ in items])
            if missing or (incremental and watermark_column not in keys):
                gone = missing or [watermark_column]
                raise SourceError(f"前置库的列已变化，缺少：{'、'.join(gone)}", f"Source columns changed; missing: "
                                  f"{', '.join(gone)}")
            idx = {k: i for i, k in enumerate(keys)}
            wm = idx.get(watermark_column) if incremental else None
            schema = pa.schema([(name, pa.large_string()) for name, _ in items])
            rows, last = 0, None
            with pq.ParquetWriter(out, schema, compression="zstd") as writer:
                for part in result.partitions(STREAM_ROWS):  # size given: without it Core fetches all
                    cols = list(zip(*part, strict=True))
                    writer.write_batch(pa.record_batch(
                        [as_text(cols[idx[mapping[name]]], t) for name, t in items], schema=schema))
                    rows += len(part)
                    if wm is not None:
                        last = next((v for v in reversed(cols[wm]) if v is not None), last)
        return rows, last
    except (SQLAlchemyError, OSError) as exc:
        raise SourceError(f"读取前置库失败：{db_error(exc, u)}", f"Reading the department database failed: "
                          f"{db_error(exc, u)}") from None
    finally:
        eng.dispose()

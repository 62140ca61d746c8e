"""The resource data store: public API (R-AGG-6).

:class:`ResourceStore` keeps one typed, indexed SQL table per accepted version, named by the caller
(e.g. ``rd_12_3``); the current version is chosen by metadata kept elsewhere (rollback = re-point).
The Parquet snapshot helpers live in :mod:`gongshu.store.snapshots` and are re-exported here.

A load is ``write_batches(..., create=True, index=True)``: the table is created, filled, given its
unique key index and statistics in one go (on SQLite in a private file renamed into place at the end,
see :mod:`gongshu.store.sqlite_dir`; on PostgreSQL in one transaction), so a crash leaves no table at
all. The step-by-step form ``create_table`` → ``write_batches`` → ``finish_table`` also works; a crash
between its calls leaves an empty or unindexed table that no version points to, which
``cleanup(keep=...)`` at the next start drops, with the ``.part`` files of crashed SQLite writers.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import adbc_driver_postgresql.dbapi as adbc_pg
import numpy as np
import psycopg
import pyarrow as pa
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.kit.hashing import sm3_hex
from gongshu.store import sqlite_dir
from gongshu.store.snapshots import (
    DiffCounts,
    SnapshotWriter,
    copy_sm3,
    diff_rows,
    diff_snapshots,
    file_sm3,
    merge_snapshot,
    sql_ident,
    sql_literal,
)
from gongshu.store.tables import (
    ARROW_TYPES,
    DATA_ERRORS,
    PG_TYPES,
    SQLITE_CHUNK,
    SQLITE_TYPES,
    Column,
    arrow_from_db,
    arrow_schema,
    check_columns,
    check_name,
    db_error,
    from_db,
    iter_chunks,
    key_names,
    pg_csv,
    q,
    sqlite_column,
    store_engine,
    to_db,
    typed_column,
)

__all__ = ["ARROW_TYPES", "Column", "DiffCounts", "ResourceStore", "SnapshotWriter", "arrow_schema", "copy_sm3",
           "diff_rows", "diff_snapshots", "file_sm3", "merge_snapshot", "sql_ident", "sql_literal"]

MAX_PAGE = 10_000
PG_COPY_ROWS = 50_000
#: rows per binary COPY of a new table (ADBC; one transaction for the whole table all the same)
PG_INGEST_ROWS = 131_072


class ResourceStore:
    """Typed tables of resource data in a SQLite file (WAL) or a PostgreSQL schema."""

    def __init__(self, url: str, *, schema: str = "resdata") -> None:
        """``url``: ``sqlite:///<directory>`` (one file per table in it) or a PostgreSQL URL (tables in
        ``schema``)."""
        self.url = url
        self.schema = check_name(schema, "模式名")
        self.dialect: str = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._local = threading.local()  # the connections of lookup_key(), per thread
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._held_lock = threading.Lock()
        self._key_plans: dict[tuple, tuple[str, list[Column], list[Column]]] = {}
        self._key_paths: dict[str, str] = {}
        if self.dialect == "sqlite":
            path = url.split("///", 1)[-1]
            if not path or path == ":memory:":
                raise Invalid("资源数据存储需要一个目录", "The resource store needs a directory", field="url")
            self.root = Path(path).resolve()
            self.root.mkdir(parents=True, exist_ok=True)
            self._files = sqlite_dir.Engines(self.root)
            return
        self.engine: Engine = store_engine(url)
        self._read = self.engine
        if self.dialect == "postgresql":
            # reads: autocommit (no BEGIN/ROLLBACK round trips) and no pre-ping, for key-lookup latency
            self._read = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=10)
            with self.engine.begin() as conn:
                if not conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).scalar():
                    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}"))

    def close(self) -> None:
        self._release()
        if self.dialect == "sqlite":
            self._files.close()
            return
        if self._read is not self.engine:
            self._read.dispose()
        self.engine.dispose()

    # names and DDL ------------------------------------------------------------------------------

    def _t(self, name: str) -> str:
        check_name(name)
        return q(name) if self.dialect == "sqlite" else f"{q(self.schema)}.{q(name)}"

    def _ddl(self, name: str, columns: Sequence[Column]) -> str:
        types = SQLITE_TYPES if self.dialect == "sqlite" else PG_TYPES
        rid = "_rid INTEGER PRIMARY KEY" if self.dialect == "sqlite" else "_rid bigint GENERATED BY DEFAULT AS IDENTITY"
        cols = [f"{q(c.name)} {types[c.type]}{' NOT NULL' if c.key else ''}" for c in columns]
        return f"CREATE TABLE {self._t(name)} ({rid}, {', '.join(cols)})"

    def has_table(self, name: str) -> bool:
        if self.dialect == "sqlite":
            return sqlite_dir.table_file(self.root, check_name(name)).exists()
        return check_name(name) in self.tables(prefix="")

    def _writer(self, name: str) -> Engine:
        """The engine that writes ``name`` (SQLite: the table's own file)."""
        return self._files.get(name) if self.dialect == "sqlite" else self.engine

    def _reader(self, name: str) -> Engine:
        """The engine that reads ``name`` (autocommit; SQLite: the table's own file)."""
        return self._files.get(check_name(name)) if self.dialect == "sqlite" else self._read

    @contextmanager
    def _reading(self, name: str) -> Iterator[Connection]:
        """A read connection for table ``name``; a missing table is NotFound on both databases."""
        with self._reader(name).connect() as conn:
            try:
                yield conn
            except ProgrammingError as exc:
                if isinstance(exc.orig, psycopg.errors.UndefinedTable):
                    raise NotFound(f"资源数据表 {name} 不存在", f"Resource table {name} does not exist",
                                   field="name") from None
                raise

    def engine_for(self, name: str) -> Engine:
        """The engine holding table ``name`` (for maintenance and tests)."""
        return self._writer(check_name(name))

    def _require(self, name: str, *, exists: bool) -> None:
        present = self.has_table(name)
        if exists and not present:
            raise NotFound(f"资源数据表 {name} 不存在", f"Resource table {name} does not exist", field="name")
        if not exists and present:
            raise Conflict(f"资源数据表 {name} 已存在", f"Resource table {name} already exists", field="name")

    def create_table(self, name: str, columns: Sequence[Column]) -> None:
        """Create an empty table (committed at once); fails with Conflict if it exists."""
        cols = check_columns(columns)
        self._require(name, exists=False)
        if self.dialect == "sqlite":
            sqlite_dir.write_new(self.root, name, self._ddl(name, cols), cols, [], index_sql=None, duplicates_sql="")
            return
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._ddl(name, cols))

    # the bulk path -------------------------------------------------------------------------------

    def write_batches(self, name: str, columns: Sequence[Column], batches: Iterable[pa.RecordBatch], *,
                      create: bool = False, index: bool = False, analyze: bool = True,
                      exclude: Callable[[], Sequence[int]] | None = None) -> int:
        """Append all ``batches`` (columns by SQL name; extra columns ignored) in ONE transaction.

        With ``create=True`` the table is created in the same go: on SQLite a new file written by the
        ADBC driver from the Arrow buffers and renamed into place at the end; on PostgreSQL one
        transaction of the ADBC driver's binary COPY from the Arrow buffers. Without it, rows are appended to the
        existing table (SQLite: executemany inside one ``BEGIN IMMEDIATE``). ``index=True`` (with
        ``create``) also builds the unique key index and statistics before anything is visible, as
        :meth:`finish_table` would; ``analyze=False`` leaves the statistics to a later :meth:`analyze` (a load
        queues it, so its table serves as soon as it is indexed). ``exclude`` (with ``create``) is called once the batches are exhausted:
        the rows at those 1-based positions of the stream (their ``_rid``) are left out of the table
        (e.g. duplicate keys found only after the whole file was read). Returns the rows written. Values the database refuses and
        duplicate keys raise Invalid, and nothing of the call is kept.
        """
        cols = check_columns(columns)
        self._require(name, exists=not create)
        if self.dialect == "sqlite":
            if create:
                return self._create_sqlite(name, cols, batches, index, exclude, analyze)
            return self._append_sqlite(name, cols, batches)
        if create:
            return self._create_pg(name, cols, batches, index, exclude, analyze)
        return self._write_pg(name, cols, batches)

    def _create_sqlite(self, name: str, cols: list[Column], batches, index: bool, exclude, analyze: bool) -> int:
        keys = key_names(cols)
        try:
            return sqlite_dir.write_new(self.root, name, self._ddl(name, cols), cols, batches,
                                        index_sql=self._index_sql(name, cols) if index and keys else None,
                                        duplicates_sql=self._duplicates_sql(name, cols), exclude=exclude,
                                        analyze=analyze)
        except sqlite_dir.DuplicateKeys as exc:
            raise self._duplicates_error(name, cols, exc.rows) from None
        except DATA_ERRORS as exc:
            raise db_error(exc, name, cols) from exc

    def _append_sqlite(self, name: str, cols: list[Column], batches) -> int:
        raw = self._writer(name).raw_connection()
        con: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        sql = (f"INSERT INTO {self._t(name)} ({', '.join(q(c.name) for c in cols)}) "  # noqa: S608 - names checked
               f"VALUES ({', '.join('?' for _ in cols)})")
        n = 0
        try:
            con.execute("BEGIN IMMEDIATE")
            for chunk in iter_chunks(batches, SQLITE_CHUNK):
                values = [sqlite_column(typed_column(chunk, c), c) for c in cols]
                con.executemany(sql, zip(*values, strict=True))
                n += chunk.num_rows
            con.execute("COMMIT")
        except DATA_ERRORS as exc:
            _rollback_sqlite(con)
            raise db_error(exc, name, cols) from exc
        except BaseException:
            _rollback_sqlite(con)
            raise
        finally:
            raw.close()
        return n

    def _create_pg(self, name: str, cols: list[Column], batches, index: bool, exclude, analyze: bool) -> int:
        """A new table in one transaction of the ADBC PostgreSQL driver: the DDL, the rows sent from the Arrow
        buffers with binary COPY (no text formatting on our side, no text parsing on the server's), the
        excluded rows deleted, the unique key index; then statistics outside the transaction."""
        con = adbc_pg.connect(self._libpq_url())  # not autocommit: everything below commits together
        try:
            with con.cursor() as cur:  # closed before the connection, whatever happens
                n = self._fill_pg(cur, name, cols, batches, exclude)
                if index:
                    # a failed statement would leave the driver's transaction unusable (no savepoints there):
                    # the index is built in a block that swallows a unique violation, then looked for
                    cur.execute(f"DO $$ BEGIN {self._index_sql(name, cols)}; "
                                "EXCEPTION WHEN unique_violation THEN NULL; END $$")
                    cur.execute("SELECT to_regclass($1) IS NULL", (f"{q(self.schema)}.{q(_index_name(name))}",))
                    if cur.fetchone()[0]:
                        cur.execute(self._duplicates_sql(name, cols))
                        raise self._duplicates_error(name, cols, cur.fetchall())
            con.commit()
        except DATA_ERRORS as exc:
            con.rollback()
            raise db_error(exc, name, cols) from exc
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()
        if index and analyze:
            self.analyze(name)
        return n

    def _fill_pg(self, cur, name: str, cols: list[Column], batches, exclude) -> int:
        """The DDL, the rows (binary COPY per chunk), the rows excluded after the stream deleted; the rows kept."""
        cur.execute(self._ddl(name, cols))
        n = 0
        names = ["_rid", *(c.name for c in cols)]
        for chunk in iter_chunks(batches, PG_INGEST_ROWS):
            # _rid numbered here (the stream's 1-based position), not by the identity's nextval per row
            rid = pa.array(np.arange(n + 1, n + 1 + chunk.num_rows, dtype=np.int64))
            arrays = [rid, *(typed_column(chunk, c) for c in cols)]
            cur.adbc_ingest(name, pa.RecordBatch.from_arrays(arrays, names=names), mode="append",
                            db_schema_name=self.schema)
            n += chunk.num_rows
        if n:  # rows appended later continue the numbering
            cur.execute("SELECT setval(pg_get_serial_sequence($1, '_rid'), $2)", (self._t(name), n))
        gone = sorted({int(r) for r in exclude()}) if exclude is not None else []
        if gone:
            cur.execute(f"DELETE FROM {self._t(name)} WHERE _rid = ANY($1::bigint[])",  # noqa: S608 - names checked
                        ("{" + ",".join(map(str, gone)) + "}",))
            n -= len(gone)
        return n

    def analyze(self, name: str) -> bool:
        """Gather the planner's statistics of table ``name`` (outside any load's transaction: cheap to repeat);
        False when the table is gone (e.g. dropped by retention before a queued call ran)."""
        if not self.has_table(name):
            return False
        try:
            with self._writer(name).connect() as conn:
                conn.exec_driver_sql(f"ANALYZE {self._t(name)}")
                conn.commit()
        except (NotFound, ProgrammingError):  # dropped meanwhile
            return False
        return True

    def _libpq_url(self) -> str:
        """The store's PostgreSQL URL as libpq takes it (the ADBC driver's)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def _write_pg(self, name: str, cols: list[Column], batches) -> int:
        """Rows appended to an existing table: one transaction of COPY FROM STDIN (CSV written by pyarrow)."""
        raw = self.engine.raw_connection()
        pg = raw.driver_connection
        copy = f"COPY {self._t(name)} ({', '.join(q(c.name) for c in cols)}) FROM STDIN (FORMAT csv)"
        n = 0
        try:
            with pg.cursor() as cur, cur.copy(copy) as cp:
                for chunk in iter_chunks(batches, PG_COPY_ROWS):
                    cp.write(pg_csv(chunk, cols))
                    n += chunk.num_rows
            pg.commit()
        except DATA_ERRORS as exc:
            pg.rollback()
            raise db_error(exc, name, cols) from exc
        except BaseException:
            pg.rollback()
            raise
        finally:
            raw.close()
        return n

    def finish_table(self, name: str, columns: Sequence[Column]) -> None:
        """Unique index on the key columns (on ``_rid`` on PostgreSQL when there is no key), then ANALYZE.

        Duplicate key values raise Invalid naming the key and giving up to 10 duplicated values.
        """
        cols = check_columns(columns)
        self._require(name, exists=True)
        try:
            with self._writer(name).begin() as conn:
                if self._index_keys(cols):
                    conn.exec_driver_sql(self._index_sql(name, cols))
                conn.exec_driver_sql(f"ANALYZE {self._t(name)}")
        except IntegrityError as exc:
            with self._reader(name).connect() as conn:
                found = conn.execute(text(self._duplicates_sql(name, cols))).all()
            raise self._duplicates_error(name, cols, found) from exc

    def _index_keys(self, cols: Sequence[Column]) -> list[str]:
        return key_names(cols) or (["_rid"] if self.dialect == "postgresql" else [])

    def _index_sql(self, name: str, cols: Sequence[Column]) -> str:
        return (f"CREATE UNIQUE INDEX IF NOT EXISTS {q(_index_name(name))} "
                f"ON {self._t(name)} ({', '.join(q(k) for k in self._index_keys(cols))})")

    def _duplicates_sql(self, name: str, cols: Sequence[Column]) -> str:
        keys = ", ".join(q(c.name) for c in cols if c.key)
        if not keys:
            return ""
        return (f"SELECT {keys}, count(*) AS n FROM {self._t(name)} GROUP BY {keys} "  # noqa: S608 - names checked
                "HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 10")

    def _duplicates_error(self, name: str, cols: list[Column], found: Sequence[Sequence]) -> Invalid:
        key_cols = [c for c in cols if c.key]
        details = [{"key": {c.name: _jsonable(from_db(self.dialect, c, r[i])) for i, c in enumerate(key_cols)},
                    "count": r[-1]} for r in found]
        label = "、".join(f"{c.label}（{c.name}）" for c in key_cols)
        return Invalid(f"资源数据表 {name} 的主键 {label} 有重复值，不能建立唯一索引",
                       f"Resource table {name}: the key {', '.join(c.name for c in key_cols)} has duplicate values",
                       field=",".join(c.name for c in key_cols), details=details)

    def copy_table(self, src: str, dst: str) -> int:
        """INSERT INTO dst SELECT … FROM src over dst's columns, in one transaction; returns rows copied."""
        want = self._columns_of(dst)
        have = self._columns_of(src)
        missing = [c for c in want if c not in have]
        if missing:
            raise Invalid(f"资源数据表 {src} 缺少列 {', '.join(missing)}，不能复制到 {dst}",
                          f"Resource table {src} lacks columns {', '.join(missing)}; cannot copy into {dst}",
                          field="src")
        names = ", ".join(q(c) for c in want)
        source = self._t(src) if self.dialect == "postgresql" else f"src.{q(src)}"
        sql = f"INSERT INTO {self._t(dst)} ({names}) SELECT {names} FROM {source} ORDER BY _rid"  # noqa: S608
        if self.dialect == "sqlite":
            raw = self._writer(dst).raw_connection()
            con = raw.driver_connection
            try:
                con.execute("ATTACH DATABASE ? AS src", (f"file:{sqlite_dir.table_file(self.root, src)}?mode=ro",))
                con.execute("BEGIN IMMEDIATE")
                n = con.execute(sql).rowcount
                con.execute("COMMIT")
            except BaseException:
                _rollback_sqlite(con)
                raise
            finally:
                if not con.in_transaction:
                    con.execute("DETACH DATABASE src")
                raw.close()
            return n
        with self.engine.begin() as conn:
            return conn.exec_driver_sql(sql).rowcount

    def _columns_of(self, name: str) -> list[str]:
        self._require(name, exists=True)
        with self._reader(name).connect() as conn:
            if self.dialect == "sqlite":
                names = [r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({q(name)})")]
            else:
                names = list(conn.execute(text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t "
                    "ORDER BY ordinal_position"), {"s": self.schema, "t": name}).scalars())
        return [n for n in names if n != "_rid"]

    # housekeeping ---------------------------------------------------------------------------------

    def drop_table(self, name: str) -> None:
        if self.dialect == "sqlite":
            self._release(check_name(name))  # so the dropped file's space is given back now
            self._files.forget(check_name(name))
            sqlite_dir.remove_file(sqlite_dir.table_file(self.root, name))
            return
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._t(name)}")

    def tables(self, prefix: str = "rd_") -> list[str]:
        if self.dialect == "sqlite":
            return [n for n in sqlite_dir.table_names(self.root) if n.startswith(prefix)]
        with self._read.connect() as conn:
            if self.dialect == "sqlite":
                names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
            else:
                names = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                                     {"s": self.schema}).scalars()
            return sorted(n for n in names if n.startswith(prefix))

    def cleanup(self, *, keep: set[str], prefix: str = "rd_") -> list[str]:
        """Drop every ``prefix`` table not in ``keep`` (orphans of crashed or discarded loads).

        Call it when no load is running, or put the tables of running loads in ``keep``: a table
        still locked by a live load is skipped (lock timeout 5 s) and not listed as dropped. On SQLite
        the ``.part`` files of writers that are gone are deleted too (they never were tables).
        """
        dropped = []
        if self.dialect == "sqlite":
            for part in sqlite_dir.orphan_parts(self.root):
                sqlite_dir.remove_file(part)
            for name in self.tables(prefix):
                if name not in keep:
                    self.drop_table(name)
                    dropped.append(name)
            return dropped
        for name in self.tables(prefix):
            if name in keep:
                continue
            try:
                with self.engine.begin() as conn:
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._t(name)}")
            except OperationalError:
                continue
            dropped.append(name)
        return dropped

    # serving --------------------------------------------------------------------------------------

    def count(self, name: str) -> int:
        with self._reading(name) as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {self._t(name)}").scalar() or 0)  # noqa: S608

    def _where(self, cols: Sequence[Column], values: Mapping[str, object], prefix: str) -> tuple[list[str], dict]:
        by_name = {c.name: c for c in cols}
        where, params = [], {}
        for i, (k, v) in enumerate(values.items()):
            col = by_name.get(k)
            if col is None:
                raise Invalid(f"没有名为 {k} 的列", f"No column named {k}", field=k)
            dv = to_db(self.dialect, col, v)
            if dv is None:
                where.append(f"{q(k)} IS NULL")
            else:
                where.append(f"{q(k)} = :{prefix}{i}")
                params[f"{prefix}{i}"] = dv
        return where, params

    def _rows(self, cols: Sequence[Column], rows) -> list[dict]:
        d = self.dialect
        return [{c.name: from_db(d, c, r[i]) for i, c in enumerate(cols)} for r in rows]

    def lookup(self, name: str, columns: Sequence[Column], key: Mapping[str, object], *,
               limit: int = 1000) -> list[dict]:
        """Rows whose columns equal ``key`` (normally the key columns: at most one row)."""
        cols = check_columns(columns)
        if not key:
            raise Invalid("按主键查询时至少要给出一个主键值", "A lookup needs at least one key value", field="key")
        where, params = self._where(cols, key, "k")
        sql = (f"SELECT {', '.join(q(c.name) for c in cols)} FROM {self._t(name)} "  # noqa: S608 - names checked
               f"WHERE {' AND '.join(where)} LIMIT {int(limit)}")
        with self._reading(name) as conn:
            return self._rows(cols, conn.execute(text(sql), params).all())

    # the key-lookup path of the sharing API: a connection per thread, statements prepared once -----------

    def lookup_key(self, name: str, columns: Sequence[Column], key: Mapping[str, object]) -> dict | None:
        """The row whose columns equal ``key`` (normally the key columns: at most one row), or None — what
        :meth:`lookup` with ``limit=1`` answers, for the serving path of key lookups: each thread keeps its
        own connection open (SQLite: to the table's file, reopened when the file was replaced and refused
        with NotFound when it is gone; PostgreSQL: an autocommit connection) and the statement is prepared
        once per connection (SQLite's statement cache, psycopg's ``prepare``)."""
        plan = self._key_plans.get((name, tuple(columns), tuple(key)))
        if plan is None:
            plan = self._key_plan(name, columns, key)
        sql, cols, by = plan
        params = tuple(to_db(self.dialect, c, key[c.name]) for c in by)
        if None in params:  # IS NULL: the general path (key columns are NOT NULL: no row)
            found = self.lookup(name, columns, key, limit=1)
            return found[0] if found else None
        row = self._fetch_sqlite(name, sql, params) if self.dialect == "sqlite" else self._fetch_pg(name, sql, params)
        if row is None:
            return None
        if self.dialect == "sqlite":
            return {c.name: from_db("sqlite", c, v) for c, v in zip(cols, row, strict=True)}
        return {c.name: v for c, v in zip(cols, row, strict=True)}

    def _key_plan(self, name: str, columns: Sequence[Column], key: Mapping[str, object]):
        cols = check_columns(columns)
        if not key:
            raise Invalid("按主键查询时至少要给出一个主键值", "A lookup needs at least one key value", field="key")
        by_name = {c.name: c for c in cols}
        missing = [k for k in key if k not in by_name]
        if missing:
            raise Invalid(f"没有名为 {missing[0]} 的列", f"No column named {missing[0]}", field=missing[0])
        by = [by_name[k] for k in key]
        mark = "?" if self.dialect == "sqlite" else "%s"
        sql = (f"SELECT {', '.join(q(c.name) for c in cols)} FROM {self._t(name)} "  # noqa: S608 - names checked
               f"WHERE {' AND '.join(f'{q(c.name)} = {mark}' for c in by)} LIMIT 1")
        plan = (sql, cols, by)
        if len(self._key_plans) > 256:
            self._key_plans.clear()
        self._key_plans[(name, tuple(columns), tuple(key))] = plan
        return plan

    def _fetch_sqlite(self, name: str, sql: str, params: tuple) -> tuple | None:
        path = self._key_paths.get(name)
        if path is None:
            path = str(sqlite_dir.table_file(self.root, check_name(name)))
            if len(self._key_paths) > 256:
                self._key_paths.clear()
            self._key_paths[name] = path
        for _ in range(2):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                raise NotFound(f"资源数据表 {name} 不存在", f"Resource table {name} does not exist",
                               field="name") from None
            ident = (st.st_dev, st.st_ino)
            held: OrderedDict[str, _Held] = self._local.__dict__.setdefault("sqlite", OrderedDict())
            h = held.get(name)
            if h is None or h.closed or h.ident != ident:
                h = self._hold_sqlite(held, name, path, ident)
            with h.lock:
                if not h.closed:
                    return h.con.execute(sql, params).fetchone()
        raise NotFound(f"资源数据表 {name} 不存在", f"Resource table {name} does not exist", field="name")

    def _hold_sqlite(self, held: OrderedDict[str, _Held], name: str, path: str, ident: tuple) -> _Held:
        old = held.pop(name, None)
        if old is not None:
            old.close()
        con = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, check_same_thread=False,
                              isolation_level=None)
        for pragma in ("busy_timeout=10000", "cache_size=-65536", "mmap_size=1073741824", "query_only=ON"):
            con.execute(f"PRAGMA {pragma}")
        h = held[name] = _Held(con, ident, name)
        with self._held_lock:
            self._held.add(h)
        while len(held) > HELD_PER_THREAD:
            held.popitem(last=False)[1].close()
        return h

    def _fetch_pg(self, name: str, sql: str, params: tuple) -> tuple | None:
        for attempt in range(2):
            h = self._local.__dict__.get("pg")
            if h is None or h.closed:
                conninfo = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
                h = self._local.pg = _Held(psycopg.connect(conninfo, autocommit=True), None, "")
                with self._held_lock:
                    self._held.add(h)
            with h.lock:
                try:
                    return h.con.execute(sql, params, prepare=True).fetchone()
                except psycopg.errors.UndefinedTable:
                    raise NotFound(f"资源数据表 {name} 不存在", f"Resource table {name} does not exist",
                                   field="name") from None
                except psycopg.OperationalError:  # the server went away: a new connection, once
                    h.con.close()
                    h.closed = True
                    if attempt:
                        raise
        return None

    def _release(self, name: str | None = None) -> None:
        """Close the lookup_key() connections of every thread (to table ``name`` only, if given)."""
        with self._held_lock:
            held = [h for h in self._held if name is None or h.name == name]
        for h in held:
            h.close()

    def lookup_many(self, name: str, columns: Sequence[Column], keys: Sequence[Sequence[object]]) -> pa.Table:
        """The rows whose key columns equal one of ``keys`` (value tuples in key-column order, at most
        MAX_PAGE), as an Arrow table typed per ARROW_TYPES, in one indexed statement: SQLite joins
        ``json_each`` of the keys, PostgreSQL ``= ANY`` of an array (``unnest`` of one array per column for a
        compound key). A key that is no value of the key columns' types matches nothing."""
        cols = check_columns(columns)
        key_cols = [c for c in cols if c.key]
        if not key_cols:
            raise Invalid("该表没有主键列，不能按主键批量查询", "The table has no key columns to look up by",
                          field="keys")
        if len(keys) > MAX_PAGE:
            raise Invalid(f"一次最多按 {MAX_PAGE} 个主键查询", f"At most {MAX_PAGE} keys per lookup", field="keys")
        wanted: dict[tuple, None] = {}
        for key in keys:
            if len(key) != len(key_cols):
                raise Invalid(f"主键应有 {len(key_cols)} 个值", f"A key has {len(key_cols)} values", field="keys")
            try:
                wanted[tuple(to_db(self.dialect, c, v) for c, v in zip(key_cols, key, strict=True))] = None
            except Invalid:
                continue
        schema = arrow_schema(cols)
        if not wanted:
            return schema.empty_table()
        select = ", ".join(f"t.{q(c.name)}" for c in cols)
        if self.dialect == "sqlite":
            on = " AND ".join(f"t.{q(c.name)} = json_extract(j.value, '$[{i}]')" for i, c in enumerate(key_cols))
            sql = f"SELECT {select} FROM json_each(:keys) j JOIN {self._t(name)} t ON {on}"  # noqa: S608 - names checked
            params: dict[str, object] = {"keys": json.dumps([list(k) for k in wanted], ensure_ascii=False)}
        elif len(key_cols) == 1:
            sql = f"SELECT {select} FROM {self._t(name)} t WHERE t.{q(key_cols[0].name)} = ANY(:k0)"  # noqa: S608
            params = {"k0": [k[0] for k in wanted]}
        else:
            names = ", ".join(f"k{i}" for i in range(len(key_cols)))
            on = " AND ".join(f"t.{q(c.name)} = u.k{i}" for i, c in enumerate(key_cols))
            sql = (f"SELECT {select} FROM unnest({', '.join(f':k{i}' for i in range(len(key_cols)))}) AS u({names}) "  # noqa: S608
                   f"JOIN {self._t(name)} t ON {on}")
            params = {f"k{i}": [k[i] for k in wanted] for i in range(len(key_cols))}
        with self._reading(name) as conn:
            found = conn.execute(text(sql), params).all()
        values = list(zip(*found, strict=True)) if found else [() for _ in cols]
        return pa.Table.from_arrays([arrow_from_db(self.dialect, c, v) for c, v in zip(cols, values, strict=True)],
                                    schema=schema)

    def query(self, name: str, columns: Sequence[Column], *, filters: Mapping[str, object] | None = None,
              after: Sequence[object] | None = None, limit: int = 100) -> tuple[list[dict], list | None]:
        """Equality ``filters`` on any columns, keyset pages ordered by the key columns (``_rid`` without key).

        Returns ``(rows, next_after)``; pass ``next_after`` back as ``after`` for the next page; it is
        None on the last page.
        """
        cols = check_columns(columns)
        if not 1 <= int(limit) <= MAX_PAGE:
            raise Invalid(f"每页行数应在 1 到 {MAX_PAGE} 之间", f"limit must be between 1 and {MAX_PAGE}", field="limit")
        keys = [c for c in cols if c.key]
        order = [c.name for c in keys] or ["_rid"]
        where, params = self._where(cols, filters or {}, "f")
        if after is not None:
            after = list(after)
            if len(after) != len(order):
                raise Invalid(f"翻页位置应有 {len(order)} 个值", f"'after' must have {len(order)} values", field="after")
            vals = [to_db(self.dialect, c, v) for c, v in zip(keys, after, strict=True)] if keys else [int(after[0])]
            if len(order) == 1:
                where.append(f"{q(order[0])} > :a0")
            else:
                where.append(f"({', '.join(q(o) for o in order)}) > ({', '.join(f':a{i}' for i in range(len(order)))})")
            params.update({f"a{i}": v for i, v in enumerate(vals)})
        sql = (f"SELECT {', '.join(q(c.name) for c in cols)}, _rid FROM {self._t(name)} "  # noqa: S608
               f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {', '.join(q(o) for o in order)} "
               f"LIMIT {int(limit) + 1}")
        with self._reading(name) as conn:
            found = conn.execute(text(sql), params).all()
        more = len(found) > limit
        found = found[:limit]
        rows = self._rows(cols, found)
        if not more or not found:
            return rows, None
        nxt = [rows[-1][k] for k in order] if keys else [found[-1][-1]]
        return rows, nxt

    def iter_batches(self, name: str, columns: Sequence[Column], batch_rows: int = 50_000) -> Iterator[pa.RecordBatch]:
        """Stream the whole table as record batches typed per ARROW_TYPES (server-side cursor on PostgreSQL)."""
        cols = check_columns(columns)
        self._require(name, exists=True)
        order = "_rid" if self.dialect == "sqlite" or not key_names(cols) else ", ".join(q(k) for k in key_names(cols))
        sql = f"SELECT {', '.join(q(c.name) for c in cols)} FROM {self._t(name)} ORDER BY {order}"  # noqa: S608
        schema = arrow_schema(cols)
        with self._writer(name).connect() as conn:
            result = conn.execution_options(yield_per=batch_rows).execute(text(sql))
            for part in result.partitions(batch_rows):
                values = list(zip(*part, strict=True)) if part else [() for _ in cols]
                yield pa.RecordBatch.from_arrays([arrow_from_db(self.dialect, c, v) for c, v in zip(cols, values,
                                                                                                 strict=True)],
                                                 schema=schema)


#: tables one thread keeps a lookup_key() connection open to (least recently opened ones are closed)
HELD_PER_THREAD = 8


class _Held:
    """A connection that one thread keeps for :meth:`ResourceStore.lookup_key`; ``lock`` lets another thread
    close it safely (a dropped table, a closed store)."""

    __slots__ = ("con", "ident", "name", "lock", "closed", "__weakref__")

    def __init__(self, con, ident: tuple | None, name: str) -> None:
        self.con, self.ident, self.name = con, ident, name
        self.lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                with contextlib.suppress(Exception):
                    self.con.close()


def _rollback_sqlite(con) -> None:
    if con.in_transaction:
        con.execute("ROLLBACK")


def _index_name(name: str) -> str:
    return f"ux_{name}" if len(name) <= 60 else f"ux_{name[:50]}_{sm3_hex(name.encode())[:8]}"


def _jsonable(v: object) -> object:
    return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)

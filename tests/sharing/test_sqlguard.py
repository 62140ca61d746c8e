"""The SQL guard of on-platform analysis (R-SHR-5): read-only SQL over one granted view, end to end on DuckDB."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshu.errors import Invalid
from gongshu.sharing import sqlguard
from gongshu.sharing.sqlguard import QueryTimeout, check, run

VIEW = "grant_view"
GRANTED = ["id", "district", "age", "income", "birth_date"]  # id_number is in the snapshot, not in the grant
DISTRICTS = ["上城区", "拱墅区", "西湖区", "滨江区"]
HIDDEN_DISTRICT = "拱墅区"  # the grant's row filter leaves it out
ROWS = 1000


def _snapshot() -> pa.Table:
    return pa.table({
        "id": list(range(ROWS)),
        "district": [DISTRICTS[i % 4] for i in range(ROWS)],
        "age": [18 + i % 60 for i in range(ROWS)],
        "income": [1000.0 + 7 * i for i in range(ROWS)],
        "birth_date": [dt.date(1960, 1, 1) + dt.timedelta(days=37 * i) for i in range(ROWS)],
        "id_number": [f"33010519800101{i:04d}" for i in range(ROWS)],
    })


@pytest.fixture
def snapshot(tmp_path):
    path = tmp_path / "snapshot.parquet"
    pq.write_table(_snapshot(), path)
    return path


def _connect(path, *, harden=True) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    cols, row_filter = ", ".join(GRANTED), f"district <> '{HIDDEN_DISTRICT}'"
    con.execute(f"CREATE VIEW {VIEW} AS SELECT {cols} FROM read_parquet('{path}') WHERE {row_filter}")  # noqa: S608
    if harden:
        sqlguard.harden(con, allowed_paths=[path], memory_limit="256MB", threads=2)
    return con


@pytest.fixture
def con(snapshot):
    c = _connect(snapshot)
    yield c
    c.close()


def _run(con, sql, **kw):
    kw.setdefault("max_rows", 10_000)
    kw.setdefault("timeout_s", 20)
    return run(con, sql, view=VIEW, columns=GRANTED, **kw)


def _refusal(sql: str, **kw) -> Invalid:
    with pytest.raises(Invalid) as e:
        check(sql, view=VIEW, columns=set(GRANTED), max_rows=kw.get("max_rows", 100))
    assert e.value.status == 422 and e.value.field == "sql"
    assert e.value.message and e.value.message_en and e.value.message != e.value.message_en
    return e.value


# --- what is allowed, run for real ---

def test_r_shr_5_aggregate_over_the_view_returns_only_granted_rows(con):
    res = _run(con, "SELECT district, count(*) AS n, sum(income) AS total FROM grant_view "
                    "GROUP BY district ORDER BY district")
    data = _snapshot().to_pylist()
    counts = Counter(r["district"] for r in data if r["district"] != HIDDEN_DISTRICT)
    totals = Counter()
    for r in data:
        if r["district"] != HIDDEN_DISTRICT:
            totals[r["district"]] += r["income"]
    assert res.columns == ["district", "n", "total"]
    assert res.rows == [(d, counts[d], totals[d]) for d in sorted(counts)]
    assert HIDDEN_DISTRICT not in {r[0] for r in res.rows} and not res.truncated


def test_select_star_gives_the_granted_columns_only(con):
    """Choice: `*` is allowed, because the view has exactly the granted columns (run() checks that)."""
    res = _run(con, "SELECT * FROM grant_view ORDER BY id LIMIT 3")
    assert res.columns == GRANTED and len(res.rows) == 3
    assert res.rows[0][:2] == (0, "上城区")


ALLOWED = [
    "FROM grant_view SELECT district",
    "WITH a AS (SELECT district, income FROM grant_view WHERE age > 30), "
    "b AS (SELECT district, avg(income) AS m FROM a GROUP BY 1) SELECT * FROM b ORDER BY m DESC",
    "SELECT district, income, rank() OVER (PARTITION BY district ORDER BY income DESC) AS r "
    "FROM grant_view QUALIFY r <= 3",
    "SELECT district FROM grant_view WHERE age < 20 UNION SELECT district FROM grant_view WHERE age > 70",
    "SELECT x.id FROM grant_view x JOIN grant_view y ON x.id = y.id + 1 WHERE x.age = 21",
    "SELECT CASE WHEN age < 30 THEN '青年' ELSE '其他' END AS grp, count(*) FROM grant_view GROUP BY ALL ORDER BY ALL",
    "SELECT date_trunc('month', birth_date) AS m, extract(year FROM birth_date) AS y, "
    "strftime(birth_date, '%Y-%m') AS s, date_diff('day', birth_date, DATE '2020-01-01') AS d FROM grant_view",
    "SELECT coalesce(income, 0)::INT, CAST(age AS VARCHAR), round(income / 3, 2), abs(-age) FROM grant_view",
    "SELECT upper(district), length(district), substr(district, 1, 1), replace(district, '区', ''), "
    "district || '-' || age, concat_ws('/', district, age), strpos(district, '城') FROM grant_view",
    "SELECT median(age), quantile_cont(income, 0.9), stddev(income), string_agg(DISTINCT district, ','), "
    "count(*) FILTER (WHERE age > 50), approx_count_distinct(district), mean(age) FROM grant_view",
    "SELECT district FROM grant_view WHERE income > (SELECT avg(income) FROM grant_view) "
    "AND district IN (SELECT district FROM grant_view WHERE age = 20)",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r",
    "SELECT * EXCLUDE (birth_date) FROM grant_view",
    "SELECT * FROM (SELECT district AS d, age FROM grant_view) t(dd, aa) WHERE dd LIKE '%城%' AND aa BETWEEN 20 AND 30",
    "SELECT district, lag(income) OVER w, lead(income, 2) OVER w FROM grant_view "
    "WINDOW w AS (PARTITION BY district ORDER BY id)",
    "(SELECT age FROM grant_view WHERE age IS NOT NULL)",
    "SELECT age FROM grant_view LIMIT (SELECT 3)",
    "WITH duckdb_settings AS (SELECT age FROM grant_view) SELECT * FROM duckdb_settings",  # the CTE shadows
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_r_shr_5_allowed_queries_pass_the_guard_and_run(con, sql):
    res = _run(con, sql)
    assert res.columns and res.rows and not res.truncated
    assert res.sql == check(sql, view=VIEW, columns=set(GRANTED), max_rows=10_000)


def test_the_sql_that_runs_is_regenerated_without_comments(con):
    sql = "SELECT count(*) AS n /* ; DROP VIEW grant_view */ FROM grant_view -- ; SELECT * FROM secrets"
    res = _run(con, sql)
    assert res.rows == [(750,)]
    assert "DROP" not in res.sql and "secrets" not in res.sql and "--" not in res.sql and "/*" not in res.sql


# --- what is refused, each with the reason it must give ---

REFUSED = [
    # other tables, schemas, catalogue views
    ("SELECT * FROM people", "people"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables"),
    ("SELECT * FROM information_schema.columns WHERE table_name = 'grant_view'", "information_schema.columns"),
    ("SELECT * FROM duckdb_tables()", "duckdb_tables()"),
    ("SELECT * FROM duckdb_settings", "duckdb_settings"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets()"),
    ("SELECT * FROM pg_catalog.pg_class", "pg_catalog.pg_class"),
    ("SELECT * FROM sqlite_master", "sqlite_master"),
    ("SELECT * FROM main.grant_view", "main.grant_view"),
    ("SELECT * FROM memory.main.grant_view", "memory.main.grant_view"),
    # joins to anything but the view or its CTEs; CTE names only where they are in scope
    ("SELECT * FROM grant_view g JOIN people p ON g.id = p.id", "people"),
    ("SELECT * FROM grant_view, duckdb_views()", "duckdb_views()"),
    ("SELECT * FROM (WITH q AS (SELECT id FROM grant_view) SELECT * FROM q) a, q", "q"),
    ("WITH a AS (SELECT * FROM a) SELECT * FROM a", "a"),  # not RECURSIVE: would read a catalogue table
    # files and URLs
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_parquet('/tmp/snapshot.parquet')", "read_parquet()"),
    ("SELECT * FROM read_json('x.json')", "read_json"),
    ("SELECT * FROM glob('/*')", "glob()"),
    ("SELECT * FROM parquet_scan('x.parquet')", "parquet_scan()"),
    ("SELECT * FROM 'snapshot.parquet'", "snapshot.parquet"),
    ("SELECT * FROM 'https://example.org/data.csv'", "https://example.org/data.csv"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "read_parquet()"),
    ("SELECT * FROM query('SELECT * FROM people')", "query()"),
    ("SELECT * FROM range(10)", "generate_series()"),
    ("WITH a AS (SELECT * FROM read_csv('x')) SELECT * FROM a", "read_csv()"),
    ("SELECT read_text('/etc/passwd')", "read_text()"),
    ("SELECT read_blob('/etc/passwd')", "read_blob()"),
    # statements other than SELECT
    ("COPY grant_view TO '/tmp/out.csv'", "COPY"),
    ("COPY (SELECT * FROM grant_view) TO '/tmp/out.parquet'", "COPY"),
    ("ATTACH '/tmp/other.db' AS other", "ATTACH"),
    ("DETACH other", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("PRAGMA database_list", "PRAGMA"),
    ("SET enable_external_access = true", "SET"),
    ("RESET threads", "RESET"),
    ("CALL pragma_version()", "CALL"),
    ("EXPORT DATABASE '/tmp/dump'", "EXPORT"),
    ("IMPORT DATABASE '/tmp/dump'", "IMPORT"),
    ("CREATE TABLE stolen AS SELECT * FROM grant_view", "CREATE"),
    ("CREATE MACRO m(x) AS x", "CREATE"),
    ("INSERT INTO grant_view VALUES (1)", "INSERT"),
    ("UPDATE grant_view SET age = 1", "UPDATE"),
    ("DELETE FROM grant_view", "DELETE"),
    ("DROP VIEW grant_view", "DROP"),
    ("ALTER VIEW grant_view RENAME TO x", "ALTER"),
    ("DESCRIBE grant_view", "DESCRIBE"),
    ("SUMMARIZE grant_view", "SUMMARIZE"),
    ("SHOW TABLES", "SHOW"),
    ("USE memory", "USE"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("VALUES (1)", "VALUES"),
    ("SELECT * INTO stolen FROM grant_view", "INTO"),
    # several statements, also behind comments
    ("SELECT 1; DROP VIEW grant_view", "2"),
    ("SELECT id FROM grant_view;SELECT * FROM people", "2"),
    ("SELECT 1 -- harmless\n; DROP VIEW grant_view", "2"),
    ("SELECT 1 /* ; */ ; /* */ COPY grant_view TO 'x.csv'", "2"),
    # columns outside the grant
    ("SELECT id_number FROM grant_view", "id_number"),
    ("SELECT district FROM grant_view WHERE id_number LIKE '3301%'", "id_number"),
    ("SELECT count(DISTINCT id_number) FROM grant_view", "id_number"),
    ("SELECT * EXCLUDE (id_number) FROM grant_view", "id_number"),
    ("SELECT g.id_number FROM grant_view g", "id_number"),
    # functions not on the allow-list
    ("SELECT getenv('HOME')", "getenv()"),
    ("SELECT current_setting('allowed_paths')", "current_setting()"),
    ("SELECT system('id')", "system()"),
    ("SELECT version()", "version()"),
    ("SELECT current_database()", "current_database()"),
    ("SELECT district, md5(district) FROM grant_view", "md5()"),
    ("SELECT list_transform([1, 2], x -> x + 1)", "transform()"),
    ("SELECT COLUMNS('.*') FROM grant_view", "columns()"),
    ("SELECT x.getenv('HOME') FROM grant_view x", "DOT"),
    ("SELECT $1", "PLACEHOLDER"),
    ("SELECT * FROM grant_view, unnest([1, 2])", "unnest()"),
    ("SELECT * FROM grant_view, LATERAL (SELECT 1)", "LATERAL"),
    ("SELECT * FROM grant_view AT (VERSION => 1)", "grant_view"),
    ("SELECT * FROM grant_view LIMIT 10%", "LIMITOPTIONS"),
    # malformed
    ("SELECT", "SELECT"),
    ("SELECT district FROM grant_view WHERE", "第 1 行"),
    ("SELEC district FROM grant_view", "第 1 行"),
    ("SELECT 'unterminated FROM grant_view", "引号"),
    ("   ", "为空"),
]


@pytest.mark.parametrize(("sql", "named"), REFUSED, ids=[s[:48] for s, _ in REFUSED])
def test_r_shr_5_refused_with_a_reason(sql, named):
    err = _refusal(sql)
    assert named in err.message or named.lower() in err.message.lower(), (err.message, err.message_en)


def test_refusal_says_where():
    err = _refusal("SELECT district,\n       getenv('HOME') AS h\nFROM grant_view")
    assert "第 2 行" in err.message and "line 2" in err.message_en
    assert err.details == [{"construct": "getenv", "line": 2, "column": 8}]
    err = _refusal("SELECT district FROM grant_view\nWHERE age >")
    assert "第 2 行" in err.message and "line 2" in err.message_en and err.details[0]["line"] == 2


def test_very_long_sql_is_refused_before_parsing():
    sql = "SELECT id FROM grant_view WHERE " + " OR ".join(f"age = {i}" for i in range(3000))  # noqa: S608
    assert len(sql) > sqlguard.MAX_SQL_CHARS
    err = _refusal(sql)
    assert str(sqlguard.MAX_SQL_CHARS) in err.message and "too long" in err.message_en
    assert check(sql, view=VIEW, columns=set(GRANTED), max_rows=5, max_chars=len(sql))  # the limit, not the SQL


def test_deep_nesting_is_refused_not_a_crash():
    err = _refusal("SELECT " + "(" * 3000 + "1" + ")" * 3000)
    assert "嵌套" in err.message or "语法" in err.message


# --- refused queries never reach DuckDB; the connection is a second fence ---

class _Recording:
    """A real DuckDB connection that remembers what it was asked to run."""

    def __init__(self, con):
        self.con, self.statements = con, []

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self.con.execute(sql, *args)

    def interrupt(self):
        self.con.interrupt()


def test_refused_queries_never_execute(con):
    rec = _Recording(con)
    for sql in ("CREATE TABLE stolen AS SELECT * FROM grant_view",
                "SELECT 1; CREATE TABLE stolen AS SELECT 1",
                "SELECT * FROM read_csv('/etc/passwd')",
                "SELECT id_number FROM grant_view"):
        with pytest.raises(Invalid):
            run(rec, sql, view=VIEW, columns=GRANTED, max_rows=10)
    assert rec.statements == []
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'stolen'").fetchone() == (0,)
    _run(rec, "SELECT count(*) FROM grant_view")
    assert any("grant_view" in s for s in rec.statements)


def test_hardened_connection_refuses_files_and_setting_changes_even_without_the_guard(con, snapshot):
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")
    with pytest.raises(duckdb.Error):
        con.execute("SET threads = 64")
    # the snapshot itself stays readable by path (the view needs it): that is why the guard must refuse it
    raw = f"SELECT id_number FROM '{snapshot}'"  # noqa: S608 - demonstrates the risk
    assert con.execute(raw).fetchone() == ("330105198001010000",)
    err = _refusal(f"SELECT * FROM '{snapshot}'")  # noqa: S608
    assert str(snapshot) in err.message


def test_run_refuses_a_connection_that_is_not_hardened(snapshot):
    open_con = _connect(snapshot, harden=False)
    with pytest.raises(RuntimeError, match="not hardened"):
        _run(open_con, "SELECT count(*) FROM grant_view")


def test_run_refuses_a_view_wider_than_the_grant(snapshot):
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet('{snapshot}')")  # noqa: S608 - test setup
    sqlguard.harden(con, allowed_paths=[snapshot])
    with pytest.raises(RuntimeError, match="id_number"):
        _run(con, "SELECT count(*) FROM grant_view")


# --- limits: time and size ---

def test_a_long_query_is_interrupted_by_the_time_limit(con):
    sql = "WITH a AS (SELECT id FROM grant_view) SELECT count(*) FROM a, a AS b, a AS c, a AS d"  # 3·10¹¹ rows
    started = time.perf_counter()
    with pytest.raises(QueryTimeout) as e:
        _run(con, sql, timeout_s=0.3)
    assert time.perf_counter() - started < 10
    assert "0.3" in e.value.message and "time limit" in e.value.message_en and e.value.status == 422
    assert _run(con, "SELECT count(*) FROM grant_view").rows == [(750,)]  # the connection stays usable


def test_result_size_is_capped(con):
    res = _run(con, "SELECT id FROM grant_view ORDER BY id DESC", max_rows=50)
    assert len(res.rows) == 50 and res.truncated
    assert [r[0] for r in res.rows] == sorted((i for i in range(ROWS) if i % 4 != 1), reverse=True)[:50]
    assert "LIMIT 51" in res.sql
    own = _run(con, "SELECT id FROM grant_view ORDER BY id LIMIT 10", max_rows=50)
    assert len(own.rows) == 10 and not own.truncated and "LIMIT 10" in own.sql
    exact = _run(con, "SELECT DISTINCT district FROM grant_view", max_rows=3)
    assert len(exact.rows) == 3 and not exact.truncated
    wrapped = _run(con, "SELECT id FROM grant_view ORDER BY id LIMIT (SELECT 100)", max_rows=20)
    assert len(wrapped.rows) == 20 and wrapped.truncated


def test_a_failing_query_is_a_clear_4xx(con):
    with pytest.raises(Invalid) as e:
        _run(con, "SELECT CAST(district AS INTEGER) FROM grant_view")
    assert e.value.message.startswith("查询执行失败") and e.value.message_en.startswith("The query failed")
    with pytest.raises(Invalid):
        _run(con, "SELECT age + district FROM grant_view")

"""Scheduled pull from department databases (前置库), R-AGG-2: real SQLite always, real PostgreSQL and
MariaDB when reachable (PostgreSQL is required under CI=true)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth_service
from gongshu.crypto import sm4
from gongshu.errors import Forbidden, Invalid
from gongshu.ingest import api_pull
from gongshu.ingest.models import DataVersion, Load, PullSource
from gongshu.ingest.service import pull, pull_db, versions
from gongshu.jobs.service import drain
from tests.conftest import IN_CI
from tests.ingest.helpers import make_id, setup

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DEPT = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_dept_test"
MARIADB = "mysql+pymysql://root:@127.0.0.1:3306/test"
SECRET = "Zq9-s3cret-PW"
T0 = datetime(2026, 1, 5, 8, 0, 0)


class Dept:
    """A department database with a 户籍 table (data items + 更新时间 watermark + an extra 备注 column)."""

    def __init__(self, url: str, kind: str) -> None:
        self.url, self.kind = url, kind
        self.engine = create_engine(url)
        self.table_name = f"hukou_{uuid.uuid4().hex[:8]}"
        self.table = Table(self.table_name, MetaData(),
                           Column("公民身份号码", String(18), primary_key=True), Column("姓名", String(50)),
                           Column("性别", String(1)), Column("出生日期", Date), Column("户籍地址", String(200)),
                           Column("更新时间", DateTime), Column("备注", String(20)))
        self.table.create(self.engine)

    def add(self, start: int, n: int, at: datetime, **over) -> None:
        rows = [{"公民身份号码": make_id(i), "姓名": f"张{i}", "性别": "1" if i % 2 else "2",
                 "出生日期": date(1985, 3, 12), "户籍地址": f"东莞市南城街道{i}号", "更新时间": at, "备注": "x", **over}
                for i in range(start, start + n)]
        with self.engine.begin() as conn:
            conn.execute(insert(self.table), rows)

    def change(self, i: int, at: datetime, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self.table.c["公民身份号码"] == make_id(i))
                         .values(更新时间=at, **values))

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(text("count(*)")).select_from(self.table)).scalar()

    def close(self) -> None:
        self.table.drop(self.engine, checkfirst=True)
        self.engine.dispose()


def _pg_dept() -> str:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'gongshu_dept_test'")).scalar():
                conn.execute(text('CREATE DATABASE "gongshu_dept_test"'))
    finally:
        admin.dispose()
    return PG_DEPT


def _mariadb() -> str:
    eng = create_engine(MARIADB, connect_args={"connect_timeout": 3})
    try:
        with eng.connect():
            return MARIADB
    finally:
        eng.dispose()


def _make_dept(kind: str, tmp_path) -> Dept:
    if kind == "sqlite":
        (tmp_path / "dept").mkdir(exist_ok=True)
        return Dept(f"sqlite:///{tmp_path / 'dept' / 'qianzhiku.db'}", kind)
    try:
        url = _pg_dept() if kind == "postgresql" else _mariadb()
    except Exception as exc:
        if kind == "postgresql" and IN_CI:
            pytest.fail(f"PostgreSQL 127.0.0.1:5432 must be reachable under CI: {exc}")
        pytest.skip(f"{kind} department database not reachable on 127.0.0.1 ({type(exc).__name__}); "
                    f"start it to run these tests")
    return Dept(url, kind)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def dept(request, tmp_path):
    d = _make_dept(request.param, tmp_path)
    yield d
    d.close()


@pytest.fixture
def pg_dept(tmp_path):
    d = _make_dept("postgresql", tmp_path)
    yield d
    d.close()


@pytest.fixture
def sqlite_dept(tmp_path):
    (tmp_path / "dept").mkdir()
    d = Dept(f"sqlite:///{tmp_path / 'dept' / 'qianzhiku.db'}", "sqlite")
    yield d
    d.close()


@pytest.fixture(autouse=True)
def data_key(monkeypatch):
    monkeypatch.setenv("GONGSHU_DATA_KEY", "0f" * 32)


def _audits(db, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _source(db, c, entry, d: Dept, **kw) -> PullSource:
    s = pull.create_source(db, actor=c.officer, entry_id=entry.id, name="户籍前置库", url=d.url,
                           table_name=kw.pop("table_name", "" if "query" in kw else d.table_name), **kw)
    db.flush()
    return s


def _run(db, source) -> Load | None:
    done = pull.run_pull(source.id)
    db.expire_all()
    return done


def test_r_agg_2_full_pull_applies_a_version(f, db, dept):
    """R-AGG-2: a full pull streams the table, maps columns by item name (extra column ignored), dates ISO."""
    c, entry = setup(f, db)
    dept.add(1, 40, T0)
    source = _source(db, c, entry, dept)
    assert source.url_display.startswith(("sqlite+pysqlite", "postgresql+psycopg", "mysql+pymysql"))
    load = _run(db, source)
    assert load is not None and load.status == "applied", load and load.error
    assert (load.channel, load.mode, load.rows_read) == ("pull", "full", 40)
    v = db.get(DataVersion, load.version_id)
    assert (v.number, v.rows, v.channel) == (1, 40, "pull")
    row = versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(7)})[0]
    assert (row["姓名"], str(row["出生日期"]), row["户籍地址"]) == ("张7", "1985-03-12", "东莞市南城街道7号")
    db.refresh(source)
    assert (source.last_load_id, source.last_error, source.last_watermark) == (load.id, "", None)
    assert source.last_run_at is not None
    assert _audits(db, "ingest.pull.create") and _audits(db, "ingest.pull.run")


def test_r_agg_2_incremental_pull_twice_loads_only_new_and_changed_rows(f, db, dept):
    """R-AGG-2: incremental by watermark; later runs read the rows from the last watermark on (inclusive, so
    late rows with an equal watermark are not missed) and upsert them; re-read rows change nothing."""
    c, entry = setup(f, db)
    dept.add(1, 20, T0)
    source = _source(db, c, entry, dept, mode="incremental", watermark_column="更新时间")
    first = _run(db, source)
    assert first.status == "applied" and first.rows_read == 20 and first.mode == "upsert"
    db.refresh(source)
    assert str(pull_db.decode_watermark(source.last_watermark)).startswith("2026-01-05 08:00:00")
    wm1 = source.last_watermark
    dept.add(100, 2, T0 + timedelta(hours=1))
    dept.change(3, T0 + timedelta(hours=2), 姓名="李改名")
    second = _run(db, source)
    assert second.status == "applied", second.error
    assert second.rows_read == 22  # the 20 rows at the last watermark again (>=), 2 new; row 3 moved on
    v = db.get(DataVersion, second.version_id)
    assert (v.number, v.rows, v.added, v.changed, v.deleted) == (2, 22, 2, 1, 0)
    db.refresh(source)
    assert source.last_watermark != wm1 and "10:00:00" in source.last_watermark
    assert versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(3)})[0]["姓名"] == "李改名"
    # nothing new: the rows at the last watermark are read again (>=) and change nothing: no new version
    wm2 = source.last_watermark
    third = _run(db, source)
    assert third.status == "unchanged" and third.rows_read == 1 and third.version_id == second.version_id
    assert versions.current_version(db, entry_id=entry.id).number == 2
    db.refresh(source)
    assert source.last_watermark == wm2 and source.last_error == ""
    # a row committed late with the same watermark value as the last run is not missed
    dept.add(200, 1, T0 + timedelta(hours=2))
    fourth = _run(db, source)
    assert fourth.status == "applied", fourth.error
    v = db.get(DataVersion, fourth.version_id)
    assert (v.number, v.rows, v.added, v.changed, v.deleted) == (3, 23, 1, 0, 0)
    assert versions.lookup(db, actor=c.officer, entry_id=entry.id, key={"公民身份号码": make_id(200)})


def test_r_agg_2_rejected_pull_keeps_the_watermark(f, db, sqlite_dept):
    """R-AGG-2/R-AGG-3: a pulled batch that fails validation is refused whole; the watermark stays."""
    c, entry = setup(f, db)
    sqlite_dept.add(1, 10, T0)
    source = _source(db, c, entry, sqlite_dept, mode="incremental", watermark_column="更新时间")
    assert _run(db, source).status == "applied"
    db.refresh(source)
    wm = source.last_watermark
    bad = make_id(500)
    sqlite_dept.add(500, 1, T0 + timedelta(days=1), 公民身份号码=bad[:-1] + ("0" if bad[-1] != "0" else "1"))
    load = _run(db, source)
    assert load.status == "rejected" and load.rows_rejected == 1
    db.refresh(source)
    assert source.last_watermark == wm
    assert "未通过校验" in source.last_error and source.last_load_id == load.id
    fail = _audits(db, "ingest.pull.fail")[-1]
    assert json.loads(fail.detail)["status"] == "rejected" and json.loads(fail.detail)["load_id"] == load.id


def test_r_agg_2_unreachable_database_is_recorded_without_the_password(f, db, sqlite_dept):
    """R-AGG-2: a run against an unreachable database records the error (zh+en) and an audit event, never
    raises, and the password appears in no message, audit row or listing."""
    c, entry = setup(f, db)
    sqlite_dept.add(1, 3, T0)
    source = _source(db, c, entry, sqlite_dept)
    db.execute(update(PullSource).where(PullSource.id == source.id).values(
        url_encrypted=sm4.encrypt(f"postgresql+psycopg://dept:{SECRET}@127.0.0.1:1/x".encode(), purpose=pull.PURPOSE)))
    db.flush()
    assert _run(db, source) is None
    db.refresh(source)
    assert source.last_error.startswith("读取前置库失败") and "Reading the department database failed" in \
        source.last_error
    fail = _audits(db, "ingest.pull.fail")
    assert len(fail) == 1 and json.loads(fail[0].detail)["status"] == "failed"
    everything = " ".join(str(getattr(e, k)) for e in db.scalars(select(AuditEvent))
                          for k in ("detail", "subject_id", "actor_name"))
    assert SECRET not in source.last_error and SECRET not in everything


def test_r_agg_2_wrong_password_is_refused_at_create_without_echoing_it(f, db):
    """R-AGG-2: creating a source tests the connection; the error names the field and hides the password."""
    c, entry = setup(f, db)
    urls = [f"postgresql://dept:{SECRET}@127.0.0.1:1/x"]
    try:
        _mariadb()
        urls.append(f"mysql://root:{SECRET}@127.0.0.1:3306/test")
    except Exception:  # MariaDB not running here: the refused-connection case still runs
        pass
    for url in urls:
        with pytest.raises(Invalid) as e:
            pull.create_source(db, actor=c.officer, entry_id=entry.id, name="x", url=url, table_name="t")
        err = e.value
        assert err.field == "url" and err.message.startswith("无法连接前置库")
        assert SECRET not in err.message + err.message_en + str(err.details)
    with pytest.raises(Invalid) as e:  # unparsable: the input is not echoed
        pull.create_source(db, actor=c.officer, entry_id=entry.id, name="x", url=f"::{SECRET}", table_name="t")
    assert SECRET not in e.value.message + e.value.message_en and e.value.field == "url"


def test_r_agg_2_stored_url_is_sm4_encrypted(f, db, sqlite_dept):
    """R-AGG-2: the URL column holds SM4-GCM ciphertext; only url_display (password hidden) is readable."""
    c, entry = setup(f, db)
    source = _source(db, c, entry, sqlite_dept)
    raw, shown = db.execute(text("SELECT url_encrypted, url_display FROM ingest_pull_source WHERE id = :i"),
                            {"i": source.id}).one()
    assert b"qianzhiku" not in bytes(raw) and b"sqlite" not in bytes(raw)
    assert sm4.decrypt(bytes(raw), purpose=pull.PURPOSE).decode().endswith("qianzhiku.db")
    try:
        url = _pg_dept().replace("postgres@", f"postgres:{SECRET}@")  # trust auth accepts any password
    except Exception:
        if IN_CI:
            raise
        return
    pg = Dept(url, "postgresql")
    try:
        s = pull.create_source(db, actor=c.officer, entry_id=entry.id, name="pg", url=url, table_name=pg.table_name)
        db.flush()
        raw, shown = db.execute(text("SELECT url_encrypted, url_display FROM ingest_pull_source WHERE id = :i"),
                                {"i": s.id}).one()
        assert SECRET.encode() not in bytes(raw) and SECRET not in shown and "***" in shown
        assert SECRET in sm4.decrypt(bytes(raw), purpose=pull.PURPOSE).decode()
        audit = _audits(db, "ingest.pull.create")[-1]
        assert SECRET not in str(audit.detail)
    finally:
        pg.close()


@pytest.mark.parametrize("query", ["SELECT * FROM t; DROP TABLE t", "DELETE FROM t", "UPDATE t SET a = 1",
                                   "PRAGMA table_info(t)", "  ", "select 1;"])
def test_r_agg_2_query_that_is_not_a_single_select_is_refused(f, db, sqlite_dept, query):
    """R-AGG-2: only a single SELECT (or WITH … SELECT) is accepted."""
    c, entry = setup(f, db)
    with pytest.raises(Invalid) as e:
        pull.create_source(db, actor=c.officer, entry_id=entry.id, name="q", url=sqlite_dept.url, query=query)
    assert e.value.field in ("query", "table_name")


def test_r_agg_2_data_modifying_with_is_refused_and_changes_nothing(f, db, pg_dept):
    """R-AGG-2: a WITH that hides a DELETE cannot run (wrapped as a subquery, read-only session)."""
    dept = pg_dept
    c, entry = setup(f, db)
    dept.add(1, 3, T0)
    q = f"WITH d AS (DELETE FROM {dept.table_name} RETURNING *) SELECT * FROM d"  # noqa: S608 - the attack
    with pytest.raises(Invalid) as e:
        pull.create_source(db, actor=c.officer, entry_id=entry.id, name="q", url=dept.url, query=q)
    assert e.value.field == "query"
    assert dept.count() == 3


def test_r_agg_2_query_source_renames_columns(f, db, sqlite_dept):
    """R-AGG-2: a SELECT can map the department's own column names to the entry's items."""
    c, entry = setup(f, db)
    sqlite_dept.add(1, 5, T0)
    t = sqlite_dept.table_name
    view = (f"CREATE VIEW v_{t} AS SELECT 公民身份号码 AS sfzh, 姓名 AS xm, 性别 AS xb, "  # noqa: S608 - test table
            f"出生日期 AS csrq, 户籍地址 AS dz FROM {t}")
    with sqlite_dept.engine.begin() as conn:
        conn.execute(text(view))
    q = f"SELECT sfzh AS 公民身份号码, xm AS 姓名, xb AS 性别, csrq AS 出生日期, dz AS 户籍地址 FROM v_{t} WHERE xb IN ('1', '2')"  # noqa: S608,E501
    source = _source(db, c, entry, sqlite_dept, query=q)
    load = _run(db, source)
    assert load.status == "applied" and load.rows_read == 5


def test_r_agg_2_configuration_is_checked(f, db, sqlite_dept, tmp_path):
    """R-AGG-2: table xor query, known dialect, watermark for incremental, columns cover the items."""
    c, entry = setup(f, db)
    base = dict(actor=c.officer, entry_id=entry.id, name="x", url=sqlite_dept.url)
    cases = [
        (dict(table_name=sqlite_dept.table_name, query="SELECT 1"), "table_name"),
        (dict(), "table_name"),
        (dict(url="oracle://u:p@h/db", table_name="t"), "url"),
        (dict(url="sqlite:///relative.db", table_name="t"), "url"),
        (dict(table_name=sqlite_dept.table_name, mode="incremental"), "watermark_column"),
        (dict(table_name=sqlite_dept.table_name, mode="incremental", watermark_column="无此列"), "watermark_column"),
        (dict(table_name=sqlite_dept.table_name, mode="sometimes"), "mode"),
        (dict(table_name="no_such_table"), "table_name"),
        (dict(table_name="t; drop"), "table_name"),
        (dict(query=f"SELECT 公民身份号码, 姓名 FROM {sqlite_dept.table_name}"), "query"),  # noqa: S608
        (dict(table_name=sqlite_dept.table_name, every_minutes=1), "every_minutes"),
    ]
    for kw, field in cases:
        with pytest.raises(Invalid) as e:
            pull.create_source(db, **{**base, **kw})
        assert e.value.field == field, (kw, e.value.message)
        assert e.value.message and e.value.message_en
    with pytest.raises(Invalid) as e:
        pull.create_source(db, **{**base, "query": f"SELECT 公民身份号码 FROM {sqlite_dept.table_name}"})  # noqa: S608
    assert {d["field"] for d in e.value.details} == {"姓名", "性别", "出生日期", "户籍地址"}
    with pytest.raises(Forbidden):
        pull.create_source(db, **{**base, "actor": c.other_officer, "table_name": sqlite_dept.table_name})
    assert db.scalars(select(PullSource)).all() == []


def test_r_agg_2_update_resets_watermark_list_scopes_and_delete(f, db, sqlite_dept):
    """R-AGG-2: changing the watermark column resets it; listings are per department; all audited."""
    c, entry = setup(f, db)
    sqlite_dept.add(1, 4, T0)
    source = _source(db, c, entry, sqlite_dept, mode="incremental", watermark_column="更新时间")
    _run(db, source)
    db.refresh(source)
    assert source.last_watermark is not None
    pull.update_source(db, actor=c.officer, source_id=source.id, name="改名", every_minutes=60)
    assert source.last_watermark is not None and source.name == "改名"
    pull.update_source(db, actor=c.officer, source_id=source.id, watermark_column="出生日期")
    assert source.last_watermark is None and source.watermark_column == "出生日期"
    with pytest.raises(Invalid):
        pull.update_source(db, actor=c.officer, source_id=source.id, mode="incremental", watermark_column="")
    assert [s.id for s in pull.list_sources(db, actor=c.officer)] == [source.id]
    assert pull.list_sources(db, actor=c.other_officer) == []
    with pytest.raises(Forbidden):
        pull.delete_source(db, actor=c.other_officer, source_id=source.id)
    pull.delete_source(db, actor=c.officer, source_id=source.id)
    assert db.get(PullSource, source.id) is None
    assert len(_audits(db, "ingest.pull.update")) == 2 and _audits(db, "ingest.pull.delete")


def test_r_agg_2_periodic_job_runs_due_sources(f, db, sqlite_dept):
    """R-AGG-2: the periodic job queues enabled sources whose interval passed; the worker runs them."""
    c, entry = setup(f, db)
    sqlite_dept.add(1, 6, T0)
    due = _source(db, c, entry, sqlite_dept)
    off = _source(db, c, entry, sqlite_dept, every_minutes=60)
    off.enabled = False
    db.flush()
    assert pull.enqueue_due(db) == [due.id]
    assert pull.enqueue_due(db) == []  # just queued: not due again
    db.commit()
    drain()
    db.expire_all()
    assert due.last_load_id is not None and db.get(Load, due.last_load_id).status == "applied"
    assert off.last_load_id is None
    later = due.last_run_at + timedelta(minutes=due.every_minutes)
    assert pull.enqueue_due(db, now=later) == [due.id]


def test_r_agg_2_api_create_list_patch_run_delete(f, db, client, sqlite_dept):
    """R-AGG-2: the JSON API never returns the URL, queues a run, and refuses other departments."""
    if not any(getattr(r, "path", "").startswith("/api/v1/ingest/pull-sources") for r in client.app.routes):
        client.app.include_router(api_pull.router)
    c, entry = setup(f, db)
    sqlite_dept.add(1, 3, T0)
    token, _ = auth_service.create_token(db, actor=c.officer, name="t", scopes=["ingest.*"], days=1)
    other, _ = auth_service.create_token(db, actor=c.other_officer, name="t", scopes=["ingest.*"], days=1)
    h, ho = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {other}"}
    db.commit()
    body = {"entry_id": entry.id, "name": "户籍", "url": sqlite_dept.url, "table_name": sqlite_dept.table_name}
    r = client.post("/api/v1/ingest/pull-sources", json=body, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert "url" not in out and "url_encrypted" not in out and out["url_display"]
    sid = out["id"]
    r = client.post("/api/v1/ingest/pull-sources", json={**body, "query": "DELETE FROM x"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "table_name"
    assert [s["id"] for s in client.get("/api/v1/ingest/pull-sources", headers=h).json()] == [sid]
    assert client.get("/api/v1/ingest/pull-sources", headers=ho).json() == []
    r = client.patch(f"/api/v1/ingest/pull-sources/{sid}", json={"every_minutes": 30}, headers=h)
    assert r.status_code == 200 and r.json()["every_minutes"] == 30
    assert client.post(f"/api/v1/ingest/pull-sources/{sid}/run", headers=ho).status_code == 403
    r = client.post(f"/api/v1/ingest/pull-sources/{sid}/run", headers=h)
    assert r.status_code == 202 and r.json()["job_id"]
    drain()
    got = client.get(f"/api/v1/ingest/pull-sources/{sid}", headers=h).json()
    assert got["last_load_id"] and got["last_error"] == ""
    assert client.delete(f"/api/v1/ingest/pull-sources/{sid}", headers=h).status_code == 204
    assert client.get(f"/api/v1/ingest/pull-sources/{sid}", headers=h).status_code == 404


def test_watermark_encoding_round_trips_types():
    """R-AGG-2: the stored watermark keeps its type, so the next run compares like with like."""
    for v in (42, 1.5, Decimal("12.50"), date(2026, 1, 2), T0, "2026-01-02T03:04:05", make_url("sqlite://").drivername):
        assert pull_db.decode_watermark(pull_db.encode_watermark(v)) == v
    assert pull_db.watermark_display(pull_db.encode_watermark(T0)) == "2026-01-05 08:00:00"


def test_r_agg_2_rows_stream_in_batches_to_parquet(dept, tmp_path, monkeypatch):
    """R-AGG-2: the server-side cursor is read batch by batch (one Parquet row group per batch), never
    whole; values become text with ISO dates, columns named by data item, in catalogue order."""
    dept.add(1, 20, T0)
    monkeypatch.setattr(pull_db, "STREAM_ROWS", 7)
    out = tmp_path / "out.parquet"
    items = [("姓名", "C"), ("公民身份号码", "C"), ("出生日期", "D")]
    rows, last = pull_db.extract(pull_db.parse_url(dept.url), table_name=dept.table_name, query="", items=items,
                                 watermark_column="更新时间", incremental=True, last_watermark=None, out=out)
    pf = pq.ParquetFile(out)
    assert (rows, pf.num_row_groups, pf.schema_arrow.names) == (20, 3, ["姓名", "公民身份号码", "出生日期"])
    assert str(last).startswith("2026-01-05 08:00:00")
    first = pf.read_row_group(0).to_pylist()[0]
    assert first["出生日期"] == "1985-03-12" and first["公民身份号码"] in {make_id(i) for i in range(1, 21)}

"""Workbench page for scheduled pulls (R-AGG-2): list, add (with inline errors), run now, enable/disable,
delete, and the department boundary. The department database is a real SQLite file (PostgreSQL too for
the password check when it is reachable)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
from sqlalchemy import Column, Date, DateTime, MetaData, String, Table, create_engine, insert, select, text

from gongshu.auth.models import User
from gongshu.ingest import views_pull
from gongshu.ingest.models import Load, PullSource
from gongshu.jobs.models import Job
from gongshu.jobs.service import drain
from tests.catalog.helpers import published
from tests.conftest import IN_CI
from tests.factories import login
from tests.ingest.helpers import make_id, setup

SECRET = "Zq9-page-s3cret"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DEPT = "postgresql+psycopg://postgres@127.0.0.1:5432/gongshu_dept_test"
PAGE = "/workbench/ingest/entries/{entry_id}/pull"


@pytest.fixture
def app(app):
    """The app with this page's router (a no-op once app.py lists it)."""
    if not any(getattr(r, "path", "") == PAGE for r in app.routes):
        app.include_router(views_pull.router)
    return app


@pytest.fixture(autouse=True)
def data_key(monkeypatch):
    monkeypatch.setenv("GONGSHU_DATA_KEY", "0f" * 32)


def _dept_table(url: str, rows: int = 5) -> tuple[str, object]:
    """A 户籍 table in the department database with the entry's items plus 更新时间; returns (name, engine)."""
    eng = create_engine(url)
    name = f"hukou_{uuid.uuid4().hex[:8]}"
    table = Table(name, MetaData(), Column("公民身份号码", String(18), primary_key=True), Column("姓名", String(50)),
                  Column("性别", String(1)), Column("出生日期", Date), Column("户籍地址", String(200)),
                  Column("更新时间", DateTime))
    table.create(eng)
    with eng.begin() as conn:
        conn.execute(insert(table), [{"公民身份号码": make_id(i), "姓名": f"张{i}", "性别": "1" if i % 2 else "2",
                                      "出生日期": date(1985, 3, 12),
                                      "户籍地址": f"东莞市南城街道{i}号", "更新时间": datetime(2026, 1, 5, 8)}
                                     for i in range(1, rows + 1)])
    return name, eng


@pytest.fixture
def sqlite_dept(tmp_path):
    (tmp_path / "dept").mkdir()
    url = f"sqlite:///{tmp_path / 'dept' / 'qianzhiku.db'}"
    name, eng = _dept_table(url)
    yield url, name
    eng.dispose()


def _user(db, actor) -> User:
    return db.get(User, actor.user_id)


def _form(csrf: str, url: str, table: str, **over) -> dict[str, str]:
    data = {"csrf_token": csrf, "name": "户籍前置库", "url": url, "password": "", "table_name": table, "query": "",
            "mode": "full", "watermark_column": "", "every_minutes": "60"}
    data.update(over)
    return data


def _sources(db, entry) -> list[PullSource]:
    db.expire_all()
    return list(db.scalars(select(PullSource).where(PullSource.entry_id == entry.id).order_by(PullSource.id)))


def test_r_agg_2_page_adds_and_lists_a_source_then_runs_it(f, db, client, sqlite_dept):
    """R-AGG-2: an officer adds a SQLite pull through the form; it is listed; run now queues a job whose run
    applies a load that the page then links to."""
    url, table = sqlite_dept
    c, entry = setup(f, db)
    db.commit()
    csrf = login(client, _user(db, c.officer))
    page = client.get(f"/workbench/ingest/entries/{entry.id}/pull")
    assert page.status_code == 200 and "尚无拉取任务" in page.text and 'id="pull-add"' in page.text
    assert "公民身份号码、姓名" in page.text  # the columns the source must have
    r = client.post(f"/workbench/ingest/entries/{entry.id}/pull",
                    data=_form(csrf, url, table, mode="incremental", watermark_column="更新时间"),
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/workbench/ingest/entries/{entry.id}/pull?done=created"
    [source] = _sources(db, entry)
    assert (source.table_name, source.mode, source.watermark_column, source.every_minutes, source.enabled) == \
        (table, "incremental", "更新时间", 60, True)
    page = client.get(r.headers["location"])
    row = page.text.split(f'id="pull-source-{source.id}"', 1)[1].split("</tr>", 1)[0]
    assert "户籍前置库" in row and source.url_display in row and table in row and "更新时间" in row
    assert "按水印增量" in row and "已启用" in row and "/loads/" not in row
    assert "已新建拉取任务" in page.text

    jobs_before = db.scalar(select(text("count(*)")).select_from(Job))
    r = client.post(f"/workbench/ingest/entries/{entry.id}/pull/{source.id}/run", data={"csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/pull?done=queued")
    job = db.scalars(select(Job).where(Job.kind == "ingest.pull").order_by(Job.id.desc())).first()
    assert db.scalar(select(text("count(*)")).select_from(Job)) == jobs_before + 1
    assert job.payload == {"source_id": source.id} and job.status == "queued"
    assert "已加入拉取队列" in client.get(r.headers["location"]).text

    drain()
    db.expire_all()
    load = db.get(Load, db.get(PullSource, source.id).last_load_id)
    assert load is not None and load.status == "applied" and load.rows_read == 5
    page = client.get(f"/workbench/ingest/entries/{entry.id}/pull?lang=en")
    assert page.status_code == 200
    row = page.text.split(f'id="pull-source-{source.id}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/workbench/ingest/loads/{load.id}"' in row and "2026-01-05 08:00:00" in row
    assert "Incremental by watermark" in row and "Run now" in row


def test_r_agg_2_bad_input_rerenders_with_the_error_and_the_values(f, db, client, sqlite_dept):
    """R-AGG-2: a bad URL, a missing table and a non-numeric interval re-render the form with the zh/en
    error and what was typed (never the password), status 422, nothing saved."""
    url, table = sqlite_dept
    c, entry = setup(f, db)
    db.commit()
    csrf = login(client, _user(db, c.officer))
    action = f"/workbench/ingest/entries/{entry.id}/pull"
    r = client.post(action, data=_form(csrf, f"oracle://dept:{SECRET}@10.0.0.9/hk", "户籍表_X",
                                       watermark_column="更新时间", every_minutes="120"))
    assert r.status_code == 422
    assert "不支持的数据库类型“oracle”" in r.text
    assert 'value="户籍前置库"' in r.text and 'value="户籍表_X"' in r.text and 'value="更新时间"' in r.text
    assert 'value="120"' in r.text and 'value="oracle://dept@10.0.0.9/hk"' in r.text
    assert SECRET not in r.text and 'id="pull-password-hint"' in r.text
    assert 'name="url" value="oracle://dept@10.0.0.9/hk" required placeholder="postgresql://user@host:5432/db" ' \
           'aria-invalid="true"' in r.text

    r = client.post(action, data=_form(csrf, f"::{SECRET}", table, password=SECRET))  # unparsable
    assert r.status_code == 422 and "数据库地址无法解析" in r.text and SECRET not in r.text

    r = client.post(action + "?lang=en", data=_form(csrf, url, table, every_minutes="每天"))
    assert r.status_code == 422 and "The interval must be a whole number of minutes" in r.text
    assert f'value="{url}"' in r.text and 'value="每天"' in r.text

    r = client.post(action, data=_form(csrf, url, "no_such_table"))
    assert r.status_code == 422 and 'value="no_such_table"' in r.text

    r = client.post(action, data=_form(csrf, url, table, query="SELECT * FROM x"))
    assert r.status_code == 422 and "请填写表名或查询语句" in r.text and "SELECT * FROM x</textarea>" in r.text

    r = client.post(action, data=_form(csrf, url, table, mode="incremental"))
    assert r.status_code == 422 and "增量拉取须指定水印列" in r.text
    assert '<option value="incremental" selected>' in r.text
    assert _sources(db, entry) == []


def test_r_agg_2_disable_enable_delete(f, db, client, sqlite_dept):
    """R-AGG-2: per-source buttons disable, enable and delete, each redirecting back to the page."""
    url, table = sqlite_dept
    c, entry = setup(f, db)
    db.commit()
    csrf = login(client, _user(db, c.officer))
    base = f"/workbench/ingest/entries/{entry.id}/pull"
    assert client.post(base, data=_form(csrf, url, table), follow_redirects=False).status_code == 303
    sid = _sources(db, entry)[0].id
    r = client.post(f"{base}/{sid}/disable", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == base + "?done=disabled"
    assert _sources(db, entry)[0].enabled is False
    page = client.get(r.headers["location"]).text
    row = page.split(f'id="pull-source-{sid}"', 1)[1].split("</tr>", 1)[0]
    assert "已停用" in row and f"/pull/{sid}/enable" in row and f"/pull/{sid}/disable" not in row
    r = client.post(f"{base}/{sid}/enable", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and _sources(db, entry)[0].enabled is True
    other = published(db, c, name="户籍人口迁移信息")  # a source is acted on only under its own entry
    db.commit()
    r = client.post(f"/workbench/ingest/entries/{other.id}/pull/{sid}/disable", data={"csrf_token": csrf})
    assert r.status_code == 404 and _sources(db, entry)[0].enabled is True
    r = client.post(f"{base}/{sid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == base + "?done=deleted"
    assert _sources(db, entry) == []
    assert "尚无拉取任务" in client.get(base).text
    # a gone source is a 404 page, not a 500; a form without the CSRF token is refused
    assert client.post(f"{base}/{sid}/run", data={"csrf_token": csrf}).status_code == 404
    assert client.post(base, data={"name": "x"}).status_code == 403


def test_r_agg_2_another_departments_officer_is_refused(f, db, client, sqlite_dept):
    """R-AGG-2: another department's officer can neither see the page nor run, toggle or delete a source."""
    url, table = sqlite_dept
    c, entry = setup(f, db)
    db.commit()
    csrf = login(client, _user(db, c.officer))
    assert client.post(f"/workbench/ingest/entries/{entry.id}/pull", data=_form(csrf, url, table),
                       follow_redirects=False).status_code == 303
    [source] = _sources(db, entry)
    client.cookies.clear()
    csrf = login(client, _user(db, c.other_officer))
    base = f"/workbench/ingest/entries/{entry.id}/pull"
    jobs_before = db.scalar(select(text("count(*)")).select_from(Job))
    assert client.get(base).status_code == 403
    for what in ("run", "disable", "delete"):
        assert client.post(f"{base}/{source.id}/{what}", data={"csrf_token": csrf}).status_code == 403
    assert client.post(base, data=_form(csrf, url, table)).status_code == 403
    [still] = _sources(db, entry)
    assert still.enabled is True and db.scalar(select(text("count(*)")).select_from(Job)) == jobs_before


def _pg_dept_url() -> str:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'gongshu_dept_test'")).scalar():
                conn.execute(text('CREATE DATABASE "gongshu_dept_test"'))
    finally:
        admin.dispose()
    return PG_DEPT


def test_r_agg_2_page_never_shows_the_password(f, db, client):
    """R-AGG-2: a PostgreSQL source saved with a password (typed in its own field) is listed with *** only."""
    try:
        url = _pg_dept_url()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL 127.0.0.1:5432 must be reachable under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1 ({type(exc).__name__})")
    table, eng = _dept_table(url)  # trust authentication here: any password is accepted
    try:
        c, entry = setup(f, db)
        db.commit()
        csrf = login(client, _user(db, c.officer))
        r = client.post(f"/workbench/ingest/entries/{entry.id}/pull",
                        data=_form(csrf, url, table, password=SECRET), follow_redirects=False)
        assert r.status_code == 303, r.text
        [source] = _sources(db, entry)
        assert "***" in source.url_display and SECRET not in source.url_display
        page = client.get(r.headers["location"])
        assert source.url_display in page.text and SECRET not in page.text
    finally:
        eng.dispose()
        drop = create_engine(url)
        with drop.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
        drop.dispose()

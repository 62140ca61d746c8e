"""On-platform analysis (R-SHR-5): read-only SQL over a DuckDB view of the grant — granted items only (masked
ones masked), rows in scope only — with every run and every refused query logged with the SQL's SM3."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gongshu.config import get_settings
from gongshu.crypto import sm2
from gongshu.errors import Forbidden, Invalid, Unauthenticated
from gongshu.kit.hashing import sm3_hex
from gongshu.sharing.models import AccessEvent
from gongshu.sharing.service import access, analysis, apps, grants, requests
from gongshu.sharing.service.projection import Staff
from gongshu.tasks import service as tasks
from tests.ingest.helpers import person_rows
from tests.sharing.helpers import World, active_grant, ask, world

ITEMS = ("公民身份号码", "姓名", "性别", "户籍地址")


@pytest.fixture(autouse=True)
def platform(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GONGSHU_DATA_KEY", "ef" * 32)
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    sm2.reset_provider_cache()


def analysis_grant(db, w: World, *, items=ITEMS, masked=("姓名",), row_scope=None, application_id=None):
    req = ask(db, w, items=items, mode="analysis", row_scope=row_scope or {}, application_id=application_id)
    return requests.approve(db, actor=w.c.officer, request_id=req.id,
                            items=[{"name": n, "masked": n in masked} for n in items])


def run(db, who, grant_id, sql, **kw):
    outcome = analysis.run(db, who=who, grant_id=grant_id, sql=sql, **kw)
    return access.finish(outcome)


def last_event(db, **where) -> AccessEvent:
    stmt = select(AccessEvent).where(AccessEvent.operation == "analysis")
    for k, v in where.items():
        stmt = stmt.where(getattr(AccessEvent, k) == v)
    return db.scalar(stmt.order_by(AccessEvent.id.desc()).limit(1))


@pytest.fixture
def setup(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=40)
    grant = analysis_grant(db, w, row_scope={"性别": ["2"]})
    return w, grant


def test_r_shr_5_aggregate_over_the_view_counts_only_rows_in_scope(db, setup):
    w, grant = setup
    who = Staff(w.consumer, purpose="人口统计-2026")
    body = run(db, who, grant.id, "SELECT 性别, count(*) AS n FROM granted GROUP BY 性别")
    assert body["columns"] == ["性别", "n"] and body["rows"] == [["2", 20]] and not body["truncated"]
    sql = "SELECT 性别, count(*) AS n FROM granted GROUP BY 性别"
    ev = last_event(db, grant_id=grant.id)
    assert (ev.result, ev.rows, ev.purpose, ev.consumer_org_id, ev.source_org_id) == \
        ("ok", 1, "人口统计-2026", w.consumer.org_id, w.c.dept.id)
    assert ev.reason == f"sql_sm3={sm3_hex(sql.encode())}" == f"sql_sm3={body['sql_sm3']}"
    assert ev.seal_seq is not None and ev.end_user == w.consumer.display_name


def test_r_shr_5_the_view_has_granted_items_only_and_masked_ones_masked(db, setup):
    w, grant = setup
    body = run(db, Staff(w.consumer), grant.id, "SELECT * FROM granted ORDER BY 公民身份号码 LIMIT 3")
    assert body["columns"] == list(ITEMS) and body["masked"] == ["姓名"]
    source = {r[0]: r for r in person_rows(40)}
    for id_number, name, sex, address in body["rows"]:
        assert name == grants.mask_value("姓名", source[id_number][1]) and "*" in name
        assert sex == "2" and address == source[id_number][4]
    with pytest.raises(Invalid) as e:  # 出生日期 is in the snapshot, not in the grant
        run(db, Staff(w.consumer), grant.id, "SELECT 出生日期 FROM granted")
    assert "出生日期" in e.value.message
    ev = last_event(db, grant_id=grant.id)
    assert ev.result == "denied" and ev.reason.startswith("sql_refused 出生日期; sql_sm3=")
    with pytest.raises(Invalid):  # the raw column names of the snapshot are not reachable either
        run(db, Staff(w.consumer), grant.id, "SELECT c2 FROM granted")


def test_r_shr_5_row_limit_cuts_and_says_so(db, setup):
    w, grant = setup
    body = run(db, Staff(w.consumer), grant.id, "SELECT 公民身份号码 FROM granted", max_rows=7)
    assert body["row_count"] == 7 and body["truncated"]
    with pytest.raises(Invalid) as e:
        run(db, Staff(w.consumer), grant.id, "SELECT 1 FROM granted", max_rows=analysis.MAX_ROWS + 1)
    assert e.value.field == "max_rows"


def test_r_shr_5_time_limit_stops_a_query(db, setup):
    w, grant = setup
    slow = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) "
            "SELECT count(*) FROM r, granted")
    with pytest.raises(Invalid) as e:
        run(db, Staff(w.consumer), grant.id, slow, timeout_s=0.5)
    assert "0.5" in e.value.message
    assert last_event(db, grant_id=grant.id).result == "error"


REACH_OUT = [
    ("SELECT * FROM granted g JOIN share_grant s ON s.id = 1", "share_grant"),
    ("SELECT * FROM granted, information_schema.tables", "information_schema.tables"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv"),
    ("SELECT * FROM 'snapshots/1/l1.parquet'", ""),
    ("SELECT * FROM glob('/*')", "glob"),
    ("COPY granted TO '/tmp/out.csv'", "COPY"),
    ("ATTACH '/tmp/x.db' AS x", "ATTACH"),
    ("PRAGMA database_list", "PRAGMA"),
    ("SET enable_external_access = true", "SET"),
    ("SELECT 1 FROM granted; SELECT * FROM granted", "multiple statements"),
    ("SELECT getenv('HOME') FROM granted", "getenv"),
    ("SELECT current_setting('allowed_paths') FROM granted", "current_setting"),
    ("INSTALL httpfs", "INSTALL"),
    ("CREATE TABLE x AS SELECT * FROM granted", "CREATE"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
]


@pytest.mark.parametrize("sql, construct", REACH_OUT)
def test_r_shr_5_sql_reaching_outside_the_view_is_refused_and_logged(db, setup, sql, construct):
    w, grant = setup
    with pytest.raises(Invalid) as e:
        run(db, Staff(w.consumer), grant.id, sql)
    assert e.value.field == "sql" and e.value.message != e.value.message_en
    ev = last_event(db, grant_id=grant.id)
    assert ev.result == "denied" and ev.reason.startswith("sql_refused")
    assert construct.lower() in ev.reason.lower()
    assert ev.reason.endswith(f"sql_sm3={sm3_hex(sql.encode())}")


def test_r_shr_5_a_conversion_error_does_not_show_the_value(db, setup):
    w, grant = setup
    with pytest.raises(Invalid) as e:
        run(db, Staff(w.consumer), grant.id, "SELECT sum(CAST(户籍地址 AS INTEGER)) FROM granted")
    assert "东莞" not in e.value.message + e.value.message_en and "TRY_CAST" in e.value.message
    body = run(db, Staff(w.consumer), grant.id, "SELECT count(TRY_CAST(户籍地址 AS INTEGER)) AS n FROM granted")
    assert body["rows"] == [[0]]


# --- every way to read beyond the grant ---

def test_r_shr_5_another_consumer_other_entry_and_other_mode_are_refused_and_logged(f, db, setup, tmp_path):
    w, grant = setup
    stranger = f.actor(f.org(), ("dept_officer",))
    with pytest.raises(Forbidden) as e:
        run(db, Staff(stranger), grant.id, "SELECT count(*) FROM granted")
    assert e.value.details[0]["reason"] == "other_consumer"
    ev = last_event(db, grant_id=grant.id)
    assert (ev.result, ev.reason.split(";")[0], ev.consumer_org_id, ev.source_org_id) == \
        ("denied", "other_consumer", stranger.org_id, w.c.dept.id)
    api = active_grant(db, w, mode="api")  # the same consumer, the same entry, another mode
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w.consumer), api.id, "SELECT count(*) FROM granted")
    assert e.value.details[0]["reason"] == "wrong_mode"
    with pytest.raises(Forbidden):
        run(db, Staff(w.consumer), 99999, "SELECT count(*) FROM granted")
    assert last_event(db, grant_id=99999).reason.startswith("no_grant")
    with pytest.raises(Forbidden):  # the auditor may read the logs, not the data
        run(db, Staff(w.c.auditor), grant.id, "SELECT count(*) FROM granted")
    assert last_event(db, grant_id=grant.id).result == "denied"


def test_r_shr_5_after_expiry_or_revocation_nothing_runs(db, setup):
    w, grant = setup
    grant.expires_on = tasks.today() - timedelta(days=1)
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w.consumer), grant.id, "SELECT count(*) FROM granted")
    assert e.value.details[0]["reason"] == "expired"
    grant.expires_on = tasks.today() + timedelta(days=10)
    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="项目结束")
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w.consumer), grant.id, "SELECT count(*) FROM granted")
    assert e.value.details[0]["reason"] == "revoked"
    assert last_event(db, grant_id=grant.id).reason.startswith("revoked; sql_sm3=")


def test_r_shr_5_applications_need_credentials_end_user_and_purpose(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=10)
    app, secret = apps.register(db, actor=w.consumer, name="决策分析系统")
    other_app, other_secret = apps.register(db, actor=w.consumer, name="另一个系统")
    grant = analysis_grant(db, w, application_id=app.id)
    call = access.Call(client_id=app.client_id, secret=secret, end_user="李四", purpose="FX-2026-9")
    body = run(db, call, grant.id, "SELECT count(*) AS n FROM granted")
    assert body["rows"] == [[10]]
    ev = last_event(db, grant_id=grant.id)
    assert (ev.application_id, ev.end_user, ev.purpose) == (app.id, "李四", "FX-2026-9")
    with pytest.raises(Invalid) as e:
        run(db, access.Call(client_id=app.client_id, secret=secret, end_user="", purpose="x"), grant.id,
            "SELECT 1 FROM granted")
    assert e.value.details[0]["reason"] == "missing_end_user"
    assert last_event(db, grant_id=grant.id).result == "denied"
    with pytest.raises(Unauthenticated):
        run(db, access.Call(client_id=app.client_id, secret=secret + "x", end_user="李四", purpose="p"), grant.id,
            "SELECT 1 FROM granted")
    assert last_event(db, grant_id=grant.id).reason.startswith("bad_credential")
    with pytest.raises(Forbidden) as e:  # the grant is bound to the first application
        run(db, access.Call(client_id=other_app.client_id, secret=other_secret, end_user="李四", purpose="p"),
            grant.id, "SELECT 1 FROM granted")
    assert e.value.details[0]["reason"] == "other_application"


def test_r_shr_5_analysis_route_for_applications(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=6)
    app, secret = apps.register(db, actor=w.consumer, name="决策分析系统")
    grant = analysis_grant(db, w)
    db.commit()
    headers = {"X-Client-Id": app.client_id, "X-Client-Secret": secret, "X-End-User": "analyst",
               "X-Purpose": "FX-1"}
    url = f"/api/v1/share/grants/{grant.id}/analysis"
    r = client.post(url, headers=headers, json={"sql": "SELECT 性别, count(*) AS n FROM granted GROUP BY 1 ORDER BY 1"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [["1", 3], ["2", 3]]
    refused = client.post(url, headers=headers, json={"sql": "SELECT * FROM granted; DROP VIEW granted"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "sql"
    db.expire_all()
    assert last_event(db, grant_id=grant.id).result == "denied"

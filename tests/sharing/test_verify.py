"""Verification and comparison (R-SHR-4, R-SHR-10): match / no match / not found, never the value — also for
data not shared; only granted items, only rows in scope; rate-limited; every check logged with key digests."""

from __future__ import annotations

import datetime as dt
import json
import random
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from sqlalchemy import select

from gongshu.config import get_settings
from gongshu.crypto import sm2
from gongshu.errors import Forbidden, Invalid, Unauthenticated
from gongshu.sharing.models import AccessEvent, AccessSubject
from gongshu.sharing.service import access, apps, evidence, grants, projection, requests, verify
from gongshu.sharing.service.projection import Staff
from gongshu.store import registry
from gongshu.store.service import Column, arrow_schema
from gongshu.tasks import service as tasks
from tests.ingest.helpers import make_id, person_rows
from tests.sharing.helpers import World, active_grant, ask, world

NOT_SHARED = {"sharing_type": "不予共享", "sharing_condition": "", "sharing_basis": "《中华人民共和国个人信息保护法》",
              "open_type": "不予开放"}


@pytest.fixture(autouse=True)
def platform(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GONGSHU_DATA_KEY", "12" * 32)
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    verify.limits.reset()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    verify.limits.reset()


def verify_grant(db, w: World, *, items=("性别", "出生日期", "姓名"), row_scope=None, application_id=None):
    req = ask(db, w, items=items, mode="verify", row_scope=row_scope or {}, application_id=application_id)
    return requests.approve(db, actor=w.c.officer, request_id=req.id)


def run(db, who, grant_id, body):
    return access.finish(verify.check(db, who=who, grant_id=grant_id, body=body))


def events(db, grant_id) -> list[AccessEvent]:
    return list(db.scalars(select(AccessEvent).where(AccessEvent.operation == "verify",
                                                     AccessEvent.grant_id == grant_id).order_by(AccessEvent.id)))


def subjects(db, event_id) -> set[str]:
    return set(db.scalars(select(AccessSubject.key_digest).where(AccessSubject.event_id == event_id)))


@pytest.fixture
def setup(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=30, **NOT_SHARED)
    return w, verify_grant(db, w)


def test_r_shr_4_not_shared_data_answers_match_no_match_not_found_and_never_the_value(db, setup):
    w, grant = setup
    k = make_id(2)  # 张三2, 女 (2), born 1985-03-12
    checks = [
        {"key": k, "item": "性别", "value": "2"},
        {"key": k, "item": "性别", "value": "1"},
        {"key": make_id(999), "item": "性别", "value": "2"},
        {"key": k, "item": "出生日期", "value": "1985-03-12"},
        {"key": k, "item": "出生日期", "value": "19850312"},
        {"key": k, "item": "出生日期", "min": "1985-01-01", "max": "1985-12-31"},
        {"key": k, "item": "出生日期", "min": "1990-01-01"},
        {"key": k, "item": "出生日期", "max": "1985-03-12"},
        {"key": k, "item": "姓名", "value": " 张三2 "},
        {"key": k, "item": "姓名", "value": "张三"},
    ]
    body = run(db, Staff(w.consumer, purpose="婚姻登记-核验"), grant.id, {"checks": checks})
    assert body["results"] == ["match", "no_match", "not_found", "match", "match", "match", "no_match", "match",
                               "match", "no_match"]
    assert body["counts"] == {"match": 6, "no_match": 3, "not_found": 1}
    text = json.dumps(body, ensure_ascii=False)
    assert "张三2" not in text and "1985" not in text and k not in text  # nothing of the record comes back
    (ev,) = events(db, grant.id)
    assert (ev.result, ev.keys, ev.rows, ev.purpose, ev.source_org_id) == ("ok", 10, 9, "婚姻登记-核验", w.c.dept.id)
    assert ev.items == ["性别", "出生日期", "姓名"]
    assert subjects(db, ev.id) == {evidence.subject_digest(k), evidence.subject_digest(make_id(999))}
    assert ev.seal_seq is not None


def test_r_shr_10_a_single_check_and_a_batch_agree_with_the_data(db, setup):
    w, grant = setup
    assert run(db, Staff(w.consumer), grant.id, {"key": make_id(7), "item": "性别", "value": "1"})["results"] == \
        ["match"]
    rows = {r[0]: r for r in person_rows(30)}
    rnd = random.Random(9)
    checks, expected = [], []
    for _ in range(500):
        n = rnd.randrange(1, 40)
        key = make_id(n)
        sex = rnd.choice("12")
        checks.append({"key": key.lower() if rnd.random() < 0.2 else key, "item": "性别", "value": sex})
        expected.append("not_found" if key not in rows else "match" if rows[key][2] == sex else "no_match")
    assert run(db, Staff(w.consumer), grant.id, {"checks": checks})["results"] == expected


def test_r_shr_4_only_granted_items_can_be_checked_and_refusals_are_logged_with_key_digests(db, setup):
    w, grant = setup
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w.consumer), grant.id, {"key": make_id(2), "item": "户籍地址", "value": "东莞市南城街道2号"})
    assert e.value.details[0] == {"reason": "item_not_granted", "items": ["户籍地址"]}
    ev = events(db, grant.id)[-1]
    assert (ev.result, ev.reason) == ("denied", "item_not_granted")
    assert subjects(db, ev.id) == {evidence.subject_digest(make_id(2))}
    with pytest.raises(Forbidden):  # the key itself is no granted item to compare
        run(db, Staff(w.consumer), grant.id, {"key": make_id(2), "item": "公民身份号码", "value": make_id(2)})


@pytest.mark.parametrize("body, field", [
    ({"key": "x", "item": "姓名", "min": "a"}, "min"),  # a range on text
    ({"key": "x", "item": "出生日期", "value": "去年"}, "value"),
    ({"key": "x", "item": "出生日期", "value": "1985-03-12", "max": "1990-01-01"}, "value"),
    ({"key": "x", "item": "性别"}, "value"),
    ({"checks": []}, "checks"),
    ({"checks": [{"key": "", "item": "性别", "value": "1"}]}, "key"),
    ({"checks": [{"key": ["a", "b"], "item": "性别", "value": "1"}]}, "key"),  # the key has one part
    (b"{not json", "body"),
])
def test_bad_checks_are_a_clear_422(db, setup, body, field):
    w, grant = setup
    with pytest.raises(Invalid) as e:
        run(db, Staff(w.consumer), grant.id, body)
    assert e.value.field == field and e.value.message != e.value.message_en


def test_r_shr_10_batches_of_up_to_10000(db, setup):
    w, grant = setup
    checks = [{"key": make_id(i % 50), "item": "性别", "value": "1"} for i in range(verify.MAX_CHECKS)]
    body = run(db, Staff(w.consumer), grant.id, {"checks": checks})
    assert len(body["results"]) == verify.MAX_CHECKS and body["counts"]["not_found"] == 20 * 200
    with pytest.raises(Invalid) as e:
        run(db, Staff(w.consumer), grant.id, {"checks": checks + checks[:1]})
    assert e.value.details == [{"reason": "too_many_checks"}]


def test_r_shr_4_rows_outside_the_scope_are_not_found_and_logged_as_denied(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=10, **NOT_SHARED)
    grant = verify_grant(db, w, row_scope={"性别": ["2"]})
    body = run(db, Staff(w.consumer), grant.id, {"checks": [{"key": make_id(2), "item": "出生日期", "value": "19850312"},
                                                            {"key": make_id(3), "item": "出生日期", "value": "19850312"}]})
    assert body["results"] == ["match", "not_found"]  # person 3 exists, but is outside the grant's rows
    ok, hidden = events(db, grant.id)
    assert (ok.result, ok.keys) == ("ok", 1) and subjects(db, ok.id) == {evidence.subject_digest(make_id(2))}
    assert (hidden.result, hidden.reason, hidden.keys) == ("denied", "row_out_of_scope", 1)
    assert subjects(db, hidden.id) == {evidence.subject_digest(make_id(3))}


def test_r_shr_4_other_consumers_modes_and_dead_grants_are_refused_and_logged(f, db, setup, tmp_path):
    w, grant = setup
    check = {"key": make_id(2), "item": "性别", "value": "2"}
    stranger = f.actor(f.org(), ("dept_officer",))
    with pytest.raises(Forbidden) as e:
        run(db, Staff(stranger), grant.id, check)
    assert e.value.details[0]["reason"] == "other_consumer"
    ev = events(db, grant.id)[-1]
    assert (ev.result, ev.consumer_org_id, ev.source_org_id) == ("denied", stranger.org_id, w.c.dept.id)
    assert subjects(db, ev.id) == {evidence.subject_digest(make_id(2))}
    (tmp_path / "b").mkdir()
    w2 = world(f, db, tmp_path / "b", rows=5)  # shared data, granted for the API: not for verification
    api = active_grant(db, w2, mode="api")
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w2.consumer), api.id, check)
    assert e.value.details[0]["reason"] == "wrong_mode"
    grant.expires_on = tasks.today() - timedelta(days=1)
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w.consumer), grant.id, check)
    assert e.value.details[0]["reason"] == "expired"
    grant.expires_on = tasks.today() + timedelta(days=1)
    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="核验事项取消")
    with pytest.raises(Forbidden) as e:
        run(db, Staff(w.consumer), grant.id, check)
    assert e.value.details[0]["reason"] == "revoked"
    assert [e.reason for e in events(db, grant.id)][-2:] == ["expired", "revoked"]


def test_r_shr_4_rate_limited_per_consumer(db, setup, monkeypatch):
    w, grant = setup
    monkeypatch.setattr(verify, "limits", projection.Bucket(per_minute=60, burst=5))
    check = {"key": make_id(2), "item": "性别", "value": "2"}
    assert run(db, Staff(w.consumer), grant.id, {"checks": [check] * 5})["counts"]["match"] == 5
    with pytest.raises(access.RateLimited) as e:
        run(db, Staff(w.consumer), grant.id, check)
    assert e.value.status == 429 and e.value.retry_after >= 1
    assert events(db, grant.id)[-1].reason == "rate_limited"


def test_r_shr_10_applications_verify_with_credentials_end_user_and_purpose(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=5, **NOT_SHARED)
    app, secret = apps.register(db, actor=w.consumer, name="不动产登记系统")
    grant = verify_grant(db, w, application_id=app.id)
    call = access.Call(client_id=app.client_id, secret=secret, end_user="王五", purpose="BDC-2026-0042")
    assert run(db, call, grant.id, {"key": make_id(1), "item": "性别", "value": "1"})["results"] == ["match"]
    ev = events(db, grant.id)[-1]
    assert (ev.application_id, ev.end_user, ev.purpose, ev.consumer_org_id) == \
        (app.id, "王五", "BDC-2026-0042", w.consumer.org_id)
    with pytest.raises(Invalid) as e:
        run(db, access.Call(client_id=app.client_id, secret=secret, end_user="王五", purpose=""), grant.id,
            {"key": make_id(1), "item": "性别", "value": "1"})
    assert e.value.details[0]["reason"] == "missing_purpose"
    with pytest.raises(Unauthenticated):
        run(db, access.Call(client_id="gsa_nobody", secret="x", end_user="王五", purpose="p"), grant.id,
            {"key": make_id(1), "item": "性别", "value": "1"})
    assert events(db, grant.id)[-1].reason == "bad_credential"


def test_r_shr_10_verify_route_for_applications(f, db, tmp_path, client):
    w = world(f, db, tmp_path, rows=5, **NOT_SHARED)
    app, secret = apps.register(db, actor=w.consumer, name="社保待遇核验系统")
    grant = verify_grant(db, w, application_id=app.id)
    db.commit()
    headers = {"X-Client-Id": app.client_id, "X-Client-Secret": secret, "X-End-User": "%E8%B5%B5%E5%85%AD",
               "X-Purpose": "SB-2026-7"}
    url = f"/api/v1/share/grants/{grant.id}/verify"
    r = client.post(url, headers=headers, json={"checks": [{"key": make_id(1), "item": "性别", "value": "1"},
                                                           {"key": make_id(2), "item": "性别", "value": "1"}]})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == ["match", "no_match"]
    bad = client.post(url, headers=headers, content=b"{oops")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "body"
    no_user = client.post(url, headers={**headers, "X-End-User": ""}, json={"key": make_id(1), "item": "性别",
                                                                            "value": "1"})
    assert no_user.status_code == 422
    db.expire_all()
    evs = events(db, grant.id)
    assert [e.result for e in evs] == ["ok", "error", "denied"] and evs[0].end_user == "赵六"
    assert subjects(db, evs[0].id) == {evidence.subject_digest(make_id(1)), evidence.subject_digest(make_id(2))}


def test_r_shr_10_store_reads_a_batch_of_keys_in_one_statement_also_compound_and_typed():
    """The data step of a batch (``ResourceStore.lookup_many``), on both databases: compound keys, typed keys,
    duplicates and keys that are no value of the key's type."""
    cols = [Column("c1", "年度", "I", key=True), Column("c2", "登记日期", "D", key=True), Column("c3", "金额", "Y")]
    data = pa.table({"c1": [2024, 2024, 2025], "c2": [dt.date(2024, 1, 2), dt.date(2024, 5, 6), dt.date(2025, 1, 2)],
                     "c3": ["1.50", "2.00", None]}).cast(arrow_schema(cols, labels=False))
    store = registry.get_store()
    store.write_batches("rd_verify_t", cols, data.to_batches(), create=True, index=True)
    found = store.lookup_many("rd_verify_t", cols, [(2024, "2024-05-06"), ("2025", dt.date(2025, 1, 2)),
                                                     (2024, "2024-05-06"), ("x", "2024-01-02"), (2024, "2024-01-03")])
    got = sorted(found.to_pylist(), key=lambda r: r["c1"])
    assert [(r["c1"], r["c2"], r["c3"]) for r in got] == [(2024, dt.date(2024, 5, 6), Decimal("2.00")),
                                                          (2025, dt.date(2025, 1, 2), None)]
    assert found.schema.field("c3").type == pa.decimal128(18, 2)
    assert store.lookup_many("rd_verify_t", cols, []).num_rows == 0
    with pytest.raises(Invalid):
        store.lookup_many("rd_verify_t", cols, [(2024,)])

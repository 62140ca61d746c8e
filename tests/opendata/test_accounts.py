"""Accounts of the open data portal (R-OPN-3): registration of natural and legal persons, sign-in with a
lockout, real-name verification against the base libraries (only match / no match, limited attempts, the ID
number kept masked and as a digest), API keys (shown once, hashed, scoped, expiring, revocable, rate-limited)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from gongshu.audit.models import AuditEvent
from gongshu.errors import Conflict, Forbidden, Invalid, Unauthenticated
from gongshu.kit.hashing import sm3_hex
from gongshu.library.service import build
from gongshu.opendata.models import OpenAccount, OpenApiKey
from gongshu.opendata.service import accounts
from gongshu.sharing.service import evidence
from tests.ingest.helpers import make_id
from tests.library.test_person_library import person_city


def _register(db, username="zhang.san", kind="person"):
    return accounts.register(db, kind=kind, username=username, display_name="张三", password="s3cret-pass",
                             email="zs@example.cn")


def test_r_opn_3_registration_checks_its_input(db):
    for kw, field in (({"kind": "robot"}, "kind"), ({"username": "x"}, "username"), ({"username": "Zhang San"}, "username"),
                      ({"password": "short"}, "password"), ({"email": "no-at-sign"}, "email"),
                      ({"display_name": " "}, "display_name")):
        args = dict(kind="person", username="zhang.san", display_name="张三", password="s3cret-pass", email="")
        args.update(kw)
        with pytest.raises(Invalid) as exc:
            accounts.register(db, **args)
        assert exc.value.field == field and exc.value.message and exc.value.message_en
    a = _register(db)
    assert a.password_hash.startswith("$argon2") and a.verified_at is None
    with pytest.raises(Conflict):
        _register(db)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "opendata.account.register")) is not None


def test_r_opn_3_sign_in_locks_after_repeated_failures(db):
    _register(db)
    assert accounts.authenticate(db, username="ZHANG.SAN", password="s3cret-pass").username == "zhang.san"
    for _ in range(accounts.LOCK_AFTER):
        with pytest.raises(Unauthenticated):
            accounts.authenticate(db, username="zhang.san", password="wrong")
    with pytest.raises(Unauthenticated) as exc:
        accounts.authenticate(db, username="zhang.san", password="s3cret-pass")
    assert "锁定" in exc.value.message
    with pytest.raises(Unauthenticated):
        accounts.authenticate(db, username="nobody", password="s3cret-pass")


def test_r_opn_3_real_name_verification_against_the_person_library(f, db, tmp_path):
    c, admin, *_ = person_city(f, db, tmp_path)
    build.build(db, actor=admin, kind="person")
    a = _register(db)
    with pytest.raises(Invalid) as wrong:
        accounts.verify_real_name(db, account=a, identifier=make_id(3), name="李四")
    with pytest.raises(Invalid) as unknown:
        accounts.verify_real_name(db, account=a, identifier=make_id(99), name="张四3")
    # a mismatch and an identifier the library does not have get the same answer (no oracle)
    assert wrong.value.message.split("；")[0] == unknown.value.message.split("；")[0]
    with pytest.raises(Invalid) as bad:
        accounts.verify_real_name(db, account=a, identifier="123", name="张四3")
    assert bad.value.field == "identifier"
    accounts.verify_real_name(db, account=a, identifier=make_id(3).lower(), name=" 张四3 ")
    assert a.verified_at is not None and a.real_name == "张四3" and "*" in a.identifier_shown
    assert a.identifier_digest == evidence.subject_digest(make_id(3)) and make_id(3) not in a.identifier_shown
    assert a.verify_attempts == 3  # two failures and the success; the malformed number was refused unchecked
    with pytest.raises(Conflict):
        accounts.verify_real_name(db, account=a, identifier=make_id(3), name="张四3")
    b = _register(db, username="li.si")
    with pytest.raises(Conflict):  # one identifier verifies one account
        accounts.verify_real_name(db, account=b, identifier=make_id(3), name="张四3")
    checks = db.scalars(select(AuditEvent).where(AuditEvent.action == "opendata.account.verify")).all()
    assert len(checks) == 4 and all(make_id(3) not in (e.detail or "") for e in checks)
    c2 = _register(db, username="wang.wu")
    c2.verify_attempts = accounts.MAX_VERIFY_ATTEMPTS
    with pytest.raises(Forbidden):
        accounts.verify_real_name(db, account=c2, identifier=make_id(4), name="张五4")


def test_r_opn_3_a_legal_person_without_an_entity_library_is_not_verified(f, db):
    a = _register(db, username="acme", kind="legal")
    with pytest.raises(Invalid) as exc:
        accounts.verify_real_name(db, account=a, identifier="91441900MA4UXXXX1X", name="某某公司")
    assert exc.value.field == "identifier"  # the USCC's check character is wrong
    with pytest.raises(Invalid) as exc:
        accounts.verify_real_name(db, account=a, identifier=f.org().uscc, name="某某公司")
    assert "实名认证未通过" in exc.value.message and a.verified_at is None


def test_r_opn_3_api_keys_are_shown_once_hashed_scoped_expiring_revocable_and_rate_limited(db):
    a = _register(db)
    with pytest.raises(Forbidden):
        accounts.create_key(db, account=a, name="小程序", scopes=["rows"], days=30)
    db.execute(update(OpenAccount).where(OpenAccount.id == a.id).values(verified_at=a.created_at))
    db.refresh(a)
    for kw, field in (({"scopes": []}, "scopes"), ({"scopes": ["admin"]}, "scopes"), ({"days": 0}, "days"),
                      ({"name": ""}, "name")):
        args = dict(name="小程序", scopes=["rows"], days=30)
        args.update(kw)
        with pytest.raises(Invalid) as exc:
            accounts.create_key(db, account=a, **args)
        assert exc.value.field == field
    plain, key = accounts.create_key(db, account=a, name="小程序", scopes=["rows"], days=30)
    assert plain.startswith("gso_") and key.key_hash == sm3_hex(plain.encode()) and plain not in str(key.__dict__)
    assert accounts.key_account(db, key=plain, scope="rows").id == a.id and key.last_used_at is not None
    with pytest.raises(Forbidden):
        accounts.key_account(db, key=plain, scope="download")
    for bad in ("", "gso_x", plain[:-1] + ("A" if plain[-1] != "A" else "B"), "gs_123_abc"):
        with pytest.raises(Unauthenticated):
            accounts.key_account(db, key=bad, scope="rows")
    key.rate_per_minute = 1
    db.flush()
    accounts._buckets.clear()
    accounts.key_account(db, key=plain, scope="rows")
    with pytest.raises(accounts.RateLimited) as exc:
        accounts.key_account(db, key=plain, scope="rows")
    assert exc.value.status == 429 and exc.value.retry_after >= 1
    accounts.revoke_key(db, account=a, key_id=key.id)
    with pytest.raises(Unauthenticated):
        accounts.key_account(db, key=plain, scope="rows")


def test_r_opn_3_register_verify_and_get_a_key_in_the_browser(f, db, client, tmp_path):
    c, admin, *_ = person_city(f, db, tmp_path)
    build.build(db, actor=admin, kind="person")
    db.commit()
    page = client.get("/open/account/register")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/open/account/register", data={"form_token": "forged", "kind": "person", "username": "zs",
                                                     "display_name": "张三", "password": "s3cret-pass"})
    assert r.status_code == 422 and "表单已失效" in r.text
    page = client.get("/open/account/register")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/open/account/register", data={"form_token": token, "kind": "person", "username": "zhang.san",
                                                     "display_name": "张三", "password": "s3cret-pass"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/open/account")
    page = client.get("/open/account")
    assert page.status_code == 200 and 'id="verify-form"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/open/account/verify", data={"csrf_token": "nope", "identifier": make_id(3), "name": "张四3"})
    assert r.status_code == 403
    r = client.post("/open/account/verify", data={"csrf_token": csrf, "identifier": make_id(3), "name": "李四"})
    assert r.status_code == 422 and "还可尝试 4 次" in r.text  # the failed attempt counted (and was kept)
    r = client.post("/open/account/verify", data={"csrf_token": csrf, "identifier": make_id(3), "name": "张四3"})
    assert r.status_code == 200 and "已认证" in r.text and make_id(3) not in r.text
    r = client.post("/open/account/keys", data={"csrf_token": csrf, "name": "小程序", "scopes": ["rows", "download"],
                                                 "days": "90"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    plain = re.search(r'id="new-key">([^<]+)<', r.text).group(1)
    assert plain not in client.get("/open/account").text  # shown once
    db.expire_all()
    assert db.scalar(select(OpenApiKey).where(OpenApiKey.key_hash == sm3_hex(plain.encode()))).scopes == \
        ["download", "rows"]
    assert client.get("/workbench", follow_redirects=False).headers["location"].startswith("/login")  # no workbench
    r = client.post("/open/account/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/open/account", follow_redirects=False).headers["location"].startswith("/open/account/login")

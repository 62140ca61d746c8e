"""R-SEC-4: identity, per-role authorization, sessions with CSRF, scoped API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.auth import service as auth
from gongshu.auth.actions import ACTIONS, declare
from gongshu.auth.models import ApiToken, User
from gongshu.errors import Forbidden, Invalid, Unauthenticated
from tests.factories import PASSWORD, login


def test_deny_by_default_and_role_check_R_SEC_4(f):
    officer = f.actor()
    auditor = f.actor(roles=("auditor",))
    assert not auth.can(officer, "no.such.action")
    with pytest.raises(Forbidden):
        auth.require(officer, "no.such.action")
    with pytest.raises(Forbidden) as e:
        auth.require(officer, "audit.view")
    assert "审计监督员" in e.value.message
    auth.require(auditor, "audit.view")


def test_own_org_scope(f):
    if "test.own" not in ACTIONS:
        declare("test.own", "测试本单位", "test own", {"dept_officer"}, scope="own_org")
    a = f.actor()
    auth.require(a, "test.own", org_id=a.org_id)
    with pytest.raises(Forbidden):
        auth.require(a, "test.own", org_id=a.org_id + 1000)


def test_org_needs_valid_uscc(f):
    with pytest.raises(Invalid) as e:
        f.s.flush()
        from gongshu.auth.service import SYSTEM, create_org
        create_org(f.s, actor=SYSTEM, name="坏码局", short_name="坏码", kind="department", uscc="91350100M000100Y44")
    assert e.value.field == "uscc"


def test_password_is_argon2_and_lockout(f, db):
    u = f.user()
    assert u.password_hash.startswith("$argon2")
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            auth.authenticate(db, username=u.username, password="wrong-password")
    with pytest.raises(Unauthenticated) as e:
        auth.authenticate(db, username=u.username, password=PASSWORD)
    assert "锁定" in e.value.message
    fails = db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login.fail",
                                                AuditEvent.subject_id == str(u.id))).all()
    assert len(fails) == 5


def test_login_page_session_and_csrf(f, client, db):
    u = f.user()
    db.commit()
    csrf = login(client, u)
    r = client.post("/workbench/tokens", data={"name": "t", "scopes": "catalog.*", "days": 30})
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/workbench/tokens", data={"name": "t", "scopes": "auth.*", "days": 30, "csrf_token": csrf})
    assert r.status_code == 200 and "gs_" in r.text


def test_wrong_password_page_is_4xx_not_500(f, client, db):
    u = f.user()
    db.commit()
    page = client.get("/login")
    r = client.post("/login", data={"username": u.username, "password": "nope", "login_csrf":
                                     page.cookies.get("gongshu_login_csrf")})
    assert r.status_code == 401 and "用户名或密码错误" in r.text


def test_api_token_scoped_expiring_revocable_R_SEC_4(f, db, client):
    u = f.user(roles=("auditor",))
    actor = auth.actor_for(db, u)
    plain, tok = auth.create_token(db, actor=actor, name="ci", scopes=["auth.*"], days=30)
    db.commit()
    stored = db.get(ApiToken, tok.id)
    assert plain not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
    h = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/me", headers=h).json()["username"] == u.username
    # the token's scopes do not include audit.view although the user's role does
    r = client.get("/api/v1/audit/events", headers=h)
    assert r.status_code == 403 and "令牌" in r.json()["error"]["message"]
    stored.expires_at = stored.expires_at - timedelta(days=31)
    db.commit()
    r = client.get("/api/v1/me", headers=h)
    assert r.status_code == 401 and "过期" in r.json()["error"]["message"]
    stored.expires_at = stored.expires_at + timedelta(days=60)
    auth.revoke_token(db, actor=actor, token_id=tok.id)
    db.commit()
    assert client.get("/api/v1/me", headers=h).status_code == 401
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.token.revoke"))


def test_unknown_scope_rejected(f, db):
    actor = f.actor()
    with pytest.raises(Invalid):
        auth.create_token(db, actor=actor, name="x", scopes=["nothing.*"], days=3)


def test_user_created_with_audit(f, db):
    u = f.user()
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.user.create",
                                            AuditEvent.subject_id == str(u.id)))
    assert ev is not None and db.get(User, u.id).username == u.username

"""Bad input gets a clear bilingual 4xx, never a 500; an un-migrated database refuses to start."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from gongshu.db import NotMigrated, check_migrated


def test_unknown_api_path_is_bilingual_404(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["message_en"] == "Not found"


def test_validation_error_names_the_field(client, f, db):
    from gongshu.auth import service as auth

    u = f.user(roles=("authority_admin",))
    plain, _ = auth.create_token(db, actor=auth.actor_for(db, u), name="t", scopes=["*"], days=3)
    db.commit()
    r = client.put("/api/v1/calendar/overrides", json={"day": "2026-13-40", "is_workday": "maybe"},
                   headers={"Authorization": f"Bearer {plain}"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert {d["field"] for d in err["details"]} == {"day", "is_workday"} and "提交的内容有误" in err["message"]


def test_api_without_login_is_401(client):
    r = client.get("/api/v1/inbox")
    assert r.status_code == 401 and "登录" in r.json()["error"]["message"]


def test_page_without_login_redirects(client):
    r = client.get("/workbench", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_unmigrated_database_refuses(tmp_path):
    eng = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(NotMigrated) as e:
        check_migrated(eng)
    assert "gongshu db upgrade" in e.value.message


def test_english_switch(client):
    r = client.get("/login?lang=en")
    assert "Log in" in r.text or "Username" in r.text

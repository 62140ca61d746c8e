"""Consumer applications and their client credentials (R-SHR-5): secret shown once and stored as SM3 only,
constant-time checks, rotation and deactivation that take effect at once, permissions, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.kit.hashing import sm3_hex
from gongshu.sharing.models import Application
from gongshu.sharing.service import apps
from tests.catalog.helpers import cast


def _audit(db, action: str, app_id: int) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                    AuditEvent.subject_id == str(app_id))))


def test_r_shr_5_register_shows_the_secret_once_and_stores_only_its_sm3(f, db):
    c = cast(f)
    app, secret = apps.register(db, actor=c.other_officer, name="  不动产登记系统 ", rate_per_minute=1200)
    assert app.client_id.startswith("gsa_") and len(app.client_id) == 24
    assert app.org_id == c.other_dept.id and app.name == "不动产登记系统" and app.rate_per_minute == 1200
    assert len(secret) >= 43 and app.secret_sm3 == sm3_hex(secret.encode()) and app.secret_hint == secret[-4:]
    stored = db.get(Application, app.id)
    assert secret not in {stored.secret_sm3, stored.client_id, stored.name}
    (event,) = _audit(db, "sharing.app.register", app.id)
    assert event.actor_id == c.other_officer.user_id and secret not in event.detail
    assert json.loads(event.detail)["client_id"] == app.client_id
    other, other_secret = apps.register(db, actor=c.other_officer, name="第二个系统")
    assert other.client_id != app.client_id and other_secret != secret and other.rate_per_minute == apps.DEFAULT_RATE


def test_r_shr_5_authenticate_accepts_only_the_exact_secret(f, db):
    c = cast(f)
    app, secret = apps.register(db, actor=c.other_officer, name="不动产登记系统")
    client = apps.authenticate(db, client_id=app.client_id, secret=secret)
    assert (client.application_id, client.org_id, client.client_id) == (app.id, app.org_id, app.client_id)
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for cid, sec, reason in ((app.client_id, tampered, "bad_credential"), (app.client_id, secret + "x", "bad_credential"),
                             ("gsa_" + "0" * 20, secret, "bad_credential"), (app.client_id, "", "missing_credential"),
                             ("", secret, "missing_credential"), ("x" * 500, secret, "bad_credential")):
        with pytest.raises(apps.BadCredential) as exc:
            apps.authenticate(db, client_id=cid, secret=sec)
        assert exc.value.reason == reason and exc.value.status == 401
    with pytest.raises(apps.BadCredential) as exc:
        apps.authenticate(db, client_id=app.client_id, secret=tampered)
    assert exc.value.client is not None and exc.value.client.application_id == app.id  # logged against the app


def test_r_shr_5_rotation_stops_the_old_secret_at_once_even_when_cached(f, db):
    c = cast(f)
    app, old = apps.register(db, actor=c.other_officer, name="不动产登记系统")
    apps.authenticate(db, client_id=app.client_id, secret=old)  # now in the process's cache
    app2, new = apps.rotate(db, actor=c.other_officer, application_id=app.id)
    assert app2.id == app.id and new != old and app2.secret_sm3 == sm3_hex(new.encode()) and app2.rotated_at
    with pytest.raises(apps.BadCredential) as exc:
        apps.authenticate(db, client_id=app.client_id, secret=old)
    assert exc.value.reason == "bad_credential"
    assert apps.authenticate(db, client_id=app.client_id, secret=new).application_id == app.id
    (event,) = _audit(db, "sharing.app.rotate", app.id)
    assert event.before_digest != event.after_digest and new not in event.detail and old not in event.detail


def test_r_shr_5_deactivated_application_is_refused(f, db):
    c = cast(f)
    app, secret = apps.register(db, actor=c.other_officer, name="不动产登记系统")
    apps.authenticate(db, client_id=app.client_id, secret=secret)
    apps.deactivate(db, actor=c.other_officer, application_id=app.id, reason="系统下线")
    with pytest.raises(apps.BadCredential) as exc:
        apps.authenticate(db, client_id=app.client_id, secret=secret)
    assert exc.value.reason == "inactive_application"
    (event,) = _audit(db, "sharing.app.deactivate", app.id)
    assert json.loads(event.detail)["reason"] == "系统下线"
    with pytest.raises(Conflict):
        apps.deactivate(db, actor=c.other_officer, application_id=app.id)
    with pytest.raises(Conflict):
        apps.rotate(db, actor=c.other_officer, application_id=app.id)


def test_r_shr_5_only_the_departments_data_officer_manages_its_applications(f, db):
    c = cast(f)
    app, _ = apps.register(db, actor=c.other_officer, name="不动产登记系统")
    with pytest.raises(Forbidden):
        apps.register(db, actor=c.staff, name="工作人员不能登记")
    for act in (lambda a: apps.rotate(db, actor=a, application_id=app.id),
                lambda a: apps.deactivate(db, actor=a, application_id=app.id),
                lambda a: apps.set_rate(db, actor=a, application_id=app.id, rate_per_minute=10),
                lambda a: apps.get_application(db, actor=a, application_id=app.id)):
        with pytest.raises(Forbidden):
            act(c.officer)  # an officer of another department
    assert [a.id for a in apps.list_applications(db, actor=c.other_officer)] == [app.id]
    assert apps.list_applications(db, actor=c.officer) == []
    with pytest.raises(Forbidden):
        apps.list_applications(db, actor=c.officer, org_id=c.other_dept.id)
    assert app.id in [a.id for a in apps.list_applications(db, actor=c.auditor)]


def test_r_shr_5_application_input_is_validated(f, db):
    c = cast(f)
    for kw, field in (({"name": " "}, "name"), ({"name": "x" * 201}, "name"),
                      ({"name": "系统", "rate_per_minute": 0}, "rate_per_minute"),
                      ({"name": "系统", "rate_per_minute": "很多"}, "rate_per_minute"),
                      ({"name": "系统", "rate_per_minute": apps.MAX_RATE + 1}, "rate_per_minute")):
        with pytest.raises(Invalid) as exc:
            apps.register(db, actor=c.other_officer, **kw)
        assert exc.value.field == field and exc.value.message and exc.value.message_en
    app, secret = apps.register(db, actor=c.other_officer, name="系统")
    apps.authenticate(db, client_id=app.client_id, secret=secret)
    apps.set_rate(db, actor=c.other_officer, application_id=app.id, rate_per_minute=30)
    assert apps.authenticate(db, client_id=app.client_id, secret=secret).rate_per_minute == 30  # not the cached 6000
    assert _audit(db, "sharing.app.rate", app.id)

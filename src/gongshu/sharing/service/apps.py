"""Consumer applications (应用系统) and their client credentials for API mode (R-SHR-5).

A consumer department registers its systems; each gets a ``client_id`` (``gsa_…``) and a secret of 32
random bytes (URL-safe), shown once and stored only as its SM3 digest. Every API call presents both
(``X-Client-Id`` / ``X-Client-Secret``); :func:`authenticate` compares the digests in constant time. No slow
KDF: the secret is high-entropy (not a password), and every call checks it.

:func:`rotate` issues a new secret and the old one stops working at once; :func:`deactivate` stops the
application. Verified credentials are cached in the process so a call need not read the application row,
but the cache can never outlive a change: rotation and deactivation drop the entry at once and again when
their transaction commits, and an entry read before a change committed is not stored (a generation number
per client). Other processes (more API workers) drop an entry after :data:`CACHE_SECONDS` at the latest.

The consumer's data officer manages its applications (``sharing.app.manage``); the authority and auditors
see all (``sharing.view_all``). Every change is audited in the same transaction; services never commit.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, can, require
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound, Unauthenticated
from gongshu.kit.hashing import sm3_hex
from gongshu.sharing.models import Application
from gongshu.sharing.service import grants as _grants  # noqa: F401 - declares sharing.view_all, used below

declare("sharing.app.manage", "管理本部门的应用系统及其接口凭证（登记、更换密钥、停用）",
        "Manage one's department's applications and their client credentials (register, rotate, deactivate)",
        {"dept_officer"}, scope="own_org")

CLIENT_PREFIX = "gsa_"
SECRET_BYTES = 32
DEFAULT_RATE = 6000  # calls per minute
MAX_RATE = 1_000_000
MAX_NAME = 200
#: how long another process may keep a verified credential (this process forgets at once)
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Client:
    """An authenticated application, as the data path needs it (no ORM object, safe to cache)."""

    application_id: int
    org_id: int
    client_id: str
    name: str
    rate_per_minute: int


class BadCredential(Unauthenticated):
    """Refused credential; ``reason`` is missing_credential / bad_credential / inactive_application.
    ``client`` is the application when the client id was known (so the refusal can be logged against it)."""

    def __init__(self, reason: str, zh: str, en: str, client: Client | None = None) -> None:
        super().__init__(zh, en, details=[{"reason": reason}])
        self.reason = reason
        self.client = client


# The cache of verified credentials ------------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, tuple[str, Client, float]] = {}  # client_id -> (secret SM3, client, stored at)
_generation: dict[str, int] = {}


def _forget(client_id: str) -> None:
    with _lock:
        _generation[client_id] = _generation.get(client_id, 0) + 1
        _cache.pop(client_id, None)


def _forget_now_and_at_commit(session: Session, client_id: str) -> None:
    _forget(client_id)
    event.listen(session, "after_commit", lambda _s: _forget(client_id), once=True)


def _client(app: Application) -> Client:
    return Client(application_id=app.id, org_id=app.org_id, client_id=app.client_id, name=app.name,
                  rate_per_minute=app.rate_per_minute)


def authenticate(session: Session, *, client_id: str | None, secret: str | None) -> Client:
    """The application whose credentials these are; :class:`BadCredential` otherwise."""
    client_id, secret = (client_id or "").strip(), (secret or "").strip()
    if not client_id or not secret:
        raise BadCredential("missing_credential", "缺少应用凭证（请求头 X-Client-Id 和 X-Client-Secret）",
                            "Application credentials missing (headers X-Client-Id and X-Client-Secret)")
    digest = sm3_hex(secret.encode())
    cached = _cache.get(client_id)
    if cached is not None and time.monotonic() - cached[2] < CACHE_SECONDS and \
            secrets.compare_digest(cached[0], digest):
        return cached[1]
    generation = _generation.get(client_id, 0)
    app = session.scalar(select(Application).where(Application.client_id == client_id)) \
        if len(client_id) <= 40 else None
    if app is None or not secrets.compare_digest(app.secret_sm3, digest):
        raise BadCredential("bad_credential", "应用凭证无效（应用标识或密钥错误）", "Invalid application credentials",
                            client=_client(app) if app is not None else None)
    if not app.active:
        raise BadCredential("inactive_application", "该应用系统已停用", "This application has been deactivated",
                            client=_client(app))
    client = _client(app)
    with _lock:
        if _generation.get(client_id, 0) == generation:
            _cache[client_id] = (digest, client, time.monotonic())
    return client


# Managing applications ----------------------------------------------------------------------------

def _name(name: str | None) -> str:
    v = (name or "").strip()
    if not v:
        raise Invalid("请填写应用系统名称", "Give the application a name", field="name")
    if len(v) > MAX_NAME:
        raise Invalid(f"应用系统名称不能超过 {MAX_NAME} 个字", f"The name may have at most {MAX_NAME} characters",
                      field="name")
    return v


def _rate(rate: int | None) -> int:
    try:
        r = int(rate if rate is not None else DEFAULT_RATE)
    except (TypeError, ValueError):
        raise Invalid("调用频率上限应为每分钟次数", "The rate limit must be a number of calls per minute",
                      field="rate_per_minute") from None
    if not 1 <= r <= MAX_RATE:
        raise Invalid(f"调用频率上限应在每分钟 1 到 {MAX_RATE} 次之间", f"The rate limit must be 1 to {MAX_RATE} calls "
                      "per minute", field="rate_per_minute")
    return r


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return secret, sm3_hex(secret.encode())


def _state(app: Application) -> dict:
    return {"name": app.name, "client_id": app.client_id, "rate_per_minute": app.rate_per_minute,
            "active": app.active, "secret_hint": app.secret_hint}


def register(session: Session, *, actor: Actor, name: str,
             rate_per_minute: int | None = DEFAULT_RATE) -> tuple[Application, str]:
    """Register an application of the actor's department; returns it and its secret (shown this once)."""
    require(actor, "sharing.app.manage", org_id=actor.org_id)
    if actor.org_id is None:
        raise Invalid("应用系统必须属于一个部门", "An application belongs to a department", field="org_id")
    secret, digest = _new_secret()
    app = Application(org_id=actor.org_id, name=_name(name), client_id=CLIENT_PREFIX + secrets.token_hex(10),
                      secret_sm3=digest, secret_hint=secret[-4:], rate_per_minute=_rate(rate_per_minute),
                      active=True, created_by=actor.user_id)
    session.add(app)
    session.flush()
    audit.record(session, actor=actor, action="sharing.app.register", subject_type="share_application",
                 subject_id=app.id, after=_state(app), detail={"name": app.name, "client_id": app.client_id,
                                                              "rate_per_minute": app.rate_per_minute})
    return app, secret


def _managed(session: Session, actor: Actor, application_id: int) -> Application:
    app = session.get(Application, application_id)
    if app is None:
        raise NotFound(f"应用系统 {application_id} 不存在", f"Application {application_id} does not exist")
    require(actor, "sharing.app.manage", org_id=app.org_id)
    return app


def rotate(session: Session, *, actor: Actor, application_id: int) -> tuple[Application, str]:
    """A new secret (shown once); the old one stops working at once."""
    app = _managed(session, actor, application_id)
    if not app.active:
        raise Conflict("应用系统已停用，不能更换密钥", "The application is deactivated: its secret cannot be rotated")
    before = _state(app)
    secret, app.secret_sm3 = _new_secret()
    app.secret_hint, app.rotated_at = secret[-4:], utcnow()
    session.flush()
    _forget_now_and_at_commit(session, app.client_id)
    audit.record(session, actor=actor, action="sharing.app.rotate", subject_type="share_application",
                 subject_id=app.id, before=before, after=_state(app), detail={"client_id": app.client_id})
    return app, secret


def deactivate(session: Session, *, actor: Actor, application_id: int, reason: str = "") -> Application:
    """Stop an application: its credentials are refused from now on."""
    app = _managed(session, actor, application_id)
    if not app.active:
        raise Conflict("应用系统已经停用", "The application is already deactivated")
    before = _state(app)
    app.active = False
    session.flush()
    _forget_now_and_at_commit(session, app.client_id)
    audit.record(session, actor=actor, action="sharing.app.deactivate", subject_type="share_application",
                 subject_id=app.id, before=before, after=_state(app),
                 detail={"client_id": app.client_id, "reason": (reason or "").strip()[:200]})
    return app


def set_rate(session: Session, *, actor: Actor, application_id: int, rate_per_minute: int) -> Application:
    """Change an application's rate limit (calls per minute)."""
    app = _managed(session, actor, application_id)
    before = _state(app)
    app.rate_per_minute = _rate(rate_per_minute)
    session.flush()
    _forget_now_and_at_commit(session, app.client_id)
    audit.record(session, actor=actor, action="sharing.app.rate", subject_type="share_application",
                 subject_id=app.id, before=before, after=_state(app))
    return app


def list_applications(session: Session, *, actor: Actor, org_id: int | None = None) -> list[Application]:
    """The applications of ``org_id`` (default: the actor's department); all of them for the authority."""
    stmt = select(Application).order_by(Application.id)
    if org_id is None and can(actor, "sharing.view_all"):
        return list(session.scalars(stmt))
    org_id = actor.org_id if org_id is None else org_id
    if not can(actor, "sharing.view_all"):
        require(actor, "sharing.app.manage", org_id=org_id)
    return list(session.scalars(stmt.where(Application.org_id == org_id)))


def get_application(session: Session, *, actor: Actor, application_id: int) -> Application:
    app = session.get(Application, application_id)
    if app is None:
        raise NotFound(f"应用系统 {application_id} 不存在", f"Application {application_id} does not exist")
    if not can(actor, "sharing.view_all"):
        require(actor, "sharing.app.manage", org_id=app.org_id)
    return app

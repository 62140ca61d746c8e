"""Who is acting, and may they?  Passwords, web sessions, API tokens, require()."""

from __future__ import annotations

import fnmatch
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit_service
from gongshu.auth.actions import ACTIONS, ORG_KINDS_ZH, ROLES
from gongshu.auth.models import ORG_KINDS, ApiToken, Org, User, UserRole, WebSession
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from gongshu.kit.hashing import sm3_hex
from gongshu.kit.identifiers import validate_uscc

_hasher = PasswordHasher()
LOCK_AFTER = 5
LOCK_MINUTES = 15


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    display_name: str
    org_id: int | None
    org_kind: str
    org_name: str
    roles: frozenset[str]
    #: when acting through an API token: the action patterns it allows
    token_scopes: tuple[str, ...] | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_authority(self) -> bool:
        return self.org_kind == "authority"


SYSTEM = Actor(None, "system", "系统", None, "platform", "系统", frozenset({"sysadmin"}))


def actor_for(session: Session, user: User, token_scopes: tuple[str, ...] | None = None) -> Actor:
    org = session.get(Org, user.org_id)
    roles = frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
    return Actor(user.id, user.username, user.display_name, user.org_id, org.kind if org else "",
                 org.name if org else "", roles, token_scopes)


def can(actor: Actor, action: str, *, org_id: int | None = None) -> bool:
    spec = ACTIONS.get(action)
    if spec is None:
        return False  # deny by default, including undeclared actions
    if not actor.roles.intersection(spec.roles):
        return False
    if actor.token_scopes is not None and not any(fnmatch.fnmatchcase(action, p) for p in actor.token_scopes):
        return False
    return not (spec.scope == "own_org" and org_id is not None and org_id != actor.org_id)


def require(actor: Actor, action: str, resource: object | None = None, *, org_id: int | None = None) -> None:
    """Raise Forbidden unless ``actor`` may do ``action`` (on ``resource`` of some org)."""
    if org_id is None and resource is not None:
        org_id = getattr(resource, "org_id", None)
    if action not in ACTIONS:
        raise Forbidden(f"未登记的操作：{action}", f"Undeclared action: {action}")
    if not can(actor, action, org_id=org_id):
        spec = ACTIONS[action]
        need = "、".join(ROLES[r][0] for r in sorted(spec.roles))
        need_en = ", ".join(ROLES[r][1] for r in sorted(spec.roles))
        if actor.token_scopes is not None and actor.roles.intersection(spec.roles):
            raise Forbidden(f"该 API 令牌的权限范围不包含“{spec.zh}”", f"This API token's scopes do not cover '{spec.en}'")
        if actor.roles.intersection(spec.roles):
            raise Forbidden(f"只能对本单位的数据执行“{spec.zh}”", f"'{spec.en}' is limited to your own organisation's data")
        raise Forbidden(f"无权执行“{spec.zh}”（需要角色：{need}）", f"Not allowed to '{spec.en}' (needs: {need_en})")


# Organisations and users ------------------------------------------------------------

def create_org(session: Session, *, actor: Actor, name: str, short_name: str, kind: str, uscc: str,
               parent_id: int | None = None) -> Org:
    require(actor, "auth.org.manage")
    if kind not in ORG_KINDS:
        raise Invalid(f"机构类型无效：{kind}（可选：{'、'.join(ORG_KINDS_ZH.values())}）",
                      f"Unknown organisation kind {kind} (one of {', '.join(ORG_KINDS)})", field="kind")
    code = validate_uscc(uscc, field="uscc")
    if session.scalar(select(Org.id).where((Org.name == name) | (Org.uscc == code))):
        raise Conflict(f"机构名称或统一社会信用代码已存在：{name}", f"An organisation with this name or USCC exists: {name}")
    org = Org(name=name, short_name=short_name, kind=kind, uscc=code, parent_id=parent_id)
    session.add(org)
    session.flush()
    audit_service.record(session, actor=actor, action="auth.org.create", subject_type="org", subject_id=org.id,
                         after={"name": name, "kind": kind, "uscc": code})
    return org


def create_user(session: Session, *, actor: Actor, username: str, display_name: str, org_id: int,
                password: str, roles: list[str]) -> User:
    require(actor, "auth.user.manage")
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise Invalid("用户名只能包含字母、数字、下划线、点和连字符", "Usernames use letters, digits, _ . - only",
                      field="username")
    if len(password) < 8:
        raise Invalid("密码至少 8 位", "Passwords need at least 8 characters", field="password")
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise Invalid(f"未知角色：{'、'.join(bad)}", f"Unknown roles: {', '.join(bad)}", field="roles")
    if session.get(Org, org_id) is None:
        raise NotFound("所属机构不存在", "Organisation not found", field="org_id")
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名已存在：{username}", f"Username taken: {username}", field="username")
    user = User(username=username, display_name=display_name, org_id=org_id, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    for r in roles:
        session.add(UserRole(user_id=user.id, role=r))
    audit_service.record(session, actor=actor, action="auth.user.create", subject_type="user", subject_id=user.id,
                         after={"username": username, "org_id": org_id, "roles": sorted(roles)})
    return user


def hash_password(password: str) -> str:
    """An argon2 hash of ``password`` (for other kinds of accounts, e.g. the open data portal's)."""
    return _hasher.hash(password)


def password_ok(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (argon2; any malformed hash is a mismatch)."""
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, *, username: str, password: str) -> User:
    """Check a password; lock the account for a while after repeated failures."""
    user = session.scalar(select(User).where(User.username == username))
    now = utcnow()
    if user is None or not user.active:
        _hasher.hash(password or "x")  # same cost either way
        raise Unauthenticated("用户名或密码错误", "Wrong username or password")
    if user.locked_until and user.locked_until > now:
        raise Unauthenticated("登录失败次数过多，账户已暂时锁定，请稍后再试",
                              "Too many failed logins; the account is locked for a while")
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError) as exc:
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        audit_service.record(session, actor=None, action="auth.login.fail", subject_type="user",
                             subject_id=user.id, detail={"username": username})
        raise Unauthenticated("用户名或密码错误", "Wrong username or password") from exc
    user.failed_logins = 0
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def open_session(session: Session, *, user: User, hours: int) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    ws = WebSession(token_hash=sm3_hex(token.encode()), user_id=user.id, csrf_token=secrets.token_urlsafe(24),
                    expires_at=utcnow() + timedelta(hours=hours))
    session.add(ws)
    session.flush()
    actor = actor_for(session, user)
    audit_service.record(session, actor=actor, action="auth.login", subject_type="user", subject_id=user.id)
    return token, ws


def session_user(session: Session, *, token: str) -> tuple[User, WebSession] | None:
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == sm3_hex(token.encode())))
    if ws is None or ws.revoked_at is not None or ws.expires_at <= utcnow():
        return None
    user = session.get(User, ws.user_id)
    if user is None or not user.active:
        return None
    return user, ws


def close_session(session: Session, *, actor: Actor, token: str) -> None:
    session.execute(update(WebSession).where(WebSession.token_hash == sm3_hex(token.encode()))
                    .values(revoked_at=utcnow()))
    audit_service.record(session, actor=actor, action="auth.logout", subject_type="user", subject_id=actor.user_id)


# API tokens ---------------------------------------------------------------------------

TOKEN_PREFIX = "gs_"


def create_token(session: Session, *, actor: Actor, name: str, scopes: list[str], days: int) -> tuple[str, ApiToken]:
    """Create a personal API token; the secret is shown once and stored only as its SM3 hash."""
    require(actor, "auth.token.manage")
    if not name.strip():
        raise Invalid("请填写令牌名称", "Give the token a name", field="name")
    if not 1 <= days <= 366:
        raise Invalid("有效期应在 1 到 366 天之间", "Tokens expire after 1 to 366 days", field="days")
    scopes = [s.strip() for s in scopes if s.strip()]
    if not scopes:
        raise Invalid("请至少选择一个权限范围（如 catalog.*）", "Choose at least one scope (e.g. catalog.*)", field="scopes")
    for s in scopes:
        if not any(fnmatch.fnmatchcase(a, s) for a in ACTIONS):
            raise Invalid(f"权限范围不匹配任何操作：{s}", f"Scope matches no action: {s}", field="scopes")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plain = f"{TOKEN_PREFIX}{prefix}_{secret}"
    tok = ApiToken(user_id=actor.user_id, name=name.strip(), prefix=prefix, token_hash=sm3_hex(plain.encode()),
                   scopes=scopes, expires_at=utcnow() + timedelta(days=days))
    session.add(tok)
    session.flush()
    audit_service.record(session, actor=actor, action="auth.token.create", subject_type="api_token",
                         subject_id=tok.id, after={"name": tok.name, "scopes": scopes, "days": days})
    return plain, tok


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> ApiToken:
    require(actor, "auth.token.manage")
    tok = session.get(ApiToken, token_id)
    if tok is None or tok.user_id != actor.user_id:
        raise NotFound("令牌不存在", "Token not found")
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
        audit_service.record(session, actor=actor, action="auth.token.revoke", subject_type="api_token",
                             subject_id=tok.id)
    return tok


def list_tokens(session: Session, *, actor: Actor) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id.desc())))


def token_actor(session: Session, *, token: str) -> Actor:
    """The actor behind a bearer token, limited to the token's scopes."""
    parts = token.split("_")
    if not token.startswith(TOKEN_PREFIX) or len(parts) < 3:
        raise Unauthenticated("API 令牌格式错误", "Malformed API token")
    tok = session.scalar(select(ApiToken).where(ApiToken.prefix == parts[1]))
    if tok is None or not secrets.compare_digest(tok.token_hash, sm3_hex(token.encode())):
        raise Unauthenticated("API 令牌无效", "Invalid API token")
    if tok.revoked_at is not None:
        raise Unauthenticated("API 令牌已吊销", "This API token has been revoked")
    if tok.expires_at <= utcnow():
        raise Unauthenticated("API 令牌已过期", "This API token has expired")
    user = session.get(User, tok.user_id)
    if user is None or not user.active:
        raise Unauthenticated("令牌所属用户已停用", "The token's user is disabled")
    tok.last_used_at = utcnow()
    return actor_for(session, user, tuple(tok.scopes))


def orgs(session: Session) -> list[Org]:
    return list(session.scalars(select(Org).order_by(Org.kind, Org.id)))


def authority_org_id(session: Session) -> int | None:
    """The data bureau (the first active organisation of kind authority), or None when none is configured."""
    return session.scalar(select(Org.id).where(Org.kind == "authority", Org.active.is_(True)).order_by(Org.id)
                          .limit(1))


def get_org(session: Session, org_id: int) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        raise NotFound("机构不存在", "Organisation not found")
    return org


def users_of(session: Session, *, org_id: int | None = None) -> list[User]:
    stmt = select(User).order_by(User.id)
    if org_id:
        stmt = stmt.where(User.org_id == org_id)
    return list(session.scalars(stmt))


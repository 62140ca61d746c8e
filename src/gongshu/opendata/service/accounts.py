"""Accounts of the open data portal (R-OPN-3): registration of natural and legal persons, sign-in with a
lockout, real-name verification against the base libraries, and API keys.

- **Accounts** are not staff users: they never reach the workbench (their own table, session cookie and
  actor). Passwords are argon2 (:func:`gongshu.auth.service.hash_password`).
- **Real-name verification**: a natural person's ID number (GB 11643, checked with python-stdnum) and name
  against the person library; a legal person's USCC (GB 32100) and name against the legal-entity library
  (:func:`gongshu.library.service.records.name_matches`). Only "verified or not" comes back — a mismatch and an
  unknown identifier get the same answer — and an account has :data:`MAX_VERIFY_ATTEMPTS` tries, each audited.
  The ID number is kept masked and as its HMAC-SM3 subject digest (the same digest the access log keeps, so
  the data-subject issue can find "who accessed my data"); a USCC is public and kept in clear. One identifier
  verifies one account.
- **API keys**: ``gso_<prefix>_<secret>``, shown once, stored as SM3; scoped (:data:`API_SCOPES`), expiring
  (at most :data:`MAX_KEY_DAYS` days), revocable, rate-limited per key (429 with Retry-After); only verified
  accounts get keys.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth import service as auth_service
from gongshu.db import utcnow
from gongshu.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from gongshu.kit import forms
from gongshu.kit.hashing import sm3_hex
from gongshu.kit.identifiers import mask_id_number, validate_id_number, validate_uscc
from gongshu.library.service import records as library_records
from gongshu.opendata.models import ACCOUNT_KINDS, API_SCOPES, OpenAccount, OpenApiKey, OpenSession
from gongshu.sharing.service import evidence
from gongshu.sharing.service.projection import Bucket

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,39}$")
MIN_PASSWORD = 8
LOCK_AFTER = 5
LOCK_MINUTES = 15
SESSION_HOURS = 12
#: the portal session's cookie (the account pages set it; the data paths read it)
SESSION_COOKIE = "gongshu_open"
MAX_VERIFY_ATTEMPTS = 5
KEY_PREFIX = "gso_"
MAX_KEY_DAYS = 366
DEFAULT_RATE = 60
#: the library attributes a legal person's name is checked against (enterprises, social organisations, …)
LEGAL_NAME_ATTRIBUTES = ("企业名称", "社会组织名称", "机构名称", "单位名称", "名称")


@dataclass(frozen=True)
class Who:
    """An account as the audit log names it (the audit's actor shape: no staff user, no department)."""

    account_id: int
    username: str
    user_id: None = None
    org_id: None = None


def who(account: OpenAccount) -> Who:
    return Who(account_id=account.id, username=f"open:{account.username}")


# Registration and sign-in ---------------------------------------------------------------------------------

def register(session: Session, *, kind: str, username: str, display_name: str, password: str,
             email: str = "") -> OpenAccount:
    kind = forms.choice(kind, "kind", "账户类型", "The account kind", ACCOUNT_KINDS)
    name = (username or "").strip().lower()
    if not USERNAME.match(name):
        raise Invalid("用户名为 3–40 个小写字母、数字、下划线、点或连字符，以字母或数字开头",
                      "A username is 3–40 lower-case letters, digits, _ . or -, starting with a letter or digit",
                      field="username")
    shown = forms.text(display_name, "display_name", "显示名称", "The display name", limit=100)
    if len(password or "") < MIN_PASSWORD:
        raise Invalid(f"密码至少 {MIN_PASSWORD} 位", f"Passwords need at least {MIN_PASSWORD} characters",
                      field="password")
    mail = forms.text(email, "email", "电子邮箱", "The e-mail address", required=False, limit=200)
    if mail and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", mail):
        raise Invalid("电子邮箱格式不正确", "The e-mail address is not valid", field="email")
    if session.scalar(select(OpenAccount.id).where(OpenAccount.username == name)) is not None:
        raise Conflict(f"用户名已被使用：{name}", f"Username taken: {name}", field="username")
    account = OpenAccount(kind=kind, username=name, display_name=shown, email=mail,
                          password_hash=auth_service.hash_password(password))
    session.add(account)
    session.flush()
    audit.record(session, actor=who(account), action="opendata.account.register", subject_type="open_account",
                 subject_id=account.id, after={"kind": kind, "username": name})
    return account


def authenticate(session: Session, *, username: str, password: str) -> OpenAccount:
    """Check a password; lock the account for :data:`LOCK_MINUTES` after :data:`LOCK_AFTER` failures."""
    account = session.scalar(select(OpenAccount).where(OpenAccount.username == (username or "").strip().lower()))
    now = utcnow()
    if account is None or not account.active:
        auth_service.hash_password(password or "x")  # the same cost either way
        raise Unauthenticated("用户名或密码错误", "Wrong username or password")
    if account.locked_until and account.locked_until > now:
        raise Unauthenticated("登录失败次数过多，账户已暂时锁定，请稍后再试",
                              "Too many failed sign-ins; the account is locked for a while")
    if not auth_service.password_ok(account.password_hash, password):
        account.failed_logins += 1
        if account.failed_logins >= LOCK_AFTER:
            account.locked_until, account.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
        audit.record(session, actor=who(account), action="opendata.account.login_failed",
                     subject_type="open_account", subject_id=account.id)
        raise Unauthenticated("用户名或密码错误", "Wrong username or password")
    account.failed_logins = 0
    return account


def open_session(session: Session, *, account: OpenAccount) -> tuple[str, OpenSession]:
    token = secrets.token_urlsafe(32)
    row = OpenSession(token_hash=sm3_hex(token.encode()), account_id=account.id,
                      csrf_token=secrets.token_urlsafe(24), expires_at=utcnow() + timedelta(hours=SESSION_HOURS))
    session.add(row)
    session.flush()
    return token, row


def session_account(session: Session, *, token: str) -> tuple[OpenAccount, OpenSession] | None:
    row = session.scalar(select(OpenSession).where(OpenSession.token_hash == sm3_hex(token.encode())))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    account = session.get(OpenAccount, row.account_id)
    return (account, row) if account is not None and account.active else None


def close_session(session: Session, *, token: str) -> None:
    found = session_account(session, token=token)
    if found is not None:
        found[1].revoked_at = utcnow()


# Real-name verification -----------------------------------------------------------------------------------

def verify_real_name(session: Session, *, account: OpenAccount, identifier: str, name: str) -> OpenAccount:
    """Check the identifier and name against the library of the account's kind; see the module's docstring."""
    if account.verified_at is not None:
        raise Conflict("该账户已完成实名认证", "The account is already verified", field="identifier")
    if account.verify_attempts >= MAX_VERIFY_ATTEMPTS:
        raise Forbidden(f"实名认证已尝试 {MAX_VERIFY_ATTEMPTS} 次，请联系平台运营方",
                        f"Real-name verification was tried {MAX_VERIFY_ATTEMPTS} times; contact the platform",
                        field="identifier")
    real = forms.text(name, "name", "姓名或名称", "The name", limit=200)
    if account.kind == "person":
        code = validate_id_number(identifier, field="identifier")
        found = library_records.name_matches(session, kind="person", subject=code, name=real, attributes=("姓名",))
        shown = mask_id_number(code)
    else:
        code = validate_uscc(identifier, field="identifier")
        found = library_records.name_matches(session, kind="entity", subject=code, name=real,
                                             attributes=LEGAL_NAME_ATTRIBUTES)
        shown = code
    digest = evidence.subject_digest(code)
    account.verify_attempts += 1
    ok = bool(found)
    audit.record(session, actor=who(account), action="opendata.account.verify", subject_type="open_account",
                 subject_id=account.id, detail={"ok": ok, "identifier": shown, "attempt": account.verify_attempts})
    if not ok:
        left = MAX_VERIFY_ATTEMPTS - account.verify_attempts
        raise _Failed(left)
    other = session.scalar(select(OpenAccount.id).where(OpenAccount.identifier_digest == digest,
                                                        OpenAccount.id != account.id))
    if other is not None:
        raise Conflict("该证件号码已用于另一个账户的实名认证", "This identifier already verified another account",
                       field="identifier")
    account.real_name, account.identifier_shown, account.identifier_digest = real, shown, digest
    account.verified_at = utcnow()
    return account


class _Failed(Invalid):
    """A failed verification: its attempt is kept (the edge commits it before answering)."""

    def __init__(self, left: int) -> None:
        super().__init__(f"实名认证未通过：证件号码与姓名（名称）不一致，或基础库中没有该记录；还可尝试 {left} 次",
                         f"Real-name verification failed: the identifier and name do not match, or the library has "
                         f"no such record; {left} attempts left", field="identifier")
        self.keep = True


# API keys -------------------------------------------------------------------------------------------------

def create_key(session: Session, *, account: OpenAccount, name: str, scopes: list[str], days: int) -> tuple[str, OpenApiKey]:
    """A new API key of a verified account; the secret is returned once."""
    if account.verified_at is None:
        raise Forbidden("请先完成实名认证再申请 API 密钥", "Verify your real name before creating API keys",
                        field="name")
    label = forms.text(name, "name", "密钥名称", "The key name", limit=100)
    if not 1 <= int(days) <= MAX_KEY_DAYS:
        raise Invalid(f"有效期应在 1 到 {MAX_KEY_DAYS} 天之间", f"Keys expire after 1 to {MAX_KEY_DAYS} days",
                      field="days")
    chosen = sorted({s.strip() for s in scopes if s and s.strip()})
    if not chosen or any(s not in API_SCOPES for s in chosen):
        raise Invalid(f"请选择权限范围：{'、'.join(API_SCOPES)}", f"Choose scopes among: {', '.join(API_SCOPES)}",
                      field="scopes")
    prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = OpenApiKey(account_id=account.id, name=label, prefix=prefix, key_hash=sm3_hex(plain.encode()),
                     scopes=chosen, rate_per_minute=DEFAULT_RATE, expires_at=utcnow() + timedelta(days=int(days)))
    session.add(key)
    session.flush()
    audit.record(session, actor=who(account), action="opendata.key.create", subject_type="open_api_key",
                 subject_id=key.id, after={"name": label, "scopes": chosen, "days": int(days)})
    return plain, key


def revoke_key(session: Session, *, account: OpenAccount, key_id: int) -> OpenApiKey:
    key = session.get(OpenApiKey, key_id)
    if key is None or key.account_id != account.id:
        raise NotFound("没有该 API 密钥", "No such API key", field="key_id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(session, actor=who(account), action="opendata.key.revoke", subject_type="open_api_key",
                     subject_id=key.id)
    return key


def keys_of(session: Session, *, account: OpenAccount) -> list[OpenApiKey]:
    return list(session.scalars(select(OpenApiKey).where(OpenApiKey.account_id == account.id)
                                .order_by(OpenApiKey.id.desc())))


#: token buckets per rate (a key's bucket holds a minute of its rate)
_buckets: dict[int, Bucket] = {}


def key_account(session: Session, *, key: str, scope: str, touch: bool = True) -> OpenAccount:
    """The account behind an API key allowed ``scope``, after the key's rate limit (429 when exceeded);
    ``touch``: note the time of use (a write — the read-only data paths pass False)."""
    parts = (key or "").strip().split("_")
    if not key.startswith(KEY_PREFIX) or len(parts) < 3:
        raise Unauthenticated("API 密钥格式错误", "Malformed API key")
    row = session.scalar(select(OpenApiKey).where(OpenApiKey.prefix == parts[1]))
    if row is None or not secrets.compare_digest(row.key_hash, sm3_hex(key.strip().encode())):
        raise Unauthenticated("API 密钥无效", "Invalid API key")
    if row.revoked_at is not None:
        raise Unauthenticated("API 密钥已吊销", "This API key has been revoked")
    if row.expires_at <= utcnow():
        raise Unauthenticated("API 密钥已过期", "This API key has expired")
    if scope not in row.scopes:
        raise Forbidden(f"该 API 密钥不能用于{API_SCOPES[scope][0]}", f"This API key is not for {API_SCOPES[scope][1]}")
    account = session.get(OpenAccount, row.account_id)
    if account is None or not account.active:
        raise Unauthenticated("密钥所属账户已停用", "The key's account is disabled")
    bucket = _buckets.get(row.rate_per_minute)
    if bucket is None:
        bucket = _buckets.setdefault(row.rate_per_minute, Bucket(per_minute=row.rate_per_minute,
                                                                  burst=row.rate_per_minute))
    wait = bucket.take(row.id, 1)
    if wait:
        raise RateLimited(wait)
    if touch:
        row.last_used_at = utcnow()
    return account

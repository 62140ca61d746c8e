"""What open data requests (:mod:`.requests`, R-OPN-4) and error reports (:mod:`.error_reports`, R-OPN-5) share:
the permissions, the submitter's contact (validated, sealed with SM4-GCM, shown to staff only), the tracking
token (shown once in the submitter's link, stored as its SM3 hash), the anonymous rate limit (a token bucket
per client address in this process, 429 with ``Retry-After``) and the checks of submitted text."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from gongshu import errors
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.crypto import sm4
from gongshu.errors import Forbidden, Invalid, NotFound
from gongshu.kit.hashing import sm3_hex
from gongshu.kit.identifiers import mask_mobile, mask_name
from gongshu.opendata.service import accounts
from gongshu.sharing.service.projection import Bucket

declare("opendata.request.triage", "分办开放需求：转办数源部门，或作为重复、不予受理办结（数据主管部门）",
        "Triage open data requests: route them to the department holding the data, or close them as duplicates "
        "or out of scope (authority)", AUTHORITY_ROLES)
declare("opendata.request.answer", "答复转办本部门的开放需求：已开放、计划开放或不予开放（附依据）",
        "Answer open data requests routed to the department: opened, planned, or refused with the legal basis",
        {"dept_officer"}, scope="own_org")
declare("opendata.report.answer", "答复本部门开放数据的纠错：确认并修正、已修正或经核实无误",
        "Answer error reports on the department's open data: accepted, fixed in a version, or checked correct",
        {"dept_officer"}, scope="own_org")
declare("opendata.feedback.view", "查看开放需求和纠错（含联系方式）：本部门承办的；数据主管部门和审计全部",
        "See open data requests and error reports with contacts: the department's own; authority and auditors all",
        {"dept_officer", "dept_staff", "auditor"} | AUTHORITY_ROLES, writes=False)

CONTACT_PURPOSE = "opendata.feedback.contact"
#: anonymous submissions (requests and error reports together) per client address an hour
SUBMISSIONS_PER_HOUR = 10
MAX_NAME = 50
MAX_EMAIL = 254
MOBILE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: control characters other than tab and line breaks (PostgreSQL refuses NUL in text; none belongs in a form)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
TOKEN_BYTES = 24


@dataclass(frozen=True)
class PublicSubmitter:
    """The audit log's actor for someone of the public (no staff user, no department)."""

    username: str = "public"
    user_id: None = None
    org_id: None = None


PUBLIC = PublicSubmitter()


def audit_actor(actor: Actor | None, account: Any | None = None) -> Any:
    """Who the audit log names: the staff member, else the signed-in portal account (R-OPN-3), else the public."""
    if actor is not None:
        return actor
    return accounts.who(account) if account is not None else PUBLIC


#: ids above this are not ids (the databases' INTEGER is 32-bit: a larger value would be an error, not a miss)
MAX_ID = 2**31 - 1


def is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


# Text -----------------------------------------------------------------------------------------------------

def text(value: Any, field: str, zh: str, en: str, *, limit: int, required: bool = True,
         multiline: bool = True) -> str:
    """``value`` trimmed; :class:`Invalid` naming the field when it is required and empty, too long, or has
    control characters (line breaks only where ``multiline``)."""
    v = ("" if value is None else str(value)).strip()
    if required and not v:
        raise Invalid(f"请填写{zh}", f"{en} is required", field=field)
    if len(v) > limit:
        raise Invalid(f"{zh}不能超过 {limit} 个字", f"{en} may have at most {limit} characters", field=field)
    if _CONTROL.search(v) or (not multiline and ("\n" in v or "\r" in v)):
        raise Invalid(f"{zh}含有不允许的控制字符", f"{en} contains control characters", field=field)
    return v


def reason(value: Any, field: str, zh: str, en: str, *, limit: int = 2000) -> str:
    """A reason or legal basis: required, and more than a word or two."""
    v = text(value, field, zh, en, limit=limit)
    if len(v) < 4:
        raise Invalid(f"请具体说明{zh}（至少 4 个字）", f"Give {en} in full (at least 4 characters)", field=field)
    return v


# Contacts -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Contact:
    """How staff reach the submitter: a name and an e-mail address or a mobile number (or both)."""

    name: str
    email: str = ""
    mobile: str = ""

    @property
    def masked(self) -> str:
        """For the submitter's own tracking page: enough to recognise, nothing to harvest."""
        parts = [mask_name(self.name)]
        if self.email:
            local, _, domain = self.email.partition("@")
            parts.append(f"{local[:1]}***@{domain}")
        if self.mobile:
            parts.append(mask_mobile(self.mobile))
        return " · ".join(parts)


def contact(name: Any, email: Any, mobile: Any) -> Contact:
    """Validated contact; :class:`Invalid` naming the field."""
    who = text(name, "contact_name", "联系人姓名", "The contact name", limit=MAX_NAME, multiline=False)
    mail = text(email, "contact_email", "电子邮箱", "The e-mail address", limit=MAX_EMAIL, required=False,
                multiline=False)
    phone = re.sub(r"[\s-]", "", text(mobile, "contact_mobile", "手机号码", "The mobile number", limit=20,
                                      required=False, multiline=False))
    if not mail and not phone:
        raise Invalid("请至少填写电子邮箱或手机号码之一，以便办理部门联系您",
                      "Give an e-mail address or a mobile number, so that the department can reach you",
                      field="contact_email")
    if mail and not EMAIL.match(mail):
        raise Invalid("电子邮箱格式不正确，如：name@example.com", "The e-mail address is not valid "
                      "(e.g. name@example.com)", field="contact_email")
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    if phone and not MOBILE.match(phone):
        raise Invalid("手机号码应为 11 位、以 1 开头的中国大陆手机号", "The mobile number must be a mainland China "
                      "mobile number (11 digits starting with 1)", field="contact_mobile")
    return Contact(who, mail, phone)


def seal(c: Contact) -> bytes:
    body = json.dumps({"name": c.name, "email": c.email, "mobile": c.mobile}, ensure_ascii=False).encode()
    return sm4.encrypt(body, purpose=CONTACT_PURPOSE)


def unseal(blob: bytes | None) -> Contact | None:
    if not blob:
        return None
    data = json.loads(sm4.decrypt(blob, purpose=CONTACT_PURPOSE))
    return Contact(data.get("name", ""), data.get("email", ""), data.get("mobile", ""))


# Tracking tokens ------------------------------------------------------------------------------------------

def new_token() -> tuple[str, str]:
    """A fresh tracking token (192 random bits, URL-safe) and its SM3 hash (what is stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return sm3_hex((token or "").encode())


def plausible_token(token: str) -> bool:
    """A cheap check before hashing: the right length and alphabet (anything else cannot match)."""
    return len(token or "") == 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token) is not None


# The anonymous rate limit ---------------------------------------------------------------------------------

class RateLimited(errors.RateLimited):
    def __init__(self, retry_after: int) -> None:
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(retry_after, f"提交过于频繁：同一网络地址每小时最多提交 {SUBMISSIONS_PER_HOUR} 次，请约 {minutes} 分钟后再试",
                         f"Too many submissions: at most {SUBMISSIONS_PER_HOUR} an hour from one address; try again "
                         f"in about {minutes} min")


class ClientBucket(Bucket):
    """:class:`~gongshu.sharing.service.projection.Bucket` per client address that forgets addresses whose bucket
    has refilled (they are indistinguishable from new ones), so a flood of distinct addresses cannot grow it
    without bound; past ``max_clients`` still-draining addresses the oldest are forgotten."""

    def __init__(self, per_minute: float, burst: float, max_clients: int = 10_000) -> None:
        super().__init__(per_minute, burst)
        self.max_clients = max_clients

    def take(self, name: Any, cost: float = 1) -> int:
        wait = super().take(name, cost)
        if len(self._state) > self.max_clients:
            self._forget()
        return wait

    def _forget(self) -> None:
        refill = self.burst / (self.per_minute / 60.0)
        now = time.monotonic()
        with self._lock:
            for key, (_tokens, stamp) in list(self._state.items()):
                if now - stamp >= refill:
                    del self._state[key]
            if len(self._state) > self.max_clients:
                oldest = sorted(self._state.items(), key=lambda kv: kv[1][1])
                for key, _ in oldest[:len(self._state) - self.max_clients]:
                    del self._state[key]

    def clients(self) -> int:
        return len(self._state)


limits = ClientBucket(per_minute=SUBMISSIONS_PER_HOUR / 60.0, burst=SUBMISSIONS_PER_HOUR)


def throttle(actor: Actor | None, client: str | None) -> None:
    """Staff acting in the workbench are not limited; anyone else is, per client address."""
    if actor is not None:
        return
    wait = limits.take(client or "unknown", 1)
    if wait:
        raise RateLimited(wait)


# Who sees what --------------------------------------------------------------------------------------------

def sees_all(actor: Actor) -> bool:
    return can(actor, "opendata.feedback.view") and (actor.is_authority or "auditor" in actor.roles)


def require_view(actor: Actor, org_id: int | None) -> None:
    """Staff see the items of their department (``org_id``: the department handling it); the authority and
    auditors see all."""
    require(actor, "opendata.feedback.view")
    if sees_all(actor):
        return
    if org_id is None or org_id != actor.org_id:
        raise Forbidden("只能查看本部门承办的开放需求和纠错", "Only requests and error reports handled by your "
                        "department can be seen")


# Labels for the pages ----------------------------------------------------------------------------------

def entry_labels(session: Session, *, entry_ids: Iterable[int | None]) -> dict[int, dict[str, str]]:
    """The published code and name (what the public may see, not a revision's draft) of catalogue entries, by id;
    for the few a page shows."""
    out = {}
    for i in sorted({i for i in entry_ids if i}):
        try:
            snap = catalog_entries.published_snapshot(session, entry_id=i)
        except NotFound:
            continue
        out[i] = {"code": snap["code"], "name": snap["name"], "org_name": snap.get("org_name") or ""}
    return out


def by_token(session: Session, model: Any, token: str) -> Any:
    """The request or report (``model``) of a tracking link's token — the same 404 for a wrong token and a
    malformed one."""
    found = None
    if plausible_token(token):
        found = session.scalar(select(model).where(model.token_sm3 == token_hash(token)))
    if found is None:
        raise NotFound("跟踪链接无效：请核对链接是否完整", "The tracking link is not valid: check that it is complete",
                       field="token")
    return found


def staff_select(actor: Actor, model: Any, org_column: Any) -> Select:
    """The rows of ``model`` staff may list: the authority and auditors all, a department those whose
    ``org_column`` is its own."""
    if sees_all(actor):
        return select(model)
    require(actor, "opendata.feedback.view")
    if actor.org_id is None:
        return select(model).where(false())
    return select(model).where(org_column == actor.org_id)

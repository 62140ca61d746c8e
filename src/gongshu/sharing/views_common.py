"""What the sharing pages share: the base path, the vocabularies and badges the templates use, and small
form helpers (whole numbers, working days left)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from gongshu.errors import GongshuError, Invalid
from gongshu.sharing.models import GRANT_STATUS, MODES, PURPOSES, REQUEST_STATUS
from gongshu.tasks import service as tasks_service

BASE = "/workbench/sharing"

REQUEST_BADGE = {"pending": "amber", "escalated": "red", "approved": "green", "refused": "red", "withdrawn": ""}
GRANT_BADGE = {"awaiting_delivery": "amber", "active": "green", "suspended": "amber", "revoked": "red",
               "expired": ""}
#: access-event operations and results, by code -> (中文, English)
OPERATIONS: dict[str, tuple[str, str]] = {
    "lookup": ("按主键查询", "Key lookup"), "batch": ("批量查询", "Batch lookup"), "query": ("条件查询", "Query"),
    "verify": ("核验比对", "Verification"), "exchange": ("交换", "Exchange"), "analysis": ("集中分析", "Analysis"),
}
RESULTS: dict[str, tuple[str, str]] = {
    "ok": ("成功", "Served"), "denied": ("拒绝", "Denied"), "not_found": ("未找到", "Not found"),
    "error": ("出错", "Error"),
}
RESULT_BADGE = {"ok": "green", "denied": "red", "not_found": "", "error": "amber"}
#: the reason codes access events carry (grants.usable, the data paths, the credential check)
REASONS: dict[str, tuple[str, str]] = {
    "no_grant": ("授权不存在", "no such grant"), "other_consumer": ("不是本部门的授权", "another consumer's grant"),
    "other_application": ("授权限定由其他应用系统使用", "bound to another application"),
    "wrong_mode": ("共享方式不符", "wrong mode"), "not_delivered": ("数据尚未交付", "not delivered yet"),
    "suspended": ("授权已暂停", "suspended"), "revoked": ("授权已撤销", "revoked"), "expired": ("授权已到期", "expired"),
    "item_not_granted": ("请求了未授权的信息项", "asked for items not granted"),
    "row_out_of_scope": ("记录不在授权的行范围内", "row outside the granted scope"),
    "missing_credential": ("缺少应用凭证", "no credentials"), "bad_credential": ("应用凭证无效", "bad credentials"),
    "inactive_application": ("应用系统已停用", "application deactivated"),
    "missing_end_user": ("缺少经办人", "no end user"), "invalid_end_user": ("经办人无效", "invalid end user"),
    "missing_purpose": ("缺少事项编号", "no case number"), "invalid_purpose": ("事项编号无效", "invalid case number"),
    "rate_limited": ("超过调用频率上限", "rate limited"), "too_many_keys": ("主键过多", "too many keys"),
    "too_many_checks": ("核验项过多", "too many checks"), "no_key": ("数据没有主键", "the data has no key"),
    "stale_cursor": ("翻页位置已过期", "stale page position"), "snapshot_missing": ("快照文件缺失", "snapshot missing"),
    "query_failed": ("查询执行失败", "query failed"), "forbidden": ("无权操作", "not allowed"),
    "invalid": ("输入有误", "invalid input"), "not_found": ("未找到", "not found"), "conflict": ("状态不允许", "conflict"),
    "build full": ("生成全量包", "built a full package"), "build incremental": ("生成增量包", "built an increment"),
}


def vocab() -> dict[str, Any]:
    return {"MODES": MODES, "PURPOSES": PURPOSES, "REQUEST_STATUS": REQUEST_STATUS, "GRANT_STATUS": GRANT_STATUS,
            "REQUEST_BADGE": REQUEST_BADGE, "GRANT_BADGE": GRANT_BADGE, "OPERATIONS": OPERATIONS,
            "RESULTS": RESULTS, "RESULT_BADGE": RESULT_BADGE, "reason_text": reason_text}


def whole(value: str | None, field: str, zh: str = "", en: str = "") -> int | None:
    """A form field as a whole number (None when empty); :class:`Invalid` naming the field (``zh``/``en``: as
    the page labels it) otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"{zh or field}应为整数：{value[:20]}", f"{en or field} must be a whole number: {value[:20]}",
                      field=field) from None


def workdays_left(session: Session, due: date | None) -> int | None:
    """Working days from today to ``due`` (negative: overdue), None when the calendar does not know."""
    if due is None:
        return None
    try:
        return tasks_service.calendar(session).workdays_between(tasks_service.today(), due)
    except GongshuError:
        return None


def reason_text(reason: str) -> tuple[str, str]:
    """An access event's reason as people read it (中文, English): known codes named, the SQL's SM3 left out
    (the page shows the raw reason on hover)."""
    zh, en = [], []
    for part in (p.strip() for p in (reason or "").split(";")):
        if not part or part.startswith("sql_sm3="):
            continue
        if part.startswith("sql_refused"):
            construct = part.removeprefix("sql_refused").strip()
            zh.append("SQL 被拒绝" + (f"（{construct}）" if construct else ""))
            en.append("SQL refused" + (f" ({construct})" if construct else ""))
        elif part.startswith("download package "):
            number = part.removeprefix("download package ")
            zh.append(f"下载数据包 {number}")
            en.append(f"downloaded package {number}")
        elif part in REASONS:
            zh.append(REASONS[part][0])
            en.append(REASONS[part][1])
        else:
            zh.append(part)
            en.append(part)
    return "；".join(zh), "; ".join(en)

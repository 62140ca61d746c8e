"""Catalogue pages: 我的目录 (department workbench), the entry form with inline validation, the entry page
with history and diffs, the authority's 审核队列 (review queue), and change declarations."""

from __future__ import annotations

import difflib
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.models import (
    FORMATS,
    ITEM_TYPES,
    OPEN_TYPES,
    RESOURCE_ATTRS,
    SHARING_MODES,
    SHARING_TYPES,
    STATUS_ZH,
    UPDATE_CYCLES,
    CatalogEntry,
)
from gongshu.catalog.service import elements, grading, lifecycle, rules
from gongshu.catalog.service import entries as service
from gongshu.config import get_settings
from gongshu.errors import GongshuError, Invalid
from gongshu.kit.pagination import Page
from gongshu.tasks import service as tasks_service
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/catalog"
TASK_LINKS[service.SUBJECT] = BASE + "/{id}"
WORKBENCH_LINKS.append((BASE, "我的目录", "My catalogue", "catalog.entry.edit"))
WORKBENCH_LINKS.append((BASE, "全市目录（工作稿）", "All catalogue entries", "catalog.entry.view_all"))
WORKBENCH_LINKS.append((BASE + "/review", "目录审核队列", "Catalogue review queue", "catalog.entry.review"))
WORKBENCH_LINKS.append((BASE + "/changes", "依据或职责变更申报", "Declare a change of basis or duties",
                        "catalog.entry.declare_change"))

STATUS_BADGE = {"draft": "", "submitted": "amber", "returned": "red", "published": "green", "revising": "blue",
                "withdrawn": ""}
TEXT_FIELDS = ("code", "resource_attr", "class_code", "topic", "name", "summary", "format", "sharing_type",
               "sharing_condition", "sharing_basis", "sharing_mode", "sharing_scope", "open_type", "open_condition",
               "update_cycle", "legal_basis", "business", "source_system", "sharing_period")
ITEM_TEXT = ("name", "type", "length", "meaning", "grade", "sharing_type", "open_type", "element_code")
ITEM_FLAGS = ("is_identifier", "is_key", "is_personal", "claims_source")
MAX_ROWS = 500
BLANK_ROWS = 2


def _vocab(session: Session) -> dict[str, Any]:
    return {"RESOURCE_ATTRS": RESOURCE_ATTRS, "FORMATS": FORMATS, "ITEM_TYPES": ITEM_TYPES,
            "SHARING_TYPES": SHARING_TYPES, "SHARING_MODES": SHARING_MODES, "OPEN_TYPES": OPEN_TYPES,
            "UPDATE_CYCLES": UPDATE_CYCLES, "STATUS_ZH": STATUS_ZH, "STATUS_BADGE": STATUS_BADGE,
            "GRADES": [g.code for g in grading.grades(session)]}


# Form <-> input -----------------------------------------------------------------------------

def _blank(v: Any) -> Any:
    return None if v is None or (isinstance(v, str) and not v.strip()) else v.strip() if isinstance(v, str) else v


def form_to_raw(form: Any) -> dict[str, Any]:
    """The posted form as raw EntryIn data: blank optional fields become None, empty item rows are dropped."""
    raw: dict[str, Any] = {k: str(form.get(k, "") or "") for k in TEXT_FIELDS}
    for k in ("release_date", "grade", "collecting_org", "verifying_org", "class_code"):
        raw[k] = _blank(str(form.get(k, "") or ""))
    raw["related_codes"] = [c for c in re.split(r"[\s,，;；、]+", str(form.get("related_codes", "") or "")) if c]
    try:
        rows = min(int(str(form.get("item_rows", "0"))), MAX_ROWS)
    except ValueError:
        rows = 0
    items = []
    for i in range(rows):
        row = {k: _blank(str(form.get(f"items-{i}-{k}", "") or "")) for k in ITEM_TEXT}
        if row["name"] is None and not any(row[k] for k in ("length", "meaning", "element_code")):
            continue  # an untouched (or cleared) row
        row.update({k: bool(form.get(f"items-{i}-{k}")) for k in ITEM_FLAGS})
        row["name"] = row["name"] or ""
        row["type"] = row["type"] or ""
        row["meaning"] = row["meaning"] or ""
        items.append(row)
    raw["items"] = items
    return raw


def _values_of(session: Session, entry: CatalogEntry) -> dict[str, Any]:
    values = service.entry_as_input(session, entry=entry).model_dump()
    values["items"] = [dict(i) for i in values["items"]]
    return values


def _by_field(errors: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in errors:
        out.setdefault(e["field"], []).append(e)
    return out


def _org_options(session: Session) -> list[Any]:
    return [o for o in auth_service.orgs(session) if o.active]


def _form(request: Request, session: Session, actor: Actor, *, values: dict[str, Any], entry: CatalogEntry | None,
          errors: list[dict] | None = None, extra_rows: int = BLANK_ROWS, status: int = 200) -> Response:
    errors = errors or []
    return render(request, "catalog/entry_form.html", {
        **_vocab(session), "values": values, "entry": entry, "errors": errors, "err": _by_field(errors),
        "rows": list(values.get("items") or []) + [{} for _ in range(extra_rows)], "orgs": _org_options(session),
        "action": f"{BASE}/{entry.id}/edit" if entry else f"{BASE}/new",
    }, status_code=status)


def _save(request: Request, session: Session, actor: Actor, entry: CatalogEntry | None, form: Any) -> Response:
    raw = form_to_raw(form)
    if form.get("add_row"):
        return _form(request, session, actor, values=raw, entry=entry, extra_rows=BLANK_ROWS + 1)
    data, errors = rules.parse_entry(raw)
    if data is None:
        return _form(request, session, actor, values=raw, entry=entry, errors=errors, status=422)
    entry_id = entry.id if entry else None
    try:  # the service validates everything (validate_entry's rules) before writing anything
        if entry_id is None:
            entry_id = service.create_entry(session, actor=actor, data=data).id
        else:
            service.update_entry(session, actor=actor, entry_id=entry_id, data=data)
    except GongshuError as exc:
        session.rollback()
        entry = service.get_entry(session, actor=actor, entry_id=entry_id) if entry_id else None
        return _form(request, session, actor, values=raw, entry=entry, status=exc.status,
                     errors=exc.details or [{"field": exc.field or "", "message": exc.message,
                                             "message_en": exc.message_en}])
    return RedirectResponse(f"{BASE}/{entry_id}?done=saved", status_code=303)


# The department workbench ------------------------------------------------------------------

@router.get(BASE, response_class=HTMLResponse)
def entry_list(request: Request, status: str = "", q: str = "", org_id: int | None = None, page: int = 1,
               actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    pg = Page(page, 50)
    rows, total = service.list_entries(session, actor=actor, page=pg, status=status or None, q=q, org_id=org_id)
    counts = service.status_counts(session, actor=actor, org_id=org_id)
    orgs = {o.id: o.name for o in auth_service.orgs(session)}
    return render(request, "catalog/entry_list.html", {
        **_vocab(session), "rows": rows, "total": total, "page": pg, "counts": counts, "status": status, "q": q,
        "org_id": org_id, "orgs": orgs, "all_orgs": can(actor, "catalog.entry.view_all"),
        "can_create": can(actor, "catalog.entry.edit", org_id=actor.org_id) and actor.org_id is not None,
        "pages": max(1, -(-total // pg.size)),
    })


@router.get(BASE + "/new", response_class=HTMLResponse)
def entry_new(request: Request, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    auth_service.require(actor, "catalog.entry.edit", org_id=actor.org_id)
    values = {"resource_attr": "部门", "format": "数据库", "sharing_type": "无条件共享", "sharing_mode": "接口",
              "open_type": "不予开放", "update_cycle": "每月", "items": []}
    return _form(request, session, actor, values=values, entry=None, extra_rows=3)


@router.post(BASE + "/new", response_class=HTMLResponse)
async def entry_create(request: Request, actor: Actor = Depends(page_actor),
                       session: Session = Depends(get_db)) -> Response:
    auth_service.require(actor, "catalog.entry.edit", org_id=actor.org_id)
    return _save(request, session, actor, None, await request.form())


@router.get(BASE + "/{entry_id:int}/edit", response_class=HTMLResponse)
def entry_edit(entry_id: int, request: Request, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    entry = service.get_entry(session, actor=actor, entry_id=entry_id)
    auth_service.require(actor, "catalog.entry.edit", org_id=entry.org_id)
    return _form(request, session, actor, values=_values_of(session, entry), entry=entry)


@router.post(BASE + "/{entry_id:int}/edit", response_class=HTMLResponse)
async def entry_update(entry_id: int, request: Request, actor: Actor = Depends(page_actor),
                       session: Session = Depends(get_db)) -> Response:
    entry = service.get_entry(session, actor=actor, entry_id=entry_id)
    auth_service.require(actor, "catalog.entry.edit", org_id=entry.org_id)
    return _save(request, session, actor, entry, await request.form())


# The entry page ----------------------------------------------------------------------------------

def segments(before: Any, after: Any) -> list[tuple[str, str]]:
    """Character-level difference of two values as (op, text) with op in eq / del / ins."""
    def text(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "是" if v else "否"
        if isinstance(v, list):
            return "、".join(str(x) for x in v)
        return str(v)
    a, b = text(before), text(after)
    if not isinstance(before, str) or not isinstance(after, str):
        return [("del", a)] * bool(a) + [("ins", b)] * bool(b)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("eq", a[i1:i2]))
        else:
            if i2 > i1:
                out.append(("del", a[i1:i2]))
            if j2 > j1:
                out.append(("ins", b[j1:j2]))
    return out


def _diff_ctx(d: dict) -> dict:
    for f in d["fields"]:
        f["segments"] = segments(f["before"], f["after"])
    for it in d["items"]["changed"]:
        for f in it["fields"]:
            f["segments"] = segments(f["before"], f["after"])
    return d


def _detail(request: Request, session: Session, actor: Actor, entry_id: int, *, error: GongshuError | None = None,
            done: str = "") -> Response:
    entry = service.get_entry(session, actor=actor, entry_id=entry_id)
    own = actor.org_id == entry.org_id
    editable = entry.status in service.EDITABLE
    live = entry.version > 0 and entry.status != "withdrawn"
    pending = lifecycle.open_review(session, entry_id=entry.id)
    work_diff = None
    if entry.version > 0 and entry.status in ("revising", "submitted", "returned"):
        work_diff = _diff_ctx(service.diff(session, actor=actor, entry_id=entry.id, from_version=entry.version))
    orgs = {o.id: o for o in auth_service.orgs(session)}
    left = None
    if pending is not None:
        try:
            left = tasks_service.calendar(session).workdays_between(tasks_service.today(), pending.due_date)
        except GongshuError:
            left = None
    return render(request, "catalog/entry_detail.html", {
        **_vocab(session), "e": entry, "items": service.items_of(session, entry_id=entry.id),
        "codes": service.element_codes_of(session, entry_id=entry.id), "orgs": orgs,
        "versions": service.history(session, actor=actor, entry_id=entry.id),
        "reviews": lifecycle.reviews_of(session, entry_id=entry.id), "pending": pending, "left": left,
        "conflicts": elements.open_conflicts_for_entry(session, entry_id=entry.id), "work_diff": work_diff,
        "error": error, "done": done, "badges": service.badges(session, entry_ids=[entry.id])[entry.id],
        "can_edit": own and editable and can(actor, "catalog.entry.edit", org_id=entry.org_id),
        "can_submit": own and editable and can(actor, "catalog.entry.submit", org_id=entry.org_id),
        "can_revise": own and entry.status in ("published", "withdrawn")
        and can(actor, "catalog.entry.revise", org_id=entry.org_id),
        "can_request_withdraw": own and live and can(actor, "catalog.entry.request_withdraw", org_id=entry.org_id),
        "can_review": entry.status == "submitted" and can(actor, "catalog.entry.review"),
        "can_withdraw": live and can(actor, "catalog.entry.withdraw"),
    }, status_code=error.status if error else 200)


@router.get(BASE + "/{entry_id:int}", response_class=HTMLResponse)
def entry_page(entry_id: int, request: Request, done: str = "", actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return _detail(request, session, actor, entry_id, done=done)


@router.get(BASE + "/{entry_id:int}/diff", response_class=HTMLResponse)
def entry_diff(entry_id: int, request: Request, a: int = 1, b: int | None = None, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    entry = service.get_entry(session, actor=actor, entry_id=entry_id)
    d = _diff_ctx(service.diff(session, actor=actor, entry_id=entry_id, from_version=a, to_version=b))
    return render(request, "catalog/entry_diff.html", {"e": entry, "d": d, **_vocab(session)})


def _safe_next(value: str, entry_id: int) -> str:
    return value if value.startswith(BASE) and not value.startswith("//") else f"{BASE}/{entry_id}"


async def _transition(request: Request, session: Session, actor: Actor, entry_id: int, step: str) -> Response:
    form = await request.form()
    text = str(form.get("text", "") or "")
    try:
        if step == "submit":
            lifecycle.submit(session, actor=actor, entry_id=entry_id, note=text)
        elif step == "approve":
            lifecycle.approve(session, actor=actor, entry_id=entry_id, note=text)
        elif step == "return":
            lifecycle.return_entry(session, actor=actor, entry_id=entry_id, reasons=text)
        elif step == "revise":
            lifecycle.revise(session, actor=actor, entry_id=entry_id, note=text)
        elif step == "withdraw":
            lifecycle.withdraw(session, actor=actor, entry_id=entry_id, reason=text)
        elif step == "withdraw-request":
            lifecycle.request_withdrawal(session, actor=actor, entry_id=entry_id, reason=text)
    except GongshuError as exc:
        session.rollback()
        return _detail(request, session, actor, entry_id, error=exc)
    return RedirectResponse(f"{_safe_next(str(form.get('next', '') or ''), entry_id)}?done={step}", status_code=303)


@router.post(BASE + "/{entry_id:int}/{step:str}", response_class=HTMLResponse)
async def entry_step(entry_id: int, step: str, request: Request, actor: Actor = Depends(page_actor),
                     session: Session = Depends(get_db)) -> Response:
    if step not in ("submit", "approve", "return", "revise", "withdraw", "withdraw-request"):
        raise Invalid(f"未知操作：{step}", f"Unknown step: {step}")
    return await _transition(request, session, actor, entry_id, step)


# The authority's review queue --------------------------------------------------------------

@router.get(BASE + "/review", response_class=HTMLResponse)
def review_queue(request: Request, done: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    rows = lifecycle.review_queue(session, actor=actor)
    cal, today = tasks_service.calendar(session), tasks_service.today()
    left: dict[int, int | None] = {}
    for _, r in rows:
        try:
            left[r.id] = cal.workdays_between(today, r.due_date)
        except GongshuError:
            left[r.id] = None
    orgs = {o.id: o.name for o in auth_service.orgs(session)}
    return render(request, "catalog/review_queue.html", {
        "rows": rows, "left": left, "orgs": orgs, "today": today, "done": done,
        "review_days": get_settings().catalog_review_days,
        "can_review": can(actor, "catalog.entry.review"), **_vocab(session)})


# Change declarations --------------------------------------------------------------------------

def _changes(request: Request, session: Session, actor: Actor, *, error: GongshuError | None = None,
             form: dict | None = None, done: str = "") -> Response:
    auth_service.require(actor, "catalog.entry.declare_change", org_id=actor.org_id)
    published = [e for e in session.scalars(service.visible_to(actor).where(
        CatalogEntry.org_id == actor.org_id, CatalogEntry.version > 0, CatalogEntry.status != "withdrawn")
        .order_by(CatalogEntry.code))]
    return render(request, "catalog/entry_changes.html", {
        "published": published, "declarations": lifecycle.declarations(session, actor=actor),
        "kinds": lifecycle.CHANGE_KINDS, "error": error, "form": form or {}, "done": done,
        "entries_by_id": {e.id: e for e in published}}, status_code=error.status if error else 200)


@router.get(BASE + "/changes", response_class=HTMLResponse)
def changes_page(request: Request, done: str = "", actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    return _changes(request, session, actor, done=done)


@router.post(BASE + "/changes", response_class=HTMLResponse)
async def changes_declare(request: Request, actor: Actor = Depends(page_actor),
                          session: Session = Depends(get_db)) -> Response:
    form = await request.form()
    kind, description = str(form.get("kind", "") or ""), str(form.get("description", "") or "")
    chosen = []
    for v in form.getlist("entry_ids"):
        try:
            chosen.append(int(str(v)))
        except ValueError:
            continue
    values = {"kind": kind, "description": description, "entry_ids": chosen}
    try:
        if not chosen:
            raise Invalid("请至少选择一个受影响的目录", "Choose at least one affected entry", field="entry_ids")
        lifecycle.declare_change(session, actor=actor, kind=kind, description=description, entry_ids=chosen)
    except GongshuError as exc:
        session.rollback()
        return _changes(request, session, actor, error=exc, form=values)
    return RedirectResponse(f"{BASE}/changes?done=1", status_code=303)

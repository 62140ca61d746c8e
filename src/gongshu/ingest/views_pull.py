"""Workbench page for scheduled pulls from department databases (前置库), R-AGG-2: an entry's pull sources
(address shown with the password hidden), a form to add one, and per source run now / enable / disable /
delete. The database password is never sent back to the browser: a re-rendered form keeps every other
value and the address without its password (the separate password field is left empty)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, Invalid, NotFound
from gongshu.ingest.models import PullSource
from gongshu.ingest.service import pull
from gongshu.ingest.service.pull_db import watermark_display
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)
BASE = "/workbench/ingest"
DEFAULTS = {"name": "", "url": "", "table_name": "", "query": "", "mode": "full", "watermark_column": "",
            "every_minutes": "1440"}
NOTICES = {"queued": ("已加入拉取队列，稍后刷新本页查看结果", "Queued: reload this page shortly to see the result"),
           "enabled": ("已启用定时拉取", "Scheduled pulls enabled"),
           "disabled": ("已停用定时拉取", "Scheduled pulls disabled"),
           "deleted": ("已删除拉取任务", "Pull source deleted"),
           "created": ("已新建拉取任务，连接与列检查通过", "Pull source created; connection and columns checked")}
#: user:password@ in text that is not a parsable URL
_USERINFO = re.compile(r"(//[^/@:\s]*):[^@\s]*@")


def _page_url(entry_id: int, notice: str = "") -> str:
    return f"{BASE}/entries/{entry_id}/pull" + (f"?done={notice}" if notice else "")


def _without_password(url: str) -> tuple[str, bool]:
    """The typed address with any password removed, and whether something was removed (unparsable text
    with no visible ``user:password@`` is dropped whole)."""
    url = (url or "").strip()
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):  # where a password is in the text is unknown unless user:pw@ shows it
        kept = _USERINFO.sub(r"\1@", url)
        return (kept, True) if kept != url else ("", bool(url))
    if u.password is None:
        return url, False
    bare = URL.create(u.drivername, username=u.username, host=u.host, port=u.port, database=u.database,
                      query=u.query)  # URL.set(password=None) would keep it
    return bare.render_as_string(hide_password=False), True


def _with_password(url: str, password: str) -> str:
    """The address with the separately typed password put in (unparsable text is left to the service)."""
    url = (url or "").strip()
    if not password:
        return url
    try:
        return make_url(url).set(password=password).render_as_string(hide_password=False)
    except (ArgumentError, ValueError):
        return url


def _split_error(text: str) -> tuple[str, str]:
    zh, _, en = (text or "").partition("\n")
    return zh, en or zh


def _row(s: PullSource) -> dict[str, Any]:
    zh, en = _split_error(s.last_error)
    return {"id": s.id, "name": s.name, "url_display": s.url_display, "table_name": s.table_name,
            "query": s.query, "mode": s.mode, "watermark_column": s.watermark_column,
            "last_watermark": watermark_display(s.last_watermark), "every_minutes": s.every_minutes,
            "enabled": s.enabled, "last_run_at": s.last_run_at, "last_load_id": s.last_load_id,
            "error_zh": zh, "error_en": en}


def _pull_page(request: Request, session: Session, actor: Actor, entry_id: int, *,
               values: dict[str, str] | None = None, password_dropped: bool = False,
               error: GongshuError | None = None, status: int = 200) -> Response:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    if not can(actor, "ingest.view_all"):
        require(actor, "ingest.view", org_id=entry.org_id)
    columns: list[str] = []
    if entry.version >= 1:
        snapshot = catalog_entries.published_snapshot(session, entry_id=entry.id)
        columns = [it["name"] for it in sorted(snapshot["items"], key=lambda it: it["seq"])]
    notice = NOTICES.get(request.query_params.get("done", "")) if error is None else None
    return render(request, "ingest/pull.html", {
        "entry": entry, "sources": [_row(s) for s in pull.list_sources(session, actor=actor, entry_id=entry.id)],
        "values": values or DEFAULTS, "password_dropped": password_dropped, "error": error, "notice": notice,
        "columns": columns, "can_load": can(actor, "ingest.load", org_id=entry.org_id),
    }, status_code=status)


def _source_of(session: Session, actor: Actor, entry_id: int, source_id: int) -> PullSource:
    source = pull.get_source(session, actor=actor, source_id=source_id)
    if source.entry_id != entry_id:
        raise NotFound(f"本目录下没有拉取任务 {source_id}", f"This entry has no pull source {source_id}")
    return source


@router.get(BASE + "/entries/{entry_id}/pull", response_class=HTMLResponse)
def pull_page(request: Request, entry_id: int, actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    return _pull_page(request, session, actor, entry_id)


@router.post(BASE + "/entries/{entry_id}/pull", response_class=HTMLResponse)
def add_source(request: Request, entry_id: int, name: str = Form(""), url: str = Form(""),
               password: str = Form(""), table_name: str = Form(""), query: str = Form(""),
               mode: str = Form("full"), watermark_column: str = Form(""), every_minutes: str = Form("1440"),
               actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        try:
            minutes = int(every_minutes.strip())
        except ValueError:
            raise Invalid("拉取间隔须为整数（分钟）", "The interval must be a whole number of minutes",
                          field="every_minutes") from None
        pull.create_source(session, actor=actor, entry_id=entry_id, name=name, url=_with_password(url, password),
                           table_name=table_name, query=query, mode=mode, watermark_column=watermark_column,
                           every_minutes=minutes)
    except GongshuError as exc:
        session.rollback()
        kept_url, dropped = _without_password(url)
        values = {"name": name, "url": kept_url, "table_name": table_name, "query": query, "mode": mode,
                  "watermark_column": watermark_column, "every_minutes": every_minutes}
        return _pull_page(request, session, actor, entry_id, values=values, error=exc, status=exc.status,
                          password_dropped=dropped or bool(password))
    return RedirectResponse(_page_url(entry_id, "created"), status_code=303)


def _act(request: Request, session: Session, actor: Actor, entry_id: int, source_id: int, what: str) -> Response:
    try:
        source = _source_of(session, actor, entry_id, source_id)
        if what == "queued":
            pull.request_run(session, actor=actor, source_id=source.id)
        elif what == "deleted":
            pull.delete_source(session, actor=actor, source_id=source.id)
        else:
            pull.update_source(session, actor=actor, source_id=source.id, enabled=what == "enabled")
    except GongshuError as exc:
        session.rollback()
        return _pull_page(request, session, actor, entry_id, error=exc, status=exc.status)
    return RedirectResponse(_page_url(entry_id, what), status_code=303)


@router.post(BASE + "/entries/{entry_id}/pull/{source_id}/run", response_class=HTMLResponse)
def run_now(request: Request, entry_id: int, source_id: int, actor: Actor = Depends(page_actor),
            session: Session = Depends(get_db)) -> Response:
    return _act(request, session, actor, entry_id, source_id, "queued")


@router.post(BASE + "/entries/{entry_id}/pull/{source_id}/enable", response_class=HTMLResponse)
def enable(request: Request, entry_id: int, source_id: int, actor: Actor = Depends(page_actor),
           session: Session = Depends(get_db)) -> Response:
    return _act(request, session, actor, entry_id, source_id, "enabled")


@router.post(BASE + "/entries/{entry_id}/pull/{source_id}/disable", response_class=HTMLResponse)
def disable(request: Request, entry_id: int, source_id: int, actor: Actor = Depends(page_actor),
            session: Session = Depends(get_db)) -> Response:
    return _act(request, session, actor, entry_id, source_id, "disabled")


@router.post(BASE + "/entries/{entry_id}/pull/{source_id}/delete", response_class=HTMLResponse)
def delete(request: Request, entry_id: int, source_id: int, actor: Actor = Depends(page_actor),
           session: Session = Depends(get_db)) -> Response:
    return _act(request, session, actor, entry_id, source_id, "deleted")

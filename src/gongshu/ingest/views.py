"""Aggregation pages: the overview (attached / fresh / late), an entry's data page (upload, loads,
versions, rollback, policy), a load's report, the diff of two versions, and browsing the data."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, can
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError
from gongshu.ingest.api import spool
from gongshu.ingest.models import LOAD_STATUS_ZH
from gongshu.ingest.service import freshness, loads, overview, retention, versions
from gongshu.kit.identifiers import mask_id_number
from gongshu.web.deps import TASK_LINKS, get_db, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
BASE = "/workbench/ingest"
WORKBENCH_LINKS.append((BASE, "数据归集", "Data aggregation", "ingest.view"))
WORKBENCH_LINKS.append((BASE + "?all=1", "全市归集情况", "Aggregation city-wide", "ingest.view_all"))
TASK_LINKS[freshness.TASK_SUBJECT] = BASE + "/entries/{id}"
ENCODINGS = ("", "utf-8", "utf-8-sig", "gbk", "gb18030")
BADGE = {"unattached": "", "fresh": "green", "late": "red", "applied": "green", "rejected": "red", "failed": "red",
         "checked": "blue", "unchanged": "green", "queued": "amber", "validating": "amber", "current": "green", "kept": "", "expired": ""}
ctx_globals = {"STATUS_ZH": freshness.STATUS_ZH, "STATUS_EN": freshness.STATUS_EN, "LOAD_STATUS_ZH": LOAD_STATUS_ZH,
               "BADGE": BADGE}


@router.get(BASE, response_class=HTMLResponse)
def overview_page(request: Request, status: str | None = None, org_id: int | None = None,
                  actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    rows, counts = overview.overview(session, actor=actor, org_id=org_id, status=status or None)
    return render(request, "ingest/overview.html", {**ctx_globals, "rows": rows, "counts": counts,
                                                    "status": status or "", "org_id": org_id,
                                                    "all_orgs": can(actor, "ingest.view_all")})


def _entry_page(request: Request, session: Session, actor: Actor, entry_id: int, *,
                error: GongshuError | None = None, status: int = 200) -> Response:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    history = versions.list_versions(session, actor=actor, entry_id=entry.id)
    att = freshness.attachment(session, entry_ids=[entry.id])[entry.id]
    return render(request, "ingest/entry.html", {
        **ctx_globals, "entry": entry, "versions": history, "att": att, "error": error,
        "loads": loads.list_loads(session, actor=actor, entry_id=entry.id, limit=30),
        "policy": retention.policy_of(session, entry_id=entry.id), "encodings": ENCODINGS,
        "can_load": can(actor, "ingest.load", org_id=entry.org_id),
        "can_rollback": can(actor, "ingest.rollback", org_id=entry.org_id),
        "can_policy": can(actor, "ingest.policy", org_id=entry.org_id),
        "can_read": can(actor, "ingest.data.read", org_id=entry.org_id),
    }, status_code=status)


@router.get(BASE + "/entries/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: int, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return _entry_page(request, session, actor, entry_id)


@router.post(BASE + "/entries/{entry_id}/upload", response_class=HTMLResponse)
def upload(request: Request, entry_id: int, file: UploadFile = File(...), mode: str = Form("full"),
           encoding: str = Form(""), dry_run: str = Form(""), actor: Actor = Depends(page_actor),
           session: Session = Depends(get_db)) -> Response:
    path, sm3 = spool(file)
    try:
        load = loads.receive_file(session, actor=actor, entry_id=entry_id, path=path,
                                  filename=file.filename or "", mode=mode, encoding=encoding or None,
                                  dry_run=bool(dry_run), sm3=sm3)
    except GongshuError as exc:
        session.rollback()
        return _entry_page(request, session, actor, entry_id, error=exc, status=exc.status)
    finally:
        path.unlink(missing_ok=True)
    return RedirectResponse(f"{BASE}/loads/{load.id}", status_code=303)


@router.get(BASE + "/loads/{load_id}", response_class=HTMLResponse)
def load_page(request: Request, load_id: int, actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    load = loads.get_load(session, actor=actor, load_id=load_id)
    entry = catalog_entries.fetch(session, entry_id=load.entry_id)
    version = None
    if load.version_id:
        version = next((v for v in versions.list_versions(session, actor=actor, entry_id=entry.id)
                        if v.id == load.version_id), None)
    return render(request, "ingest/load.html", {**ctx_globals, "load": load, "entry": entry, "version": version,
                                                "report": load.report or {},
                                                "running": load.status in ("queued", "validating")})


@router.post(BASE + "/entries/{entry_id}/rollback", response_class=HTMLResponse)
def rollback(request: Request, entry_id: int, version: int = Form(...), reason: str = Form(""),
             actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        versions.rollback(session, actor=actor, entry_id=entry_id, number=version, reason=reason)
    except GongshuError as exc:
        session.rollback()
        return _entry_page(request, session, actor, entry_id, error=exc, status=exc.status)
    return RedirectResponse(f"{BASE}/entries/{entry_id}", status_code=303)


@router.post(BASE + "/entries/{entry_id}/policy", response_class=HTMLResponse)
def policy(request: Request, entry_id: int, max_error_rate: str = Form("0"), keep_versions: str = Form("5"),
           actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        try:
            rate, keep = float(max_error_rate) / 100, int(keep_versions)
        except ValueError as exc:
            raise versions.Invalid("请填写数字", "Enter numbers", field="max_error_rate") from exc
        versions.set_policy(session, actor=actor, entry_id=entry_id, max_error_rate=rate, keep_versions=keep)
    except GongshuError as exc:
        session.rollback()
        return _entry_page(request, session, actor, entry_id, error=exc, status=exc.status)
    return RedirectResponse(f"{BASE}/entries/{entry_id}", status_code=303)


@router.get(BASE + "/entries/{entry_id}/diff", response_class=HTMLResponse)
def diff_page(request: Request, entry_id: int, old: int, new: int, kind: str = "",
              offset: int = Query(0, ge=0), actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    if not kind:  # the first kind of difference there is
        counts = versions.diff(session, actor=actor, entry_id=entry_id, old=old, new=new)["counts"]
        kind = next((k for k in ("changed", "added", "deleted") if counts[k]), "changed")
    out = versions.diff(session, actor=actor, entry_id=entry_id, old=old, new=new, kind=kind, limit=50,
                        offset=offset)
    return render(request, "ingest/diff.html", {**ctx_globals, "entry": entry, **out, "offset": offset,
                                                "mask": _masker(out["columns"])})


@router.get(BASE + "/entries/{entry_id}/data", response_class=HTMLResponse)
def data_page(request: Request, entry_id: int, after: str | None = None, actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    filters = {k[2:]: v for k, v in request.query_params.items() if k.startswith("f.") and v}
    version, columns, rows, nxt = versions.query(session, actor=actor, entry_id=entry_id, filters=filters,
                                                 after=after.split("\x1f") if after else None, limit=50)
    return render(request, "ingest/data.html", {
        **ctx_globals, "entry": entry, "version": version, "columns": columns, "rows": rows, "filters": filters,
        "next": None if nxt is None else "\x1f".join("" if v is None else str(v) for v in nxt),
        "mask": _masker(columns)})


def _masker(columns):
    """Identifiers are shown masked on pages (full values through the API, access-logged)."""
    ids = {c.name for c in columns if "身份" in c.label or "证号" in c.label}

    def mask(name: str, value):
        if value is None:
            return ""
        return mask_id_number(str(value)) if name in ids else value
    return mask

"""The sharing access log (共享访问记录, R-SHR-3, R-OPN-7 style): every call and delivery, allowed or refused.

The authority and auditors see all events and filter by consumer, source, entry, grant, application, result,
operation, dates and data subject; a department sees the events on its data (as source) and its own calls
(as consumer). Newest first, in keyset pages. A data subject is searched by its key (e.g. an ID number),
which is posted, turned into its digest (:func:`.service.evidence.subject_digest`) and never put into a URL
or shown: pages and links carry only the digest. Events hold no raw keys to show.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, Invalid
from gongshu.sharing.service import evidence
from gongshu.sharing.views_common import BASE, vocab, whole
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)
LOG = BASE + "/access"
PAGE = 50
#: query parameters of the page (the subject's key is never one: only its digest)
FILTERS = ("side", "consumer", "source", "entry", "grant", "application", "result", "operation", "since", "until",
           "digest")
SIDES = {"": ("全部", "All"), "source": ("本部门数据被访问", "Access to our data"),
         "consumer": ("本部门的调用", "Our calls")}


def _filters(params: Any) -> dict[str, str]:
    return {k: str(params.get(k, "") or "").strip() for k in FILTERS}


def _search_args(actor: Actor, f: dict[str, str], view_all: bool) -> dict[str, Any]:
    """The filters as :func:`.service.evidence.search` arguments (bad ones: :class:`Invalid` naming them)."""
    args: dict[str, Any] = {
        "grant_id": whole(f["grant"], "grant", "授权编号", "The grant number"), "entry_id": whole(f["entry"], "entry"),
        "application_id": whole(f["application"], "application"),
        "result": f["result"] or None, "operation": f["operation"] or None,
        "since": f["since"] or None, "until": f["until"] or None, "digest": None,
    }
    if f["digest"]:
        digest = f["digest"].lower()
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise Invalid("数据主体摘要无效，请重新输入主键值查询", "Invalid data subject digest: search by the key again",
                          field="digest")
        args["digest"] = digest
    if view_all:
        args["consumer_org_id"] = whole(f["consumer"], "consumer")
        args["source_org_id"] = whole(f["source"], "source")
    elif f["side"] == "source":
        args["source_org_id"] = actor.org_id
        args["consumer_org_id"] = whole(f["consumer"], "consumer")
    elif f["side"] == "consumer":
        args["consumer_org_id"] = actor.org_id
        args["source_org_id"] = whole(f["source"], "source")
    elif f["side"]:
        raise Invalid(f"查看范围“{f['side']}”无效", f"Unknown side '{f['side']}'", field="side")
    else:
        args["consumer_org_id"] = whole(f["consumer"], "consumer")
        args["source_org_id"] = whole(f["source"], "source")
    return args


def _url(f: dict[str, str], **change: str) -> str:
    merged = {**f, **change}
    return LOG + "?" + urlencode({k: v for k, v in merged.items() if v})


def log_page(request: Request, session: Session, actor: Actor, f: dict[str, str], before: str = "",
             error: GongshuError | None = None) -> Response:
    view_all = can(actor, "sharing.view_all")
    if not view_all:
        auth_service.require(actor, "sharing.access.view", org_id=actor.org_id)
    rows: list = []
    nxt = None
    try:
        if error is None:
            args = _search_args(actor, f, view_all)
            rows, nxt = evidence.search(session, actor=actor, before_id=whole(before, "before"), limit=PAGE, **args)
    except GongshuError as exc:
        error = exc
    published = catalog_entries.published(session)
    names = {e.id: e.name for e in published}
    names.update({i: catalog_entries.fetch(session, entry_id=i).name
                  for i in {e.entry_id for e in rows if e.entry_id} - names.keys()})
    return render(request, "sharing/access_log.html", {
        **vocab(), "rows": rows, "f": f, "next_url": _url(f, before=str(nxt)) if nxt else "",
        "first_url": _url(f) if before else "", "view_all": view_all, "error": error, "SIDES": SIDES,
        "orgs": {o.id: o for o in auth_service.orgs(session)}, "entry_names": names, "entries": published,
        "departments": [o for o in auth_service.orgs(session) if o.kind not in ("authority", "operator")],
        "clear_subject": _url(f, digest="") if f["digest"] else "",
    }, status_code=error.status if error else 200)


@router.get(LOG, response_class=HTMLResponse)
def access_log(request: Request, before: str = "", actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return log_page(request, session, actor, _filters(request.query_params), before)


@router.post(LOG, response_class=HTMLResponse)
async def access_log_search(request: Request, actor: Actor = Depends(page_actor),
                            session: Session = Depends(get_db)) -> Response:
    """The filter form is posted, so a data subject's key (e.g. an ID number) is turned into its digest here
    and never appears in a URL; the answer redirects to the page with the digest."""
    form = await request.form()
    f = _filters(form)
    subject = str(form.get("subject", "") or "").strip()
    if subject:
        if len(subject) > 200:
            return log_page(request, session, actor, f, error=Invalid(
                "主键值不能超过 200 个字符", "The key may have at most 200 characters", field="subject"))
        f["digest"] = evidence.subject_digest(subject)
    return RedirectResponse(_url(f), status_code=303)


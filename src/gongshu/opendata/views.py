"""The open data portal's pages (no login needed to browse, R-OPN-1/2/8): home, search over the open datasets
(the catalogue's Chinese search restricted to them), a dataset's page (metadata, public items, update cycle and
freshness, licence and attribution, usage figures, versions with downloads, a masked preview), a department's
open datasets; and, in the workbench, the review before opening (R-OPN-6)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can
from gongshu.catalog.models import ITEM_TYPES
from gongshu.catalog.service import entries as catalog_entries
from gongshu.catalog.service import search
from gongshu.db import read_only_session
from gongshu.errors import GongshuError, Invalid
from gongshu.kit.pagination import Page
from gongshu.opendata.models import APPLICATION_STATUS, REVIEW_STATUS, RISK_LEVELS, OpenAccount
from gongshu.opendata.service import adjustment, applications, datasets, portal, reviews, rows
from gongshu.opendata.views_accounts import SESSION_COOKIE, portal_account
from gongshu.sharing.service import evidence
from gongshu.web.deps import get_db, optional_actor, page_actor, render
from gongshu.web.views import WORKBENCH_LINKS

router = APIRouter(include_in_schema=False)
WORKBENCH_LINKS.append(("/workbench/opendata/reviews", "开放前审查", "Reviews before opening", "opendata.review.view"))
PAGE_SIZE = 20
PREVIEW_ROWS = 10
FORMATS = (("csv", "CSV"), ("xlsx", "Excel"), ("json", "JSON"), ("parquet", "Parquet"))
OPEN_BADGE = {"无条件开放": "green", "有条件开放": "amber"}
#: the facets the portal's search offers (the catalogue's, less those every open dataset shares)
FACETS = {k: v for k, v in search.FACETS.items() if k in ("dept", "topic", "resource_attr", "open_type", "format",
                                                             "update_cycle")}


def dataset_url(code: str) -> str:
    return "/open/datasets/" + datasets.slug(code)


def _viewed(session: Session, actor: Actor | None, ds: datasets.Dataset, operation: str, rows_shown: int = 0,
            items: tuple[str, ...] = (), also: list[evidence.Access] = ()) -> None:
    """Log a page view (R-OPN-7) once the page's transaction has ended: the page is sent when its access event
    is committed (the group-commit writer's batch), as every read of the data is."""
    session.commit()
    evidence.record(evidence.Access(
        operation=operation, result="ok", entry_id=ds.entry.id, source_org_id=ds.entry.org_id,
        end_user=actor.username if actor else "公众", purpose="open", items=items, rows=rows_shown), *also)


# The portal ---------------------------------------------------------------------------------------------

@router.get("/open", response_class=HTMLResponse)
def home_page(request: Request, session: Session = Depends(get_db)) -> Response:
    return render(request, "opendata/home.html", {"home": portal.home(session), "dataset_url": dataset_url,
                                                  "OPEN_BADGE": OPEN_BADGE})


class Query:
    """The search page's query string (words, facet values, page)."""

    def __init__(self, q: str, filters: dict[str, list[str]]) -> None:
        self.q, self.filters = q, filters

    def _url(self, filters: dict[str, list[str]], page: int = 1) -> str:
        pairs = [("q", self.q)] if self.q else []
        for k in FACETS:
            pairs.extend((k, v) for v in filters.get(k, []))
        if page > 1:
            pairs.append(("page", str(page)))
        return "/open/datasets" + ("?" + urlencode(pairs) if pairs else "")

    def url(self, page: int = 1) -> str:
        return self._url(self.filters, page)

    def toggle(self, key: str, value: str) -> str:
        f = {k: list(v) for k, v in self.filters.items()}
        values = f.setdefault(key, [])
        values.remove(value) if value in values else values.append(value)
        return self._url(f)

    def selected(self, key: str, value: str) -> bool:
        return value in self.filters.get(key, [])

    def clear(self) -> str:
        return self._url({})


@router.get("/open/datasets", response_class=HTMLResponse)
def search_page(request: Request, q: str = "", page: int = 1, session: Session = Depends(get_db)) -> Response:
    raw = {k: [v for v in request.query_params.getlist(k) if v.strip()] for k in FACETS if k in request.query_params}
    query = Query(q.strip(), raw)
    try:
        result = search.search(session, actor=None, q=q, filters=raw, page=Page(max(page, 1), PAGE_SIZE),
                               within=datasets.opened_ids_select())
        error = None
    except GongshuError as exc:
        result, error = None, exc
    used = portal.usage(session, entry_ids=[h.entry_id for h in result.hits]) if result else {}
    return render(request, "opendata/search.html", {
        "result": result, "error": error, "query": query, "FACETS": FACETS, "dataset_url": dataset_url,
        "OPEN_BADGE": OPEN_BADGE, "used": used, "priority": adjustment.priority_entries(session)},
        status_code=error.status if error else 200)


@router.get("/open/datasets/{ref}", response_class=HTMLResponse)
def dataset_page(ref: str, request: Request, actor: Actor | None = Depends(optional_actor),
                 account: OpenAccount | None = Depends(portal_account),
                 session: Session = Depends(get_db)) -> Response:
    ds = datasets.get(session, ref=ref)
    mine = [a for a in applications.of_account(session, account=account) if a.entry_id == ds.entry.id] \
        if account is not None and ds.conditional else []
    preview, preview_error, events = None, None, []
    active = next((a for a in mine if a.status == "active"), None)
    if ds.version is not None and (not ds.conditional or active is not None):
        reading = read_only_session()  # rows.serve_preview detaches what it caches from its session
        try:
            outcome = rows.serve_preview(reading, ref=ds.entry.id, limit=PREVIEW_ROWS, caller=rows.Caller(
                session_token=request.cookies.get(SESSION_COOKIE, "")))
        finally:
            reading.close()
        preview, preview_error, events = outcome.body, outcome.error, outcome.events
        if preview_error is not None and not isinstance(preview_error, GongshuError):
            raise preview_error
    context = {
        "ds": ds, "e": ds.snapshot, "ITEM_TYPES": ITEM_TYPES, "OPEN_BADGE": OPEN_BADGE, "FORMATS": FORMATS,
        "slug": datasets.slug(ds.entry.code), "hidden": len(ds.snapshot["items"]) - len(ds.items),
        "versions": datasets.versions(session, dataset=ds), "freshness": portal.freshness_of(session, entry_id=ds.entry.id),
        "usage": portal.usage(session, entry_ids=[ds.entry.id]).get(ds.entry.id, {k: 0 for k in portal.USAGE}),
        "licence": datasets.licence(ds), "attribution": datasets.attribution(ds),
        "preview": preview, "preview_error": preview_error, "org": auth_service.get_org(session, ds.entry.org_id),
        "priority": adjustment.priority_entries(session).get(ds.entry.id),
        "account": account, "my_application": mine[0] if mine else None, "APP_STATUS": APPLICATION_STATUS,
        "DELIVERY": applications.DELIVERY,
    }
    response = render(request, "opendata/dataset.html", context)
    _viewed(session, actor, ds, "open_view", also=events)
    return response


@router.get("/open/orgs/{org_id:int}", response_class=HTMLResponse)
def org_page(org_id: int, request: Request, session: Session = Depends(get_db)) -> Response:
    org, entries = portal.department(session, org_id=org_id)
    snaps = catalog_entries.snapshots(session, entries=entries)
    return render(request, "opendata/org.html", {
        "org": org, "snaps": [snaps[e.id] for e in entries], "dataset_url": dataset_url, "OPEN_BADGE": OPEN_BADGE,
        "used": portal.usage(session, entry_ids=[e.id for e in entries])})


# The workbench: the review before opening ----------------------------------------------------------------

@router.get("/workbench/opendata/reviews", response_class=HTMLResponse)
def reviews_view(request: Request, status: str = "", entry: int | None = None, actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    return reviews_page(request, status=status, entry=entry, actor=actor, session=session)


def reviews_page(request: Request, *, actor: Actor, session: Session, status: str = "", entry: int | None = None,
                 error: GongshuError | None = None, form: dict | None = None) -> Response:
    items = reviews.list_reviews(session, actor=actor, status=status or None)
    entries = catalog_entries.load_many(session, entry_ids=[r.entry_id for r in items]) if items else {}
    candidate = None
    if entry is not None and can(actor, "opendata.review.submit", org_id=actor.org_id):
        candidate = catalog_entries.fetch(session, entry_id=entry)
    mine = [] if not can(actor, "opendata.review.submit", org_id=actor.org_id) else \
        reviews.candidates(session, actor=actor)
    return render(request, "opendata/reviews.html", {
        "reviews": items, "entries": entries, "status": status, "REVIEW_STATUS": REVIEW_STATUS,
        "RISK_LEVELS": RISK_LEVELS, "candidate": candidate, "candidates": mine, "error": error, "form": form or {},
        "may_decide": can(actor, "opendata.review.decide"), "dataset_url": dataset_url,
        "orgs": {o.id: o for o in auth_service.orgs(session)},
    }, status_code=error.status if error else 200)


@router.post("/workbench/opendata/reviews", response_class=HTMLResponse)
def submit_review(request: Request, entry_id: int = Form(...), confidentiality: str = Form(""),
                  risk_assessment: str = Form(""), risk_level: str = Form(""), measures: str = Form(""),
                  actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    form = {"confidentiality": confidentiality, "risk_assessment": risk_assessment, "risk_level": risk_level,
            "measures": measures}
    try:
        reviews.submit(session, actor=actor, entry_id=entry_id, **form)
    except GongshuError as exc:
        session.rollback()
        return reviews_page(request, entry=entry_id, actor=actor, session=session, error=exc, form=form)
    return RedirectResponse("/workbench/opendata/reviews?done=submitted", status_code=303)


STEPS = {"approve": reviews.approve, "return": reviews.return_review, "close": reviews.close}


@router.post("/workbench/opendata/reviews/{review_id:int}/{step}", response_class=HTMLResponse)
def decide_review(review_id: int, step: str, request: Request, note: str = Form(""),
                  actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    try:
        if step not in STEPS:
            raise Invalid(f"未知的操作：{step}", f"Unknown step: {step}", field="step")
        STEPS[step](session, actor=actor, review_id=review_id, note=note)
    except GongshuError as exc:
        session.rollback()
        return reviews_page(request, actor=actor, session=session, error=exc)
    return RedirectResponse(f"/workbench/opendata/reviews?done={step}", status_code=303)

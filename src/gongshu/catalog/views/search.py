"""Catalogue pages: the public catalogue (no login) — search with facets, and a published entry's detail."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.models import ITEM_TYPES
from gongshu.catalog.service import entries as service_entries
from gongshu.catalog.service import search as service
from gongshu.errors import GongshuError
from gongshu.kit.pagination import Page
from gongshu.web.deps import get_db, optional_actor, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
OPEN_BADGE = {"无条件开放": "green", "有条件开放": "amber", "不予开放": "red"}
SHARING_BADGE = {"无条件共享": "green", "有条件共享": "amber", "不予共享": "red"}


def entry_url(code: str) -> str:
    return "/catalog/" + quote(code, safe="/")


class Query:
    """The page's query string: the search words, the selected facet values, exact (no synonyms) and the page."""

    def __init__(self, q: str, filters: dict[str, list[str]], exact: bool = False) -> None:
        self.q = q
        self.filters = filters
        self.exact = exact

    def _pairs(self, filters: dict[str, list[str]], page: int = 1, exact: bool | None = None) -> list[tuple[str, str]]:
        pairs = [("q", self.q)] if self.q else []
        if self.exact if exact is None else exact:
            pairs.append(("exact", "1"))
        for k in service.FACETS:
            pairs.extend((k, v) for v in filters.get(k, []))
        if page > 1:
            pairs.append(("page", str(page)))
        return pairs

    def url(self, page: int = 1) -> str:
        return "/catalog?" + urlencode(self._pairs(self.filters, page))

    def toggle(self, key: str, value: str) -> str:
        """The URL with ``value`` of facet ``key`` switched on or off (back to page 1)."""
        f = {k: list(v) for k, v in self.filters.items()}
        values = f.setdefault(key, [])
        if value in values:
            values.remove(value)
        else:
            values.append(value)
        return "/catalog?" + urlencode(self._pairs(f))

    def selected(self, key: str, value: str) -> bool:
        return value in self.filters.get(key, [])

    def clear(self) -> str:
        return "/catalog?" + urlencode(self._pairs({}))

    def with_exact(self, exact: bool) -> str:
        """The URL searching the words as typed only (``exact``), or with the synonym dictionary again."""
        return "/catalog?" + urlencode(self._pairs(self.filters, exact=exact))


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(request: Request, q: str = "", page: int = 1, exact: str = "",
                 actor: Actor | None = Depends(optional_actor), session: Session = Depends(get_db)) -> Response:
    raw = {k: request.query_params.getlist(k) for k in service.FACETS if k in request.query_params}
    query = Query(q.strip(), {k: [v for v in vs if v.strip()] for k, vs in raw.items()}, exact=exact not in ("", "0"))
    try:
        result = service.search(session, actor=actor, q=q, filters=raw, page=Page(max(page, 1), PAGE_SIZE),
                                expand=not query.exact)
        error = None
    except GongshuError as exc:
        result, error = None, exc
    hit_badges = service_entries.badges(session, entry_ids=[h.entry_id for h in result.hits]) if result else {}
    return render(request, "catalog/public_search.html", {
        "badges": hit_badges, "result": result, "error": error, "query": query, "FACETS": service.FACETS, "entry_url": entry_url,
        "OPEN_BADGE": OPEN_BADGE, "SHARING_BADGE": SHARING_BADGE,
    }, status_code=error.status if error else 200)


@router.get("/catalog/{ref:path}", response_class=HTMLResponse)
def entry_page(request: Request, ref: str, actor: Actor | None = Depends(optional_actor),
               session: Session = Depends(get_db)) -> Response:
    entry = service.published_entry(session, actor=actor, ref=ref)
    return render(request, "catalog/public_entry.html", {
        "badges": service_entries.badges(session, entry_ids=[entry.entry_id])[entry.entry_id], "p": entry, "e": entry.fields, "ITEM_TYPES": ITEM_TYPES, "OPEN_BADGE": OPEN_BADGE,
        "SHARING_BADGE": SHARING_BADGE,
    })

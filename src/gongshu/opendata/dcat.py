"""The open data catalogue for machines (R-OPN-8), with ckanext-dcat's conventions:

- ``/catalog.jsonld``, ``/catalog.ttl``, ``/catalog.xml``: the DCAT-AP catalogue of the open datasets, a page at
  a time (``?page=N``, ``page_size`` 1–500, default 100; ``hydra:PagedCollection`` first/previous/next/last
  links), optionally only the datasets modified since ``modified_since=YYYY-MM-DD[THH:MM:SS]`` (Beijing time
  unless an offset is given);
- ``/open/datasets/{ref}.jsonld|.ttl|.xml``: one open dataset (ref = id, code or slug);
- ``/open/datasets/{ref}/datapackage.json``: its Frictionless Data Package (Table Schema of the CSV download).

No login. Errors (a dataset not open, a bad parameter) are JSON ``{"error": {...}}`` with the Chinese and
English message, whatever the client's Accept header: these are machine paths.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from gongshu.errors import GongshuError
from gongshu.opendata.service import datapackage, datasets
from gongshu.opendata.service import dcat as service
from gongshu.web.deps import get_db


class _JsonErrors(APIRoute):
    """Answers the service's errors as JSON (the app's handler chooses HTML for paths outside ``/api/``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except GongshuError as exc:
                body = {**exc.to_dict(), "request_id": getattr(request.state, "request_id", "")}
                return JSONResponse({"error": body}, status_code=exc.status)

        return route


router = APIRouter(include_in_schema=False, route_class=_JsonErrors)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _rdf(graph: Any, ext: str) -> Response:
    body, media = service.serialise(graph, ext)
    return Response(body, media_type=media)


def _catalog(ext: str) -> Callable[..., Response]:
    def catalog(request: Request, session: Session = Depends(get_db)) -> Response:
        q = request.query_params
        page = service.parse_page(q.get("page"), q.get("page_size"))
        since = (q.get("modified_since") or "").strip()
        found = service.catalog_page(session, page=page, modified_since=service.parse_modified_since(since))
        return _rdf(service.catalog_graph(found, base=_base(request), ext=ext, since=since or None), ext)
    return catalog


def _dataset(ext: str) -> Callable[..., Response]:
    def dataset(ref: str, request: Request, session: Session = Depends(get_db)) -> Response:
        ds = datasets.get(session, ref=ref)
        return _rdf(service.dataset_graph(dataset=ds, base=_base(request)), ext)
    return dataset


for _ext in service.FORMATS:
    router.add_api_route(f"/catalog.{_ext}", _catalog(_ext), methods=["GET"], name=f"dcat_catalog_{_ext}")
    router.add_api_route(f"/open/datasets/{{ref}}.{_ext}", _dataset(_ext), methods=["GET"],
                         name=f"dcat_dataset_{_ext}")


@router.get("/open/datasets/{ref}/datapackage.json")
def data_package(ref: str, request: Request, session: Session = Depends(get_db)) -> JSONResponse:
    ds = datasets.get(session, ref=ref)
    return JSONResponse(datapackage.descriptor(session, dataset=ds, base=_base(request)))

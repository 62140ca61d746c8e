"""Catalogue API: search (R-CAT-10). Public without a token: the public sees entries that are not 不予开放."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import search as service
from gongshu.kit.pagination import Page
from gongshu.web.deps import get_db, optional_actor

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class FacetCount(BaseModel):
    value: str
    count: int


class Facet(BaseModel):
    key: str = Field(description="query parameter of this facet")
    label: str
    label_en: str
    values: list[FacetCount]


class HitOut(BaseModel):
    entry_id: int
    code: str
    name: str
    summary: str
    org_name: str = Field(description="提供部门")
    resource_attr: str
    topic: str
    grade: str
    sharing_type: str
    open_type: str
    format: str
    update_cycle: str
    version: int
    published_at: datetime | None
    name_highlight: str = Field(description="name with matched words in 【】")
    url: str


class SearchOut(BaseModel):
    q: str
    terms: list[str] = Field(description="the words the query was segmented into")
    total: int
    page: int
    size: int
    pages: int
    public_only: bool = Field(description="true when only entries that are not 不予开放 are searched")
    hits: list[HitOut]
    facets: list[Facet]


class PublishedOut(BaseModel):
    entry_id: int
    version: int
    published_at: datetime | None
    entry: dict[str, Any]
    items: list[dict[str, Any]]
    hidden_items: int = Field(description="data items not shown because they are 不予开放 (public view)")
    public_only: bool


def _marked(segs: list[tuple[str, bool]]) -> str:
    return "".join(f"【{s}】" if hit else s for s, hit in segs)


def result_out(result: service.SearchResult) -> SearchOut:
    return SearchOut(
        q=result.q, terms=result.terms, total=result.total, page=result.page.page, size=result.page.size,
        pages=result.pages, public_only=result.public_only,
        hits=[HitOut(**{k: getattr(h, k) for k in HitOut.model_fields if hasattr(h, k)},
                     name_highlight=_marked(h.name_marked), url=f"/catalog/{h.code}") for h in result.hits],
        facets=[Facet(key=k, label=zh, label_en=en, values=[FacetCount(value=v, count=n) for v, n in result.facets[k]])
                for k, (_col, zh, en) in service.FACETS.items()],
    )


@router.get("/search", response_model=SearchOut, summary="检索目录 Search the catalogue")
def search(q: str = Query("", description="检索词：中文词、全拼（huji）或首字母（hj）、代码"),
           dept: list[str] = Query([], description="提供部门（可多选）"),
           resource_attr: list[str] = Query([], description="资源属性 基础/主题/部门"),
           topic: list[str] = Query([], description="资源分类"),
           grade: list[str] = Query([], description="数据分级"),
           sharing_type: list[str] = Query([], description="共享类型"),
           open_type: list[str] = Query([], description="开放属性"),
           format: list[str] = Query([], description="资源格式"),
           update_cycle: list[str] = Query([], description="更新周期"),
           page: int = 1, size: int = 20,
           actor: Actor | None = Depends(optional_actor), session: Session = Depends(get_db)) -> SearchOut:
    filters = {"dept": dept, "resource_attr": resource_attr, "topic": topic, "grade": grade,
               "sharing_type": sharing_type, "open_type": open_type, "format": format, "update_cycle": update_cycle}
    result = service.search(session, actor=actor, q=q, filters=filters, page=Page(page, size))
    return result_out(result)


@router.get("/published/{ref:path}", response_model=PublishedOut,
            summary="已发布目录详情 A published entry (by id or code)")
def published(ref: str, actor: Actor | None = Depends(optional_actor),
              session: Session = Depends(get_db)) -> PublishedOut:
    p = service.published_entry(session, actor=actor, ref=ref)
    return PublishedOut(entry_id=p.entry_id, version=p.version, published_at=p.published_at, entry=p.fields,
                        items=p.items, hidden_items=p.hidden_items, public_only=p.public_only)

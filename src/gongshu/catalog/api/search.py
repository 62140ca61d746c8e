"""Catalogue API: search (R-CAT-10). Public without a token: the public sees entries that are not 不予开放.

Also the search synonym and abbreviation dictionary (同义词/简称词典): list, add, edit, delete
(``catalog.synonyms.manage``).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import search as service
from gongshu.catalog.service import synonyms as synonyms_service
from gongshu.kit.pagination import Page
from gongshu.web.deps import api_actor, get_db, optional_actor

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


class ExpandedOut(BaseModel):
    term: str = Field(description="the query word found in the synonym dictionary, e.g. 社保")
    also: list[str] = Field(description="what it also searched (也搜索了), e.g. 社会保险")


class SearchOut(BaseModel):
    q: str
    terms: list[str] = Field(description="the words the query was segmented into")
    expanded: list[ExpandedOut] = Field(default_factory=list,
                                        description="query words the synonym dictionary expanded (也搜索了)")
    exact: bool = Field(False, description="true when the dictionary was not applied")
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
        q=result.q, terms=result.terms, expanded=[ExpandedOut(**e) for e in result.expanded], exact=not result.expand,
        total=result.total, page=result.page.page, size=result.page.size,
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
           exact: bool = Query(False, description="只按输入的词检索，不用同义词/简称词典扩展"),
           actor: Actor | None = Depends(optional_actor), session: Session = Depends(get_db)) -> SearchOut:
    filters = {"dept": dept, "resource_attr": resource_attr, "topic": topic, "grade": grade,
               "sharing_type": sharing_type, "open_type": open_type, "format": format, "update_cycle": update_cycle}
    result = service.search(session, actor=actor, q=q, filters=filters, page=Page(page, size), expand=not exact)
    return result_out(result)


@router.get("/published/{ref:path}", response_model=PublishedOut,
            summary="已发布目录详情 A published entry (by id or code)")
def published(ref: str, actor: Actor | None = Depends(optional_actor),
              session: Session = Depends(get_db)) -> PublishedOut:
    p = service.published_entry(session, actor=actor, ref=ref)
    return PublishedOut(entry_id=p.entry_id, version=p.version, published_at=p.published_at, entry=p.fields,
                        items=p.items, hidden_items=p.hidden_items, public_only=p.public_only)


# The synonym and abbreviation dictionary ----------------------------------------------------------

class SynonymIn(BaseModel):
    term: str = Field(description="词语：简称或同义词，如 社保（最多 20 字）")
    expansions: list[str] = Field(description="也检索的全称或同义词，如 [\"医疗保险\", \"医疗保障\"]（1–10 个，每个最多 40 字）")
    bidirectional: bool = Field(False, description="双向：词语和全称互为同义词，检索其中任一个都检索其他")


class SynonymOut(BaseModel):
    id: int
    term: str
    expansions: list[str]
    bidirectional: bool
    updated_at: datetime
    updated_by: str = Field(description="最后修改人；系统预置的为空")


def _synonym_out(row: synonyms_service.SynonymRow) -> SynonymOut:
    return SynonymOut(**asdict(row))


@router.get("/synonyms", response_model=list[SynonymOut], summary="检索同义词/简称词典 The search synonym dictionary")
def list_synonyms(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[SynonymOut]:
    return [_synonym_out(r) for r in synonyms_service.list_synonyms(session, actor=actor)]


@router.post("/synonyms", response_model=SynonymOut, status_code=201, summary="新增同义词/简称 Add a term")
def create_synonym(body: SynonymIn, actor: Actor = Depends(api_actor),
                   session: Session = Depends(get_db)) -> SynonymOut:
    row = synonyms_service.create(session, actor=actor, **body.model_dump())
    return _synonym_out(synonyms_service.describe(session, actor=actor, synonym_id=row.id))


@router.put("/synonyms/{synonym_id}", response_model=SynonymOut, summary="修改同义词/简称 Edit a term")
def update_synonym(synonym_id: int, body: SynonymIn, actor: Actor = Depends(api_actor),
                   session: Session = Depends(get_db)) -> SynonymOut:
    row = synonyms_service.update(session, actor=actor, synonym_id=synonym_id, **body.model_dump())
    return _synonym_out(synonyms_service.describe(session, actor=actor, synonym_id=row.id))


@router.delete("/synonyms/{synonym_id}", status_code=204, summary="删除同义词/简称 Delete a term")
def delete_synonym(synonym_id: int, actor: Actor = Depends(api_actor),
                   session: Session = Depends(get_db)) -> Response:
    synonyms_service.delete(session, actor=actor, synonym_id=synonym_id)
    return Response(status_code=204)

"""Catalogue API: entries, their review lifecycle, versions and diffs (R-CAT-1, 2, 3, 4, 5, 7)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.schemas import DataItemOut, EntryIn, EntryOut
from gongshu.catalog.service import entries as service
from gongshu.catalog.service import lifecycle, rules
from gongshu.errors import Invalid
from gongshu.kit.pagination import Page
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 目录"])


class EntryList(BaseModel):
    total: int
    page: int
    size: int
    entries: list[EntryOut]


class Problem(BaseModel):
    field: str
    message: str
    message_en: str


class ValidationOut(BaseModel):
    ok: bool
    errors: list[Problem]


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=2000, description="说明（可选）")


class ReasonsIn(BaseModel):
    reasons: str = Field(max_length=4000, description="退回理由（必填）")


class ReasonIn(BaseModel):
    reason: str = Field(max_length=2000, description="撤销理由（必填）")


class ChangeIn(BaseModel):
    kind: str = Field(description="legal_basis 法定依据变更 / duties 职责变更")
    description: str = Field(max_length=4000, description="变更内容")
    entry_ids: list[int] | None = Field(default=None, description="受影响的目录；空则为本单位全部已发布目录")


class ChangeOut(BaseModel):
    id: int
    org_id: int
    kind: str
    description: str
    declared_at: datetime
    due_date: date
    entry_ids: list[int]
    fulfilled_at: datetime | None


class ReviewOut(BaseModel):
    id: int
    entry_id: int
    submitted_by: int | None
    submitted_at: datetime
    change_note: str
    due_date: date
    decision: str | None
    reasons: str
    decided_by: int | None
    decided_at: datetime | None


class VersionOut(BaseModel):
    version: int
    digest: str
    published_at: datetime
    approved_by: int | None
    change_note: str


class ReviewQueueRow(BaseModel):
    entry: EntryOut
    review: ReviewOut


def entry_out(session: Session, entry: CatalogEntry, *, with_items: bool = True) -> EntryOut:
    out = EntryOut.model_validate(entry)
    if not with_items:
        return out
    codes = service.element_codes_of(session, entry_id=entry.id)
    items = [DataItemOut.model_validate(it).model_copy(update={"element_code": codes.get(it.id)})
             for it in service.items_of(session, entry_id=entry.id)]
    return out.model_copy(update={"items": items})


def _review_out(r) -> ReviewOut:
    return ReviewOut.model_validate(r, from_attributes=True)


@router.get("/entries", response_model=EntryList, summary="目录列表 List catalogue entries (working copies)")
def list_entries(status: str | None = Query(None, description="draft/submitted/returned/published/revising/withdrawn"),
                 q: str = Query("", max_length=100, description="名称或代码包含"),
                 org_id: int | None = Query(None), page: int = 1, size: int = 20,
                 actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> EntryList:
    pg = Page(page, size)
    rows, total = service.list_entries(session, actor=actor, page=pg, status=status, q=q, org_id=org_id)
    return EntryList(total=total, page=pg.page, size=pg.size,
                     entries=[entry_out(session, e, with_items=False) for e in rows])


@router.post("/entries", response_model=EntryOut, status_code=201, summary="新建目录 Create a draft entry")
def create_entry(body: EntryIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> EntryOut:
    """Errors: 422 with ``error.details`` listing every problem (``field`` like ``items[2].grade``)."""
    return entry_out(session, service.create_entry(session, actor=actor, data=body))


@router.post("/entries/validate", response_model=ValidationOut, summary="校验目录（不保存）Validate without saving")
def validate_entry(body: dict[str, Any] = Body(..., description="EntryIn 的 JSON"),
                   entry_id: int | None = Query(None, description="修改已有目录时填写"),
                   actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> ValidationOut:
    """Always 200 for well-formed JSON: ``ok`` and the list of problems, shape errors included."""
    data, errors = rules.parse_entry(body)
    if data is not None:
        errors = service.validate_entry(session, actor=actor, data=data, entry_id=entry_id)
    return ValidationOut(ok=not errors, errors=[Problem(**e) for e in errors])


@router.get("/entries/{entry_id:int}", response_model=EntryOut, summary="目录详情（工作稿）Get an entry")
def get_entry(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> EntryOut:
    return entry_out(session, service.get_entry(session, actor=actor, entry_id=entry_id))


@router.put("/entries/{entry_id:int}", response_model=EntryOut, summary="修改目录 Update a draft/returned/revising entry")
def update_entry(entry_id: int, body: EntryIn, actor: Actor = Depends(api_actor),
                 session: Session = Depends(get_db)) -> EntryOut:
    return entry_out(session, service.update_entry(session, actor=actor, entry_id=entry_id, data=body))


@router.post("/entries/{entry_id:int}/submit", response_model=ReviewOut, summary="提交审核 Submit for review")
def submit(entry_id: int, body: NoteIn | None = None, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> ReviewOut:
    return _review_out(lifecycle.submit(session, actor=actor, entry_id=entry_id, note=(body or NoteIn()).note))


@router.post("/entries/{entry_id:int}/approve", response_model=VersionOut, summary="审定通过并发布 Approve and publish")
def approve(entry_id: int, body: NoteIn | None = None, actor: Actor = Depends(api_actor),
            session: Session = Depends(get_db)) -> VersionOut:
    v = lifecycle.approve(session, actor=actor, entry_id=entry_id, note=(body or NoteIn()).note)
    return VersionOut.model_validate(v, from_attributes=True)


@router.post("/entries/{entry_id:int}/return", response_model=ReviewOut, summary="退回（须说明理由）Return with reasons")
def return_entry(entry_id: int, body: ReasonsIn, actor: Actor = Depends(api_actor),
                 session: Session = Depends(get_db)) -> ReviewOut:
    return _review_out(lifecycle.return_entry(session, actor=actor, entry_id=entry_id, reasons=body.reasons))


@router.post("/entries/{entry_id:int}/revise", response_model=EntryOut, summary="发起修订 Start a revision")
def revise(entry_id: int, body: NoteIn | None = None, actor: Actor = Depends(api_actor),
           session: Session = Depends(get_db)) -> EntryOut:
    return entry_out(session, lifecycle.revise(session, actor=actor, entry_id=entry_id, note=(body or NoteIn()).note))


@router.post("/entries/{entry_id:int}/withdraw", response_model=EntryOut, summary="撤销（数据主管部门）Withdraw")
def withdraw(entry_id: int, body: ReasonIn, actor: Actor = Depends(api_actor),
             session: Session = Depends(get_db)) -> EntryOut:
    return entry_out(session, lifecycle.withdraw(session, actor=actor, entry_id=entry_id, reason=body.reason))


@router.post("/entries/{entry_id:int}/withdraw-request", status_code=201,
             summary="申请撤销（部门）Request withdrawal")
def request_withdrawal(entry_id: int, body: ReasonIn, actor: Actor = Depends(api_actor),
                       session: Session = Depends(get_db)) -> dict[str, Any]:
    task = lifecycle.request_withdrawal(session, actor=actor, entry_id=entry_id, reason=body.reason)
    return {"task_id": task.id, "due_date": task.due_date.isoformat()}


@router.get("/entries/{entry_id:int}/history", response_model=list[VersionOut], summary="版本历史 Published versions")
def history(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[VersionOut]:
    return [VersionOut.model_validate(v, from_attributes=True)
            for v in service.history(session, actor=actor, entry_id=entry_id)]


@router.get("/entries/{entry_id:int}/versions/{version}", summary="某一版本的发布快照 Snapshot of a version")
def version_snapshot(entry_id: int, version: int, actor: Actor = Depends(api_actor),
                     session: Session = Depends(get_db)) -> dict[str, Any]:
    service.get_entry(session, actor=actor, entry_id=entry_id)
    return service.published_snapshot(session, entry_id=entry_id, version=version)


@router.get("/entries/{entry_id:int}/diff", summary="版本差异 Diff two versions (to omitted: the working copy)")
def diff(entry_id: int, from_version: int = Query(..., alias="from", ge=1),
         to_version: int | None = Query(None, alias="to", ge=1), actor: Actor = Depends(api_actor),
         session: Session = Depends(get_db)) -> dict[str, Any]:
    return service.diff(session, actor=actor, entry_id=entry_id, from_version=from_version, to_version=to_version)


@router.get("/entries/{entry_id:int}/reviews", response_model=list[ReviewOut], summary="审核记录 Reviews of an entry")
def reviews(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[ReviewOut]:
    service.get_entry(session, actor=actor, entry_id=entry_id)
    return [_review_out(r) for r in lifecycle.reviews_of(session, entry_id=entry_id)]


@router.get("/reviews", response_model=list[ReviewQueueRow], summary="审核队列 Entries awaiting review")
def review_queue(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[ReviewQueueRow]:
    return [ReviewQueueRow(entry=entry_out(session, e, with_items=False), review=_review_out(r))
            for e, r in lifecycle.review_queue(session, actor=actor)]


@router.post("/change-declarations", response_model=ChangeOut, status_code=201,
             summary="申报法定依据或职责变更 Declare a change of legal basis or duties")
def declare_change(body: ChangeIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> ChangeOut:
    if body.entry_ids is not None and not body.entry_ids:
        raise Invalid("请至少选择一个目录，或不填以包含全部已发布目录",
                      "Choose at least one entry, or omit entry_ids for all published entries", field="entry_ids")
    decl = lifecycle.declare_change(session, actor=actor, kind=body.kind, description=body.description,
                                    entry_ids=body.entry_ids)
    return ChangeOut.model_validate(decl, from_attributes=True)


@router.get("/change-declarations", response_model=list[ChangeOut], summary="变更申报 Change declarations")
def declarations(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[ChangeOut]:
    return [ChangeOut.model_validate(d, from_attributes=True) for d in lifecycle.declarations(session, actor=actor)]

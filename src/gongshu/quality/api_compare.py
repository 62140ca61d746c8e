"""Cross-source comparisons and grading suggestions API (R-GOV-4, DG 49): what the workbench's 跨源比对 and
分级建议 pages show, for the authority's and the departments' own tools — each element's latest comparison with its
per-pair counts and masked sample, the recognizers' scans, the grading suggestions, and the authority's decision
on one (accept: the source department gets a revision item; dismiss: with a reason). Who sees what is decided
in the services (:mod:`gongshu.quality.service.compare`, :mod:`gongshu.quality.service.recognize`), as on the pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.errors import Invalid
from gongshu.quality.models_compare import SUGGESTION_STATUS
from gongshu.quality.service import compare, recognize
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/quality", tags=["quality 数据治理"])


class ComparisonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    element_id: int
    element_code: str
    element_name: str
    subject_kind: str
    status: str
    legal_org_id: int | None
    legal_entry_id: int | None
    trigger_version_id: int | None
    sources: list[dict[str, Any]] = Field(description="比对的数据来源（目录、部门、版本、主体数）")
    subjects: int = Field(description="至少两个来源都有值的主体数")
    conflicts: int = Field(description="规范化后取值不一致的主体数")
    legal_conflicts: int = Field(description="与法定数源不一致的主体数")
    formatting: int = Field(description="仅写法不同（空格、全角等）的主体数")
    pairs: list[dict[str, Any]] = Field(description="每对来源的主体数、不一致数、仅写法不同数")
    sample: list[dict[str, Any]] = Field(description="不一致主体的样例（已脱敏）")
    issue_id: int | None = Field(description="转给法定数源的问题数据")
    library_routed: int
    latest: bool
    seconds: float
    error: str
    error_en: str
    created_at: datetime


class SuggestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scan_id: int | None
    entry_id: int
    org_id: int
    version_id: int | None
    catalog_version: int
    item: str
    recognizer: str
    matched: int
    values: int
    share: float
    declared_grade: str
    declared_personal: bool
    suggested_grade: str
    suggested_personal: bool
    reason: str
    reason_en: str
    sample: list[str] = Field(description="识别出的取值样例（已脱敏）")
    status: str = Field(description="open 待处理 / accepted 已采纳 / dismissed 已驳回 / applied 已修订")
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str
    applied_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ScanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    org_id: int
    version_id: int | None
    version_number: int | None
    status: str
    rows: int
    sampled: int
    recognizers: dict[str, Any] = Field(description="每个识别器是否运行；未能运行的写明原因")
    findings: list[dict[str, Any]]
    suggestions: int
    seconds: float
    error: str
    error_en: str
    created_at: datetime


class ScanDetail(ScanOut):
    grading_suggestions: list[SuggestionOut]


class Decision(BaseModel):
    note: str = Field("", description="采纳意见（可选）；驳回时为驳回理由（必填）")


@router.get("/comparisons", response_model=list[ComparisonOut],
            summary="各数据元最新的跨源比对 Each data element's latest comparison")
def list_comparisons(entry_id: int | None = Query(None, ge=1, lt=2**31), element_id: int | None = Query(None, ge=1, lt=2**31),
                     conflicts: bool = Query(False, description="只列出有不一致的"),
                     actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return compare.latest(session, actor=actor, entry_id=entry_id, element_id=element_id, conflicts_only=conflicts)


@router.get("/comparisons/{comparison_id}", response_model=ComparisonOut, summary="一次比对 A comparison")
def get_comparison(comparison_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return compare.get(session, actor=actor, comparison_id=comparison_id)


@router.get("/suggestions", response_model=list[SuggestionOut], summary="分级建议 Grading suggestions")
def list_suggestions(status: str = Query("open", description="open / accepted / dismissed / applied / all"),
                     actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    if status != "all" and status not in SUGGESTION_STATUS:
        raise Invalid(f"状态“{status}”无效，可选 {' / '.join([*SUGGESTION_STATUS, 'all'])}",
                      f"Unknown status '{status}': use {' / '.join([*SUGGESTION_STATUS, 'all'])}", field="status")
    return recognize.list_suggestions(session, actor=actor, status=None if status == "all" else status)


@router.get("/suggestions/{suggestion_id}", response_model=SuggestionOut, summary="一条分级建议 A grading suggestion")
def get_suggestion(suggestion_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return recognize.get_suggestion(session, actor=actor, suggestion_id=suggestion_id)


@router.post("/suggestions/{suggestion_id}/accept", response_model=SuggestionOut,
             summary="采纳：通知部门修订目录 Accept: the department gets a revision item")
def accept_suggestion(suggestion_id: int, body: Decision, actor: Actor = Depends(api_actor),
                      session: Session = Depends(get_db)) -> Any:
    return recognize.accept(session, actor=actor, suggestion_id=suggestion_id, note=body.note)


@router.post("/suggestions/{suggestion_id}/dismiss", response_model=SuggestionOut,
             summary="驳回（须说明理由）Dismiss, with a reason")
def dismiss_suggestion(suggestion_id: int, body: Decision, actor: Actor = Depends(api_actor),
                       session: Session = Depends(get_db)) -> Any:
    return recognize.dismiss(session, actor=actor, suggestion_id=suggestion_id, reason=body.note)


@router.get("/scans", response_model=list[ScanOut], summary="敏感数据识别记录 Recognizer scans")
def list_scans(entry_id: int | None = Query(None, ge=1, lt=2**31), limit: int = Query(50, ge=1, le=200),
               actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return recognize.scans_of(session, actor=actor, entry_id=entry_id, limit=limit)


@router.get("/scans/{scan_id}", response_model=ScanDetail, summary="一次识别及其分级建议 A scan and its suggestions")
def get_scan(scan_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    scan = recognize.get_scan(session, actor=actor, scan_id=scan_id)
    out = ScanOut.model_validate(scan).model_dump()
    out["grading_suggestions"] = recognize.suggestions_of_scan(session, actor=actor, scan_id=scan.id)
    return out

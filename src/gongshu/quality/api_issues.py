"""The data-issue API (接口对接, LZ 32): business systems report problems from the point of service (办事人员, 窗口
工作人员) with a staff API token, and follow them; operators and developers feed problems back the same way (ZQ 20).

``POST /api/v1/quality/issues`` → 201 with the issue's id, status and ``status_url``; ``GET`` that URL for the
status, outcome and timeline; ``GET /api/v1/quality/issues`` lists the caller's organisation's issues."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.quality.models_issues import ISSUE_STATUS, STAGES, DataIssue
from gongshu.quality.service import feedback, issues
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/quality", tags=["quality 数据治理"])
PAGE = "/workbench/quality/issues/{id}"


class IssueIn(BaseModel):
    """A problem found in another department's data."""

    model_config = ConfigDict(extra="forbid")
    entry: str | int = Field(description="目录编号或目录代码 / the catalogue entry's id or code")
    title: str = Field(description="问题标题 / a short title")
    description: str = Field(description="问题描述 / what is wrong")
    item: str = Field("", description="信息项名称 / the data item (optional)")
    row_ref: str = Field("", description="所在行：主键值、行号或描述 / the row (optional)")
    version: int | str | None = Field(None, description="数据版本号，默认当前版本 / data version (default: serving)")
    severity: str = Field("major", description="critical / major / minor")
    urgent: bool = Field(False, description="业务紧急，限时处理 / urgent: shorter deadlines (LZ 31)")
    evidence: dict[str, Any] | None = Field(None, description="证据：业务中看到的值等 / evidence (key/value)")
    external_key: str = Field("", description="业务系统的事项编号：重试不会重复反馈 / the caller's case number "
                                              "(idempotent retries)")


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: str
    from_status: str
    to_status: str
    stage: int
    actor_name: str
    note: str
    record: dict
    due_on: date | None
    created_at: datetime


class IssueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    org_id: int
    channel: str
    title: str
    description: str
    item: str
    row_ref: str
    version_number: int | None
    severity: str
    urgent: bool
    status: str
    status_zh: str = ""
    stage: int
    stage_zh: str = ""
    due_on: date | None
    dispute_until: date | None
    outcome: str
    outcome_note: str
    fixed_version: int | None
    occurrences: int
    reporter_org_id: int | None
    created_at: datetime
    closed_at: datetime | None
    status_url: str = ""
    page_url: str = ""
    steps: list[StepOut] = []


def _out(request: Request, session: Session, issue: DataIssue, *, steps: bool = False) -> IssueOut:
    out = IssueOut.model_validate(issue)
    out.status_zh, out.stage_zh = ISSUE_STATUS[issue.status][0], STAGES[issue.stage][0] if issue.stage else ""
    out.status_url = f"{router.prefix}/issues/{issue.id}"
    out.page_url = PAGE.format(id=issue.id)
    if steps:
        out.steps = [StepOut.model_validate(s) for s in issues.steps_of(session, issue_id=issue.id)]
    return out


@router.post("/issues", response_model=IssueOut, status_code=201)
def report_issue(body: IssueIn, request: Request, actor: Actor = Depends(api_actor),
                 session: Session = Depends(get_db)) -> IssueOut:
    """反馈问题数据：直接转数源部门，按工作日计算答复期限（紧急的缩短）。"""
    issue = feedback.report(session, actor=actor, via="api", **body.model_dump())
    return _out(request, session, issue)


@router.get("/issues", response_model=list[IssueOut])
def list_issues(request: Request, view: str = "reported", filter: str = "open", actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)) -> list[IssueOut]:
    """view: reported（本单位反馈的）/ inbox（本部门收到的）/ all（数据主管部门）；filter: open/overdue/urgent/…"""
    rows = issues.list_issues(session, actor=actor, view=view, filter=filter)
    return [_out(request, session, i) for i in rows]


@router.get("/issues/{issue_id}", response_model=IssueOut, name="issue_status")
def issue_status(issue_id: int, request: Request, actor: Actor = Depends(api_actor),
                 session: Session = Depends(get_db)) -> IssueOut:
    """问题数据的状态、处理结果和处理过程。"""
    return _out(request, session, issues.get_for(session, actor=actor, issue_id=issue_id), steps=True)

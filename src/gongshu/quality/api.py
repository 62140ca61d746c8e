"""Quality rules and checks API (R-GOV-1): the rule kinds, an entry's rules (create, edit = new version, retire,
YAML import/export), checks (run now, list, one check with its results)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.errors import Invalid
from gongshu.quality.service import checks, rules, rules_yaml
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1/quality", tags=["quality 数据治理"])
MAX_YAML = 512 * 1024


class RuleIn(BaseModel):
    kind: str = Field(description="规则类型，见 GET /api/v1/quality/kinds")
    item: str = Field("", description="信息项名称（整条记录的规则留空）")
    params: dict[str, Any] = Field(default_factory=dict)
    severity: str = "major"
    weight: float = 1.0
    tolerance: float = Field(0.0, description="容忍的不符合比例（0–1），不超过时不生成问题数据")
    description: str = ""
    key: str | None = Field(None, description="规则标识（默认由类型和信息项生成）")


class RuleEdit(BaseModel):
    item: str | None = None
    params: dict[str, Any] | None = None
    severity: str | None = None
    weight: float | None = None
    tolerance: float | None = None
    description: str | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    key: str
    version: int
    status: str
    kind: str
    dimension: str
    item: str
    params: dict[str, Any]
    severity: str
    weight: float
    tolerance: float
    origin: str
    description: str
    created_at: datetime
    retired_at: datetime | None


class CheckOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    entry_id: int
    version_id: int | None
    version_number: int | None
    trigger: str
    status: str
    rows: int
    rules: int
    failed_rules: int
    not_run: int
    score: float | None
    level: int | None
    dimensions: dict[str, float]
    seconds: float
    error: str
    error_en: str
    latest: bool
    created_at: datetime
    finished_at: datetime | None


class ResultOut(BaseModel):
    id: int
    rule: RuleOut
    dimension: str
    checked: int
    passed: int
    ratio: float | None
    ran: bool
    error: str
    error_en: str
    failing_rows: str | None = Field(None, description="不符合数据行的 CSV 下载地址（工作台）")
    sample: list[dict[str, Any]]


class CheckDetail(CheckOut):
    results: list[ResultOut]


class ImportOut(BaseModel):
    created: list[RuleOut]
    updated: list[RuleOut]
    retired: list[RuleOut]
    unchanged: int


@router.get("/kinds", summary="规则类型 Rule kinds")
def kinds(actor: Actor = Depends(api_actor)) -> list[dict[str, Any]]:
    return [{"kind": k.name, "zh": k.zh, "en": k.en, "dimension": k.dimension, "item": k.item,
             "one_of": list(k.one_of), "description": k.doc_zh,
             "params": [{"name": p.name, "type": p.type, "zh": p.zh, "en": p.en, "required": p.required,
                         "choices": list(p.choices)} for p in k.params]} for k in rules.KINDS.values()]


@router.get("/entries/{entry_id}/rules", response_model=list[RuleOut], summary="目录的质量规则 An entry's rules")
def list_rules(entry_id: int, all: bool = Query(False, description="含已停用的旧版本"),
               actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return rules.list_rules(session, actor=actor, entry_id=entry_id, include_retired=all)


@router.post("/entries/{entry_id}/rules", response_model=RuleOut, status_code=201, summary="添加规则 Add a rule")
def create_rule(entry_id: int, body: RuleIn, actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)) -> Any:
    return rules.create_rule(session, actor=actor, entry_id=entry_id, kind=body.kind, item=body.item,
                             params=body.params, severity=body.severity, weight=body.weight,
                             tolerance=body.tolerance, description=body.description, key=body.key)


@router.put("/rules/{rule_id}", response_model=RuleOut, summary="修改规则（生成新版本）Edit a rule (new version)")
def edit_rule(rule_id: int, body: RuleEdit, actor: Actor = Depends(api_actor),
              session: Session = Depends(get_db)) -> Any:
    return rules.update_rule(session, actor=actor, rule_id=rule_id, item=body.item, params=body.params,
                             severity=body.severity, weight=body.weight, tolerance=body.tolerance,
                             description=body.description)


@router.delete("/rules/{rule_id}", response_model=RuleOut, summary="停用规则 Retire a rule")
def retire_rule(rule_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    return rules.retire_rule(session, actor=actor, rule_id=rule_id)


@router.get("/entries/{entry_id}/rules.yaml", summary="导出规则（YAML）Export the rules as YAML")
def export_yaml(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Response:
    return Response(rules_yaml.export_yaml(session, actor=actor, entry_id=entry_id).encode("utf-8"),
                    media_type="application/x-yaml; charset=utf-8")


@router.put("/entries/{entry_id}/rules.yaml", response_model=ImportOut,
            summary="导入规则（YAML，全部或全不）Import rules from YAML (all or nothing)")
async def import_yaml(entry_id: int, request: Request, filename: str = Query("rules.yaml"),
                      actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    """Send the YAML file as the body. On any problem nothing is imported and the error's ``details`` list each
    problem with ``line``, ``rule``, ``field`` and the message in Chinese and English."""
    raw = await request.body()
    if len(raw) > MAX_YAML:
        raise Invalid("规则文件不能超过 512 KB", "A rules file may not exceed 512 KB", field="file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("规则文件应为 UTF-8 编码的 YAML", "The rules file must be UTF-8 YAML", field="file") from exc
    result = rules_yaml.import_yaml(session, actor=actor, entry_id=entry_id, text=text, filename=filename)
    return ImportOut(created=result.created, updated=result.updated, retired=result.retired,
                     unchanged=result.unchanged)


@router.post("/entries/{entry_id}/checks", status_code=202, summary="检查当前数据 Check the serving version now")
def request_check(entry_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)
                  ) -> dict[str, Any]:
    job = checks.request_check(session, actor=actor, entry_id=entry_id)
    return {"job_id": job.id, "entry_id": entry_id, "version_id": job.payload.get("version_id"), "status": "queued"}


@router.get("/entries/{entry_id}/checks", response_model=list[CheckOut], summary="目录的检查 An entry's checks")
def list_checks(entry_id: int, limit: int = Query(30, ge=1, le=200), actor: Actor = Depends(api_actor),
                session: Session = Depends(get_db)) -> Any:
    return checks.list_checks(session, actor=actor, entry_id=entry_id, limit=limit)


@router.get("/checks/{check_id}", response_model=CheckDetail, summary="一次检查及各规则结果 A check and its results")
def get_check(check_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> Any:
    check = checks.get_check(session, actor=actor, check_id=check_id)
    results = [ResultOut(id=res.id, rule=RuleOut.model_validate(rule), dimension=res.dimension, checked=res.checked,
                         passed=res.passed, ratio=res.passed / res.checked if res.checked else None, ran=res.ran,
                         error=res.error, error_en=res.error_en, sample=res.sample or [],
                         failing_rows=f"/workbench/quality/checks/{check.id}/results/{res.id}.csv"
                         if res.failing_path else None)
               for res, rule in checks.results_of(session, check_id=check.id)]
    return CheckDetail(**CheckOut.model_validate(check).model_dump(), results=results)

"""Workbench pages of quality rules and checks (R-GOV-1): an entry's rules by dimension (add, edit as a new version,
retire, defaults, YAML import/export, run a check now) and a check's results (per rule A/B, the reason a rule could
not run, a masked sample of the failing rows and their CSV)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.auth.service import Actor
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, Invalid
from gongshu.ingest.service import versions as ingest_versions
from gongshu.quality.models import CHECK_STATUS, CHECK_TRIGGERS, DIMENSIONS, LEVELS, RULE_ORIGINS, SEVERITIES
from gongshu.quality.service import checks, rule_defaults, rules, rules_yaml
from gongshu.web.deps import get_db, page_actor, render

router = APIRouter(include_in_schema=False)
BASE = "/workbench/quality"
#: largest YAML file accepted by the import form
MAX_YAML = 512 * 1024
LEVEL_NAMES = {level: (zh, en) for _lower, level, zh, en in LEVELS}
STATUS_NAMES = {"queued": ("排队中", "Queued"), "running": ("检查中", "Running"), "done": ("已完成", "Done"),
                "failed": ("失败", "Failed")}
assert set(STATUS_NAMES) == set(CHECK_STATUS)
SEVERITY_BADGE = {"critical": "red", "major": "amber", "minor": ""}
CTX = {"DIMENSIONS": DIMENSIONS, "SEVERITIES": SEVERITIES, "KINDS": rules.KINDS, "RULE_ORIGINS": RULE_ORIGINS,
       "CHECK_TRIGGERS": CHECK_TRIGGERS, "LEVEL_NAMES": LEVEL_NAMES, "STATUS_NAMES": STATUS_NAMES,
       "SEVERITY_BADGE": SEVERITY_BADGE, "BASE": BASE}


def params_text(params: dict[str, Any]) -> str:
    """Parameters as one line of flow YAML/JSON for the table and the edit form."""
    return json.dumps(params or {}, ensure_ascii=False)[1:-1] if params else ""


def _rules_page(request: Request, session: Session, actor: Actor, entry_id: int, *, error: GongshuError | None = None,
                done: str = "", form: dict | None = None, status: int = 200) -> Response:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    active = rules.list_rules(session, actor=actor, entry_id=entry.id)
    by_dimension: dict[str, list] = {d: [] for d in DIMENSIONS}
    for r in active:
        by_dimension[r.dimension].append(r)
    return render(request, "quality/rules.html", {
        **CTX, "entry": entry, "by_dimension": by_dimension, "count": len(active), "error": error, "done": done,
        "form": form or {}, "items": list(rules.entry_items(session, entry_id=entry.id)),
        "checks": checks.list_checks(session, actor=actor, entry_id=entry.id, limit=15),
        "version": ingest_versions.current_version(session, entry_id=entry.id),
        "can_manage": rules.may(actor, "quality.rules.manage", entry.org_id),
        "can_run": rules.may(actor, "quality.check.run", entry.org_id), "params_text": params_text,
    }, status_code=status)


@router.get(BASE + "/entries/{entry_id:int}/rules", response_class=HTMLResponse)
def rules_page(request: Request, entry_id: int, done: str = "", actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    return _rules_page(request, session, actor, entry_id, done=done)


def _again(request: Request, session: Session, actor: Actor, entry_id: int, exc: GongshuError,
           form: dict | None = None) -> Response:
    session.rollback()
    return _rules_page(request, session, actor, entry_id, error=exc, form=form, status=exc.status)


def _back(entry_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"{BASE}/entries/{entry_id}/rules?done={done}", status_code=303)


@router.post(BASE + "/entries/{entry_id:int}/rules", response_class=HTMLResponse)
def add_rule(request: Request, entry_id: int, kind: str = Form(""), item: str = Form(""), params: str = Form(""),
             severity: str = Form("major"), weight: str = Form("1"), tolerance: str = Form("0"),
             description: str = Form(""), key: str = Form(""), actor: Actor = Depends(page_actor),
             session: Session = Depends(get_db)) -> Response:
    form = {"kind": kind, "item": item, "params": params, "severity": severity, "weight": weight,
            "tolerance": tolerance, "description": description, "key": key}
    try:
        rules.create_rule(session, actor=actor, entry_id=entry_id, kind=kind, item=item,
                          params=rules.parse_params(params), severity=severity, weight=weight,
                          tolerance=_share(tolerance), description=description, key=key or None)
    except GongshuError as exc:
        return _again(request, session, actor, entry_id, exc, form)
    return _back(entry_id, "added")


def _share(text: str) -> Any:
    """A tolerance typed as a percentage ("1%") or a share ("0.01")."""
    text = (text or "").strip()
    if text.endswith("%"):
        try:
            return float(text[:-1]) / 100
        except ValueError as exc:
            raise Invalid("容忍比例应为数字或百分数", "Tolerance must be a number or a percentage",
                          field="tolerance") from exc
    return text or 0


@router.post(BASE + "/rules/{rule_id:int}/edit", response_class=HTMLResponse)
def edit_rule(request: Request, rule_id: int, item: str = Form(""), params: str = Form(""),
              severity: str = Form("major"), weight: str = Form("1"), tolerance: str = Form("0"),
              description: str = Form(""), actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    rule = rules.get_rule(session, actor=actor, rule_id=rule_id)
    entry_id = rule.entry_id
    try:
        rules.update_rule(session, actor=actor, rule_id=rule_id, item=item, params=rules.parse_params(params),
                          severity=severity, weight=weight, tolerance=_share(tolerance), description=description)
    except GongshuError as exc:
        return _again(request, session, actor, entry_id, exc)
    return _back(entry_id, "edited")


@router.post(BASE + "/rules/{rule_id:int}/retire", response_class=HTMLResponse)
def retire_rule(request: Request, rule_id: int, actor: Actor = Depends(page_actor),
                session: Session = Depends(get_db)) -> Response:
    rule = rules.get_rule(session, actor=actor, rule_id=rule_id)
    entry_id = rule.entry_id
    try:
        rules.retire_rule(session, actor=actor, rule_id=rule_id)
    except GongshuError as exc:
        return _again(request, session, actor, entry_id, exc)
    return _back(entry_id, "retired")


@router.post(BASE + "/entries/{entry_id:int}/rules/defaults", response_class=HTMLResponse)
def add_defaults(request: Request, entry_id: int, actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    try:
        entry = catalog_entries.fetch(session, entry_id=entry_id)
        rules.require_may(actor, "quality.rules.manage", entry.org_id)
        rule_defaults.ensure_defaults(session, entry_id=entry.id, actor=actor)
    except GongshuError as exc:
        return _again(request, session, actor, entry_id, exc)
    return _back(entry_id, "defaults")


@router.get(BASE + "/entries/{entry_id:int}/rules.yaml")
def export_rules(entry_id: int, actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    text = rules_yaml.export_yaml(session, actor=actor, entry_id=entry.id)
    name = f"质量规则-{entry.code.replace('/', '-')}.yaml"
    return Response(text.encode("utf-8"), media_type="application/x-yaml; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"quality-rules-{entry.id}.yaml\"; filename*=UTF-8''{quote(name)}"})


@router.post(BASE + "/entries/{entry_id:int}/rules/import", response_class=HTMLResponse)
async def import_rules(request: Request, entry_id: int, file: UploadFile | None = File(None), text: str = Form(""),
                       actor: Actor = Depends(page_actor), session: Session = Depends(get_db)) -> Response:
    name = "rules.yaml"
    try:
        if file is not None and file.filename:
            raw = await file.read(MAX_YAML + 1)
            if len(raw) > MAX_YAML:
                raise Invalid("规则文件不能超过 512 KB", "A rules file may not exceed 512 KB", field="file")
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise Invalid("规则文件应为 UTF-8 编码的 YAML", "The rules file must be UTF-8 YAML", field="file") from exc
            name = file.filename
        if not text.strip():
            raise Invalid("请选择 YAML 文件或粘贴规则", "Choose a YAML file or paste the rules", field="file")
        result = rules_yaml.import_yaml(session, actor=actor, entry_id=entry_id, text=text, filename=name)
    except GongshuError as exc:
        return _again(request, session, actor, entry_id, exc, {"yaml": text})
    done = f"imported-{len(result.created)}-{len(result.updated)}-{len(result.retired)}"
    return _back(entry_id, done)


@router.post(BASE + "/entries/{entry_id:int}/check", response_class=HTMLResponse)
def run_check(request: Request, entry_id: int, actor: Actor = Depends(page_actor),
              session: Session = Depends(get_db)) -> Response:
    try:
        checks.request_check(session, actor=actor, entry_id=entry_id)
    except GongshuError as exc:
        return _again(request, session, actor, entry_id, exc)
    return _back(entry_id, "check-queued")


@router.get(BASE + "/checks/{check_id:int}", response_class=HTMLResponse)
def check_page(request: Request, check_id: int, actor: Actor = Depends(page_actor),
               session: Session = Depends(get_db)) -> Response:
    check = checks.get_check(session, actor=actor, check_id=check_id)
    entry = catalog_entries.fetch(session, entry_id=check.entry_id)
    results = checks.results_of(session, check_id=check.id)
    order = list(DIMENSIONS)
    results.sort(key=lambda pair: (order.index(pair[0].dimension), pair[0].ran, pair[0].passed - pair[0].checked,
                                   pair[1].key))
    return render(request, "quality/check.html", {**CTX, "check": check, "entry": entry, "results": results,
                                                  "params_text": params_text})


@router.get(BASE + "/checks/{check_id:int}/results/{result_id:int}.csv")
def failing_rows(check_id: int, result_id: int, actor: Actor = Depends(page_actor),
                 session: Session = Depends(get_db)) -> Response:
    name, content = checks.failing_csv(session, actor=actor, check_id=check_id, result_id=result_id)
    return Response(content, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"failing-{result_id}.csv\"; filename*=UTF-8''{quote(name)}"})

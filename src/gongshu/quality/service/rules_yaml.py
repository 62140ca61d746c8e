"""Quality rules as YAML files, one per entry (R-GOV-1): export, and import — all of it or nothing, each problem
named by file, line, rule key and field, in Chinese and English. The format is in docs/quality.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import GongshuError, Invalid
from gongshu.quality.models import DIMENSIONS, SEVERITIES, QualityRule
from gongshu.quality.service import rules


def export_yaml(session: Session, *, actor: Actor, entry_id: int) -> str:
    """The entry's active rules as YAML (the format :func:`import_yaml` reads)."""
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    active = rules.list_rules(session, actor=actor, entry_id=entry_id)
    doc = {"entry": entry.code, "entry_name": entry.name, "rules": [
        {"key": r.key, "kind": r.kind, "item": r.item, "severity": r.severity, "weight": r.weight,
         "tolerance": r.tolerance, "params": r.params or {}, "description": r.description}
        for r in sorted(active, key=lambda r: (list(DIMENSIONS).index(r.dimension), r.key))]}
    head = (f"# 质量规则 · quality rules — {entry.name}（{entry.code}）\n"
            "# kind: " + ", ".join(rules.KINDS) + "; severity: " + ", ".join(SEVERITIES) + "\n"
            "# 删除规则：加 status: retired · retire a rule: add status: retired\n")
    return head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


def _lines(text: str) -> tuple[int | None, list[tuple[int, dict[str, int]]]]:
    """Line numbers (1-based) of the ``rules`` list's items and of their fields."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None, []
    if not isinstance(root, yaml.MappingNode):
        return None, []
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and k.value == "rules" and isinstance(v, yaml.SequenceNode):
            out = []
            for node in v.value:
                fields = {}
                if isinstance(node, yaml.MappingNode):
                    for fk, fv in node.value:
                        if isinstance(fk, yaml.ScalarNode):
                            fields[fk.value] = fv.start_mark.line + 1
                out.append((node.start_mark.line + 1, fields))
            return v.start_mark.line + 1, out
    return None, []


@dataclass
class ImportResult:
    created: list[QualityRule]
    updated: list[QualityRule]
    retired: list[QualityRule]
    unchanged: int


def import_yaml(session: Session, *, actor: Actor, entry_id: int, text: str, filename: str = "rules.yaml"
                ) -> ImportResult:
    """Apply a YAML file of rules to the entry — all of it or nothing.

    Every rule is checked first; on any problem nothing is applied and :class:`Invalid` lists each problem with
    the file, line, rule key and field (Chinese and English). A rule whose key exists becomes its next version when
    anything changed; ``status: retired`` retires it; rules not in the file are left as they are."""
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    rules.require_may(actor, "quality.rules.manage", entry.org_id)
    name = (filename or "rules.yaml").rsplit("/", 1)[-1][:100]
    problems: list[dict[str, Any]] = []

    def problem(line: int | None, key: str, field: str, zh: str, en: str) -> None:
        where = f"{name} 第 {line} 行" if line else name
        where_en = f"{name} line {line}" if line else name
        rule_zh = f"（规则 {key}" + (f"，字段 {field}）" if field else "）") if key else (f"（字段 {field}）" if field else "")
        rule_en = f" (rule {key}" + (f", field {field})" if field else ")") if key else (f" (field {field})" if field else "")
        problems.append({"line": line, "rule": key, "field": field, "message": f"{where}{rule_zh}：{zh}",
                         "message_en": f"{where_en}{rule_en}: {en}"})

    try:
        doc = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem(mark.line + 1 if mark else None, "", "", f"不是有效的 YAML（{getattr(exc, 'problem', '') or exc}）",
                f"not valid YAML ({getattr(exc, 'problem', '') or exc})")
        _raise(problems)
    rules_line, lines = _lines(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        problem(None, "", "rules", "文件应为含 rules 列表的 YAML 对象", "the file must be a mapping with a 'rules' list")
        _raise(problems)
    if doc.get("entry") not in (None, "", entry.code):
        problem(1, "", "entry", f"文件属于目录 {doc.get('entry')}，不是本目录 {entry.code}",
                f"the file is for entry {doc.get('entry')}, not {entry.code}")
    plan: list[tuple[str, str, dict[str, Any] | None, str, QualityRule | None]] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(doc["rules"]):
        line, fields = lines[n] if n < len(lines) else (rules_line, {})
        if not isinstance(raw, dict):
            problem(line, "", "", "每条规则应为键值对象", "each rule must be a mapping")
            continue
        key = str(raw.get("key") or "").strip()
        unknown = [f for f in raw if f not in rules.RULE_FIELDS]
        if unknown:
            problem(fields.get(unknown[0], line), key, unknown[0], f"未知字段“{unknown[0]}”（可用：{'、'.join(rules.RULE_FIELDS)}）",
                    f"unknown field '{unknown[0]}' (known: {', '.join(rules.RULE_FIELDS)})")
            continue
        status = str(raw.get("status") or "active").strip()
        if status not in ("active", "retired"):
            problem(fields.get("status", line), key, "status", "status 应为 active 或 retired",
                    "status must be active or retired")
            continue
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            problem(fields.get("params", line), key, "params", "params 应为键值对象", "params must be a mapping")
            continue
        try:
            clean = rules.normalise(session, entry_id=entry.id, kind=str(raw.get("kind") or ""),
                              item=str(raw.get("item") or ""), params=params,
                              severity=str(raw.get("severity") or "major"), weight=raw.get("weight", 1.0),
                              tolerance=raw.get("tolerance", 0.0))
            key = rules.check_key(key or rules.default_key(clean["kind"], clean["item"], clean["params"]))
        except GongshuError as exc:
            field = exc.field or ""
            top = field.split(".")[0]
            problem(fields.get(top, line), key, field, exc.message, exc.message_en)
            continue
        if key in seen:
            problem(line, key, "key", f"与第 {seen[key]} 行的规则标识重复", f"same key as the rule on line {seen[key]}")
            continue
        seen[key] = line
        current = rules.current_rule(session, entry.id, key)
        if current is not None and current.kind != clean["kind"]:
            problem(fields.get("kind", line), key, "kind",
                    f"已有同一标识的“{rules.KINDS[current.kind].zh}”规则，类型不能改变；请换一个标识",
                    f"rule '{key}' exists as kind {current.kind}; a kind cannot change, use another key")
            continue
        if status == "retired" and current is None:
            continue  # nothing to retire
        plan.append((key, status, clean, str(raw.get("description") or ""), current))
    _raise(problems)
    result = ImportResult([], [], [], 0)
    for key, status, clean, description, current in plan:
        if status == "retired":
            result.retired.append(rules.retire_rule(session, actor=actor, rule_id=current.id))
        elif current is None:
            rule = rules.add_version(session, actor, entry.id, key, clean, description, "import")
            audit.record(session, actor=actor, action="quality.rule.create", subject_type="quality_rule",
                         subject_id=rule.id, after=rules.state(rule),
                         detail={"entry_id": entry.id, "key": key, "version": rule.version, "file": name})
            result.created.append(rule)
        else:
            rule = rules.update_rule(session, actor=actor, rule_id=current.id, item=clean["item"], params=clean["params"],
                               severity=clean["severity"], weight=clean["weight"], tolerance=clean["tolerance"],
                               description=description, origin="import")
            if rule is current:
                result.unchanged += 1
            else:
                result.updated.append(rule)
    audit.record(session, actor=actor, action="quality.rule.import", subject_type="catalog_entry", subject_id=entry.id,
                 detail={"file": name, "created": len(result.created), "updated": len(result.updated),
                         "retired": len(result.retired), "unchanged": result.unchanged})
    return result


def _raise(problems: list[dict[str, Any]]) -> None:
    if not problems:
        return
    first = problems[0]
    more = f"（另有 {len(problems) - 1} 处问题，均未导入）" if len(problems) > 1 else "（未导入任何规则）"
    more_en = f" (and {len(problems) - 1} more; nothing was imported)" if len(problems) > 1 else \
        " (nothing was imported)"
    raise Invalid(first["message"] + more, first["message_en"] + more_en, field=first["field"] or "file",
                  details=problems)

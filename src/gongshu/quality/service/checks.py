"""Quality checks (质量检查): every new data version is checked against its entry's active rules (R-GOV-1).

A new version enqueues a ``quality.check`` job (:data:`gongshu.ingest.service.loads.ON_VERSION`); the job runs the
check in three steps so that the long part holds no database transaction (on SQLite every transaction holds the
write lock):

1. :func:`prepare` — derive missing default rules, map each rule's data items to the version's columns, resolve
   references (another entry's serving version), and create the :class:`QualityCheck` (``running``);
2. :func:`execute` — the engine over the Parquet snapshot (:func:`gongshu.quality.service.engine.run`), no DB;
3. :func:`record` — one :class:`QualityResult` per rule (X = A/B, failing rows file, masked sample), the check's
   score and level (:func:`gongshu.quality.service.scores.combine`), ``latest``, the audit event, and the data issues:
   each rule whose failing share exceeds its tolerance raises (or refreshes) an issue to the source department;
   the keys that passed close the issues being corrected (完成整改).

:func:`check_version` does the three in one session (tests, the CLI). A daily re-check (``quality.recheck``) checks
freshness and accessibility of every attached entry again, reusing the other results of the same version.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import SYSTEM, Actor, can
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import unit_of_work, utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.ingest.service import freshness, loads
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.codes import code_table_for
from gongshu.jobs.service import enqueue, handler, periodic
from gongshu.quality.models import CHECK_TRIGGERS, QualityCheck, QualityResult, QualityRule
from gongshu.quality.service import engine, issues, rule_defaults, rules, scores
from gongshu.sharing.service.grants import MASKED_GRADES, mask_value
from gongshu.store import registry
from gongshu.tasks import service as tasks

log = logging.getLogger(__name__)

JOB = "quality.check"
#: kinds whose answer changes with time, not with the data: a scheduled re-check runs only these and reuses the rest
VOLATILE = frozenset({"freshness", "accessible"})
#: where failing rows are kept, under the files root
FOLDER = "quality"
#: rows of a failing-rows CSV download at most
CSV_ROWS = 100_000
#: a check still running after this was interrupted
STALE = timedelta(days=1)


@dataclass
class Plan:
    """What a check needs from the database, resolved before the engine runs without it."""

    check_id: int
    entry_id: int
    org_id: int
    version_id: int | None
    snapshot: Path | None
    out_dir: Path
    keys: list[str]
    labels: dict[str, str]
    today: date
    specs: list[tuple[int, engine.RuleSpec]] = field(default_factory=list)
    #: rule id → an outcome decided without running (could not run, or reused from the last check)
    decided: dict[int, engine.RuleOutcome] = field(default_factory=dict)
    reused: dict[int, int] = field(default_factory=dict)  # rule id → the result it copies


def dedupe_key(entry_id: int, rule_key: str) -> str:
    return f"rule:{entry_id}:{rule_key}"


# The hook and the jobs -----------------------------------------------------------------------

def _on_version(session: Session, version: Any) -> None:
    """A new data version was applied: check it after the commit (in the worker)."""
    enqueue(session, JOB, entry_id=version.entry_id, version_id=version.id, trigger="load")


loads.ON_VERSION.append(_on_version)


@handler(JOB)
def _job(session: Session, *, entry_id: int, version_id: int | None = None, trigger: str = "load") -> None:
    session.close()  # the check runs in its own short transactions around the engine
    run_check(entry_id=entry_id, version_id=version_id, trigger=trigger)


def run_check(*, entry_id: int, version_id: int | None = None, trigger: str = "load",
              actor: Actor = SYSTEM) -> int | None:
    """Prepare, execute and record a check in separate units of work; returns the check's id."""
    with unit_of_work() as session:
        try:
            plan = prepare(session, actor=actor, entry_id=entry_id, version_id=version_id, trigger=trigger)
        except NotFound:
            log.info("quality check of entry %s version %s: nothing to check", entry_id, version_id)
            return None
    started = time.monotonic()
    try:
        outcomes = execute(plan)
    except Exception as exc:  # record why, never leave a check running
        log.exception("quality check %s failed", plan.check_id)
        with unit_of_work() as session:
            fail(session, check_id=plan.check_id, error=f"检查失败（{type(exc).__name__}），请联系平台运维",
                 error_en=f"The check failed ({type(exc).__name__}); contact the operators")
        return plan.check_id
    try:
        with unit_of_work() as session:
            record(session, actor=actor, plan=plan, outcomes=outcomes, seconds=time.monotonic() - started)
    except Exception as exc:  # a retried job would start another check: close this one as failed instead
        log.exception("recording quality check %s failed", plan.check_id)
        with unit_of_work() as session:
            fail(session, check_id=plan.check_id, error=f"检查结果未能保存（{type(exc).__name__}），请重新检查",
                 error_en=f"The results could not be saved ({type(exc).__name__}); check again")
    return plan.check_id


@periodic("quality.recheck", every=timedelta(days=1))
def _recheck(session: Session) -> None:
    recheck_attached(session)


def recheck_attached(session: Session) -> int:
    """Queue a scheduled re-check (freshness, accessibility) of every entry whose data is attached; close checks
    left running for a day (their worker died) as failed."""
    stale = session.scalars(select(QualityCheck).where(QualityCheck.status.in_(("queued", "running")),
                                                       QualityCheck.created_at < utcnow() - STALE)).all()
    for check in stale:
        fail(session, check_id=check.id, error="检查中断（处理进程退出），请重新检查",
             error_en="The check was interrupted (its worker stopped); check again")
    n = 0
    for entry_id, _org_id, version_id in session.execute(freshness.attached_select()).all():
        enqueue(session, JOB, entry_id=entry_id, version_id=version_id, trigger="schedule")
        n += 1
    return n


def request_check(session: Session, *, actor: Actor, entry_id: int) -> Any:
    """Someone asks for a check of the entry's serving version now (``quality.check.run``): queued as a job."""
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    rules.require_may(actor, "quality.check.run", entry.org_id)
    version = ingest_versions.current_version(session, entry_id=entry.id)
    if version is None:
        raise Conflict("本目录还没有挂接数据，无法检查", "The entry has no data attached: nothing to check")
    job = enqueue(session, JOB, entry_id=entry.id, version_id=version.id, trigger="manual")
    audit.record(session, actor=actor, action="quality.check.request", subject_type="catalog_entry",
                 subject_id=entry.id, detail={"version_id": version.id, "job_id": job.id})
    return job


# The three steps -----------------------------------------------------------------------------

def _version(session: Session, entry_id: int, version_id: int | None) -> Any:
    if version_id is None:
        version = ingest_versions.current_version(session, entry_id=entry_id)
    else:
        version = next((v for v in ingest_versions.versions_of(session, entry_id=entry_id) if v.id == version_id),
                       None)
    if version is None:
        raise NotFound(f"目录 {entry_id} 没有要检查的数据版本", f"Entry {entry_id} has no data version to check")
    return version


def prepare(session: Session, *, actor: Actor, entry_id: int, version_id: int | None = None,
            trigger: str = "manual", today: date | None = None) -> Plan:
    """Resolve the rules against the version and open the check (``running``)."""
    if trigger not in CHECK_TRIGGERS:
        raise Invalid(f"检查触发方式“{trigger}”无效", f"Unknown trigger '{trigger}'", field="trigger")
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    rules.require_may(actor, "quality.check.run", entry.org_id)
    version = _version(session, entry.id, version_id)
    rule_defaults.ensure_defaults(session, entry_id=entry.id)
    today = today or tasks.today()
    check = QualityCheck(entry_id=entry.id, org_id=entry.org_id, version_id=version.id,
                         version_number=version.number, trigger=trigger, status="running", rows=version.rows,
                         latest=False)
    session.add(check)
    session.flush()
    root = registry.files_root()
    snapshot = root / version.snapshot_path if version.snapshot_path else None
    columns = version.columns or []
    by_label = {c["label"]: c for c in columns}
    plan = Plan(check.id, entry.id, entry.org_id, version.id, snapshot, root / FOLDER / str(entry.id) / str(check.id),
                [c["name"] for c in columns if c.get("key")], {c["name"]: c["label"] for c in columns}, today)
    active = rules.active_rules(session, entry_id=entry.id)
    reuse = _reusable(session, entry.id, version.id) if trigger == "schedule" else {}
    att = freshness.attachment(session, entry_ids=[entry.id], on=today)[entry.id]
    for rule in active:
        if rule.id in reuse:
            plan.reused[rule.id] = reuse[rule.id]
            continue
        try:
            plan.specs.append((rule.id, _spec(session, rule, by_label, version, snapshot, att)))
        except engine.NotRunnable as exc:
            plan.decided[rule.id] = engine.RuleOutcome(rule.key, ran=False, error=exc.zh, error_en=exc.en)
    return plan


def _reusable(session: Session, entry_id: int, version_id: int) -> dict[int, int]:
    """rule id → result id of the entry's latest finished check of this version, for rules whose answer depends
    only on the (immutable) version."""
    last = session.scalar(select(QualityCheck.id).where(QualityCheck.entry_id == entry_id,
                                                        QualityCheck.version_id == version_id,
                                                        QualityCheck.status == "done")
                          .order_by(QualityCheck.id.desc()).limit(1))
    if last is None:
        return {}
    rows = session.execute(select(QualityResult.rule_id, QualityResult.id, QualityRule.kind)
                           .join(QualityRule, QualityRule.id == QualityResult.rule_id)
                           .where(QualityResult.check_id == last)).all()
    return {rule_id: result_id for rule_id, result_id, kind in rows if kind not in VOLATILE}


def _column(by_label: dict[str, dict], item: str) -> str:
    col = by_label.get(item)
    if col is None:
        raise engine.NotRunnable(f"信息项“{item}”不在这个数据版本中", f"Item '{item}' is not in this data version")
    return col["name"]


def _other_version(session: Session, code: str) -> tuple[Any, Path, dict[str, dict]]:
    other = catalog_entries.find_by_code(session, code=code)
    if other is None:
        raise engine.NotRunnable(f"参照目录 {code} 不存在", f"Referenced entry {code} does not exist")
    version = ingest_versions.current_version(session, entry_id=other.id)
    if version is None or not version.snapshot_path:
        raise engine.NotRunnable(f"参照目录“{other.name}”还没有挂接数据", f"Referenced entry '{other.name}' has no data")
    return other, registry.files_root() / version.snapshot_path, {c["label"]: c for c in version.columns or []}


def _spec(session: Session, rule: QualityRule, by_label: dict[str, dict], version: Any, snapshot: Path | None,
          att: dict) -> engine.RuleSpec:
    """The engine's view of a rule: items → the version's columns, references → files."""
    p = dict(rule.params or {})
    k = rule.kind
    if k in ("accessible",):
        return engine.RuleSpec(rule.key, k, (), {"sm3": version.snapshot_sm3, "rows": version.rows})
    if k == "freshness":
        due = att.get("next_due")
        return engine.RuleSpec(rule.key, k, (), {**p, "next_due": due.isoformat() if due else None,
                                                 "last_loaded_on": str(att.get("last_loaded_on") or "")})
    if k == "record_complete":
        cols = tuple(_column(by_label, n) for n in p.get("items") or [])
        return engine.RuleSpec(rule.key, k, cols, p)
    if k == "unique":
        names = p.get("items") or [rule.item]
        return engine.RuleSpec(rule.key, k, tuple(_column(by_label, n) for n in names), p)
    col = _column(by_label, rule.item)
    if k in ("row_rule", "time_order"):
        return engine.RuleSpec(rule.key, k, (col, _column(by_label, p["other"])), p)
    if k == "element":
        el = catalog_elements.element_by_code(session, code=str(p.get("element") or ""))
        if el is None:
            raise engine.NotRunnable(f"数据元 {p.get('element')} 不存在", f"Data element {p.get('element')} not found")
        table = code_table_for(el.name, el.definition or "") if el.type == "C" else None  # 婚姻登记日期 is a date
        return engine.RuleSpec(rule.key, k, (col,), {"type": el.type, "length": el.length,
                                                     **({"table": table} if table else {})})
    if k == "reference":
        _other, path, cols = _other_version(session, p["entry"])
        return engine.RuleSpec(rule.key, k, (col,), {"ref_path": str(path),
                                                     "ref_column": _column(cols, p["item"])})
    if k == "cross_table":
        _other, path, cols = _other_version(session, p["entry"])
        mine, theirs = [], []
        for pair in p.get("keys") or []:
            a, _, b = pair.partition("=")
            mine.append(_column(by_label, a))
            theirs.append(_column(cols, b or a))
        return engine.RuleSpec(rule.key, k, (col, *mine), {"ref_path": str(path), "ref_column": _column(cols, p["item"]),
                                                           "ref_keys": theirs, "mode": p.get("mode", "equals")})
    return engine.RuleSpec(rule.key, k, (col,), p)


def execute(plan: Plan) -> dict[int, engine.RuleOutcome]:
    """Run the engine (no database); returns an outcome per rule id (reused ones are copied by :func:`record`)."""
    out = dict(plan.decided)
    if plan.specs:
        found = engine.run(plan.snapshot, [s for _, s in plan.specs], plan.out_dir, keys=plan.keys,
                           labels=plan.labels, today=plan.today)
        for (rule_id, _spec), outcome in zip(plan.specs, found, strict=True):
            out[rule_id] = outcome
    return out


def fail(session: Session, *, check_id: int, error: str, error_en: str) -> QualityCheck:
    check = session.get(QualityCheck, check_id)
    check.status, check.error, check.error_en, check.finished_at = "failed", error[:2000], error_en[:2000], utcnow()
    audit.record(session, actor=SYSTEM, action="quality.check.fail", subject_type="quality_check", subject_id=check.id,
                 detail={"entry_id": check.entry_id, "version_id": check.version_id, "error": error[:300]})
    return check


#: values the engine computes (row numbers, counts, dates of the check): never personal data
COMPUTED = frozenset({engine.ROW, "应为校验位", "重复次数", "已填项数", "逾期天数", "应更新日期", "最近归集", "检查日期",
                      "问题", "problem"})


def _sensitive(item: dict | None) -> bool:
    """Items shown masked on pages: personal information, identifiers and the grades a grant serves masked."""
    return item is None or bool(item.get("is_personal") or item.get("is_identifier")) \
        or item.get("grade") in MASKED_GRADES


def _masked(sample: list[dict], items: dict[str, dict], rule: QualityRule) -> list[dict]:
    """A sample as pages show it: personal and identifying items masked with the platform's masking (as a masked
    grant serves them), other items, row numbers and computed values in clear."""
    out = []
    for row in sample:
        masked = {}
        for k, v in row.items():
            label = rule.item if k == "对方取值" else k
            if k in COMPUTED or v is None or not _sensitive(items.get(label)):
                masked[k] = v
            else:
                masked[k] = mask_value(label, v, items.get(label))
        out.append(masked)
    return out


def record(session: Session, *, actor: Actor, plan: Plan, outcomes: dict[int, engine.RuleOutcome],
           seconds: float = 0.0) -> QualityCheck:
    """Write the results, the score, the audit event and the data issues of a check."""
    check = session.get(QualityCheck, plan.check_id)
    entry = catalog_entries.fetch(session, entry_id=plan.entry_id)
    by_id = rules.rules_by_id(session, rule_ids=[*outcomes, *plan.reused])
    items = rules.entry_items(session, entry_id=entry.id)
    root = registry.files_root()
    results: list[QualityResult] = []
    for rule_id, old_id in plan.reused.items():
        old = session.get(QualityResult, old_id)
        results.append(QualityResult(check_id=check.id, rule_id=rule_id, dimension=old.dimension,
                                     checked=old.checked, passed=old.passed, ran=old.ran, error=old.error,
                                     error_en=old.error_en, failing_path=old.failing_path, sample=old.sample))
    for rule_id, o in outcomes.items():
        rule = by_id[rule_id]
        path = str(o.failing_path.relative_to(root)) if o.failing_path else None
        results.append(QualityResult(check_id=check.id, rule_id=rule_id, dimension=rule.dimension, checked=o.checked,
                                     passed=o.passed, ran=o.ran, error=o.error[:2000], error_en=o.error_en[:2000],
                                     failing_path=path, sample=_masked(o.sample, items, rule)))
    session.add_all(results)
    session.flush()
    score, level, dims = scores.combine(results, by_id)
    check.status, check.finished_at, check.seconds = "done", utcnow(), round(seconds, 3)
    check.rules = sum(1 for r in results if r.ran)
    check.not_run = sum(1 for r in results if not r.ran)
    check.failed_rules = sum(1 for r in results if r.ran and r.passed < r.checked)
    check.score, check.level, check.dimensions = score, level, dims
    session.execute(update(QualityCheck).where(QualityCheck.entry_id == entry.id, QualityCheck.id != check.id,
                                               QualityCheck.latest.is_(True)).values(latest=False))
    check.latest = True
    audit.record(session, actor=actor, action="quality.check", subject_type="quality_check", subject_id=check.id,
                 after={"entry_id": entry.id, "version_id": check.version_id, "score": score, "level": level,
                        "dimensions": dims},
                 detail={"trigger": check.trigger, "rules": check.rules, "failed_rules": check.failed_rules,
                         "not_run": check.not_run, "rows": check.rows})
    _route(session, actor=actor, check=check, entry=entry, results=results, by_id=by_id)
    return check


def _route(session: Session, *, actor: Actor, check: QualityCheck, entry: Any, results: list[QualityResult],
           by_id: dict[int, QualityRule]) -> None:
    """Rules failing beyond their tolerance raise (or refresh) a data issue; the keys that passed close the
    issues being corrected."""
    passed, failed = set(), set()
    for r in results:
        if not r.ran or r.checked <= 0:
            continue
        rule = by_id[r.rule_id]
        key = dedupe_key(entry.id, rule.key)
        bad = r.checked - r.passed
        share = bad / r.checked
        if bad == 0 or share <= rule.tolerance:
            passed.add(key)
            continue
        failed.add(key)
        kind = rules.KINDS[rule.kind]
        what = f"“{kind.zh}”" + (f"（{rule.item}）" if rule.item else "")
        issues.raise_issue(
            session, actor=actor, entry_id=entry.id, channel="rule", severity=rule.severity,
            title=f"《{entry.name}》质量规则{what}未通过：{bad} / {r.checked} 条（{share:.2%}）",
            description=(rule.description or kind.doc_zh) + f"。第 {check.version_number} 版数据检查发现 {bad} 条不符合，"
                        f"超过容忍比例 {rule.tolerance:.2%}。",
            evidence={"check_id": check.id, "rule": {"id": rule.id, "key": rule.key, "version": rule.version,
                                                      "kind": rule.kind, "dimension": rule.dimension},
                      "checked": r.checked, "failed": bad, "ratio": round(r.passed / r.checked, 6),
                      "failing_path": r.failing_path, "sample": r.sample},
            version_id=check.version_id, item=rule.item, dedupe_key=key, origin_type="quality_check",
            origin_id=check.id)
    if check.version_id is not None:
        issues.resolve_by_recheck(session, actor=actor, entry_id=entry.id, version_id=check.version_id,
                                  passed_keys=passed, failed_keys=failed)


def check_version(session: Session, *, actor: Actor, entry_id: int, version_id: int | None = None,
                  trigger: str = "manual", today: date | None = None) -> QualityCheck:
    """Check one version (default: the serving one) in the caller's session: prepare, run, record."""
    started = time.monotonic()
    plan = prepare(session, actor=actor, entry_id=entry_id, version_id=version_id, trigger=trigger, today=today)
    return record(session, actor=actor, plan=plan, outcomes=execute(plan), seconds=time.monotonic() - started)


# Reading ----------------------------------------------------------------------------------------

def get_check(session: Session, *, actor: Actor, check_id: int) -> QualityCheck:
    check = session.get(QualityCheck, check_id)
    if check is None:
        raise NotFound(f"质量检查不存在（编号 {check_id}）", f"Quality check {check_id} not found")
    rules.require_view(actor, check.org_id)
    return check


def results_of(session: Session, *, check_id: int) -> list[tuple[QualityResult, QualityRule]]:
    return list(session.execute(select(QualityResult, QualityRule).join(QualityRule,
                                                                        QualityRule.id == QualityResult.rule_id)
                                .where(QualityResult.check_id == check_id)
                                .order_by(QualityResult.dimension, QualityRule.key)).all())


def list_checks(session: Session, *, actor: Actor, entry_id: int, limit: int = 30) -> list[QualityCheck]:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    rules.require_view(actor, entry.org_id)
    return list(session.scalars(select(QualityCheck).where(QualityCheck.entry_id == entry_id)
                                .order_by(QualityCheck.id.desc()).limit(limit)))


def latest_check(session: Session, *, entry_id: int) -> QualityCheck | None:
    return session.scalar(select(QualityCheck).where(QualityCheck.entry_id == entry_id,
                                                     QualityCheck.latest.is_(True)).limit(1))


def pending(session: Session, *, entry_id: int) -> int:
    """Checks of the entry still running."""
    return session.scalar(select(func.count()).select_from(QualityCheck).where(
        QualityCheck.entry_id == entry_id, QualityCheck.status.in_(("queued", "running")))) or 0


def failing_csv(session: Session, *, actor: Actor, check_id: int, result_id: int) -> tuple[str, bytes]:
    """The failing rows of one rule in one check as CSV (UTF-8 with BOM): in clear for the source department's staff
    who may read its data (``ingest.data.read``), masked for everyone else. Audited as a read."""
    check = get_check(session, actor=actor, check_id=check_id)
    result = session.get(QualityResult, result_id)
    if result is None or result.check_id != check.id:
        raise NotFound("检查结果不存在", "Result not found")
    if not result.failing_path:
        raise NotFound("这条规则没有不符合的数据行", "This rule has no failing rows")
    path = registry.files_root() / result.failing_path
    if not path.exists():
        raise NotFound("不符合数据行的文件已不存在（可能已随版本过期清除）", "The failing rows file no longer exists")
    rule = session.get(QualityRule, result.rule_id)
    clear = can(actor, "ingest.data.read", org_id=check.org_id) and actor.org_id == check.org_id
    items = rules.entry_items(session, entry_id=check.entry_id)
    df = pl.read_parquet(path, n_rows=CSV_ROWS)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([_safe(c) for c in df.columns])
    for row in df.iter_rows(named=True):
        out = []
        for k, v in row.items():
            if v is not None and k not in COMPUTED and not clear and _sensitive(items.get(k)):
                v = mask_value(k, v, items.get(k))
            elif v is not None and k == "对方取值":
                v = mask_value(rule.item, v, items.get(rule.item))  # another entry's data: always masked
            out.append(_safe("" if v is None else str(v)))
        writer.writerow(out)
    audit.record(session, actor=actor, action="quality.failing.download", subject_type="quality_result",
                 subject_id=result.id, detail={"check_id": check.id, "rule": rule.key, "rows": df.height,
                                               "masked": not clear})
    name = f"quality-{check.entry_id}-check{check.id}-{engine.file_name(rule.key).rsplit('.', 1)[0]}.csv"
    return name, ("\ufeff" + buf.getvalue()).encode("utf-8")


def _safe(text: str) -> str:
    """No spreadsheet formulas from data (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


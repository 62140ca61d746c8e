"""Quality reports (R-GOV-1): per entry, per department, the city overview and the department ranking for the
authority, as pages and as CSV (UTF-8 with BOM) / XLSX exports.

Who sees what (``quality.view``, declared with the rules): a department's staff see their own department's
reports; the authority and auditors every department's, the city's score and the ranking. Exports are audited
(``quality.report.export``). The scores come from :mod:`.scores`; exports are written by the open data formats
(``opendata.service.formats``: BOM, formula-safe CSV, XLSX).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy import Float, and_, cast, select
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth import service as auth_service
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Forbidden, Invalid
from gongshu.ingest.service import freshness
from gongshu.opendata.service import formats
from gongshu.quality.models import DIMENSIONS, SEVERITIES, QualityCheck, QualityResult, QualityRule
from gongshu.quality.service import issues, rules, scores
from gongshu.tasks import service as tasks_service

#: who may see scores and reports is who may see rules and check results (``rules.py``): a department its own
#: entries'; the authority and auditors (``rules.CITY_WIDE``) every department's, the city's and the ranking
VIEW = "quality.view"

EXPORT_FORMATS = ("csv", "xlsx")
MEDIA = {"csv": formats.FORMATS["csv"], "xlsx": formats.FORMATS["xlsx"]}
#: the worst indicators listed in a department's report
WORST = 10


def may_view_all(actor: Actor) -> bool:
    """The authority and auditors: every department's scores, the city's and the ranking."""
    return can(actor, VIEW) and bool(actor.roles & rules.CITY_WIDE)


def require_view(actor: Actor, *, org_id: int) -> None:
    """The department's own staff, the authority and auditors."""
    rules.require_view(actor, org_id)


def require_view_all(actor: Actor) -> None:
    require(actor, VIEW)
    if not may_view_all(actor):
        raise Forbidden("只有数据主管部门和审计监督员可以查看全市数据质量与部门排名",
                        "Only the authority and auditors see the city's data quality and the department ranking")


def _pct(x: float | None) -> float | None:
    return round(x * 100, 2) if x is not None else None


def _open_critical(session: Session, entry_ids: Sequence[int]) -> dict[int, int]:
    """Open critical data issues per entry (the closed loop, ``issues``)."""
    return issues.open_critical(session, entry_ids=list(entry_ids)) if entry_ids else {}


# Entry -------------------------------------------------------------------------------------------------------

@dataclass
class RuleLine:
    rule: QualityRule
    result: QualityResult

    @property
    def x(self) -> float | None:
        return scores.indicator(self.result.passed, self.result.checked) if self.result.ran else None


@dataclass
class EntryReport:
    entry: Any  # the catalogue entry
    org_name: str
    check: QualityCheck | None  # the latest finished check
    dimensions: list[tuple[str, float | None]]  # (code, score) in DIMENSIONS order
    lines: list[RuleLine]  # every rule of the check: dimension order, worst indicator first
    trend: list[QualityCheck]
    open_critical: int = 0

    @property
    def score(self) -> float | None:
        return self.check.score if self.check else None

    @property
    def level(self) -> int | None:
        return self.check.level if self.check else None


def latest_check(session: Session, *, entry_id: int) -> QualityCheck | None:
    return session.scalar(select(QualityCheck).where(QualityCheck.entry_id == entry_id, scores.latest_done())
                          .order_by(QualityCheck.created_at.desc(), QualityCheck.id.desc()).limit(1))


def check_lines(session: Session, *, check_id: int) -> list[RuleLine]:
    """The check's results with their rules: by dimension, then worst indicator first (rules that did not run
    last within their dimension)."""
    rows = session.execute(select(QualityResult, QualityRule).join(QualityRule, QualityRule.id == QualityResult.rule_id)
                           .where(QualityResult.check_id == check_id)).all()
    order = {code: i for i, code in enumerate(DIMENSIONS)}
    lines = [RuleLine(rule, res) for res, rule in rows]
    lines.sort(key=lambda ln: (order.get(ln.result.dimension, len(order)), ln.x is None,
                               ln.x if ln.x is not None else 0.0, ln.rule.key))
    return lines


def entry_report(session: Session, *, actor: Actor, entry_id: int, trend: int = 30) -> EntryReport:
    entry = catalog_entries.fetch(session, entry_id=entry_id)
    require_view(actor, org_id=entry.org_id)
    check = latest_check(session, entry_id=entry.id)
    dims = [(code, (check.dimensions or {}).get(code) if check else None) for code in DIMENSIONS]
    lines = check_lines(session, check_id=check.id) if check else []
    return EntryReport(entry, auth_service.get_org(session, entry.org_id).name, check, dims, lines,
                       scores.entry_trend(session, entry_id=entry.id, limit=trend),
                       _open_critical(session, [entry.id]).get(entry.id, 0))


# Department --------------------------------------------------------------------------------------------------

@dataclass
class EntryLine:
    entry: Any
    check: QualityCheck | None  # None: data attached but not checked yet
    open_critical: int = 0


@dataclass
class WorstLine:
    entry: Any
    rule: QualityRule
    result: QualityResult

    @property
    def x(self) -> float | None:
        return scores.indicator(self.result.passed, self.result.checked)


@dataclass
class DepartmentReport:
    org: Any
    aggregate: scores.Aggregate
    coverage: scores.Coverage
    dimensions: dict[str, float | None]
    entries: list[EntryLine]
    worst: list[WorstLine]
    trend: list[scores.MonthScore]
    open_critical: int = 0  # open critical data issues over the department's entries
    rank: scores.Rank | None = None  # for the authority: the department's place in the ranking
    ranked: int = 0  # departments ranked


def worst_results(session: Session, *, org_id: int, limit: int = WORST) -> list[tuple[QualityResult, QualityRule, int]]:
    """The department's lowest indicators (rules that ran and failed some rows) in its entries' latest checks."""
    x = cast(QualityResult.passed, Float) / QualityResult.checked
    stmt = (select(QualityResult, QualityRule, QualityCheck.entry_id)
            .join(QualityCheck, and_(QualityCheck.id == QualityResult.check_id, scores.latest_done()))
            .join(QualityRule, QualityRule.id == QualityResult.rule_id)
            .where(QualityCheck.org_id == org_id, QualityResult.ran.is_(True), QualityResult.checked > 0,
                   QualityResult.passed < QualityResult.checked)
            .order_by(x, QualityResult.checked.desc(), QualityResult.id).limit(limit))
    return [tuple(r) for r in session.execute(stmt).all()]


def department_report(session: Session, *, actor: Actor, org_id: int) -> DepartmentReport:
    org = auth_service.get_org(session, org_id)
    require_view(actor, org_id=org.id)
    agg = scores.department_scores(session, org_ids=[org.id]).get(org.id, scores.EMPTY)
    cov = scores.coverage(session, org_ids=[org.id]).get(org.id, scores.Coverage(0, 0))
    checks = list(session.scalars(select(QualityCheck).where(QualityCheck.org_id == org.id, scores.latest_done())))
    checked = {c.entry_id for c in checks}
    att = freshness.attached_select().subquery()
    unchecked = [i for i in session.scalars(select(att.c.entry_id).where(att.c.org_id == org.id)) if i not in checked]
    worst = worst_results(session, org_id=org.id)
    names = catalog_entries.load_many(session, entry_ids=[*checked, *unchecked, *(w[2] for w in worst)])
    crit = _open_critical(session, list(names))
    lines = [EntryLine(names[c.entry_id], c, crit.get(c.entry_id, 0)) for c in checks]
    lines.sort(key=lambda ln: (ln.check.score is None, ln.check.score or 0.0, ln.entry.code))
    lines += sorted((EntryLine(names[i], None, crit.get(i, 0)) for i in unchecked),
                    key=lambda ln: ln.entry.code)
    report = DepartmentReport(org, agg, cov, scores.dimension_averages(session, org_id=org.id), lines,
                              [WorstLine(names[e], rule, res) for res, rule, e in worst],
                              scores.monthly(session, org_id=org.id),
                              sum(crit.get(i, 0) for i in (*checked, *unchecked)))
    if may_view_all(actor):
        ranks = scores.ranking(session)
        report.rank = next((r for r in ranks if r.org_id == org.id), None)
        report.ranked = sum(1 for r in ranks if r.rank is not None)
    return report


# City and ranking --------------------------------------------------------------------------------------------

@dataclass
class RankLine:
    rank: scores.Rank
    org: Any


@dataclass
class CityOverview:
    aggregate: scores.Aggregate
    coverage: scores.Coverage
    dimensions: dict[str, float | None]
    ranking: list[RankLine]
    trend: list[scores.MonthScore] = field(default_factory=list)


def ranking(session: Session, *, actor: Actor) -> list[RankLine]:
    """The department ranking (the authority's and auditors')."""
    require_view_all(actor)
    orgs = {o.id: o for o in auth_service.orgs(session)}
    return [RankLine(r, orgs.get(r.org_id)) for r in scores.ranking(session)]


def city_overview(session: Session, *, actor: Actor) -> CityOverview:
    require_view_all(actor)
    lines = ranking(session, actor=actor)
    return CityOverview(scores.city_score(session), scores.city_coverage({r.rank.org_id: r.rank.coverage
                                                                          for r in lines}),
                        scores.dimension_averages(session), lines, scores.monthly(session))


# Exports -----------------------------------------------------------------------------------------------------

def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise Invalid(f"导出格式无效：{fmt}（可选：csv、xlsx）", f"Unknown format {fmt} (csv or xlsx)", field="format")


def _table(columns: Sequence[tuple[str, pa.DataType]], rows: Sequence[Sequence[Any]], fmt: str,
           sheet: str) -> bytes:
    labels = [label for label, _t in columns]
    schema = pa.schema([(f"c{i}", t) for i, (_label, t) in enumerate(columns)])
    batch = pa.RecordBatch.from_pylist([{f"c{i}": v for i, v in enumerate(row)} for row in rows], schema=schema)
    source: Iterator[pa.RecordBatch] = iter([batch] if batch.num_rows else [])
    stream = formats.csv_stream(source, labels) if fmt == "csv" else formats.xlsx_stream(source, labels, sheet=sheet)
    return b"".join(stream)


def _level_zh(level: int | None) -> str:
    return scores.level_name(level)[0]


_ENTRY_COLUMNS = [("类别", pa.string()), ("名称", pa.string()), ("维度", pa.string()), ("严重程度", pa.string()),
                  ("数据项", pa.string()), ("通过数A", pa.int64()), ("检查数B", pa.int64()),
                  ("得分或指标X（%）", pa.float64()), ("等级", pa.string()), ("说明", pa.string())]


def entry_rows(report: EntryReport) -> list[list[Any]]:
    e, chk = report.entry, report.check
    about = f"代码 {e.code}；" + (f"数据版本 v{chk.version_number}；检查时间 {chk.created_at:%Y-%m-%d %H:%M}；行数 {chk.rows}"
                                 if chk and chk.version_number else
                                 (f"检查时间 {chk.created_at:%Y-%m-%d %H:%M}" if chk else "尚未检查"))
    rows: list[list[Any]] = [["目录", e.name, None, None, None, None, None, _pct(report.score),
                              _level_zh(report.level), about]]
    for code, value in report.dimensions:
        if value is not None:
            rows.append(["维度", DIMENSIONS[code][0], DIMENSIONS[code][0], None, None, None, None, _pct(value),
                         _level_zh(scores.level_of(value)), None])
    for ln in report.lines:
        r, res = ln.rule, ln.result
        rows.append(["规则", r.description or r.key, DIMENSIONS.get(res.dimension, (res.dimension,))[0],
                     SEVERITIES.get(r.severity, (r.severity,))[0], r.item or None,
                     res.passed if res.ran else None, res.checked if res.ran else None, _pct(ln.x), None,
                     res.error or ("未运行" if not res.ran else None)])
    return rows


_DEPT_COLUMNS = [("目录代码", pa.string()), ("目录名称", pa.string()), ("数据版本", pa.int64()), ("行数", pa.int64()),
                 ("检查时间", pa.string()), ("得分（%）", pa.float64()), ("等级", pa.string()),
                 *[(f"{zh}（%）", pa.float64()) for zh, _en in DIMENSIONS.values()],
                 ("规则数", pa.int64()), ("未通过规则数", pa.int64()), ("未运行规则数", pa.int64()),
                 ("未关闭的严重问题", pa.int64())]


def department_rows(report: DepartmentReport) -> list[list[Any]]:
    rows = []
    for ln in report.entries:
        c = ln.check
        if c is None:
            rows.append([ln.entry.code, ln.entry.name, None, None, None, None, "未检查", *[None] * len(DIMENSIONS),
                         None, None, None, ln.open_critical])
            continue
        rows.append([ln.entry.code, ln.entry.name, c.version_number, c.rows, f"{c.created_at:%Y-%m-%d %H:%M}",
                     _pct(c.score), _level_zh(c.level), *[_pct((c.dimensions or {}).get(d)) for d in DIMENSIONS],
                     c.rules, c.failed_rules, c.not_run, ln.open_critical])
    return rows


_RANK_COLUMNS = [("名次", pa.int64()), ("部门", pa.string()), ("得分（%）", pa.float64()), ("等级", pa.string()),
                 ("已检查目录数", pa.int64()), ("有数据的目录数", pa.int64()), ("其中已检查", pa.int64()),
                 ("检查覆盖率（%）", pa.float64()),
                 *[(f"{zh}（目录数）", pa.int64()) for zh, _en in scores.LEVEL_NAMES.values()]]


def ranking_rows(lines: Sequence[RankLine]) -> list[list[Any]]:
    out = []
    for ln in lines:
        r = ln.rank
        out.append([r.rank, ln.org.name if ln.org else f"#{r.org_id}", _pct(r.aggregate.score),
                    _level_zh(r.aggregate.level), r.aggregate.entries, r.coverage.with_data, r.coverage.checked,
                    _pct(r.coverage.share), *[r.aggregate.levels.get(level, 0) for level in scores.LEVEL_NAMES]])
    return out


def _export(session: Session, actor: Actor, *, fmt: str, subject_type: str, subject_id: Any, title: str,
            columns: Sequence[tuple[str, pa.DataType]], rows: list[list[Any]]) -> tuple[str, str, bytes]:
    content = _table(columns, rows, fmt, sheet=title)
    audit.record(session, actor=actor, action="quality.report.export", subject_type=subject_type,
                 subject_id=subject_id, detail={"format": fmt, "rows": len(rows)})
    return f"{title}-{tasks_service.today():%Y%m%d}.{fmt}", MEDIA[fmt], content


def export_entry(session: Session, *, actor: Actor, entry_id: int, fmt: str) -> tuple[str, str, bytes]:
    """(file name, media type, bytes) of an entry's quality report. Audited."""
    _check_format(fmt)
    report = entry_report(session, actor=actor, entry_id=entry_id)
    return _export(session, actor, fmt=fmt, subject_type="catalog_entry", subject_id=report.entry.id,
                   title=f"数据质量报告-{report.entry.code.replace('/', '-')}", columns=_ENTRY_COLUMNS,
                   rows=entry_rows(report))


def export_department(session: Session, *, actor: Actor, org_id: int, fmt: str) -> tuple[str, str, bytes]:
    _check_format(fmt)
    report = department_report(session, actor=actor, org_id=org_id)
    return _export(session, actor, fmt=fmt, subject_type="org", subject_id=report.org.id,
                   title=f"数据质量报告-{report.org.short_name or report.org.name}", columns=_DEPT_COLUMNS,
                   rows=department_rows(report))


def export_ranking(session: Session, *, actor: Actor, fmt: str) -> tuple[str, str, bytes]:
    _check_format(fmt)
    lines = ranking(session, actor=actor)
    return _export(session, actor, fmt=fmt, subject_type="quality_ranking", subject_id="city",
                   title="部门数据质量排名", columns=_RANK_COLUMNS, rows=ranking_rows(lines))

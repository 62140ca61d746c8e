"""Quality scores (R-GOV-1): indicators, the entry score, department and city scores, ratings and trends.

- Each rule's **indicator** is a ratio X = A/B (A = rows that passed, B = rows checked; ``QualityResult``).
- The **entry score** is its latest finished check's score, computed once by :func:`combine` when the check ends
  (the one formula: per dimension the mean of X weighted by the rules' weights, over the rules that ran and
  checked at least one row; the score is the plain mean over the dimensions present).
- **Department and city scores** give each entry's latest check the same weight (docs/quality.md, "Scores"),
  computed in one grouped SQL query; the city is every entry of every department.
- **Ratings** are the five levels of ``models.LEVELS`` (优/良/中/差/劣), from the score rounded to four places.
- **Trends**: an entry's checks in order; a department's (or the city's) score at the end of each month, each
  entry counting with its last check before the month ended (one windowed query, carried forward in Polars).

No function here checks permissions: callers (``reports``) decide who may see what.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, and_, case, func, literal_column, select
from sqlalchemy.orm import Session

from gongshu.ingest.service import freshness
from gongshu.quality.models import DIMENSIONS, LEVELS, QualityCheck
from gongshu.tasks import service as tasks_service

#: scores are kept and rated to four places (0.01 percentage point), so 0.95 is 优 however it was summed
DIGITS = 4
#: level → (zh, en)
LEVEL_NAMES: dict[int, tuple[str, str]] = {level: (zh, en) for _lower, level, zh, en in LEVELS}
NOT_RATED = ("未评级", "Not rated")


def indicator(passed: int, checked: int) -> float | None:
    """X = A/B; None when nothing was checked (B = 0): such a rule does not count."""
    return passed / checked if checked > 0 else None


def level_of(score: float | None) -> int | None:
    """The five-level rating of a score in [0, 1] (None for no score)."""
    if score is None:
        return None
    rounded = round(score, DIGITS)
    for lower, level, _zh, _en in LEVELS:
        if rounded >= lower:
            return level
    return LEVELS[-1][1]


def level_name(level: int | None) -> tuple[str, str]:
    return LEVEL_NAMES.get(level, NOT_RATED) if level is not None else NOT_RATED


def combine(results: Iterable[Any], rules: Mapping[int, Any] | Iterable[Any]) -> tuple[float | None, int | None,
                                                                                       dict[str, float]]:
    """(score, level, {dimension: score}) of one check — THE scoring formula; checks call it when they finish.

    ``results`` are the check's ``QualityResult`` rows (``rule_id``, ``dimension``, ``checked``, ``passed``,
    ``ran``); ``rules`` the rules they ran (``id``, ``weight``, ``dimension``), as a mapping by id or any iterable.
    A result counts when its rule ran and checked at least one row (B > 0); within a dimension the indicators
    X = A/B are averaged weighted by the rule's weight (weights ≤ 0 count nothing); the score is the plain mean of
    the dimensions that have a counted result. Nothing counted: (None, None, {}).
    """
    by_id = dict(rules) if isinstance(rules, Mapping) else {r.id: r for r in rules}
    sums: dict[str, list[float]] = {}
    for res in results:
        if not res.ran:
            continue
        x = indicator(res.passed or 0, res.checked or 0)
        if x is None:
            continue
        rule = by_id.get(res.rule_id)
        if rule is None:
            raise ValueError(f"result of rule {res.rule_id} without that rule")
        weight = max(float(rule.weight if rule.weight is not None else 1.0), 0.0)
        if weight == 0:
            continue
        acc = sums.setdefault(res.dimension or rule.dimension, [0.0, 0.0])
        acc[0] += weight * x
        acc[1] += weight
    order = {code: i for i, code in enumerate(DIMENSIONS)}
    dims = {d: s / w for d, (s, w) in sorted(sums.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))}
    if not dims:
        return None, None, {}
    score = round(sum(dims.values()) / len(dims), DIGITS)
    return score, level_of(score), {d: round(v, DIGITS) for d, v in dims.items()}


# Department and city -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Aggregate:
    """Scores over entries' latest checks (each entry counts once, with the same weight)."""

    score: float | None
    level: int | None
    entries: int  # entries with a latest finished check
    scored: int  # of which with a score (some rule counted)
    rows: int  # rows of the versions checked
    levels: dict[int, int]  # entries per level


@dataclass(frozen=True)
class Coverage:
    """Entries whose data is attached, and how many of them have a check of a data version."""

    with_data: int
    checked: int

    @property
    def share(self) -> float | None:
        return self.checked / self.with_data if self.with_data else None


@dataclass(frozen=True)
class Rank:
    rank: int | None  # 1 = best; equal scores share a rank; None without a score
    org_id: int
    aggregate: Aggregate
    coverage: Coverage


@dataclass(frozen=True)
class MonthScore:
    month: str  # YYYY-MM
    score: float | None
    level: int | None
    entries: int  # entries with a score at the month's end


EMPTY = Aggregate(None, None, 0, 0, 0, {level: 0 for level in LEVEL_NAMES})


def latest_done() -> ColumnElement[bool]:
    """Condition: the entry's newest finished check."""
    return and_(QualityCheck.latest.is_(True), QualityCheck.status == "done")


def _aggregate_columns() -> list:
    c = QualityCheck
    return [func.avg(c.score), func.count(c.id), func.count(c.score), func.coalesce(func.sum(c.rows), 0),
            *[func.sum(case((c.level == level, 1), else_=0)) for level in LEVEL_NAMES]]


def _aggregate(values: Sequence[Any]) -> Aggregate:
    avg, n, scored, rows, *levels = values
    score = round(float(avg), DIGITS) if avg is not None else None
    return Aggregate(score, level_of(score), int(n or 0), int(scored or 0), int(rows or 0),
                     {level: int(k or 0) for level, k in zip(LEVEL_NAMES, levels, strict=True)})


def department_scores(session: Session, *, org_ids: Sequence[int] | None = None) -> dict[int, Aggregate]:
    """Per department (the checks' source org): the mean of its entries' latest scores, one grouped query."""
    stmt = select(QualityCheck.org_id, *_aggregate_columns()).where(latest_done()).group_by(QualityCheck.org_id)
    if org_ids is not None:
        stmt = stmt.where(QualityCheck.org_id.in_(list(org_ids)))
    return {row[0]: _aggregate(row[1:]) for row in session.execute(stmt)}


def city_score(session: Session) -> Aggregate:
    """The city: every entry's latest score, each with the same weight."""
    return _aggregate(session.execute(select(*_aggregate_columns()).where(latest_done())).one())


def coverage(session: Session, *, org_ids: Sequence[int] | None = None) -> dict[int, Coverage]:
    """Per department: entries with attached data, and those of them whose latest check ran over a data version."""
    att = freshness.attached_select().subquery()
    c = QualityCheck
    stmt = (select(att.c.org_id, func.count(att.c.entry_id.distinct()), func.count(c.entry_id.distinct()))
            .select_from(att)
            .outerjoin(c, and_(c.entry_id == att.c.entry_id, latest_done(), c.version_id.is_not(None)))
            .group_by(att.c.org_id))
    if org_ids is not None:
        stmt = stmt.where(att.c.org_id.in_(list(org_ids)))
    return {org: Coverage(int(n), int(k)) for org, n, k in session.execute(stmt)}


def city_coverage(per_org: Mapping[int, Coverage]) -> Coverage:
    return Coverage(sum(c.with_data for c in per_org.values()), sum(c.checked for c in per_org.values()))


def ranking(session: Session) -> list[Rank]:
    """Departments with checks or attached data, best score first (then coverage); no score ranks last."""
    scores, cov = department_scores(session), coverage(session)
    empty = Coverage(0, 0)
    rows = [Rank(None, org, scores.get(org, EMPTY), cov.get(org, empty)) for org in set(scores) | set(cov)]
    rows.sort(key=lambda r: (r.aggregate.score is None, -(r.aggregate.score or 0.0), -(r.coverage.share or 0.0),
                             r.org_id))
    out: list[Rank] = []
    for i, r in enumerate(rows):
        if r.aggregate.score is None:
            rank = None
        elif out and out[-1].aggregate.score == r.aggregate.score:
            rank = out[-1].rank
        else:
            rank = i + 1
        out.append(Rank(rank, r.org_id, r.aggregate, r.coverage))
    return out


def dimension_averages(session: Session, *, org_id: int | None = None) -> dict[str, float | None]:
    """Per dimension: the mean over entries' latest checks that scored it (None where none did)."""
    stmt = select(QualityCheck.dimensions).where(latest_done())
    if org_id is not None:
        stmt = stmt.where(QualityCheck.org_id == org_id)
    dims = [d or {} for d in session.scalars(stmt)]
    if not dims:
        return dict.fromkeys(DIMENSIONS)
    df = pl.from_dicts([{k: d.get(k) for k in DIMENSIONS} for d in dims],
                       schema=dict.fromkeys(DIMENSIONS, pl.Float64))
    means = df.mean().row(0, named=True)
    return {k: (round(v, DIGITS) if v is not None else None) for k, v in means.items()}


# Trends ------------------------------------------------------------------------------------------------------

def entry_trend(session: Session, *, entry_id: int, limit: int = 30) -> list[QualityCheck]:
    """The entry's last ``limit`` finished checks, oldest first (one per checked version or re-check)."""
    stmt = (select(QualityCheck).where(QualityCheck.entry_id == entry_id, QualityCheck.status == "done")
            .order_by(QualityCheck.created_at.desc(), QualityCheck.id.desc()).limit(limit))
    return list(reversed(session.scalars(stmt).all()))


def _month_ends(until: date, months: int) -> list[tuple[str, datetime]]:
    """(YYYY-MM, the instant the month ends in Beijing time, as UTC) for ``months`` months ending with ``until``'s."""
    out = []
    year, month = until.year, until.month
    for _ in range(months):
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        end = datetime(ny, nm, 1, tzinfo=tasks_service.CHINA).astimezone(UTC)
        out.append((f"{year:04d}-{month:02d}", end))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(out))


def monthly(session: Session, *, org_id: int | None = None, months: int = 12,
            until: date | None = None) -> list[MonthScore]:
    """The department's (``org_id``) or the city's score at the end of each of the last ``months`` months: the mean
    over entries of each one's last check before the month ended (a check without a score takes the entry out)."""
    ends = _month_ends(until or tasks_service.today(), max(1, min(months, 120)))
    c = QualityCheck
    bucket = case(*[(c.created_at < end, literal_column(str(i))) for i, (_m, end) in enumerate(ends)],
                  else_=literal_column(str(len(ends))))
    newest = func.row_number().over(partition_by=(c.entry_id, bucket), order_by=(c.created_at.desc(), c.id.desc()))
    inner = select(c.entry_id.label("entry"), bucket.label("b"), c.score.label("score"), newest.label("n")).where(
        c.status == "done", c.created_at < ends[-1][1])
    if org_id is not None:
        inner = inner.where(c.org_id == org_id)
    sub = inner.subquery()
    rows = session.execute(select(sub.c.entry, sub.c.b, sub.c.score).where(sub.c.n == 1)).all()
    result = {i: (None, 0) for i in range(len(ends))}
    if rows:
        df = pl.DataFrame([tuple(r) for r in rows], schema={"entry": pl.Int64, "b": pl.Int64, "score": pl.Float64},
                          orient="row").with_columns(pl.col("score").fill_null(-1.0))  # -1: checked, no score
        grid = df.select("entry").unique().join(pl.DataFrame({"b": list(range(len(ends)))},
                                                             schema={"b": pl.Int64}), how="cross")
        full = (grid.join(df, on=["entry", "b"], how="left").sort("entry", "b")
                .with_columns(pl.col("score").forward_fill().over("entry"))
                .with_columns(pl.when(pl.col("score") >= 0).then(pl.col("score")).otherwise(None).alias("score")))
        agg = full.group_by("b").agg(pl.col("score").mean().alias("mean"), pl.col("score").count().alias("k"))
        for b, mean, k in agg.iter_rows():
            result[b] = (round(mean, DIGITS) if mean is not None else None, int(k))
    return [MonthScore(m, result[i][0], level_of(result[i][0]), result[i][1]) for i, (m, _end) in enumerate(ends)]

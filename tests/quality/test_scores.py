"""R-GOV-1 scores: the indicator X = A/B, the one scoring formula (``scores.combine``), five-level ratings,
department and city scores over entries' latest checks, coverage, the ranking and trends.

Quality rows are written straight into the real tables by :class:`QualityData` (the rules engine that fills them
is tested on its own); entries are published through the catalogue and data attached as ingest records it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from gongshu.ingest.models import DataVersion
from gongshu.ingest.service import freshness
from gongshu.quality.models import QualityCheck, QualityResult, QualityRule
from gongshu.quality.service import scores
from tests.catalog.helpers import cast, published

_seq = itertools.count(1)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class R:
    """A result to write: the rule, A and B, whether it ran."""

    rule: QualityRule
    passed: int
    checked: int
    ran: bool = True


class QualityData:
    """Rules, data versions and checks written into the real tables, scored by ``scores.combine``."""

    def __init__(self, db) -> None:
        self.db = db
        self.versions: dict[int, int] = {}  # entry id → last version number

    def rule(self, entry, key: str, *, dimension: str = "complete", weight: float = 1.0, severity: str = "major",
             item: str = "", description: str = "") -> QualityRule:
        r = QualityRule(entry_id=entry.id, key=key, kind="required", dimension=dimension, item=item, weight=weight,
                        severity=severity, description=description or key, params={})
        self.db.add(r)
        self.db.flush()
        return r

    def attach(self, entry, *, rows: int = 100) -> DataVersion:
        """A new data version of ``entry`` that serves (as a load would leave it)."""
        n = self.versions.get(entry.id, 0) + 1
        self.versions[entry.id] = n
        v = DataVersion(entry_id=entry.id, number=n, table_name=f"q_t{next(_seq)}_{entry.id}_{n}",
                        snapshot_path=f"q/{entry.id}/{n}.parquet", snapshot_sm3="0" * 64, columns=[], rows=rows)
        self.db.add(v)
        self.db.flush()
        freshness.mark_loaded(self.db, entry_id=entry.id, org_id=entry.org_id, cycle=entry.update_cycle,
                              version_id=v.id)
        return v

    def check(self, entry, results: list[R], *, version: DataVersion | None = None, at: datetime | None = None,
              status: str = "done") -> QualityCheck:
        """A finished check of ``entry`` (over ``version`` or without data); it becomes the entry's latest."""
        rows = [QualityResult(rule_id=r.rule.id, dimension=r.rule.dimension, checked=r.checked, passed=r.passed,
                              ran=r.ran, error="" if r.ran else "列不存在") for r in results]
        score, level, dims = scores.combine(rows, [r.rule for r in results])
        if status == "done":
            self.db.execute(update(QualityCheck).where(QualityCheck.entry_id == entry.id).values(latest=False))
        c = QualityCheck(entry_id=entry.id, org_id=entry.org_id, version_id=version.id if version else None,
                         version_number=version.number if version else None, trigger="load", status=status,
                         rows=version.rows if version else 0, rules=sum(r.ran for r in results),
                         failed_rules=sum(r.ran and r.passed < r.checked for r in results),
                         not_run=sum(not r.ran for r in results), score=score, level=level, dimensions=dims,
                         latest=status == "done", created_at=at or T0, finished_at=at or T0)
        self.db.add(c)
        self.db.flush()
        for row in rows:
            row.check_id = c.id
        self.db.add_all(rows)
        self.db.flush()
        return c

    def scored(self, entry, x: float, *, at: datetime | None = None, data: bool = True, rule: QualityRule | None = None,
               dimension: str = "complete") -> QualityCheck:
        """A check whose score is ``x`` (one rule: A = x·1000 of B = 1000), over a new data version by default."""
        rule = rule or self.rule(entry, f"r{next(_seq)}", dimension=dimension)
        version = self.attach(entry) if data else None
        return self.check(entry, [R(rule, round(x * 1000), 1000)], version=version, at=at)


@pytest.fixture
def qd(db) -> QualityData:
    return QualityData(db)


# The formula ---------------------------------------------------------------------------------------------------

@dataclass
class _Rule:
    id: int
    weight: float
    dimension: str


@dataclass
class _Res:
    rule_id: int
    dimension: str
    passed: int
    checked: int
    ran: bool = True


def test_R_GOV_1_combine_by_hand():
    """完整性: (2·0.90 + 1·0.50)/3 = 0.7667; 准确性: 0.99 (the rule that did not run is left out of A and B, though
    it reported 0 of 100); 时效性 checked no row and 规范性 weighs 0: both absent; score = (0.76667 + 0.99)/2."""
    rules = [_Rule(1, 2.0, "complete"), _Rule(2, 1.0, "complete"), _Rule(3, 1.0, "accurate"), _Rule(4, 1.0, "accurate"),
             _Rule(5, 1.0, "timely"), _Rule(6, 0.0, "normative")]
    results = [_Res(1, "complete", 90, 100), _Res(2, "complete", 50, 100), _Res(3, "accurate", 0, 100, ran=False),
               _Res(4, "accurate", 99, 100), _Res(5, "timely", 0, 0), _Res(6, "normative", 0, 100)]
    score, level, dims = scores.combine(results, rules)
    assert dims == {"complete": 0.7667, "accurate": 0.99}
    assert list(dims) == ["complete", "accurate"]  # in the order of models.DIMENSIONS
    assert score == round((2.3 / 3 + 0.99) / 2, 4) == 0.8783
    assert level == 2  # 良
    # rules by id give the same; the plain mean over dimensions is not the mean over rules
    assert scores.combine(results, {r.id: r for r in rules}) == (score, level, dims)
    assert score != round((0.9 * 2 + 0.5 + 0.99) / 4, 4)


def test_combine_without_counted_results_and_unknown_rule():
    assert scores.combine([], []) == (None, None, {})
    assert scores.combine([_Res(1, "complete", 0, 0)], [_Rule(1, 1.0, "complete")]) == (None, None, {})
    with pytest.raises(ValueError):
        scores.combine([_Res(9, "complete", 1, 2)], [_Rule(1, 1.0, "complete")])


def test_indicator_is_a_over_b():
    assert scores.indicator(3, 4) == 0.75
    assert scores.indicator(0, 0) is None


@pytest.mark.parametrize("score,level", [
    (1.0, 1), (0.95, 1), (0.9499999999999999, 1), (0.9499, 2), (0.85, 2), (0.8499, 3), (0.70, 3), (0.6999, 4),
    (0.60, 4), (0.5999, 5), (0.0, 5), (None, None),
])
def test_R_GOV_1_five_levels_at_their_bounds(score, level):
    assert scores.level_of(score) == level


def test_level_names():
    assert [scores.level_name(i)[0] for i in range(1, 6)] == ["优", "良", "中", "差", "劣"]
    assert scores.level_name(None) == scores.NOT_RATED


# Departments, city, coverage, ranking ----------------------------------------------------------------------------

@pytest.fixture
def city(f, db, qd):
    """Department A: e1 0.90, e2 0.70, e3 0.50 then 0.80 (latest), e5 data but unchecked, e6 a check that found no
    counted result; department B: e4 0.96; a failed check of e4 is ignored."""
    c = cast(f)
    a, b = c.dept, c.other_dept
    e1, e2, e3, e5, e6 = (published(db, c) for _ in range(5))
    e4 = published(db, c, by=c.other_officer)
    qd.scored(e1, 0.90)
    qd.scored(e2, 0.70)
    qd.scored(e3, 0.50, at=T0 - timedelta(days=40))
    qd.scored(e3, 0.80)
    qd.attach(e5)
    r6 = qd.rule(e6, "r6")
    qd.check(e6, [R(r6, 0, 0, ran=False)], version=qd.attach(e6))
    qd.scored(e4, 0.96)
    qd.check(e4, [R(qd.rule(e4, "bad"), 0, 10)], status="failed")
    return c, a, b, (e1, e2, e3, e4, e5, e6)


def test_R_GOV_1_department_and_city_scores(db, city):
    _c, a, b, _e = city
    deps = scores.department_scores(db)
    assert deps[a.id].score == 0.8 and deps[a.id].level == 3  # (0.9 + 0.7 + 0.8) / 3, e6 has no score
    assert deps[a.id].entries == 4 and deps[a.id].scored == 3
    assert deps[a.id].levels == {1: 0, 2: 1, 3: 2, 4: 0, 5: 0}  # 0.90 良; 0.70, 0.80 中
    assert deps[a.id].rows == 400
    assert deps[b.id].score == 0.96 and deps[b.id].level == 1 and deps[b.id].entries == 1
    assert scores.department_scores(db, org_ids=[b.id]).keys() == {b.id}
    town = scores.city_score(db)
    assert town.score == round((0.9 + 0.7 + 0.8 + 0.96) / 4, 4) == 0.84  # each entry once, not each department
    assert town.level == 3 and town.entries == 5 and town.scored == 4


def test_R_GOV_1_coverage_counts_checked_data_over_attached_data(db, qd, city):
    c, a, b, (e1, *_rest) = city
    cov = scores.coverage(db)
    assert (cov[a.id].with_data, cov[a.id].checked) == (5, 4)  # e5 unchecked
    assert cov[a.id].share == 0.8
    assert (cov[b.id].with_data, cov[b.id].checked) == (1, 1)
    # a later check without data (accessibility only) is the latest: e1's data no longer counts as checked
    qd.check(e1, [R(qd.rule(e1, "acc", dimension="accessible"), 1, 1)])
    assert scores.coverage(db, org_ids=[a.id])[a.id].checked == 3
    assert scores.city_coverage(scores.coverage(db)) == scores.Coverage(6, 4)


def test_R_GOV_1_ranking_best_first_ties_share_a_rank(f, db, qd, city):
    c, a, b, _e = city
    tied = f.org()
    other = f.org()
    late = f.org()
    t = published(db, c, by=f.actor(tied))
    o = published(db, c, by=f.actor(other))
    nothing = published(db, c, by=f.actor(late))
    qd.scored(t, 0.80)  # ties with A (0.80) but covers all its data: ranks above A with the same rank
    qd.scored(o, 0.50)
    qd.attach(nothing)  # data, never checked: last, without a rank
    ranks = scores.ranking(db)
    assert [(r.org_id, r.rank) for r in ranks] == [(b.id, 1), (tied.id, 2), (a.id, 2), (other.id, 4),
                                                   (late.id, None)]
    assert ranks[-1].coverage == scores.Coverage(1, 0) and ranks[-1].aggregate.entries == 0


def test_R_GOV_1_dimension_averages(db, qd, city):
    _c, a, _b, (e1, *_rest) = city
    qd.check(e1, [R(qd.rule(e1, "fmt", dimension="normative"), 1, 2), R(qd.rule(e1, "cmp"), 1, 1)],
             version=qd.attach(e1))
    dims = scores.dimension_averages(db, org_id=a.id)
    assert dims["normative"] == 0.5  # only e1 measured it
    assert dims["complete"] == round((1.0 + 0.7 + 0.8) / 3, 4)
    assert dims["timely"] is None
    assert scores.dimension_averages(db, org_id=-1) == dict.fromkeys(dims)


# Trends ----------------------------------------------------------------------------------------------------------

def test_R_GOV_1_entry_trend_over_versions(db, qd, f):
    c = cast(f)
    e = published(db, c)
    rule = qd.rule(e, "k")
    for i, x in enumerate((0.5, 0.7, 0.9)):
        qd.scored(e, x, rule=rule, at=T0 + timedelta(days=i))
    trend = scores.entry_trend(db, entry_id=e.id)
    assert [(t.version_number, t.score) for t in trend] == [(1, 0.5), (2, 0.7), (3, 0.9)]
    assert [t.version_number for t in scores.entry_trend(db, entry_id=e.id, limit=2)] == [2, 3]


def test_R_GOV_1_monthly_trend_carries_each_entry_forward(db, qd, f):
    """Sep: e1 0.60 (from August), e2 0.90 → 0.75. Oct: e1 0.80, e2 0.90, e3 0.50 (checked at 01:00 on 1 October in
    Beijing, still 30 September in UTC) → 0.7333. Nov: e2's check found nothing to count → (0.80 + 0.50) / 2."""
    c = cast(f)
    e1, e2, e3 = (published(db, c) for _ in range(3))
    other = published(db, c, by=c.other_officer)
    qd.scored(e1, 0.60, at=datetime(2026, 8, 20, tzinfo=UTC))
    qd.scored(e2, 0.90, at=datetime(2026, 9, 10, tzinfo=UTC))
    qd.scored(e1, 0.70, at=datetime(2026, 10, 3, tzinfo=UTC))
    qd.scored(e1, 0.80, at=datetime(2026, 10, 20, tzinfo=UTC))  # the month's last check counts
    qd.scored(e3, 0.50, at=datetime(2026, 9, 30, 17, 0, tzinfo=UTC))
    qd.check(e2, [R(qd.rule(e2, "nr"), 0, 0, ran=False)], at=datetime(2026, 11, 5, tzinfo=UTC))
    qd.scored(other, 0.10, at=datetime(2026, 9, 1, tzinfo=UTC))  # another department
    qd.scored(e1, 0.10, at=datetime(2026, 12, 2, tzinfo=UTC))  # after the window
    months = scores.monthly(db, org_id=c.dept.id, months=4, until=date(2026, 11, 15))
    assert [(m.month, m.score, m.entries) for m in months] == [
        ("2026-08", 0.6, 1), ("2026-09", 0.75, 2), ("2026-10", round((0.8 + 0.9 + 0.5) / 3, 4), 3),
        ("2026-11", 0.65, 2)]
    assert months[1].level == 3
    city = scores.monthly(db, months=1, until=date(2026, 9, 15))
    assert [(m.month, m.score, m.entries) for m in city] == [("2026-09", round((0.6 + 0.9 + 0.1) / 3, 4), 3)]
    assert [m.score for m in scores.monthly(db, org_id=c.dept.id, months=2, until=date(2026, 7, 1))] == [None, None]

"""Governance in the demo city: the departments' own quality rules beyond the defaults, the checks of every loaded
version and the comparison of sources (the jobs the loads queued), consumers' reports, and a corrected file for
the housing fund's problem — so the deliberate defects surface as rule failures and cross-source conflicts in the
right departments' inboxes, ready to be taken through every outcome and escalation step (R-GOV-1…4)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gongshu.auth.models import User
from gongshu.auth.service import actor_for
from gongshu.catalog.service import entries
from gongshu.demo.seed import entry_codes
from gongshu.ingest.service import versions
from gongshu.jobs import service as jobs
from gongshu.quality.models_issues import DataIssue
from gongshu.quality.service import feedback
from gongshu.quality.service import rules as quality_rules

HUJI, FUND, MARRIAGE = "户籍人口基本信息", "住房公积金缴存信息", "婚姻登记信息"
#: the housing fund's corrected export (the amounts keyed 100× too high put right), for the 完成整改 walk-through
FUND_FIXED = "住房公积金缴存信息-已修正.csv"
FUND_MAX = 20_000  # yuan a month: the ceiling of the city's contribution base × 24 %

#: (entry, kind, item, params, severity, description) — rules the departments add to the defaults
RULES = (
    (HUJI, "time_order", "出生日期", {"other": "登记日期"}, "major", "户口登记日期不得早于出生日期"),
    (FUND, "range", "月缴存额", {"min": 0, "max": FUND_MAX}, "critical",
     f"月缴存额不超过 {FUND_MAX} 元（缴存基数上限 × 24%）"),
    (MARRIAGE, "reference", "公民身份号码", {"entry": None, "item": "公民身份号码"}, "minor",
     "婚姻登记当事人应为本市户籍人口或有户籍记录"),
)

#: consumers' reports from the point of service (LZ 32): (reporter, entry, item, title, description)
REPORTS = (
    ("rsj", HUJI, "姓名", "参保人姓名与户籍登记不一致",
     "窗口办理社保登记时，群众出示的身份证姓名与户籍库中的姓名有一字之差（疑为录入错误），请核实。"),
    ("mzj", HUJI, "户籍地址", "户籍地址缺少门牌号",
     "办理低保复核时发现户籍地址只登记到街道，无法确认住址，请补充门牌号。"),
    ("ybj", HUJI, "出生日期", "出生日期与医保登记不一致",
     "医保参保登记的出生日期与户籍库不同，群众称户籍登记有误，请核查原始户籍档案。"),
)


def _actors(session: Session) -> dict:
    return {u.username: actor_for(session, u) for u in session.scalars(select(User).order_by(User.id))}


def _entry(session: Session, codes: dict[str, str], name: str):
    entry = entries.find_by_code(session, code=codes[name])
    if entry is None or versions.current_version(session, entry_id=entry.id) is None:
        return None
    return entry


def seed_quality(factory: sessionmaker[Session], *, folder: Path | None = None) -> Counter:
    """Add the departments' rules, run the queued checks and comparisons, file the consumers' reports and write
    the housing fund's corrected file; returns the count of issues per status."""
    codes = entry_codes()
    with factory.begin() as s:
        actors = _actors(s)
        huji = _entry(s, codes, HUJI)
        for name, kind, item, params, severity, description in RULES:
            entry = _entry(s, codes, name)
            if entry is None or huji is None:
                continue
            if kind == "reference":
                params = {**params, "entry": huji.code}
            officer = next(a for u, a in actors.items() if u.endswith("_officer") and a.org_id == entry.org_id)
            quality_rules.create_rule(s, actor=officer, entry_id=entry.id, kind=kind, item=item, params=params,
                                      severity=severity, description=description)
    jobs.drain(limit=10_000)  # the checks and comparisons the loads queued run now, with the rules above
    with factory.begin() as s:
        actors = _actors(s)
        for reporter, name, item, title, description in REPORTS:
            if _entry(s, codes, name) is None:
                continue
            feedback.report(s, actor=actors[f"{reporter}_officer"], entry=codes[name], title=title,
                            description=description, item=item)
    if folder is not None:
        _fixed_fund_file(folder)
    with factory() as s:
        return Counter(s.scalars(select(DataIssue.status)))


def _fixed_fund_file(folder: Path) -> None:
    """The housing fund's next export with the contributions keyed in cents put right."""
    original = folder / "gjj_gongjijin.csv"
    if not original.exists():
        return
    df = pl.read_csv(original, infer_schema=False, encoding="utf-8-sig")
    amount = pl.col("月缴存额").cast(pl.Float64, strict=False)
    df = df.with_columns(pl.when(amount > FUND_MAX).then((amount / 100).round(2).cast(pl.String))
                         .otherwise(pl.col("月缴存额")).alias("月缴存额"))
    (folder / FUND_FIXED).write_bytes(b"\xef\xbb\xbf" + df.write_csv().encode("utf-8"))

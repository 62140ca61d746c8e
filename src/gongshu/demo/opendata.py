"""The demo city's open data (issue 10): reviews before opening (R-OPN-6) of its published entries whose open
attribute allows it — most approved (open on the portal), one awaiting the authority's decision, one returned
with reasons —, its 双公示 penalty dataset flagged and checked against the 7-working-day deadline (R-OPN-9),
and the portal's name."""

from __future__ import annotations

import os
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gongshu.auth.models import User
from gongshu.auth.service import actor_for
from gongshu.catalog.service import entries
from gongshu.demo.catalogue import ENTRIES
from gongshu.demo.city import CITY
from gongshu.demo.seed import entry_codes
from gongshu.opendata.models import OpeningReview
from gongshu.opendata.service import datasets, disclosure, reviews

PORTAL_NAME = f"{CITY}公共数据开放平台"
#: entries left in other states to show the workflow (by name): awaiting the decision, returned
PENDING = "医师执业注册信息"
RETURNED = "道路运输经营许可信息"
#: 双公示 datasets (R-OPN-9): (entry name, kind, the item holding the decision date)
DISCLOSURE = (("市场监管行政处罚信息", "行政处罚", "处罚日期"),)


def use_portal_name() -> None:
    """The demo's portal name for the attribution text, unless the environment sets one."""
    os.environ.setdefault("GONGSHU_PORTAL_NAME", PORTAL_NAME)


def seed_opendata(factory: sessionmaker[Session]) -> Counter:
    """Review every openable demo entry; returns the count per review status."""
    codes = entry_codes()
    with factory.begin() as s:
        actors = {u.username: actor_for(s, u) for u in s.scalars(select(User).order_by(User.id))}
        reviewer = actors["reviewer"]
        for spec in ENTRIES:
            if spec.open not in ("无条件开放", "有条件开放"):
                continue
            entry = entries.find_by_code(s, code=codes[spec.name])
            if entry is None or entry.status not in ("published", "revising"):
                continue
            officer = actors[f"{spec.org}_officer"]
            personal = "，个人信息项按规则脱敏（身份号码、姓名、联系电话）" if spec.open == "有条件开放" else ""
            r = reviews.submit(s, actor=officer, entry_id=entry.id,
                               confidentiality="经保密审查，不涉及国家秘密、工作秘密和商业秘密",
                               risk_assessment=f"开放范围为目录所列开放信息项{personal}；与其他开放数据关联后重新识别个人的风险低",
                               risk_level="低" if spec.open == "无条件开放" else "中",
                               measures="重要、核心数据不开放；个人信息脱敏；下载与接口调用全程留痕")
            if spec.name == PENDING:
                continue
            if spec.name == RETURNED:
                reviews.return_review(s, actor=reviewer, review_id=r.id,
                                      note="风险评估未说明经营者个人信息的脱敏方式，请补充后重新提交")
                continue
            reviews.approve(s, actor=reviewer, review_id=r.id, note="同意开放")
        for name, kind, item in DISCLOSURE:
            entry = entries.find_by_code(s, code=codes[name])
            if entry is not None and datasets.is_open(s, entry_id=entry.id):
                flagged = disclosure.flag(s, actor=reviewer, entry_id=entry.id, kind=kind, date_item=item)
                if datasets.get(s, ref=entry.id).version is not None:  # loaded (not with --persons 0)
                    disclosure.check_now(s, actor=reviewer, dataset_id=flagged.id)
    with factory() as s:
        return Counter(s.scalars(select(OpeningReview.status)))

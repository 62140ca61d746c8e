"""Builders for the open data tests: an entry that is published, loaded and opened through the real flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gongshu.opendata.service import datasets, reviews
from tests.catalog.helpers import Cast, cast, published
from tests.ingest.helpers import load_file, person_rows, write_csv

#: items of a dataset with nothing personal: nothing is masked
PLAIN_ITEMS = [
    {"name": "统一社会信用代码", "type": "C", "length": 18, "meaning": "GB 32100", "is_identifier": True,
     "is_key": True, "grade": "一般1"},
    {"name": "企业名称", "type": "C", "length": 200, "meaning": "登记名称", "grade": "一般1"},
]


@dataclass
class OpenWorld:
    c: Cast
    entry: Any
    review: Any


def open_entry(db, c: Cast, entry: Any, **review: Any) -> Any:
    """The source reviews opening ``entry``; the authority approves."""
    r = reviews.submit(db, actor=c.officer, entry_id=entry.id,
                       confidentiality=review.pop("confidentiality", "不涉及国家秘密、工作秘密"),
                       risk_assessment=review.pop("risk_assessment", "个人信息均已脱敏，重新识别风险低"),
                       risk_level=review.pop("risk_level", "低"), measures=review.pop("measures", "身份号码、姓名脱敏"))
    return reviews.approve(db, actor=c.reviewer, review_id=r.id)


def open_world(f, db, tmp_path, *, rows: int = 20, load: bool = True, open_type: str = "无条件开放",
               **entry: Any) -> OpenWorld:
    """公安局 (c.dept) publishes 户籍人口基本信息 with ``open_type``, loads ``rows`` persons and opens it."""
    c = cast(f)
    e = published(db, c, open_type=open_type, **entry)
    if load:
        done = load_file(db, c.officer, e, write_csv(tmp_path / "户籍.csv", person_rows(rows)))
        assert done.status == "applied", done.error
    review = open_entry(db, c, e)
    assert datasets.is_open(db, entry_id=e.id)
    return OpenWorld(c, e, review)

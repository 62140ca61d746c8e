"""Builders for the aggregation tests: valid citizen ID numbers, person CSVs, a published entry."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import ric

from gongshu.ingest.service import loads
from tests.catalog.helpers import cast, published

HEADER = ["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"]


def make_id(n: int, region: str = "440106", birth: str = "19850312") -> str:
    """A valid GB 11643 number, unique per ``n``; odd sequence digit = male."""
    if n >= 1000:  # another birth date per thousand
        birth = (date(1950, 1, 1) + timedelta(days=n // 1000)).strftime("%Y%m%d")
    body = f"{region}{birth}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person_rows(n: int, start: int = 1) -> list[list[str]]:
    """Persons whose sex and birth date agree with their ID numbers (odd sequence = male)."""
    return [[make_id(i), f"张{'一二三四五六七八九十'[i % 10]}{i}", "1" if (i % 1000) % 2 else "2", make_id(i)[6:14],
             f"东莞市南城街道{i}号"] for i in range(start, start + n)]


def write_csv(path: Path, rows: list[list[str]], *, header: list[str] = HEADER, encoding: str = "gbk") -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def setup(f, db):
    """公安局 with an officer, and a published 户籍人口基本信息 entry keyed by 公民身份号码."""
    c = cast(f)
    return c, published(db, c)


def load_file(db, actor, entry, path: Path, **kw):
    """Receive and process a file as the worker would; returns the finished load."""
    load = loads.receive_file(db, actor=actor, entry_id=entry.id, path=path, filename=kw.pop("filename", path.name),
                              move=False, **kw)
    db.flush()
    done = loads.process(load.id)
    db.expire_all()
    return done

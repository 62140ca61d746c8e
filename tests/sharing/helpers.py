"""Builders for the sharing tests: a source department with a published, loaded entry and a consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gongshu.auth.service import Actor
from gongshu.sharing.models import Grant, ShareRequest
from gongshu.sharing.service import requests
from tests.catalog.helpers import Cast, cast, published
from tests.ingest.helpers import load_file, person_rows, write_csv


@dataclass
class World:
    c: Cast
    entry: Any
    consumer: Actor  # an officer of c.other_dept


def world(f, db, tmp_path, *, rows: int = 20, load: bool = True, **entry: Any) -> World:
    """公安局 (c.dept) publishes 户籍人口基本信息 (有条件共享 unless overridden) and loads ``rows`` persons;
    c.other_dept is the consumer."""
    c = cast(f)
    e = published(db, c, **entry)
    if load:
        done = load_file(db, c.officer, e, write_csv(tmp_path / "户籍.csv", person_rows(rows)))
        assert done.status == "applied", done.error
    return World(c, e, c.other_officer)


def ask(db, w: World, *, items: tuple[str, ...] = ("公民身份号码", "姓名", "性别"), mode: str = "api",
        **kw: Any) -> ShareRequest:
    return requests.submit(db, actor=kw.pop("actor", w.consumer), entry_id=w.entry.id, items=list(items), mode=mode,
                           matter=kw.pop("matter", "不动产登记中核验申请人身份"),
                           legal_basis=kw.pop("legal_basis", "《不动产登记暂行条例》第十六条"),
                           system_name=kw.pop("system_name", "不动产登记系统"), **kw)


def active_grant(db, w: World, **kw: Any) -> Grant:
    """A delivered grant through the real flow: request, then the source approves."""
    req = ask(db, w, **kw)
    if req.status == "approved":
        grant = requests.grant_of(db, request_id=req.id)
    else:
        grant = requests.approve(db, actor=w.c.officer, request_id=req.id)
    assert grant is not None and grant.status == "active", grant and grant.status
    return grant

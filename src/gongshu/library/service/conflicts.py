"""The disagreements between sources a library build recorded, as governance routes them (R-GOV-4).

Added for the governance issue (issue 11, cross-source comparison): the comparison service
(``quality.service.compare``) raises one data issue per data element at its legal source and marks the current
builds' open conflicts on that element ``routed``. It checks its caller's permission (``quality.compare.run``)
before calling :func:`mark_routed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.service import Actor
from gongshu.library.models import LibraryBuild, LibraryConflict

#: library kind → the key check of its subjects (ingest ``spec.check_for``)
SUBJECT_CHECK = {"person": "ric", "entity": "uscc"}


@dataclass(frozen=True)
class OpenGroup:
    build_id: int
    kind: str
    built_at: datetime
    attribute: str  # the data element's name
    count: int


def open_groups(session: Session) -> list[OpenGroup]:
    """Open conflicts of the current builds, counted per build and attribute."""
    rows = session.execute(
        select(LibraryBuild.id, LibraryBuild.kind, LibraryBuild.built_at, LibraryConflict.attribute, func.count())
        .join(LibraryConflict, LibraryConflict.build_id == LibraryBuild.id)
        .where(LibraryBuild.status == "current", LibraryConflict.status == "open")
        .group_by(LibraryBuild.id, LibraryBuild.kind, LibraryBuild.built_at, LibraryConflict.attribute)
        .order_by(LibraryBuild.id, LibraryConflict.attribute)).all()
    return [OpenGroup(*r) for r in rows]


def counts(session: Session, *, attribute: str) -> dict[str, int]:
    """Conflicts of the current builds on one attribute, by status."""
    rows = session.execute(
        select(LibraryConflict.status, func.count()).join(LibraryBuild, LibraryBuild.id == LibraryConflict.build_id)
        .where(LibraryBuild.status == "current", LibraryConflict.attribute == attribute)
        .group_by(LibraryConflict.status)).all()
    return dict(rows)


def mark_routed(session: Session, *, actor: Actor, build_id: int, attribute: str, issue_id: int) -> int:
    """Open conflicts of a build on one attribute → ``routed`` (to the data issue ``issue_id``); one audit event."""
    n = session.execute(update(LibraryConflict).where(
        LibraryConflict.build_id == build_id, LibraryConflict.attribute == attribute,
        LibraryConflict.status == "open").values(status="routed").execution_options(synchronize_session=False)
    ).rowcount or 0
    if n:
        audit.record(session, actor=actor, action="library.conflict.route", subject_type="library_build",
                     subject_id=build_id, after={"attribute": attribute, "routed": n, "issue_id": issue_id})
    return n

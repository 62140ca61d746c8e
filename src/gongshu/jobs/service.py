"""Enqueue jobs in the caller's transaction; run them in a worker.

Handlers and periodic jobs are declared next to their code with :func:`handler`
and :func:`periodic`.  ``gongshu worker`` runs them in their own process; the
embedded default runs the same loop in a thread of the web process.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gongshu.db import unit_of_work, utcnow
from gongshu.jobs.models import Job, PeriodicRun

log = logging.getLogger("gongshu.jobs")

Handler = Callable[..., None]
HANDLERS: dict[str, Handler] = {}


@dataclass(frozen=True)
class Periodic:
    name: str
    every: timedelta
    func: Callable[[Session], Any]


PERIODIC: dict[str, Periodic] = {}
#: run once where jobs are processed, before the first job (crash recovery of domains)
ON_START: list[Callable[[], Any]] = []


def on_start(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Declare a function the worker runs at start, e.g. to clean up after a crash."""
    ON_START.append(fn)
    return fn


def run_on_start() -> None:
    for fn in ON_START:
        try:
            fn()
        except Exception:
            log.exception("start-up hook %s failed", getattr(fn, "__name__", fn))


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Declare the function that runs jobs of ``kind``; it gets (session, **payload)."""
    def wrap(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return wrap


def periodic(name: str, *, every: timedelta) -> Callable[[Callable[[Session], Any]], Callable[[Session], Any]]:
    """Declare a job that runs every ``every`` (deadline sweeps, freshness checks …)."""
    def wrap(fn: Callable[[Session], Any]) -> Callable[[Session], Any]:
        PERIODIC[name] = Periodic(name, every, fn)
        return fn
    return wrap


def enqueue(session: Session, kind: str, *, run_after: datetime | None = None, **payload: Any) -> Job:
    """Write a job row in the caller's transaction: it exists only if the work commits."""
    job = Job(kind=kind, payload=payload, run_after=run_after or utcnow())
    session.add(job)
    session.flush()
    return job


def _claim(session: Session) -> Job | None:
    stmt = (select(Job).where(Job.status == "queued", Job.run_after <= utcnow()).order_by(Job.id).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalar(stmt)
    if job is None:
        return None
    job.status = "running"
    job.started_at = utcnow()
    job.attempts += 1
    return job


def run_one() -> bool:
    """Claim and run one due job; returns False when none was due."""
    with unit_of_work() as session:
        job = _claim(session)
        if job is None:
            return False
        job_id, kind, payload = job.id, job.kind, dict(job.payload or {})
    fn = HANDLERS.get(kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {kind}")
        with unit_of_work() as session:
            fn(session, **payload)
        status, error = "done", None
    except Exception:  # a failing job is recorded, never kills the worker
        log.exception("job %s (%s) failed", job_id, kind)
        status, error = "failed", traceback.format_exc(limit=5)
    with unit_of_work() as session:
        job = session.get(Job, job_id)
        if status == "failed" and job.attempts < job.max_attempts:
            job.status = "queued"
            job.run_after = utcnow() + timedelta(seconds=30 * job.attempts)
        else:
            job.status = status
        job.error = error
        job.finished_at = utcnow()
    return True


def run_periodic(now: datetime | None = None) -> list[str]:
    """Run each periodic job whose interval has passed; returns the names that ran."""
    now = now or utcnow()
    ran = []
    for p in PERIODIC.values():
        with unit_of_work() as session:
            last = session.get(PeriodicRun, p.name)
            if last is not None and last.last_run_at + p.every > now:
                continue
            if last is None:
                session.add(PeriodicRun(name=p.name, last_run_at=now))
            else:
                session.execute(update(PeriodicRun).where(PeriodicRun.name == p.name).values(last_run_at=now))
        try:
            with unit_of_work() as session:
                p.func(session)
            ran.append(p.name)
        except Exception:
            log.exception("periodic job %s failed", p.name)
    return ran


def drain(limit: int = 1000) -> int:
    """Run due jobs until none is left (tests, CLI)."""
    n = 0
    while n < limit and run_one():
        n += 1
    return n


class InProcessRunner:
    """The worker loop in a daemon thread, for the embedded default."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gongshu-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        run_on_start()
        while not self._stop.is_set():
            try:
                run_periodic()
                while not self._stop.is_set() and run_one():
                    pass
            except Exception:
                log.exception("job loop error")
            self._stop.wait(self.interval)


def recent(session: Session, *, limit: int = 50) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))

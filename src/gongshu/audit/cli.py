"""``gongshu audit verify``."""

from __future__ import annotations

import sys
import time

import click

from gongshu.audit import service
from gongshu.db import unit_of_work


@click.group("audit")
def group() -> None:
    """Audit log (审计日志)."""


@group.command("verify")
def verify() -> None:
    """Recompute the hash chain; name the first event altered, deleted or inserted."""
    start = time.perf_counter()
    with unit_of_work() as session:
        result = service.verify(session)
    took = time.perf_counter() - start
    click.echo(f"{result.message}\n{result.message_en}\n({result.checked} events, {took:.2f}s)")
    sys.exit(0 if result.ok else 1)

"""The ``gongshu`` command: database, server, worker, audit and each domain's group."""

from __future__ import annotations

import sys
import time

import click
import uvicorn

from gongshu import app as web_app  # importing the app declares every domain's jobs (for the worker)
from gongshu.audit import cli as audit_cli
from gongshu.catalog import cli as catalog_cli
from gongshu.db import NotMigrated, check_migrated, get_engine, upgrade
from gongshu.demo import cli as demo_cli
from gongshu.jobs import service as jobs_service
from gongshu.sharing import cli as sharing_cli


@click.group()
def main() -> None:
    """公数 gongshu — the city public data platform."""


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the latest schema."""
    engine = get_engine()
    upgrade(engine)
    click.echo(f"数据库已迁移到最新版本 · database migrated: {engine.url.render_as_string(hide_password=True)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the web pages and the API (runs queued jobs in-process unless GONGSHU_INPROCESS_WORKER=false)."""
    try:
        check_migrated(get_engine())
    except NotMigrated as exc:
        click.echo(f"{exc.message}\n{exc.message_en}", err=True)
        sys.exit(1)
    uvicorn.run("gongshu.app:create_app", factory=True, host=host, port=port, log_level="info")


@main.command()
@click.option("--once", is_flag=True, help="run due jobs and periodic jobs once, then exit")
def worker(once: bool) -> None:
    """Run queued and periodic jobs."""
    try:
        check_migrated(get_engine())
    except NotMigrated as exc:
        click.echo(f"{exc.message}\n{exc.message_en}", err=True)
        sys.exit(1)
    web_app.ROUTERS  # noqa: B018 - every domain is imported, so every job handler is declared
    jobs_service.run_on_start()
    while True:
        jobs_service.run_periodic()
        n = jobs_service.drain()
        if once:
            click.echo(f"ran {n} jobs")
            return
        time.sleep(2)


main.add_command(audit_cli.group)
main.add_command(catalog_cli.group)
main.add_command(demo_cli.demo)
main.add_command(sharing_cli.group)


if __name__ == "__main__":
    main()

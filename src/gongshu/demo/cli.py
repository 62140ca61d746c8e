"""``gongshu demo``: a fresh data directory, migrated, seeded with the demo city, then served."""

from __future__ import annotations

import os
import shutil
import unicodedata
from pathlib import Path

import click
import uvicorn
from sqlalchemy import Engine

from gongshu.config import get_settings
from gongshu.db import make_engine, session_factory, set_engine, upgrade
from gongshu.demo.city import CITY, DEFAULT_SEED, DEMO_PASSWORD
from gongshu.demo.opendata import seed_opendata, use_portal_name
from gongshu.demo.quality import seed_quality
from gongshu.demo.resources import DemoData, load_demo_data
from gongshu.demo.seed import DemoCity, seed_demo
from gongshu.demo.sharing import grant_counts, seed_sharing
from gongshu.errors import GongshuError

DB_FILE = "gongshu.db"


def prepare_data_dir(path: Path, *, force: bool) -> Path:
    """Create an empty data directory; an existing non-empty one is replaced only with ``force``
    and only when it holds a gongshu database (never an arbitrary directory)."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise click.ClickException(f"{path} 已存在且不是目录 · {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise click.ClickException(
                f"数据目录 {path} 已存在且不为空。如需重新生成演示数据，请加 --force（会删除该目录），"
                f"或用 --data-dir 指定一个新目录。\n"
                f"The data directory {path} exists and is not empty. Add --force to replace it, "
                f"or choose another directory with --data-dir.")
        if not (path / DB_FILE).exists():
            raise click.ClickException(
                f"{path} 中没有 {DB_FILE}，不像是公数的数据目录；为安全起见不删除它，请用 --data-dir 指定其他目录。\n"
                f"{path} holds no {DB_FILE} and does not look like a gongshu data directory; it is left alone. "
                f"Choose another directory with --data-dir.")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def use_data_dir(path: Path) -> Engine:
    """Point this process (settings and engine, so also the server it starts) at the SQLite database in ``path``."""
    url = f"sqlite:///{path / DB_FILE}"
    os.environ["GONGSHU_DATA_DIR"] = str(path)
    os.environ["GONGSHU_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine = make_engine(url)
    set_engine(engine)
    return engine


def data_summary(data: DemoData) -> str:
    libs = "；".join(f"{'人口库' if k == 'person' else '法人库'} {n:,} 个主体、{c:,} 处来源冲突"
                    for k, (n, c) in data.libraries.items())
    libs += "".join(f"；主题库“社会救助” {n:,} 行" for n in data.themes.values())
    return (f"已归集 {data.files} 个文件：{data.rows:,} 行入库，{data.rejected:,} 行被拒（见各归集记录），"
            f"{data.late} 个目录逾期未更新；{libs}。\n"
            f"可用于试上传的问题文件：{data.messy_file}\n"
            f"Loaded {data.files} files: {data.rows:,} rows in, {data.rejected:,} rejected; {data.late} entries late. "
            f"A messy GBK export to try uploading: {data.messy_file}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def login_table(city: DemoCity) -> str:
    header = ("用户名 username", "密码 password", "角色 role", "机构 organisation")
    rows = [(x.username, x.password, x.role, x.org) for x in city.logins]
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = ["  ".join(_pad(cell, widths[i]) if i < 3 else cell for i, cell in enumerate(r)) for r in [header, *rows]]
    lines.insert(1, "-" * (sum(widths) + 6 + _width(header[3])))
    return "\n".join(lines)


def summary(city: DemoCity, data_dir: Path) -> str:
    s = city.states
    return (
        f"演示城市“{CITY}”已生成 · demo city seeded (seed {city.seed}) in {data_dir}\n"
        f"  目录 {sum(s.values())} 条：已发布 {s['published']}、待审核 {s['submitted']}（其中超期 {city.overdue} 条：{city.overdue_entry}）、"
        f"草稿 {s['draft']}、已退回 {s['returned']}、已撤销 {s['withdrawn']}；"
        f"一数一源冲突 {city.conflicts} 个（{city.conflict_entry}）；数据元 {city.elements} 个；信息系统 {city.systems} 个；"
        f"政务信息化项目：{city.project}\n"
        f"  entries {sum(s.values())}: {s['published']} published, {s['submitted']} awaiting review ({city.overdue} overdue), "
        f"{s['draft']} drafts, {s['returned']} returned, {s['withdrawn']} withdrawn; {city.conflicts} single-source conflict(s)\n\n"
        f"所有账号使用同一个演示密码（仅用于演示数据） · every account uses the demo password: {DEMO_PASSWORD}\n"
    )


def sharing_summary(requests_by_status, grants_by_status) -> str:
    r, g = requests_by_status, grants_by_status
    return (f"  共享申请 {sum(r.values())} 件：已同意 {r['approved']}、待答复 {r['pending']}、已提请协调 {r['escalated']}、"
            f"已拒绝 {r['refused']}、已撤回 {r['withdrawn']}；授权：有效 {g['active']}、待交付 {g['awaiting_delivery']}、"
            f"已撤销 {g['revoked']}、已到期 {g['expired']}\n"
            f"  share requests {sum(r.values())}: {r['approved']} approved, {r['pending']} pending, "
            f"{r['escalated']} escalated, {r['refused']} refused, {r['withdrawn']} withdrawn; grants: {g['active']} active, "
            f"{g['awaiting_delivery']} awaiting delivery, {g['revoked']} revoked, {g['expired']} expired")


@click.command("demo")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("gongshu-data"), show_default=True,
              help="new data directory for the demo's SQLite database")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="seed and exit without serving")
@click.option("--force", is_flag=True, help="replace an existing gongshu data directory")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int, help="seed of the generated content")
@click.option("--persons", default=100_000, show_default=True, type=click.IntRange(0, 100_000_000),
              help="synthetic persons loaded behind the catalogue (0: catalogue only)")
@click.option("--entities", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="synthetic legal entities")
def demo(data_dir: Path, port: int, no_serve: bool, force: bool, seed: int, persons: int, entities: int) -> None:
    """Create a fresh data directory with the demo city 南湾市, print the logins, serve on 127.0.0.1."""
    if os.environ.get("GONGSHU_DATABASE_URL"):
        click.echo("注意：演示数据总是写入数据目录中的 SQLite，忽略 GONGSHU_DATABASE_URL · "
                   "note: the demo always uses SQLite in the data directory and ignores GONGSHU_DATABASE_URL", err=True)
    path = prepare_data_dir(data_dir, force=force)
    use_portal_name()
    engine = use_data_dir(path)
    click.echo(f"正在迁移数据库并生成演示数据… · migrating and seeding {path / DB_FILE} …")
    try:
        upgrade(engine)
        city = seed_demo(session_factory(), seed=seed)
        if persons:
            data = load_demo_data(session_factory(), folder=path / "demo-source-files", persons=persons,
                                  entities=entities, seed=seed, progress=click.echo)
            click.echo(data_summary(data))
        shares = seed_sharing(session_factory())
        click.echo(sharing_summary(shares, grant_counts(session_factory())))
        opened = seed_opendata(session_factory())
        click.echo(f"开放数据 · open data: 已开放 {opened['approved']} 个数据集 · {opened['approved']} datasets open "
                   f"(待审定 awaiting decision {opened['submitted']}, 已退回 returned {opened['returned']})")
        issues = seed_quality(session_factory(), folder=path / "demo-source-files" if persons else None)
        click.echo(f"数据治理 · governance: 问题数据 {sum(issues.values())} 条（待处理 {issues['open']}）· "
                   f"{sum(issues.values())} data issues ({issues['open']} open at their sources)")
    except GongshuError as exc:
        raise click.ClickException(
            f"{exc.message}\n{exc.message_en}\n"
            f"演示数据未生成完整；排除问题后请加 --force 重新生成 · the demo city is incomplete; "
            f"fix the problem and run again with --force") from exc
    click.echo(summary(city, path))
    click.echo(login_table(city))
    url = f"http://127.0.0.1:{port}"
    if no_serve:
        click.echo(f"\n已生成，未启动服务。启动：GONGSHU_DATA_DIR={path} gongshu serve --port {port}\n"
                   f"Seeded, not serving. To serve: GONGSHU_DATA_DIR={path} gongshu serve --port {port}")
        return
    click.echo(f"\n打开 · open {url}/login   （Ctrl+C 停止 · to stop）\n")
    uvicorn.run("gongshu.app:create_app", factory=True, host="127.0.0.1", port=port, log_level="info")

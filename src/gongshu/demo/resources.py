"""Load synthetic data behind the demo catalogue through the real aggregation pipeline, mark some
loads late, and build the person and legal-entity libraries (R-AGG-1, R-AGG-4).

Each file from :func:`gongshu.demo.data.generate` is received and processed as its department's
officer would upload it; the ~1 % planted defects are accepted as recorded rejects (policy 10 %), the
name conflicts show in the libraries, and the files marked late are backdated so the freshness sweep
raises inbox items. A messy GBK export is left next to them for trying the upload page.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gongshu.auth import service as auth_service
from gongshu.auth.models import User
from gongshu.catalog.service import entries
from gongshu.demo.catalogue import ENTRIES
from gongshu.demo.data import generate, make_messy_gbk_csv
from gongshu.demo.seed import entry_codes
from gongshu.ingest.service import freshness, loads, versions
from gongshu.library.service import build as library_build
from gongshu.library.service import themes
from gongshu.tasks import service as tasks_service

#: the demo accepts a load when at most this share of rows is invalid (the rejects are recorded)
DEMO_ERROR_RATE = 0.10
MESSY_FILE = "户籍人口基本信息-部门导出-待修正.csv"
HUJI = "户籍人口基本信息"


@dataclass
class DemoData:
    files: int = 0
    rows: int = 0
    rejected: int = 0
    late: int = 0
    libraries: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (subjects, conflicts)
    messy_file: Path | None = None
    themes: dict[str, int] = field(default_factory=dict)  # theme code -> rows of its build


#: the issue's example theme: 低保 + 残疾人 + 户籍, joined on the citizen ID (base: the 低保 recipients)
SOCIAL_ASSISTANCE = (("最低生活保障对象信息", ["姓名", "保障人数", "月保障金额", "认定日期"]),
                     ("残疾人证信息", ["残疾类别", "残疾等级"]), (HUJI, ["户籍地址"]))


def _actor(session: Session, username: str):
    user = session.scalar(select(User).where(User.username == username))
    return auth_service.actor_for(session, user)


def load_demo_data(factory: sessionmaker[Session], *, folder: Path, persons: int = 100_000, entities: int = 20_000,
                   seed: int = 2026, today: date | None = None,
                   progress: Callable[[str], None] = lambda _m: None) -> DemoData:
    today = today or tasks_service.today()
    out = DemoData()
    progress(f"生成合成数据（{persons:,} 人，{entities:,} 个法人）… · generating synthetic data")
    files = generate(folder, persons=persons, entities=entities, seed=seed)
    org_of = {e.name: e.org for e in ENTRIES}
    codes = entry_codes()
    for df in files:
        with factory.begin() as s:
            entry = entries.find_by_code(s, code=codes[df.entry_name]) if df.entry_name in codes else None
            if entry is None or entry.version < 1 or entry.status == "withdrawn":
                continue
            officer = _actor(s, f"{org_of[df.entry_name]}_officer")
            versions.set_policy(s, actor=officer, entry_id=entry.id, max_error_rate=DEMO_ERROR_RATE, keep_versions=5)
            load = loads.receive_file(s, actor=officer, entry_id=entry.id, path=df.path, filename=df.path.name,
                                      encoding=df.encoding, move=False)
            load_id, entry_id, cycle, org_id = load.id, entry.id, entry.update_cycle, entry.org_id
        progress(f"  归集 {df.entry_name}（{df.rows:,} 行，{df.format}）… · loading")
        done = loads.process(load_id)
        out.files += 1
        out.rows += done.rows_valid
        out.rejected += done.rows_rejected
        if df.late and done.status == "applied":
            with factory.begin() as s:  # the department's last load was long ago: backdate it
                freshness.mark_loaded(s, entry_id=entry_id, org_id=org_id, cycle=cycle, version_id=done.version_id,
                                      on=today - timedelta(days=100))
            out.late += 1
    with factory.begin() as s:
        freshness.sweep_late(s, on=today, names={e.id: e.name for e in s.scalars(
            entries.visible_to(_actor(s, "reviewer")))})
    with factory.begin() as s:
        admin = _actor(s, "admin")
        for kind in ("person", "entity"):
            progress(f"  汇聚{'人口库' if kind == 'person' else '法人库'}… · building the {kind} library")
            lib = library_build.build(s, actor=admin, kind=kind)
            out.libraries[kind] = (lib.subjects, lib.conflicts)
    with factory.begin() as s:
        progress("  生成主题库“社会救助”… · building the social assistance theme")
        out.themes = _social_assistance(s, _actor(s, "admin"), codes)
    out.messy_file = folder / MESSY_FILE
    _messy_update(folder, next((f.path for f in files if f.entry_name == HUJI), None))
    return out


def _social_assistance(session: Session, admin, codes: dict[str, str]) -> dict[str, int]:
    """Define and build 社会救助 when its three entries serve data (not with ``--persons 0``)."""
    parts = []
    for name, items in SOCIAL_ASSISTANCE:
        entry = entries.find_by_code(session, code=codes[name])
        if entry is None or versions.current_version(session, entry_id=entry.id) is None:
            return {}
        parts.append({"entry_id": entry.id, "items": items})
    theme = themes.define_theme(session, actor=admin, code="shjz", name="社会救助",
                                description="低保对象及其残疾情况和户籍地址，供社会救助审核与帮扶使用", key="公民身份号码",
                                parts=parts)
    return {theme.code: themes.build_theme(session, actor=admin, theme_id=theme.id).rows}


def _messy_update(folder: Path, huji: Path | None, moved: int = 20) -> None:
    """The police's next export as an incremental update: ``moved`` people already loaded who moved
    house (changed rows) and new registrations (added rows), with eight planted problems; and the
    same file corrected."""
    messy, fixed = folder / MESSY_FILE, folder / MESSY_FILE.replace("待修正", "已修正")
    make_messy_gbk_csv(messy)
    make_messy_gbk_csv(fixed, fixed=True)
    if huji is None:
        return
    bad = set(pl.read_parquet(folder / "defects.parquet").filter(pl.col("entry") == HUJI)["row"].to_list())
    with open(huji, encoding="gbk", newline="") as fh:  # rows the department loaded without problems
        known = pl.read_csv(io.StringIO(fh.read()), infer_schema=False, n_rows=moved + len(bad) + 10)
    known = known.with_row_index("_r", offset=2).filter(~pl.col("_r").is_in(list(bad))).drop("_r").head(moved)
    known = known.with_columns(pl.concat_str([pl.lit("南湾市东湖街道幸福路"), pl.int_range(1, moved + 1).cast(pl.String),
                                              pl.lit("号")]).alias("户籍地址"))
    for path in (messy, fixed):
        with open(path, encoding="gbk", newline="") as fh:
            df = pl.read_csv(io.StringIO(fh.read()), infer_schema=False)
        df = pl.concat([known.select(df.columns), df.slice(moved)])
        path.write_bytes(df.write_csv(line_terminator="\r\n").encode("gbk"))

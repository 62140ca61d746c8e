"""Thematic libraries (主题库, R-AGG-5): the authority composes a theme from published, attached
entries and some of their data items, joined on one subject key (e.g. 社会救助 = 最低生活保障对象信息
+ 残疾人证信息 + 户籍人口基本信息 on 公民身份号码).

A build is one DuckDB query over the parts' serving Parquet snapshots — the first part is the base,
the others are LEFT JOINed on the key — written to a Parquet snapshot (with its SM3 digest) and a
store table ``lib_theme_<id>_<stamp>``. The build row records the versions it used (lineage); the
previous build is marked old. Pages read the current build, masked, and every read is logged.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.db import utcnow
from gongshu.errors import Conflict, Invalid, NotFound
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.kit.identifiers import mask_id_number
from gongshu.library.models import Theme, ThemeBuild
from gongshu.library.service import locks, retention
from gongshu.library.service.records import MASKED_GRADES
from gongshu.store import registry
from gongshu.store.service import Column, file_sm3, sql_ident, sql_literal

declare("library.theme.manage", "定义并生成主题库", "Define and build thematic libraries", {"authority_admin"})

CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
MAX_PARTS = 20
PAGE_MAX = 500


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


# Validation of a definition against the serving versions ---------------------------------------------

def _resolve(session: Session, *, key: str, parts: list[dict]) -> list[dict]:
    """Each part with its entry, serving version, snapshot and columns; Invalid naming what is wrong."""
    if not isinstance(parts, list) or not parts:
        raise Invalid("主题库至少要由一个目录组成", "A theme needs at least one entry", field="parts")
    if len(parts) > MAX_PARTS:
        raise Invalid(f"主题库至多由 {MAX_PARTS} 个目录组成", f"A theme has at most {MAX_PARTS} entries", field="parts")
    out, seen = [], set()
    for n, part in enumerate(parts, start=1):
        where = f"parts[{n}]"
        try:
            entry_id = int(part["entry_id"])
        except (KeyError, TypeError, ValueError):
            raise Invalid(f"第 {n} 个组成部分缺少有效的目录编号（entry_id）",
                          f"Part {n} lacks a valid entry_id", field=f"{where}.entry_id") from None
        if entry_id in seen:
            raise Invalid(f"目录 {entry_id} 在主题库中出现了两次", f"Entry {entry_id} appears twice", field=where)
        seen.add(entry_id)
        try:
            entry = catalog_entries.fetch(session, entry_id=entry_id)
        except NotFound:
            raise Invalid(f"第 {n} 个组成部分：目录 {entry_id} 不存在", f"Part {n}: entry {entry_id} does not exist",
                          field=f"{where}.entry_id") from None
        if not entry.version or entry.status == "withdrawn":
            raise Invalid(f"第 {n} 个组成部分：目录“{entry.name}”未发布或已撤销",
                          f"Part {n}: entry '{entry.name}' is not published (or was withdrawn)",
                          field=f"{where}.entry_id")
        version = ingest_versions.current_version(session, entry_id=entry_id)
        if version is None:
            raise Invalid(f"第 {n} 个组成部分：目录“{entry.name}”尚未挂接数据",
                          f"Part {n}: entry '{entry.name}' has no data loaded yet", field=f"{where}.entry_id")
        columns = ingest_spec.columns_from_json(version.columns)
        by_label = {c.label: c for c in columns}
        items = part.get("items") or []
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise Invalid(f"第 {n} 个组成部分：信息项应为名称列表", f"Part {n}: items must be a list of names",
                          field=f"{where}.items")
        items = list(dict.fromkeys(i.strip() for i in items if i.strip() and i.strip() != key))
        unknown = [i for i in items if i not in by_label]
        if unknown:
            raise Invalid(f"第 {n} 个组成部分：目录“{entry.name}”（第 {version.number} 版数据）没有信息项"
                          f"“{'、'.join(unknown)}”", f"Part {n}: entry '{entry.name}' (data version {version.number}) "
                          f"has no data item {', '.join(unknown)}", field=f"{where}.items")
        key_col = by_label.get(key)
        if key_col is None:
            raise Invalid(f"第 {n} 个组成部分：目录“{entry.name}”没有关联信息项“{key}”",
                          f"Part {n}: entry '{entry.name}' has no key item '{key}'", field="key")
        path = snapshot_path(version)
        if not (key_col.key and sum(c.key for c in columns) == 1):
            _check_unique(path, key_col.name, entry.name, key, n)
        if not items and n > 1:
            raise Invalid(f"第 {n} 个组成部分：请至少选择一个信息项", f"Part {n}: choose at least one data item",
                          field=f"{where}.items")
        out.append({"entry": entry, "version": version, "columns": by_label, "items": items, "key": key_col,
                    "path": path})
    return out


def _check_unique(path: Path, column: str, entry_name: str, key: str, n: int) -> None:
    """A non-key join item must still identify one row per subject (else the join multiplies rows)."""
    con = duckdb.connect()
    try:
        dup = con.execute(f"SELECT CAST({sql_ident(column)} AS VARCHAR) FROM read_parquet({sql_literal(str(path))}) "  # noqa: S608 - escaped
                          f"WHERE {sql_ident(column)} IS NOT NULL GROUP BY 1 HAVING count(*) > 1 LIMIT 1").fetchone()
    finally:
        con.close()
    if dup is not None:
        raise Invalid(f"第 {n} 个组成部分：目录“{entry_name}”中“{key}”不是主键且有重复值（如 {mask_id_number(dup[0])}），"
                      "无法按它关联", f"Part {n}: in entry '{entry_name}', '{key}' is not the key and has duplicate "
                      f"values (e.g. {mask_id_number(dup[0])}); it cannot join", field="key")


def _definition(session: Session, *, key: str, parts: list[dict]) -> dict:
    key = _text(key, 100)
    if not key:
        raise Invalid("请填写关联信息项（如 公民身份号码）", "Give the key data item (e.g. 公民身份号码)", field="key")
    resolved = _resolve(session, key=key, parts=parts)
    return {"key": key, "base_entry_id": resolved[0]["entry"].id,
            "parts": [{"entry_id": r["entry"].id, "items": r["items"]} for r in resolved]}


def _check_names(code: str, name: str) -> None:
    if not CODE_RE.match(code):
        raise Invalid("主题库代码应为 2 到 40 位小写字母、数字、- 或 _，以字母开头",
                      "The theme code has 2–40 lower-case letters, digits, - or _, starting with a letter", field="code")
    if not name:
        raise Invalid("请填写主题库名称", "Give the theme a name", field="name")


def parse_parts(text: str) -> list[dict]:
    """Parts from a form: one line per entry, ``<entry id>: item, item`` (、，, ; also separate items)."""
    parts = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        head, sep, rest = line.replace("：", ":").partition(":")
        if not sep or not head.strip().isdigit():
            raise Invalid(f"组成部分第 {n} 行应为“目录编号: 信息项、信息项”", f"Parts line {n} must read "
                          "'<entry id>: item, item'", field="parts")
        parts.append({"entry_id": int(head.strip()),
                      "items": [i.strip() for i in re.split(r"[,，、;；]", rest) if i.strip()]})
    return parts


def attached_entries(session: Session, *, actor: Actor) -> list[dict]:
    """Entries with a serving version, and their data items, to compose a theme from."""
    require(actor, "library.view")
    out = []
    for v in ingest_versions.serving_versions(session):
        entry = catalog_entries.fetch(session, entry_id=v.entry_id)
        cols = ingest_spec.columns_from_json(v.columns)
        out.append({"entry_id": entry.id, "name": entry.name, "version": v.number, "rows": v.rows,
                    "items": [c.label for c in cols], "keys": [c.label for c in cols if c.key]})
    return out


# Defining themes ----------------------------------------------------------------------------------------

def define_theme(session: Session, *, actor: Actor, code: str, name: str, description: str = "", key: str,
                 parts: list[dict]) -> Theme:
    """A new theme; ``parts`` = [{"entry_id": 12, "items": ["姓名", …]}, …], the first part is the base."""
    require(actor, "library.theme.manage")
    code, name = _text(code, 40).lower(), _text(name, 100)
    _check_names(code, name)
    if session.scalar(select(Theme.id).where(Theme.code == code)) is not None:
        raise Conflict(f"主题库代码“{code}”已被使用", f"The theme code '{code}' is taken", field="code")
    theme = Theme(code=code, name=name, description=_text(description, 2000),
                  definition=_definition(session, key=key, parts=parts), created_by=actor.user_id)
    session.add(theme)
    session.flush()
    audit.record(session, actor=actor, action="library.theme.define", subject_type="library_theme",
                 subject_id=theme.id, after={"code": code, "name": name, "definition": theme.definition})
    return theme


def update_theme(session: Session, *, actor: Actor, theme_id: int, name: str | None = None,
                 description: str | None = None, key: str | None = None, parts: list[dict] | None = None) -> Theme:
    """Change a theme's name, description or composition (re-validated); builds made before stay as they were."""
    require(actor, "library.theme.manage")
    theme = _theme(session, theme_id)
    before = {"name": theme.name, "description": theme.description, "definition": theme.definition}
    if name is not None:
        theme.name = _text(name, 100)
        _check_names(theme.code, theme.name)
    if description is not None:
        theme.description = _text(description, 2000)
    if key is not None or parts is not None:
        theme.definition = _definition(session, key=key if key is not None else theme.definition["key"],
                                       parts=parts if parts is not None else theme.definition["parts"])
    theme.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="library.theme.update", subject_type="library_theme",
                 subject_id=theme.id, before=before,
                 after={"name": theme.name, "description": theme.description, "definition": theme.definition})
    return theme


def _theme(session: Session, theme_id: int) -> Theme:
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFound(f"主题库不存在（编号 {theme_id}）", f"Theme {theme_id} not found")
    return theme


def get_theme(session: Session, *, actor: Actor, theme_id: int) -> Theme:
    require(actor, "library.view")
    return _theme(session, theme_id)


def list_themes(session: Session, *, actor: Actor) -> list[Theme]:
    require(actor, "library.view")
    return list(session.scalars(select(Theme).order_by(Theme.code)))


def current_build(session: Session, *, theme_id: int) -> ThemeBuild | None:
    return session.scalar(select(ThemeBuild).where(ThemeBuild.theme_id == theme_id, ThemeBuild.status == "current")
                          .order_by(ThemeBuild.id.desc()).limit(1))


def builds(session: Session, *, actor: Actor, theme_id: int, limit: int = 20) -> list[ThemeBuild]:
    require(actor, "library.view")
    return list(session.scalars(select(ThemeBuild).where(ThemeBuild.theme_id == theme_id)
                                .order_by(ThemeBuild.id.desc()).limit(limit)))


# Building -------------------------------------------------------------------------------------------------

def _output_columns(session: Session, resolved: list[dict], key: str) -> list[dict]:
    counts: dict[str, int] = {}
    for r in resolved:
        for item in r["items"]:
            counts[item] = counts.get(item, 0) + 1
    out = [{"name": "k", "label": key, "item": key, "entry_id": None, "type": "C", "grade": None,
            "identifier": True, "part": 0, "source": None}]
    for p, r in enumerate(resolved):
        snap = catalog_entries.published_snapshot(session, entry_id=r["entry"].id,
                                                  version=r["version"].catalog_version)
        meta = {it["name"]: it for it in snap["items"]}
        for item in r["items"]:
            col, it = r["columns"][item], meta.get(item, {})
            label = item if counts[item] == 1 else f"{item}·{r['entry'].name}"
            out.append({"name": f"t{len(out)}", "label": label, "item": item, "entry_id": r["entry"].id,
                        "type": col.type, "grade": it.get("grade"), "part": p, "source": col.name,
                        "identifier": bool(it.get("is_identifier") or ingest_spec.check_for(item))})
    return out


def _join_sql(resolved: list[dict], columns: list[dict]) -> str:
    base = resolved[0]
    sel = [f"CAST(p0.{sql_ident(base['key'].name)} AS VARCHAR) AS k"]
    sel += [f"p{c['part']}.{sql_ident(c['source'])} AS {c['name']}" for c in columns[1:]]
    joins = "".join(f" LEFT JOIN read_parquet({sql_literal(str(r['path']))}) p{i} "
                    f"ON CAST(p{i}.{sql_ident(r['key'].name)} AS VARCHAR) = CAST(p0.{sql_ident(base['key'].name)} AS VARCHAR)"
                    for i, r in enumerate(resolved) if i)
    return (f"SELECT {', '.join(sel)} FROM read_parquet({sql_literal(str(base['path']))}) p0{joins} "  # noqa: S608 - escaped
            f"WHERE p0.{sql_ident(base['key'].name)} IS NOT NULL ORDER BY k")


def _store_columns(columns: list[dict]) -> list[Column]:
    return [Column(c["name"], c["label"], c["type"], key=c["name"] == "k") for c in columns]


def build_theme(session: Session, *, actor: Actor, theme_id: int, work: Path | None = None) -> ThemeBuild:
    """Materialise a theme from its parts' serving versions now; the previous build is marked old. One
    build per theme at a time (:class:`locks.BuildRunning` otherwise); builds beyond the newest
    ``retention.KEEP_BUILDS`` then expire."""
    require(actor, "library.theme.manage")
    theme = _theme(session, theme_id)
    locks.hold_theme(session, theme)
    definition = theme.definition
    resolved = _resolve(session, key=definition["key"], parts=definition["parts"])
    columns = _output_columns(session, resolved, definition["key"])
    root = registry.files_root()
    work = work or (root / "libraries")
    work.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d%H%M%S") + f"{int(time.time() * 1000) % 1000:03d}"
    out = work / f"theme-{theme.id}-{stamp}.parquet"
    table = f"lib_theme_{theme.id}_{stamp}"
    try:
        tb = _materialise(session, actor=actor, theme=theme, resolved=resolved, columns=columns, table=table,
                          out=out, root=root)
    except BaseException:  # nothing of a failed build stays behind (the caller rolls the rows back)
        with contextlib.suppress(Exception):
            registry.get_store().drop_table(table)
        out.unlink(missing_ok=True)
        raise
    retention.expire_theme(session, actor=actor, theme_id=theme.id)
    return tb


def _materialise(session: Session, *, actor: Actor, theme: Theme, resolved: list[dict], columns: list[dict],
                 table: str, out: Path, root: Path) -> ThemeBuild:
    """The DuckDB join, the Parquet snapshot, the store table and the build row."""
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        con.execute(f"COPY ({_join_sql(resolved, columns)}) TO {sql_literal(str(out))} (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
    registry.get_store().write_batches(table, _store_columns(columns),
                                       pq.ParquetFile(out).iter_batches(batch_size=50_000), create=True, index=True)
    rows = pq.ParquetFile(out).metadata.num_rows
    session.execute(update(ThemeBuild).where(ThemeBuild.theme_id == theme.id, ThemeBuild.status == "current")
                    .values(status="old"))
    try:
        rel = str(out.relative_to(root))
    except ValueError:
        rel = str(out)
    sources = [{"entry_id": r["entry"].id, "entry_name": r["entry"].name, "version_id": r["version"].id,
                "number": r["version"].number, "snapshot_sm3": r["version"].snapshot_sm3} for r in resolved]
    tb = ThemeBuild(theme_id=theme.id, table_name=table, snapshot_path=rel, snapshot_sm3=file_sm3(out),
                    sources=sources, columns=columns, rows=rows)
    session.add(tb)
    session.flush()
    audit.record(session, actor=actor, action="library.theme.build", subject_type="library_theme",
                 subject_id=theme.id, after={"build": tb.id, "rows": rows, "sm3": tb.snapshot_sm3,
                                             "versions": [s["version_id"] for s in sources]})
    return tb


def build_snapshot_path(build: ThemeBuild) -> Path:
    return retention.theme_file(build)


# Reading ----------------------------------------------------------------------------------------------------

def _mask(column: dict, value: object) -> tuple[object, bool]:
    if value is None:
        return None, False
    text = str(value)
    if column.get("identifier") or any(w in column["item"] for w in ("号码", "证号", "信用代码")):
        return mask_id_number(text), True
    if column.get("grade") in MASKED_GRADES:
        return "＊" * min(len(text), 6), True
    return value, False


def theme_rows(session: Session, *, actor: Actor, theme_id: int, after: int | None = None,
               limit: int = 50) -> dict:
    """One page of the current build (identifiers and sensitive grades masked); the read is logged.

    ``after`` is the opaque row position returned as ``next`` (not the subject's identifier, so page
    links never carry an ID number)."""
    require(actor, "library.view")
    theme = _theme(session, theme_id)
    tb = current_build(session, theme_id=theme.id)
    if tb is None:
        raise NotFound(f"主题库“{theme.name}”尚未生成", f"The theme '{theme.name}' has not been built yet")
    if not 1 <= int(limit) <= PAGE_MAX:
        raise Invalid(f"每页行数应在 1 到 {PAGE_MAX} 之间", f"limit must be between 1 and {PAGE_MAX}", field="limit")
    if after is not None and (not isinstance(after, int) or after < 0):
        raise Invalid("翻页位置无效", "Invalid page position 'after'", field="after")
    # page by the internal row id (rows were written in key order): keyset without exposing the key
    cols = [Column(c["name"], c["label"], c["type"]) for c in tb.columns]
    found, nxt = registry.get_store().query(tb.table_name, cols, after=[after] if after is not None else None,
                                            limit=int(limit))
    page = []
    for row in found:
        cells = [_mask(c, row.get(c["name"])) for c in tb.columns]
        page.append({"values": [v for v, _ in cells], "masked": [m for _, m in cells]})
    audit.record(session, actor=actor, action="library.theme.read", subject_type="library_theme",
                 subject_id=theme.id, detail={"build": tb.id, "after": after, "rows": len(page)})
    return {"theme": theme, "build": tb, "columns": tb.columns, "rows": page,
            "next": int(nxt[0]) if nxt else None}

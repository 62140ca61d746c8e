"""Assemble the person library (keyed by citizen ID number) and the legal-entity library (keyed by
USCC) from the serving versions of every entry that holds one row per subject (R-AGG-4).

Each attribute is a data element (数据元). Where several entries carry it, the value of the
element's legal source department wins (一数一源); otherwise the newest version's. Every attribute
keeps its provenance (entry and version), and every subject on which two sources disagree is
recorded as a conflict for governance to route. The work is one DuckDB query over the Parquet
snapshots, written to a new store table; the build row records the versions it used (lineage).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import declare
from gongshu.auth.service import Actor, require
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Invalid
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.library.models import KINDS, LibraryBuild, LibraryConflict
from gongshu.library.service import locks, retention
from gongshu.store import registry
from gongshu.store.service import Column, sql_literal

declare("library.build", "重建基础库（人口库、法人库）", "Rebuild the base libraries", {"authority_admin"})

KEY_CHECK = {"person": "ric", "entity": "uscc"}
GRADE_ORDER = ("一般1", "一般2", "一般3", "一般4", "重要", "核心")
#: conflicts kept per build (the count is exact; the rows beyond this are summarised)
MAX_CONFLICTS = 200_000


def _sources(session: Session, kind: str) -> tuple[list[dict], dict[str, dict]]:
    """Entries whose key is the subject's identifier, with the element each column carries."""
    sources, attrs = [], {}
    for v in ingest_versions.serving_versions(session):
        cols = ingest_spec.columns_from_json(v.columns)
        keys = [c for c in cols if c.key]
        if len(keys) != 1 or ingest_spec.check_for(keys[0].label) != KEY_CHECK[kind]:
            continue  # not one row per subject
        snap = catalog_entries.published_snapshot(session, entry_id=v.entry_id, version=v.catalog_version)
        items = {it["name"]: it for it in snap["items"]}
        mapping = {}
        for c in cols:
            it = items.get(c.label)
            if c.key or it is None or not it.get("element_id"):
                continue
            element = catalog_elements.get_element(session, element_id=it["element_id"])
            mapping[element.name] = c.name
            a = attrs.setdefault(element.name, {"name": element.name, "source_org_id": element.source_org_id,
                                                "grade": it.get("grade") or "一般1", "personal": element.is_personal,
                                                "identifier": element.is_identifier})
            if GRADE_ORDER.index(it.get("grade") or "一般1") > GRADE_ORDER.index(a["grade"]):
                a["grade"] = it["grade"]
        if mapping:
            sources.append({"entry_id": v.entry_id, "entry_name": snap["name"], "org_id": snap["org_id"],
                            "version_id": v.id, "number": v.number, "key": keys[0].name, "attributes": mapping,
                            "path": str(snapshot_path(v))})
    for i, a in enumerate(sorted(attrs.values(), key=lambda a: a["name"]), start=1):
        a["column"] = f"a{i}"
    return sources, attrs


def build(session: Session, *, actor: Actor, kind: str, work: Path | None = None) -> LibraryBuild:
    """Materialise a library now; the previous build stays until this one is recorded. One build per
    library at a time (:class:`locks.BuildRunning` otherwise); builds beyond the newest
    ``retention.KEEP_BUILDS`` then expire."""
    require(actor, "library.build")
    if kind not in KINDS:
        raise Invalid(f"未知的基础库：{kind}", f"Unknown library: {kind}", field="kind")
    locks.hold_library(session, kind)
    started = time.perf_counter()
    sources, attrs = _sources(session, kind)
    if not sources:
        raise Invalid(f"还没有可用于{KINDS[kind][0]}的已归集数据", f"No aggregated data feeds the {KINDS[kind][1]} yet")
    work = work or (registry.files_root() / "libraries")
    work.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d%H%M%S") + f"{int(time.time() * 1000) % 1000:03d}"
    out = work / f"{kind}-{stamp}.parquet"
    conflicts_out = work / f"{kind}-{stamp}-conflicts.parquet"
    table = f"lib_{kind}_{stamp}"
    try:
        lib = _materialise(session, actor=actor, kind=kind, sources=sources, attrs=attrs, table=table, out=out,
                           conflicts_out=conflicts_out, started=started)
    except BaseException:  # nothing of a failed build stays behind (the caller rolls the rows back)
        with contextlib.suppress(Exception):
            registry.get_store().drop_table(table)
        out.unlink(missing_ok=True)
        conflicts_out.unlink(missing_ok=True)
        raise
    retention.expire_library(session, actor=actor, kind=kind)
    return lib


def _materialise(session: Session, *, actor: Actor, kind: str, sources: list[dict], attrs: dict[str, dict],
                 table: str, out: Path, conflicts_out: Path, started: float) -> LibraryBuild:
    """The DuckDB query, the store table, the build row and its conflicts."""
    con = duckdb.connect()
    con.execute("SET threads=2")
    # one wide row per subject: every source's columns side by side (a source holds one row per key), so
    # choosing is a coalesce per attribute instead of a GROUP BY over one row per subject and attribute
    keys, joins, ranked = [], [], {}
    for r, s in enumerate(sources):
        key, src = f"CAST(\"{s['key']}\" AS VARCHAR)", f"read_parquet({sql_literal(s['path'])})"
        any_value = " OR ".join(f"{col} IS NOT NULL" for col in s["attributes"].values())
        cols = ", ".join(f"CAST({col} AS VARCHAR) AS c{r}_{attrs[name]['column']}"
                         for name, col in s["attributes"].items())
        keys.append(f"SELECT {key} AS k FROM {src} WHERE {any_value}")  # noqa: S608 - our column names, escaped paths
        joins.append(f"LEFT JOIN (SELECT {key} AS k, {cols} FROM {src}) s{r} USING (k)")  # noqa: S608
        for name in s["attributes"]:
            auth = attrs[name]["source_org_id"] == s["org_id"]
            ranked.setdefault(name, []).append((auth, s["version_id"], f"c{r}_{attrs[name]['column']}", s["entry_id"]))
    con.execute(f"CREATE TEMP TABLE w AS SELECT * FROM ({' UNION '.join(keys)}) u {' '.join(joins)}")  # noqa: S608
    # the winner per subject and attribute: the legal source first, then the newest version
    chosen = {}
    for name, cands in ranked.items():
        cands.sort(key=lambda c: (c[0], c[1]), reverse=True)
        chosen[name] = (f"coalesce({', '.join(c[2] for c in cands)})",
                        "CASE " + " ".join(f"WHEN {c[2]} IS NOT NULL THEN {c[3]}" for c in cands) + " END")
    select_cols = ", ".join(f"{chosen[a['name']][0]} AS {a['column']}, {chosen[a['name']][1]} AS s{a['column'][1:]}"
                            for a in attrs.values())
    con.execute(f"COPY (SELECT k, {select_cols} FROM w ORDER BY k) TO {sql_literal(str(out))} "  # noqa: S608 - our column names, escaped path literals
                "(FORMAT parquet, COMPRESSION zstd)")
    # every non-null value of another source that differs from the winner is a conflict
    con.execute("CREATE TEMP TABLE conf (k VARCHAR, attr VARCHAR, chosen_value VARCHAR, chosen_entry INTEGER, "
                "other_value VARCHAR, other_entry INTEGER)")
    others = [f"SELECT k, {sql_literal(name)}, {chosen[name][0]}, {chosen[name][1]}, {c[2]}, {c[3]} FROM w "  # noqa: S608
              f"WHERE {c[2]} <> {chosen[name][0]}" for name, cands in ranked.items() if len(cands) > 1 for c in cands]
    if others:
        con.execute(f"INSERT INTO conf {' UNION ALL '.join(others)}")
    con.execute(f"COPY (SELECT * FROM conf ORDER BY k, attr LIMIT {MAX_CONFLICTS}) TO {sql_literal(str(conflicts_out))} "  # noqa: S608
                "(FORMAT parquet)")
    n_conflicts = con.execute("SELECT count(*) FROM conf").fetchone()[0]
    con.close()
    columns = [Column("k", "主体标识", "C", 18, key=True)]
    for a in attrs.values():
        columns += [Column(a["column"], a["name"], "C"), Column("s" + a["column"][1:], f"{a['name']}·来源", "I")]
    store = registry.get_store()
    store.write_batches(table, columns, pq.ParquetFile(out).iter_batches(batch_size=50_000), create=True, index=True)
    subjects = pq.ParquetFile(out).metadata.num_rows
    session.execute(update(LibraryBuild).where(LibraryBuild.kind == kind, LibraryBuild.status == "current")
                    .values(status="old"))
    lib = LibraryBuild(kind=kind, table_name=table, subjects=subjects, conflicts=n_conflicts,
                       sources=[{k: v for k, v in s.items() if k != "path"} for s in sources],
                       attributes=list(attrs.values()), seconds=round(time.perf_counter() - started, 3))
    session.add(lib)
    session.flush()
    rows = pq.read_table(conflicts_out).to_pylist()
    for start in range(0, len(rows), 10_000):
        session.execute(insert(LibraryConflict), [
            {"build_id": lib.id, "subject": r["k"], "attribute": r["attr"], "chosen_value": r["chosen_value"] or "",
             "chosen_entry_id": r["chosen_entry"], "other_value": r["other_value"] or "",
             "other_entry_id": r["other_entry"]} for r in rows[start:start + 10_000]])
    conflicts_out.unlink(missing_ok=True)
    audit.record(session, actor=actor, action="library.build", subject_type="library_build", subject_id=lib.id,
                 after={"kind": kind, "subjects": subjects, "conflicts": n_conflicts,
                        "versions": [s["version_id"] for s in sources]})
    return lib

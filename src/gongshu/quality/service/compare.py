"""Cross-source comparison (跨源比对, R-GOV-4, DG 49): the same data element held by several sources is compared
after each load, and mismatches become a data issue at the element's legal source (数源部门).

**Sources.** A source is the serving version of a published entry that holds one row per subject — its only key
item is a citizen ID number or a USCC (as the person and legal-entity libraries take them) — and has an item bound
to the element. Sources keyed by different subject kinds are compared apart.

**After each load** (:data:`gongshu.ingest.service.loads.ON_VERSION`) a job ``quality.compare`` is enqueued; it
compares every element of the loaded entry (:func:`compare_for_version`), routes the libraries' open conflicts on
those elements (:func:`route_library_conflicts`) and runs the sensitive-data recognizers over the version
(:func:`gongshu.quality.service.recognize.scan_version`), each part in its own savepoint.

**The comparison** is one DuckDB pass over the sources' Parquet snapshots (:mod:`.compare_engine`, normalising
before comparing: formatting-only differences are counted apart as 规范性 differences, never as conflicts). Each
element gets a :class:`Comparison`: counts per source pair, the conflicting subjects as Parquet under the files
root, a masked sample. **Legal source**: the entry of the element's source department among the sources (one whose
item claims the source first, then the most rows). When its value differs from another source's for some subjects,
a data issue (channel ``compare``, dedupe key ``compare:<element code>:<legal entry id>``) goes to it with the
evidence; when a later comparison finds none, the issue's re-check passes (``issues.resolve_by_recheck``). Without
a legal source holding data the comparison is ``no_source``: counted and shown, no issue (the authority should
name the element's source). Conflicts only between other sources are shown, not raised.

**Library conflicts** (``library_conflict``) the person and legal-entity builds recorded are routed to the same
issue (marked ``routed``). Open ones whose element's newest comparison raised no issue stay open.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gongshu.audit import service as audit
from gongshu.auth.actions import AUTHORITY_ROLES, declare
from gongshu.auth.service import Actor, can, require
from gongshu.catalog.service import elements as catalog_elements
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import NotFound
from gongshu.ingest.service import loads as ingest_loads
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.ingest.service.files import snapshot_path
from gongshu.jobs.service import enqueue, handler, periodic
from gongshu.kit.identifiers import mask_id_number
from gongshu.library.service import conflicts as library_conflicts
from gongshu.quality.models_compare import Comparison
from gongshu.quality.service import compare_engine, issues, recognize, recognizers
from gongshu.store import registry
from gongshu.store.service import sql_ident, sql_literal

log = logging.getLogger(__name__)

DEPT_ROLES = {"dept_officer", "dept_staff"}
declare("quality.compare.view", "查看本部门参与的跨源比对结果", "See the cross-source comparisons one's department takes "
        "part in", DEPT_ROLES, scope="own_org", writes=False)
declare("quality.compare.view_all", "查看全市跨源比对结果", "See every cross-source comparison",
        AUTHORITY_ROLES | {"auditor"}, writes=False)
declare("quality.compare.run", "发起跨源比对、转办基础库冲突", "Run cross-source comparisons and route library conflicts",
        {"authority_admin"})
declare("quality.compare.download", "下载跨源比对的不一致记录（数源部门，留痕）",
        "Download the mismatching subjects of a comparison (legal source; logged)", {"dept_officer"},
        scope="own_org", writes=False)

#: the platform acting on the authority's standing instruction (jobs after loads, the periodic routing)
GOVERNANCE = Actor(None, "system", "系统（数据治理）", None, "platform", "系统", frozenset({"authority_admin"}))
JOB = "quality.compare"
SAMPLE = 10
KEEP_FILES = 3  # conflict files kept per element and subject kind (older comparisons keep their counts)
MAX_DOWNLOAD = 1_000_000
ROUTE_EVERY = timedelta(minutes=10)


@dataclass
class _Source:
    entry_id: int
    entry_name: str
    org_id: int
    version_id: int
    number: int
    rows: int
    path: Path
    key: str  # the key column (c1…)
    kind: str  # ric / uscc
    items: dict[int, tuple[str, str, bool]] = field(default_factory=dict)  # element id → (column, label, claims)

    @property
    def name(self) -> str:
        return f"e{self.entry_id}"


def _source_of(session: Session, version, element_ids: set[int] | None = None) -> _Source | None:
    """A serving version as a source (one row per subject), with the columns of its bound elements."""
    if version is None or version.status == "expired":
        return None
    cols = ingest_spec.columns_from_json(version.columns)
    keys = [c for c in cols if c.key]
    kind = ingest_spec.check_for(keys[0].label) if len(keys) == 1 else None
    if kind is None:
        return None
    try:
        snap = catalog_entries.published_snapshot(session, entry_id=version.entry_id,
                                                  version=version.catalog_version or None)
    except NotFound:
        return None
    items = {it["name"]: it for it in snap["items"]}
    src = _Source(version.entry_id, snap["name"], snap["org_id"], version.id, version.number, version.rows or 0,
                  snapshot_path(version), keys[0].name, kind)
    for c in cols:
        it = items.get(c.label)
        if c.key or it is None or not it.get("element_id"):
            continue
        if element_ids is None or it["element_id"] in element_ids:
            src.items[it["element_id"]] = (c.name, c.label, bool(it.get("claims_source")))
    return src


def _sources(session: Session, element_ids: set[int]) -> list[_Source]:
    entry_ids = sorted({e.id for el in element_ids for e, _ in catalog_elements.usage(session, element_id=el)})
    out = []
    for entry_id in entry_ids:
        src = _source_of(session, ingest_versions.current_version(session, entry_id=entry_id), element_ids)
        if src is not None and src.items:
            out.append(src)
    return out


def _legal(element, srcs: list[_Source]) -> _Source | None:
    own = [s for s in srcs if element.source_org_id is not None and s.org_id == element.source_org_id]
    return max(own, key=lambda s: (s.items[element.id][2], s.rows, s.version_id)) if own else None


def _mask_key(kind: str, key) -> str:
    return mask_id_number(str(key)) if kind == "ric" else str(key)


def _mask_value(element, value) -> str | None:
    if value is None:
        return None
    return mask_id_number(str(value)) if element.is_identifier else recognizers.mask_text(str(value))


def _file_name(code: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]", "_", code)[:60] + ".parquet"


# Comparing --------------------------------------------------------------------------------------

def compare_elements(session: Session, *, actor: Actor, element_ids: Iterable[int], kind: str | None = None,
                     trigger_version_id: int | None = None, force: bool = False) -> list[Comparison]:
    """Compare each element across its sources now (per subject kind, or only ``kind``); raise or re-check the
    issues at the legal sources. Elements with fewer than two sources are skipped; unless ``force``, so is an
    element whose newest comparison used the same source versions and legal source (many loads in a row, e.g. a
    city's first day, compare each element once): its newest comparison is returned instead."""
    require(actor, "quality.compare.run")
    wanted = set(element_ids)
    if not wanted:
        return []
    elements = {i: catalog_elements.get_element(session, element_id=i) for i in sorted(wanted)}
    srcs = _sources(session, wanted)
    out = []
    for k in ("ric", "uscc"):
        if kind is not None and k != kind:
            continue
        group = [s for s in srcs if s.kind == k]
        held = {e: [s for s in group if e in s.items] for e in elements}
        todo = {e: ss for e, ss in held.items() if len(ss) >= 2}
        if not force:
            for e in list(todo):
                same = _unchanged(session, element=elements[e], kind=k, srcs=todo[e])
                if same is not None:
                    out.append(same)
                    del todo[e]
        if todo:
            out += _compare_group(session, actor=actor, kind=k, elements=elements, held=todo,
                                  trigger_version_id=trigger_version_id)
    return out


def _unchanged(session: Session, *, element, kind: str, srcs: list[_Source]) -> Comparison | None:
    last = session.scalar(select(Comparison).where(Comparison.element_id == element.id,
                                                   Comparison.subject_kind == kind, Comparison.latest.is_(True)))
    if last is None or last.status == "failed" or last.legal_org_id != element.source_org_id:
        return None
    return last if sorted(s["version_id"] for s in last.sources) == sorted(s.version_id for s in srcs) else None


def _compare_group(session: Session, *, actor: Actor, kind: str, elements: dict, held: dict[int, list[_Source]],
                   trigger_version_id: int | None) -> list[Comparison]:
    started = time.perf_counter()
    used = {s.entry_id: s for ss in held.values() for s in ss}
    codes = {e: elements[e].code for e in held}
    legal = {e: _legal(elements[e], ss) for e, ss in held.items()}
    root = registry.files_root()
    out_dir = root / "quality" / "compare" / (time.strftime("%Y%m%d%H%M%S") + f"-{kind}-{time.time_ns() % 10**9}")
    engine_sources = [compare_engine.Source(s.name, s.path, s.key,
                                            {codes[e]: s.items[e][0] for e in held if e in s.items})
                      for s in used.values()]
    try:
        result = compare_engine.compare_frames(
            engine_sources, out_dir, legal={codes[e]: lg.name for e, lg in legal.items() if lg},
            types={codes[e]: elements[e].type for e in held}, files={codes[e]: f"{i}-{_file_name(codes[e])}" for i, e in enumerate(held)},
            sample=SAMPLE)
        error = None
    except Exception as exc:  # a snapshot missing or unreadable: recorded per element
        log.warning("comparison of %s failed: %s", sorted(codes.values()), exc)
        result, error = None, exc
    seconds = round(time.perf_counter() - started, 3)
    with contextlib.suppress(OSError):
        out_dir.rmdir()  # only when no element had conflicts to write
    rows = []
    for e, ss in held.items():
        element, lg = elements[e], legal[e]
        comp = Comparison(element_id=e, element_code=element.code, element_name=element.name, subject_kind=kind,
                          legal_org_id=element.source_org_id, legal_entry_id=lg.entry_id if lg else None,
                          trigger_version_id=trigger_version_id, seconds=seconds, library_routed=0, sample=[],
                          pairs=[], error="", error_en="", latest=True,
                          org_ids=sorted({s.org_id for s in ss} | ({element.source_org_id} - {None})),
                          sources=[{"entry_id": s.entry_id, "entry_name": s.entry_name, "org_id": s.org_id,
                                    "version_id": s.version_id, "number": s.number, "item": s.items[e][1],
                                    "rows": s.rows, "legal": lg is not None and s.entry_id == lg.entry_id}
                                   for s in ss])
        if result is None:
            comp.status = "failed"
            comp.error = f"比对失败：{type(error).__name__}"
            comp.error_en = f"The comparison failed: {type(error).__name__}: {error}"[:500]
        else:
            r = result.elements[element.code]
            comp.status = "done" if lg else "no_source"
            comp.subjects, comp.conflicts = r.subjects, r.conflicts
            comp.legal_conflicts, comp.formatting = r.legal_conflicts, r.formatting
            comp.pairs = [{"a": int(p.a[1:]), "b": int(p.b[1:]), "both": p.both, "conflicts": p.conflicts,
                           "formatting": p.formatting} for p in r.pairs]
            comp.conflicts_path = str(r.path.relative_to(root)) if r.path else None
            comp.sample = [{"k": _mask_key(kind, x["k"]),
                            "values": {n[1:]: _mask_value(element, v) for n, v in x.items() if n != "k"}}
                           for x in r.sample]
        session.execute(update(Comparison).where(Comparison.element_id == e, Comparison.subject_kind == kind,
                                                 Comparison.latest.is_(True)).values(latest=False))
        session.add(comp)
        session.flush()
        audit.record(session, actor=actor, action="quality.compare", subject_type="quality_compare",
                     subject_id=comp.id, after={"element": element.code, "kind": kind, "status": comp.status,
                                                "subjects": comp.subjects, "conflicts": comp.conflicts,
                                                "legal_conflicts": comp.legal_conflicts,
                                                "formatting": comp.formatting,
                                                "versions": [s.version_id for s in ss]})
        if comp.status == "done":
            _route(session, actor=actor, comp=comp, element=element, legal=lg)
        _expire_files(session, actor=actor, element_id=e, kind=kind)
        rows.append(comp)
    return rows


def _route(session: Session, *, actor: Actor, comp: Comparison, element, legal: _Source) -> None:
    """Raise (or refresh) the issue at the legal source, or let its re-check pass."""
    key = f"compare:{element.code}:{legal.entry_id}"
    if comp.legal_conflicts:
        names = {s["entry_id"]: s["entry_name"] for s in comp.sources}
        others = "、".join(s["entry_name"] for s in comp.sources if not s["legal"])
        issue = issues.raise_issue(
            session, actor=actor, entry_id=legal.entry_id, channel="compare", severity="major",
            title=f"跨源比对不一致：{element.name}（{comp.legal_conflicts} 个主体）",
            description=(f"数据元“{element.name}”（{element.code}）由本部门作为数源部门提供。与{others}比对 "
                         f"{comp.subjects} 个主体，其中 {comp.legal_conflicts} 个主体本部门的值与其他来源不一致"
                         f"（另有 {comp.formatting} 个主体仅格式不同，未计入）。请逐条核实：本部门数据有误的予以整改并"
                         "重新归集；确认无误的请说明理由，由数据主管部门协调其他来源（《东莞市公共数据管理办法》第四十九条）。"),
            evidence={"comparison_id": comp.id, "element": element.code, "element_name": element.name,
                      "subject_kind": comp.subject_kind, "subjects": comp.subjects, "conflicts": comp.conflicts,
                      "legal_conflicts": comp.legal_conflicts, "formatting": comp.formatting,
                      "pairs": [{**p, "a_name": names.get(p["a"], ""), "b_name": names.get(p["b"], "")}
                                for p in comp.pairs],
                      "sources": comp.sources, "sample": comp.sample, "file": comp.conflicts_path,
                      "page": f"/workbench/quality/compare/{comp.id}"},
            version_id=legal.version_id, item=legal.items[element.id][1], dedupe_key=key,
            origin_type="quality_compare", origin_id=comp.id)
        comp.issue_id = issue.id
    issues.resolve_by_recheck(session, actor=actor, entry_id=legal.entry_id, version_id=legal.version_id,
                              passed_keys=set() if comp.legal_conflicts else {key},
                              failed_keys={key} if comp.legal_conflicts else set())


def _expire_files(session: Session, *, actor: Actor, element_id: int, kind: str) -> None:
    """Keep the conflict files of the newest :data:`KEEP_FILES` comparisons of an element (counts stay)."""
    old = session.scalars(select(Comparison).where(
        Comparison.element_id == element_id, Comparison.subject_kind == kind, Comparison.conflicts_path.is_not(None))
        .order_by(Comparison.id.desc()).offset(KEEP_FILES)).all()
    root = registry.files_root()
    for c in old:
        path = root / c.conflicts_path
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty
        c.conflicts_path = None
    if old:
        audit.record(session, actor=actor, action="quality.compare.expire", subject_type="data_element",
                     subject_id=element_id, detail={"kind": kind, "comparisons": [c.id for c in old]})


def compare_for_version(session: Session, *, actor: Actor, entry_id: int, version_id: int) -> list[Comparison]:
    """Compare every element of a newly loaded version with the other sources of the same subject kind."""
    require(actor, "quality.compare.run")
    version = next((v for v in ingest_versions.versions_of(session, entry_id=entry_id) if v.id == version_id), None)
    src = _source_of(session, version)
    if src is None or not src.items:
        return []
    return compare_elements(session, actor=actor, element_ids=src.items, kind=src.kind,
                            trigger_version_id=version_id)


def compare_element(session: Session, *, actor: Actor, element_id: int) -> list[Comparison]:
    """Compare one element now (the authority's button)."""
    require(actor, "quality.compare.run")
    catalog_elements.get_element(session, element_id=element_id)
    return compare_elements(session, actor=actor, element_ids=[element_id], force=True)


def route_library_conflicts(session: Session, *, actor: Actor, attributes: set[str] | None = None) -> int:
    """Route the current library builds' open conflicts to the issue of their element's newest comparison
    (comparing first when there is none since the build). Returns the number routed."""
    require(actor, "quality.compare.run")
    routed = 0
    for g in library_conflicts.open_groups(session):
        if attributes is not None and g.attribute not in attributes:
            continue
        element = next((e for e in catalog_elements.list_elements(session, actor=actor, q=g.attribute)
                        if e.name == g.attribute), None)
        kind = library_conflicts.SUBJECT_CHECK.get(g.kind)
        if element is None or kind is None:
            continue
        comp = session.scalar(select(Comparison).where(Comparison.element_id == element.id,
                                                       Comparison.subject_kind == kind, Comparison.latest.is_(True)))
        if comp is None or comp.created_at < g.built_at:
            comp = next(iter(compare_elements(session, actor=actor, element_ids=[element.id], kind=kind)), None)
        if comp is None or comp.issue_id is None:
            continue
        n = library_conflicts.mark_routed(session, actor=actor, build_id=g.build_id, attribute=g.attribute,
                                          issue_id=comp.issue_id)
        comp.library_routed = (comp.library_routed or 0) + n
        routed += n
    return routed


# After each load --------------------------------------------------------------------------------

def _on_version(session: Session, version) -> None:
    enqueue(session, JOB, entry_id=version.entry_id, version_id=version.id)


ingest_loads.ON_VERSION.append(_on_version)


@handler(JOB)
def _job(session: Session, *, entry_id: int, version_id: int) -> None:
    after_load(session, entry_id=entry_id, version_id=version_id)


def after_load(session: Session, *, entry_id: int, version_id: int, actor: Actor = GOVERNANCE) -> dict:
    """What the job does after a load: compare, route library conflicts, scan — each in its own savepoint, so a
    failing part leaves the others' results (it is logged)."""
    out: dict = {"compared": 0, "routed": 0, "scan": None}
    try:
        with session.begin_nested():
            comps = compare_for_version(session, actor=actor, entry_id=entry_id, version_id=version_id)
            out["compared"] = len(comps)
            if comps:
                out["routed"] = route_library_conflicts(session, actor=actor,
                                                        attributes={c.element_name for c in comps})
    except Exception:
        log.exception("comparison after version %s failed", version_id)
    try:
        with session.begin_nested():
            out["scan"] = recognize.scan_version(session, actor=actor, entry_id=entry_id, version_id=version_id).id
    except Exception:
        log.exception("scan of version %s failed", version_id)
    return out


@periodic("quality.route_library_conflicts", every=ROUTE_EVERY)
def _route_periodic(session: Session) -> None:
    route_library_conflicts(session, actor=GOVERNANCE)


# Reading ----------------------------------------------------------------------------------------

def _may_see(actor: Actor, comp: Comparison) -> bool:
    return can(actor, "quality.compare.view_all") or any(
        can(actor, "quality.compare.view", org_id=o) for o in comp.org_ids or [])


def _require_view(actor: Actor) -> None:
    if not can(actor, "quality.compare.view_all"):
        require(actor, "quality.compare.view")


def latest(session: Session, *, actor: Actor, entry_id: int | None = None, element_id: int | None = None,
           conflicts_only: bool = False) -> list[Comparison]:
    """Each element's newest comparison the actor may see (the authority: all; a department: those it is a source
    or the legal source of), optionally of one entry or element, most conflicts first."""
    _require_view(actor)
    stmt = select(Comparison).where(Comparison.latest.is_(True))
    if element_id:
        stmt = stmt.where(Comparison.element_id == element_id)
    if conflicts_only:
        stmt = stmt.where(Comparison.conflicts > 0)
    rows = [c for c in session.scalars(stmt.order_by(Comparison.legal_conflicts.desc(), Comparison.conflicts.desc(),
                                                     Comparison.element_code)) if _may_see(actor, c)]
    if entry_id:
        rows = [c for c in rows if any(s["entry_id"] == entry_id for s in c.sources)]
    return rows


def get(session: Session, *, actor: Actor, comparison_id: int) -> Comparison:
    _require_view(actor)
    comp = session.get(Comparison, comparison_id) if 0 < comparison_id < 2**31 else None
    if comp is None or not _may_see(actor, comp):
        raise NotFound(f"没有编号为 {comparison_id} 的比对结果", f"No comparison {comparison_id}",
                       field="comparison_id")
    return comp


def history(session: Session, *, actor: Actor, element_id: int, kind: str, limit: int = 20) -> list[Comparison]:
    _require_view(actor)
    return [c for c in session.scalars(select(Comparison).where(
        Comparison.element_id == element_id, Comparison.subject_kind == kind).order_by(Comparison.id.desc())
        .limit(limit)) if _may_see(actor, c)]


def may_download(actor: Actor, comp: Comparison) -> bool:
    return comp.conflicts_path is not None and comp.legal_org_id is not None and \
        can(actor, "quality.compare.download", org_id=comp.legal_org_id)


def conflicts_csv(session: Session, *, actor: Actor, comparison_id: int) -> tuple[str, bytes]:
    """The conflicting subjects of a comparison as CSV (UTF-8 with BOM) for its legal source, logged as a read."""
    comp = get(session, actor=actor, comparison_id=comparison_id)
    if comp.legal_org_id is None:
        raise NotFound("该比对没有数源部门，无可下载的记录", "This comparison has no legal source to download for")
    require(actor, "quality.compare.download", org_id=comp.legal_org_id)
    path = registry.files_root() / comp.conflicts_path if comp.conflicts_path else None
    if path is None or not path.exists():
        raise NotFound("不一致记录文件不存在（无不一致或已超过保留期）",
                       "No file of mismatching subjects (none, or past retention)")
    cols = [f"k AS {sql_ident('主体标识')}"] + [
        f"{sql_ident('e' + str(s['entry_id']))} AS "
        f"{sql_ident(s['entry_name'] + '·' + s['item'] + ('（数源）' if s['legal'] else '') + '#' + str(s['entry_id']))}"
        for s in comp.sources]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.csv"
        con = duckdb.connect()
        try:
            con.execute(f"COPY (SELECT {', '.join(cols)} FROM read_parquet({sql_literal(str(path))}) "  # noqa: S608
                        f"ORDER BY 1 LIMIT {MAX_DOWNLOAD}) TO {sql_literal(str(out))} (FORMAT csv, HEADER)")
        finally:
            con.close()
        data = b"\xef\xbb\xbf" + out.read_bytes()
    audit.record(session, actor=actor, action="quality.compare.download", subject_type="quality_compare",
                 subject_id=comp.id, detail={"element": comp.element_code, "rows": comp.conflicts})
    return f"compare-{comp.id}-{_file_name(comp.element_code)[:-8]}.csv", data

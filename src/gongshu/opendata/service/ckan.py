"""The open datasets in the shapes of the CKAN Action API (R-OPN-8: machine-readable, for CKAN clients and
harvesters): packages, resources and organizations.

**Mapping.** A *package* is an open dataset (:mod:`.datasets`; one that is not open does not exist here). Its
``name`` and ``id`` are both :func:`datasets.slug` of its code (stable, lowercase digits and ``-``);
``package_show`` also takes the code or the entry's number. Its metadata is the published catalogue snapshot:
``title`` (名称), ``notes`` (摘要), ``tags`` (资源分类), ``extras`` (更新周期, 开放属性, 开放条件, 发布日期, 数据版本,
目录版本, 引用说明), the licence of :func:`datasets.licence` (CC BY 4.0 for 无条件开放: anyone may use the data,
citing the source — the ``attribution`` extra says how), ``metadata_created`` (when the dataset was opened:
the approval of its opening review) and ``metadata_modified`` (the latest of that, the catalogue
publication and the current data version). Its *resources* are the downloads of the current data version,
one per format (CSV, XLSX, JSON, Parquet), id ``<slug>.<format>``; ``datastore_active`` where the rows are
served to anyone (无条件开放, :mod:`.datastore`). An *organization* is a department with at least one open
dataset, named by its USCC in lower case.

``package_search`` is in :mod:`.ckan_search`, ``datastore_search`` in :mod:`.datastore`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from gongshu.auth import service as auth_service
from gongshu.catalog.service import entries as catalog_entries
from gongshu.config import get_settings
from gongshu.errors import Invalid, NotFound
from gongshu.opendata.service import datasets

CKAN_VERSION = "2.10.0"
MAX_ROWS = 1000
#: the downloads of a data version: (extension, CKAN format, media type)
FORMATS = (("csv", "CSV", "text/csv"),
           ("xlsx", "XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           ("json", "JSON", "application/json"),
           ("parquet", "Parquet", "application/vnd.apache.parquet"))
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://gongshu/ckan")


def _iso(value: datetime | None) -> str | None:
    """CKAN's timestamps: ISO 8601 in UTC without an offset."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def latest(*values: datetime | None) -> datetime | None:
    found = [aware(v) for v in values if v is not None]
    return max(found) if found else None


def invalid(field_name: str, zh: str, en: str) -> Invalid:
    return Invalid(zh, en, field=field_name)


def sort_terms(sort: str, allowed: Sequence[str] | dict) -> list[tuple[str, bool]]:
    """``"a asc, b desc"`` as [(field, descending)], fields in ``allowed``."""
    out = []
    for part in (sort or "").split(","):
        bits = part.split()
        if not bits:
            continue
        key, way = bits[0], (bits[1].lower() if len(bits) > 1 else "asc")
        if key not in allowed or way not in ("asc", "desc") or len(bits) > 2:
            raise invalid("sort", f"不支持的排序：{part.strip()}（可用：{'、'.join(allowed)}，asc 或 desc）",
                           f"Unsupported sort {part.strip()!r} (fields: {', '.join(allowed)}; asc or desc)")
        out.append((key, way == "desc"))
    return out


# Organizations --------------------------------------------------------------------------------------------

def org_name(org: Any) -> str:
    """An organization's CKAN name: its USCC in lower case (stable, URL-safe)."""
    return org.uscc.lower()


def _open_entries(session: Session) -> dict[int, Any]:
    ids = datasets.opened_ids(session)
    return catalog_entries.load_many(session, entry_ids=sorted(ids)) if ids else {}


def _orgs_with_counts(session: Session) -> list[tuple[Any, int]]:
    counts = Counter(e.org_id for e in _open_entries(session).values())
    orgs = {o.id: o for o in auth_service.orgs(session)}
    return [(orgs[i], n) for i, n in counts.items() if i in orgs]


def org_dict(org: Any, *, package_count: int | None = None) -> dict[str, Any]:
    name = org_name(org)
    out: dict[str, Any] = {
        "id": name, "name": name, "title": org.name, "display_name": org.name,
        "description": f"{org.name}（{org.short_name}）开放的公共数据。统一社会信用代码：{org.uscc}",
        "image_url": "", "image_display_url": "", "created": _iso(org.created_at), "is_organization": True,
        "approval_status": "approved", "state": "active", "type": "organization"}
    if package_count is not None:
        out["package_count"] = package_count
    return out


def org_of(session: Session, ref: str) -> tuple[Any, int]:
    """The organization ``ref`` (name, USCC or number) with its count of open datasets; NotFound otherwise."""
    text = str(ref or "").strip()
    for org, n in _orgs_with_counts(session):
        if text.lower() == org_name(org) or (text.isdigit() and len(text) < 12 and int(text) == org.id):
            return org, n
    raise NotFound(f"没有该组织（开放数据的提供部门）：{text}", f"No such organization (a department with open data): {text}",
                   field="id")


def organization_list(session: Session, *, all_fields: bool = False, sort: str = "name asc",
                      limit: int | None = None, offset: int = 0, names: Sequence[str] = ()) -> list[Any]:
    """The departments with open datasets: their names, or (``all_fields``) their dicts with package counts;
    ``sort`` by ``name``, ``title`` or ``package_count`` (``packages``), ``asc`` or ``desc``."""
    keys: dict[str, Callable[[tuple[Any, int]], Any]] = {
        "name": lambda p: org_name(p[0]), "title": lambda p: p[0].name, "package_count": lambda p: p[1],
        "packages": lambda p: p[1]}
    order = sort_terms(sort or "name asc", keys)
    found = [p for p in _orgs_with_counts(session) if not names or org_name(p[0]) in {n.lower() for n in names}]
    found.sort(key=lambda p: org_name(p[0]))
    for key, desc in reversed(order):
        found.sort(key=keys[key], reverse=desc)
    found = found[offset:] if limit is None else found[offset:offset + limit]
    return [org_dict(o, package_count=n) for o, n in found] if all_fields else [org_name(o) for o, _n in found]


def organization_show(session: Session, *, ref: str, include_datasets: bool = False, base_url: str) -> dict:
    """One department with open data; with ``include_datasets`` its open datasets (at most 1000, by name)."""
    org, n = org_of(session, ref)
    out = org_dict(org, package_count=n)
    out.update(users=[], extras=[], groups=[], tags=[])
    if include_datasets:
        mine = sorted((e for e in _open_entries(session).values() if e.org_id == org.id), key=lambda e: e.code)
        out["packages"] = [package_dict(session, datasets.get(session, ref=e.id), base_url=base_url, org=org)
                           for e in mine[:MAX_ROWS]]
    return out


# Packages and resources -----------------------------------------------------------------------------------

def _tag(name: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid5(_NS, "tag:" + name)), "name": name, "display_name": name, "state": "active",
            "vocabulary_id": None}


def resources(ds: datasets.Dataset, *, base_url: str) -> list[dict[str, Any]]:
    """The downloads of the dataset's current data version, one per format (none before the first load)."""
    v = ds.version
    if v is None:
        return []
    slug = datasets.slug(ds.snapshot["code"])
    at = _iso(v.created_at)
    note = ("有条件开放：数据须申请并经数源部门同意后获取。Conditional: apply for the data."
            if ds.conditional else f"第 {v.number} 版数据，共 {v.rows} 行（个人信息已脱敏）。"
                                   f"Data version {v.number}, {v.rows} rows (personal data masked).")
    return [{"id": f"{slug}.{ext}", "package_id": slug, "name": f"{ds.snapshot['name']}（{fmt}）",
             "description": note, "format": fmt, "mimetype": mime, "url": f"{base_url}/open/datasets/{slug}/download.{ext}",
             "url_type": None, "size": None, "hash": "", "created": at, "last_modified": at, "metadata_modified": at,
             "position": i, "state": "active", "resource_type": None, "datastore_active": not ds.conditional,
             "version": v.number, "rows": v.rows}
            for i, (ext, fmt, mime) in enumerate(FORMATS)]


def package_dict(session: Session, ds: datasets.Dataset, *, base_url: str, org: Any = None) -> dict[str, Any]:
    """One open dataset as a CKAN package (see the module's docstring)."""
    snap = ds.snapshot
    slug = datasets.slug(snap["code"])
    org = org if org is not None else auth_service.get_org(session, ds.entry.org_id)
    lic = datasets.licence(ds)
    res = resources(ds, base_url=base_url)
    tags = [_tag(t) for t in [snap.get("topic")] if t]
    v = ds.version
    extras = {"catalog_code": snap["code"], "catalog_version": str(ds.entry.version or ""),
              "update_cycle": snap.get("update_cycle") or "", "open_type": snap.get("open_type") or "",
              "open_condition": snap.get("open_condition") or "", "release_date": snap.get("release_date") or "",
              "resource_attr": snap.get("resource_attr") or "", "version": str(v.number) if v is not None else "",
              "rows": str(v.rows) if v is not None else "", "attribution": datasets.attribution(ds)}
    return {
        "id": slug, "name": slug, "title": snap["name"], "notes": snap.get("summary") or "", "type": "dataset",
        "state": "active", "private": False, "isopen": not ds.conditional,
        "url": f"{base_url}/open/datasets/{slug}", "version": str(v.number) if v is not None else None,
        "author": snap.get("org_name") or org.name, "author_email": None,
        "maintainer": snap.get("org_name") or org.name, "maintainer_email": None,
        "license_id": lic["id"], "license_title": lic["title"], "license_url": lic["url"] or None,
        "metadata_created": _iso(ds.review.decided_at),
        "metadata_modified": _iso(latest(ds.review.decided_at, ds.entry.published_at,
                                          v.created_at if v is not None else None)),
        "organization": org_dict(org), "owner_org": org_name(org), "creator_user_id": None,
        "tags": tags, "num_tags": len(tags), "groups": [], "relationships_as_object": [],
        "relationships_as_subject": [], "resources": res, "num_resources": len(res),
        "extras": [{"key": k, "value": val} for k, val in extras.items()]}


def package_list(session: Session, *, limit: int | None = None, offset: int = 0) -> list[str]:
    """The names of every open dataset, in order."""
    names = sorted(datasets.slug(e.code) for e in _open_entries(session).values())
    return names[offset:] if limit is None else names[offset:offset + limit]


def package_show(session: Session, *, ref: str, base_url: str) -> dict[str, Any]:
    return package_dict(session, datasets.get(session, ref=ref), base_url=base_url)


def resource_of(session: Session, *, ref: str) -> tuple[datasets.Dataset, str]:
    """The dataset and format of a resource id ``<slug>.<format>``; NotFound when there is none."""
    text = str(ref or "").strip()
    slug, _dot, ext = text.rpartition(".")
    missing = NotFound(f"没有该资源：{text}", f"No such resource: {text}", field="id")
    if not slug or ext.lower() not in {e for e, _f, _m in FORMATS}:
        raise missing
    try:
        ds = datasets.get(session, ref=slug)
    except NotFound:
        raise missing from None
    if ds.version is None:
        raise missing
    return ds, ext.lower()


def resource_show(session: Session, *, ref: str, base_url: str) -> dict[str, Any]:
    ds, ext = resource_of(session, ref=ref)
    return next(r for r in resources(ds, base_url=base_url) if r["id"].endswith("." + ext))


def status_show(*, base_url: str) -> dict[str, Any]:
    return {"ckan_version": CKAN_VERSION, "site_title": get_settings().portal_name, "site_description": "",
            "site_url": base_url, "error_emails_to": None, "locale_default": "zh_Hans_CN",
            "extensions": ["datastore"]}

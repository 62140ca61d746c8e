"""Which catalogue entries are open data, and what the public receives of them (R-OPN-1/2/6/8).

An entry is **open** (a dataset of the portal) while it is published (or being revised: its published version
stays in force), its open attribute is 无条件开放 or 有条件开放, and its latest opening review
(:mod:`.reviews`, R-OPN-6) is approved. 不予开放 never appears, whatever the review says.

**What the public receives** of an open entry (:func:`public_items`): the data items whose own open attribute
(or the entry's, when the item has none) is not 不予开放 and whose grade is not 重要 or 核心 (important and
core data are not opened); items that are personal information, or of grade 一般3/一般4, are **masked** —
with the one masking of the platform (:func:`gongshu.sharing.service.grants.mask_value` for single values,
:func:`gongshu.sharing.service.projection.mask_sql` over snapshots): ID numbers ``4401**********123X``,
names ``张*``, mobiles ``138****5678``, other text its first character. The same rule serves the preview,
downloads and the APIs. For 有条件开放 entries the metadata and conditions are public; the data goes to
approved applicants only (:func:`require_unconditional` refuses the anonymous data paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gongshu.catalog.service import entries as catalog_entries
from gongshu.config import get_settings
from gongshu.errors import Forbidden, NotFound
from gongshu.ingest.service import spec as ingest_spec
from gongshu.ingest.service import versions as ingest_versions
from gongshu.opendata.models import OpeningReview
from gongshu.sharing.service import grants

#: the open attributes under which an entry may be opened
OPEN_TYPES = ("无条件开放", "有条件开放")
#: grades never opened (GB/T 43697: important and core data)
CLOSED_GRADES = frozenset({"重要", "核心"})
#: grades opened only masked
MASKED_GRADES = frozenset({"一般3", "一般4"})
PUBLISHED = ("published", "revising")


def opened_ids_select() -> Select:
    """SELECT of the ids of the open entries (see the module's docstring)."""
    latest = select(func.max(OpeningReview.id)).group_by(OpeningReview.entry_id)
    return (select(OpeningReview.entry_id)
            .where(OpeningReview.id.in_(latest), OpeningReview.status == "approved",
                   OpeningReview.entry_id.in_(catalog_entries.ids_where(statuses=PUBLISHED, open_types=OPEN_TYPES))))


def opened_ids(session: Session) -> set[int]:
    return set(session.scalars(opened_ids_select()))


def is_open(session: Session, *, entry_id: int) -> bool:
    return session.scalar(opened_ids_select().where(OpeningReview.entry_id == entry_id)) is not None


@dataclass(frozen=True)
class Dataset:
    """An open entry as the public sees it: the published catalogue snapshot, the approved opening review,
    the public items (``{"name", "type", "length", "meaning", "masked"}``) and the current data version."""

    entry: Any  # the catalogue entry (its working row; the published fields are in ``snapshot``)
    snapshot: dict
    review: OpeningReview
    items: list[dict]
    version: Any  # ingest DataVersion, or None before the first load

    @property
    def conditional(self) -> bool:
        return self.entry.open_type == "有条件开放"


def public_items(snapshot: dict) -> list[dict]:
    """The items the public receives of a published snapshot, in order, each saying whether it is masked."""
    out = []
    for it in sorted(snapshot["items"], key=lambda i: i["seq"]):
        if (it.get("open_type") or snapshot["open_type"]) == "不予开放" or it.get("grade") in CLOSED_GRADES:
            continue
        out.append({"name": it["name"], "type": it["type"], "length": it.get("length"),
                    "meaning": it.get("meaning") or "", "is_identifier": bool(it.get("is_identifier")),
                    "masked": bool(it.get("is_personal")) or it.get("grade") in MASKED_GRADES})
    return out


_MISSING = ("没有该开放数据集（可能尚未开放或已停止开放）", "No such open dataset (it may not be open yet, or no longer)")


def slug(code: str) -> str:
    """A dataset's name in URLs and in the CKAN API: its catalogue code with ``/`` as ``-``
    (``101001/00001`` → ``101001-00001``; codes are digits and one slash)."""
    return code.replace("/", "-")


def entry_of(session: Session, *, ref: str | int) -> Any:
    """The open entry by id, code or :func:`slug` (the same 404 for one that does not exist and one that is
    not open)."""
    text = str(ref).strip()
    if "/" not in text and "-" in text:
        text = text.replace("-", "/")
    entry = None
    if text.isdigit():
        if int(text) < 2**31 and is_open(session, entry_id=int(text)):
            entry = catalog_entries.fetch(session, entry_id=int(text))
    else:
        found = catalog_entries.find_by_code(session, code=text) if text else None
        entry = found if found is not None and is_open(session, entry_id=found.id) else None
    if entry is None:
        raise NotFound(*_MISSING, field="dataset")
    return entry


def latest_review(session: Session, *, entry_id: int) -> OpeningReview | None:
    return session.scalar(select(OpeningReview).where(OpeningReview.entry_id == entry_id)
                          .order_by(OpeningReview.id.desc()).limit(1))


def get(session: Session, *, ref: str | int) -> Dataset:
    """The open dataset ``ref`` (id, code or slug); :class:`NotFound` when it is not open."""
    entry = entry_of(session, ref=ref)
    snap = catalog_entries.published_snapshot(session, entry_id=entry.id)
    review = latest_review(session, entry_id=entry.id)
    assert review is not None and review.status == "approved"
    return Dataset(entry=entry, snapshot=snap, review=review, items=public_items(snap),
                   version=ingest_versions.current_version(session, entry_id=entry.id))


def versions(session: Session, *, dataset: Dataset) -> list[Any]:
    """The data versions the public may download: the serving one and earlier ones whose data is kept."""
    return [v for v in ingest_versions.versions_of(session, entry_id=dataset.entry.id) if v.status != "expired"]


def version(session: Session, *, dataset: Dataset, number: int | None = None) -> Any:
    """The current data version, or the listed version ``number``; :class:`NotFound` otherwise."""
    if number is None:
        if dataset.version is None:
            raise NotFound("该数据集尚未挂接数据", "The dataset has no data yet", field="version")
        return dataset.version
    found = next((v for v in versions(session, dataset=dataset) if v.number == number), None)
    if found is None:
        raise NotFound(f"该数据集没有第 {number} 版数据（或已超过保留期）",
                       f"The dataset has no data version {number} (or it is past retention)", field="version")
    return found


def require_unconditional(dataset: Dataset) -> None:
    """Anonymous data paths (preview, download, row API) serve 无条件开放 data only."""
    if dataset.conditional:
        raise Forbidden("该数据集为有条件开放，数据须申请并经数源部门同意后获取",
                        "This dataset is open on conditions: apply, and get the data once the source department "
                        "approves", details=[{"reason": "conditional"}])


def served(session: Session, *, dataset: Dataset, number: int | None = None) -> grants.Served:
    """What the public receives of a data version, in the shape the sharing projection takes: the version, all
    its store columns, the public ones (``granted``), which of them are masked, the key columns and the items."""
    v = version(session, dataset=dataset, number=number)
    columns = ingest_spec.columns_from_json(v.columns)
    public = {i["name"]: i for i in dataset.items}
    return grants.Served(version=v, columns=columns, granted=[c for c in columns if c.label in public],
                         masked=frozenset(n for n, i in public.items() if i["masked"]),
                         keys=[c for c in columns if c.key],
                         items={it["name"]: it for it in dataset.snapshot["items"]})


def mask(dataset: Dataset, row: dict[str, Any]) -> dict[str, Any]:
    """One row by item label as the public receives it (public items only, masked where the rule says)."""
    items = {it["name"]: it for it in dataset.snapshot["items"]}
    return {i["name"]: grants.mask_value(i["name"], row.get(i["name"]), items.get(i["name"])) if i["masked"]
            else row.get(i["name"]) for i in dataset.items}


#: the licence of 无条件开放 data: anyone may use it, citing the source (R-OPN-8); 有条件开放 data is used under
#: the data use agreement its applicant accepted
OPEN_LICENCE = {"id": "CC-BY-4.0", "title": "知识共享署名 4.0 国际许可协议（CC BY 4.0）",
                "title_en": "Creative Commons Attribution 4.0 International",
                "url": "https://creativecommons.org/licenses/by/4.0/"}
AGREEMENT_LICENCE = {"id": "gongshu-data-use-agreement", "title": "数据使用协议（有条件开放，经申请同意后使用）",
                     "title_en": "Data use agreement (conditional opening, by approved application)", "url": ""}


def licence(dataset: Dataset) -> dict[str, str]:
    return AGREEMENT_LICENCE if dataset.conditional else OPEN_LICENCE


def attribution(dataset: Dataset) -> str:
    """The text users of the data cite (R-OPN-8)."""
    return f"数据来源：{dataset.snapshot['org_name']}，《{dataset.snapshot['name']}》，{get_settings().portal_name}"

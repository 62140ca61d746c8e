"""An open dataset as a Frictionless Data Package (Data Package v1 with a Table Schema, R-OPN-8), so tools such as
``frictionless validate`` read and check the CSV download as typed data.

The package is named by the dataset's slug; its one resource is the CSV download of the current data version
(UTF-8 with a byte order mark: declared ``utf-8``, the IANA name; readers drop the mark), and its schema has one
field per public column of the data version (the CSV's columns, in order), named by the item's label (the
CSV's header), typed from the catalogue's data type (:data:`TYPES`) and described by the item's meaning. A **masked** item is a string whatever its catalogue type
(``4419**********002X``, ``张*``: masked text, not a date or a number). The primary key is declared only when
every key item is public and unmasked: masked keys are no longer unique. Licence and sources say how to
attribute the data (R-OPN-8). 有条件开放 datasets have no package: their data goes to approved applicants only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gongshu.config import get_settings
from gongshu.opendata.service import datasets
from gongshu.sharing.service import grants

#: catalogue data type (``catalog.models.ITEM_TYPES``) → Table Schema type (and format)
TYPES: dict[str, tuple[str, str]] = {
    "C": ("string", "default"), "M": ("string", "default"), "G": ("string", "binary"),  # G: base64 in the CSV
    "N": ("number", "default"), "Y": ("number", "default"), "B": ("number", "default"), "F": ("number", "default"),
    "I": ("integer", "default"), "D": ("date", "default"), "T": ("datetime", "default"), "L": ("boolean", "default"),
}
PROFILE = "tabular-data-package"


def field(label: str, type_: str, *, masked: bool, meaning: str = "") -> dict[str, Any]:
    """The Table Schema field of a public column (its label, data type letter, whether it is masked)."""
    kind, fmt = ("string", "default") if masked else TYPES.get(type_, ("string", "default"))
    out: dict[str, Any] = {"name": label, "type": kind}
    if fmt != "default":
        out["format"] = fmt
    description = "；".join(p for p in ((meaning or "").strip(), "已脱敏发布" if masked else "") if p)
    if description:
        out["description"] = description
    return out


def schema(dataset: datasets.Dataset, served: grants.Served) -> dict[str, Any]:
    """The Table Schema of the columns the public receives of a data version, in the CSV's order (the data
    version's columns, public ones only); the primary key when every key column is public and unmasked."""
    meanings = {i["name"]: i["meaning"] for i in dataset.items}
    out: dict[str, Any] = {
        "fields": [field(c.label, c.type, masked=c.label in served.masked, meaning=meanings.get(c.label, ""))
                   for c in served.granted],
        "missingValues": [""]}
    public = {c.label for c in served.granted}
    if served.keys and all(k.label in public and k.label not in served.masked for k in served.keys):
        out["primaryKey"] = [k.label for k in served.keys]
    return out


def descriptor(session: Session, *, dataset: datasets.Dataset, base: str) -> dict[str, Any]:
    """The ``datapackage.json`` of an unconditionally open dataset with data (``base``: the portal's absolute
    base URL, without a trailing slash). :class:`Forbidden` for 有条件开放, :class:`NotFound` before the first
    load."""
    datasets.require_unconditional(dataset)
    served = datasets.served(session, dataset=dataset)
    version = served.version
    snap = dataset.snapshot
    slug = datasets.slug(dataset.entry.code)
    landing = f"{base}/open/datasets/{slug}"
    org = f"{base}/open/orgs/{dataset.entry.org_id}"
    terms = datasets.licence(dataset)
    attribution = datasets.attribution(dataset)
    summary = (snap.get("summary") or "").strip()
    return {
        "profile": PROFILE,
        "name": slug,
        "id": landing,
        "title": snap["name"],
        "description": "\n\n".join(p for p in (summary, f"引用时请注明：{attribution}") if p),
        "homepage": landing,
        "created": version.created_at.isoformat(),
        "keywords": list(dict.fromkeys(w for w in (snap.get("topic"), snap.get("business")) if w)),
        "licenses": [{"name": terms["id"], "path": terms["url"], "title": terms["title"]}],
        "sources": [{"title": f"{snap['org_name']}（{get_settings().portal_name}）", "path": landing}],
        "contributors": [{"title": snap["org_name"], "role": "publisher", "path": org}],
        "resources": [{
            "profile": "tabular-data-resource",
            "name": slug,
            "title": f"{snap['name']}（第 {version.number} 版，{version.rows} 条记录）",
            "path": f"{landing}/download.csv",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "dialect": {"delimiter": ",", "doubleQuote": True, "header": True},
            "schema": schema(dataset, served),
        }],
    }

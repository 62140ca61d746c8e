"""From a published catalogue entry to what a load of it must look like: the store's typed columns
and the validation rules of each data item (R-AGG-3)."""

from __future__ import annotations

from gongshu.ingest.service.codes import code_table_for
from gongshu.ingest.service.validate import ItemRule, LoadSpec
from gongshu.store.service import Column

#: item names that hold a citizen ID number (GB 11643) or a unified social credit code (GB 32100)
RIC_NAMES = ("公民身份号码", "身份证号码", "身份证号", "居民身份证号码")
USCC_NAMES = ("统一社会信用代码",)


def check_for(name: str) -> str | None:
    if any(n in name for n in RIC_NAMES):
        return "ric"
    if any(n in name for n in USCC_NAMES):
        return "uscc"
    return None


def columns_of(snapshot: dict) -> list[Column]:
    """One store column per data item, named c1…cn in catalogue order."""
    return [Column(name=f"c{i}", label=it["name"], type=it["type"], length=it.get("length"),
                   key=bool(it.get("is_key")))
            for i, it in enumerate(sorted(snapshot["items"], key=lambda it: it["seq"]), start=1)]


def columns_json(columns: list[Column]) -> list[dict]:
    return [{"name": c.name, "label": c.label, "type": c.type, "length": c.length, "key": c.key} for c in columns]


def columns_from_json(data: list[dict]) -> list[Column]:
    return [Column(name=d["name"], label=d["label"], type=d["type"], length=d.get("length"), key=d.get("key", False))
            for d in data]


def load_spec(snapshot: dict, *, filename: str) -> LoadSpec:
    items = sorted(snapshot["items"], key=lambda it: it["seq"])
    rules = []
    for col, it in zip(columns_of(snapshot), items, strict=True):
        rules.append(ItemRule(column=col.name, label=col.label, type=col.type, length=col.length,
                              required=col.key, key=col.key, check=check_for(col.label),
                              code_table=code_table_for(col.label, it.get("meaning") or "") if col.type == "C"
                              else None))
    return LoadSpec(items=tuple(rules), filename=filename)

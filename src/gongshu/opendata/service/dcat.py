"""The open datasets in DCAT-AP (R-OPN-8: machine-readable, complete, timely, attributed), for harvesters.

A **catalogue page** (:func:`catalog_page`) holds the open datasets (:func:`datasets.opened_ids_select`) in code
order, optionally only those modified since a moment (:func:`parse_modified_since`), a page at a time; it is
assembled in bulk (a few queries, whatever the size of the catalogue): the entries, their latest reviews, the
serving data versions, and the published snapshots of the page's entries. A dataset is **modified** when its
catalogue entry was last published, its current data version was loaded or it was (re)opened, whichever is
latest — so an incremental harvest (``modified_since``) also finds datasets opened since.

:func:`catalog_graph` and :func:`dataset_graph` describe them as RDF (rdflib), with absolute IRIs under the
request's base URL: the dataset is its landing page ``<base>/open/datasets/<slug>``; its publisher the
department's page; its theme the portal's search for the topic; one distribution per download format
(``download.csv|xlsx|json|parquet``) and one for the Frictionless Data Package. 有条件开放 datasets are listed
with restricted access and the conditions, and no download (their data goes to approved applicants only).
Paging follows ckanext-dcat: a ``hydra:PagedCollection`` with first, previous, next and last page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote, urlencode

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, SKOS, XSD
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.catalog.service import entries as catalog_entries
from gongshu.config import get_settings
from gongshu.errors import Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.kit.pagination import Page
from gongshu.opendata.models import OpeningReview
from gongshu.opendata.service import datasets, formats
from gongshu.tasks.service import CHINA

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
FREQUENCY = Namespace("http://publications.europa.eu/resource/authority/frequency/")
FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
ACCESS_RIGHT = Namespace("http://publications.europa.eu/resource/authority/access-right/")
CHINESE = URIRef("http://publications.europa.eu/resource/authority/language/ZHO")
IANA = "http://www.iana.org/assignments/media-types/"
DATA_PACKAGE_SPEC = URIRef("https://specs.frictionlessdata.io/data-package/")
ZH = "zh"

#: the catalogue's 更新周期 (``catalog.models.UPDATE_CYCLES``, and a few other terms departments use) on the EU
#: frequency vocabulary
FREQUENCIES = {
    "实时": "UPDATE_CONT", "每小时": "HOURLY", "每日": "DAILY", "每周": "WEEKLY", "每两周": "BIWEEKLY",
    "每月": "MONTHLY", "每两月": "BIMONTHLY", "每季度": "QUARTERLY", "每半年": "ANNUAL_2", "每年": "ANNUAL",
    "每两年": "BIENNIAL", "不定期": "IRREG", "其他": "OTHER",
}
#: the download formats: extension, title, IANA media type, EU file type
DOWNLOADS = (("csv", "CSV", "text/csv", "CSV"),
             ("xlsx", "Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX"),
             ("json", "JSON", "application/json", "JSON"),
             ("parquet", "Parquet", "application/vnd.apache.parquet", "PARQUET"))
DEFAULT_PAGE_SIZE = 100
#: RDF serialisations: extension → (rdflib format, content type)
FORMATS = {"jsonld": ("json-ld", "application/ld+json"), "ttl": ("turtle", "text/turtle; charset=utf-8"),
           "xml": ("pretty-xml", "application/rdf+xml")}
#: the JSON-LD context: compact terms for the vocabularies used
CONTEXT = {"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "skos": str(SKOS), "owl": str(OWL),
           "hydra": str(HYDRA), "xsd": str(XSD)}

_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$")


# Parameters --------------------------------------------------------------------------------------------------

def parse_modified_since(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (Beijing time unless an offset or ``Z`` is given) as an
    aware datetime; None for an empty value; :class:`Invalid` otherwise."""
    raw = (text or "").strip()
    if not raw:
        return None
    bad = Invalid(f"modified_since “{raw[:40]}”无效：应为日期 YYYY-MM-DD 或日期时间 YYYY-MM-DDTHH:MM:SS（北京时间，"
                  "或带时区如 Z、+08:00）",
                  f"Invalid modified_since '{raw[:40]}': give a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM:SS "
                  "(Beijing time, or with an offset such as Z or +08:00)", field="modified_since")
    if len(raw) > 40 or not _MOMENT.match(raw):
        raise bad
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00")) if len(raw) > 10 else \
            datetime.combine(date.fromisoformat(raw), time())
    except ValueError:
        raise bad from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


def parse_page(page: str | None, size: str | None) -> Page:
    """The ``page`` and ``page_size`` query values (whole numbers; page size 1–500, default 100)."""
    def number(text: str | None, default: int, name: str, zh: str) -> int:
        raw = (text or "").strip()
        if not raw:
            return default
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            raise Invalid(f"{zh}“{raw[:20]}”无效：应为正整数", f"Invalid {name} '{raw[:20]}': give a whole number",
                          field=name)
        return int(raw)
    try:
        return Page(number(page, 1, "page", "页码"), number(size, DEFAULT_PAGE_SIZE, "page_size", "每页条数"))
    except Invalid as exc:
        if exc.field == "size":
            exc.field = "page_size"
        raise


# Loading in bulk ---------------------------------------------------------------------------------------------

def modified_of(entry: Any, review: Any, version: Any) -> datetime:
    """When an open dataset last changed: catalogue publication, data version, or opening — the latest."""
    moments = [m for m in (entry.published_at, getattr(version, "created_at", None),
                           getattr(review, "decided_at", None)) if m is not None]
    return max(moments) if moments else entry.updated_at


@dataclass(frozen=True)
class CatalogPage:
    page: Page
    total: int
    #: the page's datasets, in code order, and when each was modified
    datasets: list[datasets.Dataset]
    modified: dict[int, datetime]
    #: when the catalogue last changed (its most recently modified open dataset), None when it is empty
    catalog_modified: datetime | None
    modified_since: datetime | None

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.page.size))


def _open_reviews(session: Session) -> dict[int, OpeningReview]:
    """The approved review in force of every open entry, by entry id (one query)."""
    latest = select(func.max(OpeningReview.id)).group_by(OpeningReview.entry_id)
    return {r.entry_id: r for r in session.scalars(
        select(OpeningReview).where(OpeningReview.id.in_(latest),
                                    OpeningReview.entry_id.in_(datasets.opened_ids_select())))}


def published_snapshots(session: Session, entries: list[Any]) -> dict[int, dict]:
    """The published snapshots of entries, in bulk: a published entry's working row is its published version;
    an entry being revised is read from its published version (one query each; revisions are few)."""
    settled = [e for e in entries if e.status == "published"]
    out = catalog_entries.snapshots(session, entries=settled)
    for e in settled:
        out[e.id].update(version=e.version, published_at=e.published_at.isoformat() if e.published_at else None)
    for e in entries:
        if e.id not in out:
            out[e.id] = catalog_entries.published_snapshot(session, entry_id=e.id)
    return out


def catalog_page(session: Session, *, page: Page, modified_since: datetime | None = None) -> CatalogPage:
    """One page of the open datasets (code order), modified since ``modified_since`` if given; a page past the
    last is :class:`NotFound` (page 1 always exists, perhaps empty)."""
    reviews = _open_reviews(session)
    ids = sorted(reviews)
    loaded = catalog_entries.load_many(session, entry_ids=ids)
    serving = {v.entry_id: v for v in ingest_versions.serving_versions(session) if v.entry_id in loaded}
    modified = {i: modified_of(loaded[i], reviews.get(i), serving.get(i)) for i in ids}
    chosen = [i for i in ids if modified_since is None or modified[i] >= modified_since]
    chosen.sort(key=lambda i: (loaded[i].code, i))
    if page.page > 1 and page.offset >= len(chosen):
        raise NotFound(f"目录没有第 {page.page} 页（共 {max(1, -(-len(chosen) // page.size))} 页）",
                       f"The catalogue has no page {page.page} "
                       f"({max(1, -(-len(chosen) // page.size))} pages)", field="page")
    here = chosen[page.offset:page.offset + page.size]
    snaps = published_snapshots(session, [loaded[i] for i in here])
    found = [datasets.Dataset(entry=loaded[i], snapshot=snaps[i], review=reviews[i],
                              items=datasets.public_items(snaps[i]), version=serving.get(i)) for i in here]
    return CatalogPage(page=page, total=len(chosen), datasets=found, modified={i: modified[i] for i in here},
                       catalog_modified=max(modified.values()) if modified else None, modified_since=modified_since)


def dataset_modified(dataset: datasets.Dataset) -> datetime:
    return modified_of(dataset.entry, dataset.review, dataset.version)


# IRIs --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Iris:
    """The absolute IRIs of the portal under a base URL (the request's, without a trailing slash)."""

    base: str

    def landing(self, ds: datasets.Dataset) -> str:
        return f"{self.base}/open/datasets/{datasets.slug(ds.entry.code)}"

    def download(self, ds: datasets.Dataset, ext: str) -> str:
        return f"{self.landing(ds)}/download.{ext}"

    def datapackage(self, ds: datasets.Dataset) -> str:
        return f"{self.landing(ds)}/datapackage.json"

    def org(self, org_id: int) -> str:
        return f"{self.base}/open/orgs/{org_id}"

    def theme(self, topic: str) -> str:
        return f"{self.base}/open/datasets?topic={quote(topic, safe='')}"

    def catalog(self) -> str:
        return f"{self.base}/open"

    def catalog_page(self, ext: str, page: int, size: int, since: str | None) -> str:
        params: list[tuple[str, str]] = [("modified_since", since)] if since else []
        if size != DEFAULT_PAGE_SIZE:
            params.append(("page_size", str(size)))
        params.append(("page", str(page)))
        return f"{self.base}/catalog.{ext}?{urlencode(params)}"


# Graphs ------------------------------------------------------------------------------------------------------

def new_graph() -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("skos", SKOS), ("owl", OWL),
                       ("hydra", HYDRA), ("xsd", XSD)):
        g.bind(prefix, ns)
    return g


def _moment(value: datetime) -> Literal:
    return Literal(value.astimezone(CHINA).replace(microsecond=0).isoformat(), datatype=XSD.dateTime)


def _day(value: Any) -> Literal | None:
    if not value:
        return None
    return Literal(value if isinstance(value, str) else value.isoformat(), datatype=XSD.date)


def _text(g: Graph, node: Any, prop: URIRef, value: Any) -> None:
    if value not in (None, ""):
        g.add((node, prop, Literal(str(value), lang=ZH)))


def _distribution(g: Graph, ds_node: URIRef, node: URIRef, *, title: str, access: str, download: str | None,
                  media: str, file_type: str, licence: URIRef | None, modified: datetime | None,
                  description: str = "", conforms_to: URIRef | None = None) -> None:
    g.add((ds_node, DCAT.distribution, node))
    g.add((node, RDF.type, DCAT.Distribution))
    _text(g, node, DCTERMS.title, title)
    _text(g, node, DCTERMS.description, description)
    g.add((node, DCAT.accessURL, URIRef(access)))
    if download:
        g.add((node, DCAT.downloadURL, URIRef(download)))
    g.add((node, DCAT.mediaType, URIRef(IANA + media)))
    g.add((node, DCTERMS["format"], FILE_TYPE[file_type]))
    if licence is not None:
        g.add((node, DCTERMS.license, licence))
    if modified is not None:
        g.add((node, DCTERMS.modified, _moment(modified)))
    if conforms_to is not None:
        g.add((node, DCTERMS.conformsTo, conforms_to))


def add_dataset(g: Graph, ds: datasets.Dataset, *, iris: Iris, modified: datetime) -> URIRef:
    """Describe one open dataset (DCAT-AP) in ``g``; returns its node."""
    snap = ds.snapshot
    landing = iris.landing(ds)
    node = URIRef(landing)
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.identifier, Literal(snap["code"])))
    _text(g, node, DCTERMS.title, snap["name"])
    _text(g, node, DCTERMS.description, snap.get("summary"))
    g.add((node, DCAT.landingPage, node))
    g.add((node, DCTERMS.language, CHINESE))
    publisher = URIRef(iris.org(ds.entry.org_id))
    g.add((node, DCTERMS.publisher, publisher))
    g.add((node, DCTERMS.rightsHolder, publisher))
    g.add((publisher, RDF.type, FOAF.Agent))
    _text(g, publisher, FOAF.name, snap.get("org_name"))
    if snap.get("org_uscc"):
        g.add((publisher, DCTERMS.identifier, Literal(snap["org_uscc"])))
    if snap.get("topic"):
        theme = URIRef(iris.theme(snap["topic"]))
        g.add((node, DCAT.theme, theme))
        g.add((theme, RDF.type, SKOS.Concept))
        _text(g, theme, SKOS.prefLabel, snap["topic"])
    for word in dict.fromkeys(w.strip() for w in (snap.get("topic"), snap.get("business")) if w and w.strip()):
        _text(g, node, DCAT.keyword, word)
    if (issued := _day(snap.get("release_date"))) is not None:
        g.add((node, DCTERMS.issued, issued))
    g.add((node, DCTERMS.modified, _moment(modified)))
    cycle = (snap.get("update_cycle") or "").strip()
    g.add((node, DCTERMS.accrualPeriodicity, FREQUENCY[FREQUENCIES.get(cycle, "UNKNOWN")]))
    if ds.version is not None:
        g.add((node, OWL.versionInfo, Literal(str(ds.version.number))))
    _text(g, node, DCTERMS.bibliographicCitation, datasets.attribution(ds))
    terms = datasets.licence(ds)
    if ds.conditional:
        g.add((node, DCTERMS.accessRights, ACCESS_RIGHT.RESTRICTED))
        _text(g, node, DCTERMS.rights, f"{terms['title']}。开放条件：{snap.get('open_condition') or '见数据集页面'}")
        _distribution(g, node, URIRef(f"{landing}#apply"), title=f"{snap['name']}（有条件开放，申请获取）",
                      access=landing, download=None, media="text/html", file_type="HTML", licence=None,
                      modified=None, description=snap.get("open_condition") or "")
        return node
    g.add((node, DCTERMS.accessRights, ACCESS_RIGHT.PUBLIC))
    licence = URIRef(terms["url"])
    g.add((node, DCTERMS.license, licence))
    g.add((licence, RDF.type, DCTERMS.LicenseDocument))
    _text(g, licence, DCTERMS.title, terms["title"])
    if ds.version is None:  # opened before its first load: nothing to download yet
        return node
    rows = f"第 {ds.version.number} 版数据，共 {ds.version.rows} 条记录"
    for ext, title, media, file_type in DOWNLOADS:
        if ext == "xlsx" and ds.version.rows > formats.XLSX_MAX_ROWS:  # more than a sheet holds: not offered
            continue
        _distribution(g, node, URIRef(f"{landing}#{ext}"), title=f"{snap['name']}（{title}）", access=landing,
                      download=iris.download(ds, ext), media=media, file_type=file_type, licence=licence,
                      modified=ds.version.created_at, description=rows)
    _distribution(g, node, URIRef(f"{landing}#datapackage"), title=f"{snap['name']}（Frictionless 数据包描述）",
                  access=landing, download=iris.datapackage(ds), media="application/json", file_type="JSON",
                  licence=licence, modified=modified, conforms_to=DATA_PACKAGE_SPEC,
                  description="Frictionless Data Package（Table Schema），数据为 CSV 下载")
    return node


def _add_catalog(g: Graph, iris: Iris, modified: datetime | None) -> URIRef:
    name = get_settings().portal_name
    node = URIRef(iris.catalog())
    g.add((node, RDF.type, DCAT.Catalog))
    _text(g, node, DCTERMS.title, f"{name}数据目录")
    _text(g, node, DCTERMS.description, f"{name}的开放数据集（无条件开放和有条件开放）")
    g.add((node, FOAF.homepage, node))
    g.add((node, DCTERMS.language, CHINESE))
    publisher = BNode("publisher")
    g.add((node, DCTERMS.publisher, publisher))
    g.add((publisher, RDF.type, FOAF.Agent))
    _text(g, publisher, FOAF.name, name)
    if modified is not None:
        g.add((node, DCTERMS.modified, _moment(modified)))
    return node


def catalog_graph(page: CatalogPage, *, base: str, ext: str, since: str | None = None) -> Graph:
    """The catalogue, one page of its datasets and the paging links (``since``: the modified_since value as
    given, kept in the links)."""
    iris = Iris(base)
    g = new_graph()
    catalog = _add_catalog(g, iris, page.catalog_modified)
    for ds in page.datasets:
        g.add((catalog, DCAT.dataset, add_dataset(g, ds, iris=iris, modified=page.modified[ds.entry.id])))
    n, size = page.page.page, page.page.size
    paging = URIRef(iris.catalog_page(ext, n, size, since))
    g.add((paging, RDF.type, HYDRA.PagedCollection))
    g.add((paging, HYDRA.totalItems, Literal(page.total)))
    g.add((paging, HYDRA.itemsPerPage, Literal(size)))
    g.add((paging, HYDRA.firstPage, URIRef(iris.catalog_page(ext, 1, size, since))))
    g.add((paging, HYDRA.lastPage, URIRef(iris.catalog_page(ext, page.last, size, since))))
    if n > 1:
        g.add((paging, HYDRA.previousPage, URIRef(iris.catalog_page(ext, n - 1, size, since))))
    if n < page.last:
        g.add((paging, HYDRA.nextPage, URIRef(iris.catalog_page(ext, n + 1, size, since))))
    return g


def dataset_graph(*, dataset: datasets.Dataset, base: str) -> Graph:
    """One open dataset, with the catalogue it belongs to."""
    iris = Iris(base)
    g = new_graph()
    node = add_dataset(g, dataset, iris=iris, modified=dataset_modified(dataset))
    g.add((URIRef(iris.catalog()), DCAT.dataset, node))
    return g


def serialise(g: Graph, ext: str) -> tuple[bytes, str]:
    """The graph as ``ext`` (jsonld, ttl, xml) and its content type."""
    fmt, media = FORMATS[ext]
    extra: dict[str, Any] = {"context": CONTEXT, "auto_compact": True} if fmt == "json-ld" else {}
    out = g.serialize(format=fmt, encoding="utf-8", **extra)
    return out, media

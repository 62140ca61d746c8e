"""The open datasets in DCAT-AP (R-OPN-8: machine-readable, complete, timely, attributed): the paged catalogue
and each dataset in JSON-LD, Turtle and RDF/XML, read back with rdflib."""

from __future__ import annotations

from datetime import UTC, datetime

from rdflib import Graph, Literal, Namespace, URIRef, namespace
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, FOAF, RDF, SKOS
from sqlalchemy import event

from gongshu.catalog.service import entries, lifecycle
from gongshu.kit.pagination import Page
from gongshu.opendata.service import datasets, dcat, reviews
from gongshu.opendata.service.dcat import ACCESS_RIGHT, FILE_TYPE, FREQUENCY, HYDRA, IANA
from tests.catalog.helpers import entry_in, published
from tests.opendata.helpers import open_entry, open_world

BASE = "http://testserver"
#: open namespaces (rdflib's closed ones warn when pytest probes the module's attributes)
DCAT = Namespace(str(namespace.DCAT))
XSD = Namespace(str(namespace.XSD))
CC_BY = URIRef("https://creativecommons.org/licenses/by/4.0/")


def _graph(client, path: str, fmt: str = "turtle", **params) -> Graph:
    r = client.get(path, params=params) if params else client.get(path)
    assert r.status_code == 200, r.text
    expected = {"turtle": "text/turtle", "json-ld": "application/ld+json", "xml": "application/rdf+xml"}[fmt]
    assert r.headers["content-type"].startswith(expected)
    return Graph().parse(data=r.content, format=fmt)


def _node(entry) -> URIRef:
    return URIRef(f"{BASE}/open/datasets/{datasets.slug(entry.code)}")


def _one(g: Graph, s, p):
    values = list(g.objects(s, p))
    assert len(values) == 1, (s, p, values)
    return values[0]


def _without_paging(g: Graph) -> Graph:
    out = Graph()
    paging = set(g.subjects(RDF.type, HYDRA.PagedCollection))
    for t in g:
        if t[0] not in paging:
            out.add(t)
    return out


def test_r_opn_8_catalog_describes_the_open_datasets_with_dcat_ap_properties(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=4, update_cycle="每月", topic="人口", business="户籍管理")
    conditional = published(db, w.c, open_type="有条件开放", open_condition="仅用于科研；签署数据使用协议",
                            name="流动人口居住登记信息", update_cycle="实时")
    open_entry(db, w.c, conditional)
    hidden = published(db, w.c, open_type="无条件开放", name="未经审查的数据")  # not reviewed: not open
    closed = published(db, w.c, open_type="无条件开放", name="已停止开放的数据")
    review = open_entry(db, w.c, closed)
    reviews.close(db, actor=w.c.reviewer, review_id=review.id, note="发现未脱敏的敏感信息")
    db.commit()

    g = _graph(client, "/catalog.ttl")
    catalog = URIRef(f"{BASE}/open")
    assert (catalog, RDF.type, DCAT.Catalog) in g
    assert set(g.objects(catalog, DCAT.dataset)) == {_node(w.entry), _node(conditional)}
    assert not set(g.subjects(DCTERMS.title, Literal(hidden.name, lang="zh")))
    assert not set(g.subjects(DCTERMS.title, Literal(closed.name, lang="zh")))

    ds = _node(w.entry)
    assert (ds, RDF.type, DCAT.Dataset) in g
    assert _one(g, ds, DCTERMS.title) == Literal("户籍人口基本信息", lang="zh")
    assert _one(g, ds, DCTERMS.description).startswith("本市户籍人口")
    assert _one(g, ds, DCTERMS.identifier) == Literal(w.entry.code)
    publisher = _one(g, ds, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in g and publisher == URIRef(f"{BASE}/open/orgs/{w.c.dept.id}")
    assert _one(g, publisher, FOAF.name) == Literal(w.c.dept.name, lang="zh")
    theme = _one(g, ds, DCAT.theme)
    assert (theme, RDF.type, SKOS.Concept) in g and _one(g, theme, SKOS.prefLabel) == Literal("人口", lang="zh")
    assert set(g.objects(ds, DCAT.keyword)) == {Literal("人口", lang="zh"), Literal("户籍管理", lang="zh")}
    issued = _one(g, ds, DCTERMS.issued)
    assert issued.datatype == XSD.date and issued.toPython() == w.entry.release_date
    modified = _one(g, ds, DCTERMS.modified)
    assert modified.datatype == XSD.dateTime
    assert abs((modified.toPython() - datetime.now(UTC)).total_seconds()) < 600  # loaded and opened just now
    assert _one(g, ds, DCTERMS.accrualPeriodicity) == FREQUENCY.MONTHLY
    assert _one(g, ds, DCTERMS.license) == CC_BY
    assert _one(g, ds, DCTERMS.accessRights) == ACCESS_RIGHT.PUBLIC
    assert _one(g, ds, DCAT.landingPage) == ds
    assert f"数据来源：{w.c.dept.name}" in _one(g, ds, DCTERMS.bibliographicCitation)

    dists = {str(_one(g, d, DCAT.downloadURL)): d for d in g.objects(ds, DCAT.distribution)}
    slug = datasets.slug(w.entry.code)
    assert set(dists) == {f"{BASE}/open/datasets/{slug}/{name}" for name in
                          ("download.csv", "download.xlsx", "download.json", "download.parquet", "datapackage.json")}
    csv = dists[f"{BASE}/open/datasets/{slug}/download.csv"]
    assert (csv, RDF.type, DCAT.Distribution) in g
    assert _one(g, csv, DCAT.accessURL) == ds
    assert _one(g, csv, DCAT.mediaType) == URIRef(IANA + "text/csv")
    assert _one(g, csv, DCTERMS["format"]) == FILE_TYPE.CSV
    assert _one(g, csv, DCTERMS.license) == CC_BY
    assert "共 4 条记录" in _one(g, csv, DCTERMS.description)
    xlsx = dists[f"{BASE}/open/datasets/{slug}/download.xlsx"]
    assert _one(g, xlsx, DCAT.mediaType) == URIRef(
        IANA + "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert _one(g, dists[f"{BASE}/open/datasets/{slug}/download.parquet"], DCAT.mediaType) == URIRef(
        IANA + "application/vnd.apache.parquet")

    # 有条件开放: listed with its conditions, restricted, and nothing to download anonymously
    cond = _node(conditional)
    assert _one(g, cond, DCTERMS.accessRights) == ACCESS_RIGHT.RESTRICTED
    assert _one(g, cond, DCTERMS.accrualPeriodicity) == FREQUENCY.UPDATE_CONT
    assert "仅用于科研" in _one(g, cond, DCTERMS.rights)
    assert not list(g.objects(cond, DCTERMS.license))
    assert not [d for d in g.objects(cond, DCAT.distribution) if list(g.objects(d, DCAT.downloadURL))]

    # the same graph in JSON-LD and RDF/XML (the paging links point to pages of the same format)
    for path, fmt in (("/catalog.jsonld", "json-ld"), ("/catalog.xml", "xml")):
        other = _graph(client, path, fmt)
        assert isomorphic(_without_paging(g), _without_paging(other))
        assert str(next(other.subjects(RDF.type, HYDRA.PagedCollection))) == f"{BASE}{path}?page=1"
    text = client.get("/catalog.jsonld").text
    assert '"@context"' in text and "户籍人口基本信息" in text  # UTF-8, not escaped


def _statements(db, work) -> int:
    seen: list[str] = []
    conn = db.connection()
    listen = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, …)
    event.listen(conn, "before_cursor_execute", listen)
    try:
        work()
    finally:
        event.remove(conn, "before_cursor_execute", listen)
    return len(seen)


def test_r_opn_8_catalog_pages_with_first_next_previous_and_last_links(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, load=False, name="数据集甲")
    def build() -> None:
        dcat.catalog_graph(dcat.catalog_page(db, page=Page(1, 100)), base=BASE, ext="ttl")
    one = _statements(db, build)
    assert one >= 4  # reviews, entries, data versions, snapshots (items, orgs)
    more = [published(db, w.c, open_type="无条件开放", name=n) for n in ("数据集乙", "数据集丙")]
    for e in more:
        open_entry(db, w.c, e)
    db.commit()
    # loaded in bulk: as many statements for three datasets as for one
    assert _statements(db, build) == one
    by_code = sorted([w.entry, *more], key=lambda e: e.code)

    g = _graph(client, "/catalog.ttl", page_size="2")
    catalog = URIRef(f"{BASE}/open")
    assert set(g.objects(catalog, DCAT.dataset)) == {_node(e) for e in by_code[:2]}
    paging = next(g.subjects(RDF.type, HYDRA.PagedCollection))
    assert _one(g, paging, HYDRA.totalItems).toPython() == 3
    assert _one(g, paging, HYDRA.itemsPerPage).toPython() == 2
    assert str(_one(g, paging, HYDRA.firstPage)) == f"{BASE}/catalog.ttl?page_size=2&page=1"
    assert str(_one(g, paging, HYDRA.lastPage)) == f"{BASE}/catalog.ttl?page_size=2&page=2"
    assert not list(g.objects(paging, HYDRA.previousPage))
    nxt = str(_one(g, paging, HYDRA.nextPage))

    g2 = _graph(client, nxt.removeprefix(BASE))
    assert set(g2.objects(catalog, DCAT.dataset)) == {_node(by_code[2])}
    paging2 = next(g2.subjects(RDF.type, HYDRA.PagedCollection))
    assert str(paging2) == nxt and not list(g2.objects(paging2, HYDRA.nextPage))
    assert str(_one(g2, paging2, HYDRA.previousPage)) == f"{BASE}/catalog.ttl?page_size=2&page=1"

    # a dataset without data yet has its metadata and licence, and no distribution to download
    assert _one(g, _node(by_code[0]), DCTERMS.license) == CC_BY
    assert not list(g.objects(_node(by_code[0]), DCAT.distribution))

    # an entry being revised: the public keeps its published version, not the working copy
    revised, name = by_code[1], by_code[1].name
    lifecycle.revise(db, actor=w.c.officer, entry_id=revised.id)
    entries.update_entry(db, actor=w.c.officer, entry_id=revised.id,
                         data=entry_in(code=revised.code, name="修订中的名称", open_type="无条件开放"))
    db.commit()
    g = _graph(client, "/catalog.ttl", page_size="2")
    assert revised.status == "revising" and revised.name == "修订中的名称"
    assert _one(g, _node(revised), DCTERMS.title) == Literal(name, lang="zh")

    past = client.get("/catalog.jsonld", params={"page": "3", "page_size": "2"})
    assert past.status_code == 404 and past.json()["error"]["field"] == "page"
    for params in ({"page": "0"}, {"page": "abc"}, {"page": "-1"}, {"page_size": "501"}, {"page_size": "x"}):
        r = client.get("/catalog.ttl", params=params, headers={"accept": "text/html"})
        assert r.status_code == 422, (params, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid" and error["message"] != error["message_en"]


def test_r_opn_8_modified_since_keeps_the_datasets_changed_since_then(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, load=False, name="旧数据集")
    fresh = published(db, w.c, open_type="无条件开放", name="新数据集")
    open_entry(db, w.c, fresh)
    # the old one was published and opened on 2025-01-01 00:00 UTC (08:00 Beijing time)
    old = datetime(2025, 1, 1, tzinfo=UTC)
    w.entry.published_at = old
    w.review.decided_at = old
    db.commit()

    def listed(since: str, ext: str = "ttl") -> set:
        fmt = {"ttl": "turtle", "jsonld": "json-ld"}[ext]
        g = _graph(client, f"/catalog.{ext}", fmt, modified_since=since)
        return set(g.objects(URIRef(f"{BASE}/open"), DCAT.dataset))

    both = {_node(w.entry), _node(fresh)}
    assert listed("2024-12-31") == both
    assert listed("2025-01-02") == {_node(fresh)}
    assert listed("2025-01-01T07:59:00") == both  # Beijing time unless an offset is given
    assert listed("2025-01-01T08:00:01", "jsonld") == {_node(fresh)}
    assert listed("2025-01-01T00:00:00Z") == both
    assert listed("2025-01-01T00:00:01+00:00") == {_node(fresh)}
    assert listed("2999-01-01") == set()

    g = _graph(client, "/catalog.ttl", modified_since="2025-01-02")
    paging = next(g.subjects(RDF.type, HYDRA.PagedCollection))
    assert _one(g, paging, HYDRA.totalItems).toPython() == 1
    assert str(_one(g, paging, HYDRA.firstPage)) == f"{BASE}/catalog.ttl?modified_since=2025-01-02&page=1"
    old_modified = _one(_graph(client, f"/open/datasets/{w.entry.id}.ttl"), _node(w.entry), DCTERMS.modified)
    assert old_modified.toPython() == old

    for bad in ("2025-13-01", "yesterday", "2025-01-01T25:00:00", "2025-02-30", "20250101", "2025-01-01T10:00+99:00",
                "x" * 200):
        r = client.get("/catalog.ttl", params={"modified_since": bad})
        assert r.status_code == 422, (bad, r.text)
        error = r.json()["error"]
        assert error["field"] == "modified_since" and "无效" in error["message"] and "Invalid" in error["message_en"]


def test_r_opn_8_one_dataset_in_json_ld_turtle_and_rdf_xml_by_id_or_slug(f, db, client, tmp_path):
    w = open_world(f, db, tmp_path, rows=3, update_cycle="每季度")
    hidden = published(db, w.c, open_type="无条件开放", name="未经审查的数据")
    db.commit()
    slug = datasets.slug(w.entry.code)
    g = _graph(client, f"/open/datasets/{slug}.jsonld", "json-ld")
    ds = _node(w.entry)
    assert (URIRef(f"{BASE}/open"), DCAT.dataset, ds) in g
    assert _one(g, ds, DCTERMS.title) == Literal("户籍人口基本信息", lang="zh")
    assert _one(g, ds, DCTERMS.accrualPeriodicity) == FREQUENCY.QUARTERLY
    assert len(list(g.objects(ds, DCAT.distribution))) == 5
    assert isomorphic(g, _graph(client, f"/open/datasets/{w.entry.id}.ttl"))
    assert isomorphic(g, _graph(client, f"/open/datasets/{slug}.xml", "xml"))
    assert client.get(f"/open/datasets/{slug}").headers["content-type"].startswith("text/html")  # the page
    for ref in (hidden.id, datasets.slug(hidden.code), "101001-99999", "99999999"):
        for ext in ("jsonld", "ttl"):
            r = client.get(f"/open/datasets/{ref}.{ext}", headers={"accept": "text/html"})
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (ref, r.text)

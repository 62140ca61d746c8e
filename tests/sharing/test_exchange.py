"""Exchange mode (R-SHR-5): packages hold exactly the grant — items, rows, masking — as CSV or Parquet with an
SM2-signed manifest; increments hold exactly the changes; tampering fails verification; every way to read
beyond the grant is refused and logged."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gongshu.audit.models import AuditEvent
from gongshu.cli import main as cli_main
from gongshu.config import get_settings
from gongshu.crypto import sm2
from gongshu.errors import Conflict, Forbidden, Invalid
from gongshu.kit.hashing import canonical_json, sm3_hex
from gongshu.sharing.models import AccessEvent, ExchangePackage
from gongshu.sharing.service import exchange, grants, projection, requests
from gongshu.store.service import ARROW_TYPES, Column
from gongshu.tasks import service as tasks
from tests.ingest.helpers import load_file, make_id, person_rows, write_csv
from tests.sharing.helpers import World, active_grant, ask, world

ITEMS = ("公民身份号码", "姓名", "性别")


@pytest.fixture(autouse=True)
def platform(tmp_path, monkeypatch):
    """The platform's data key and SM2 signing key in this test's own data directory."""
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GONGSHU_DATA_KEY", "cd" * 32)
    monkeypatch.delenv("GONGSHU_SIGNATURE_PROVIDER", raising=False)
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    sm2.reset_provider_cache()


def grant_of(db, w: World, *, items=ITEMS, masked=("姓名",), row_scope=None, mode="exchange"):
    """A delivered exchange grant, approved by the source with ``masked`` items masked."""
    req = ask(db, w, items=items, mode=mode, row_scope=row_scope or {})
    return requests.approve(db, actor=w.c.officer, request_id=req.id,
                            items=[{"name": n, "masked": n in masked} for n in items])


def read_csv(path) -> tuple[list[str], list[dict]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for spreadsheet software
    reader = csv.DictReader(io.StringIO(raw[3:].decode("utf-8")))
    return reader.fieldnames, list(reader)


def events(db, **where) -> list[AccessEvent]:
    stmt = select(AccessEvent).order_by(AccessEvent.id)
    for k, v in where.items():
        stmt = stmt.where(getattr(AccessEvent, k) == v)
    return list(db.scalars(stmt))


def reload(db, w: World, rows: list[list[str]], tmp_path, name: str):
    done = load_file(db, w.c.officer, w.entry, write_csv(tmp_path / name, rows))
    assert done.status == "applied", done.error
    return done


# --- what a package holds ---

def test_r_shr_5_full_csv_package_holds_only_granted_items_rows_in_scope_masked(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=20)
    grant = grant_of(db, w, row_scope={"性别": ["2"]})
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant.id, fmt="csv", purpose="BDC-2026-001")
    assert pkg.kind == "full" and pkg.status == "ready" and pkg.rows == 10
    path = exchange.package_path(pkg)
    assert path.parent.name == str(grant.id) and path.parent.parent.name == "sharing"
    header, rows = read_csv(path)
    assert header == list(ITEMS)  # no 出生日期, no 户籍地址
    source = {r[0]: r for r in person_rows(20)}
    expected = sorted(i for i, r in source.items() if r[2] == "2")
    assert sorted(r["公民身份号码"] for r in rows) == expected
    for r in rows:
        assert r["性别"] == "2"
        assert r["姓名"] == grants.mask_value("姓名", source[r["公民身份号码"]][1]) != source[r["公民身份号码"]][1]
    m = pkg.manifest
    assert m["rows"] == 10 and m["kind"] == "full" and m["file_format"] == "csv" and m["file_name"] == path.name
    assert m["grant"]["id"] == grant.id and m["consumer"]["id"] == w.c.other_dept.id and m["source"]["id"] == w.c.dept.id
    assert m["entry"]["id"] == w.entry.id and m["version"]["number"] == 1 and m["since_version"] is None
    assert [c["name"] for c in m["columns"]] == list(ITEMS) and [c["masked"] for c in m["columns"]] == [False, True, False]
    assert m["file_sm3"] == pkg.sm3 and m["signer"]["key_id"] == pkg.key_id == sm2.signature_provider().key_id
    assert exchange.verify_package(canonical_json(m), pkg.signature, path, sm2.signature_provider().public_key_hex()).ok
    audit = db.scalar(select(AuditEvent).where(AuditEvent.action == "sharing.package.build",
                                               AuditEvent.subject_id == str(pkg.id)))
    assert json.loads(audit.detail)["file_sm3"] == pkg.sm3
    (ev,) = events(db, grant_id=grant.id)
    assert (ev.operation, ev.result, ev.rows, ev.purpose, ev.consumer_org_id, ev.source_org_id) == \
        ("exchange", "ok", 10, "BDC-2026-001", w.c.other_dept.id, w.c.dept.id)
    assert ev.seal_seq is not None


def test_r_shr_5_parquet_package_equals_the_csv_one(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=15)
    grant = grant_of(db, w)
    a = exchange.build(db, actor=w.consumer, grant_id=grant.id, fmt="csv")
    b = exchange.build(db, actor=w.consumer, grant_id=grant.id, fmt="parquet")
    table = pq.read_table(exchange.package_path(b))
    assert table.column_names == list(ITEMS) and b.rows == 15 and b.manifest["encoding"] is None
    _, rows = read_csv(exchange.package_path(a))
    assert sorted(table.to_pylist(), key=lambda r: r["公民身份号码"]) == sorted(rows, key=lambda r: r["公民身份号码"])
    assert exchange.envelope(b)["signature"]["value"] == b.signature
    env = json.loads(exchange.package_path(b).with_name(exchange.package_path(b).name + ".manifest.json").read_text())
    assert env["manifest"] == b.manifest


@pytest.mark.parametrize("label, item, column, values", [
    ("公民身份号码", {"is_identifier": True}, Column("c", "公民身份号码", "C"),
     ["440106198503120015", " 44010619850312001X ", "1234", "", "12345678", "123456789", None]),
    ("姓名", {}, Column("c", "姓名", "C"), ["张三", "欧阳娜娜", "李", "", "　王小明 ", None]),
    ("联系电话", {}, Column("c", "联系电话", "C"), ["13812345678", "0769-1234567", "138123456789", None]),
    ("户籍地址", {}, Column("c", "户籍地址", "C"), ["东莞市南城街道1号", "东", "", " x", None]),
    ("出生日期", {}, Column("c", "出生日期", "D"), [date(1985, 3, 12), None]),
    ("月收入", {}, Column("c", "月收入", "Y"), [Decimal("1234.50"), Decimal("0.00"), None]),
    ("登记时间", {}, Column("c", "登记时间", "T"), [datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, 120),
                                              None]),
    ("是否在册", {}, Column("c", "是否在册", "L"), [True, False, None]),
    ("户内人数", {}, Column("c", "户内人数", "I"), [3, 12345, None]),
    ("法定代表人", {}, Column("c", "法定代表人", "C"), ["司马相如"]),
])
def test_r_shr_5_masking_in_sql_equals_grants_mask_value(label, item, column, values):
    """Packages and analysis mask in SQL; the API masks in Python: the same value must come out."""
    con = duckdb.connect()
    con.register("t", pa.table({"c": pa.array(values, ARROW_TYPES[column.type])}))
    sql = f"SELECT {projection.mask_sql(label, item, 'c', column)} FROM t"  # noqa: S608 - our own expression
    got = [r[0] for r in con.execute(sql).fetchall()]
    assert got == [grants.mask_value(label, v, item) for v in values]


# --- increments ---

def test_r_shr_5_incremental_package_holds_exactly_the_changes_the_consumer_can_see(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=20)
    allowed = [f"东莞市南城街道{i}号" for i in range(2, 31, 2)] + ["东莞市东城街道3号"]
    grant = grant_of(db, w, row_scope={"户籍地址": allowed})  # even persons, and whoever moves to 东城 3号
    first = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    assert first.rows == 10
    exchange.receive(db, actor=w.consumer, package_id=first.id, sm3=first.sm3)
    rows = {int(r[0][14:17]): list(r) for r in person_rows(20)}
    rows[2][1] = "王二2"  # a granted item changed: changed
    rows[4][4] = "东莞市南城街道12号"  # only an item not granted, still in scope: no change for the consumer
    del rows[6]  # deleted
    rows[8][4] = "东莞市莞城街道8号"  # leaves the row scope: deleted for the consumer
    rows[3][4] = "东莞市东城街道3号"  # enters the row scope: added
    rows[22] = person_rows(1, start=22)[0]  # new, in scope: added
    rows[21] = person_rows(1, start=21)[0]  # new, out of scope: nothing
    rows[10][1] = "张一99"  # changed, but the same masked (张一**): nothing
    reload(db, w, list(rows.values()), tmp_path, "v2.csv")
    inc = exchange.build(db, actor=w.consumer, grant_id=grant.id, fmt="csv", kind="incremental")
    assert inc.kind == "incremental" and inc.since_version_id == first.version_id and inc.version_id != first.version_id
    header, got = read_csv(exchange.package_path(inc))
    assert header == ["_change", *ITEMS]
    by = {(r["_change"], r["公民身份号码"]) for r in got}
    assert by == {("changed", make_id(2)), ("deleted", make_id(6)), ("deleted", make_id(8)), ("added", make_id(3)),
                  ("added", make_id(22))}
    deleted = [r for r in got if r["_change"] == "deleted"]
    assert all(r["姓名"] == "" and r["性别"] == "" for r in deleted)  # only the key
    changed = next(r for r in got if r["_change"] == "changed")
    assert changed["姓名"] == grants.mask_value("姓名", "王二2")
    assert inc.manifest["changes"] == {"added": 2, "changed": 1, "deleted": 2} and inc.rows == 5
    assert inc.manifest["since_version"]["number"] == 1 and inc.manifest["since_package_id"] == first.id


def test_r_shr_5_increment_needs_a_received_package_and_a_newer_version(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=5)
    grant = grant_of(db, w)
    with pytest.raises(Conflict) as e:
        exchange.build(db, actor=w.consumer, grant_id=grant.id, kind="incremental")
    assert e.value.details == [{"reason": "no_received_package"}]
    auto = exchange.build(db, actor=w.consumer, grant_id=grant.id)  # auto: full, and says why
    assert auto.kind == "full" and auto.manifest["full_reason"] == "no_received_package"
    exchange.receive(db, actor=w.consumer, package_id=auto.id)
    with pytest.raises(Conflict) as e:
        exchange.build(db, actor=w.consumer, grant_id=grant.id, kind="incremental")
    assert e.value.details == [{"reason": "no_newer_version"}]


def test_r_shr_5_no_increment_when_the_key_is_masked(f, db, tmp_path):
    """Deletes by key need the key in clear; a grant with the key masked gets full packages."""
    w = world(f, db, tmp_path, rows=5)
    grant = grant_of(db, w, masked=("公民身份号码", "姓名"))
    first = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    exchange.receive(db, actor=w.consumer, package_id=first.id)
    reload(db, w, person_rows(6), tmp_path, "v2.csv")
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    assert pkg.kind == "full" and pkg.manifest["full_reason"] == "keys_not_granted_in_clear" and pkg.rows == 6
    _, rows = read_csv(exchange.package_path(pkg))
    assert all("*" in r["公民身份号码"] for r in rows)


def test_r_shr_5_scheduled_delivery_builds_the_next_increment_for_a_newer_version(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=5)
    grant = grant_of(db, w)
    (tmp_path / "b").mkdir()
    other = grant_of(db, world(f, db, tmp_path / "b", rows=3))  # never had a package: not scheduled
    first = exchange.build(db, actor=w.consumer, grant_id=grant.id, fmt="parquet")
    assert exchange.deliver_scheduled(db) == 0  # nothing newer
    exchange.receive(db, actor=w.consumer, package_id=first.id)
    reload(db, w, person_rows(7), tmp_path, "v2.csv")
    assert exchange.deliver_scheduled(db) == 1
    pkg = db.scalar(select(ExchangePackage).where(ExchangePackage.grant_id == grant.id)
                    .order_by(ExchangePackage.id.desc()).limit(1))
    assert (pkg.kind, pkg.format, pkg.rows, pkg.since_version_id) == ("incremental", "parquet", 2, first.version_id)
    assert pq.read_table(exchange.package_path(pkg)).column("_change").to_pylist() == ["added", "added"]
    assert exchange.deliver_scheduled(db) == 0  # built for this version already
    assert db.scalar(select(ExchangePackage).where(ExchangePackage.grant_id == other.id)) is None
    ev = events(db, grant_id=grant.id)[-1]
    assert ev.end_user == exchange.SCHEDULED_USER and ev.rows == 2


# --- receipt ---

def test_r_shr_5_receipt_is_audited_once_and_checks_the_digest(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    grant = grant_of(db, w)
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    with pytest.raises(Forbidden):
        exchange.receive(db, actor=w.c.officer, package_id=pkg.id)  # the source cannot acknowledge
    with pytest.raises(Invalid) as e:
        exchange.receive(db, actor=w.consumer, package_id=pkg.id, sm3="00" * 32)
    assert e.value.field == "sm3"
    done = exchange.receive(db, actor=w.consumer, package_id=pkg.id, sm3=pkg.sm3.upper())
    assert done.status == "received" and done.received_by == w.consumer.user_id
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.subject_type == "share_package",
                                                     AuditEvent.subject_id == str(pkg.id))
                     .order_by(AuditEvent.seq.desc()).limit(1)) == "sharing.package.receive"
    with pytest.raises(Conflict):
        exchange.receive(db, actor=w.consumer, package_id=pkg.id)


def test_r_shr_5_download_is_a_logged_delivery(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    grant = grant_of(db, w)
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    got = exchange.download(db, actor=w.consumer, package_id=pkg.id, purpose="case-7")
    assert got.path == exchange.package_path(pkg) and got.sm3 == pkg.sm3 and got.media_type.startswith("text/csv")
    ev = events(db, grant_id=grant.id)[-1]
    assert (ev.operation, ev.result, ev.purpose, ev.rows) == ("exchange", "ok", "case-7", 3)
    assert ev.reason == f"download package {pkg.id}"


# --- verification ---

def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]


def test_r_shr_5_tampered_package_or_manifest_fails_verification(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=8)
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant_of(db, w).id, fmt="parquet")
    key = sm2.signature_provider().public_key_hex()
    data = exchange.package_path(pkg).read_bytes()
    manifest = canonical_json(pkg.manifest)
    good = exchange.verify_package(manifest, pkg.signature, data, key)
    assert good.ok and good.signature_ok and good.digest_ok and not good.problems
    bad_file = exchange.verify_package(manifest, pkg.signature, _flip(data, len(data) // 2), key)
    assert not bad_file.ok and bad_file.signature_ok and [p["code"] for p in bad_file.problems] == ["file_digest_mismatch"]
    assert not exchange.verify_package(manifest, pkg.signature, data[:-1], key).ok  # truncated
    forged = canonical_json({**pkg.manifest, "rows": pkg.rows + 1})
    bad_manifest = exchange.verify_package(forged, pkg.signature, data, key)
    assert not bad_manifest.ok and [p["code"] for p in bad_manifest.problems] == ["bad_signature"]
    # a forger who re-hashes the altered file and rewrites the manifest cannot sign it with the platform's key
    other = sm2.SoftwareSM2Provider(sm2.generate_key_pair())
    altered = _flip(data, 100)
    rewritten = canonical_json({**pkg.manifest, "file_sm3": sm3_hex(altered)})
    check = exchange.verify_package(rewritten, other.sign(rewritten), altered, key)
    assert not check.ok and not check.signature_ok
    assert not exchange.verify_package(manifest, _flip(bytes.fromhex(pkg.signature), 10), data, key).ok
    with pytest.raises(Invalid):
        exchange.verify_package(manifest, pkg.signature, data, "04abcd")  # not a key


def test_r_shr_5_cli_verify_package_offline(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=4)
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant_of(db, w).id)
    data = exchange.package_path(pkg)
    manifest = data.with_name(data.name + ".manifest.json")
    key = sm2.signature_provider().public_key_pem()
    key_file = tmp_path / "platform.pem"
    key_file.write_text(key)
    runner = CliRunner()
    ok = runner.invoke(cli_main, ["sharing", "verify-package", str(manifest), str(data), "--public-key", f"@{key_file}"])
    assert ok.exit_code == 0, ok.output
    assert "验证通过" in ok.output and pkg.sm3 in ok.output
    unpinned = runner.invoke(cli_main, ["sharing", "verify-package", str(manifest), str(data)])
    assert unpinned.exit_code == 0 and "公钥取自清单" in unpinned.output
    copy = tmp_path / "copy.csv"
    copy.write_bytes(data.read_bytes().replace("张".encode(), "李".encode(), 1))
    bad = runner.invoke(cli_main, ["sharing", "verify-package", str(manifest), str(copy), "--public-key",
                                   sm2.signature_provider().public_key_hex()])
    assert bad.exit_code == 1 and "file_digest_mismatch" in bad.output
    env = json.loads(manifest.read_text())
    env["manifest"]["rows"] += 1
    forged = tmp_path / "forged.manifest.json"
    forged.write_text(json.dumps(env, ensure_ascii=False))
    bad = runner.invoke(cli_main, ["sharing", "verify-package", str(forged), str(data), "--public-key",
                                   f"@{key_file}"])
    assert bad.exit_code == 1 and "bad_signature" in bad.output
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    assert runner.invoke(cli_main, ["sharing", "verify-package", str(junk), str(data)]).exit_code == 2


# --- reading beyond the grant: refused and logged ---

def _refused(db, exc_info, reason: str, grant_id: int, consumer_org_id: int | None) -> None:
    assert exc_info.value.details and exc_info.value.details[0]["reason"] == reason
    ev = events(db, grant_id=grant_id, result="denied")[-1]
    assert (ev.operation, ev.reason, ev.consumer_org_id) == ("exchange", reason, consumer_org_id)


def test_r_shr_5_another_consumer_cannot_build_or_download(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    grant = grant_of(db, w)
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    stranger = f.actor(f.org(), ("dept_officer",))
    with pytest.raises(Forbidden) as e:
        exchange.build(db, actor=stranger, grant_id=grant.id)
    _refused(db, e, "other_consumer", grant.id, stranger.org_id)
    with pytest.raises(Forbidden) as e:
        exchange.download(db, actor=stranger, package_id=pkg.id)
    _refused(db, e, "other_consumer", grant.id, stranger.org_id)
    with pytest.raises(Forbidden) as e:
        exchange.build(db, actor=w.c.officer, grant_id=grant.id)  # the source is not the consumer either
    _refused(db, e, "other_consumer", grant.id, w.c.dept.id)
    assert events(db, grant_id=grant.id, result="denied")[-1].source_org_id == w.c.dept.id


def test_r_shr_5_other_entries_and_other_modes_are_refused(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    api = active_grant(db, w, mode="api")
    with pytest.raises(Forbidden) as e:
        exchange.build(db, actor=w.consumer, grant_id=api.id)
    _refused(db, e, "wrong_mode", api.id, w.consumer.org_id)
    with pytest.raises(Forbidden) as e:
        exchange.build(db, actor=w.consumer, grant_id=987654)
    _refused(db, e, "no_grant", 987654, w.consumer.org_id)
    auditor = w.c.auditor  # may see everything, may not take data
    with pytest.raises(Forbidden) as e:
        exchange.build(db, actor=auditor, grant_id=api.id)
    assert events(db, grant_id=api.id, result="denied")[-1].reason == "forbidden"


def test_r_shr_5_after_revocation_or_expiry_nothing_is_delivered(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=3)
    grant = grant_of(db, w)
    pkg = exchange.build(db, actor=w.consumer, grant_id=grant.id)
    grant.expires_on = tasks.today() - timedelta(days=1)  # past its term, not yet swept
    with pytest.raises(Forbidden) as e:
        exchange.download(db, actor=w.consumer, package_id=pkg.id)
    _refused(db, e, "expired", grant.id, w.consumer.org_id)
    grant.expires_on = tasks.today() + timedelta(days=30)
    grants.revoke(db, actor=w.c.officer, grant_id=grant.id, reason="业务已办结")
    for call in (lambda: exchange.build(db, actor=w.consumer, grant_id=grant.id),
                 lambda: exchange.download(db, actor=w.consumer, package_id=pkg.id)):
        with pytest.raises(Forbidden) as e:
            call()
        _refused(db, e, "revoked", grant.id, w.consumer.org_id)
    assert exchange.deliver_scheduled(db) == 0


def test_bad_format_or_kind_is_a_clear_4xx(f, db, tmp_path):
    w = world(f, db, tmp_path, rows=2)
    grant = grant_of(db, w)
    with pytest.raises(Invalid) as e:
        exchange.build(db, actor=w.consumer, grant_id=grant.id, fmt="xlsx")
    assert e.value.field == "format"
    with pytest.raises(Invalid) as e:
        exchange.build(db, actor=w.consumer, grant_id=grant.id, kind="delta")
    assert e.value.field == "kind"

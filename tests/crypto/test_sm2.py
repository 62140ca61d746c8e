"""SM2 signatures (GB/T 32918 with SM3) behind the provider seam, and the platform signing key at rest."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from gongshu.config import get_settings
from gongshu.crypto import sm2
from gongshu.crypto.sm4 import CryptoError
from gongshu.errors import Invalid

# Made independently with OpenSSL 3.0 (`openssl genpkey -algorithm SM2`, then
# `openssl dgst -sm3 -sign k.pem -sigopt distid:1234567812345678`): the interop anchor.
OPENSSL_PEM = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEkEcAavS+GMt96djXxlrh2TwPMd2i
Xzh36+jiVTsRB9SQpVW+vRBZRUj+pHs4/IY5C5je49OHLUn67LujCAHqeg==
-----END PUBLIC KEY-----
"""
OPENSSL_PUBLIC_HEX = ("049047006af4be18cb7de9d8d7c65ae1d93c0f31dda25f3877ebe8e2553b1107d4"
                      "90a555bebd10594548fea47b38fc86390b98dee3d3872d49faecbba30801ea7a")
OPENSSL_MESSAGE = "gongshu interop vector: 公数 SM2".encode()
OPENSSL_SIGNATURE = bytes.fromhex(
    "3045022100de7a0fa86d613a4fba4c6b523342fe314b81b9ecbb751a0fed3c8e8a21a405d5"
    "02206ec1ca94507f0d5f88ae9353b9cdf0466d2fc3684f1266c13ba59b2fd8f7766d")

# Made once with gmssl-pyx 2.1 (and checked with `openssl dgst -sm3 -verify`): a provider change that
# breaks compatibility with signatures already handed out fails here.
GMSSL_PUBLIC_HEX = ("04c4db5aec61a1587c43183665a70a0049e7e512561fe22ae186bca5453dfce4a0"
                    "41363707a20b74567f8daa063002b5950f70fbe0eda7268c88c0d6487b8c71b6")
GMSSL_MESSAGE = "公数 gongshu SM2 vector (GmSSL)".encode()
GMSSL_SIGNATURE = bytes.fromhex(
    "30450221008ec8736e3d19a67ea1ecc7f5ac4941c567d6e1a1d90f08b4362de4cb286f0b51"
    "022017917f350e5026f6faf12dc6a756fdcd7e0b601fdd1221bb22a89235177c5338")

MASTER = bytes.fromhex("ab" * 32)


@pytest.fixture
def platform(tmp_path, monkeypatch):
    """A data dir and data key of our own, read through Settings like the running platform does."""
    data = tmp_path / "data"
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(data))
    monkeypatch.setenv("GONGSHU_DATA_KEY", "ab" * 32)
    monkeypatch.delenv("GONGSHU_SIGNATURE_PROVIDER", raising=False)
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    yield data
    monkeypatch.undo()  # then leave the settings cache as other tests expect it: read from the real environment
    get_settings.cache_clear()
    get_settings()
    sm2.reset_provider_cache()


@pytest.fixture
def provider():
    return sm2.SoftwareSM2Provider(sm2.generate_key_pair())


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]


def test_r_sec_1_sign_verify_round_trip(provider):
    data = "共享数据包 manifest v1".encode()
    a, b = provider.sign(data), provider.sign(data)
    assert a != b  # SM2 uses a fresh random k per signature
    assert provider.verify(data, a) and provider.verify(data, b)
    assert sm2.verify(data, a, provider.public_key_hex())  # offline, with only the exported key
    assert sm2.verify(data, a, provider.public_key_pem())
    assert provider.algorithm == "SM2-SM3" and isinstance(provider, sm2.SignatureProvider)


def test_signature_is_der_sequence_of_two_integers(provider):
    sig = provider.sign(b"x")
    r, s = decode_dss_signature(sig)  # raises unless SEQUENCE { INTEGER, INTEGER } with nothing after
    assert 0 < r < sm2.CURVE_ORDER and 0 < s < sm2.CURVE_ORDER
    assert encode_dss_signature(r, s) == sig and sig[0] == 0x30 and sig[1] == len(sig) - 2


def test_tampered_data_or_signature_fails(provider):
    data = b"evidence package"
    sig = provider.sign(data)
    r, s = decode_dss_signature(sig)
    other = sm2.SoftwareSM2Provider(sm2.generate_key_pair())
    assert not provider.verify(data + b".", sig)
    assert not provider.verify(_flip(data, 0), sig)
    assert not provider.verify(data, _flip(sig, len(sig) - 1))  # last byte of s
    assert not provider.verify(data, sig[:-1])
    assert not provider.verify(data, sig + b"\x00")  # trailing garbage
    assert not provider.verify(data, r.to_bytes(32, "big") + s.to_bytes(32, "big"))  # raw r‖s, not DER
    assert not provider.verify(data, encode_dss_signature(r, sm2.CURVE_ORDER - s))
    assert not provider.verify(data, b"")
    assert not provider.verify(data, sig, other.public_key_hex())
    assert not sm2.verify(data, sig, provider.public_key_hex(), user_id=b"ALICE123@YAHOO.COM")


def test_non_minimal_der_is_refused(provider):
    """Strict DER: a BER-style long-form length makes a second encoding of the same (r, s)."""
    sig = provider.sign(b"m")
    assert sig[1] < 0x80
    ber = b"\x30\x81" + bytes([sig[1]]) + sig[2:]
    assert not sm2.is_der_signature(ber) and not provider.verify(b"m", ber)


def test_r_sec_1_interop_vector_made_by_openssl():
    assert sm2.public_key_hex(OPENSSL_PEM) == OPENSSL_PUBLIC_HEX
    assert sm2.public_key_pem(OPENSSL_PUBLIC_HEX) == OPENSSL_PEM
    assert sm2.verify(OPENSSL_MESSAGE, OPENSSL_SIGNATURE, OPENSSL_PEM)
    assert sm2.verify(OPENSSL_MESSAGE, OPENSSL_SIGNATURE, OPENSSL_PUBLIC_HEX)
    assert not sm2.verify(OPENSSL_MESSAGE[:-1], OPENSSL_SIGNATURE, OPENSSL_PEM)
    assert sm2.key_id(OPENSSL_PEM) == sm2.key_id(OPENSSL_PUBLIC_HEX)
    assert len(sm2.key_id(OPENSSL_PEM)) == 16


def test_r_sec_1_interop_vector_made_by_gmssl():
    assert sm2.verify(GMSSL_MESSAGE, GMSSL_SIGNATURE, GMSSL_PUBLIC_HEX)
    assert not sm2.verify(GMSSL_MESSAGE, _flip(GMSSL_SIGNATURE, 10), GMSSL_PUBLIC_HEX)
    assert not sm2.verify(GMSSL_MESSAGE, GMSSL_SIGNATURE, OPENSSL_PUBLIC_HEX)


def _openssl_has_sm2() -> bool:
    if not shutil.which("openssl"):
        return False
    r = subprocess.run(["openssl", "list", "-public-key-algorithms"], capture_output=True, text=True)
    return "SM2" in r.stdout or "sm2" in r.stdout


@pytest.mark.skipif(not _openssl_has_sm2(), reason="the openssl command with SM2 is not installed")
def test_openssl_verifies_our_signature_with_our_pem(provider, tmp_path):
    data = "由 gongshu 签名".encode()
    (tmp_path / "pub.pem").write_text(provider.public_key_pem())
    (tmp_path / "msg").write_bytes(data)
    (tmp_path / "sig").write_bytes(provider.sign(data))
    cmd = ["openssl", "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"),
           "-sigopt", "distid:1234567812345678", "-signature", str(tmp_path / "sig"), str(tmp_path / "msg")]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "msg").write_bytes(data + b"!")
    assert subprocess.run(cmd, capture_output=True, text=True).returncode != 0


def test_public_key_forms_and_malformed_keys():
    raw = bytes.fromhex(OPENSSL_PUBLIC_HEX[2:])
    x, y = raw[:32], raw[32:]
    compressed = bytes([2 + (y[-1] & 1)]) + x
    for form in (raw, b"\x04" + raw, compressed, OPENSSL_PUBLIC_HEX, OPENSSL_PUBLIC_HEX.upper(), OPENSSL_PEM):
        assert sm2.public_key_bytes(form) == raw
    not_on_curve = "04" + x.hex() + _flip(y, 31).hex()
    truncated_pem = OPENSSL_PEM.replace("CAHqeg==", "")
    for bad in ("", "zz", OPENSSL_PUBLIC_HEX[:-2], not_on_curve, truncated_pem, b"\x05" + raw):
        with pytest.raises(Invalid) as e:
            sm2.public_key_bytes(bad)
        assert e.value.message and e.value.message_en and e.value.field == "public_key"
    with pytest.raises(Invalid):
        sm2.verify(b"x", OPENSSL_SIGNATURE, not_on_curve)


def test_key_file_is_created_once_0600_encrypted_and_reloads_the_same_key(platform):
    first = sm2.signature_provider()
    path = platform / sm2.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["public_key"] == first.public_key_hex() and doc["key_id"] == first.key_id
    assert doc["key_id"] == sm2.key_id(first.public_key_hex())
    private_hex = sm2.load_key_pair(path, master=MASTER).private_key.hex()
    assert private_hex not in path.read_text()  # only under SM4-GCM
    assert sm2.signature_provider() is first  # built once
    sig = first.sign(b"checkpoint 1")

    sm2.reset_provider_cache()
    again = sm2.signature_provider()
    assert again is not first
    assert again.public_key_pem() == first.public_key_pem() and again.key_id == first.key_id
    assert again.verify(b"checkpoint 1", sig)
    assert first.verify(b"checkpoint 2", again.sign(b"checkpoint 2"))


def test_wrong_data_key_cannot_load_the_signing_key(platform, monkeypatch):
    sm2.signature_provider()
    monkeypatch.setenv("GONGSHU_DATA_KEY", "cd" * 32)
    get_settings.cache_clear()
    with pytest.raises(CryptoError) as e:
        sm2.signature_provider()
    assert "GONGSHU_DATA_KEY" in e.value.message and "GONGSHU_DATA_KEY" in e.value.message_en
    assert str(platform / sm2.KEY_FILE) in e.value.message
    assert "data key" in e.value.message_en


def test_edited_or_garbled_key_file_is_refused(tmp_path):
    path = tmp_path / sm2.KEY_FILE
    assert sm2.save_key_pair(path, sm2.generate_key_pair(), master=MASTER)
    doc = json.loads(path.read_text())
    doc["public_key"] = GMSSL_PUBLIC_HEX  # swap in someone else's public key
    path.write_text(json.dumps(doc))
    with pytest.raises(CryptoError) as e:
        sm2.load_key_pair(path, master=MASTER)
    assert "不匹配" in e.value.message and "do not match" in e.value.message_en
    path.write_text("{not json")
    with pytest.raises(CryptoError) as e:
        sm2.load_key_pair(path, master=MASTER)
    assert str(path) in e.value.message and "malformed" in e.value.message_en


def test_first_writer_wins(tmp_path):
    path = tmp_path / "k" / sm2.KEY_FILE
    a, b = sm2.generate_key_pair(), sm2.generate_key_pair()
    assert sm2.save_key_pair(path, a, master=MASTER) is True
    assert sm2.save_key_pair(path, b, master=MASTER) is False
    assert sm2.load_or_create_key_pair(path, master=MASTER) == a
    assert [p.name for p in path.parent.iterdir()] == [sm2.KEY_FILE]  # no temporary file left


class _StandInModule:
    """Stands in for a hardware module: its own key, reached only through the provider interface."""

    name = "test-module"
    algorithm = sm2.ALGORITHM

    def __init__(self, settings):
        self._inner = sm2.SoftwareSM2Provider(sm2.generate_key_pair())
        self.settings = settings
        self.signed = 0

    @property
    def key_id(self):
        return self._inner.key_id

    def public_key_hex(self):
        return self._inner.public_key_hex()

    def public_key_pem(self):
        return self._inner.public_key_pem()

    def sign(self, data):
        self.signed += 1
        return self._inner.sign(data)

    def verify(self, data, signature, public_key=None):
        return self._inner.verify(data, signature, public_key)


def test_provider_is_chosen_by_configuration(platform, monkeypatch):
    assert sm2.signature_provider().name == "software"
    monkeypatch.setitem(sm2.PROVIDERS, "test-module", _StandInModule)
    monkeypatch.setenv("GONGSHU_SIGNATURE_PROVIDER", "test-module")
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    module = sm2.signature_provider()
    assert isinstance(module, _StandInModule) and module.settings.signature_provider == "test-module"
    sig = module.sign(b"package")
    assert module.signed == 1 and sm2.verify(b"package", sig, module.public_key_pem())

    monkeypatch.setenv("GONGSHU_SIGNATURE_PROVIDER", "no-such-module")
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    with pytest.raises(CryptoError) as e:
        sm2.signature_provider()
    assert "no-such-module" in e.value.message and "software" in e.value.message_en


def test_a_provider_missing_the_interface_is_refused(platform, monkeypatch):
    monkeypatch.setitem(sm2.PROVIDERS, "broken", lambda settings: object())
    monkeypatch.setenv("GONGSHU_SIGNATURE_PROVIDER", "broken")
    get_settings.cache_clear()
    sm2.reset_provider_cache()
    with pytest.raises(CryptoError) as e:
        sm2.signature_provider()
    assert "SignatureProvider" in e.value.message_en

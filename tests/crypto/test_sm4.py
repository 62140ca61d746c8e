"""SM4 (GB/T 32907) and the SM4-GCM envelope for secrets at rest (R-AGG-2: pull credentials encrypted)."""

from __future__ import annotations

import os
import stat

import pytest

from gongshu.crypto import sm4
from gongshu.crypto.sm4 import CryptoError

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_gbt_32907_example_vector():
    """The standard's example: key = plaintext = 0123…3210 → 681edf34d206965e86b3e94f536e4246."""
    assert sm4.ecb_block(KEY, KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_gcm_round_trip_layout_and_fresh_nonces():
    master = os.urandom(32)
    a = sm4.encrypt(b"postgresql://u:pw@h/db", purpose="ingest.pull.url", key=master)
    b = sm4.encrypt(b"postgresql://u:pw@h/db", purpose="ingest.pull.url", key=master)
    assert len(a) == sm4.NONCE_BYTES + len(b"postgresql://u:pw@h/db") + sm4.TAG_BYTES
    assert a != b and b"pw@h" not in a
    assert sm4.decrypt(a, purpose="ingest.pull.url", key=master) == b"postgresql://u:pw@h/db"


def test_tampering_wrong_purpose_or_wrong_key_cannot_open():
    master = os.urandom(32)
    blob = sm4.encrypt(b"secret", purpose="p1", key=master)
    flipped = blob[:15] + bytes([blob[15] ^ 1]) + blob[16:]
    for bad in (lambda: sm4.decrypt(flipped, purpose="p1", key=master),
                lambda: sm4.decrypt(blob, purpose="p2", key=master),
                lambda: sm4.decrypt(blob, purpose="p1", key=os.urandom(32)),
                lambda: sm4.decrypt(blob[:10], purpose="p1", key=master)):
        with pytest.raises(CryptoError) as e:
            bad()
        assert e.value.message and e.value.message_en


def test_per_purpose_keys_differ():
    master = os.urandom(32)
    assert sm4.derive_key("a", master=master) != sm4.derive_key("b", master=master)
    assert len(sm4.derive_key("a", master=master)) == 16


def test_key_file_is_generated_once_with_mode_0600(tmp_path):
    path = tmp_path / "data" / "data.key"
    first = sm4.load_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    assert sm4.load_or_create_key_file(path) == first


def test_data_key_from_environment_and_malformed_key_refused(monkeypatch):
    monkeypatch.setenv("GONGSHU_DATA_KEY", "ab" * 16)
    assert sm4.data_key() == bytes.fromhex("ab" * 16)
    blob = sm4.encrypt(b"x", purpose="t")
    monkeypatch.setenv("GONGSHU_DATA_KEY", "cd" * 16)
    with pytest.raises(CryptoError):
        sm4.decrypt(blob, purpose="t")
    monkeypatch.setenv("GONGSHU_DATA_KEY", "not-hex-and-short")
    with pytest.raises(CryptoError) as e:
        sm4.data_key()
    assert "32" in e.value.message

"""SM4-GCM (GB/T 32907 block cipher in Galois/Counter Mode) for secrets at rest, from ``cryptography``.

A blob is ``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``. The key is never used directly: one
128-bit key per *purpose* (``"ingest.pull.url"``, ``"backup"`` …) is derived with HKDF over SM3 from
the platform data key, and the purpose is also bound as associated data, so a blob made for one
purpose cannot be opened (or swapped in) for another.

The platform data key comes from ``GONGSHU_DATA_KEY`` (hex, at least 32 characters = 128 bits) or,
when that is empty, from ``data_dir/data.key``, generated once (256 random bits, file mode 0600).
Losing the data key makes every stored secret unreadable: back it up with the database.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gongshu.config import get_settings
from gongshu.errors import GongshuError

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_FILE = "data.key"
ENV_VAR = "GONGSHU_DATA_KEY"
_SALT = b"gongshu/sm4-gcm/v1"


class CryptoError(GongshuError):
    """The data key is missing or malformed, or a blob cannot be opened (tampered, wrong key/purpose)."""

    status = 500
    code = "crypto"


def _parse_hex(value: str, where: str) -> bytes:
    value = value.strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise CryptoError(f"数据密钥（{where}）应为至少 32 位十六进制字符",
                          f"The data key ({where}) must be at least 32 hexadecimal characters")
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """The data key kept in ``path``; generated once (mode 0600) when the file does not exist."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    return _parse_hex(path.read_text(encoding="ascii"), str(path))


def data_key() -> bytes:
    """The platform data key: setting ``data_key`` / env ``GONGSHU_DATA_KEY``, else the key file."""
    settings = get_settings()
    configured = getattr(settings, "data_key", "") or os.environ.get(ENV_VAR, "")
    if configured:
        return _parse_hex(configured, ENV_VAR)
    return load_or_create_key_file(Path(settings.data_dir) / KEY_FILE)


def derive_key(purpose: str, *, master: bytes | None = None) -> bytes:
    """The 128-bit SM4 key for ``purpose``: HKDF-SM3(master, salt, info=purpose)."""
    if not purpose:
        raise ValueError("purpose is required")
    hkdf = HKDF(algorithm=hashes.SM3(), length=16, salt=_SALT, info=purpose.encode())
    return hkdf.derive(master if master is not None else data_key())


def encrypt(plain: bytes, *, purpose: str, key: bytes | None = None) -> bytes:
    """SM4-GCM with a fresh random nonce: ``nonce ‖ ciphertext ‖ tag``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    enc = Cipher(algorithms.SM4(derive_key(purpose, master=key)), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(purpose.encode())
    body = enc.update(plain) + enc.finalize()
    return nonce + body + enc.tag


def decrypt(blob: bytes, *, purpose: str, key: bytes | None = None) -> bytes:
    """Open a blob made by :func:`encrypt` for the same purpose; :class:`CryptoError` if it cannot be."""
    blob = bytes(blob)
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError("密文过短，已损坏", "The encrypted value is too short (corrupted)")
    nonce, body, tag = blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(derive_key(purpose, master=key)), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(purpose.encode())
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag:
        raise CryptoError("无法解密：数据密钥不符或密文已被篡改",
                          "Cannot decrypt: wrong data key, or the value was tampered with") from None


def ecb_block(key: bytes, block: bytes) -> bytes:
    """One raw SM4 block encryption (ECB), for pinning the GB/T 32907 interop vector only."""
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - single-block test vector
    return enc.update(block) + enc.finalize()

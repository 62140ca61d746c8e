"""SM2 signatures (GB/T 32918, with SM3) behind a small provider seam, and the platform signing key.

A :class:`SignatureProvider` signs bytes and verifies signatures; the configured one is returned by
:func:`signature_provider` (setting ``signature_provider``, env ``GONGSHU_SIGNATURE_PROVIDER``).
``"software"`` is :class:`SoftwareSM2Provider` on ``gmssl-pyx`` (GmSSL). A certified hardware module
(密码机 / 签名服务器) replaces it by registering a factory under another name — in code with
:func:`register_provider`, or from an installed package through the entry-point group
``gongshu.signature_providers`` — and setting that name.

Conventions every provider keeps, so signatures verify anywhere (OpenSSL 3, GmSSL, BouncyCastle):

- the signer ID is the default ``1234567812345678`` (GM/T 0009) and enters the SM3 hash as Z;
- a signature is DER: ``SEQUENCE { INTEGER r, INTEGER s }`` (strict DER is required on verify);
- a public key is exported as hex of the uncompressed point ``04 ‖ x ‖ y`` (130 characters) or as a
  PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo, id-ecPublicKey on curve SM2 1.2.156.10197.1.301);
- its key ID is the first 16 hex characters of SM3(``04 ‖ x ‖ y``).

The software key pair is generated on first use into ``data_dir/sm2-signing.key`` (mode 0600): a
JSON file with the public key in clear and the private key (with the public key, bound together)
under SM4-GCM with a key derived for the purpose ``crypto.sm2.signing-key`` from the platform data
key (:mod:`gongshu.crypto.sm4`). Losing the data key makes the signing key unusable; a new one is
then needed and its public key must be handed out again.

GmSSL writes a line to stderr when a verification fails; the result is still a plain ``False``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

import gmssl_pyx
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from gongshu.config import Settings, get_settings
from gongshu.crypto import sm4
from gongshu.crypto.sm4 import CryptoError
from gongshu.errors import Invalid
from gongshu.kit.hashing import sm3

ALGORITHM = "SM2-SM3"
DEFAULT_USER_ID = b"1234567812345678"
KEY_FILE = "sm2-signing.key"
KEY_FILE_FORMAT = "gongshu-sm2-key/1"
PURPOSE = "crypto.sm2.signing-key"
ENTRY_POINT_GROUP = "gongshu.signature_providers"
#: order n of the SM2 curve: r and s of a valid signature lie in [1, n-1]
CURVE_ORDER = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
#: DER SubjectPublicKeyInfo up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING 00 04 … }
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
_PEM_BEGIN, _PEM_END = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"


@runtime_checkable
class SignatureProvider(Protocol):
    """What the platform needs from a signer. Implementations: software (here) or a hardware module."""

    #: the configuration name (``"software"``, ``"hsm-vendor"`` …)
    name: str
    #: always ``"SM2-SM3"`` for now (signature algorithm with its hash)
    algorithm: str

    @property
    def key_id(self) -> str:
        """Short hex ID of the signing public key (first 16 hex of SM3 of ``04 ‖ x ‖ y``)."""
        ...

    def public_key_hex(self) -> str:
        """The signing public key as hex of ``04 ‖ x ‖ y``."""
        ...

    def public_key_pem(self) -> str:
        """The signing public key as a PEM ``PUBLIC KEY`` block (SubjectPublicKeyInfo)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The DER signature of ``data`` (SM3 with Z of the default signer ID)."""
        ...

    def verify(self, data: bytes, signature: bytes, public_key: str | bytes | None = None) -> bool:
        """Whether ``signature`` is valid for ``data`` under ``public_key`` (default: this provider's key)."""
        ...


# --- public keys and signatures (usable offline, without any provider) ---

def public_key_bytes(value: str | bytes) -> bytes:
    """The 64-byte point ``x ‖ y`` of an SM2 public key given as PEM, hex or bytes (64, 65 or 33 bytes).

    :class:`Invalid` when it is not a point on the SM2 curve.
    """
    raw: bytes | str = value
    if isinstance(value, str) and _PEM_BEGIN in value:
        body = value.split(_PEM_BEGIN, 1)[1].split(_PEM_END, 1)[0]
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except binascii.Error:
            der = b""
        if len(der) != len(_SPKI_PREFIX) + 64 or not der.startswith(_SPKI_PREFIX):
            raise Invalid("公钥不是 SM2 曲线的 PEM 公钥（SubjectPublicKeyInfo）",
                          "The PEM is not an SM2 public key (SubjectPublicKeyInfo on curve SM2)", field="public_key")
        raw = der[len(_SPKI_PREFIX):]
    elif isinstance(value, str):
        raw = value.strip()
    try:
        return gmssl_pyx.normalize_sm2_public_key(raw)
    except gmssl_pyx.InvalidValueError:
        raise Invalid("公钥格式不正确：应为 SM2 曲线上的点（十六进制 04‖x‖y，或 PEM）",
                      "Malformed public key: expected a point on the SM2 curve (hex 04‖x‖y, or PEM)",
                      field="public_key") from None


def public_key_hex(public_key: str | bytes) -> str:
    return "04" + public_key_bytes(public_key).hex()


def public_key_pem(public_key: str | bytes) -> str:
    b64 = base64.b64encode(_SPKI_PREFIX + public_key_bytes(public_key)).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "\n".join([_PEM_BEGIN, *lines, _PEM_END]) + "\n"


def key_id(public_key: str | bytes) -> str:
    """First 16 hex characters of SM3(``04 ‖ x ‖ y``): names a key in signed packages and logs."""
    return sm3(b"\x04" + public_key_bytes(public_key)).hex()[:16]


def is_der_signature(signature: bytes) -> bool:
    """Strict DER ``SEQUENCE { INTEGER r, INTEGER s }`` with 1 ≤ r, s < n (no trailing bytes, minimal)."""
    try:
        r, s = decode_dss_signature(bytes(signature))
    except (ValueError, TypeError):
        return False
    return 0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER and encode_dss_signature(r, s) == bytes(signature)


def verify(data: bytes, signature: bytes, public_key: str | bytes, *, user_id: bytes = DEFAULT_USER_ID) -> bool:
    """Software verification of an SM2 signature — what a consumer does offline with the public key."""
    point = public_key_bytes(public_key)
    if not is_der_signature(signature):
        return False
    try:
        return bool(gmssl_pyx.sm2_verify(point, bytes(data), bytes(signature), signer_id=user_id))
    except gmssl_pyx.GmsslInnerError:
        return False


# --- the software key pair and its file ---

@dataclass(frozen=True)
class KeyPair:
    public_key: bytes  # 64 bytes x ‖ y
    private_key: bytes = field(repr=False)  # 32 bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)


def generate_key_pair() -> KeyPair:
    public, private = gmssl_pyx.sm2_key_generate()
    return KeyPair(public_key=bytes(public), private_key=bytes(private))


def _key_document(pair: KeyPair, *, master: bytes | None) -> bytes:
    blob = sm4.encrypt(pair.private_key + pair.public_key, purpose=PURPOSE, key=master)
    return (json.dumps({
        "format": KEY_FILE_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": pair.key_id,
        "public_key": public_key_hex(pair.public_key),
        "private_key_sm4_gcm": blob.hex(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=2) + "\n").encode("ascii")


def save_key_pair(path: Path, pair: KeyPair, *, master: bytes | None = None) -> bool:
    """Write ``pair`` to ``path`` (mode 0600) unless the file exists; True if this call wrote it.

    The file appears complete or not at all (written aside, then hard-linked into place).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_key_document(pair, master=master))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def load_key_pair(path: Path, *, master: bytes | None = None) -> KeyPair:
    """Read and open the key file; :class:`CryptoError` naming the file when it cannot be used."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="ascii"))
        if doc.get("format") != KEY_FILE_FORMAT:
            raise ValueError(doc.get("format"))
        blob = bytes.fromhex(doc["private_key_sm4_gcm"])
        stated = public_key_bytes(doc["public_key"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, Invalid) as exc:
        raise CryptoError(f"SM2 签名密钥文件 {path} 无法读取或格式不正确（{type(exc).__name__}）",
                          f"The SM2 signing key file {path} cannot be read or is malformed "
                          f"({type(exc).__name__})") from None
    try:
        plain = sm4.decrypt(blob, purpose=PURPOSE, key=master)
    except CryptoError:
        raise CryptoError(
            f"无法打开 SM2 签名私钥 {path}：平台数据密钥（GONGSHU_DATA_KEY 或 data.key）与生成该密钥时不同，"
            "或文件已被篡改。请恢复原数据密钥；若已丢失，须删除该文件重新生成并重新分发公钥",
            f"Cannot open the SM2 signing key {path}: the platform data key (GONGSHU_DATA_KEY or data.key) "
            "differs from the one it was made with, or the file was tampered with. Restore the data key; "
            "if it is lost, delete the file to generate a new key and hand out the new public key") from None
    pair = KeyPair(public_key=plain[32:], private_key=plain[:32])
    if len(plain) != 96 or pair.public_key != stated or doc.get("key_id") != pair.key_id:
        raise CryptoError(f"SM2 签名密钥文件 {path} 中的公钥与私钥不匹配",
                          f"The SM2 signing key file {path}: public key and private key do not match")
    return pair


def load_or_create_key_pair(path: Path, *, master: bytes | None = None) -> KeyPair:
    """The key pair in ``path``, generated once when the file does not exist (first writer wins)."""
    path = Path(path)
    if not path.exists():
        save_key_pair(path, generate_key_pair(), master=master)
    return load_key_pair(path, master=master)


# --- the software provider ---

class SoftwareSM2Provider:
    """SM2 in software (gmssl-pyx / GmSSL); the private key lives in this process's memory."""

    name = "software"
    algorithm = ALGORITHM

    def __init__(self, pair: KeyPair, *, user_id: bytes = DEFAULT_USER_ID) -> None:
        self._pair = pair
        self._user_id = user_id

    @classmethod
    def from_settings(cls, settings: Settings) -> SoftwareSM2Provider:
        """The key pair in ``settings.data_dir/sm2-signing.key``, opened with the platform data key
        (:func:`gongshu.crypto.sm4.data_key`)."""
        return cls(load_or_create_key_pair(Path(settings.data_dir) / KEY_FILE, master=sm4.data_key()))

    @property
    def key_id(self) -> str:
        return self._pair.key_id

    def public_key_hex(self) -> str:
        return public_key_hex(self._pair.public_key)

    def public_key_pem(self) -> str:
        return public_key_pem(self._pair.public_key)

    def sign(self, data: bytes) -> bytes:
        try:
            return bytes(gmssl_pyx.sm2_sign(self._pair.private_key, self._pair.public_key, bytes(data),
                                            signer_id=self._user_id))
        except gmssl_pyx.GmsslInnerError as exc:
            raise CryptoError("SM2 签名失败", f"SM2 signing failed ({exc})") from None

    def verify(self, data: bytes, signature: bytes, public_key: str | bytes | None = None) -> bool:
        return verify(data, signature, self._pair.public_key if public_key is None else public_key,
                      user_id=self._user_id)

    def __repr__(self) -> str:
        return f"SoftwareSM2Provider(key_id={self.key_id!r})"


# --- choosing the provider by configuration ---

ProviderFactory = Callable[[Settings], SignatureProvider]
PROVIDERS: dict[str, ProviderFactory] = {"software": SoftwareSM2Provider.from_settings}
_cache: dict[tuple[str, ...], SignatureProvider] = {}
_lock = threading.Lock()


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``factory(settings)`` available as ``signature_provider = name`` (e.g. a hardware module)."""
    PROVIDERS[name] = factory
    reset_provider_cache()


def reset_provider_cache() -> None:
    with _lock:
        _cache.clear()


def _factory(name: str) -> ProviderFactory:
    if name in PROVIDERS:
        return PROVIDERS[name]
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if found:
        return found[0].load()
    known = sorted({*PROVIDERS, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})
    raise CryptoError(f"未知的签名提供者 GONGSHU_SIGNATURE_PROVIDER={name!r}；可用：{'、'.join(known)}",
                      f"Unknown signature provider GONGSHU_SIGNATURE_PROVIDER={name!r}; "
                      f"available: {', '.join(known)}")


def signature_provider() -> SignatureProvider:
    """The configured provider, built once per (name, data dir, data key setting) and then reused."""
    settings = get_settings()
    name = settings.signature_provider
    cache_key = (name, str(Path(settings.data_dir).resolve()), settings.data_key,
                 os.environ.get(sm4.ENV_VAR, ""))
    with _lock:
        provider = _cache.get(cache_key)
        if provider is None:
            provider = _factory(name)(settings)
            if not isinstance(provider, SignatureProvider):
                raise CryptoError(f"签名提供者 {name!r} 未实现 SignatureProvider 接口",
                                  f"Signature provider {name!r} does not implement SignatureProvider")
            _cache[cache_key] = provider
    return provider

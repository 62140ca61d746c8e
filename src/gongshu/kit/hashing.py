"""SM3 (GB/T 32905) hashing from the ``cryptography`` package."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hashes


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_hex(data: bytes) -> str:
    return sm3(data).hex()


def canonical_json(value: Any) -> bytes:
    """Stable JSON bytes (sorted keys, no spaces, UTF-8) for digests."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def digest(value: Any) -> str | None:
    """SM3 hex digest of a JSON-able value; None stays None."""
    if value is None:
        return None
    return sm3_hex(canonical_json(value))

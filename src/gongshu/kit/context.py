"""Per-request context (request id) carried through services without threading it by hand."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("gongshu_request_id", default=None)


def current_request_id() -> str:
    rid = request_id_var.get()
    if rid is None:
        rid = "local-" + uuid.uuid4().hex[:12]
        request_id_var.set(rid)
    return rid


def new_request_id() -> str:
    rid = uuid.uuid4().hex
    request_id_var.set(rid)
    return rid

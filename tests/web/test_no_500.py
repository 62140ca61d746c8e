"""Bad input never gives a 500: every GET route, as every role and as the public, with real,
missing and malformed ids and garbage query parameters, answers below 500."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from tests.factories import login

ODD_QUERY = {"page": "-1", "size": "99999", "q": "\x00' OR 1=1 --", "since": "2026-13-45", "from": "x", "to": "y",
             "version": "abc", "entry_id": "zz", "status": "nonsense", "scope": "../../etc", "kind": "x"}


def _paths(app) -> list[str]:
    out = []
    for r in app.routes:
        if isinstance(r, APIRoute) and "GET" in r.methods and not r.path.startswith(("/docs", "/openapi", "/lang")):
            out.append(r.path)
    return sorted(set(out))


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.mark.parametrize("roles,kind", [
    (None, None), (("dept_officer",), "department"), (("authority_reviewer",), "authority"),
    (("authority_admin",), "authority"), (("auditor",), "authority"),
])
def test_no_get_route_answers_500(app, client, f, db, roles, kind):
    if roles:
        user = f.user(f.org(kind=kind), roles)
        db.commit()
        login(client, user)
    bad = []
    for path in _paths(app):
        for value in ("1", "999999", "x%20y", "-5"):
            url = _fill(path, value)
            for params in ({}, ODD_QUERY):
                r = client.get(url, params=params, follow_redirects=False)
                if r.status_code >= 500:
                    bad.append(f"{r.status_code} GET {url} {params and 'odd-query'}")
    assert not bad, "\n".join(bad)


def _writes(app) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        if isinstance(r, APIRoute):
            for m in r.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                if r.path not in ("/login", "/logout"):
                    out.append((m, r.path))
    return sorted(set(out))


@pytest.mark.parametrize("roles,kind", [(("dept_officer",), "department"), (("authority_admin",), "authority"),
                                        (("authority_reviewer",), "authority")])
def test_no_write_route_answers_500_on_garbage(app, client, f, db, roles, kind):
    user = f.user(f.org(kind=kind), roles)
    db.commit()
    csrf = login(client, user)
    headers = {"X-CSRF-Token": csrf}
    bad = []
    for method, path in _writes(app):
        for value in ("1", "999999", "x"):
            url = _fill(path, value)
            for kwargs in ({"content": b"{not json", "headers": {**headers, "content-type": "application/json"}},
                           {"json": {"unexpected": ["x"], "items": "nope", "year": "MMXXVII"}, "headers": headers},
                           {"data": {"csrf_token": csrf, "name": "\x00" * 3, "days": "many", "year": "x"}},
                           {"files": {"file": ("x.xlsx", b"PK\x03\x04garbage")}, "data": {"csrf_token": csrf}}):
                r = client.request(method, url, follow_redirects=False, **kwargs)
                if r.status_code >= 500:
                    bad.append(f"{r.status_code} {method} {url} {list(kwargs)}: {r.text[:200]}")
    assert not bad, "\n".join(bad)

"""Small make_* helpers for tests: real rows through the real services."""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from stdnum.cn import uscc as uscc_mod

from gongshu.auth import service as auth_service
from gongshu.auth.models import User
from gongshu.auth.service import SYSTEM, Actor

PASSWORD = "correct-horse-9"
_counter = itertools.count(1)


def make_uscc(n: int) -> str:
    """A valid USCC (GB 32100) built from a number: registration 1, type 1, region 441900."""
    org_code_body = f"{n:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    s = sum(int(c) * w for c, w in zip(org_code_body, weights, strict=True))
    check = 11 - s % 11
    org_code = org_code_body + ("X" if check == 10 else "0" if check == 11 else str(check))
    body = "11441900" + org_code
    return body + uscc_mod.calc_check_digit(body)


class Factory:
    def __init__(self, session: Session) -> None:
        self.s = session

    def org(self, name: str | None = None, kind: str = "department", short: str | None = None):
        n = next(_counter)
        name = name or f"测试局{n}"
        return auth_service.create_org(self.s, actor=SYSTEM, name=name, short_name=short or name[:4], kind=kind,
                                       uscc=make_uscc(900000 + n))

    def user(self, org=None, roles: tuple[str, ...] = ("dept_officer",), username: str | None = None) -> User:
        org = org or self.org()
        n = next(_counter)
        return auth_service.create_user(self.s, actor=SYSTEM, username=username or f"user{n}", display_name=f"用户{n}",
                                        org_id=org.id, password=PASSWORD, roles=list(roles))

    def actor(self, org=None, roles: tuple[str, ...] = ("dept_officer",), kind: str = "department") -> Actor:
        org = org or self.org(kind=kind)
        return auth_service.actor_for(self.s, self.user(org, roles))


def login(client: TestClient, user: User) -> str:
    """Log in through the real form; returns the CSRF token for later posts."""
    page = client.get("/login")
    token = page.cookies.get("gongshu_login_csrf") or client.cookies.get("gongshu_login_csrf")
    r = client.post("/login", data={"username": user.username, "password": PASSWORD, "login_csrf": token,
                                    "next": "/workbench"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get("/workbench")
    assert home.status_code == 200
    marker = 'name="csrf_token" value="'
    return home.text.split(marker, 1)[1].split('"', 1)[0]

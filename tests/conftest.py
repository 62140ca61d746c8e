"""Test harness: a real database built by the migrations, each test in a rolled-back transaction.

SQLite always; PostgreSQL when GONGSHU_TEST_DATABASE_URL is set (CI sets it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from gongshu import db as gdb
from gongshu.app import create_app
from gongshu.auth import service as auth_service
from gongshu.store import registry
from tests.factories import Factory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True, scope="session")
def cheap_passwords() -> Iterator[None]:
    """Test users' passwords hashed at the lowest argon2 cost: the default costs 0.1–0.4 s per user and most tests
    make several users; logins verify them as usual (servers started by the browser tests keep the default)."""
    default = auth_service._hasher
    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth_service._hasher = default


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = os.environ.get("GONGSHU_TEST_DATABASE_URL", "")
    if url:
        try:
            gdb.reset_postgres_database(url)
        except Exception as exc:  # unreachable PostgreSQL: fail under CI, explain elsewhere
            pytest.exit(f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable: {exc}",
                        returncode=3)
        eng = gdb.make_engine(url)
    else:
        path = tmp_path_factory.mktemp("db") / "test.db"
        eng = gdb.make_engine(f"sqlite:///{path}")
    gdb.upgrade(eng)
    gdb.set_engine(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions bound to one outer transaction: their commits are savepoints, rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    previous = gdb.session_factory()
    gdb.set_session_factory(factory)
    try:
        yield factory
    finally:
        gdb.set_session_factory(previous)
        outer.rollback()
        conn.close()


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    s = session_factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def f(db: Session) -> Factory:
    return Factory(db)


@pytest.fixture
def app(session_factory):
    return create_app(check_db=False, run_jobs=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def chromium_path() -> str | None:
    for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(p).exists():
            return p
    return shutil.which("chromium")


@pytest.fixture(autouse=True)
def resource_store(engine: Engine, tmp_path: Path) -> Iterator[None]:
    """Each test gets its own resource store (opened only if used) and files root: a SQLite file,
    or a fresh PostgreSQL schema next to the metadata tables."""
    schema = f"rd_t{uuid.uuid4().hex[:10]}"
    if is_postgres(engine):
        registry.configure(engine.url.render_as_string(hide_password=False), schema=schema)
    else:
        registry.configure(f"sqlite:///{tmp_path / 'resources'}")
    registry.set_files_root(tmp_path / "ingest")
    try:
        yield
    finally:
        store = registry.opened()
        if store is not None and store.dialect == "postgresql":
            with store.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        registry.configure(None)
        registry.set_files_root(None)

"""Engine, declarative Base and unit-of-work helpers.

Services receive a Session and never commit; the edge (request, CLI command, job)
owns the transaction through :func:`unit_of_work`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from gongshu.config import get_settings
from gongshu.errors import GongshuError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


#: connection execution option for a transaction that only reads: on SQLite it begins DEFERRED, so it never
#: queues for the write lock (WAL readers see the last commit); e.g. the sharing API's checks
READ_ONLY = "gongshu_read_only"


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The driver's own transaction handling is switched off so every transaction
        # starts with BEGIN IMMEDIATE: writers queue on the lock (busy_timeout) instead
        # of failing when a read transaction tries to upgrade to a write.
        engine = create_engine(url, connect_args={"check_same_thread": False, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    global _engine, _factory
    if _engine is None:
        _engine = make_engine(get_settings().resolved_database_url())
        _factory = sessionmaker(bind=_engine, expire_on_commit=False)
    return _engine


def set_engine(engine: Engine) -> None:
    """Point the process at another engine (tests, CLI --database)."""
    global _engine, _factory
    _engine = engine
    _factory = sessionmaker(bind=engine, expire_on_commit=False)


def set_session_factory(factory: sessionmaker[Session]) -> None:
    """Tests bind sessions to one outer transaction that they roll back."""
    global _factory
    _factory = factory


def session_factory() -> sessionmaker[Session]:
    if _factory is None:
        get_engine()
    assert _factory is not None
    return _factory


_read_only_engines: dict[Engine, Engine] = {}


def read_only_session() -> Session:
    """A session for a read-only unit of work of its own: on SQLite its transactions begin DEFERRED
    (:data:`READ_ONLY`), so it never queues for the write lock (a page's own transaction may hold it); a factory
    bound to a connection (the tests') joins that connection's transaction. Close it after use."""
    factory = session_factory()
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        return factory()
    ro = _read_only_engines.get(bind)
    if ro is None:
        ro = _read_only_engines[bind] = bind.execution_options(**{READ_ONLY: True})
    return factory(bind=ro)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Commit on success, roll back on any error: the edge owns the transaction."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class NotMigrated(GongshuError):
    status = 503
    code = "not_migrated"


def migration_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or str(get_engine().url.render_as_string(hide_password=False))).replace("%", "%%"))
    return cfg


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it is missing (an existing one is left alone)."""
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).scalar():
                conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    finally:
        admin.dispose()


def reset_postgres_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` if missing and empty its public schema.

    For the test suite and the benchmarks, which build every table by running the migrations.
    """
    ensure_postgres_database(url)
    eng = create_engine(make_url(url))
    try:
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        eng.dispose()


def check_migrated(engine: Engine) -> None:
    """Refuse to run on a database that is not at the latest migration."""
    have = current_revisions(engine)
    want = migration_heads()
    if have != want:
        raise NotMigrated(
            f"数据库尚未迁移到最新版本（当前 {sorted(have) or '空库'}，需要 {sorted(want)}）。请运行：gongshu db upgrade",
            f"The database is not migrated (at {sorted(have) or 'empty'}, need {sorted(want)}). Run: gongshu db upgrade",
        )


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

"""Engine, sessions and start-up migrations for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from iotcop.errors import InputError

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x10C0_9E61  # PostgreSQL advisory lock: one process migrates at a time
# A request that finds every connection taken gets 503 after this many seconds.  Sessions live only inside one
# request thread (see api.in_session), so the pool never runs dry while threads wait; this is a safety net.
POOL_TIMEOUT = 10


def normalise_url(url: str) -> str:
    """postgresql:// means the psycopg (3) driver; only SQLite and PostgreSQL are accepted."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(f"--db {url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InputError("--db: an in-memory SQLite database would lose every label; give a file path")
        return parsed.render_as_string(hide_password=False)
    raise InputError(f"--db {url!r}: only sqlite:/// and postgresql:// databases are supported")


def private_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only (it holds the CSRF secret and token hashes).

    SQLite gives the -wal and -shm files the mode of the database file, so they are private too.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if companion.exists() and companion.stat().st_mode & 0o077:
                os.chmod(companion, 0o600)
    except OSError as exc:
        raise InputError(f"{path}: cannot create the database file ({exc.strerror})") from None


def make_engine(url: str, pool_size: int = 24) -> Engine:
    """pool_size: at least the threads that can hold a session at once (request threads + scan workers)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        private_sqlite_file(Path(make_url(url).database))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=4, pool_timeout=POOL_TIMEOUT)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
            # FULL: a commit is on disk (WAL synced) before the client is told it is stored; NORMAL could lose
            # the last acknowledged labels on power loss.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # synchronous_commit=on for every registry connection, whatever the server's default: an acknowledged
    # publication is durable once PostgreSQL says it is committed.
    return create_engine(url, pool_size=pool_size, max_overflow=4, pool_timeout=POOL_TIMEOUT, pool_pre_ping=True,
                         connect_args={"options": "-c synchronous_commit=on"})


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (run at every start; a no-op when up to date)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

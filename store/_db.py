"""Engines and migrations. SQLite (WAL, BEGIN IMMEDIATE) by default, PostgreSQL by URL.

Two processes write one SQLite file (receiver and worker). A deferred transaction that reads
and then writes fails with "database is locked" when the other commits in between, busy
timeout or not; so every transaction here begins IMMEDIATE and stays short.

Waiting for the write lock is where SQLite's throughput went (a profile at 3,000 events/s:
the receiver spent 38 % of its wall time in BEGIN IMMEDIATE): SQLite's busy handler sleeps
in steps of up to 100 ms, so a lock released after 5 ms is taken 100 ms later. So:
- writers of one process queue on a process-wide lock first (`_WriteGate`): they take turns
  in order, without SQLite ever seeing them collide;
- against the other process, BEGIN IMMEDIATE is retried after 0.5–4 ms sleeps instead of the
  busy handler's long ones (the busy timeout still covers every other statement).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

__all__ = ["create_store_engine", "insert_for", "is_sqlite", "migrate", "private_dir", "read_only"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_READ_ONLY = "accolade_read_only"


def insert_for(conn: Connection, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect (SQLite or PostgreSQL)."""
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert(table)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get their folder, WAL and immediate transactions."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(url, parsed.database, **kwargs)
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def private_dir(path: Path, *, ours: bool = False) -> None:
    """Create `path` (and missing parents) readable by the owner only (0700).

    A folder that already exists keeps its mode, since it may be shared on purpose (a home,
    /var/lib), unless it is `ours` (`./.accolade/`): then it is narrowed to 0700 too.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask; chmod is not
    if ours:
        os.chmod(path, 0o700)


def _private_sqlite_files(database: str) -> None:
    """The store holds personal data (logins, emails): its files are the owner's only (0600).

    The file is created 0600 before SQLite opens it, whatever the umask; SQLite gives the
    -wal and -shm files it creates later the main file's mode. Files from older versions
    (0644) are narrowed.
    """
    path = Path(database)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # narrowed below; another process may have just created it
    for file in (path, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if file.exists():
            os.chmod(file, 0o600)


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        _private_sqlite_files(database)
    if database and database != ":memory:" and "mode=memory" not in url:
        # Keep connections: one opened past the pool is set up (PRAGMAs, and a schema parse on
        # its first statement) and thrown away again; py-spy showed that on the webhook path
        # with 16 requests in flight.
        kwargs = {"pool_size": 20, "max_overflow": 20, **kwargs}
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    gate = _WriteGate()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_READ_ONLY, False):
            connection.exec_driver_sql("BEGIN DEFERRED")
            return
        gate.enter(connection)
        try:
            _begin_immediate(connection.connection.driver_connection)
        except BaseException:
            gate.leave(connection)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        gate.leave(connection)

    return engine


class _WriteGate:
    """One write transaction at a time per engine (process), in arrival order.

    Entered on BEGIN, left on COMMIT or ROLLBACK of the same connection; a connection that
    never entered (a read-only transaction) leaves nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None

    def enter(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=_WRITE_WAIT):
            raise sqlite3.OperationalError("database is locked (waited for this process's writers)")
        self._holder = id(connection)

    def leave(self, connection: Any) -> None:
        if self._holder == id(connection):
            self._holder = None
            self._lock.release()


_WRITE_WAIT = 30.0  # seconds, as the busy timeout


def _begin_immediate(dbapi_connection: Any) -> None:
    """BEGIN IMMEDIATE, retried every few milliseconds while another process writes."""
    deadline = time.monotonic() + _WRITE_WAIT
    delay = 0.0005
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.004)
    finally:
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: on SQLite it does not take the write lock (WAL snapshot)."""
    with engine.connect() as conn:
        conn.execution_options(**{_READ_ONLY: True})
        with conn.begin():
            yield conn


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to call from several processes."""
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

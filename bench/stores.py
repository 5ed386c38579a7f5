"""The benchmark's stores: SQLite files in the run's folder, or fresh PostgreSQL databases.

`--store postgres` creates one database per store on the local server (as tests/conftest.py
does for each test) and drops it when the run ends, `WITH (FORCE)` so a connection a killed
process left behind does not keep it. `StoreProbe` reads counts from either while the hub
runs: autocommit reads, so it never holds a transaction (nor, on SQLite, the write lock).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["PG_ADMIN_URL", "BenchStores", "StoreProbe"]

PG_ADMIN_URL = os.environ.get("ACCOLADE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class BenchStores:
    """Creates the run's stores (`url(name)`) and removes the PostgreSQL ones at `drop_all()`."""

    def __init__(self, kind: str, folder: Path, *, admin_url: str = PG_ADMIN_URL) -> None:
        self.kind = kind
        self.folder = folder
        self.admin_url = admin_url
        self.databases: list[str] = []
        self.run_id = uuid.uuid4().hex[:8]

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / f'{name}.db'}"
        database = f"accolade_bench_{self.run_id}_{name}"
        self._admin(f'CREATE DATABASE "{database}"')
        self.databases.append(database)
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite files (WAL) in {self.folder}"
        host = make_url(self.admin_url)
        return f"PostgreSQL at {host.host}:{host.port or 5432}, fresh databases {', '.join(self.databases)}"

    def server_pids(self) -> list[int]:
        """PostgreSQL processes working for this run: our databases' backends and the server's
        background processes (WAL writer, checkpointer, …: server-wide, so a run that shares the
        server with other work counts some of theirs). None for SQLite, which runs in-process."""
        if self.kind == "sqlite" or not self.databases:
            return []
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND (datname = ANY(:databases) OR datname IS NULL)"), {"databases": self.databases})
                return [int(pid) for (pid,) in rows]
        finally:
            engine.dispose()

    def drop_all(self) -> None:
        while self.databases:
            self._admin(f'DROP DATABASE IF EXISTS "{self.databases.pop()}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()


def _timestamp(value: datetime | str) -> float:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class StoreProbe:
    """Read-only counts from a store, SQLite or PostgreSQL, by plain autocommit reads.

    The table names are the store's (`store/schema.py`): the one place to follow a schema change.
    """

    def __init__(self, url: str) -> None:
        args = {"timeout": 30, "check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args=args)
        self.lock = threading.Lock()

    def scalar(self, sql: str, **params: Any) -> int:
        with self.lock, self.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)

    def queued(self) -> int:
        """Events stored and not evaluated yet (the evaluators' backlog)."""
        return self.scalar("SELECT count(*) FROM event_queue")

    def processed(self) -> int:
        """Events evaluated so far, over every shard."""
        return self.scalar("SELECT coalesce(sum(processed), 0) FROM shard_state")

    def grant_count(self, achievement: str) -> int:
        return self.scalar("SELECT count(*) FROM grants WHERE achievement = :a", a=achievement)

    def grants(self, achievement: str) -> list[tuple[str, dict[str, Any], float]]:
        """(person, evidence, created_at as a Unix time) of every grant of `achievement`."""
        with self.lock, self.engine.connect() as conn:
            rows = conn.execute(text("SELECT person_id, evidence, created_at FROM grants "
                                     "WHERE achievement = :a"), {"a": achievement}).all()
        # SQLite hands JSON and timestamps back as text, psycopg as dict and datetime.
        return [(person, evidence if isinstance(evidence, dict) else json.loads(evidence),
                 _timestamp(created)) for person, evidence, created in rows]

    def size(self) -> int:
        """Bytes the store takes on disk (SQLite: the file and its WAL)."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            return sum(os.path.getsize(p) for p in (url.database, f"{url.database}-wal") if os.path.exists(p))
        return self.scalar("SELECT pg_database_size(current_database())")

    def close(self) -> None:
        self.engine.dispose()

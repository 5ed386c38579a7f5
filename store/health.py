"""Connector health rows: counters added in, poll cycles recorded, read back for status.

`add_health` adds increments (one upsert per connector; never a row per request). Poll
cycles write their outcome with `record_poll` inside the transaction of their last page, or
alone when a cycle fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from store._db import insert_for
from store.quarantine import safe_text
from store.schema import connector_health

__all__ = ["HealthDelta", "add_health", "health_rows", "record_poll"]

_COUNTERS = ("received", "accepted", "duplicate", "ignored", "quarantined", "rejected")
_ZERO = {name: 0 for name in (*_COUNTERS, "poll_cycles", "failures_in_row")}


@dataclass(frozen=True)
class HealthDelta:
    tenant: str
    connector: str
    counts: Mapping[str, int]
    last_event_at: datetime | None = None


def add_health(conn: Connection, deltas: Sequence[HealthDelta], *, now: datetime) -> None:
    for d in deltas:
        values = {**_ZERO, **{k: int(v) for k, v in d.counts.items() if k in _COUNTERS}}
        stmt = insert_for(conn, connector_health).values(
            tenant=d.tenant, connector=d.connector, last_event_at=d.last_event_at, updated_at=now, **values)
        c = connector_health.c
        update: dict[str, Any] = {name: c[name] + stmt.excluded[name] for name in _COUNTERS}
        update["updated_at"] = stmt.excluded.updated_at
        if d.last_event_at is not None:
            # the later of the two; NULL on one side keeps the other
            update["last_event_at"] = func.coalesce(
                func.max(c.last_event_at, stmt.excluded.last_event_at) if conn.dialect.name == "sqlite"
                else func.greatest(c.last_event_at, stmt.excluded.last_event_at),
                stmt.excluded.last_event_at)
        conn.execute(stmt.on_conflict_do_update(index_elements=["tenant", "connector"], set_=update))


def record_poll(conn: Connection, tenant: str, connector: str, *, now: datetime,
                pages: int | None = None, events: int | None = None,
                error: str | None = None, permanent: bool = False) -> None:
    """One finished poll cycle: success resets the failure streak; a failure extends it."""
    c = connector_health.c
    base = {**_ZERO, "tenant": tenant, "connector": connector, "updated_at": now}
    stmt = insert_for(conn, connector_health)
    if error is None:
        row = {**base, "poll_cycles": 1, "last_poll_at": now, "last_poll_pages": pages,
               "last_poll_events": events}
        update: dict[str, Any] = {"poll_cycles": c.poll_cycles + 1, "last_poll_at": now,
                                  "last_poll_pages": pages, "last_poll_events": events,
                                  "failures_in_row": 0, "updated_at": now}
    else:
        reason = safe_text(error, 1000)
        row = {**base, "failures_in_row": 1, "last_error": reason, "last_error_at": now,
               "last_error_permanent": permanent}
        update = {"failures_in_row": c.failures_in_row + 1, "last_error": reason,
                  "last_error_at": now, "last_error_permanent": permanent, "updated_at": now}
    stmt = stmt.values(**row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant", "connector"], set_=update))


def health_rows(conn: Connection, tenant: str) -> dict[str, dict[str, Any]]:
    """connector id → its health row as a dict (absent: nothing recorded yet)."""
    rows = conn.execute(select(connector_health).where(connector_health.c.tenant == tenant))
    return {row.connector: dict(row._mapping) for row in rows}

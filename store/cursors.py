"""Poll cursors of record: read before a cycle, advanced with the page that earned it.

`advance_cursor` runs inside the transaction that appends the page's events, so the cursor
never claims a record whose events are not stored (and a page stored is never asked for
from an older cursor than it earned, except by the overlap, which ids make harmless). It
never moves backwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select

from store._db import insert_for
from store.schema import poll_cursors

__all__ = ["advance_cursor", "read_cursor"]


def read_cursor(conn: Connection, tenant: str, connector: str) -> datetime | None:
    row = conn.execute(select(poll_cursors.c.position).where(
        poll_cursors.c.tenant == tenant, poll_cursors.c.connector == connector)).first()
    if row is None or row.position is None:
        return None
    position: datetime = row.position
    return position if position.tzinfo else position.replace(tzinfo=UTC)


def advance_cursor(conn: Connection, tenant: str, connector: str, position: datetime,
                   *, now: datetime) -> None:
    """Set the cursor to `position` unless it is already later."""
    current = read_cursor(conn, tenant, connector)
    if current is not None and current >= position:
        return
    stmt = insert_for(conn, poll_cursors).values(
        tenant=tenant, connector=connector, position=position, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["tenant", "connector"],
        set_={"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at}))

"""Connector incidents: at most one open per (tenant, connector, kind), each told exactly once.

An incident is opened (`open_incident`) and resolved (`resolve_incident`) by the watcher's
activity; its two notices (an event in the stream and an admin message) are guarded by
`notified_open_at` / `notified_resolved_at`: `claim_notice` sets the column only where it is
still empty, in the transaction that appends the event and writes the message, so a retried
activity finds it set and sends nothing twice (the pattern of the delivery record).

Delivery incidents (`activities.dead_letters`) share the table and its notice guard: their
`connector` column holds the channel id and their `kind` is `channel:<reason class>`
(`CHANNEL_KIND`). The connector functions (`open_incidents`, `unnotified`) leave them out;
`channel_incidents` reads them.

"At most one open" has no unique index (an open row is one whose `resolved_at` is NULL), so
opening checks and inserts under a lock: on PostgreSQL a transaction-scoped advisory lock on
(tenant, connector, kind); SQLite's write transactions begin IMMEDIATE and run one at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, select, text, update

from store.schema import connector_incidents, poll_cursors

__all__ = [
    "CHANNEL_KIND",
    "Incident",
    "channel_incidents",
    "claim_notice",
    "cursors",
    "open_incident",
    "open_incidents",
    "resolve_incident",
    "unnotified",
]

_I = connector_incidents.c
CHANNEL_KIND = "channel:"  # kind prefix of delivery incidents; the rest is the reason class
_CONNECTOR_ONLY = _I.kind.not_like(CHANNEL_KIND + "%")


@dataclass(frozen=True)
class Incident:
    id: int
    tenant: str
    connector: str
    kind: str
    detail: str
    opened_at: datetime
    resolved_at: datetime | None
    notified_open_at: datetime | None
    notified_resolved_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Incident:
        values = dict(row._mapping)
        for name in ("opened_at", "resolved_at", "notified_open_at", "notified_resolved_at"):
            if values[name] is not None and values[name].tzinfo is None:
                values[name] = values[name].replace(tzinfo=UTC)  # SQLite keeps no offset
        return cls(**values)


def open_incidents(conn: Connection, tenant: str) -> list[Incident]:
    rows = conn.execute(select(connector_incidents).where(
        _I.tenant == tenant, _I.resolved_at.is_(None), _CONNECTOR_ONLY).order_by(_I.id))
    return [Incident.of(r) for r in rows]


def channel_incidents(conn: Connection, tenant: str, channel: str) -> list[Incident]:
    """The open delivery incidents of one channel."""
    rows = conn.execute(select(connector_incidents).where(
        _I.tenant == tenant, _I.connector == channel, _I.kind.like(CHANNEL_KIND + "%"),
        _I.resolved_at.is_(None)).order_by(_I.id))
    return [Incident.of(r) for r in rows]


def unnotified(conn: Connection, tenant: str) -> list[Incident]:
    """Incidents with a notice still to send: opened and not told, or resolved and not told."""
    rows = conn.execute(select(connector_incidents).where(
        _I.tenant == tenant, _CONNECTOR_ONLY,
        (_I.notified_open_at.is_(None)) | (_I.resolved_at.is_not(None) & _I.notified_resolved_at.is_(None)),
    ).order_by(_I.id))
    return [Incident.of(r) for r in rows]


def open_incident(conn: Connection, tenant: str, connector: str, kind: str, detail: str, *,
                  now: datetime) -> int | None:
    """Open an incident unless one of this kind is open; returns the new id, or None."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256("\x1f".join(("incident", tenant, connector, kind)).encode()).digest()
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                     {"id": int.from_bytes(digest[:8], "big", signed=True)})
    already = conn.execute(select(_I.id).where(
        _I.tenant == tenant, _I.connector == connector, _I.kind == kind, _I.resolved_at.is_(None))).first()
    if already is not None:
        return None
    return int(conn.execute(connector_incidents.insert().values(
        tenant=tenant, connector=connector, kind=kind, detail=detail[:1000], opened_at=now,
    ).returning(_I.id)).scalar_one())


def resolve_incident(conn: Connection, incident_id: int, *, now: datetime) -> bool:
    """Mark it resolved; False when it was resolved already."""
    done = conn.execute(update(connector_incidents).where(
        _I.id == incident_id, _I.resolved_at.is_(None)).values(resolved_at=now))
    return bool(done.rowcount)


def claim_notice(conn: Connection, incident_id: int, which: Literal["open", "resolved"], *,
                 now: datetime) -> bool:
    """Take the right to send this notice: True for exactly one transaction that commits."""
    column = _I.notified_open_at if which == "open" else _I.notified_resolved_at
    done = conn.execute(update(connector_incidents).where(
        _I.id == incident_id, column.is_(None)).values({column.key: now}))
    return bool(done.rowcount)


def cursors(conn: Connection, tenant: str) -> dict[str, datetime | None]:
    """connector id → its poll cursor of record."""
    rows = conn.execute(select(poll_cursors.c.connector, poll_cursors.c.position).where(
        poll_cursors.c.tenant == tenant))
    return {r.connector: r.position for r in rows}

"""Persons no channel may reach (deprovisioned by SCIM or Okta); evaluation of their events goes on."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select

from store._db import insert_for
from store.schema import suspended_persons

__all__ = ["DEPROVISIONED", "is_suspended", "set_suspended", "suspended_since"]

DEPROVISIONED = "deprovisioned"


def set_suspended(conn: Connection, tenant: str, person: str, suspended: bool, *,
                  since: datetime | None = None) -> None:
    """Deprovisioned persons get no deliveries (`activities.delivery`); reactivation lifts it.
    `since`: when the IAM system deprovisioned them (an Okta event's time), default now."""
    if not suspended:
        conn.execute(delete(suspended_persons).where(
            suspended_persons.c.tenant == tenant, suspended_persons.c.person_id == person))
        return
    conn.execute(insert_for(conn, suspended_persons).values(
        tenant=tenant, person_id=person, reason=DEPROVISIONED, since=since or datetime.now(UTC),
    ).on_conflict_do_nothing())


def is_suspended(conn: Connection, tenant: str, person: str) -> str | None:
    """The reason no channel may reach `person`, or None."""
    return conn.execute(select(suspended_persons.c.reason).where(
        suspended_persons.c.tenant == tenant, suspended_persons.c.person_id == person)).scalar()


def suspended_since(conn: Connection, tenant: str, person: str) -> datetime | None:
    since = conn.execute(select(suspended_persons.c.since).where(
        suspended_persons.c.tenant == tenant, suspended_persons.c.person_id == person)).scalar()
    if since is None:
        return None
    return since if since.tzinfo else since.replace(tzinfo=UTC)  # SQLite keeps no offset

"""The identity audit trail: who changed which link or person, when, why, before and after.

Every identity change writes one row in the transaction that makes the change (link, a link
taken over by a higher source, unlink, merge, SCIM writes, erasure), so the trail can neither
miss a change nor record one that rolled back. `actor` is `cli:<user>`, `api:<tenant>/key-<n>`
(the key's position, never the key), `scim`, `config` or a channel lookup. Rows are never
deleted; erasure pseudonymises their values in place (`identity.erase`).
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from store.schema import identity_audit

__all__ = ["cli_actor", "history", "key_text", "record"]

Key = tuple[str, str, str]


def key_text(key: Key) -> str:
    system, kind, value = key
    return f"{system}:{kind}={value}"


def cli_actor() -> str:
    """`cli:<login>`: `$USER`, else the OS account name."""
    user = os.environ.get("USER") or os.environ.get("USERNAME")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"cli:{user}"


def record(conn: Connection, tenant: str, *, actor: str, action: str, person: str,
           identity: str | None = None, other: str | None = None, reason: str | None = None,
           before: Any = None, after: Any = None) -> None:
    conn.execute(insert(identity_audit).values(
        tenant=tenant, at=datetime.now(UTC), actor=actor[:128], action=action, person_id=person,
        other_person_id=other, identity=identity, reason=reason, before=before, after=after))


def history(conn: Connection, tenant: str, *, person: str | None, identity: str | None = None,
            limit: int = 500) -> list[dict[str, Any]]:
    """Rows about `person` (as subject or as the other person of a merge) or about the key
    `identity` (which may have moved between persons), oldest first."""
    wanted = []
    if person is not None:
        wanted += [identity_audit.c.person_id == person, identity_audit.c.other_person_id == person]
    if identity is not None:
        wanted.append(identity_audit.c.identity == identity)
    if not wanted:
        return []
    rows = conn.execute(select(identity_audit).where(identity_audit.c.tenant == tenant, or_(*wanted))
                        .order_by(identity_audit.c.id).limit(limit))
    return [{"id": r.id, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
             "person": r.person_id, "other_person": r.other_person_id, "identity": r.identity,
             "reason": r.reason, "before": r.before, "after": r.after} for r in rows]

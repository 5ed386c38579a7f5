"""Keys two sources claimed for different persons (issue 11 item 5): listed, not guessed.

The higher origin (`identity.precedence`) wins at once; the row keeps both claims, their
origins, when, and whether the key moved away from the person who held it. A moved key does
not re-attribute what its events already earned the loser: `accolade identity unlink` or
`merge` recompute that, with a preview.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from store.schema import identity_conflicts

__all__ = ["Claim", "list_conflicts", "record_conflict"]

Key = tuple[str, str, str]
Claim = tuple[str, str]  # (person, origin)


def record_conflict(conn: Connection, tenant: str, key: Key, *, winner: Claim, loser: Claim,
                    moved: bool) -> None:
    system, kind, value = key
    conn.execute(insert(identity_conflicts).values(
        tenant=tenant, system=system, kind=kind, value=value, winner_person=winner[0],
        winner_origin=winner[1], loser_person=loser[0], loser_origin=loser[1], moved=moved,
        at=datetime.now(UTC)))


def list_conflicts(conn: Connection, tenant: str, *, limit: int = 500) -> list[dict[str, Any]]:
    """Newest first."""
    rows = conn.execute(select(identity_conflicts).where(identity_conflicts.c.tenant == tenant)
                        .order_by(identity_conflicts.c.id.desc()).limit(limit))
    return [{"id": r.id, "at": r.at.isoformat(), "identity": f"{r.system}:{r.kind}={r.value}",
             "winner": {"person": r.winner_person, "origin": r.winner_origin},
             "loser": {"person": r.loser_person, "origin": r.loser_origin},
             "moved": r.moved} for r in rows]

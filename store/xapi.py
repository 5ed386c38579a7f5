"""Stored xAPI statements (`xapi_statements`): what GET returns and what a re-post is compared with.

Rows are written inside the caller's transaction (`intake.statements`), beside the events
the statements map to. Voiding keeps the row and sets `voided`; the statement is then only
returned by `voidedStatementId` (xAPI Communication §2.1.4), and its events stop counting
where they have not yet (`unqueue_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, cast, delete, insert, or_, select, update

from store.schema import event_queue, events, grants, parked, parked_keys, xapi_statements

__all__ = [
    "StoredStatement",
    "grants_citing",
    "insert_statements",
    "list_statements",
    "mark_voided",
    "read_statement",
    "stored_digests",
    "unqueue_events",
    "voided_before",
]


@dataclass(frozen=True)
class StoredStatement:
    statement_id: str
    body: dict[str, Any]
    voided: bool
    verb: str


def stored_digests(conn: Connection, tenant: str, connector: str, ids: Sequence[str]) -> dict[str, str]:
    """The §2.3.1 digests of those of `ids` already stored."""
    if not ids:
        return {}
    rows = conn.execute(select(xapi_statements.c.statement_id, xapi_statements.c.digest).where(
        xapi_statements.c.tenant == tenant, xapi_statements.c.connector == connector,
        xapi_statements.c.statement_id.in_(list(ids))))
    return {r.statement_id: r.digest for r in rows}


def insert_statements(conn: Connection, tenant: str, connector: str, rows: Sequence[dict[str, Any]],
                      *, stored: datetime, voided: set[str] | frozenset[str] = frozenset()) -> None:
    """`rows`: statement_id, digest, body and the list query's columns; those in `voided`
    arrive already voided (their voiding statement came first)."""
    if rows:
        conn.execute(insert(xapi_statements), [
            {**row, "tenant": tenant, "connector": connector, "stored": stored,
             "voided": row["statement_id"] in voided} for row in rows])


def voided_before(conn: Connection, tenant: str, connector: str, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that a stored voiding statement targets."""
    if not ids:
        return set()
    rows = conn.execute(select(xapi_statements.c.voids).where(
        xapi_statements.c.tenant == tenant, xapi_statements.c.connector == connector,
        xapi_statements.c.voids.in_(list(ids))))
    return {r.voids for r in rows}


def read_statement(conn: Connection, tenant: str, connector: str,
                   statement_id: str) -> StoredStatement | None:
    row = conn.execute(select(xapi_statements).where(
        xapi_statements.c.tenant == tenant, xapi_statements.c.connector == connector,
        xapi_statements.c.statement_id == statement_id.lower())).first()
    if row is None:
        return None
    return StoredStatement(row.statement_id, row.body, bool(row.voided), row.verb)


def mark_voided(conn: Connection, tenant: str, connector: str, statement_id: str) -> bool:
    """Void a stored statement; False when there is none."""
    done = conn.execute(update(xapi_statements).where(
        xapi_statements.c.tenant == tenant, xapi_statements.c.connector == connector,
        xapi_statements.c.statement_id == statement_id,
    ).values(voided=True))
    return bool(done.rowcount)


def unqueue_events(conn: Connection, tenant: str, source: str, statement_id: str) -> tuple[int, int]:
    """Take the statement's events out of the evaluators' queue and the parked set, so they
    never count. Returns (withdrawn, already evaluated)."""
    mine = or_(events.c.event_id == statement_id, events.c.event_id.startswith(f"{statement_id}:member:"))
    seqs = [r.seq for r in conn.execute(select(events.c.seq).where(
        events.c.tenant == tenant, events.c.source == source, mine))]
    if not seqs:
        return 0, 0
    queued = conn.execute(delete(event_queue).where(event_queue.c.seq.in_(seqs))).rowcount
    conn.execute(delete(parked_keys).where(parked_keys.c.seq.in_(seqs)))
    was_parked = conn.execute(delete(parked).where(parked.c.seq.in_(seqs))).rowcount
    withdrawn = int(queued or 0) + int(was_parked or 0)
    return withdrawn, len(seqs) - withdrawn


def grants_citing(conn: Connection, tenant: str, statement_id: str) -> list[str]:
    """Grants whose evidence names the statement (its events' ids contain the statement id)."""
    rows = conn.execute(select(grants.c.grant_id).where(
        grants.c.tenant == tenant, cast(grants.c.evidence, String).contains(statement_id)))
    return sorted(r.grant_id for r in rows)


def list_statements(conn: Connection, tenant: str, connector: str, *, match: dict[str, str],
                    since: datetime | None, until: datetime | None, ascending: bool,
                    limit: int, after_seq: int | None) -> list[tuple[int, dict[str, Any]]]:
    """Not-voided statements, oldest or newest first, as (seq, body); `after_seq` pages on.
    `match`: exact values of the columns verb, agent, activity, registration; or of
    `related_agents` / `related_activities`, which hold one key per line: found as a line."""
    t = xapi_statements.c
    query = select(t.seq, t.body).where(t.tenant == tenant, t.connector == connector, t.voided.is_(False))
    for column, value in match.items():
        if column.startswith("related_"):
            query = query.where(t[column].contains(f"\n{value}\n", autoescape=True))
        else:
            query = query.where(t[column] == value)
    if since is not None:
        query = query.where(t.stored > since)
    if until is not None:
        query = query.where(t.stored <= until)
    if after_seq is not None:
        query = query.where(t.seq > after_seq if ascending else t.seq < after_seq)
    query = query.order_by(t.seq if ascending else t.seq.desc()).limit(limit)
    return [(r.seq, r.body) for r in conn.execute(query)]

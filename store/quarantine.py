"""Quarantine and refused requests: what is kept of bad input, and for how long.

Quarantine keeps a capped prefix of a bad body (`prefix` bytes, cut on a character boundary),
with the whole body's size and SHA-256, so an operator can see what arrived and compare it
with the sender's copy without the store keeping megabytes of personal data. Rows older than
the retention are deleted by the next quarantine write (at most once a minute per process) and
by `accolade quarantine purge`.

`accolade quarantine retry` re-parses a kept body with the current code (`intake.retry`);
each retry is written on the row (`retried_at`, `retry_outcome`). A row whose last retry
stored its events, found them stored already, or was acknowledged and ignored is *resolved*:
its outcome does not start with `FAILS` ("still fails: …"). Resolved rows are kept so `list
--all` shows what happened, and leave with the retention like the others. Rows written
before migration 0004 have no `kind`: from the batch API (`channel` "api") they are items,
otherwise webhooks without their headers (`row_kind`).

Requests refused before authentication are never stored one by one: `add_rejections` adds
counts per (tenant, connector, reason) and keeps one sampled request's metadata.

Every text written here goes through `safe_text` first: a NUL or a lone surrogate is not
valid text for PostgreSQL, and bad input is exactly where they arrive.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, not_, select, update

from store._db import insert_for
from store.schema import quarantine, webhook_rejections

__all__ = [
    "FAILS",
    "Quarantined",
    "Rejection",
    "add_rejections",
    "mark_retried",
    "purge_expired",
    "quarantine_body",
    "quarantine_item",
    "quarantine_rows",
    "retry_ids",
    "retry_row",
    "row_kind",
    "safe_text",
]

FAILS = "still fails: "  # the prefix of a retry outcome that leaves the row unresolved


def safe_text(text: str, limit: int | None = None) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD, cut to `limit` characters."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _prefix(body: bytes, cap: int) -> tuple[str, bool]:
    head = body[:cap]
    return safe_text(head.decode("utf-8", "replace")), len(body) > cap


_last_purge = 0.0
_purge_lock = threading.Lock()


def quarantine_body(
    conn: Connection,
    *,
    tenant: str,
    channel: str,
    delivery_id: str | None,
    reason: str,
    body: bytes,
    prefix: int,
    keep: timedelta,
    now: datetime,
    kind: str = "webhook",
    headers: dict[str, str] | None = None,
) -> None:
    """Keep `reason` and at most `prefix` bytes of `body`, with its size and hash.

    `kind` (webhook, item, record) and the replayable `headers` let a retry parse it again.
    """
    text, truncated = _prefix(body, prefix)
    conn.execute(insert(quarantine).values(
        tenant=tenant, channel=channel, received_at=now, kind=kind, headers=headers,
        delivery_id=None if delivery_id is None else safe_text(delivery_id, 512),
        reason=safe_text(reason, 2000), body=text, body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(), body_truncated=truncated,
    ))
    _purge_now_and_then(conn, keep, now)


def quarantine_item(conn: Connection, *, item: Any, kind: str = "item", **kwargs: Any) -> None:
    """Quarantine one JSON item of a batch or one record of a poll page (re-encoded: its
    original bytes are not separable)."""
    body = json.dumps(item, default=repr, ensure_ascii=True).encode()
    quarantine_body(conn, body=body, kind=kind, **kwargs)


def _purge_now_and_then(conn: Connection, keep: timedelta, now: datetime) -> None:
    global _last_purge
    with _purge_lock:
        if time.monotonic() - _last_purge < 60:
            return
        _last_purge = time.monotonic()
    purge_expired(conn, keep=keep, now=now)


def purge_expired(conn: Connection, *, keep: timedelta, now: datetime) -> int:
    """Delete quarantine rows received before `now - keep`; returns how many."""
    return conn.execute(delete(quarantine).where(quarantine.c.received_at < now - keep)).rowcount


def row_kind(kind: str | None, channel: str) -> str:
    """`kind`, or what a row written before migration 0004 must have been."""
    if kind is not None:
        return kind
    return "item" if channel == "api" else "webhook"


def _resolved() -> ColumnElement[bool]:
    return and_(quarantine.c.retried_at.is_not(None), not_(quarantine.c.retry_outcome.startswith(FAILS)))


def _chosen(tenant: str, channel: str | None) -> ColumnElement[bool]:
    where = quarantine.c.tenant == tenant
    return where if channel is None else and_(where, quarantine.c.channel == channel)


def quarantine_rows(
    conn: Connection, tenant: str, *, item_id: int | None = None, limit: int = 50,
    channel: str | None = None, resolved: bool = True,
) -> list[dict[str, Any]]:
    """Newest first; with `item_id`, that one row (bodies and headers only then).

    `channel` keeps one connector's rows; `resolved=False` leaves out rows a retry resolved.
    """
    cols = [quarantine.c.id, quarantine.c.channel, quarantine.c.kind, quarantine.c.delivery_id,
            quarantine.c.reason, quarantine.c.received_at, quarantine.c.body_size,
            quarantine.c.body_sha256, quarantine.c.body_truncated,
            func.length(quarantine.c.body).label("kept"), quarantine.c.retried_at,
            quarantine.c.retry_outcome]
    if item_id is not None:
        cols += [quarantine.c.headers, quarantine.c.body]
    stmt = select(*cols).where(_chosen(tenant, channel))
    if item_id is not None:
        stmt = stmt.where(quarantine.c.id == item_id)
    if not resolved:
        stmt = stmt.where(not_(_resolved()))
    rows = conn.execute(stmt.order_by(quarantine.c.id.desc()).limit(limit)).mappings().all()
    return [_listed(row) for row in rows]


def _listed(row: Any) -> dict[str, Any]:
    retried = row["retried_at"]
    outcome = row["retry_outcome"]
    return {**row, "kind": row_kind(row["kind"], row["channel"]),
            "received_at": row["received_at"].isoformat(),
            "retried_at": None if retried is None else retried.isoformat(),
            "resolved": retried is not None and not (outcome or "").startswith(FAILS)}


@dataclass(frozen=True)
class Quarantined:
    """One row as a retry needs it: the kept body and what it takes to parse it again."""

    id: int
    tenant: str
    channel: str
    kind: str
    delivery_id: str | None
    reason: str
    body: str
    headers: dict[str, str]
    body_size: int | None
    body_sha256: str | None
    body_truncated: bool


def retry_ids(conn: Connection, tenant: str, *, channel: str | None = None) -> list[int]:
    """The unresolved rows of `tenant` (of one connector with `channel`), oldest first."""
    stmt = select(quarantine.c.id).where(_chosen(tenant, channel), not_(_resolved()))
    return list(conn.execute(stmt.order_by(quarantine.c.id)).scalars())


def retry_row(conn: Connection, tenant: str, item_id: int) -> Quarantined | None:
    """Row `item_id` of `tenant` with its body, or None (never another tenant's row)."""
    row = conn.execute(select(quarantine).where(
        quarantine.c.tenant == tenant, quarantine.c.id == item_id)).mappings().first()
    if row is None:
        return None
    return Quarantined(
        id=row["id"], tenant=row["tenant"], channel=row["channel"],
        kind=row_kind(row["kind"], row["channel"]), delivery_id=row["delivery_id"],
        reason=row["reason"], body=row["body"] or "", headers=dict(row["headers"] or {}),
        body_size=row["body_size"], body_sha256=row["body_sha256"],
        body_truncated=bool(row["body_truncated"]),
    )


def mark_retried(conn: Connection, tenant: str, item_id: int, *, outcome: str, now: datetime) -> None:
    """Write what the retry of row `item_id` did (in the transaction that stored its events)."""
    conn.execute(update(quarantine).where(quarantine.c.tenant == tenant, quarantine.c.id == item_id)
                 .values(retried_at=now, retry_outcome=safe_text(outcome, 2000)))


@dataclass
class Rejection:
    """Refused requests of one (tenant, connector, reason) since the last write."""

    tenant: str
    connector: str
    reason: str
    count: int
    first_at: datetime
    last_at: datetime
    sample_delivery_id: str | None


def add_rejections(conn: Connection, rejections: Sequence[Rejection]) -> None:
    """Add the counts (one upsert per key) and replace each key's sampled metadata."""
    for r in rejections:
        values = {
            "tenant": r.tenant, "connector": r.connector, "reason": safe_text(r.reason, 200),
            "count": r.count, "first_at": r.first_at, "last_at": r.last_at,
            "sample_delivery_id": None if r.sample_delivery_id is None
            else safe_text(r.sample_delivery_id, 512),
            "sample_at": r.last_at,
        }
        stmt = insert_for(conn, webhook_rejections).values(**values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["tenant", "connector", "reason"],
            set_={
                "count": webhook_rejections.c.count + stmt.excluded.count,
                "last_at": stmt.excluded.last_at,
                "sample_delivery_id": stmt.excluded.sample_delivery_id,
                "sample_at": stmt.excluded.sample_at,
            },
        ))

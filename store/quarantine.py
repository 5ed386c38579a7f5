"""Quarantine and refused requests: what is kept of bad input, and for how long.

Quarantine keeps a capped prefix of a bad body (`prefix` bytes, cut on a character boundary),
with the whole body's size and SHA-256, so an operator can see what arrived and compare it
with the sender's copy without the store keeping megabytes of personal data. Rows older than
the retention are deleted by the next quarantine write (at most once a minute per process) and
by `accolade quarantine purge`.

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

from sqlalchemy import Connection, delete, func, insert, select

from store._db import insert_for
from store.schema import quarantine, webhook_rejections

__all__ = [
    "Rejection",
    "add_rejections",
    "purge_expired",
    "quarantine_body",
    "quarantine_item",
    "quarantine_rows",
    "safe_text",
]


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


def quarantine_rows(
    conn: Connection, tenant: str, *, item_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first; with `item_id`, that one row (bodies only then)."""
    cols = [quarantine.c.id, quarantine.c.channel, quarantine.c.delivery_id, quarantine.c.reason,
            quarantine.c.received_at, quarantine.c.body_size, quarantine.c.body_sha256,
            quarantine.c.body_truncated, func.length(quarantine.c.body).label("kept")]
    if item_id is not None:
        cols.append(quarantine.c.body)
    stmt = select(*cols).where(quarantine.c.tenant == tenant)
    if item_id is not None:
        stmt = stmt.where(quarantine.c.id == item_id)
    rows = conn.execute(stmt.order_by(quarantine.c.id.desc()).limit(limit)).mappings().all()
    return [{**row, "received_at": row["received_at"].isoformat()} for row in rows]


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

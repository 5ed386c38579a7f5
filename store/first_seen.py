"""The `without` index: the first time an event of a type carried a value, tenant-wide.

A `without` rule counts A unless a B event with the same key (say `ticket`) happened before
it. B is usually another person's (the manager reassigns, the engineer resolves), and shards
are per person, so the evaluator of A's shard cannot see B in its batch. Ingest therefore
keeps, in the transaction that appends the events, the earliest event time per (type,
attribute, value) for the (type, attribute) pairs the tenant's `without` rules name; the
evaluation activity reads the rows it needs and hands them to the pure engine as
`RuleContext.first_seen`.

The invariant: a row's `first_at` is the minimum event time over every appended event with
that key. Upserts only ever lower it, so a retried or duplicated append changes nothing and
late events (an earlier event time arriving later) still win.

Values are compared as text (`value_text`); a text longer than the column is stored as a
digest (`index_value`), so a long value costs a fixed 64 characters and still matches itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, tuple_

from rules.events import CloudEvent
from rules.matchers import MISSING, lookup
from store._db import insert_for
from store.schema import first_seen

__all__ = ["IndexKey", "index_value", "keys_of", "load_first_seen", "record_first_seen", "value_text"]

IndexKey = tuple[str, str, str]  # (event type, attribute path, value as text)
_WIDTH = 64
_LOOKUP_CHUNK = 300  # keys per SELECT: well under SQLite's bound-parameter limit


def value_text(value: Any) -> str | None:
    """The text a value is indexed under: `str(value)`, as the engine's `without` compares it.

    None for an absent value, null, or a list/object (a key is a scalar).
    """
    if value is MISSING or value is None or isinstance(value, dict | list):
        return None
    return str(value)


def index_value(text: str) -> str:
    if len(text) <= _WIDTH:
        return text
    return "~" + hashlib.sha256(text.encode()).hexdigest()[: _WIDTH - 1]


def keys_of(event: CloudEvent, pairs: Iterable[tuple[str, str]]) -> list[IndexKey]:
    """The index keys `event` carries among `pairs` of (type, attribute)."""
    out = []
    for event_type, attribute in pairs:
        if event.type == event_type and (text := value_text(lookup(event.data, attribute))) is not None:
            out.append((event_type, attribute, text))
    return out


def record_first_seen(conn: Connection, tenant: str, events: Sequence[CloudEvent],
                      pairs: Iterable[tuple[str, str]]) -> None:
    """Lower (or create) the index rows of `events`, inside the caller's transaction.

    One executemany on a cached statement; rows whose stored time is already as early are
    left alone by the WHERE of the upsert, so the common repeat costs no write.
    """
    pairs = list(pairs)
    earliest: dict[tuple[str, str, str], datetime] = {}
    for event in events:
        at = event.time.astimezone(UTC)
        for event_type, attribute, text in keys_of(event, pairs):
            key = (event_type, attribute, index_value(text))
            if key not in earliest or at < earliest[key]:
                earliest[key] = at
    if not earliest:
        return
    rows = [{"tenant": tenant, "type": t, "attribute": a, "value": v, "first_at": at}
            for (t, a, v), at in sorted(earliest.items())]  # sorted: a fixed lock order
    stmt = insert_for(conn, first_seen)
    earlier = stmt.excluded.first_at < first_seen.c.first_at
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["tenant", "type", "attribute", "value"],
        set_={"first_at": stmt.excluded.first_at}, where=earlier,
    ), rows)


def load_first_seen(conn: Connection, tenant: str, keys: Iterable[IndexKey]) -> dict[IndexKey, datetime]:
    """The earliest event time of each key that has one (keys never seen are absent)."""
    by_stored: dict[tuple[str, str, str], IndexKey] = {(t, a, index_value(v)): (t, a, v) for t, a, v in keys}
    wanted = sorted(by_stored)
    found: dict[IndexKey, datetime] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start:start + _LOOKUP_CHUNK]
        rows = conn.execute(select(first_seen.c.type, first_seen.c.attribute, first_seen.c.value,
                                   first_seen.c.first_at).where(
            first_seen.c.tenant == tenant,
            tuple_(first_seen.c.type, first_seen.c.attribute, first_seen.c.value).in_(chunk)))
        for r in rows:
            at = r.first_at if r.first_at.tzinfo else r.first_at.replace(tzinfo=UTC)  # SQLite keeps no offset
            found[by_stored[(r.type, r.attribute, r.value)]] = at
    return found

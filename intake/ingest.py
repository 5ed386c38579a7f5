"""Ingest: validate, append and route events in one transaction, quarantine what is bad.

The one write path of every source: the batch API (`ingest_batch`), webhooks
(`intake.webhooks`, through `append_validated` in a group commit) and poll pages
(`ingest_page`, with the cursor in the same transaction) all append through
`append_validated`. The caller answers 2xx only after the append has committed. The same
transaction keeps the `without` index (`store.first_seen`) for the tenant's `without` rules;
a tenant without such a rule pays one dictionary lookup for it.

Every item is judged alone (`validate_items`): its values against the limits
(`rules.limits`: depth, string length, NUL, lone surrogates, over-long numbers), then the
CloudEvent model, then its `time` range. A bad item is rejected with its reason and
quarantined; its valid neighbours are stored. Nothing a client sends answers 500: whatever
escapes the checks is logged as a bug and rejected as "internal error", which the property
tests prove never happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, insert

from config.models import Config, QuarantineSettings, TenantSettings
from connectors.base import RecordResult
from identity.learn import learn_links
from identity.lifecycle import apply_lifecycle
from identity.resolve import Route, known_routes, route_actors
from rules.engine import compile_rules, without_keys
from rules.events import RESERVED_SOURCE_PREFIX, CloudEvent
from rules.limits import DEFAULT_LIMITS, JsonLimits, problem_in, time_problem
from store import read_only
from store.cursors import advance_cursor
from store.eventlog import append_events, shard_of
from store.first_seen import record_first_seen
from store.group_commit import GroupCommit
from store.quarantine import quarantine_body, quarantine_item, safe_text
from store.schema import webhook_log

__all__ = [
    "INTERNAL_ERROR",
    "BatchOutcome",
    "ItemOutcome",
    "PageOutcome",
    "Quarantine",
    "ingest_batch",
    "ingest_page",
    "record_webhook",
    "validate_items",
    "without_pairs",
]

log = logging.getLogger("accolade.ingest")
INTERNAL_ERROR = "internal error while checking this item (logged by the receiver)"


@dataclass
class ItemOutcome:
    index: int
    status: str  # accepted | duplicate | rejected
    id: str | None = None
    parked: bool = False
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status,
                               "id": None if self.id is None else safe_text(self.id, 512)}
        if self.parked:
            out["parked"] = True
        if self.reason:
            out["reason"] = safe_text(self.reason, 1000)
        return out


@dataclass
class BatchOutcome:
    items: list[ItemOutcome] = field(default_factory=list)
    dirty_shards: set[int] = field(default_factory=set)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.count("accepted"),
            "duplicate": self.count("duplicate"),
            "rejected": self.count("rejected"),
            "parked": sum(1 for item in self.items if item.parked),
            "results": [item.as_json() for item in self.items],
        }


@dataclass(frozen=True)
class Quarantine:
    """Where bad input goes and how much of it is kept (config `store.quarantine`)."""

    prefix: int
    keep: timedelta

    @classmethod
    def of(cls, config: Config) -> Quarantine:
        return cls.of_settings(config.store.quarantine)

    @classmethod
    def of_settings(cls, settings: QuarantineSettings) -> Quarantine:
        return cls(prefix=int(settings.body_prefix), keep=settings.keep)

    def body(self, conn: Connection, *, tenant: str, channel: str, delivery_id: str | None,
             reason: str, body: bytes, kind: str = "webhook",
             headers: dict[str, str] | None = None) -> None:
        quarantine_body(conn, tenant=tenant, channel=channel, delivery_id=delivery_id,
                        reason=reason, body=body, prefix=self.prefix, keep=self.keep,
                        now=datetime.now(UTC), kind=kind, headers=headers)

    def item(self, conn: Connection, *, tenant: str, channel: str, item: ItemOutcome,
             raw: Any, kind: str = "item") -> None:
        quarantine_item(conn, item=raw, tenant=tenant, channel=channel, delivery_id=item.id,
                        reason=item.reason or "", prefix=self.prefix, keep=self.keep,
                        now=datetime.now(UTC), kind=kind)


DEFAULT_QUARANTINE = Quarantine.of_settings(QuarantineSettings())  # the config's defaults


def validate_items(
    raw_items: Sequence[Any],
    *,
    limits: JsonLimits = DEFAULT_LIMITS,
    now: datetime | None = None,
    allow_reserved: bool = False,
) -> tuple[list[tuple[int, CloudEvent]], list[ItemOutcome]]:
    """Split a batch into good events and rejected items, each judged alone."""
    moment = now or datetime.now(UTC)
    good: list[tuple[int, CloudEvent]] = []
    bad: list[ItemOutcome] = []
    for index, raw in enumerate(raw_items):
        try:
            event, reason = _judge(raw, limits=limits, now=moment, allow_reserved=allow_reserved)
        except Exception:  # a bug, not the client's fault: log it, never answer 500 for it
            log.exception("checking batch item %d failed", index)
            event, reason = None, INTERNAL_ERROR
        if event is None:
            bad.append(ItemOutcome(index, "rejected", _item_id(raw), reason=reason))
        else:
            good.append((index, event))
    return good, bad


def _judge(
    raw: Any, *, limits: JsonLimits, now: datetime, allow_reserved: bool
) -> tuple[CloudEvent | None, str | None]:
    if (problem := problem_in(raw, limits)) is not None:
        return None, problem
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        return None, _reason(exc)
    if (problem := time_problem(event.time, now=now, limits=limits)) is not None:
        return None, problem
    if not allow_reserved and event.source.startswith(RESERVED_SOURCE_PREFIX):
        return None, f"source prefix {RESERVED_SOURCE_PREFIX} is reserved for connectors"
    return event, None


def _item_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return safe_text(value, 200) if isinstance(value, str) else None


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    return safe_text("; ".join(parts), 1000)


def ingest_batch(
    engine: Engine,
    tenant: TenantSettings,
    raw_items: Sequence[Any],
    *,
    limits: JsonLimits = DEFAULT_LIMITS,
    quarantine: Quarantine | None = None,
    channel: str = "api",
    group: GroupCommit | None = None,
) -> BatchOutcome:
    """Validate every item; append the good ones and quarantine the bad, in one transaction.

    The transaction is short: validation and the lookup of known actors happen before it,
    and with `group` it is shared with concurrent requests (`store.group_commit`).
    """
    good, bad = validate_items(raw_items, limits=limits)
    quarantine = quarantine or DEFAULT_QUARANTINE
    with read_only(engine) as conn:
        known = known_routes(conn, tenant.id, [event.actor for _, event in good])

    def write(conn: Connection) -> BatchOutcome:
        outcome = BatchOutcome()
        outcome.items = append_validated(conn, tenant, good, outcome.dirty_shards, known=known)
        for item in bad:
            quarantine.item(conn, tenant=tenant.id, channel=channel, item=item,
                            raw=raw_items[item.index])
        return outcome

    if group is not None:
        outcome = group.run(write)
    else:
        with engine.begin() as conn:
            outcome = write(conn)
    outcome.items = sorted(outcome.items + bad, key=lambda item: item.index)
    return outcome


def append_validated(
    conn: Connection,
    tenant: TenantSettings,
    good: Sequence[tuple[int, CloudEvent]],
    dirty: set[int],
    *,
    known: Sequence[Route | None] | None = None,
) -> list[ItemOutcome]:
    batch = [event for _, event in good]
    routes = route_actors(conn, tenant.id, [event.actor for event in batch], known=known)
    results = append_events(conn, tenant.id, batch, routes, shards=tenant.shards)
    if pairs := without_pairs(tenant):  # parked events too: a B event counts whoever did it
        new = [event for event, result in zip(batch, results, strict=True) if not result.duplicate]
        record_first_seen(conn, tenant.id, new, pairs)
    new = [(event, route) for event, route, result in zip(batch, routes, results, strict=True)
           if not result.duplicate]
    learn_links(conn, tenant, [e for e, _ in new], [r for _, r in new])  # released: the person's shard
    items = []
    for (index, event), route, result in zip(good, routes, results, strict=True):
        status = "duplicate" if result.duplicate else "accepted"
        if route is not None and not result.duplicate:
            dirty.add(shard_of(route.person_id, tenant.shards))
            apply_lifecycle(conn, tenant, event, route)
        items.append(ItemOutcome(index, status, event.id, parked=result.parked))
    return items


# id(tenant) -> (the tenant, its pairs). Settings are frozen and replaced, never changed, on a
# reload; holding the object keeps its id from being reused for another while it is cached.
_WITHOUT_PAIRS: dict[int, tuple[TenantSettings, frozenset[tuple[str, str]]]] = {}


def without_pairs(tenant: TenantSettings) -> frozenset[tuple[str, str]]:
    """(B event type, attribute) pairs the tenant's `without` rules need indexed, compiled once
    per settings object (the ingest hot path asks on every append)."""
    cached = _WITHOUT_PAIRS.get(id(tenant))
    if cached is None or cached[0] is not tenant:
        if len(_WITHOUT_PAIRS) >= 64:  # configs reloaded many times: start over
            _WITHOUT_PAIRS.clear()
        cached = (tenant, frozenset(without_keys(compile_rules(tenant.achievements))))
        _WITHOUT_PAIRS[id(tenant)] = cached
    return cached[1]


def record_webhook(conn: Connection, tenant: str, connector: str, **values: Any) -> None:
    """One row per authenticated delivery; text is made safe and cut to its column."""
    for name, limit in (("delivery_id", 512), ("event", 128), ("detail", 2000)):
        if isinstance(values.get(name), str):
            values[name] = safe_text(values[name], limit)
    conn.execute(
        insert(webhook_log).values(
            tenant=tenant, connector=connector, received_at=datetime.now(UTC), **values
        )
    )


@dataclass
class PageOutcome:
    """What one poll page did: events stored, duplicates (the overlap), records quarantined."""

    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    dirty_shards: set[int] = field(default_factory=set)


def ingest_page(
    engine: Engine,
    tenant: TenantSettings,
    connector: str,
    records: Sequence[RecordResult],
    *,
    position: datetime | None,
    quarantine: Quarantine | None = None,
    also: Callable[[Connection], None] | None = None,
) -> PageOutcome:
    """One poll page in ONE transaction: its events appended and routed, its unmappable records
    quarantined, and the cursor advanced to `position` (None: leave it), plus `also`.

    The cursor and the events share the event log's database, so a crash leaves both or
    neither; a retried page finds its events stored and counts them as duplicates.
    """
    quarantine = quarantine or DEFAULT_QUARANTINE
    good = [(i, event) for i, r in enumerate(records) if r.error is None for event in r.events]
    with read_only(engine) as conn:
        known = known_routes(conn, tenant.id, [event.actor for _, event in good])
    outcome = PageOutcome()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        items = append_validated(conn, tenant, good, outcome.dirty_shards, known=known)
        outcome.accepted = sum(1 for item in items if item.status == "accepted")
        outcome.duplicate = len(items) - outcome.accepted
        for record in records:
            if record.error is not None:
                bad = ItemOutcome(0, "rejected", record.key, reason=record.error.reason)
                quarantine.item(conn, tenant=tenant.id, channel=connector, item=bad,
                                raw=record.raw, kind="record")
                outcome.quarantined += 1
        if position is not None:
            advance_cursor(conn, tenant.id, connector, position, now=now)
        if also is not None:
            also(conn)
    return outcome

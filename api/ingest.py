"""Ingest: validate, append and route events in one transaction, quarantine what is bad.

The caller answers 2xx only after `ingest_batch` / `ingest_webhook` return: by then the
append has committed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, insert

from config.models import TenantSettings
from identity.resolve import route_actors
from rules.events import RESERVED_SOURCE_PREFIX, CloudEvent
from store.eventlog import append_events, shard_of
from store.schema import quarantine, webhook_log

__all__ = ["BatchOutcome", "ItemOutcome", "ingest_batch", "quarantine_body", "record_webhook"]


@dataclass
class ItemOutcome:
    index: int
    status: str  # accepted | duplicate | rejected
    id: str | None = None
    parked: bool = False
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        out = {"index": self.index, "status": self.status, "id": self.id}
        if self.parked:
            out["parked"] = True
        if self.reason:
            out["reason"] = self.reason
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


def validate_items(
    raw_items: Sequence[Any], *, allow_reserved: bool = False
) -> tuple[list[tuple[int, CloudEvent]], list[ItemOutcome]]:
    good: list[tuple[int, CloudEvent]] = []
    bad: list[ItemOutcome] = []
    for index, raw in enumerate(raw_items):
        try:
            event = CloudEvent.model_validate(raw)
        except ValidationError as exc:
            bad.append(ItemOutcome(index, "rejected", _item_id(raw), reason=_reason(exc)))
            continue
        if not allow_reserved and event.source.startswith(RESERVED_SOURCE_PREFIX):
            reason = f"source prefix {RESERVED_SOURCE_PREFIX} is reserved for connectors"
            bad.append(ItemOutcome(index, "rejected", event.id, reason=reason))
            continue
        good.append((index, event))
    return good, bad


def _item_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value)[:200] if value is not None else None


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def ingest_batch(
    engine: Engine, tenant: TenantSettings, raw_items: Sequence[Any], *, channel: str = "api"
) -> BatchOutcome:
    """Validate every item; append the good ones and quarantine the bad, in one transaction."""
    good, bad = validate_items(raw_items)
    outcome = BatchOutcome()
    with engine.begin() as conn:
        outcome.items = append_validated(conn, tenant, good, outcome.dirty_shards)
        for item in bad:
            quarantine_body(conn, tenant.id, channel, item.id, item.reason or "",
                            json.dumps(raw_items[item.index], default=str))
    outcome.items = sorted(outcome.items + bad, key=lambda item: item.index)
    return outcome


def append_validated(
    conn: Connection,
    tenant: TenantSettings,
    good: Sequence[tuple[int, CloudEvent]],
    dirty: set[int],
) -> list[ItemOutcome]:
    batch = [event for _, event in good]
    routes = route_actors(conn, tenant.id, [event.actor for event in batch])
    results = append_events(conn, tenant.id, batch, routes, shards=tenant.shards)
    items = []
    for (index, event), route, result in zip(good, routes, results, strict=True):
        status = "duplicate" if result.duplicate else "accepted"
        if route is not None and not result.duplicate:
            dirty.add(shard_of(route.person_id, tenant.shards))
        items.append(ItemOutcome(index, status, event.id, parked=result.parked))
    return items


def quarantine_body(
    conn: Connection, tenant: str, channel: str, delivery_id: str | None, reason: str, body: str
) -> None:
    conn.execute(
        insert(quarantine).values(
            tenant=tenant, channel=channel, delivery_id=delivery_id, reason=reason,
            body=body, received_at=datetime.now(UTC),
        )
    )


def record_webhook(conn: Connection, tenant: str, connector: str, **values: Any) -> None:
    conn.execute(
        insert(webhook_log).values(
            tenant=tenant, connector=connector, received_at=datetime.now(UTC), **values
        )
    )

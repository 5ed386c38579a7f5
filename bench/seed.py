"""Filling the benchmark's store directly, not through HTTP: linked persons and a long history.

`link_persons` links person `bench-<n>` to `bench:id=<n>` (the batch API's actors) and to
`github:id=<n>` (the webhook payloads' actors) by a bulk insert into `persons` and
`identities`: `identity.link_identity` one key at a time took ~1.3 s per 1,000 persons, too
slow for the RSS run's 100,000, and a fresh store has no parked events for a link to release.

`seed_history` gives the store the event log of a hub that has been running a while, for the
RSS run: `store.eventlog.append_events`, the store's own append, writes the rows (so they
follow the schema, whatever it becomes), in big transactions; `store.eventlog.complete`
then consumes their work items as an evaluator round does, so the evaluators start with no
backlog, as on a hub that kept up. Their type is one no rule counts: the history costs the
evaluators nothing but its size. If the store's hand-off to the evaluators changes (a
per-shard checkpoint instead of work items), `_consume` is the line to follow it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, insert

from config import TenantSettings
from identity import parse_identity_ref, stored_key
from rules.events import CloudEvent
from store.eventlog import AppendResult, Route, append_events, complete
from store.schema import identities, persons

__all__ = ["SEED_EVENT_TYPE", "link_persons", "person_id", "seed_history"]

SEED_EVENT_TYPE = "bench.seed.recorded"  # counted by no rule
SEED_SOURCE = "/bench/seed"
_LINK_SYSTEMS = ("bench", "github")


def person_id(n: int) -> str:
    return f"bench-{n}"


def link_persons(engine: Engine, tenant: str, numbers: range, *, chunk: int = 20_000) -> None:
    """Person `bench-<n>` with `bench:id=<n>` and `github:id=<n>`, for every n in `numbers`."""
    now = datetime.now(UTC)
    for first in range(numbers.start, numbers.stop, chunk):
        part = range(first, min(first + chunk, numbers.stop))
        people = [{"tenant": tenant, "person_id": person_id(n), "created_at": now} for n in part]
        links = []
        for n in part:
            for system in _LINK_SYSTEMS:
                sys_, kind, value = stored_key(parse_identity_ref(f"{system}:id={n}"))
                links.append({"tenant": tenant, "system": sys_, "kind": kind, "value": value,
                              "person_id": person_id(n), "origin": "cli", "linked_at": now})
        with engine.begin() as conn:
            conn.execute(insert(persons), people)
            conn.execute(insert(identities), links)


def seed_history(engine: Engine, tenant: TenantSettings, *, events: int, persons: int,
                 batch: int = 20_000, report: Callable[[str], None] = print) -> None:
    """Append `events` evaluated events by persons 0..`persons`-1 (round robin), `batch` per transaction."""
    started = time.monotonic()
    then = datetime.now(UTC) - timedelta(days=365)
    for first in range(0, events, batch):
        ks = range(first, min(first + batch, events))
        history = [_seed_event(k, k % persons, then + timedelta(seconds=k)) for k in ks]
        routes = [Route(person_id(k % persons), {"link": "bench:id", "rule": "seed"}) for k in ks]
        with engine.begin() as conn:
            results = append_events(conn, tenant.id, history, routes, shards=tenant.shards)
            _consume(conn, results)
        if (done := ks.stop) % (10 * batch) == 0 or done == events:
            elapsed = time.monotonic() - started
            report(f"setup: seeded {done:,} of {events:,} events ({done / elapsed:,.0f} ev/s)")


def _seed_event(k: int, person: int, when: datetime) -> CloudEvent:
    return CloudEvent.model_validate({
        "id": f"s{k}", "source": SEED_SOURCE, "type": SEED_EVENT_TYPE, "time": when.isoformat(),
        "data": {"actor": {"system": "bench", "id": str(person)}, "n": k},
    })


def _consume(conn: Connection, results: Sequence[AppendResult]) -> None:
    """Mark the appended events evaluated, as an evaluator round does (its `complete`)."""
    complete(conn, [r.seq for r in results if r.seq is not None])

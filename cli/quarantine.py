"""`accolade quarantine list|show|retry|purge`: what bad input was kept, why, whether it was
cut, and what a retry with the current code made of it (`intake.retry`)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from cli._common import die
from config.models import Config, TenantSettings
from intake.retry import RetryOutcome, retry_item
from store import create_store_engine, read_only
from store.quarantine import purge_expired, quarantine_rows, retry_ids

__all__ = ["list_items", "purge", "retry", "show_item"]


def _rows(config: Config, tenant: TenantSettings, **kwargs: Any) -> list[dict[str, Any]]:
    engine = create_store_engine(config.store.url)
    try:
        with engine.connect() as conn:
            return quarantine_rows(conn, tenant.id, **kwargs)
    finally:
        engine.dispose()


def _kept(row: dict[str, Any]) -> str:
    size = row["body_size"]
    if size is None:  # quarantined before sizes were recorded (migration 0003)
        return "body kept whole"
    if row["body_truncated"]:
        return f"first {row['kept']} of {size} bytes kept (cap hit), sha256 {row['body_sha256'][:16]}…"
    return f"{size} bytes kept whole"


def _retry_state(row: dict[str, Any]) -> str:
    if row["retried_at"] is None:
        return "never retried"
    state = "resolved" if row["resolved"] else "unresolved"
    return f"{state}, retried {row['retried_at']}: {row['retry_outcome']}"


def list_items(config: Config, tenant: TenantSettings, *, limit: int, as_json: bool,
               connector: str | None = None, everything: bool = False) -> None:
    rows = _rows(config, tenant, limit=limit, channel=connector, resolved=everything)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"#{r['id']:<6} {r['received_at']}  {r['channel']:<10} {r['kind']:<7} "
              f"{r['delivery_id'] or '-'}  {r['reason']}  [{_kept(r)}] [{_retry_state(r)}]")
    if not rows:
        print("quarantine is empty" + ("" if everything else " (resolved items: --all)"))


def show_item(config: Config, tenant: TenantSettings, item_id: int, *, as_json: bool) -> None:
    rows = _rows(config, tenant, item_id=item_id, limit=1)
    if not rows:
        die(f"no quarantined item #{item_id} in tenant {tenant.id}", 1)
    row = rows[0]
    if as_json:
        print(json.dumps(row, indent=2))
        return
    print(f"#{row['id']} {row['kind']} from {row['channel']} at {row['received_at']}, "
          f"delivery {row['delivery_id'] or '-'}")
    print(f"reason: {row['reason']}")
    print(f"retry: {_retry_state(row)}")
    if row["headers"]:
        print("headers: " + ", ".join(f"{k}: {v}" for k, v in sorted(row["headers"].items())))
    print(f"body: {_kept(row)}")
    print(row["body"] or "")


def purge(config: Config) -> None:
    engine = create_store_engine(config.store.url)
    keep = config.store.quarantine.keep
    try:
        with engine.begin() as conn:
            removed = purge_expired(conn, keep=keep, now=datetime.now(UTC))
    finally:
        engine.dispose()
    print(f"removed {removed} quarantined item(s) older than {keep.days} day(s)")


def retry(config: Config, tenant: TenantSettings, item_id: int | None, *,
          connector: str | None, as_json: bool) -> int:
    """Retry one row or every unresolved one; returns the exit code (0: all handled, 1: not)."""
    engine = create_store_engine(config.store.url)
    try:
        if item_id is None:
            with read_only(engine) as conn:
                ids = retry_ids(conn, tenant.id, channel=connector)
        else:
            ids = [item_id]
        outcomes = [retry_item(engine, config, tenant, n) for n in ids]
    finally:
        engine.dispose()
    woke = _wake(config, tenant, set().union(*(o.dirty_shards for o in outcomes)))
    _report(outcomes, woke, as_json=as_json)
    return 0 if all(o.handled for o in outcomes) else 1


def _report(outcomes: list[RetryOutcome], woke: str | None, *, as_json: bool) -> None:
    counts = Counter(o.status for o in outcomes)
    if as_json:
        print(json.dumps({"retried": len(outcomes), **{s: counts[s] for s in _STATUSES},
                          "evaluators": woke, "results": [o.as_json() for o in outcomes]}, indent=2))
        return
    for o in outcomes:
        print(f"#{o.item:<6} {o.kind or '-':<7} {o.channel or '-':<10} {o.message}")
    if not outcomes:
        print("nothing to retry: no unresolved quarantined items")
        return
    print(f"{len(outcomes)} retried: " + ", ".join(f"{counts[s]} {s}" for s in _STATUSES))
    if woke:
        print(woke)


_STATUSES = ("stored", "duplicate", "ignored", "fails", "refused")


def _wake(config: Config, tenant: TenantSettings, shards: set[int]) -> str | None:
    """Tell the evaluators of `shards` now; if Temporal is unreachable, their timer finds the
    events (they are stored either way)."""
    if not shards:
        return None
    from activities.temporal_client import connect, wake_evaluators

    async def wake() -> None:
        client = await connect(config)
        await wake_evaluators(client, config, tenant.id, shards)

    try:
        asyncio.run(wake())
    except RuntimeError as exc:
        every = int(config.temporal.evaluator_wake.total_seconds())
        return (f"Temporal unreachable ({str(exc)[:200]}): the events are stored, and the "
                f"evaluators pick them up on their timer (temporal.evaluator_wake, {every} s)")
    return f"woke the evaluator(s) of shard(s) {', '.join(map(str, sorted(shards)))}"

"""`accolade quarantine list|show|purge`: what bad input was kept, why, and whether it was cut."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cli._common import die
from config.models import Config, TenantSettings
from store import create_store_engine
from store.quarantine import purge_expired, quarantine_rows

__all__ = ["list_items", "purge", "show_item"]


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


def list_items(config: Config, tenant: TenantSettings, *, limit: int, as_json: bool) -> None:
    rows = _rows(config, tenant, limit=limit)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"#{r['id']:<6} {r['received_at']}  {r['channel']:<10} {r['delivery_id'] or '-'}  "
              f"{r['reason']}  [{_kept(r)}]")
    if not rows:
        print("quarantine is empty")


def show_item(config: Config, tenant: TenantSettings, item_id: int, *, as_json: bool) -> None:
    rows = _rows(config, tenant, item_id=item_id, limit=1)
    if not rows:
        die(f"no quarantined item #{item_id} in tenant {tenant.id}", 1)
    row = rows[0]
    if as_json:
        print(json.dumps(row, indent=2))
        return
    print(f"#{row['id']} from {row['channel']} at {row['received_at']}, delivery {row['delivery_id'] or '-'}")
    print(f"reason: {row['reason']}")
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

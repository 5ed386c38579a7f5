"""`accolade connectors status`: per connector instance, its counters, polls, cursor and state."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from config.models import Config, TenantSettings
from intake.alarms import ConnectorStatus, read_statuses
from store import create_store_engine, read_only

__all__ = ["show_status"]

_HEADER = (f"{'CONNECTOR':<14} {'VENDOR':<8} {'STATE':<8} {'RECV':>6} {'ACC':>6} {'DUP':>5} "
           f"{'IGN':>5} {'QUAR':>5} {'REJ':>5}  {'LAST EVENT':<20} {'POLLS':>5}  {'CURSOR AGE':<10}  WHY")


def show_status(config: Config, tenant: TenantSettings, *, as_json: bool) -> None:
    engine = create_store_engine(config.store.url)
    try:
        with read_only(engine) as conn:
            rows = read_statuses(conn, tenant, now=datetime.now(UTC))
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps({"tenant": tenant.id, "connectors": [r.model_dump(mode="json") for r in rows]},
                         indent=2))
        return
    if not rows:
        print(f"tenant {tenant.id} has no connectors")
        return
    print(_HEADER)
    for r in rows:
        print(_line(r))
        if r.last_error:
            when = _when(r.last_error_at)
            kind = "permanent" if r.last_error_permanent else "retryable"
            print(f"{'':<14} last error ({kind}, {when}): {r.last_error}")


def _line(r: ConnectorStatus) -> str:
    c = r.counters
    age = "-" if r.cursor_age_seconds is None else _age(r.cursor_age_seconds)
    polls = str(r.poll_cycles) if r.polls else "-"
    return (f"{r.connector:<14} {r.vendor:<8} {r.state:<8} {c['received']:>6} {c['accepted']:>6} "
            f"{c['duplicate']:>5} {c['ignored']:>5} {c['quarantined']:>5} {c['rejected']:>5}  "
            f"{_when(r.last_event_at):<20} {polls:>5}  {age:<10}  {r.why}")


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"

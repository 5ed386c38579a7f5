"""Events a rule could not evaluate: recorded once, shown to admins, never retried.

A rule that raises on odd data (a string where a number was expected) must neither count the
event nor fail the round: a round that raised would be retried forever on the same batch and
the shard would be stuck. The engine reports such (event, rule) pairs as `skipped`; the
evaluation activity stores them here in the round's transaction, and `accolade shards` shows
how many each shard has. Rows hold the event key (source#id) and the engine's reason, no
person id; the log line that announces them names only the tenant, shard, and counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from store.schema import rule_skips

__all__ = ["SkipRow", "record_skips", "skip_counts"]

SkipRow = tuple[str, str, int, str]  # (event key, achievement, version, reason)
_REASON_WIDTH = 1000


def record_skips(conn: Connection, tenant: str, shard: int, skipped: Iterable[SkipRow], *,
                 now: datetime) -> int:
    rows = [{"tenant": tenant, "shard": shard, "event_key": event_key, "achievement": achievement,
             "version": version, "reason": reason[:_REASON_WIDTH], "recorded_at": now}
            for event_key, achievement, version, reason in skipped]
    if rows:
        conn.execute(insert(rule_skips), rows)
    return len(rows)


def skip_counts(conn: Connection, tenant: str) -> dict[int, int]:
    """Shard → number of (event, rule) pairs skipped so far."""
    rows = conn.execute(select(rule_skips.c.shard, func.count().label("n"))
                        .where(rule_skips.c.tenant == tenant).group_by(rule_skips.c.shard))
    return {r.shard: r.n for r in rows}

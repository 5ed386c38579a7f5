"""Requests refused before authentication, counted in memory and written now and then.

A flood of unsigned or mis-signed requests must not fill the store or the log (DESIGN §7):
each refusal only bumps a counter per (tenant, connector, reason) and remembers the latest
request's delivery id as the sample. The first refusal of a quiet period is written at once
(an operator sees it immediately); after that the counts are written, and one log line per
key is printed, at most every `every` seconds, and on shutdown (`flush`).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine

from metrics import ingest as ingest_metrics
from store.quarantine import Rejection, add_rejections

__all__ = ["RejectionCounter"]

log = logging.getLogger("accolade.webhooks")


class RejectionCounter:
    def __init__(self, engine: Engine, *, every: float = 5.0) -> None:
        self._engine = engine
        self._every = every
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], Rejection] = {}
        self._last_flush = float("-inf")

    def add(self, tenant: str, connector: str, reason: str, delivery_id: str | None) -> None:
        ingest_metrics.refused(tenant, connector, reason)
        now = datetime.now(UTC)
        with self._lock:
            key = (tenant, connector, reason)
            found = self._pending.get(key)
            if found is None:
                self._pending[key] = Rejection(tenant, connector, reason, 1, now, now, delivery_id)
            else:
                found.count += 1
                found.last_at, found.sample_delivery_id = now, delivery_id
            due = time.monotonic() - self._last_flush >= self._every
        if due:
            self.flush()

    def flush(self) -> None:
        """Write and log what was counted since the last flush (safe from any thread)."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        with self._engine.begin() as conn:
            add_rejections(conn, pending)
        for r in pending:
            log.warning("webhook %s: %d request(s) refused: %s (latest delivery %r)",
                        r.connector, r.count, r.reason, (r.sample_delivery_id or "-")[:80])

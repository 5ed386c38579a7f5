"""Connector health counters: added up in memory, written every few seconds.

Every request and every poll page bumps counters per (tenant, connector): received, accepted,
duplicate, ignored, quarantined, rejected, plus the time of the last event. They are written
as increments to `connector_health` by one background thread every `every` seconds and on
`close`, never as a row per request: health must not undo the group commit's throughput. A
crash loses at most `every` seconds of counts, never an event (the event log is the record;
these are the gauges).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from store.health import HealthDelta, add_health

__all__ = ["OUTCOMES", "HealthCounters"]

log = logging.getLogger("accolade.health")
OUTCOMES = ("received", "accepted", "duplicate", "ignored", "quarantined", "rejected")


@dataclass
class _Pending:
    counts: Counter[str] = field(default_factory=Counter)
    last_event_at: datetime | None = None


class HealthCounters:
    """Thread-safe counters per connector instance; `start` runs the flusher thread."""

    def __init__(self, engine: Engine, *, every: float = 5.0) -> None:
        self._engine = engine
        self._every = every
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_flush = float("-inf")

    def observe(self, tenant: str, connector: str, *, event_at: datetime | None = None,
                **counts: int) -> None:
        """Add `counts` (names from OUTCOMES) and note `event_at` as the latest event seen."""
        unknown = set(counts) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown health counters: {sorted(unknown)}")
        with self._lock:
            pending = self._pending.setdefault((tenant, connector), _Pending())
            pending.counts.update({k: v for k, v in counts.items() if v})
            if event_at is not None and (pending.last_event_at is None or event_at > pending.last_event_at):
                pending.last_event_at = event_at
            due = self._thread is None and time.monotonic() - self._last_flush >= self._every
        if due:  # without the flusher thread (tests, tools), the next observation writes
            self.flush()

    def flush(self) -> None:
        """Write what was counted since the last flush (safe from any thread)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        deltas = [HealthDelta(tenant, connector, dict(p.counts), p.last_event_at)
                  for (tenant, connector), p in pending.items()]
        try:
            with self._engine.begin() as conn:
                add_health(conn, deltas, now=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - counts are gauges; keep them for the next try
            log.warning("could not write connector health counters; will retry", exc_info=True)
            with self._lock:
                for (key, p) in pending.items():
                    again = self._pending.setdefault(key, _Pending())
                    again.counts.update(p.counts)
                    latest = [t for t in (again.last_event_at, p.last_event_at) if t is not None]
                    again.last_event_at = max(latest, default=None)

    def start(self) -> HealthCounters:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="health-flush", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.flush()

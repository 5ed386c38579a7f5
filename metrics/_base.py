"""What every Accolade series shares: no `_created` series, bucket sets, UTC helpers.

Labels carry opaque ids only (tenant, connector id, shard, channel kind): never a person, a
login, an email or a grant, which would be personal data and unbounded cardinality
(DESIGN §7). Metric objects are module-level and registered in no global registry; each
process builds its own registry (`metrics.serve`), so tests can build many apps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar

from prometheus_client import disable_created_metrics
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["LATENCY_BUCKETS", "ROUND_EVENT_BUCKETS", "ROUND_SECONDS_BUCKETS", "Children", "as_utc"]

M = TypeVar("M", bound=MetricWrapperBase)

# `<name>_created` doubles every counter and histogram for a timestamp no dashboard uses.
disable_created_metrics()

# Seconds from an event (or grant) to its grant (or delivery): the target is p99 ≤ 1 s, so
# the buckets are fine around one second; the tail covers retries and parked events.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
                   60.0, 300.0, 1800.0, 7200.0)
ROUND_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ROUND_EVENT_BUCKETS = (0, 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def as_utc(value: datetime) -> datetime:
    """SQLite keeps no offset: a naive time read back from the store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Children(Generic[M]):
    """A metric's label children, each looked up once.

    `metric.labels(...)` validates and takes a lock on every call; on the hot path a plain
    dict lookup is a third of the cost (bench/metrics_cost.py).
    """

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._cache.get(values)
        if child is None:  # two threads may both miss: labels() returns the same child
            child = self._cache[values] = self._metric.labels(*values)
        return child

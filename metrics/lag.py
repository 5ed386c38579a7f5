"""Evaluation lag per shard, read from the store when Prometheus scrapes (back-pressure).

The same facts `accolade shards` and `GET /v1/shards` show (`store.reads.shard_lag`), so an
operator sees one truth in three places. Nothing is counted on the hot path: each scrape runs
one read-only transaction per tenant (a WAL snapshot on SQLite, no write lock). A store that
does not answer sets `accolade_shard_lag_up` to 0 for that tenant instead of failing the scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from config.models import TenantSettings
from store import read_only
from store.reads import shard_lag

__all__ = ["ShardLagCollector"]

log = logging.getLogger("accolade.metrics")
_SHARD = ["tenant", "shard"]


class ShardLagCollector(Collector):
    def __init__(self, engine: Engine, tenants: Sequence[TenantSettings]) -> None:
        self.engine = engine
        self.tenants = list(tenants)

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily("accolade_shard_events_waiting",
                                    "Events stored and not yet evaluated, per shard", labels=_SHARD)
        oldest = GaugeMetricFamily("accolade_shard_oldest_waiting_seconds",
                                   "Age of the oldest waiting event (0 when none waits)", labels=_SHARD)
        processed = CounterMetricFamily("accolade_shard_events_processed",
                                        "Events evaluated per shard since the store was created",
                                        labels=_SHARD)
        last_round = GaugeMetricFamily("accolade_shard_last_round_timestamp_seconds",
                                       "Unix time of the shard's last evaluator round", labels=_SHARD)
        up = GaugeMetricFamily("accolade_shard_lag_up", "1 when the store answered the lag query",
                               labels=["tenant"])
        now = time.time()
        for tenant in self.tenants:
            rows = self._lag(tenant)
            up.add_metric([tenant.id], 0 if rows is None else 1)
            for row in rows or ():
                labels = [tenant.id, str(row["shard"])]
                waiting.add_metric(labels, row["waiting"])
                oldest.add_metric(labels, _age(row["oldest_waiting"], now))
                processed.add_metric(labels, row["processed"])
                if row["last_round"] is not None:
                    last_round.add_metric(labels, _timestamp(row["last_round"]))
        yield from (waiting, oldest, processed, last_round, up)

    def _lag(self, tenant: TenantSettings) -> list[dict[str, Any]] | None:
        try:
            with read_only(self.engine) as conn:
                return shard_lag(conn, tenant.id, tenant.shards)
        except SQLAlchemyError as exc:
            log.warning("shard lag of tenant %s not read: %s", tenant.id, exc)
            return None


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _age(iso: str | None, now: float) -> float:
    return 0.0 if iso is None else max(0.0, now - _timestamp(iso))

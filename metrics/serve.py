"""One registry per process, and where it is served.

- The receiver serves `GET /metrics` on its own HTTP port (`api.app`): ingest series, shard
  lag, process.
- The worker serves `http://<metrics.worker_listen>/metrics` from a daemon thread: evaluator
  and delivery series, shard lag, the Temporal SDK's own metrics, process.

A worker whose metrics address is taken logs an error and runs on without it: metrics are
there to watch the hub, never a reason for it to stop (two workers on one machine need one
address each, e.g. `worker_listen: "${ACCOLADE_WORKER_METRICS:-127.0.0.1:9464}"`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector, start_http_server
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from config.models import Config
from metrics.ingest import RECEIVER_METRICS
from metrics.lag import ShardLagCollector
from metrics.pipeline import WORKER_METRICS
from metrics.temporal import SdkMetrics

__all__ = ["WorkerMetrics", "receiver_registry", "worker_registry"]

log = logging.getLogger("accolade.metrics")


def _registry(collectors: Iterable[Collector]) -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def receiver_registry(config: Config, engine: Engine) -> CollectorRegistry:
    return _registry([*RECEIVER_METRICS, ShardLagCollector(engine, config.tenants)])


def worker_registry(config: Config, engine: Engine, sdk: SdkMetrics | None = None) -> CollectorRegistry:
    extra = [sdk] if sdk is not None else []
    return _registry([*WORKER_METRICS, ShardLagCollector(engine, config.tenants), *extra])


class WorkerMetrics:
    """The worker's /metrics server and the Temporal runtime that feeds it."""

    def __init__(self, sdk: SdkMetrics, server: WSGIServer | None) -> None:
        self.sdk = sdk
        self.server = server

    @property
    def port(self) -> int | None:
        return None if self.server is None else int(self.server.server_port)

    @classmethod
    def start(cls, config: Config, engine: Engine) -> WorkerMetrics | None:
        """Serve the worker's metrics; call before connecting to Temporal. None when turned off."""
        address = config.metrics.worker_address
        if address is None:
            return None
        sdk = SdkMetrics()
        sdk.install_as_default()
        sdk.start()
        host, port = address
        try:
            server, _thread = start_http_server(port, host, registry=worker_registry(config, engine, sdk))
        except OSError as exc:
            log.error("worker metrics not served: cannot listen on %s (%s); set metrics.worker_listen",
                      config.metrics.worker_listen, exc)
            return cls(sdk, None)
        log.info("worker metrics on http://%s:%d/metrics", host, server.server_port)
        return cls(sdk, server)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.sdk.stop()

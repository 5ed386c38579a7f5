"""Prometheus metrics for the receiver and the worker (README "Metrics").

Hooks in the hot path are one call each into `metrics.ingest` (receiver) or
`metrics.pipeline` (worker); shard lag is read at scrape time (`metrics.lag`); the Temporal
SDK's metrics are merged into the worker's registry (`metrics.temporal`); `metrics.serve`
builds each process's registry and serves the worker's.
"""

from metrics.lag import ShardLagCollector
from metrics.serve import WorkerMetrics, receiver_registry, worker_registry
from metrics.temporal import SdkMetrics

__all__ = ["SdkMetrics", "ShardLagCollector", "WorkerMetrics", "receiver_registry", "worker_registry"]

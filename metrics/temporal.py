"""The Temporal SDK's own metrics, merged into the worker's /metrics (one port per process).

The SDK's core can serve Prometheus on a port of its own (`PrometheusConfig`), or record
into a `MetricBuffer` that Python drains. We take the buffer: `SdkMetrics` drains it at every
scrape and, so it never overflows when nobody scrapes, from a daemon thread every
`drain_every` seconds, and keeps what it read as Prometheus families: counters summed,
gauges at their last value, histograms in fixed buckets (durations in seconds). Names keep
the SDK's `temporal_` prefix; counters get the usual `_total`. SDK labels are namespace,
task queue, workflow and activity types, operation: no personal data.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetric,
    BufferedMetricUpdate,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

__all__ = ["SDK_BUCKETS", "SdkMetrics"]

log = logging.getLogger("accolade.metrics")
# SDK histograms are latencies in seconds (poll, schedule-to-start, execution, end-to-end).
SDK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
               300.0, 1800.0)
_BUFFER_SIZE = 100_000  # the SDK's advice: tens of thousands; drained every few seconds
Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(SDK_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.buckets[bisect.bisect_left(SDK_BUCKETS, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class _Family:
    name: str
    help: str
    kind: int
    values: dict[Labels, Any] = field(default_factory=dict)

    def apply(self, labels: Labels, value: float) -> None:
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            self.values[labels] = self.values.get(labels, 0) + value
        elif self.kind == BUFFERED_METRIC_KIND_GAUGE:
            self.values[labels] = value
        else:
            self.values.setdefault(labels, _Histogram()).observe(value)

    def metric(self) -> Metric:
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            family = Metric(self.name, self.help, "counter")
            for labels, value in self.values.items():
                family.add_sample(f"{self.name}_total", dict(labels), value)
        elif self.kind == BUFFERED_METRIC_KIND_GAUGE:
            family = Metric(self.name, self.help, "gauge")
            for labels, value in self.values.items():
                family.add_sample(self.name, dict(labels), value)
        else:
            family = Metric(self.name, self.help, "histogram")
            for labels, hist in self.values.items():
                _histogram_samples(family, dict(labels), hist)
        return family


def _histogram_samples(family: Metric, labels: dict[str, str], hist: _Histogram) -> None:
    cumulative = 0
    for bound, count in zip((*SDK_BUCKETS, float("inf")), hist.buckets, strict=True):
        cumulative += count
        le = "+Inf" if bound == float("inf") else repr(float(bound))
        family.add_sample(f"{family.name}_bucket", {**labels, "le": le}, cumulative)
    family.add_sample(f"{family.name}_count", labels, hist.count)
    family.add_sample(f"{family.name}_sum", labels, hist.total)


class SdkMetrics(Collector):
    """A Temporal `Runtime` whose SDK metrics this collector exposes.

    Create it before any Temporal client, and connect with `runtime` (or make it the
    process default with `install_as_default`).
    """

    def __init__(self, *, drain_every: float = 2.0) -> None:
        self._buffer = MetricBuffer(_BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self._buffer))
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drain_every = drain_every
        self._thread: threading.Thread | None = None

    def install_as_default(self) -> None:
        """Every client this process connects from now on records into this buffer."""
        Runtime.set_default(self.runtime, error_if_already_set=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._drain_forever, name="temporal-metrics",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def drain(self) -> None:
        with self._lock:
            for update in self._buffer.retrieve_updates():
                self._family(update.metric).apply(_labels(update), update.value)

    def collect(self) -> Iterator[Metric]:
        self.drain()
        with self._lock:
            families = [f.metric() for f in self._families.values()]
        yield from families

    def _family(self, metric: BufferedMetric) -> _Family:
        found = self._families.get(metric.name)
        if found is None:
            found = _Family(metric.name, metric.description or metric.name, metric.kind)
            self._families[metric.name] = found
        return found

    def _drain_forever(self) -> None:
        while not self._stop.wait(self._drain_every):
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - a metrics hiccup must not end the drain thread
                log.exception("draining Temporal SDK metrics failed")


def _labels(update: BufferedMetricUpdate) -> Labels:
    attributes: Mapping[str, Any] = update.attributes
    return tuple(sorted((key, _text(value)) for key, value in attributes.items()))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)

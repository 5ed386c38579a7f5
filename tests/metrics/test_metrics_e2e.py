"""Both /metrics endpoints of a real hub (worker and receiver processes, the dev server).

One signed webhook becomes one grant delivered on two channels; the worker process started
with it, so its counters are exact, and its scrape carries the Temporal SDK's own series,
merged from the SDK's metric buffer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.hub import Hub, wait_for
from tests.metrics.scrape import Samples, parse, total, value

pytestmark = pytest.mark.temporal


@pytest.fixture
def hub(tmp_path: Path, sqlite_url: str, temporal_env) -> Iterator[Hub]:  # noqa: ANN001
    hub = Hub(tmp_path, sqlite_url, temporal_env.client.service_client.config.target_host)
    hub.prepare()
    try:
        yield hub
    finally:
        hub.stop()


def _scrape(url: str) -> Samples:
    answer = httpx.get(url, timeout=5)
    assert answer.status_code == 200
    return parse(answer.text)


def _worker_metrics_up(hub: Hub) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{hub.metrics_port}/metrics", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_worker_and_receiver_serve_the_pipeline_and_the_sdk(hub: Hub) -> None:
    hub.start_worker()
    hub.start_receiver()
    assert hub.post_webhook(delivery="m-1").json()["accepted"] == 1
    hub.wait_delivered()
    wait_for(lambda: _worker_metrics_up(hub), timeout=10, what="the worker's /metrics")
    tenant = hub.tenant
    worker = _scrape(f"http://127.0.0.1:{hub.metrics_port}/metrics")

    assert value(worker, "accolade_grants_total", tenant=tenant) == 1
    assert value(worker, "accolade_event_to_grant_seconds_count", tenant=tenant) == 1
    assert 0 < value(worker, "accolade_event_to_grant_seconds_sum", tenant=tenant) < 30
    for kind in ("console", "feed"):
        assert value(worker, "accolade_deliveries_total", tenant=tenant, kind=kind, status="sent") == 1
        assert value(worker, "accolade_grant_to_delivery_seconds_count", tenant=tenant, kind=kind) == 1
    assert value(worker, "accolade_evaluator_round_events_sum", tenant=tenant) == 1
    assert total(worker, "accolade_shard_events_waiting", tenant=tenant) == 0
    assert total(worker, "accolade_shard_events_processed_total", tenant=tenant) == 1
    # Temporal's own series, merged into the same registry and port
    assert total(worker, "temporal_worker_start_total", task_queue=hub.task_queue) >= 1
    assert total(worker, "temporal_activity_execution_latency_count", activity_type="evaluate_shard") >= 1
    assert total(worker, "temporal_workflow_completed_total", workflow_type="DeliverGrantWorkflow") == 1
    assert value(worker, "process_resident_memory_bytes") > 0

    receiver = _scrape(f"{hub.url}/metrics")
    labels = {"tenant": tenant, "connector": "github"}
    assert value(receiver, "accolade_events_total", outcome="accepted", **labels) == 1
    assert value(receiver, "accolade_webhook_requests_total", outcome="stored", **labels) == 1
    assert total(receiver, "accolade_shard_events_waiting", tenant=tenant) == 0

"""The worker's series, from the activities themselves on a real store (SQLite and PostgreSQL).

The activities run in the SDK's `ActivityEnvironment` (a real activity context, no server);
the registry is the one the worker serves (`metrics.worker_registry`). Every check is a
difference between two scrapes: counters live for the whole test process.
"""

from __future__ import annotations

import io
import socket
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import DeliverInput, EvaluateShardInput, MarkFailedInput
from activities.delivery import DeliveryActivities
from activities.evaluation import EvaluationActivities
from config import parse_config
from identity.sync import sync_people
from intake.ingest import ingest_batch
from metrics import worker_registry
from store.eventlog import shard_of
from store.schema import grants
from tests.factories import CONFIG_TEXT, ENV
from tests.metrics.scrape import Samples, delta, parse, total, value


def _closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(db_url: str):  # noqa: ANN202 - Config
    """The test config, plus a Slack channel nobody answers and one without a token."""
    channels = ("      - {id: feed, kind: feed}\n"
                "      - {id: slack, kind: slack, token: '${TEST_SLACK_TOKEN}', "
                f"base_url: 'http://127.0.0.1:{_closed_port()}/api/'}}\n"
                "      - {id: quiet, kind: slack}\n")
    text = (CONFIG_TEXT.replace('"sqlite:///unused.db"', f'"{db_url}"')
            .replace("      - {id: feed, kind: feed}\n", channels)
            .replace('identities: ["github:id=15669918", "github:login=Codertocat"]',
                     'identities: ["github:id=15669918", "github:login=Codertocat", "slack:U0METRICS"]')
            .replace("deliver_to: [console, feed]", "deliver_to: [console, feed, slack, quiet]"))
    return parse_config(text, file="test.yaml", env={**ENV, "TEST_SLACK_TOKEN": "xoxb-test"})


def _events(n: int) -> list[dict]:
    return [{"id": f"w{i}", "source": "/ci/worker-metrics", "type": "ci.pipeline.completed",
             "time": "2026-11-01T10:00:00Z",
             "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}
            for i in range(n)]


def test_a_round_moves_lag_rounds_grants_and_event_to_grant_latency(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    registry = worker_registry(config, engine)
    shard = {"tenant": "demo", "shard": str(shard_of("demo-1", tenant.shards))}
    ingest_batch(engine, tenant, _events(3))
    waiting = scrape(registry)
    assert value(waiting, "accolade_shard_events_waiting", **shard) == 3
    assert value(waiting, "accolade_shard_oldest_waiting_seconds", **shard) > 0

    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    request = EvaluateShardInput(tenant="demo", shard=int(shard["shard"]), batch_size=100, now=datetime.now(UTC))
    assert ActivityEnvironment().run(evaluation.evaluate_shard, request).processed == 3
    after = scrape(registry)

    assert value(after, "accolade_shard_events_waiting", **shard) == 0
    assert value(after, "accolade_shard_oldest_waiting_seconds", **shard) == 0
    assert delta(waiting, after, "accolade_shard_events_processed_total", **shard) == 3
    assert delta(waiting, after, "accolade_evaluator_round_seconds_count", tenant="demo") == 1
    assert delta(waiting, after, "accolade_evaluator_round_events_sum", tenant="demo") == 3
    assert delta(waiting, after, "accolade_grants_total", tenant="demo") == 1
    assert delta(waiting, after, "accolade_event_to_grant_seconds_count", tenant="demo") == 1
    latency = delta(waiting, after, "accolade_event_to_grant_seconds_sum", tenant="demo")
    assert 0 < latency < 60
    assert delta(waiting, after, "accolade_event_to_grant_seconds_bucket", tenant="demo", le="60.0") == 1


def test_delivery_outcomes_per_channel_kind_and_grant_to_delivery_latency(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    registry = worker_registry(config, engine)
    ingest_batch(engine, tenant, _events(1))
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    request = EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=100, now=datetime.now(UTC))
    ActivityEnvironment().run(evaluation.evaluate_shard, request)
    with engine.connect() as conn:
        grant_id = conn.execute(select(grants.c.grant_id)).scalar_one()
    delivery = DeliveryActivities(engine, config, console=io.StringIO())
    before = scrape(registry)

    def deliver(channel: str) -> str:
        return ActivityEnvironment().run(delivery.deliver, DeliverInput(tenant="demo", grant_id=grant_id,
                                                                        channel=channel)).status

    assert deliver("console") == "sent"
    assert deliver("console") == "sent"  # already delivered: not counted again
    assert deliver("quiet") == "fell_back"  # Slack without a token: the feed instead
    with pytest.raises(ApplicationError):  # nothing listens at its base_url: retryable
        deliver("slack")
    ActivityEnvironment().run(delivery.mark_failed, MarkFailedInput(
        tenant="demo", grant_id=grant_id, channel="feed", reason="given up in a test"))
    after = scrape(registry)

    outcomes = {(kind, status): delta(before, after, "accolade_deliveries_total", tenant="demo", kind=kind,
                                      status=status)
                for kind in ("console", "feed", "slack") for status in ("sent", "fell_back", "retrying", "failed")}
    assert {k: v for k, v in outcomes.items() if v} == {
        ("console", "sent"): 1, ("slack", "fell_back"): 1, ("slack", "retrying"): 1, ("feed", "failed"): 1}
    assert delta(before, after, "accolade_grant_to_delivery_seconds_count", tenant="demo", kind="console") == 1
    assert delta(before, after, "accolade_grant_to_delivery_seconds_count", tenant="demo", kind="slack") == 1
    assert 0 < delta(before, after, "accolade_grant_to_delivery_seconds_sum", tenant="demo", kind="console") < 60


def test_a_round_that_raises_is_counted_as_failed(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    registry = worker_registry(config, engine)
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    before = scrape(registry)
    with pytest.raises(ValueError, match="not configured"):
        ActivityEnvironment().run(evaluation.evaluate_shard,
                                  EvaluateShardInput(tenant="nobody", shard=0, batch_size=10, now=datetime.now(UTC)))
    after = scrape(registry)
    assert delta(before, after, "accolade_evaluator_round_failures_total", tenant="nobody") == 1
    assert total(after, "accolade_evaluator_round_seconds_count", tenant="nobody") == 0


def scrape(registry) -> Samples:  # noqa: ANN001 - CollectorRegistry
    return parse(generate_latest(registry).decode())

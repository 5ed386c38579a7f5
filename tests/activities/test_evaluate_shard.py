"""The evaluation activity called directly (no Temporal): overlapping attempts count once.

Two attempts of one round (a retry racing an attempt Temporal gave up on) both read the same
batch and evaluate it; only one may store its effects. A barrier holds each attempt after its
read until the other has read too, so both always reach the guarded write with the same
batch: without the guard the test fails every time, not only when the threads happen to
interleave.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

import activities.shard_round
from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.schema import event_queue, grants, progress, shard_state
from tests.factories import make_config


def _events(n: int) -> list[dict]:
    return [{"id": f"e{i}", "source": "/ci", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
             "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}
            for i in range(n)]


@pytest.fixture
def both_read_first(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Each attempt waits after reading its batch (in the pure `evaluate`) for the other."""
    barrier = threading.Barrier(2, timeout=20)
    real_evaluate = activities.shard_round.evaluate

    def evaluate_after_both_read(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(activities.shard_round, "evaluate", evaluate_after_both_read)
    return barrier


def test_overlapping_attempts_change_progress_once(
    engine: Engine, db_url: str, both_read_first: threading.Barrier
) -> None:
    config = make_config(db_url)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    assert ingest_batch(engine, tenant, _events(40)).count("accepted") == 40
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    request = EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=40, now=datetime.now(UTC))
    outcomes: list[object] = []

    def attempt() -> None:
        try:
            outcomes.append(evaluation.evaluate_shard(request).processed)
        except ApplicationError as exc:  # the guard: this attempt rolled back
            outcomes.append(exc.type)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not both_read_first.broken, "the attempts never overlapped"
    assert sorted(outcomes, key=str) == [40, "Retryable"]  # both read all 40; one stored them
    with engine.connect() as conn:
        assert conn.execute(select(progress.c.count)).scalar_one() == 40
        assert conn.execute(select(shard_state.c.processed)).scalar_one() == 40
        assert len(conn.execute(select(grants)).all()) == 1
        assert conn.execute(select(event_queue)).all() == []

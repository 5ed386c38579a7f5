"""The evaluation activity called directly (no Temporal): overlapping attempts count once."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from api.ingest import ingest_batch
from identity.sync import sync_people
from store.eventlog import shard_of
from store.schema import event_queue, grants, progress
from tests.factories import make_config


def _events(n: int) -> list[dict]:
    return [{"id": f"e{i}", "source": "/ci", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
             "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}
            for i in range(n)]


def test_overlapping_attempts_change_progress_once(engine: Engine, db_url: str) -> None:
    config = make_config(db_url)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    assert ingest_batch(engine, tenant, _events(40)).count("accepted") == 40
    activities = EvaluationActivities(engine, config, client=None, task_queue="unused")
    request = EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=40)
    outcomes: list[object] = []

    def attempt() -> None:
        try:
            outcomes.append(activities.evaluate_shard(request).processed)
        except ApplicationError as exc:  # the guard: this attempt rolled back
            outcomes.append(exc.type)

    for _ in range(5):  # several rounds of two racing attempts on whatever is left
        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    processed = sum(o for o in outcomes if isinstance(o, int))
    assert processed == 40
    assert set(outcomes) <= {0, 40, "Retryable"}
    with engine.connect() as conn:
        assert conn.execute(select(progress.c.count)).scalar_one() == 40
        assert len(conn.execute(select(grants)).all()) == 1
        assert conn.execute(select(event_queue)).all() == []

"""A grant and its message, as the delivery activity hands them to a channel."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.messages import Message
from channels import Delivery, GrantView

GRANT = GrantView(
    grant_id="0b5e7c1e-6f0a-4c8e-9a52-3f1f2d9b1a11", tenant="demo", person_id="demo-1",
    achievement="first-green-pipeline", version=1, name="First green pipeline",
    granted_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    evidence={"count": 1, "events": ["/accolade/demo/github#workflow_run:289782451:1:success"]},
)
MESSAGE = Message(title="First green pipeline", why="1 ci.pipeline.completed event (you have 1) <b>",
                  next="Keep it green & ten more earn the next badge.")


def delivery(channel_id: str, recipient: str, *, attempt: int = 1) -> Delivery:
    return Delivery(channel_id, GRANT, MESSAGE, recipient, attempt)


def grant_each(engine, config, github_ids: dict[str, str]) -> list[str]:  # noqa: ANN001
    """One green pipeline per person (person id → GitHub id), evaluated on a real store: the
    grants and their queued deliveries, as the evaluator writes them. Returns the grant ids
    in person order."""
    from sqlalchemy import select
    from temporalio.testing import ActivityEnvironment

    from activities.contracts import EvaluateShardInput
    from activities.evaluation import EvaluationActivities
    from identity.sync import sync_people
    from intake.ingest import ingest_batch
    from store.eventlog import shard_of
    from store.schema import grants

    tenant = config.tenants[0]
    sync_people(engine, tenant)
    ingest_batch(engine, tenant, [{
        "id": f"green-{person}", "source": "/ci/tests", "type": "ci.pipeline.completed",
        "time": "2026-11-01T10:00:00Z", "data": {"actor": {"system": "github", "id": gid}, "outcome": "success"}}
        for person, gid in github_ids.items()])
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    for shard in sorted({shard_of(person, tenant.shards) for person in github_ids}):
        ActivityEnvironment().run(evaluation.evaluate_shard, EvaluateShardInput(
            tenant=tenant.id, shard=shard, batch_size=100, now=datetime.now(UTC)))
    with engine.connect() as conn:
        return [r.grant_id for r in conn.execute(select(grants.c.grant_id).order_by(grants.c.person_id))]

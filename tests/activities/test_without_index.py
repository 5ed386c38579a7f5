"""A `without` rule sees B events of other persons through the index ingest keeps.

The reassignment is the manager's (here an actor nobody linked: parked, on no shard), the
resolution the engineer's: the engineer's shard never sees the B event, only the index row
the evaluation activity reads for its batch. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.schema import grants, progress
from tests.factories import CONFIG_TEXT, make_config

CLEAN = CONFIG_TEXT.replace("""        deliver_to: [console, feed]
""", """        deliver_to: [console, feed]
      - key: clean-resolver
        version: 1
        name: Two tickets resolved without reassignment
        rule: {count: 2, of: ticket.resolved, without: {of: ticket.reassigned, same: ticket}}
""")


def _ticket(kind: str, ticket: str, hour: int, actor: str) -> dict:
    return {"id": f"{kind}-{ticket}", "source": "/jira", "type": f"ticket.{kind}",
            "time": f"2026-11-02T{hour:02d}:00:00Z", "data": {"actor": {"system": "github", "id": actor},
                                                            "ticket": ticket}}


def test_a_reassignment_by_someone_else_keeps_a_resolution_from_counting(engine: Engine, db_url: str) -> None:
    config = make_config(db_url, CLEAN)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    outcome = ingest_batch(engine, tenant, [_ticket("reassigned", "T-1", 9, "manager-77"),
                                            _ticket("resolved", "T-1", 10, "15669918"),
                                            _ticket("resolved", "T-2", 10, "15669918")])
    assert [item.parked for item in outcome.items] == [True, False, False]
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    evaluation.evaluate_shard(EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", tenant.shards),
                                                 batch_size=50, now=datetime(2026, 11, 2, 12, tzinfo=UTC)))
    with engine.connect() as conn:
        row = conn.execute(select(progress).where(progress.c.achievement == "clean-resolver")).one()
        granted = conn.execute(select(grants).where(grants.c.achievement == "clean-resolver")).all()
    assert row.count == 1 and list(row.first_events) == ["/jira#resolved-T-2"] and granted == []

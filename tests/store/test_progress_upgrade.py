"""A database with today's count rows (written before migration 0008) upgrades and evaluates on.

The rows are written at revision 0007 exactly as the pre-Rules-2 evaluator wrote them; after
the upgrade the next event continues the same count, grants with the same grant id and the
row gains its per-kind state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert, select

from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from identity.sync import sync_people
from intake.ingest import ingest_batch
from rules.engine import grant_id
from store import create_store_engine
from store._db import alembic_config, migrate
from store.eventlog import shard_of
from store.schema import grants, progress
from tests.factories import CONFIG_TEXT, make_config

THREE = CONFIG_TEXT.replace("rule: {count: 1, of: ci.pipeline.completed", "rule: {count: 3, of: ci.pipeline.completed")


def _pipeline(n: int) -> dict:
    return {"id": f"p{n}", "source": "/ci", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}


def test_a_count_row_from_before_0008_continues_after_the_upgrade(db_url: str) -> None:
    engine = create_store_engine(db_url)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.execute(insert(progress).values(  # the columns 0007 has, as the old evaluator wrote them
            tenant="demo", person_id="demo-1", achievement="first-green-pipeline", version=1, count=2,
            first_events=["/ci#p1", "/ci#p2"], digest="d" * 64, granted=False,
            updated_at=datetime(2026, 11, 1, tzinfo=UTC)))
    migrate(engine)
    config = make_config(db_url, THREE)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    assert ingest_batch(engine, tenant, [_pipeline(3)]).count("accepted") == 1
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    evaluation.evaluate_shard(EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", tenant.shards),
                                                 batch_size=10, now=datetime(2026, 11, 1, 11, tzinfo=UTC)))
    with engine.connect() as conn:
        row = conn.execute(select(progress)).one()
        granted = conn.execute(select(grants)).all()
    engine.dispose()
    assert (row.count, row.granted, row.first_events) == (3, True, ["/ci#p1", "/ci#p2", "/ci#p3"])
    assert row.state is not None and row.shard == shard_of("demo-1", tenant.shards)
    assert [g.grant_id for g in granted] == [grant_id("demo", "first-green-pipeline", "demo-1")]
    assert granted[0].evidence["count"] == 3

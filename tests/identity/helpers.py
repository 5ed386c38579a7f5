"""Shared by the identity tests: a config with a two-event rule, ingest, and evaluator rounds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from config.models import Config
from intake.ingest import ingest_batch
from store.schema import grants
from tests.factories import make_config

TEXT = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    shards: 2
    api_keys: ["${TEST_API_KEY}"]
    shared_mailboxes: [team@example.com]
    channels:
      - {id: feed, kind: feed}
    achievements:
      - key: two-green
        version: 1
        name: Two green pipelines
        rule: {count: 2, of: ci.pipeline.completed, where: {outcome: success}}
        deliver_to: [feed]
      - key: first-green
        version: 1
        name: First green pipeline
        rule: {count: 1, of: ci.pipeline.completed, where: {outcome: success}}
        deliver_to: [feed]
"""


def config(db_url: str) -> Config:
    return make_config(db_url, TEXT)


def green(event_id: str, actor: dict[str, Any], *, hour: int = 10) -> dict[str, Any]:
    return {"id": event_id, "source": "/ci", "type": "ci.pipeline.completed",
            "time": f"2026-11-01T{hour:02d}:00:00Z", "data": {"actor": actor, "outcome": "success"}}


def ingest(engine: Engine, cfg: Config, items: list[dict[str, Any]]) -> None:
    outcome = ingest_batch(engine, cfg.tenants[0], items)
    assert outcome.count("rejected") == 0, outcome.as_json()


def evaluate_all(engine: Engine, cfg: Config) -> None:
    """Evaluator rounds on every shard until the queues are empty (no Temporal needed)."""
    tenant = cfg.tenants[0]
    evaluation = EvaluationActivities(engine, cfg, client=None, task_queue="unused")
    for shard in range(tenant.shards):
        while evaluation._evaluate_shard(EvaluateShardInput(tenant=tenant.id, shard=shard, now=datetime.now(UTC),
                                                            batch_size=50)).more:
            pass


def live_grants(engine: Engine) -> set[tuple[str, str]]:
    """(person, achievement) of every grant not revoked."""
    with engine.connect() as conn:
        rows = conn.execute(select(grants.c.person_id, grants.c.achievement).where(
            grants.c.revoked_at.is_(None)))
        return {(r.person_id, r.achievement) for r in rows}

"""An event a rule cannot judge is not counted, is recorded for admins, and never stops the shard.

The activity is called directly (as the evaluator's round would) on SQLite and PostgreSQL.
Two ways to be odd: data the engine reports (a string where a number was expected), and an
engine that raises outright on one event (a bug), which the round isolates.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

import activities.shard_round
from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.reads import shard_lag
from store.schema import event_queue, grants, progress, rule_skips
from tests.factories import CONFIG_TEXT, make_config

BIG_DEALS = CONFIG_TEXT.replace("""        deliver_to: [console, feed]
""", """        deliver_to: [console, feed]
      - key: big-deals
        version: 1
        name: Two big deals
        rule: {count: 2, of: deal.closed, where: {amount: {gt: 1000}}}
""")
NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


def _deal(n: int, amount: Any) -> dict:
    return {"id": f"d{n}", "source": "/crm", "type": "deal.closed", "time": f"2026-11-02T10:0{n}:00Z",
            "data": {"actor": {"system": "github", "id": "15669918"}, "amount": amount}}


def _round(engine: Engine, db_url: str, deals: list[dict]) -> Any:
    config = make_config(db_url, BIG_DEALS)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    assert ingest_batch(engine, tenant, deals).count("accepted") == len(deals)
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    return evaluation.evaluate_shard(EvaluateShardInput(
        tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=50, now=NOW))


def _stored(engine: Engine) -> tuple[Any, list[Any], list[Any], list[Any]]:
    with engine.connect() as conn:
        row = conn.execute(select(progress).where(progress.c.achievement == "big-deals")).one_or_none()
        return (row, conn.execute(select(rule_skips)).all(), conn.execute(select(grants)).all(),
                conn.execute(select(event_queue)).all())


def test_an_odd_value_is_recorded_not_counted_and_the_round_completes(
    engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="accolade.evaluation"):
        result = _round(engine, db_url, [_deal(1, 5000), _deal(2, "five thousand"), _deal(3, "2500")])
    row, skips, granted, queue = _stored(engine)
    assert (result.processed, result.skipped, queue) == (3, 1, [])  # the batch is consumed
    assert row.count == 2 and [g.achievement for g in granted] == ["big-deals"]
    assert [(s.event_key, s.achievement, s.version) for s in skips] == [("/crm#d2", "big-deals", 1)]
    assert "not a number" in skips[0].reason
    with engine.connect() as conn:
        lag = shard_lag(conn, "demo", 4)
    assert sum(s["skipped"] for s in lag) == 1
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "big-deals" in logged and "demo-1" not in logged and "five thousand" not in logged


def test_an_engine_that_raises_on_one_event_skips_that_event_only(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = activities.shard_round.evaluate

    def raises_on_d2(state: Any, events: Any, *args: Any, **kwargs: Any) -> Any:
        if any(item.event.id == "d2" for item in events):
            raise KeyError("a bug")
        return real(state, events, *args, **kwargs)

    monkeypatch.setattr(activities.shard_round, "evaluate", raises_on_d2)
    result = _round(engine, db_url, [_deal(1, 5000), _deal(2, 7000), _deal(3, 2500)])
    row, skips, granted, queue = _stored(engine)
    assert (result.processed, result.skipped, queue) == (3, 1, [])
    assert row.count == 2 and len(granted) == 1  # d1 and d3 counted
    assert [(s.event_key, s.achievement) for s in skips] == [("/crm#d2", "*")]


def test_a_due_key_the_engine_raises_on_loses_its_due_time_instead_of_waking_the_shard_for_ever(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    weekly = BIG_DEALS.replace("rule: {count: 2, of: deal.closed, where: {amount: {gt: 1000}}}",
                               "rule: {count: 2, of: deal.closed, window: {calendar: week}}")
    config = make_config(db_url, weekly)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    ingest_batch(engine, tenant, [_deal(1, 5000)])
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    shard = shard_of("demo-1", tenant.shards)
    first = evaluation.evaluate_shard(EvaluateShardInput(tenant="demo", shard=shard, batch_size=50, now=NOW))
    assert first.next_due == datetime(2026, 11, 9, tzinfo=UTC)  # the week closes (tenant zone UTC)
    real = activities.shard_round.evaluate

    def raises_when_due(*args: Any, due_keys: Any = (), **kwargs: Any) -> Any:
        if list(due_keys):
            raise ZeroDivisionError("a bug")
        return real(*args, due_keys=due_keys, **kwargs)

    monkeypatch.setattr(activities.shard_round, "evaluate", raises_when_due)
    later = evaluation.evaluate_shard(EvaluateShardInput(
        tenant="demo", shard=shard, batch_size=50, now=datetime(2026, 11, 10, tzinfo=UTC)))
    row, skips, _, _ = _stored(engine)
    assert (later.due, later.skipped, later.next_due) == (1, 1, None)
    assert row.due_at is None and row.count == 1  # kept as it was, no longer due
    assert [(s.event_key, s.achievement) for s in skips] == [("(due time)", "big-deals")]

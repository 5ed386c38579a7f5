"""Time kept by Temporal: windows close, streaks break and maintained-for rules grant with no
event arriving, at the instant they are due, in the tenant's zone and across DST changes.

A real worker runs the evaluator and its activities against Temporal's time-skipping test
server and a fresh SQLite store. Events enter through the real ingest path, validated at the
server's (skipped) time. The evaluators' wake timer is a week, so anything that happens
within a skip happened because the shard's due time woke it, not the safety-net timer. The
last test replays a recorded evaluator history, so the waits stay deterministic.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.temporal_client import wake_evaluators
from config import Config, parse_config
from identity.sync import sync_people
from intake.ingest import append_validated, validate_items
from store import create_store_engine, migrate
from store.schema import grants, progress
from tests.conftest import SEARCH_ATTRIBUTES, venv_binary
from tests.factories import ENV
from worker import build_worker
from workflows.evaluator import EvaluatorWorkflow, evaluator_id

pytestmark = pytest.mark.temporal
BERLIN = ZoneInfo("Europe/Berlin")

CONFIG = """\
store: {url: "STORE"}
temporal: {task_queue: QUEUE, evaluator_wake: 7d}
tenants:
  - id: demo
    time_zone: Europe/Berlin
    shards: 1
    api_keys: ["${TEST_API_KEY}"]
    people:
      - {person: ana, identities: ["github:id=1"]}
    achievements:
      - key: weekly-three
        version: 1
        name: Three tasks this week
        rule: {count: 3, of: task.completed, window: {calendar: week}}
      - key: five-day-streak
        version: 1
        name: Deployed five days in a row
        rule: {of: deploy.finished, streak: {period: day, length: 5}}
      - key: compliant-two-days
        version: 1
        name: Two days compliant
        rule:
          maintained: 2d
          from: {of: compliance.checked, where: {outcome: pass}}
          broken_by: {of: compliance.checked, where: {outcome: fail}}
"""


@dataclass
class Hub:
    env: WorkflowEnvironment
    config: Config
    engine: Engine
    handle: WorkflowHandle[Any, Any]

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def skip_to(self, moment: datetime) -> None:
        """Skip the server's clock to `moment`; timers due on the way fire in order."""
        await self.env.sleep(moment - await self.now())

    async def send(self, *events: tuple[str, datetime, dict[str, Any]]) -> None:
        """Ingest (type, event time, data) as a connector would at the server's current time."""
        raw = [{"id": uuid.uuid4().hex, "source": "/test", "type": kind, "time": at.isoformat(),
                "data": {"actor": {"system": "github", "id": "1"}, **data}} for kind, at, data in events]
        good, bad = validate_items(raw, now=await self.now())
        assert not bad, [b.reason for b in bad]
        tenant = self.config.tenants[0]
        with self.engine.begin() as conn:
            append_validated(conn, tenant, good, set())
        await self.handle.signal("notify")

    def row(self, achievement: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(progress).where(progress.c.achievement == achievement)).one_or_none()

    def grants(self, achievement: str) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(grants).where(grants.c.achievement == achievement)).all()

    async def until(self, check: Callable[[], bool], what: str, *, within: float = 15.0) -> None:
        """Wait (real seconds) for the round a skip set off to be stored."""
        for _ in range(int(within / 0.05)):
            if check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not seen within {within} s: {what}")


def utc(value: datetime | None) -> datetime | None:
    return None if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    # Without them the evaluator's start (it sets AccoladeTenant) waits for ever.
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in SEARCH_ATTRIBUTES}))
    url = f"sqlite:///{tmp_path / 'accolade.db'}"
    config = parse_config(CONFIG.replace("STORE", url).replace("QUEUE", f"q-{uuid.uuid4().hex}"),
                          file="test.yaml", env=ENV)
    engine = create_store_engine(url)
    migrate(engine)
    sync_people(engine, config.tenants[0])
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(env.client, config, engine, executor=executor):
            await wake_evaluators(env.client, config, "demo", [0])
            yield Hub(env, config, engine, env.client.get_workflow_handle(evaluator_id("demo", 0)))
    engine.dispose()
    await env.shutdown()


def next_monday(after: datetime) -> datetime:
    local = after.astimezone(BERLIN)
    days = 7 - local.weekday()
    return berlin(local.year, local.month, local.day) + timedelta(days=days)


async def test_a_week_closes_with_no_event_progress_resets_and_nothing_is_granted(hub: Hub) -> None:
    monday = next_monday(await hub.now() + timedelta(days=7))
    await hub.skip_to(monday + timedelta(hours=10))
    await hub.send(("task.completed", monday + timedelta(hours=9), {}),
                   ("task.completed", monday + timedelta(hours=10), {}))
    await hub.until(lambda: (r := hub.row("weekly-three")) is not None and r.count == 2, "two this week")
    closes = monday + timedelta(days=7)  # next Monday 00:00 in Berlin
    assert utc(hub.row("weekly-three").due_at) == closes
    for _ in range(100):  # the round is stored before the workflow has its result
        if await hub.handle.query(EvaluatorWorkflow.next_due) == closes:
            break
        await asyncio.sleep(0.05)
    assert await hub.handle.query(EvaluatorWorkflow.next_due) == closes  # one timer: the shard's

    await hub.skip_to(closes - timedelta(minutes=1))
    await asyncio.sleep(0.5)
    assert hub.row("weekly-three").count == 2  # Sunday 23:59: still this week

    await hub.skip_to(closes + timedelta(seconds=30))
    await hub.until(lambda: hub.row("weekly-three").count == 0, "the week closed")
    assert hub.row("weekly-three").due_at is None and hub.grants("weekly-three") == []

    await hub.send(("task.completed", closes + timedelta(seconds=20), {}))
    await hub.until(lambda: hub.row("weekly-three").count == 1, "one in the new week")
    assert hub.grants("weekly-three") == []


async def test_a_streak_breaks_at_its_deadline_with_no_event(hub: Hub) -> None:
    monday = next_monday(await hub.now() + timedelta(days=7))
    await hub.skip_to(monday + timedelta(days=1, hours=12))
    await hub.send(("deploy.finished", monday + timedelta(hours=11), {}),
                   ("deploy.finished", monday + timedelta(days=1, hours=11), {}))
    await hub.until(lambda: (r := hub.row("five-day-streak")) is not None and r.count == 2, "two days")
    deadline = monday + timedelta(days=3)  # Wednesday missed: broken when Wednesday ends
    assert utc(hub.row("five-day-streak").due_at) == deadline

    await hub.skip_to(deadline - timedelta(minutes=1))
    await asyncio.sleep(0.5)
    assert hub.row("five-day-streak").count == 2

    await hub.skip_to(deadline + timedelta(seconds=30))
    await hub.until(lambda: hub.row("five-day-streak").count == 0, "the streak broke")
    assert hub.grants("five-day-streak") == []


async def test_maintained_for_grants_at_start_plus_duration_with_no_event(hub: Hub) -> None:
    start = (await hub.now()).replace(microsecond=0) + timedelta(hours=1)
    await hub.skip_to(start + timedelta(minutes=5))
    await hub.send(("compliance.checked", start, {"outcome": "pass"}))
    await hub.until(lambda: hub.row("compliant-two-days") is not None, "the clock started")
    assert utc(hub.row("compliant-two-days").due_at) == start + timedelta(days=2)

    await hub.skip_to(start + timedelta(days=2) - timedelta(minutes=1))
    await asyncio.sleep(0.5)
    assert hub.grants("compliant-two-days") == []

    await hub.skip_to(start + timedelta(days=2, seconds=30))
    await hub.until(lambda: len(hub.grants("compliant-two-days")) == 1, "the grant")
    assert utc(hub.grants("compliant-two-days")[0].granted_at) == start + timedelta(days=2)


# The week of the last Sunday of March / October; local midnight after that Sunday in UTC.
@pytest.mark.parametrize(("monday", "local_midnight"), [
    (berlin(2027, 3, 22), datetime(2027, 3, 28, 22, tzinfo=UTC)),   # CET -> CEST: a 23-hour Sunday
    (berlin(2027, 10, 25), datetime(2027, 10, 31, 23, tzinfo=UTC)),  # CEST -> CET: a 25-hour Sunday
], ids=["march", "october"])
async def test_windows_streaks_and_maintained_for_across_a_dst_change(
    hub: Hub, monday: datetime, local_midnight: datetime
) -> None:
    saturday = monday + timedelta(days=5)
    await hub.skip_to(saturday + timedelta(hours=12))
    await hub.send(("task.completed", monday + timedelta(hours=9), {}),
                   ("task.completed", saturday + timedelta(hours=9), {}),
                   ("deploy.finished", saturday + timedelta(hours=10), {}),
                   ("compliance.checked", saturday + timedelta(hours=11), {"outcome": "pass"}))
    await hub.until(lambda: (r := hub.row("five-day-streak")) is not None and r.count == 1, "all applied")
    # Sunday is the changeover day: the week and the streak's missable Sunday both end at local
    # midnight, 22:00 UTC after the spring change and 23:00 UTC after the autumn one
    assert utc(hub.row("weekly-three").due_at) == local_midnight
    assert utc(hub.row("five-day-streak").due_at) == local_midnight
    held = (saturday + timedelta(hours=11)).astimezone(UTC) + timedelta(days=2)  # 48 real hours
    assert utc(hub.row("compliant-two-days").due_at) == held

    await hub.skip_to(local_midnight - timedelta(minutes=1))
    await asyncio.sleep(0.5)
    assert (hub.row("weekly-three").count, hub.row("five-day-streak").count) == (2, 1)

    await hub.skip_to(local_midnight + timedelta(seconds=30))
    await hub.until(lambda: (hub.row("weekly-three").count, hub.row("five-day-streak").count) == (0, 0),
                    "the week closed and the streak broke at local midnight")

    await hub.skip_to(held + timedelta(seconds=30))
    await hub.until(lambda: len(hub.grants("compliant-two-days")) == 1, "the maintained grant")
    assert utc(hub.grants("compliant-two-days")[0].granted_at) == held
    assert hub.grants("weekly-three") == [] and hub.grants("five-day-streak") == []

    history = await hub.handle.fetch_history()
    await Replayer(workflows=[EvaluatorWorkflow], data_converter=pydantic_data_converter
                   ).replay_workflow(history)

"""Quiet hours and digests on Temporal's time-skipping test server, with a real store (SQLite and
PostgreSQL) and a real SMTP server (`aiosmtpd`).

A night passes in a second: the delivery workflow sleeps on a Temporal timer, the test server
skips to it while the test waits on a result, and the activity decides again at the skipped
clock (`activities.pacing.attempt_time`).
"""

from __future__ import annotations

import asyncio
import io
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts import (
    DeliverGrantInput,
    DeliverGrantResult,
    DigestResult,
    EvaluateShardInput,
    GrantRef,
)
from activities.evaluation import EvaluationActivities
from channels import Clients
from config import Config, parse_config
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.preferences import Preferences, save_preferences
from store.schema import deliveries, grants
from tests.conftest import SEARCH_ATTRIBUTES
from tests.smtp_sink import SmtpSink
from worker import build_worker
from workflows.digest import digest_id

pytestmark = pytest.mark.temporal

CONFIG = """\
store: {url: "DB_URL"}
tenants:
  - id: demo
    time_zone: Europe/Berlin
    api_keys: ["${TEST_KEY:-k}"]
    channels:
      - {id: console, kind: console}
      - {id: email, kind: email, smtp: "SMTP", from: accolade@example.com}
    people:
      - {person: demo-1, identities: ["github:id=15669918", "email:coder@example.com"]}
    achievements:
      - {key: first-green, version: 1, name: First green pipeline, deliver_to: [email, console],
         rule: {count: 1, of: ci.pipeline.completed}}
      - {key: first-deploy, version: 1, name: First deploy, deliver_to: [email],
         rule: {count: 1, of: deploy.completed}}
      - {key: first-review, version: 1, name: First review, deliver_to: [email],
         rule: {count: 1, of: code.review.submitted}}
"""
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=f"{sys.prefix}/bin/temporal-test-server", data_converter=pydantic_data_converter)
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in SEARCH_ATTRIBUTES}))
    yield env
    await env.shutdown()


def _granted(engine: Engine, db_url: str, smtp: str, types: list[str]) -> tuple[Config, list[GrantRef]]:
    config = parse_config(CONFIG.replace("DB_URL", db_url).replace("SMTP", smtp), file="t.yaml", env={})
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    ingest_batch(engine, tenant, [{
        "id": f"e{i}", "source": "/ci/pacing", "type": type_, "time": "2026-11-01T10:00:00Z",
        "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}
        for i, type_ in enumerate(types)])
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    result = ActivityEnvironment().run(evaluation.evaluate_shard, EvaluateShardInput(
        tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=100, now=datetime.now(UTC)))
    return config, result.undispatched


def _prefer(engine: Engine, **values: object) -> None:
    with engine.begin() as conn:
        save_preferences(conn, "demo", "demo-1", Preferences(**values))


def _rows(engine: Engine, channel: str = "email") -> list:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(deliveries, grants.c.achievement).join(grants).where(
            deliveries.c.channel == channel).order_by(grants.c.achievement)).all()


async def _until(engine: Engine, status: str, count: int = 1) -> None:
    for _ in range(200):
        if sum(r.status == status for r in _rows(engine)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {status!r} rows: {[(r.status, r.detail) for r in _rows(engine)]}")


async def _details(handle: WorkflowHandle) -> str:
    """The workflow's current details once it has taken in the activity's answer."""
    for _ in range(100):
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        if "waiting" in metadata.current_details:
            break
        await asyncio.sleep(0.05)
    return str(metadata.current_details)


async def _closed(handles: list[WorkflowHandle]) -> None:
    for handle in handles:
        for _ in range(200):
            if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"{handle.id} did not complete")


async def _start(client: Client, queue: str, grant: GrantRef):  # noqa: ANN202 - WorkflowHandle
    return await client.start_workflow("DeliverGrantWorkflow", DeliverGrantInput(grant=grant),
                                       id=f"deliver/{grant.grant_id}", task_queue=queue,
                                       result_type=DeliverGrantResult)


async def test_quiet_hours_make_the_email_wait_on_a_timer_then_send_it_once(
    skipping: WorkflowEnvironment, engine: Engine, db_url: str
) -> None:
    now = (await skipping.get_current_time()).astimezone(BERLIN)
    start, end = now - timedelta(hours=1), now + timedelta(hours=3)  # we are inside, whatever the hour
    _prefer(engine, quiet_hours=f"{start:%H:%M}-{end:%H:%M}", time_zone="Europe/Berlin")
    queue, console = str(uuid.uuid4()), io.StringIO()
    with SmtpSink() as sink, ThreadPoolExecutor(8) as pool:
        config, [grant] = _granted(engine, db_url, sink.address, ["ci.pipeline.completed"])
        async with build_worker(skipping.client, config, engine, task_queue=queue, executor=pool,
                                channel_clients=Clients(console=console)):
            handle = await _start(skipping.client, queue, grant)
            await _until(engine, "waiting")
            [row] = _rows(engine)
            assert row.detail["shown"] == f"quiet hours until {end:%H:%M} Europe/Berlin"
            assert sink.received == []
            assert "email: waiting (quiet hours) until" in await _details(handle)  # as the Temporal UI shows
            result = await handle.result()  # the test server skips the night here
        assert {r.channel: r.status for r in result.deliveries} == {"email": "sent", "console": "sent"}
        assert console.getvalue().count("First green pipeline") == 1  # the console is not paced
        assert len(sink.received) == 1 and sink.received[0][0] == ["coder@example.com"]
        assert await skipping.get_current_time() >= end - timedelta(minutes=1)  # it waited out the night
    [row] = _rows(engine)
    assert row.status == "sent" and row.detail["message_id"] == sink.received[0][1]["Message-ID"]


async def test_a_digest_collects_three_grants_into_one_message(
    skipping: WorkflowEnvironment, engine: Engine, db_url: str
) -> None:
    _prefer(engine, digest="daily", time_zone="Europe/Berlin")
    queue = str(uuid.uuid4())
    types = ["ci.pipeline.completed", "deploy.completed", "code.review.submitted"]
    with SmtpSink() as sink, ThreadPoolExecutor(8) as pool:
        config, granted = _granted(engine, db_url, sink.address, types)
        async with build_worker(skipping.client, config, engine, task_queue=queue, executor=pool,
                                channel_clients=Clients(console=io.StringIO())):
            # not `.result()`: waiting on a result lets the test server skip to the digest's end
            await _closed([await _start(skipping.client, queue, grant) for grant in granted])
            rows = _rows(engine)
            assert [r.status for r in rows] == ["waiting"] * 3 and sink.received == []
            assert {r.detail["why"] for r in rows} == {"digest"}
            period = rows[0].detail["digest"]
            workflow_id = digest_id("demo", "demo-1", "email", period)
            assert sink.received == []
            await skipping.sleep(timedelta(days=1))  # to the end of the period (and a bit)
            digest = await skipping.client.get_workflow_handle(workflow_id, result_type=DigestResult).result()
        assert (digest.sends, digest.grants) == (1, 3)
        [(to, mail)] = sink.received
    assert to == ["coder@example.com"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert all(name in text for name in ("First green pipeline", "First deploy", "First review"))
    rows = _rows(engine)
    assert [r.status for r in rows] == ["sent"] * 3
    assert {r.detail["digest"] for r in rows} == {workflow_id}
    assert {r.detail["message_id"] for r in rows} == {mail["Message-ID"]}

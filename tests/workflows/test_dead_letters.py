"""Dead letters, admin alerts and re-drives against a real Temporal (the time-skipping test
server, so twelve retries with backoff take no wall time) and a real store (SQLite and
PostgreSQL): a webhook endpoint answering 500 exhausts the retries → `failed` with the reason,
ONE admin alert for the incident however many deliveries fail; once the endpoint is fixed,
`retry` re-drives it in `deliver/<grant>/<channel>/retry-1` → sent once, and the incident
resolves with one message. A retry of a row that is no longer failed is refused."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts import ClaimRetryInput, DeliverGrantInput, DeliverGrantResult, GrantRef
from activities.delivery import DeliveryActivities
from activities.redeliver import retry_delivery
from channels import Clients
from config import parse_config
from store.incidents import channel_incidents
from store.reads import delivery_rows
from store.schema import deliveries
from tests.channels.grants import grant_each
from tests.conftest import SEARCH_ATTRIBUTES, venv_binary
from tests.e2e.hub import free_port
from tests.factories import CONFIG_TEXT, ENV
from tests.webhook_receiver import WebhookReceiver
from worker import build_worker

pytestmark = pytest.mark.temporal
SECRET = "whsec_" + base64.b64encode(b"accolade-dead-letter-key-0001").decode()


@pytest.fixture
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh server per test: grant ids are deterministic, so SQLite's and PostgreSQL's runs
    would otherwise share workflow ids."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    for name in SEARCH_ATTRIBUTES:  # registered first, or starting a workflow with them hangs
        await env.client.operator_service.add_search_attributes(_sa_request(name))
    yield env
    await env.shutdown()


def _sa_request(name: str):  # noqa: ANN202
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    key = SearchAttributeKey.for_keyword(name)
    return AddSearchAttributesRequest(search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
                                      namespace="default")


def _config(db_url: str, url: str, queue: str, *, out: str = "hooks"):  # noqa: ANN202
    channels = ("      - {id: feed, kind: feed}\n"
                f"      - {{id: hooks, kind: webhook, url: '{url}', secret: '${{TEST_HOOK_SECRET:-{SECRET}}}'}}\n"
                f"      - {{id: mail, kind: email, smtp: '127.0.0.1:{free_port()}', from: accolade@example.com}}\n")
    text = (CONFIG_TEXT.replace('"sqlite:///unused.db"}', f'"{db_url}"}}\ntemporal: {{task_queue: {queue}}}')
            .replace("      - {id: feed, kind: feed}\n", channels)
            .replace("    shards: 4\n", "    shards: 4\n    admin_channel: console\n")
            .replace('      - {person: demo-1, identities: ["github:id=15669918", "github:login=Codertocat"]}\n',
                     '      - {person: demo-1, identities: ["github:id=15669918"]}\n'
                     '      - {person: demo-2, identities: ["github:id=2"]}\n')
            .replace("github:id=15669918\"]", "github:id=15669918\", \"email:coder@example.com\"]")
            .replace("deliver_to: [console, feed]", f"deliver_to: [{out}]"))
    return parse_config(text, file="test.yaml", env=ENV)


def _grants(engine: Engine, config, channel: str = "hooks") -> list[GrantRef]:  # noqa: ANN001
    ids = grant_each(engine, config, {"demo-1": "15669918", "demo-2": "2"})
    return [GrantRef(grant_id=g, tenant="demo", person_id=p, achievement="first-green-pipeline",
                     channels=[channel]) for g, p in zip(ids, ("demo-1", "demo-2"), strict=True)]


async def _deliver(client: Client, grant: GrantRef, queue: str) -> str:
    try:
        await client.execute_workflow("DeliverGrantWorkflow", DeliverGrantInput(grant=grant),
                                      id=f"deliver/{grant.grant_id}", task_queue=queue,
                                      result_type=DeliverGrantResult)
    except WorkflowFailureError as exc:
        return str(getattr(exc.cause, "message", exc))
    return "ok"


def _row(engine: Engine, grant_id: str):  # noqa: ANN202
    with engine.connect() as conn:
        return conn.execute(select(deliveries).where(deliveries.c.grant_id == grant_id)).one()


def _alerts(console: io.StringIO) -> list[str]:
    return [line for line in console.getvalue().splitlines() if line.startswith("[accolade:alert]")]


async def test_a_500_endpoint_dead_letters_alerts_once_and_a_retry_sends_once(
    skipping: WorkflowEnvironment, engine: Engine, db_url: str
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        console, queue = io.StringIO(), f"dead-letters-{uuid.uuid4()}"
        config = _config(db_url, receiver.url, queue)
        first, second = _grants(engine, config)
        receiver.fail_next(500, times=24)  # every attempt of both grants (12 retries each)
        with ThreadPoolExecutor(max_workers=8) as executor:
            worker = build_worker(skipping.client, config, engine, task_queue=queue, executor=executor,
                                  console=console, channel_clients=Clients(console=console,
                                                                          http=httpx.Client(timeout=5)))
            async with worker:
                assert await _deliver(skipping.client, first, queue) == "delivery failed on hooks: webhook: HTTP 500"
                assert await _deliver(skipping.client, second, queue) == "delivery failed on hooks: webhook: HTTP 500"
                failed = _row(engine, first.grant_id)
                assert (failed.status, failed.attempts, failed.last_error) == ("failed", 12, "webhook: HTTP 500")
                [alert] = _alerts(console)  # two dead letters, one incident, one alert
                assert "deliveries via hooks are failing (server): webhook: HTTP 500" in alert
                assert receiver.url not in console.getvalue()  # never the URL: it may carry a token
                assert len(receiver.received) == 24 and receiver.verified() == []

                # the endpoint is fixed: the re-drive sends once and resolves the incident
                outcome = await retry_delivery(skipping.client, config, engine, config.tenants[0],
                                               first.grant_id, "hooks", wait=30)
                assert (outcome.status, outcome.workflow_id) == ("sent", f"deliver/{first.grant_id}/hooks/retry-1")
                again = await retry_delivery(skipping.client, config, engine, config.tenants[0],
                                             first.grant_id, "hooks", wait=30)
                assert (again.status, again.reason) == ("refused", "not failed: it is sent")
                # two re-drives racing for one row: the conditional UPDATE lets exactly one claim
                activities = DeliveryActivities(engine, config, clients=Clients(console=console))
                claims = [ActivityEnvironment().run(activities.claim_retry, ClaimRetryInput(
                    tenant="demo", grant_id=second.grant_id, channel="hooks", retry=n)) for n in (1, 2)]
                assert [(c.claimed, c.reason) for c in claims] == [(True, None), (False, "not failed: it is queued")]
    [sent] = receiver.verified()
    assert sent.headers["webhook-id"] == f"{first.grant_id}.hooks"
    row = _row(engine, first.grant_id)
    assert (row.status, row.attempts, row.detail["reason"] if "reason" in (row.detail or {}) else None) == (
        "sent", 1, None)
    assert _row(engine, second.grant_id).status == "queued"  # claimed by the first re-drive above
    alerts = _alerts(console)
    assert len(alerts) == 2 and "deliveries via hooks succeed again (server incident" in alerts[1]
    with engine.connect() as conn:
        assert channel_incidents(conn, "demo", "hooks") == []


@asynccontextmanager
async def _worker(env: WorkflowEnvironment, config, engine: Engine, console: io.StringIO) -> AsyncIterator[None]:  # noqa: ANN001
    with ThreadPoolExecutor(max_workers=8) as executor:
        clients = Clients(console=console, http=httpx.Client(timeout=5))
        async with build_worker(env.client, config, engine, task_queue=config.temporal.task_queue,
                                executor=executor, console=console, channel_clients=clients):
            yield


async def test_a_410_is_permanent_failed_after_one_attempt_with_one_gone_alert(
    skipping: WorkflowEnvironment, engine: Engine, db_url: str
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        console = io.StringIO()
        config = _config(db_url, receiver.url, f"gone-{uuid.uuid4()}")
        first, second = _grants(engine, config)
        receiver.fail_next(410, times=2)
        async with _worker(skipping, config, engine, console):
            for grant in (first, second):
                assert await _deliver(skipping.client, grant, config.temporal.task_queue) == \
                    "delivery failed on hooks: webhook: HTTP 410"
    assert len(receiver.received) == 2  # one attempt each: 410 Gone is not retried
    row = _row(engine, first.grant_id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "webhook: HTTP 410")
    [alert] = _alerts(console)
    assert "deliveries via hooks are failing (gone): webhook: HTTP 410" in alert


async def test_an_unreachable_smtp_server_is_retried_then_failed_and_shown_as_such(
    skipping: WorkflowEnvironment, engine: Engine, db_url: str
) -> None:
    console = io.StringIO()
    config = _config(db_url, "", f"smtp-{uuid.uuid4()}", out="mail")
    first, _ = _grants(engine, config, "mail")
    async with _worker(skipping, config, engine, console):
        assert await _deliver(skipping.client, first, config.temporal.task_queue) == \
            "delivery failed on mail: SMTP: server unreachable (ConnectionRefusedError)"
    with engine.connect() as conn:
        [shown] = delivery_rows(conn, "demo", failed_only=True)
    assert (shown["id"], shown["status"], shown["attempts"]) == (f"{first.grant_id}/mail", "failed", 12)
    assert shown["last_error"] == "SMTP: server unreachable (ConnectionRefusedError)"
    assert "coder@example.com" not in shown["last_error"] + console.getvalue()
    [alert] = _alerts(console)
    assert "deliveries via mail are failing (network)" in alert

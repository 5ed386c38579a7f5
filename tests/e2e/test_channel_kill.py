"""Once per grant and channel, as far as SMTP and HTTP allow (issue 13 item 7).

The worker is killed after the provider accepted and before the delivery record was written
(`deliver:after-send`); a fresh worker retries. SMTP and HTTP cannot say whether the earlier
send arrived, so the retry transmits again; what the hub guarantees, and these tests assert,
is exactly one distinct Message-ID / webhook-id per grant and channel. Each test prints how
many transmissions the receiver saw.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.e2e.hub import Hub
from tests.factories import CONFIG_TEXT
from tests.smtp_sink import SmtpSink
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.temporal
SECRET = "whsec_" + base64.b64encode(b"accolade-kill-test-webhook-key").decode()


def channel_config(channel: str) -> str:
    """The test config delivering the grant to `channel` only, with its settings."""
    return CONFIG_TEXT.replace(
        "      - {id: feed, kind: feed}\n",
        "      - {id: feed, kind: feed}\n" + channel,
    ).replace(
        '"github:login=Codertocat"]', '"github:login=Codertocat", "email:codertocat@example.com"]'
    ).replace("deliver_to: [console, feed]", "deliver_to: [out]")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@asynccontextmanager
async def _hub(tmp_path: Path, sqlite_url: str, temporal_env, settings: str) -> AsyncIterator[Hub]:  # noqa: ANN001
    hub = Hub(tmp_path, sqlite_url, temporal_env.client.service_client.config.target_host,
              config_text=channel_config(settings))
    hub.prepare()
    try:
        yield hub
    finally:
        hub.stop()
    async for wf in temporal_env.client.list_workflows(
            f"TaskQueue = '{hub.task_queue}' AND ExecutionStatus = 'Running'"):
        await temporal_env.client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test done")


def _kill_after_send_then_recover(hub: Hub, tmp_path: Path) -> None:
    marker = tmp_path / "crash-once"
    marker.write_text("armed")
    first = hub.start_worker(ACCOLADE_CRASH_AT="deliver:after-send", ACCOLADE_CRASH_ONCE=str(marker))
    hub.start_receiver()
    assert hub.post_webhook(delivery="k-1").json()["accepted"] == 1
    assert first.wait(timeout=60) == 70, "the worker did not reach the crash point"
    [row] = hub.deliveries()
    assert row.status == "queued"  # accepted by the provider, not recorded: the window under test
    hub.start_worker()
    hub.wait_delivered(channels=1, timeout=90)


def _report(channel: str, ids: list[str], distinct: Callable[[], int]) -> None:
    print(f"\n{channel}: {len(ids)} transmission(s), {distinct()} distinct id(s) after a kill at deliver:after-send")


async def test_email_killed_after_the_server_accepted_keeps_one_message_id(
    tmp_path: Path, sqlite_url: str, temporal_env, sink: SmtpSink  # noqa: ANN001
) -> None:
    settings = f"      - {{id: out, kind: email, smtp: '{sink.address}', from: accolade@example.com}}\n"
    async with _hub(tmp_path, sqlite_url, temporal_env, settings) as hub:
        _kill_after_send_then_recover(hub, tmp_path)
        ids = sink.message_ids()
        _report("email", ids, lambda: len(set(ids)))
        [grant] = hub.grants()
        assert set(ids) == {f"<{grant.grant_id}.out@example.com>"}
        assert len(ids) == 2  # SMTP cannot tell the retry it arrived: honest, not hidden
        [row] = hub.deliveries()
        assert (row.status, row.detail["message_id"]) == ("sent", ids[0])
        assert all(to == ["codertocat@example.com"] for to, _ in sink.received)


async def test_webhook_killed_after_the_receiver_accepted_keeps_one_webhook_id(
    tmp_path: Path, sqlite_url: str, temporal_env, receiver: WebhookReceiver  # noqa: ANN001
) -> None:
    settings = (f"      - {{id: out, kind: webhook, url: '{receiver.url}', "
                f"secret: '${{TEST_WEBHOOK_SECRET:-{SECRET}}}'}}\n")
    async with _hub(tmp_path, sqlite_url, temporal_env, settings) as hub:
        _kill_after_send_then_recover(hub, tmp_path)
        ids = receiver.webhook_ids()
        _report("webhook", ids, lambda: len(set(ids)))
        [grant] = hub.grants()
        assert set(ids) == {f"{grant.grant_id}.out"}
        assert len(ids) == 2  # nor can HTTP: the receiver dedupes on webhook-id
        assert all(r.verified for r in receiver.received)  # each attempt signed afresh, all valid
        [row] = hub.deliveries()
        assert (row.status, row.detail["webhook_id"]) == ("sent", ids[0])

"""Slack delivery end to end: signed webhook → evaluator → DM seen by the Slack stand-in,
driven by the real slack-sdk client inside a real worker process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.hub import OTHER_GREEN_RUN, Hub, wait_for
from tests.factories import CONFIG_TEXT
from tests.slack_standin import SlackStandIn

pytestmark = pytest.mark.temporal
CODER_SLACK_ID = "U0CODER"


def slack_config(base_url: str, token_var: str = "TEST_SLACK_TOKEN") -> str:
    return CONFIG_TEXT.replace(
        "      - {id: feed, kind: feed}\n",
        "      - {id: feed, kind: feed}\n"
        f"      - {{id: slack, kind: slack, token: '${{{token_var}:-}}', base_url: '{base_url}'}}\n",
    ).replace(
        '"github:login=Codertocat"]', '"github:login=Codertocat", "email:codertocat@example.com"]'
    ).replace("deliver_to: [console, feed]", "deliver_to: [slack, console, feed]")


@pytest.fixture
def slack() -> AsyncIterator[SlackStandIn]:
    with SlackStandIn(users={"codertocat@example.com": CODER_SLACK_ID}) as standin:
        yield standin


@pytest.fixture
async def slack_hub(tmp_path: Path, sqlite_url: str, temporal_env, slack: SlackStandIn):  # noqa: ANN001, ANN201
    hub = Hub(tmp_path, sqlite_url, temporal_env.client.service_client.config.target_host,
              config_text=slack_config(slack.base_url))
    hub.prepare()
    yield hub
    hub.stop()
    async for wf in temporal_env.client.list_workflows(
            f"TaskQueue = '{hub.task_queue}' AND ExecutionStatus = 'Running'"):
        await temporal_env.client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test done")


def _slack_row(hub: Hub):  # noqa: ANN202
    return next(d for d in hub.deliveries() if d.channel == "slack")


def test_webhook_becomes_one_dm_with_blocks_fallback_and_metadata(slack_hub: Hub, slack: SlackStandIn) -> None:
    slack_hub.start_worker(TEST_SLACK_TOKEN="xoxb-test")
    slack_hub.start_receiver()
    slack_hub.post_webhook(delivery="s-1")
    slack_hub.wait_delivered(channels=3)
    for _ in range(2):
        slack_hub.post_webhook(delivery="s-1")  # redelivery
    slack_hub.post_webhook(OTHER_GREEN_RUN, delivery="s-2")  # another green run: no new grant
    time.sleep(2)
    [dm] = slack.messages()
    [grant] = slack_hub.grants()
    assert dm["channel"] == SlackStandIn.dm_channel_id(CODER_SLACK_ID)
    assert dm["metadata"]["event_payload"] == {"grant_id": grant.grant_id}
    assert "You earned “First green pipeline”" in dm["text"]
    assert "Why: 1 ci.pipeline.completed event with outcome = success" in dm["text"]
    assert "Next:" not in dm["text"]  # the test achievement declares no next step
    assert dm["blocks"][0]["type"] == "header"
    row = _slack_row(slack_hub)
    assert (row.status, row.attempts, row.detail["ts"]) == ("sent", 1, dm["ts"])
    view = slack_hub.get("/v1/persons/github:Codertocat").json()
    statuses = {d["channel"]: d["status"] for d in view["grants"][0]["deliveries"]}
    assert statuses == {"console": "sent", "feed": "sent", "slack": "sent"}
    assert {"system": "slack", "kind": "id", "value": CODER_SLACK_ID, "origin": "slack-lookup"} in view[
        "identities"]


def test_rate_limited_then_success_sends_one_dm_after_retry_after(slack_hub: Hub, slack: SlackStandIn) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=3)
    slack_hub.start_worker(TEST_SLACK_TOKEN="xoxb-test")
    slack_hub.start_receiver()
    slack_hub.post_webhook(delivery="r-1")
    wait_for(lambda: _slack_row(slack_hub).status == "retrying" if slack_hub.deliveries() else False,
             timeout=30, what="slack delivery retrying")
    assert _slack_row(slack_hub).last_error == "chat.postMessage: ratelimited"
    slack_hub.wait_delivered(channels=3)
    posts = [t for t, (method, _) in zip(slack.call_times(), slack.calls, strict=True)
             if method == "chat.postMessage"]
    assert len(posts) == 2 and posts[1] - posts[0] >= 2.9  # waited Retry-After, not the backoff
    assert len(slack.messages()) == 1
    assert _slack_row(slack_hub).attempts == 2


def test_worker_killed_after_slack_answered_sends_no_second_dm(
    slack_hub: Hub, slack: SlackStandIn, tmp_path: Path
) -> None:
    marker = tmp_path / "crash-once"
    marker.write_text("armed")
    first = slack_hub.start_worker(TEST_SLACK_TOKEN="xoxb-test", ACCOLADE_CRASH_AT="deliver:after-slack",
                                   ACCOLADE_CRASH_ONCE=str(marker))
    slack_hub.start_receiver()
    slack_hub.post_webhook(delivery="k-1")
    assert first.wait(timeout=60) == 70
    assert len(slack.messages()) == 1 and _slack_row(slack_hub).status == "queued"
    slack_hub.start_worker(TEST_SLACK_TOKEN="xoxb-test")
    slack_hub.wait_delivered(channels=3, timeout=90)
    assert len(slack.messages()) == 1
    row = _slack_row(slack_hub)
    assert row.detail["reused"] is True and row.detail["ts"] == slack.messages()[0]["ts"]


async def test_invalid_auth_fails_at_once_with_the_reason_stored(
    slack_hub: Hub, slack: SlackStandIn, temporal_env  # noqa: ANN001
) -> None:
    slack_hub.start_worker(TEST_SLACK_TOKEN="xoxb-revoked")
    slack_hub.start_receiver()
    slack_hub.post_webhook(delivery="a-1")
    slack_hub.wait_delivered(channels=3, final=("sent", "failed"))
    row = _slack_row(slack_hub)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "users.lookupByEmail: invalid_auth"
    assert slack.messages() == []
    failed = slack_hub.get("/v1/deliveries?failed=true").json()["deliveries"]
    assert [(d["channel"], d["last_error"]) for d in failed] == [("slack", row.last_error)]
    query = f"WorkflowType = 'DeliverGrantWorkflow' AND ExecutionStatus = 'Failed' AND TaskQueue = '{slack_hub.task_queue}'"
    for _ in range(50):  # the workflow closes just after the database says failed
        ids = [wf.id async for wf in temporal_env.client.list_workflows(query)]
        if ids:
            break
        await asyncio.sleep(0.2)
    assert ids == [f"deliver/{row.grant_id}"]


def test_person_without_slack_identity_falls_back_to_the_feed(slack_hub: Hub, slack: SlackStandIn) -> None:
    slack.users.clear()  # the person's email is unknown to the workspace
    slack_hub.start_worker(TEST_SLACK_TOKEN="xoxb-test")
    slack_hub.start_receiver()
    slack_hub.post_webhook(delivery="f-1")
    slack_hub.wait_delivered(channels=3, final=("sent", "fell_back"))
    row = _slack_row(slack_hub)
    assert row.status == "fell_back" and row.detail == {"to": "feed", "reason": "no Slack identity linked"}
    assert slack_hub.feed_count() == 1  # the feed channel already carries it: not twice
    assert slack.messages() == []

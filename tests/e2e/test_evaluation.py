"""End to end on the real Temporal dev server, on SQLite and PostgreSQL:
signed webhook → event log → evaluator → grant with evidence → console and feed delivery.

Evaluators wake on a one-hour timer here (`tests/e2e/hub.py`), so an event evaluated within
seconds was woken by the receiver's or the link's notification.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from activities.temporal_client import connect
from tests.e2e.hub import (
    NOTIFIED_WITHIN,
    OTHER_GREEN_RUN,
    Hub,
    wait_for,
    wait_settled,
    with_two_green_rule,
)
from tests.factories import CONFIG_TEXT

pytestmark = pytest.mark.temporal
KILL_POINTS = ["evaluate:before-commit", "evaluate:after-commit", "dispatch:before-start",
               "dispatch:before-mark", "deliver:after-send"]


@pytest.fixture
async def hub(tmp_path: Path, db_url: str, temporal_env) -> AsyncIterator[Hub]:  # noqa: ANN001
    async with _running_hub(tmp_path, db_url, temporal_env, CONFIG_TEXT) as hub:
        yield hub


@pytest.fixture
async def counting_hub(tmp_path: Path, db_url: str, temporal_env) -> AsyncIterator[Hub]:  # noqa: ANN001
    """A hub whose second rule (count 2) would be earned by one event counted twice."""
    async with _running_hub(tmp_path, db_url, temporal_env, with_two_green_rule()) as hub:
        yield hub


@asynccontextmanager
async def _running_hub(tmp_path: Path, db_url: str, temporal_env,  # noqa: ANN001
                       config_text: str) -> AsyncIterator[Hub]:
    hub = Hub(tmp_path, db_url, temporal_env.client.service_client.config.target_host,
              config_text=config_text)
    hub.prepare()
    try:
        yield hub
    finally:
        hub.stop()
    # Each test has its own tenant id, so grant and workflow ids never collide on the shared
    # dev server; still, end this test's evaluators rather than leave them polling forever.
    client = temporal_env.client
    query = f"TaskQueue = '{hub.task_queue}' AND ExecutionStatus = 'Running'"
    async for wf in client.list_workflows(query):
        await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test finished")


def test_webhook_becomes_one_grant_delivered_once(hub: Hub) -> None:
    hub.start_worker()
    hub.start_receiver()
    assert hub.post_webhook(delivery="d-1").json()["accepted"] == 1
    hub.wait_delivered()
    for _ in range(2):  # redelivery of the same webhook
        assert hub.post_webhook(delivery="d-1").json()["duplicate"] == 1
    assert hub.post_webhook(OTHER_GREEN_RUN, delivery="d-2").json()["accepted"] == 1
    # The shard already ran its start-up round: only the receiver's notification wakes it now.
    wait_for(lambda: hub.count_processed() == 2, timeout=NOTIFIED_WITHIN, what="second event evaluated")

    [grant] = hub.grants()
    assert grant.achievement == "first-green-pipeline" and grant.person_id == "demo-1"
    evidence = grant.evidence
    # the fact, not the delivery: a replay under a new delivery id would name the same event
    assert evidence["events"] == [f"/accolade/{hub.tenant}/github#workflow_run:289782451:1:success"]
    assert evidence["count"] == 1
    assert evidence["rule"]["version"] == 1 and len(evidence["rule"]["hash"]) == 16
    assert evidence["identity"]["link"] == "github:id"
    assert [(d.channel, d.status) for d in hub.deliveries()] == [("console", "sent"), ("feed", "sent")]
    assert hub.feed_count() == 1
    wait_for(lambda: len(hub.console_lines()) >= 1, timeout=5, what="console line")
    time.sleep(1)
    assert len(hub.console_lines()) == 1
    assert "First green pipeline" in hub.console_lines()[0]

    view = hub.get("/v1/persons/github:Codertocat").json()
    assert view["person"] == "demo-1"
    assert view["grants"][0]["evidence"]["count"] == 1
    assert view["progress"][0]["granted"] is True
    feed = hub.get("/v1/persons/github:15669918/feed").json()
    assert [item["title"] for item in feed["items"]] == ["First green pipeline"]


@pytest.mark.parametrize("point", KILL_POINTS)
async def test_worker_killed_at_a_hand_off_loses_and_doubles_nothing(
    counting_hub: Hub, point: str, tmp_path: Path, temporal_env  # noqa: ANN001
) -> None:
    """Killed mid-round, after the commit, at the outbox hand-off, or after a channel sent."""
    hub = counting_hub
    marker = tmp_path / "crash-once"
    marker.write_text("armed")
    # after-send: in the console's own activity. A crash in the feed's, side by side, could cut
    # the console between its line and its commit, and its retry would print the line again.
    armed = f"{point}@console" if point == "deliver:after-send" else point
    first = hub.start_worker(ACCOLADE_CRASH_AT=armed, ACCOLADE_CRASH_ONCE=str(marker))
    hub.start_receiver()
    assert hub.post_webhook(delivery="k-1").json()["accepted"] == 1
    assert first.wait(timeout=60) == 70, "the worker did not reach the crash point"
    assert not marker.exists()
    hub.start_worker()  # a fresh worker; Temporal retries the interrupted activity
    hub.wait_delivered(timeout=60)
    await wait_settled(temporal_env.client, hub)  # no attempt left that could count twice
    _assert_counted_once(hub, "demo-1")
    assert [(d.channel, d.status) for d in hub.deliveries()] == [("console", "sent"), ("feed", "sent")]
    assert hub.feed_count() == 1
    assert len(hub.console_lines()) == 1


def _assert_counted_once(hub: Hub, person: str) -> None:
    """One event, counted once: a second count would show in progress and earn the count-2 rule."""
    assert hub.count_processed() == 1
    assert hub.progress_counts() == {(person, "first-green-pipeline"): 1, (person, "two-green-pipelines"): 1}
    assert [g.achievement for g in hub.grants()] == ["first-green-pipeline"]


def test_parked_events_are_evaluated_once_when_their_actor_is_linked(counting_hub: Hub) -> None:
    hub = counting_hub
    hub.start_worker()
    hub.start_receiver()
    stranger = OTHER_GREEN_RUN.replace(b'"login": "Codertocat"', b'"login": "Stranger"').replace(
        b'"id": 15669918', b'"id": 777001')
    answer = hub.post_webhook(stranger, delivery="p-1").json()
    assert answer["accepted"] == 1
    time.sleep(2)
    assert hub.grants() == []
    from cli.people import link

    tenant = hub.config.tenants[0]
    link(hub.config, tenant, "demo-2", "github:id=777001")
    link(hub.config, tenant, "demo-2", "github:login=stranger")  # a second key releases nothing
    # Only the link's wake-up can start the round in time: the evaluator's timer is an hour.
    wait_for(lambda: len(hub.grants()) == 1, timeout=NOTIFIED_WITHIN, what="grant for the linked person")
    hub.wait_delivered()
    time.sleep(1)  # let a second evaluation of the released event show up
    assert hub.grants()[0].person_id == "demo-2"
    assert hub.grants()[0].evidence["count"] == 1
    _assert_counted_once(hub, "demo-2")


async def test_admin_finds_evaluators_and_deliveries_by_search_attribute(hub: Hub) -> None:
    hub.start_worker()
    hub.start_receiver()
    hub.post_webhook(delivery="v-1")
    hub.wait_delivered()
    [grant] = hub.grants()
    client = await connect(hub.config)
    query = f"AccoladePerson = 'demo-1' AND TaskQueue = '{hub.task_queue}'"
    ids = [wf.id async for wf in client.list_workflows(query)]
    assert ids == [f"deliver/{grant.grant_id}"]
    tenant_ids = [wf.id async for wf in client.list_workflows(
        f"AccoladeTenant = '{hub.tenant}' AND TaskQueue = '{hub.task_queue}' AND WorkflowType = 'EvaluatorWorkflow'")]
    assert sorted(tenant_ids) == [f"evaluate/{hub.tenant}/{s}" for s in range(4)]
    desc = await client.get_workflow_handle(f"deliver/{grant.grant_id}").describe()
    assert "first-green-pipeline" in (await desc.static_summary() or "")

"""Slack team posts: a team_visible achievement routed to a Slack channel with a
`team_channel` is also posted there, once, with the grant id in the metadata; a burst of team
posts queues behind the per-channel rate limit instead of failing. The real slack-sdk client
against the Slack stand-in (which answers 429 + Retry-After to a second post within a second
in one channel, as Slack does), on a real store; the burst runs on a real Temporal worker."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, update
from temporalio.testing import ActivityEnvironment

from activities.contracts import DeliverGrantInput, DeliverGrantResult, DeliverInput, GrantRef
from activities.delivery import DeliveryActivities
from channels import Clients
from channels.slack_limits import SlackLimiter
from config import parse_config
from store import create_store_engine, migrate
from store.profiles import set_profile
from store.schema import deliveries
from tests.channels.grants import grant_each
from tests.factories import CONFIG_TEXT, ENV
from tests.slack_standin import SlackStandIn
from worker import build_worker

TEAM = "C0TEAM"
PEOPLE = {f"demo-{n}": str(n) for n in range(1, 7)}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(users={"coder@example.com": "U0CODER"}, channels=[TEAM], post_interval=1.0) as standin:
        yield standin


def _config(db_url: str, base_url: str, *, queue: str = "unused", people: int = 1):  # noqa: ANN202
    slack = (f"      - {{id: slack, kind: slack, token: '${{TEST_SLACK_TOKEN:-xoxb-test}}', "
             f"base_url: '{base_url}', team_channel: {TEAM}}}\n")
    persons = "".join(f'      - {{person: {p}, identities: ["github:id={g}"'
                      + (', "slack:U0CODER"' if p == "demo-1" else "") + "]}\n"
                      for p, g in list(PEOPLE.items())[:people])
    text = (CONFIG_TEXT.replace('"sqlite:///unused.db"}', f'"{db_url}"}}\ntemporal: {{task_queue: {queue}}}')
            .replace("      - {id: feed, kind: feed}\n", "      - {id: feed, kind: feed}\n" + slack)
            .replace('      - {person: demo-1, identities: ["github:id=15669918", "github:login=Codertocat"]}\n',
                     persons)
            .replace("        deliver_to: [console, feed]", "        team_visible: true\n        deliver_to: [slack]"))
    return parse_config(text, file="test.yaml", env=ENV)


def _deliver(activities: DeliveryActivities, grant_id: str, target: str, attempt: int = 1) -> str:
    env = ActivityEnvironment()
    env.info = env.info.__class__(**{**env.info.__dict__, "attempt": attempt})
    return env.run(activities.deliver, DeliverInput(tenant="demo", grant_id=grant_id, channel=target)).status


def test_a_team_visible_grant_is_posted_to_the_team_channel_once_with_its_grant_id(
    engine: Engine, db_url: str, slack: SlackStandIn
) -> None:
    config = _config(db_url, slack.base_url)
    [grant_id] = grant_each(engine, config, {"demo-1": "1"})
    with engine.connect() as conn:
        targets = sorted(r.channel for r in conn.execute(select(deliveries.c.channel)))
    assert targets == ["slack", "slack.team"]  # the DM and the team post, each its own row
    with engine.begin() as conn:  # the person reads Arabic; the team channel, the tenant's English
        set_profile(conn, "demo", "demo-1", source="preferences", locale="ar")
    activities = DeliveryActivities(engine, config, clients=Clients(console=io.StringIO()))
    assert _deliver(activities, grant_id, "slack.team") == "sent"
    [post] = slack.messages(TEAM)
    assert post["metadata"]["event_payload"] == {"grant_id": grant_id}
    assert post["text"].startswith("<@U0CODER> earned “First green pipeline”.")
    assert all(block.get("text") or block.get("elements") for block in post["blocks"])
    with engine.begin() as conn:  # a worker killed after Slack answered, before the record
        conn.execute(update(deliveries).where(deliveries.c.channel == "slack.team").values(status="queued"))
    assert _deliver(activities, grant_id, "slack.team", attempt=2) == "sent"
    assert len(slack.messages(TEAM)) == 1  # found in the channel's history, not posted again
    with engine.connect() as conn:
        row = conn.execute(select(deliveries).where(deliveries.c.channel == "slack.team")).one()
    assert row.detail == {"channel": TEAM, "ts": post["ts"], "reused": True}


def test_an_achievement_not_team_visible_has_no_team_post(engine: Engine, db_url: str, slack: SlackStandIn) -> None:
    config = _config(db_url, slack.base_url)
    config = config.model_copy(update={"tenants": [config.tenants[0].model_copy(update={"achievements": [
        config.tenants[0].achievements[0].model_copy(update={"team_visible": False})]})]})
    grant_each(engine, config, {"demo-1": "1"})
    with engine.connect() as conn:
        assert [r.channel for r in conn.execute(select(deliveries.c.channel))] == ["slack"]


@pytest.mark.temporal
async def test_a_burst_of_team_posts_queues_behind_the_channel_limit_and_none_fails(
    sqlite_url: str, slack: SlackStandIn, temporal_env  # noqa: ANN001
) -> None:
    engine = create_store_engine(sqlite_url)
    migrate(engine)
    queue = f"team-burst-{uuid.uuid4()}"
    config = _config(sqlite_url, slack.base_url, queue=queue, people=6)
    grant_ids = grant_each(engine, config, PEOPLE)
    # A short max_wait, so the tail of the burst also takes the "retry later, keep the slot" path.
    clients = Clients(console=io.StringIO(), slack_limits=SlackLimiter(max_wait=2.0))
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(temporal_env.client, config, engine, task_queue=queue, executor=executor,
                                channel_clients=clients):
            results = await asyncio.gather(*(temporal_env.client.execute_workflow(
                "DeliverGrantWorkflow", DeliverGrantInput(grant=GrantRef(
                    grant_id=g, tenant="demo", person_id=p, achievement="first-green-pipeline",
                    channels=["slack.team"])),
                id=f"deliver/{g}/{queue}", task_queue=queue, result_type=DeliverGrantResult)
                for g, p in zip(grant_ids, PEOPLE, strict=True)))
    assert [r.deliveries[0].status for r in results] == ["sent"] * 6
    posts = slack.messages(TEAM)
    assert sorted(p["metadata"]["event_payload"]["grant_id"] for p in posts) == sorted(grant_ids)
    assert slack.limited == []  # never over Slack's limit: queued here instead
    times = [t for t, (method, _) in zip(slack.call_times(), slack.calls, strict=True) if method == "chat.postMessage"]
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:], strict=False))
    with engine.connect() as conn:
        attempts = [r.attempts for r in conn.execute(select(deliveries.c.attempts).where(
            deliveries.c.channel == "slack.team"))]
    print(f"\nteam burst: 6 posts over {times[-1] - times[0]:.1f} s, attempts per post {sorted(attempts)}")
    assert max(attempts) <= 2

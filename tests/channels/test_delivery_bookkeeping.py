"""The delivery activity's guard and bookkeeping around channels, on a real store (SQLite and
PostgreSQL): who falls back, who is suppressed, what is recorded and what is never sent twice.

The activities run in the SDK's `ActivityEnvironment` (a real activity context, no server).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import DeliverInput, EvaluateShardInput
from activities.delivery import DeliveryActivities
from activities.evaluation import EvaluationActivities
from channels import Clients
from config import parse_config
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.schema import deliveries, feed, grants
from tests.factories import CONFIG_TEXT, ENV
from tests.smtp_sink import SmtpSink

SECRET = "whsec_" + base64.b64encode(b"accolade-bookkeeping-key-01").decode()


def _granted(engine: Engine, db_url: str, smtp: str, *, email_link: bool) -> tuple[object, str]:
    """A config with email and webhook channels (the webhook off), and one grant for demo-1."""
    channels = ("      - {id: feed, kind: feed}\n"
                f"      - {{id: email, kind: email, smtp: '{smtp}', from: accolade@example.com}}\n"
                f"      - {{id: hooks, kind: webhook, url: '${{TEST_HOOK_URL:-}}', secret: '${{TEST_HOOK_SECRET:-{SECRET}}}'}}\n")
    link = ', "email:Coder@Example.com"' if email_link else ""
    text = (CONFIG_TEXT.replace('"sqlite:///unused.db"', f'"{db_url}"')
            .replace("      - {id: feed, kind: feed}\n", channels)
            .replace('"github:login=Codertocat"]', f'"github:login=Codertocat"{link}]')
            .replace("deliver_to: [console, feed]", "deliver_to: [email, hooks]"))
    config = parse_config(text, file="test.yaml", env=ENV)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    ingest_batch(engine, tenant, [{
        "id": "b1", "source": "/ci/bookkeeping", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
        "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}])
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    ActivityEnvironment().run(evaluation.evaluate_shard, EvaluateShardInput(
        tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=100, now=datetime.now(UTC)))
    with engine.connect() as conn:
        return config, conn.execute(select(grants.c.grant_id)).scalar_one()


def _deliver(activities: DeliveryActivities, grant_id: str, channel: str) -> tuple[str, str | None]:
    result = ActivityEnvironment().run(activities.deliver, DeliverInput(tenant="demo", grant_id=grant_id,
                                                                        channel=channel))
    return result.status, result.detail


def _row(engine: Engine, channel: str):  # noqa: ANN202
    with engine.connect() as conn:
        return conn.execute(select(deliveries).where(deliveries.c.channel == channel)).one()


def test_email_goes_to_the_linked_address_once_and_an_off_webhook_is_suppressed(
    engine: Engine, db_url: str
) -> None:
    with SmtpSink() as sink:
        config, grant_id = _granted(engine, db_url, sink.address, email_link=True)
        activities = DeliveryActivities(engine, config, clients=Clients(console=io.StringIO()))
        assert _deliver(activities, grant_id, "email") == ("sent", None)
        assert _deliver(activities, grant_id, "email") == ("sent", "already delivered")
        assert _deliver(activities, grant_id, "hooks") == ("suppressed", "webhook channel is off (no url)")
        assert _deliver(activities, grant_id, "hooks") == ("suppressed", "already delivered")
    [(to, mail)] = sink.received
    assert to == ["coder@example.com"]
    email, hooks = _row(engine, "email"), _row(engine, "hooks")
    assert (email.status, email.detail) == ("sent", {"message_id": mail["Message-ID"]})
    assert (hooks.status, hooks.detail) == ("suppressed", {"reason": "webhook channel is off (no url)"})
    with engine.connect() as conn:
        assert conn.execute(select(feed)).all() == []  # a suppressed webhook is not a feed item


def test_email_without_an_address_falls_back_to_the_feed_with_the_reason(engine: Engine, db_url: str) -> None:
    with SmtpSink() as sink:
        config, grant_id = _granted(engine, db_url, sink.address, email_link=False)
        activities = DeliveryActivities(engine, config, clients=Clients(console=io.StringIO()))
        assert _deliver(activities, grant_id, "email") == ("fell_back", "no email address linked")
    assert sink.received == []
    row = _row(engine, "email")
    assert (row.status, row.detail) == ("fell_back", {"to": "feed", "reason": "no email address linked"})
    with engine.connect() as conn:
        assert [r.title for r in conn.execute(select(feed))] == ["First green pipeline"]


def test_a_gone_webhook_fails_permanently_with_the_reason_and_no_url(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ENV, "TEST_HOOK_URL", "https://hr.example.com/hooks?token=abc")
    config, grant_id = _granted(engine, db_url, "127.0.0.1:25", email_link=True)
    gone = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(410)))
    activities = DeliveryActivities(engine, config, clients=Clients(http=gone))
    with pytest.raises(ApplicationError) as caught:
        _deliver(activities, grant_id, "hooks")
    assert caught.value.non_retryable and caught.value.message == "webhook: HTTP 410"
    row = _row(engine, "hooks")
    assert (row.status, row.last_error) == ("retrying", "webhook: HTTP 410")  # mark_failed makes it failed

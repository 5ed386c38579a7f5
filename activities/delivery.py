"""Delivery activities: one channel of one grant per call, guarded by the delivery record.

The `deliveries` row is the guard against a second send: a channel already `sent` (or
`fell_back`) is never sent again, whatever Temporal retries. Console and feed write their
output and the `sent` status in one transaction; Slack, which cannot share our transaction,
looks for its own earlier DM before posting again (see `activities.slack`). A Slack channel
without a token, or a person without a Slack identity, falls back to the feed and is
recorded as `fell_back` with the reason.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Connection, Engine, select, update
from temporalio import activity

from activities.contracts import DeliverInput, DeliverResult, MarkFailedInput
from activities.errors import DeliveryFailure, Permanent, Retryable, to_application_error
from activities.faults import crash_point
from activities.liveness import heartbeating
from activities.messages import Message, compose
from activities.slack import SlackChannel, slack_client
from config.models import Config
from identity import link_identity, parse_identity_ref
from metrics import pipeline as metrics
from store import insert_for
from store.schema import deliveries, feed, grants, identities

__all__ = ["DeliveryActivities", "FINAL_STATUSES"]

log = logging.getLogger("accolade.delivery")
FINAL_STATUSES = ("sent", "fell_back")


SlackFactory = Callable[[str, str | None], WebClient]


class DeliveryActivities:
    def __init__(self, engine: Engine, config: Config, *, console: Any = None,
                 slack_factory: SlackFactory = slack_client) -> None:
        self.engine = engine
        self.config = config
        self.console = console or sys.stdout
        self.slack_factory = slack_factory
        self._slack: dict[tuple[str, str], SlackChannel] = {}

    @activity.defn(name="deliver")
    def deliver(self, input: DeliverInput) -> DeliverResult:
        """Send one channel of one grant unless its record says it was sent already.

        Heartbeats let Temporal notice a dead worker in seconds instead of at the 30 s
        start-to-close timeout (`activities.liveness`).
        """
        with heartbeating():
            return self._deliver(input, activity.info().attempt)

    def _deliver(self, input: DeliverInput, attempt: int) -> DeliverResult:
        with self.engine.begin() as conn:
            row = self._delivery(conn, input)
            if row.status in FINAL_STATUSES:
                return DeliverResult(channel=input.channel, status=row.status, detail="already delivered")
            message, granted = self._message(conn, input)
        try:
            result = self._send(input, row.kind, message, attempt)
        except DeliveryFailure as exc:
            self._note_failure(input, exc.reason, attempt)
            if isinstance(exc, Retryable):  # a permanent one is counted as failed by mark_failed
                metrics.delivery_retrying(input.tenant, row.kind)
            raise to_application_error(exc) from None
        metrics.delivered(input.tenant, row.kind, result.status, granted)
        return result

    @activity.defn(name="mark_delivery_failed")
    def mark_failed(self, input: MarkFailedInput) -> None:
        with self.engine.begin() as conn:
            kind = conn.execute(update(deliveries).where(*_key(input)).where(
                deliveries.c.status.not_in(FINAL_STATUSES)
            ).values(status="failed", last_error=input.reason[:500], updated_at=datetime.now(UTC))
             .returning(deliveries.c.kind)).scalar()
        if kind is not None:  # None: the channel was sent or fell back meanwhile: not a failure
            metrics.delivery_failed(input.tenant, kind)

    def _delivery(self, conn: Connection, input: DeliverInput) -> Any:
        row = conn.execute(select(deliveries).where(*_key(input))).first()
        if row is None:
            raise to_application_error(Permanent(f"no delivery record for channel {input.channel}"))
        return row

    def _message(self, conn: Connection, input: DeliverInput) -> tuple[Message, datetime]:
        """The message to send, and when the grant was created (for grant→delivery latency)."""
        grant = conn.execute(select(grants).where(grants.c.grant_id == input.grant_id)).one()
        tenant = self.config.tenant(input.tenant)
        spec = tenant.achievement(grant.achievement) if tenant else None
        if spec is None:
            raise to_application_error(Permanent(f"achievement {grant.achievement} is no longer configured"))
        return compose(spec, grant.evidence), grant.created_at

    def _send(self, input: DeliverInput, kind: str, message: Message, attempt: int) -> DeliverResult:
        if kind == "slack":
            return self._send_slack(input, message, attempt)
        with self.engine.begin() as conn:
            if kind == "feed":
                _write_feed(conn, input, message)
            elif kind == "console":
                person = _person_of(conn, input.grant_id)
                print(f"[accolade] {input.tenant}/{person}: {message.text}", file=self.console, flush=True)
            else:
                raise Permanent(f"channel kind {kind} is not available in this worker")
            _mark_sent(conn, input, attempt)
        crash_point("deliver:after-send")
        return DeliverResult(channel=input.channel, status="sent")

    def _send_slack(self, input: DeliverInput, message: Message, attempt: int) -> DeliverResult:
        slack = self._slack_channel(input)
        user_id = self._slack_user(input, slack) if slack is not None else None
        if slack is None or user_id is None:
            reason = "Slack is not configured (no token)" if slack is None else "no Slack identity linked"
            return self._fall_back(input, message, attempt, reason)
        sent = slack.send_dm(user_id, input.grant_id, message, check_history=attempt > 1)
        crash_point("deliver:after-slack")
        with self.engine.begin() as conn:
            detail = {"dm": sent.channel, "ts": sent.ts, "reused": sent.reused}
            _mark_sent(conn, input, attempt, detail=detail)
        return DeliverResult(channel=input.channel, status="sent",
                             detail="found already posted" if sent.reused else None)

    def _slack_channel(self, input: DeliverInput) -> SlackChannel | None:
        key = (input.tenant, input.channel)
        if key not in self._slack:
            tenant = self.config.tenant(input.tenant)
            settings = tenant.channel(input.channel) if tenant else None
            token = settings.token.get_secret_value() if settings and settings.token else ""
            if not token or settings is None:
                return None
            self._slack[key] = SlackChannel(self.slack_factory(token, settings.base_url or None))
        return self._slack[key]

    def _slack_user(self, input: DeliverInput, slack: SlackChannel) -> str | None:
        """The person's Slack user id: a `slack:` link, else a lookup of a linked email."""
        with self.engine.connect() as conn:
            person = _person_of(conn, input.grant_id)
            links = conn.execute(select(identities.c.system, identities.c.value).where(
                identities.c.tenant == input.tenant, identities.c.person_id == person,
                identities.c.system.in_(("slack", "email")))).all()
        for system, value in sorted(links, key=lambda r: r.system != "slack"):
            if system == "slack":
                return str(value)
            if (user_id := slack.lookup_user(value)) is not None:
                self._remember(input.tenant, person, user_id)
                return user_id
        return None

    def _remember(self, tenant_id: str, person: str, user_id: str) -> None:
        tenant = self.config.tenant(tenant_id)
        with self.engine.begin() as conn:
            try:
                link_identity(conn, tenant_id, person, parse_identity_ref(f"slack:id={user_id}"),
                              origin="slack-lookup", shards=tenant.shards if tenant else 1)
            except ValueError as exc:  # linked to someone else already: keep the existing link
                log.warning("not linking Slack user of person %s: %s", person, exc)

    def _fall_back(self, input: DeliverInput, message: Message, attempt: int, reason: str) -> DeliverResult:
        with self.engine.begin() as conn:
            feed_channels = conn.execute(select(deliveries.c.channel).where(
                deliveries.c.grant_id == input.grant_id, deliveries.c.kind == "feed")).all()
            if not feed_channels:  # one feed item per grant: a feed channel already writes it
                _write_feed(conn, input, message)
            _mark_sent(conn, input, attempt, status="fell_back", detail={"to": "feed", "reason": reason})
        return DeliverResult(channel=input.channel, status="fell_back", detail=reason)

    def _note_failure(self, input: DeliverInput, reason: str, attempt: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(*_key(input)).where(
                deliveries.c.status.not_in(FINAL_STATUSES)
            ).values(status="retrying", attempts=attempt, last_error=reason[:500],
                     updated_at=datetime.now(UTC)))


def _key(input: DeliverInput | MarkFailedInput) -> tuple[Any, ...]:
    return (deliveries.c.grant_id == input.grant_id, deliveries.c.channel == input.channel,
            deliveries.c.tenant == input.tenant)


def _mark_sent(conn: Connection, input: DeliverInput, attempt: int, status: str = "sent",
               detail: dict[str, Any] | None = None) -> None:
    now = datetime.now(UTC)
    conn.execute(update(deliveries).where(*_key(input)).values(
        status=status, attempts=attempt, last_error=None, sent_at=now, updated_at=now, detail=detail,
    ))


def _person_of(conn: Connection, grant_id: str) -> str:
    return str(conn.execute(select(grants.c.person_id).where(grants.c.grant_id == grant_id)).scalar_one())


def _write_feed(conn: Connection, input: DeliverInput, message: Message) -> None:
    person = _person_of(conn, input.grant_id)
    conn.execute(insert_for(conn, feed).values(
        tenant=input.tenant, person_id=person, grant_id=input.grant_id, channel=input.channel,
        title=message.title, body=message.text, created_at=datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["grant_id", "channel"]))

"""Delivery activities: one channel of one grant per call, guarded by the delivery record.

The `deliveries` row is the guard against a second send: it exists (`queued`) before any
send is tried, and a channel already `sent`, `fell_back` or `suppressed` is never sent again,
whatever Temporal retries. Everything channel-specific lives in `channels/`; this module keeps
the guard and the bookkeeping:

- transactional channels (console, feed) write their output and the `sent` status in one
  transaction;
- remote channels (Slack, email, webhook) send first and record after: a worker killed in
  between (`deliver:after-send`, Slack's `deliver:after-slack`) retries the send. Slack finds
  its earlier DM (exactly once); SMTP and HTTP cannot tell, so email and webhooks may transmit
  again, always with the same Message-ID / webhook-id (at most one distinct id per grant and
  channel);
- a channel that cannot reach the person (`NoRecipient`) falls back to the feed (`fell_back`)
  or is `suppressed`, as the channel says, with the reason;
- a person deprovisioned by SCIM or Okta (`suspended_persons`) is reached on no channel:
  `suppressed`, reason `deprovisioned`, before any channel is built; a grant revoked by an
  unlink or merge likewise (`suppressed`, reason `revoked`);
- the person's preferences pace the send (`activities.pacing`): opted out → `suppressed`;
  quiet hours, a digest or a throttle → `waiting` with why and until, and the workflow asks
  again then, when every check above runs again;
- a link a channel learned (Slack's lookup by email) is stored here, never by the channel;
- dead letters (`activities.dead_letters`): the transaction that marks a delivery `failed`
  opens the channel's incident of that reason class (one admin alert), and the one that marks
  a delivery `sent` resolves the channel's open incidents;
- a re-drive (`accolade deliveries retry`, workflow `deliver/<grant>/<channel>/retry-<n>`)
  first claims the row (`claim_retry`): only a `failed` row is re-queued, once per n.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from temporalio import activity

from activities.contracts import (
    ClaimRetryInput,
    ClaimRetryResult,
    DeliverInput,
    DeliverResult,
    MarkFailedInput,
)
from activities.dead_letters import open_failure_incident, resolve_channel_incidents
from activities.errors import DeliveryFailure, Permanent, Retryable, to_application_error
from activities.faults import crash_point
from activities.liveness import heartbeating
from activities.messages import Message, compose, resolve_locale
from activities.pacing import Hold, Suppress, attempt_time, pace
from channels import (
    Channel,
    Clients,
    Delivery,
    GrantView,
    Links,
    NoRecipient,
    Sent,
    build_channel,
    split_target,
)
from channels.feed import write_feed
from config.models import Config, TenantSettings
from identity import link_identity, parse_identity_ref
from metrics import pipeline as metrics
from rules.definitions import AchievementSpec
from store.profiles import load_profiles
from store.schema import deliveries, grants, identities
from store.suspended import is_suspended

__all__ = ["DeliveryActivities", "FINAL_STATUSES", "person_links"]

log = logging.getLogger("accolade.delivery")
FINAL_STATUSES = ("sent", "fell_back", "suppressed")


class DeliveryActivities:
    def __init__(self, engine: Engine, config: Config, *, clients: Clients | None = None,
                 console: Any = None) -> None:
        self.engine = engine
        self.config = config
        self.clients = clients or Clients()
        if console is not None:
            self.clients.console = console
        self._channels: dict[tuple[str, str], Channel] = {}

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
            if row.status == "failed":  # a late attempt after the dead letter: retry re-drives it
                return DeliverResult(channel=input.channel, status="failed", detail=row.last_error)
            if (reason := _revoked(conn, input.grant_id) or is_suspended(conn, input.tenant, row.person_id)):
                _mark_sent(conn, input, attempt, status="suppressed", detail={"reason": reason})
                return DeliverResult(channel=input.channel, status="suppressed", detail=reason)
            if (paced := self._pace(conn, input, row, attempt)) is not None:
                return paced
            job = self._prepare(conn, input, attempt)
        try:
            result = self._send(input, job)
        except DeliveryFailure as exc:
            self._note_failure(input, exc.reason, attempt)
            if isinstance(exc, Retryable):  # a permanent one is counted as failed by mark_failed
                metrics.delivery_retrying(input.tenant, row.kind)
            raise to_application_error(exc) from None
        if result.status != "suppressed":
            metrics.delivered(input.tenant, row.kind, result.status, job.created_at)
        return result

    def _pace(self, conn: Connection, input: DeliverInput, row: Any, attempt: int) -> DeliverResult | None:
        """Opted out, or not now (quiet hours, digest, throttle: `activities.pacing`)."""
        tenant = self.config.tenant(input.tenant)
        if tenant is None:
            return None  # `_prepare` reports the missing configuration
        decision = pace(conn, tenant, row, attempt_time())
        if isinstance(decision, Suppress):
            _mark_sent(conn, input, attempt, status="suppressed", detail={"reason": decision.reason})
            return DeliverResult(channel=input.channel, status="suppressed", detail=decision.reason)
        if isinstance(decision, Hold):
            conn.execute(update(deliveries).where(*_key(input)).values(
                status="waiting", detail=decision.detail(), updated_at=datetime.now(UTC)))
            return DeliverResult(channel=input.channel, status="waiting", detail=decision.why,
                                 until=decision.until, digest=decision.digest)
        return None

    @activity.defn(name="mark_delivery_failed")
    def mark_failed(self, input: MarkFailedInput) -> None:
        """The dead letter: `failed` with the reason, and the channel's incident opened (one
        admin alert per incident) in the same transaction."""
        tenant = self.config.tenant(input.tenant)
        with self.engine.begin() as conn:
            kind = conn.execute(update(deliveries).where(*_key(input)).where(
                deliveries.c.status.not_in(FINAL_STATUSES)
            ).values(status="failed", last_error=input.reason[:500], updated_at=datetime.now(UTC))
             .returning(deliveries.c.kind)).scalar()
            if kind is not None and tenant is not None:
                open_failure_incident(conn, tenant, input.channel, input.reason[:500],
                                      console=self.clients.console)
        if kind is not None:  # None: the channel was sent or fell back meanwhile: not a failure
            metrics.delivery_failed(input.tenant, kind)

    @activity.defn(name="claim_delivery_retry")
    def claim_retry(self, input: ClaimRetryInput) -> ClaimRetryResult:
        """Re-queue a `failed` row for re-drive n, in one conditional UPDATE: a row that is no
        longer failed (sent meanwhile, or claimed by another re-drive) is refused with why."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = conn.execute(select(deliveries).where(*_key(input))).first()
            if row is None:
                return ClaimRetryResult(claimed=False, status="missing", reason="no such delivery")
            if row.status != "failed":
                return ClaimRetryResult(claimed=False, status=row.status,
                                        reason=f"not failed: it is {row.status}")
            detail = {"retry": input.retry, "previous_error": row.last_error}
            done = conn.execute(update(deliveries).where(*_key(input)).where(
                deliveries.c.status == "failed").values(
                status="queued", attempts=0, last_error=None, detail=detail, updated_at=now))
        if not done.rowcount:
            return ClaimRetryResult(claimed=False, status="queued", reason="claimed by another retry")
        return ClaimRetryResult(claimed=True, status="failed")

    def _delivery(self, conn: Connection, input: DeliverInput) -> Any:
        row = conn.execute(select(deliveries).where(*_key(input))).first()
        if row is None:
            raise to_application_error(Permanent(f"no delivery record for channel {input.channel}"))
        return row

    def _prepare(self, conn: Connection, input: DeliverInput, attempt: int) -> _Job:
        grant = conn.execute(select(grants).where(grants.c.grant_id == input.grant_id)).one()
        tenant = self.config.tenant(input.tenant)
        spec = tenant.achievement(grant.achievement) if tenant else None
        if spec is None:
            raise to_application_error(Permanent(f"achievement {grant.achievement} is no longer configured"))
        channel = self._channel(input)
        view = GrantView(grant_id=grant.grant_id, tenant=grant.tenant, person_id=grant.person_id,
                         achievement=grant.achievement, version=grant.version, name=spec.name,
                         granted_at=grant.granted_at, evidence=grant.evidence)
        recipient, unreachable = "", None
        try:
            recipient = channel.recipient(person_links(conn, input.tenant, grant.person_id))
        except NoRecipient as exc:
            unreachable = exc.reason
        message = _message(conn, tenant, spec, grant, team=split_target(input.channel)[1])
        delivery = Delivery(input.channel, view, message, recipient, attempt, resumed=input.retry > 0)
        return _Job(delivery, channel, grant.created_at, unreachable)

    def channel(self, tenant: str, channel_id: str) -> Channel:
        """The channel built from the tenant's settings, once per worker (digests use it too)."""
        return self._channel(DeliverInput(tenant=tenant, grant_id="", channel=channel_id))

    def _channel(self, input: DeliverInput) -> Channel:
        """The channel a target names: a configured channel id, or `<id>.team` (its team post)."""
        key = (input.tenant, input.channel)
        if key not in self._channels:
            tenant = self.config.tenant(input.tenant)
            channel_id, team = split_target(input.channel)
            settings = tenant.channel(channel_id) if tenant else None
            if settings is None:
                raise to_application_error(Permanent(f"channel {channel_id} is no longer configured"))
            self._channels[key] = build_channel(settings, self.clients, team=team)
        return self._channels[key]

    def _send(self, input: DeliverInput, job: _Job) -> DeliverResult:
        if job.unreachable is not None:
            return self._unreachable(input, job, job.unreachable)
        if job.channel.transactional:
            with self.engine.begin() as conn:
                job.channel.send(replace(job.delivery, store=conn))
                self._sent(conn, input, job.delivery.attempt)
            crash_point("deliver:after-send", scope=input.channel)
            return DeliverResult(channel=input.channel, status="sent")
        try:
            sent = job.channel.send(job.delivery)
        except NoRecipient as exc:  # found out only by asking the provider (Slack's lookup)
            return self._unreachable(input, job, exc.reason)
        crash_point(job.channel.after_send)  # the provider accepted; nothing recorded yet
        self._record(input, job, sent)
        return DeliverResult(channel=input.channel, status="sent",
                             detail="found already posted" if sent.reused else None)

    def _record(self, input: DeliverInput, job: _Job, sent: Sent) -> None:
        if sent.learned is not None:
            self._remember(input.tenant, job.delivery.grant.person_id, sent.learned)
        with self.engine.begin() as conn:
            self._sent(conn, input, job.delivery.attempt, detail=sent.detail)

    def _sent(self, conn: Connection, input: DeliverInput, attempt: int,
              detail: dict[str, Any] | None = None) -> None:
        """Mark it sent; a success on the channel resolves its open incidents."""
        _mark_sent(conn, input, attempt, detail=detail)
        if (tenant := self.config.tenant(input.tenant)) is not None:
            resolve_channel_incidents(conn, tenant, input.channel, console=self.clients.console)

    def _remember(self, tenant_id: str, person: str, link: str) -> None:
        """Store a link a channel learned; a link already held by someone else is kept."""
        tenant = self.config.tenant(tenant_id)
        with self.engine.begin() as conn:
            try:
                link_identity(conn, tenant_id, person, parse_identity_ref(link),
                              origin=f"{link.split(':', 1)[0]}-lookup", shards=tenant.shards if tenant else 1,
                              shared_mailboxes=tenant.shared_mailboxes if tenant else ())
            except ValueError as exc:
                log.warning("not linking %s of person %s: %s", link.split("=", 1)[0], person, exc)

    def _unreachable(self, input: DeliverInput, job: _Job, reason: str) -> DeliverResult:
        """Nobody to send to: the feed carries the grant (`fell_back`), or it is `suppressed`."""
        status = "suppressed" if job.channel.without_recipient == "suppress" else "fell_back"
        with self.engine.begin() as conn:
            if status == "fell_back" and not _has_feed_channel(conn, input.grant_id):
                write_feed(conn, job.delivery)  # one feed item per grant: a feed channel writes it
            detail = {"to": "feed", "reason": reason} if status == "fell_back" else {"reason": reason}
            _mark_sent(conn, input, job.delivery.attempt, status=status, detail=detail)
        return DeliverResult(channel=input.channel, status=status, detail=reason)

    def _note_failure(self, input: DeliverInput, reason: str, attempt: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(*_key(input)).where(
                deliveries.c.status.not_in(FINAL_STATUSES)
            ).values(status="retrying", attempts=attempt, last_error=reason[:500],
                     updated_at=datetime.now(UTC)))


@dataclass(frozen=True)
class _Job:
    delivery: Delivery
    channel: Channel
    created_at: datetime  # of the grant: grant→delivery latency
    unreachable: str | None  # why nobody can be reached, if so


def _revoked(conn: Connection, grant_id: str) -> str | None:
    """A grant an identity change took away (`identity.recompute`) is not sent any more."""
    revoked = conn.execute(select(grants.c.revoked_at).where(grants.c.grant_id == grant_id)).scalar()
    return "revoked" if revoked is not None else None


def _key(input: DeliverInput | MarkFailedInput | ClaimRetryInput) -> tuple[Any, ...]:
    return (deliveries.c.grant_id == input.grant_id, deliveries.c.channel == input.channel,
            deliveries.c.tenant == input.tenant)


def _mark_sent(conn: Connection, input: DeliverInput, attempt: int, status: str = "sent",
               detail: dict[str, Any] | None = None) -> None:
    now = datetime.now(UTC)
    conn.execute(update(deliveries).where(*_key(input)).values(
        status=status, attempts=attempt, last_error=None, sent_at=now, updated_at=now, detail=detail,
    ))


def _message(conn: Connection, tenant: TenantSettings, spec: AchievementSpec, grant: Any, *,
             team: bool) -> Message:
    """The grant's message in the reader's language and zone: the person's (`store.profiles`),
    else the tenant's; a team post is read by the team, so always the tenant's."""
    profile = None if team else load_profiles(conn, tenant.id, [grant.person_id]).get(grant.person_id)
    locale = resolve_locale(profile.locale if profile else None, tenant.locale)
    zone = profile.time_zone if profile and profile.time_zone else tenant.time_zone
    granted_at = grant.granted_at if grant.granted_at.tzinfo else grant.granted_at.replace(tzinfo=UTC)
    return compose(spec, grant.evidence, locale=locale, granted_at=granted_at, zone=zone)


def person_links(conn: Connection, tenant: str, person: str) -> Links:
    rows = conn.execute(select(identities.c.system, identities.c.kind, identities.c.value).where(
        identities.c.tenant == tenant, identities.c.person_id == person,
    ).order_by(identities.c.system, identities.c.kind, identities.c.value)).all()
    return Links(tuple((r.system, r.kind, r.value) for r in rows))


def _has_feed_channel(conn: Connection, grant_id: str) -> bool:
    return conn.execute(select(deliveries.c.channel).where(
        deliveries.c.grant_id == grant_id, deliveries.c.kind == "feed")).first() is not None

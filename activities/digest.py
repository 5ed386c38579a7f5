"""Digest activities: hand a grant to the person's digest, and send a digest as one message.

`join_digest` is signal-with-start of `DigestWorkflow` (a workflow cannot signal-with-start
another, so the delivery workflow asks this activity). `send_digest` keeps the same guard as
single sends: the grants' deliveries rows. It sends only grants whose row is not settled
(sent, fell_back, suppressed), re-checks the person (deprovisioned?) and the preferences
(opted out since?) at the moment of sending, and records every grant `sent` with the digest's
id afterwards. The message id (`GrantView.grant_id` of the digest) is derived from the digest
workflow's id and the grants it carries, so a retry after a crash between the provider's
answer and the record sends the same Message-ID again (as single sends do), and a second
message of one period (a late grant) gets its own.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update
from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.contracts import CollectGrant, DigestInput, JoinDigestInput, SendDigestInput, SendDigestResult
from activities.delivery import FINAL_STATUSES, DeliveryActivities, person_links
from activities.errors import DeliveryFailure, to_application_error
from activities.evaluation import SA_PERSON, SA_TENANT
from activities.liveness import WORKFLOW_TASK_TIMEOUT, heartbeating
from activities.messages import Message, compose
from channels import Delivery, GrantView, NoRecipient
from channels.feed import write_feed
from store.preferences import load_preferences
from store.schema import deliveries, grants
from store.suspended import is_suspended
from workflows.digest import digest_id

__all__ = ["DigestActivities", "digest_message"]

_NAMESPACE = uuid.UUID("5f6c1f0e-2b7a-4d0e-9f1e-6a1d0c9b7e21")  # digest message ids


class DigestActivities:
    def __init__(self, delivery: DeliveryActivities, client: Client | None, task_queue: str) -> None:
        self.delivery = delivery
        self.client = client
        self.task_queue = task_queue

    @activity.defn(name="join_digest")
    async def join_digest(self, input: JoinDigestInput) -> None:
        """Start the period's digest with this grant, or add it to the running one."""
        assert self.client is not None, "join_digest needs a Temporal client"
        await self.client.start_workflow(
            "DigestWorkflow",
            DigestInput(tenant=input.tenant, person_id=input.person_id, channel=input.channel,
                        period=input.period, due=input.due),
            id=digest_id(input.tenant, input.person_id, input.channel, input.period),
            task_queue=self.task_queue,
            start_signal="collect",
            start_signal_args=[CollectGrant(grant_id=input.grant_id)],
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            search_attributes=TypedSearchAttributes([SearchAttributePair(SA_TENANT, input.tenant),
                                                     SearchAttributePair(SA_PERSON, input.person_id)]),
            static_summary=f"Digest {input.period} for person {input.person_id} via {input.channel}",
        )

    @activity.defn(name="send_digest")
    def send_digest(self, input: SendDigestInput) -> SendDigestResult:
        with heartbeating():
            return self._send(input, activity.info().attempt)

    def _send(self, input: SendDigestInput, attempt: int) -> SendDigestResult:
        with self.delivery.engine.begin() as conn:
            rows = _unsettled(conn, input)
            if not rows:
                return SendDigestResult(status="nothing")
            if (reason := self._held_back(conn, input)) is not None:
                _settle(conn, input, rows, attempt, "suppressed", {"reason": reason})
                return SendDigestResult(status="suppressed", grants=len(rows), detail=reason)
            links = person_links(conn, input.tenant, input.person_id)
        tenant = self.delivery.config.tenant(input.tenant)
        specs = {r.achievement: tenant.achievement(r.achievement) if tenant else None for r in rows}
        message = digest_message([(specs[r.achievement], r.evidence) for r in rows])
        channel = self.delivery.channel(input.tenant, input.channel)
        view = GrantView(grant_id=_message_id(input.digest_id, rows), tenant=input.tenant,
                         person_id=input.person_id, achievement="digest", version=1, name=message.title,
                         granted_at=max(r.granted_at for r in rows),
                         evidence={"grants": [r.grant_id for r in rows]})
        try:
            sent = channel.send(Delivery(input.channel, view, message, channel.recipient(links), attempt))
        except NoRecipient as exc:
            return self._fall_back(input, rows, attempt, exc.reason)
        except DeliveryFailure as exc:
            with self.delivery.engine.begin() as conn:
                _settle(conn, input, rows, attempt, "retrying", None, last_error=exc.reason)
            raise to_application_error(exc) from None
        with self.delivery.engine.begin() as conn:
            _settle(conn, input, rows, attempt, "sent",
                    {"digest": input.digest_id, "message": view.grant_id, **(sent.detail or {})})
        return SendDigestResult(status="sent", grants=len(rows))

    def _held_back(self, conn: Connection, input: SendDigestInput) -> str | None:
        if (reason := is_suspended(conn, input.tenant, input.person_id)) is not None:
            return reason
        if input.channel in load_preferences(conn, input.tenant, input.person_id).opt_out:
            return "opted out"
        return None

    def _fall_back(self, input: SendDigestInput, rows: list[Any], attempt: int,
                   reason: str) -> SendDigestResult:
        """Nobody to reach on this channel: each grant goes to the feed, as single sends do."""
        tenant = self.delivery.config.tenant(input.tenant)
        with self.delivery.engine.begin() as conn:
            for r in rows:
                spec = tenant.achievement(r.achievement) if tenant else None
                if spec is not None:
                    view = GrantView(r.grant_id, input.tenant, input.person_id, r.achievement, r.version,
                                     spec.name, r.granted_at, r.evidence)
                    write_feed(conn, Delivery(input.channel, view, compose(spec, r.evidence), "", attempt))
            _settle(conn, input, rows, attempt, "fell_back", {"to": "feed", "reason": reason})
        return SendDigestResult(status="fell_back", grants=len(rows), detail=reason)


def digest_message(items: list[tuple[Any, dict[str, Any]]]) -> Message:
    """One message for several grants: every title, and each one's why, so the plain text
    carries all of it. Grants whose achievement is no longer configured are named by nothing
    and skipped."""
    parts = [compose(spec, evidence) for spec, evidence in items if spec is not None]
    names = [p.title for p in parts]
    title = ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} and {len(names) - 2} more"
    why = " | ".join(f"{p.title}: {p.why}" for p in parts)
    return Message(title=title, why=why, next=None)


def _message_id(digest: str, rows: list[Any]) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{digest}:{','.join(sorted(r.grant_id for r in rows))}"))


def _unsettled(conn: Connection, input: SendDigestInput) -> list[Any]:
    return list(conn.execute(
        select(deliveries.c.grant_id, grants.c.achievement, grants.c.version, grants.c.evidence,
               grants.c.granted_at)
        .join(grants, grants.c.grant_id == deliveries.c.grant_id)
        .where(deliveries.c.tenant == input.tenant, deliveries.c.channel == input.channel,
               deliveries.c.grant_id.in_(input.grant_ids), deliveries.c.status.not_in(FINAL_STATUSES))
        .order_by(grants.c.granted_at, deliveries.c.grant_id)).all())


def _settle(conn: Connection, input: SendDigestInput, rows: list[Any], attempt: int, status: str,
            detail: dict[str, Any] | None, *, last_error: str | None = None) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {"status": status, "attempts": attempt, "last_error": last_error,
                              "updated_at": now}
    if status != "retrying":
        values |= {"detail": detail, "sent_at": now}
    conn.execute(update(deliveries).where(
        deliveries.c.tenant == input.tenant, deliveries.c.channel == input.channel,
        deliveries.c.grant_id.in_([r.grant_id for r in rows]),
        deliveries.c.status.not_in(FINAL_STATUSES)).values(**values))

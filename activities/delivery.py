"""Delivery activities: one channel of one grant per call, guarded by the delivery record.

The `deliveries` row is the guard against a second send: a channel already `sent` (or
`fell_back`) is never sent again, whatever Temporal retries. Console and feed write their
output and the `sent` status in one transaction.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from temporalio import activity

from activities.contracts import DeliverInput, DeliverResult, MarkFailedInput
from activities.errors import DeliveryFailure, Permanent, to_application_error
from activities.faults import crash_point
from activities.messages import Message, compose
from config.models import Config
from store.schema import deliveries, feed, grants

__all__ = ["DeliveryActivities", "FINAL_STATUSES"]

log = logging.getLogger("accolade.delivery")
FINAL_STATUSES = ("sent", "fell_back")


class DeliveryActivities:
    def __init__(self, engine: Engine, config: Config, *, console: Any = None) -> None:
        self.engine = engine
        self.config = config
        self.console = console or sys.stdout

    @activity.defn(name="deliver")
    def deliver(self, input: DeliverInput) -> DeliverResult:
        attempt = activity.info().attempt
        with self.engine.begin() as conn:
            row = self._delivery(conn, input)
            if row.status in FINAL_STATUSES:
                return DeliverResult(channel=input.channel, status=row.status, detail="already delivered")
            message = self._message(conn, input)
        try:
            return self._send(input, row.kind, message, attempt)
        except DeliveryFailure as exc:
            self._note_failure(input, exc.reason, attempt)
            raise to_application_error(exc) from None

    @activity.defn(name="mark_delivery_failed")
    def mark_failed(self, input: MarkFailedInput) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(*_key(input)).where(
                deliveries.c.status.not_in(FINAL_STATUSES)
            ).values(status="failed", last_error=input.reason[:500], updated_at=datetime.now(UTC)))

    def _delivery(self, conn: Connection, input: DeliverInput) -> Any:
        row = conn.execute(select(deliveries).where(*_key(input))).first()
        if row is None:
            raise to_application_error(Permanent(f"no delivery record for channel {input.channel}"))
        return row

    def _message(self, conn: Connection, input: DeliverInput) -> Message:
        grant = conn.execute(select(grants).where(grants.c.grant_id == input.grant_id)).one()
        tenant = self.config.tenant(input.tenant)
        spec = tenant.achievement(grant.achievement) if tenant else None
        if spec is None:
            raise to_application_error(Permanent(f"achievement {grant.achievement} is no longer configured"))
        return compose(spec, grant.evidence)

    def _send(self, input: DeliverInput, kind: str, message: Message, attempt: int) -> DeliverResult:
        with self.engine.begin() as conn:
            if kind == "feed":
                _write_feed(conn, input, message)
            elif kind == "console":
                person = conn.execute(select(grants.c.person_id).where(
                    grants.c.grant_id == input.grant_id)).scalar_one()
                print(f"[accolade] {input.tenant}/{person}: {message.text}", file=self.console, flush=True)
            else:
                raise Permanent(f"channel kind {kind} is not available in this worker")
            _mark_sent(conn, input, attempt)
        crash_point("deliver:after-send")
        return DeliverResult(channel=input.channel, status="sent")

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


def _write_feed(conn: Connection, input: DeliverInput, message: Message) -> None:
    person = conn.execute(select(grants.c.person_id).where(grants.c.grant_id == input.grant_id)).scalar_one()
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    conn.execute(dialect.insert(feed).values(
        tenant=input.tenant, person_id=person, grant_id=input.grant_id, channel=input.channel,
        title=message.title, body=message.text, created_at=datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["grant_id", "channel"]))

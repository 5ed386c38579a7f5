"""xAPI statements through the one ingest path: parse, compare, append, store, void.

`post_statements` is what `POST`/`PUT /xapi/statements` do once the request is authenticated
(`api.xapi`):

- the body is parsed whole (`connectors.xapi`): one invalid statement rejects the request
  with 400 naming the field, and the body is quarantined (kind `xapi`);
- in ONE transaction: the ids are compared with the stored statements (xAPI Data §2.3.1,
  `content_digest`): any id stored with different content → 409 for the whole request and
  nothing is written; ids stored with the same content are no-ops; the new statements are
  stored (`store.xapi`) and their events appended through `append_validated`, so a
  statement and its events commit together or not at all;
- a voiding statement marks its target voided. The target's events still in the evaluators'
  queue (or parked) are taken out, so they never count. Events already evaluated are not
  undone: the grants whose evidence cites them are listed for review in a `webhook_log` row
  (outcome `voided`, detail `review grants: …`) and a warning log line, never revoked silently.
  Only grants whose evidence names the statement are found: the evidence keeps the first
  events counted and the one that completed the rule, and progress already counted towards a
  rule not yet earned stays counted. A voiding statement whose target is not stored yet is
  kept; the target, when it arrives, is stored voided and appends no event. A voiding
  statement that targets another voiding statement voids nothing.

Two requests racing with one new id meet at the table's unique key: the loser's transaction
rolls back and runs once more, where it finds the winner's row and compares with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from config.models import TenantSettings
from connectors.base import PayloadError, WebhookRequest, check_events
from connectors.xapi import CONNECTOR, Parsed, ParsedStatement, XapiSettings
from connectors.xapi.model import VOIDED
from identity.resolve import known_routes
from intake.context import Intake
from intake.ingest import append_validated, record_webhook
from intake.webhooks import replayable_headers
from rules.events import connector_source
from store import read_only
from store.xapi import (
    grants_citing,
    insert_statements,
    mark_voided,
    read_statement,
    stored_digests,
    unqueue_events,
    voided_before,
)

__all__ = ["Conflict", "StatementsOutcome", "post_statements"]

log = logging.getLogger("accolade.xapi")


class Conflict(Exception):
    """An id already stored with different content (409)."""

    def __init__(self, statement_id: str) -> None:
        super().__init__(f"statement {statement_id} is already stored with different content")
        self.reason = str(self)


@dataclass
class StatementsOutcome:
    ids: list[str]
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    review: list[str] = field(default_factory=list)


def post_statements(intake: Intake, tenant: TenantSettings, settings: XapiSettings, body: bytes,
                    headers: dict[str, str], *, statement_id: str | None = None) -> StatementsOutcome:
    """Raises PayloadError (400, quarantined) or Conflict (409, nothing stored)."""
    source = connector_source(tenant.id, settings.id)
    request = WebhookRequest(body=body, headers=headers, limits=intake.config.api.limits.json_limits())
    intake.health.observe(tenant.id, settings.id, received=1)
    now = datetime.now(UTC)
    try:
        parsed = CONNECTOR.parse(request, source=source, settings=settings,
                                 statement_id=statement_id, now=now)
        check_events(parsed.events, limits=request.limits, now=now)
    except PayloadError as exc:
        _quarantine(intake, tenant.id, settings.id, request, exc.reason)
        raise PayloadError(exc.reason, status=400) from None
    with read_only(intake.engine) as conn:
        found = known_routes(conn, tenant.id, [event.actor for event in parsed.events])
    known = {id(event): route for event, route in zip(parsed.events, found, strict=True)}
    try:
        outcome, dirty = _write_once(intake, tenant, settings.id, parsed, known, now)
    except IntegrityError:  # a concurrent request stored one of these ids first
        outcome, dirty = _write_once(intake, tenant, settings.id, parsed, None, now)
    intake.health.observe(tenant.id, settings.id, accepted=outcome.accepted, duplicate=outcome.duplicate,
                          ignored=outcome.ignored,
                          event_at=max((e.time for e in parsed.events), default=None))
    if dirty:
        intake.notifier.mark_dirty(tenant.id, dirty)
    return outcome


def _write_once(intake: Intake, tenant: TenantSettings, connector: str, parsed: Parsed,
                known: Any, now: datetime) -> tuple[StatementsOutcome, set[int]]:
    dirty: set[int] = set()
    with intake.engine.begin() as conn:
        outcome = _write(conn, tenant, connector, parsed, known, dirty, now)
    return outcome, dirty


def _write(conn: Connection, tenant: TenantSettings, connector: str, parsed: Parsed, known: Any,
           dirty: set[int], now: datetime) -> StatementsOutcome:
    stored = stored_digests(conn, tenant.id, connector, [s.id for s in parsed.statements])
    for statement in parsed.statements:
        if statement.id in stored and stored[statement.id] != statement.digest:
            raise Conflict(statement.id)
    new = [s for s in parsed.statements if s.id not in stored]
    outcome = StatementsOutcome(ids=[s.id for s in parsed.statements],
                                duplicate=len(parsed.statements) - len(new))
    early = voided_before(conn, tenant.id, connector, [s.id for s in new])
    early |= {s.voids for s in new if s.voids is not None}  # voided within this batch
    insert_statements(conn, tenant.id, connector, [_row(s) for s in new], stored=now, voided=early)
    events = [e for s in new if s.id not in early for e in s.events]
    routes = None if known is None else [known[id(e)] for e in events]
    items = append_validated(conn, tenant, list(enumerate(events)), dirty, known=routes)
    outcome.accepted = sum(1 for item in items if item.status == "accepted")
    outcome.ignored = sum(1 for s in new if s.ignored)
    for statement in new:
        if statement.voids is not None:
            outcome.review += _void(conn, tenant.id, connector, statement)
    record_webhook(conn, tenant.id, connector, event="statements", outcome="stored" if new else "duplicate",
                   accepted=outcome.accepted, dropped=0, detail=None)
    return outcome


def _row(statement: ParsedStatement) -> dict[str, Any]:
    return {"statement_id": statement.id, "digest": statement.digest, "body": statement.body,
            **statement.columns}


def _void(conn: Connection, tenant: str, connector: str, statement: ParsedStatement) -> list[str]:
    target = statement.voids or ""
    current = read_statement(conn, tenant, connector, target)
    if current is None or current.verb == VOIDED:  # unknown here, or a voiding one: stays as is
        return []
    mark_voided(conn, tenant, connector, target)
    source = connector_source(tenant, connector)
    withdrawn, counted = unqueue_events(conn, tenant, source, target)
    review = grants_citing(conn, tenant, f"{source}#{target}") if counted else []
    if review:
        detail = f"voided {target} after it counted; review grants: {', '.join(review)}"
        log.warning("xapi %s/%s: %s", tenant, connector, detail)
        record_webhook(conn, tenant, connector, event="voided", outcome="voided", accepted=0,
                       dropped=withdrawn, detail=detail)
    return review


def _quarantine(intake: Intake, tenant: str, connector: str, request: WebhookRequest, reason: str) -> None:
    with intake.engine.begin() as conn:
        intake.quarantine.body(conn, tenant=tenant, channel=connector, delivery_id=None, reason=reason,
                               body=request.body, kind="xapi",
                               headers=replayable_headers(dict(request.headers)))
        record_webhook(conn, tenant, connector, event="statements", outcome="quarantined", detail=reason)
    intake.health.observe(tenant, connector, quarantined=1)

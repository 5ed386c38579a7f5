"""Vendor webhooks: limits, verification over the raw body, then parse, append and answer.

- 404: no such connector. 405: a method the vendor's protocol does not use.
- 503: the connector is paused (`enabled: false`); the vendor may retry later.
- 400: a header value or the vendor's delivery id longer than `api.limits` allows, checked
  before the signature (nothing about such a request is trusted).
- 401: verification failed. Neither of these is stored per request: `RejectionCounter` adds
  them up per connector and reason, with one sampled request's metadata.
- 400/422: verified, but the body cannot be mapped, or an event it maps to breaks a limit
  (`connectors.parse_checked`): a capped prefix of the body is quarantined with the reason,
  and a `webhook_log` row is written.
- 200: stored (or a duplicate, or ignored with a reason), committed before the answer.

Every reply is made safe to encode: a reason may quote the vendor's text.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from config.models import LimitSettings, TenantSettings
from connectors import PayloadError, VerificationError, WebhookConnector, WebhookRequest, webhook_connector
from connectors.base import parse_checked
from identity.resolve import known_routes
from intake.context import Intake
from intake.ingest import INTERNAL_ERROR, ItemOutcome, append_validated, record_webhook
from metrics import ingest as ingest_metrics
from rules.events import connector_source
from store import read_only
from store.quarantine import safe_text

__all__ = ["handle_webhook", "replayable_headers"]

log = logging.getLogger("accolade.webhooks")

# Never kept with a quarantined body: they authenticate, and a retry does not verify again.
_SECRET_HEADERS = frozenset({"authorization", "cookie", "x-hub-signature", "x-hub-signature-256",
                             "x-gitlab-token", "proxy-authorization"})


def handle_webhook(
    intake: Intake, connector_id: str, body: bytes, headers: dict[str, str], *, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    found = intake.config.find_connector(connector_id)
    connector = None if found is None else webhook_connector(found[1].vendor)
    if found is None or connector is None:
        return 404, {"error": f"no webhook connector {safe_text(connector_id, 64)!r} is configured"}
    tenant, settings = found
    if method not in connector.methods:
        return 405, {"error": f"{method} is not used by {connector.vendor} webhooks"}
    if not settings.enabled:
        return 503, {"error": f"connector {connector_id} is paused (enabled: false)"}
    limits = intake.config.api.limits
    request = WebhookRequest(body=body, headers=headers, limits=limits.json_limits())
    if (refusal := _header_problem(request, connector, limits)) is not None:
        intake.refused(tenant.id, connector_id, refusal, None)
        return 400, {"error": refusal}
    delivery = connector.delivery_id(request)
    try:
        connector.verify(request, settings)
    except VerificationError as exc:
        intake.refused(tenant.id, connector_id, exc.reason, delivery)
        return 401, {"error": exc.reason}
    if method == "GET":
        return _answer_get(connector, request, settings)
    intake.health.observe(tenant.id, connector_id, received=1)
    status, reply = _ingest(intake, tenant, connector_id, connector, request, delivery)
    intake.hint_poller(tenant.id, connector_id)  # webhooks are hints: a poller looks sooner
    return status, _safe(reply)


def _answer_get(
    connector: WebhookConnector, request: WebhookRequest, settings: Any
) -> tuple[int, dict[str, Any]]:
    try:
        return 200, _safe(connector.answer_get(request, settings))
    except PayloadError as exc:
        return exc.status, {"error": safe_text(exc.reason, 1000)}


def replayable_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers a quarantined delivery keeps for `accolade quarantine retry`."""
    return {k.lower(): safe_text(v, 1024) for k, v in headers.items()
            if k.lower() not in _SECRET_HEADERS}


def _header_problem(
    request: WebhookRequest, connector: WebhookConnector, limits: LimitSettings
) -> str | None:
    for name, value in request.headers.items():
        if len(value) > limits.header_value:
            return f"header {safe_text(name, 64)} longer than {limits.header_value} characters"
    delivery = connector.delivery_id(request)
    if delivery is not None and len(delivery) > limits.delivery_id:
        return f"delivery id longer than {limits.delivery_id} characters"
    return None


def _ingest(
    intake: Intake,
    tenant: TenantSettings,
    connector_id: str,
    connector: WebhookConnector,
    request: WebhookRequest,
    delivery: str | None,
) -> tuple[int, dict[str, Any]]:
    engine = intake.engine
    source = connector_source(tenant.id, connector_id)
    try:
        result = parse_checked(connector, request, source=source)
    except PayloadError as exc:
        return _quarantined(intake, tenant.id, connector_id, request, delivery, exc.reason, exc.status)
    except Exception:  # a connector bug must not become a 500 the vendor retries forever
        log.exception("webhook %s: mapping delivery %r failed", connector_id, (delivery or "-")[:80])
        return _quarantined(intake, tenant.id, connector_id, request, delivery, INTERNAL_ERROR, 422)
    dirty: set[int] = set()
    with read_only(engine) as conn:  # outside the write transaction: keep that short
        known = known_routes(conn, tenant.id, [event.actor for event in result.events])

    def write(conn: Connection) -> tuple[list[ItemOutcome], int, str]:
        dirty.clear()  # a group that failed runs this again alone
        items = append_validated(conn, tenant, list(enumerate(result.events)), dirty, known=known)
        accepted = sum(1 for item in items if item.status == "accepted")
        outcome = "ignored" if result.ignored else ("stored" if accepted else "duplicate")
        record_webhook(conn, tenant.id, connector_id, delivery_id=delivery,
                       event=result.event_name, outcome=outcome, accepted=accepted,
                       dropped=result.dropped, detail=result.ignored)
        return items, accepted, outcome

    items, accepted, outcome = intake.group_commit.run(write)  # shared with concurrent requests
    ingest_metrics.webhook_ingested(tenant.id, connector_id, outcome, items)
    latest = max((event.time for event in result.events), default=None)
    intake.health.observe(tenant.id, connector_id, event_at=latest, accepted=accepted,
                          duplicate=len(items) - accepted, ignored=1 if result.ignored else 0)
    if dirty:
        intake.notifier.mark_dirty(tenant.id, dirty)
    if result.reply is not None:
        return 200, result.reply
    return 200, {
        "accepted": accepted,
        "duplicate": len(items) - accepted,
        "dropped": result.dropped,
        **({"ignored": result.ignored} if result.ignored else {}),
    }


def _quarantined(
    intake: Intake, tenant: str, connector_id: str, request: WebhookRequest,
    delivery: str | None, reason: str, status: int,
) -> tuple[int, dict[str, Any]]:
    with intake.engine.begin() as conn:
        intake.quarantine.body(conn, tenant=tenant, channel=connector_id, delivery_id=delivery,
                               reason=reason, body=request.body, kind="webhook",
                               headers=replayable_headers(dict(request.headers)))
        record_webhook(conn, tenant, connector_id, delivery_id=delivery,
                       outcome="quarantined", detail=reason)
    ingest_metrics.webhook_quarantined(tenant, connector_id)
    intake.health.observe(tenant, connector_id, quarantined=1)
    return status, {"error": reason, "quarantined": True}


def _safe(value: Any) -> Any:
    """`value` with every string made encodable (replies may quote the vendor's text)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value

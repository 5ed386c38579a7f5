"""Vendor webhooks: verify over the raw body, then parse, append, and answer.

Unverified requests get 401 and only their metadata is recorded. Verified bodies that cannot
be parsed are quarantined with the reason and answered 400/422.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from api.ingest import append_validated, quarantine_body, record_webhook
from config.models import Config
from connectors import PayloadError, VerificationError, WebhookRequest, get_connector
from rules.events import connector_source

__all__ = ["handle_webhook"]

log = logging.getLogger("accolade.webhooks")


def handle_webhook(
    app: FastAPI, connector_id: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    config: Config = app.state.config
    found = config.find_connector(connector_id)
    if found is None:
        return 404, {"error": f"no connector {connector_id!r} is configured"}
    tenant, settings = found
    connector = get_connector(settings.vendor)
    request = WebhookRequest(body=body, headers=headers)
    delivery = connector.delivery_id(request)
    engine = app.state.engine
    try:
        connector.verify(request, secret=settings.secret.get_secret_value())
    except VerificationError as exc:
        log.warning("webhook %s rejected: %s (delivery %s)", connector_id, exc.reason, delivery)
        with engine.begin() as conn:
            record_webhook(conn, tenant.id, connector_id, delivery_id=delivery,
                           outcome="unauthorized", detail=exc.reason)
        return 401, {"error": exc.reason}
    source = connector_source(tenant.id, connector_id)
    try:
        result = connector.parse(request, source=source)
    except PayloadError as exc:
        with engine.begin() as conn:
            quarantine_body(conn, tenant.id, connector_id, delivery, exc.reason,
                            body.decode("utf-8", "replace"))
            record_webhook(conn, tenant.id, connector_id, delivery_id=delivery,
                           outcome="quarantined", detail=exc.reason)
        return exc.status, {"error": exc.reason, "quarantined": True}
    dirty: set[int] = set()
    with engine.begin() as conn:
        items = append_validated(conn, tenant, list(enumerate(result.events)), dirty)
        accepted = sum(1 for item in items if item.status == "accepted")
        outcome = "ignored" if result.ignored else ("stored" if accepted else "duplicate")
        record_webhook(conn, tenant.id, connector_id, delivery_id=delivery,
                       event=result.event_name, outcome=outcome, accepted=accepted,
                       dropped=result.dropped, detail=result.ignored)
    if dirty:
        app.state.notifier.mark_dirty(tenant.id, dirty)
    if result.reply is not None:
        return 200, result.reply
    return 200, {
        "accepted": accepted,
        "duplicate": len(items) - accepted,
        "dropped": result.dropped,
        **({"ignored": result.ignored} if result.ignored else {}),
    }

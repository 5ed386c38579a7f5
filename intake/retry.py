"""Retry a quarantined row: parse its kept body with the current code and ingest what now parses.

A row is parsed the way it was on arrival, through the same code:

- `webhook`: the vendor's `parse_checked` over a `WebhookRequest(body, headers)`. It is not
  verified again: it was verified on receipt (unverified bodies are never quarantined), and
  its signature or token header was deliberately not kept (`intake.webhooks.replayable_headers`).
- `record`: the polling connector's `parse_page(Page([raw]))`, then the event limits.
- `item`: `validate_items`, as the batch API judges it.

What parses is appended through `append_validated`, the one write path, and the row is marked
(`retried_at`, `retry_outcome`) in the SAME transaction: a crash leaves both or neither, and
event ids dedupe, so retrying twice stores nothing twice. What still fails is marked "still
fails: <reason>" and stays unresolved.

Refused, and left exactly as they are: a body cut by `store.quarantine.body_prefix` (parsing a
prefix would be guessing), a kept body that is not byte-for-byte what arrived (its SHA-256
differs: it was not valid UTF-8 text), and a row whose connector is no longer configured, now
belongs to another tenant, is paused, or no longer has the shape (webhook, polling) the row
needs. Rows are only ever read for the tenant asked for, so no tenant's data crosses to another.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from config.models import Config, TenantSettings
from connectors import PollingConnector, WebhookConnector, WebhookRequest, get_connector
from connectors.base import Connector, Page, PayloadError, check_events, parse_checked
from intake.ingest import INTERNAL_ERROR, ItemOutcome, append_validated, validate_items
from rules.events import CloudEvent, connector_source
from rules.limits import JsonLimits, loads
from store import read_only
from store.quarantine import FAILS, Quarantined, mark_retried, retry_row

__all__ = ["ConnectorLookup", "RetryOutcome", "registered", "retry_item"]

log = logging.getLogger("accolade.quarantine")

ConnectorLookup = Callable[[str], Connector | None]
HANDLED = frozenset({"stored", "duplicate", "ignored"})


def registered(vendor: str) -> Connector | None:
    """The registered connector of `vendor` (tests pass their own lookup instead)."""
    try:
        return get_connector(vendor)
    except KeyError:
        return None


@dataclass
class RetryOutcome:
    """What retrying one row did. `status`: stored, duplicate, ignored, fails or refused."""

    item: int
    status: str
    message: str
    kind: str | None = None
    channel: str | None = None
    dirty_shards: set[int] = field(default_factory=set)

    @property
    def handled(self) -> bool:
        return self.status in HANDLED

    def as_json(self) -> dict[str, Any]:
        return {"id": self.item, "kind": self.kind, "channel": self.channel,
                "status": self.status, "message": self.message}


@dataclass
class _Parsed:
    events: list[CloudEvent]
    ignored: str | None = None


def retry_item(
    engine: Engine, config: Config, tenant: TenantSettings, item_id: int, *,
    lookup: ConnectorLookup = registered,
) -> RetryOutcome:
    """Retry row `item_id` of `tenant`; see the module docstring for what is refused."""
    with read_only(engine) as conn:
        row = retry_row(conn, tenant.id, item_id)
    if row is None:
        return RetryOutcome(item_id, "refused", f"no quarantined item #{item_id} in tenant {tenant.id}")
    refusal, connector = _refusal(row, config, tenant, lookup)
    if refusal is not None:
        return RetryOutcome(row.id, "refused", refusal, row.kind, row.channel)
    limits = config.api.limits.json_limits()
    try:
        parsed = _parse(row, tenant, connector, limits)
    except PayloadError as exc:
        return _still_fails(engine, row, exc.reason)
    except Exception:  # a parser bug must not stop a `--all` run: report it like the receiver
        log.exception("retrying quarantined item #%d (%s) failed", row.id, row.channel)
        return _still_fails(engine, row, INTERNAL_ERROR)
    return _store(engine, tenant, row, parsed)


def _refusal(
    row: Quarantined, config: Config, tenant: TenantSettings, lookup: ConnectorLookup
) -> tuple[str | None, Connector | None]:
    if row.body_truncated:
        cap = int(config.store.quarantine.body_prefix)
        return (f"only the first {len(row.body.encode())} of {row.body_size} bytes were kept "
                f"(the cap store.quarantine.body_prefix, now {cap} bytes): a cut body cannot be "
                "parsed again; left as is", None)
    if row.body_sha256 and hashlib.sha256(row.body.encode()).hexdigest() != row.body_sha256:
        return ("the kept body is not byte-for-byte what arrived (it was not valid UTF-8 "
                "text): it cannot be parsed again; left as is", None)
    if row.kind == "item":
        return None, None
    if row.kind == "xapi":  # the LRS answered 400: the client keeps the statements and sends them again
        return ("an xAPI request is not retried here: the LRS client was told 400 and posts the "
                "statements again once they are fixed; left as is", None)
    return _connector_refusal(row, config, tenant, lookup)


def _connector_refusal(
    row: Quarantined, config: Config, tenant: TenantSettings, lookup: ConnectorLookup
) -> tuple[str | None, Connector | None]:
    found = config.find_connector(row.channel)
    if found is None:
        return f"connector {row.channel} is no longer configured; left as is", None
    if found[0].id != tenant.id:  # never parse one tenant's body as another's source
        return f"connector {row.channel} now belongs to another tenant; left as is", None
    settings = found[1]
    if not settings.enabled:
        return f"connector {row.channel} is paused (enabled: false); left as is", None
    connector = lookup(settings.vendor)
    shape = WebhookConnector if row.kind == "webhook" else PollingConnector
    if not isinstance(connector, shape):
        what = "webhooks" if row.kind == "webhook" else "poll records"
        return f"connector {row.channel} ({settings.vendor}) no longer takes {what}; left as is", None
    return None, connector


def _parse(
    row: Quarantined, tenant: TenantSettings, connector: Connector | None, limits: JsonLimits
) -> _Parsed:
    source = connector_source(tenant.id, row.channel)
    if isinstance(connector, WebhookConnector) and row.kind == "webhook":
        request = WebhookRequest(body=row.body.encode(), headers=row.headers, limits=limits)
        result = parse_checked(connector, request, source=source)
        return _Parsed(result.events, result.ignored)
    raw = _json(row.body, limits)
    if isinstance(connector, PollingConnector) and row.kind == "record":
        return _record(connector, raw, source, limits)
    good, bad = validate_items([raw], limits=limits)
    if bad:
        raise PayloadError(bad[0].reason or "rejected")
    return _Parsed([event for _, event in good])


def _json(text: str, limits: JsonLimits) -> Any:
    try:
        return loads(text, limits)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"invalid JSON: {type(exc).__name__}") from None


def _record(connector: PollingConnector, raw: Any, source: str, limits: JsonLimits) -> _Parsed:
    events: list[CloudEvent] = []
    for record in connector.parse_page(Page([raw]), source=source):
        if record.error is not None:
            raise record.error
        check_events(record.events, limits=limits)
        events += record.events
    return _Parsed(events, None if events else "the record maps to no event")


def _still_fails(engine: Engine, row: Quarantined, reason: str) -> RetryOutcome:
    with engine.begin() as conn:
        mark_retried(conn, row.tenant, row.id, outcome=FAILS + reason, now=datetime.now(UTC))
    return RetryOutcome(row.id, "fails", FAILS + reason, row.kind, row.channel)


def _store(engine: Engine, tenant: TenantSettings, row: Quarantined, parsed: _Parsed) -> RetryOutcome:
    outcome = RetryOutcome(row.id, "ignored", "", row.kind, row.channel)
    with engine.begin() as conn:  # the events and the mark: both or neither
        items = append_validated(conn, tenant, list(enumerate(parsed.events)), outcome.dirty_shards)
        outcome.status, outcome.message = _describe(items, parsed.ignored)
        mark_retried(conn, row.tenant, row.id, outcome=outcome.message, now=datetime.now(UTC))
    return outcome


def _describe(items: list[ItemOutcome], ignored: str | None) -> tuple[str, str]:
    if not items:
        return "ignored", f"ignored: {ignored or 'maps to no event'}"
    accepted = sum(1 for item in items if item.status == "accepted")
    if not accepted:
        return "duplicate", "duplicate: already stored"
    parked = sum(1 for item in items if item.parked and item.status == "accepted")
    text = f"stored {accepted} event{'s' if accepted > 1 else ''}"
    if len(items) > accepted:
        text += f", {len(items) - accepted} already stored"
    if parked:
        text += f" ({parked} parked: actor not linked to a person yet)"
    return "stored", text

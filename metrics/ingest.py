"""Receiver series: events per tenant and connector, webhook requests, refusals before auth.

Each hook is called once per request with what the request already computed, and increments
cached label children with `.inc(n)`: never once per event. The batch API counts as
connector `api`.

A refusal's `reason` is the text the connector or the header check gave. Header names are
chosen by whoever sends the request, so "header X longer than N characters" is folded into
one reason, and at most `MAX_REASONS` distinct reasons are kept per connector (the rest
count as `other`): a flood of odd requests cannot grow the series without bound.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

from metrics._base import Children

__all__ = ["API_CONNECTOR", "MAX_REASONS", "RECEIVER_METRICS", "ingested", "refused",
           "webhook_ingested", "webhook_quarantined"]

API_CONNECTOR = "api"
MAX_REASONS = 16
_HEADER_TOO_LONG = re.compile(r"^header .* longer than (\d+) characters$", re.DOTALL)

EVENTS_RECEIVED = Counter(
    "accolade_events_received", "Items received for ingest (a webhook body that cannot be "
    "mapped counts as one item)", ["tenant", "connector"], registry=None)
EVENTS = Counter(
    "accolade_events", "Items by ingest outcome: accepted (stored), duplicate (already in the "
    "log), quarantined (rejected with a reason)", ["tenant", "connector", "outcome"], registry=None)
EVENTS_PARKED = Counter(
    "accolade_events_parked", "Accepted events whose actor is not linked to a person yet",
    ["tenant", "connector"], registry=None)
WEBHOOK_REQUESTS = Counter(
    "accolade_webhook_requests", "Authenticated webhook requests by outcome: stored, duplicate, "
    "ignored, quarantined", ["tenant", "connector", "outcome"], registry=None)
WEBHOOK_REFUSED = Counter(
    "accolade_webhook_refused", "Webhook requests refused before authentication (oversized "
    "header, failed signature), by reason", ["tenant", "connector", "reason"], registry=None)
RECEIVER_METRICS = (EVENTS_RECEIVED, EVENTS, EVENTS_PARKED, WEBHOOK_REQUESTS, WEBHOOK_REFUSED)


class Judged(Protocol):
    """An item's outcome as `intake.ingest.ItemOutcome` reports it."""

    status: str  # accepted | duplicate | rejected
    parked: bool


@dataclass(frozen=True)
class _Children:
    received: Counter
    accepted: Counter
    duplicate: Counter
    quarantined: Counter
    parked: Counter


_children: dict[tuple[str, str], _Children] = {}
_requests, _refused = Children(WEBHOOK_REQUESTS), Children(WEBHOOK_REFUSED)
_reasons: dict[str, set[str]] = {}
_lock = threading.Lock()


def _for(tenant: str, connector: str) -> _Children:
    found = _children.get((tenant, connector))
    if found is None:  # label lookups cost a lock and a dict each: do them once per pair
        found = _Children(
            EVENTS_RECEIVED.labels(tenant, connector),
            *(EVENTS.labels(tenant, connector, o) for o in ("accepted", "duplicate", "quarantined")),
            EVENTS_PARKED.labels(tenant, connector))
        _children[(tenant, connector)] = found
    return found


def ingested(tenant: str, connector: str, items: Iterable[Judged]) -> None:
    """One batch (or one webhook's events) judged: count each outcome once."""
    accepted = duplicate = rejected = parked = 0
    for item in items:
        if item.status == "accepted":
            accepted += 1
            parked += item.parked
        elif item.status == "duplicate":
            duplicate += 1
        else:
            rejected += 1
    _count(_for(tenant, connector), accepted, duplicate, rejected, parked)


def _count(c: _Children, accepted: int, duplicate: int, rejected: int, parked: int) -> None:
    c.received.inc(accepted + duplicate + rejected)
    for child, n in ((c.accepted, accepted), (c.duplicate, duplicate),
                     (c.quarantined, rejected), (c.parked, parked)):
        if n:
            child.inc(n)


def webhook_ingested(tenant: str, connector: str, outcome: str, items: Iterable[Judged]) -> None:
    """An authenticated webhook request stored (or found duplicate, or ignored)."""
    _requests(tenant, connector, outcome).inc()
    ingested(tenant, connector, items)


def webhook_quarantined(tenant: str, connector: str) -> None:
    """An authenticated webhook body that could not be mapped: one quarantined item."""
    _requests(tenant, connector, "quarantined").inc()
    _count(_for(tenant, connector), 0, 0, 1, 0)


def refused(tenant: str, connector: str, reason: str) -> None:
    """A webhook request refused before authentication (called by `RejectionCounter.add`)."""
    _refused(tenant, connector, _reason_label(connector, reason)).inc()


def _reason_label(connector: str, reason: str) -> str:
    if (match := _HEADER_TOO_LONG.match(reason)) is not None:
        reason = f"header longer than {match.group(1)} characters"
    with _lock:
        known = _reasons.setdefault(connector, set())
        if reason in known:
            return reason
        if len(known) >= MAX_REASONS:
            return "other"
        known.add(reason)
    return reason

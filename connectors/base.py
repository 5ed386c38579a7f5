"""What every connector is: verify a raw request, parse it into canonical events.

Exceptions::

    ConnectorError
    ├── VerificationError   signature/token missing or wrong  → HTTP 401, metadata only recorded
    └── PayloadError        verified but unusable body        → HTTP 400/422, body quarantined

A connector never raises anything else for bad input: a traceback is a bug.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rules.events import CloudEvent
from rules.limits import DEFAULT_LIMITS, JsonLimits, event_problem, loads

__all__ = [
    "Connector",
    "ConnectorError",
    "ParseResult",
    "PayloadError",
    "VerificationError",
    "WebhookRequest",
    "hmac_sha256_hex",
    "parse_checked",
]


class ConnectorError(Exception):
    """Base of connector failures; `reason` is safe to show and to store (no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VerificationError(ConnectorError):
    """The request is not provably from the vendor."""


class PayloadError(ConnectorError):
    """The request is authentic but its body cannot be mapped; `status` is 400 or 422."""

    def __init__(self, reason: str, *, status: int = 422) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class WebhookRequest:
    """A raw webhook delivery. Header names are lower-cased on construction."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    limits: JsonLimits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self, raw: bytes | str | None = None) -> Any:
        """The body (or `raw`, e.g. a form field) as JSON within `limits`; else a 400.

        Numbers too long to convert become `rules.limits.Refused` markers (see there): a
        mapping that reads one rejects the delivery; one it does not read is never looked at.
        """
        try:
            return loads(self.body if raw is None else raw, self.limits)
        except RecursionError:
            raise PayloadError("invalid JSON: nested too deeply", status=400) from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise PayloadError(f"invalid JSON: {_short(str(exc))}", status=400) from None


@dataclass
class ParseResult:
    """Canonical events from one delivery, or why it yields none.

    `ignored` is set when the delivery is acknowledged but maps to nothing (unknown or
    uninteresting event); `dropped` counts mapped-kind events skipped by a documented rule
    (e.g. a completed run without a conclusion); `reply` is an optional body for the vendor
    (GitHub's `ping`).
    """

    events: list[CloudEvent] = field(default_factory=list)
    ignored: str | None = None
    dropped: int = 0
    reply: dict[str, Any] | None = None
    event_name: str | None = None


class Connector(Protocol):
    """One vendor. `vendor` is the slug used in config, fixtures and workflow ids."""

    vendor: str

    def delivery_id(self, request: WebhookRequest) -> str | None: ...

    def verify(self, request: WebhookRequest, *, secret: str) -> None:
        """Raise VerificationError unless the raw body is signed with `secret`."""

    def parse(self, request: WebhookRequest, *, source: str) -> ParseResult:
        """Map the delivery to canonical events with `source`; raise PayloadError if unusable."""


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_checked(
    connector: Connector, request: WebhookRequest, *, source: str, now: datetime | None = None
) -> ParseResult:
    """`connector.parse`, then every event it made judged by `request.limits` (time, values).

    Raises:
        PayloadError: from the connector, or 422 naming the first event's problem.
    """
    result = connector.parse(request, source=source)
    moment = now or datetime.now(UTC)
    for event in result.events:
        problem = event_problem(event.time, event.model_dump(), now=moment, limits=request.limits)
        if problem is not None:
            raise PayloadError(f"event {event.type}: {problem}")
    return result

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
from typing import Any, Protocol

from rules.events import CloudEvent

__all__ = [
    "Connector",
    "ConnectorError",
    "ParseResult",
    "PayloadError",
    "VerificationError",
    "WebhookRequest",
    "hmac_sha256_hex",
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


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

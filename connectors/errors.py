"""The one failure tree of connectors and channels. Each failure is classified once, where it
happens; `activities.errors.to_application_error` turns it into Temporal's terms.

    Failure                     `reason` is safe to store and show: never a secret or a body
    ├── ConnectorError          bad input from a vendor
    │   ├── VerificationError   signature/token missing or wrong  → HTTP 401, metadata only
    │   └── PayloadError        verified but unusable body        → HTTP 400/422, quarantined
    ├── Retryable               try again, after `retry_after` seconds when the server said
    └── Permanent               do not try again (401/403, a revoked token, a 4xx the request
                                cannot fix): recorded on the connector's health or the delivery
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

__all__ = [
    "ConnectorError",
    "Failure",
    "PayloadError",
    "Permanent",
    "Retryable",
    "VerificationError",
    "classify_http",
    "retry_after_of",
]

_MAX_DELAY = 3600.0  # a server asking for more than an hour is capped: the next cycle looks again


class Failure(Exception):
    """Base of classified failures; `reason` is safe to show and to store (no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectorError(Failure):
    """Bad input from a vendor."""


class VerificationError(ConnectorError):
    """The request is not provably from the vendor."""


class PayloadError(ConnectorError):
    """The request is authentic but its body cannot be mapped; `status` is 400 or 422."""

    def __init__(self, reason: str, *, status: int = 422) -> None:
        super().__init__(reason)
        self.status = status


class Retryable(Failure):
    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(Failure):
    pass


def retry_after_of(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked to wait: `Retry-After` (seconds or an HTTP date), else a reset
    header (`X-RateLimit-Reset`, `RateLimit-Reset`: epoch seconds, or seconds when small)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    moment = time.time() if now is None else now
    if (value := lowered.get("retry-after")) is not None:
        return _delay(value, moment)
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        if (value := lowered.get(name)) is not None:
            return _reset(value, moment)
    return None


def _delay(value: str, now: float) -> float | None:
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_DELAY)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, when - now), _MAX_DELAY)


def _reset(value: str, now: float) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    seconds = number - now if number > 1_000_000_000 else number  # epoch, else a delta
    return min(max(0.0, seconds), _MAX_DELAY)


def classify_http(status: int, headers: Mapping[str, str], *, what: str) -> Failure:
    """The failure an HTTP error status means: 408/425/429/5xx retry (honouring the server's
    delay), 401/403 and any other 4xx are permanent. `what` names the call, never its URL's
    secrets."""
    reason = f"{what}: HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return Retryable(reason, retry_after=retry_after_of(headers))
    if status in (401, 403):
        return Permanent(f"{reason} (credentials refused or revoked)")
    return Permanent(reason)

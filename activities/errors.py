"""Failures are classified once, here, into Temporal's terms.

Channel and store code raise `Retryable` (with an optional `retry_after`) or `Permanent`;
`to_application_error` turns them into `ApplicationError(type=…, non_retryable=…,
next_retry_delay=…)` at the activity boundary.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

__all__ = ["DeliveryFailure", "Permanent", "Retryable", "to_application_error"]


class DeliveryFailure(Exception):
    """Base: `reason` is safe to store and show (never a token or a message body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retryable(DeliveryFailure):
    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(DeliveryFailure):
    pass


def to_application_error(exc: DeliveryFailure) -> ApplicationError:
    if isinstance(exc, Retryable):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(exc.reason, type="Retryable", next_retry_delay=delay)
    return ApplicationError(exc.reason, type="Permanent", non_retryable=True)

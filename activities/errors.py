"""Failures are classified once, where they happen (`connectors.errors`: the one tree of
connectors and channels); here they become Temporal's terms at the activity boundary:
`ApplicationError(type=…, non_retryable=…, next_retry_delay=…)`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from connectors.errors import Failure, Permanent, Retryable

__all__ = ["DeliveryFailure", "Failure", "Permanent", "Retryable", "to_application_error"]

DeliveryFailure = Failure  # the name delivery code has used; one tree either way


def to_application_error(exc: Failure) -> ApplicationError:
    if isinstance(exc, Retryable):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(exc.reason, type="Retryable", next_retry_delay=delay)
    return ApplicationError(exc.reason, type="Permanent", non_retryable=True)

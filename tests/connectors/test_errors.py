"""The one failure tree: HTTP statuses classified once, the server's delay honoured."""

from __future__ import annotations

import pytest

from connectors.errors import Permanent, Retryable, classify_http, retry_after_of

NOW = 1_764_500_000.0  # 2025-11-30T10:53:20Z


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "Sun, 30 Nov 2025 10:54:00 GMT"}, 40.0),  # an HTTP date: seconds until it
    ({"X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),  # epoch seconds (GitHub, GitLab)
    ({"RateLimit-Reset": "12"}, 12.0),  # a delta (IETF draft)
    ({"Retry-After": "86400"}, 3600.0),  # capped: the next cycle looks again anyway
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after_reads_the_servers_delay(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_of(headers, now=NOW) == expected


def test_statuses_are_classified_once() -> None:
    throttled = classify_http(429, {"Retry-After": "3"}, what="jira search")
    assert isinstance(throttled, Retryable) and throttled.retry_after == 3.0
    assert isinstance(classify_http(503, {}, what="x"), Retryable)
    assert isinstance(classify_http(408, {}, what="x"), Retryable)
    revoked = classify_http(401, {}, what="jira search")
    assert isinstance(revoked, Permanent) and "revoked" in revoked.reason
    assert isinstance(classify_http(403, {}, what="x"), Permanent)
    assert isinstance(classify_http(400, {}, what="x"), Permanent)


def test_a_reason_names_the_call_not_its_url() -> None:
    failure = classify_http(500, {}, what="jira search")
    assert failure.reason == "jira search: HTTP 500"

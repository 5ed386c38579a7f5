"""The webhook channel against a real HTTP receiver that verifies with the `standardwebhooks`
library: signatures (and rotation), a stable webhook-id, a fresh timestamp per attempt, the
versioned grant document, and how every answer is classified."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import httpx
import pytest
from pydantic import ValidationError

from channels import Clients, Links, NoRecipient
from channels.webhook import WebhookChannel, WebhookSettings
from connectors.errors import Permanent, Retryable
from tests.channels.grants import GRANT, delivery
from tests.e2e.hub import free_port
from tests.webhook_receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"accolade-test-webhook-key-01").decode()
NEXT_SECRET = "whsec_" + base64.b64encode(b"accolade-test-webhook-key-02").decode()


def _channel(url: str, secret: object = SECRET, http: httpx.Client | None = None) -> WebhookChannel:
    settings = WebhookSettings.model_validate({"id": "hooks", "kind": "webhook", "url": url, "secret": secret})
    return WebhookChannel(settings, Clients(http=http or httpx.Client(timeout=5)))


def test_a_signed_grant_document_verifies_with_a_standard_webhooks_library() -> None:
    with WebhookReceiver(SECRET) as receiver:
        sent = _channel(receiver.url).send(delivery("hooks", receiver.url))
    [got] = receiver.received
    assert got.verified
    assert got.headers["webhook-id"] == sent.provider_id == f"{GRANT.grant_id}.hooks"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 5
    assert json.loads(got.body) == {
        "version": 1, "type": "accolade.grant", "grant_id": GRANT.grant_id,
        "achievement": {"key": "first-green-pipeline", "version": 1, "name": "First green pipeline"},
        "person_id": "demo-1", "granted_at": "2026-11-01T12:00:00+00:00",
        "evidence": {"count": 1, "first_event_ids": ["/accolade/demo/github#workflow_run:289782451:1:success"],
                     "digest": "sha256:" + hashlib.sha256(GRANT.evidence["events"][0].encode()).hexdigest()},
        "links": {"person": "/v1/persons/person:demo-1", "deliveries": "/v1/deliveries"},
    }


def test_a_wrong_secret_fails_verification_and_the_refusal_is_permanent() -> None:
    with WebhookReceiver(SECRET) as receiver:
        with pytest.raises(Permanent, match=r"^webhook: HTTP 401"):
            _channel(receiver.url, secret=NEXT_SECRET).send(delivery("hooks", receiver.url))
    assert [r.verified for r in receiver.received] == [False]


@pytest.mark.parametrize("secret", [[SECRET, NEXT_SECRET], f"{NEXT_SECRET} {SECRET}"])
def test_while_a_secret_rotates_both_sign_and_either_verifies(secret: object) -> None:
    for holder in (SECRET, NEXT_SECRET):
        with WebhookReceiver(holder) as receiver:
            _channel(receiver.url, secret=secret).send(delivery("hooks", receiver.url))
        [got] = receiver.received
        assert got.verified and len(got.headers["webhook-signature"].split(" ")) == 2


def test_each_attempt_is_signed_afresh_under_the_same_webhook_id(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([1_800_000_000, 1_800_000_090])
    monkeypatch.setattr("channels.webhook._timestamp", lambda: next(clock))
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))
    channel = _channel("https://hr.example.com/hooks", http=httpx.Client(transport=transport))
    channel.send(delivery("hooks", "https://hr.example.com/hooks"))
    channel.send(delivery("hooks", "https://hr.example.com/hooks", attempt=2))
    first, second = seen
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert (first.headers["webhook-timestamp"], second.headers["webhook-timestamp"]) == ("1800000000", "1800000090")
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert first.content == second.content


@pytest.mark.parametrize(("status", "headers", "failure", "retry_after"), [
    (503, {"retry-after": "7"}, Retryable, 7.0),
    (429, {"retry-after": "3"}, Retryable, 3.0),
    (500, {}, Retryable, None),
    (410, {}, Permanent, None),
    (400, {}, Permanent, None),
])
def test_answers_are_classified_and_retry_after_is_honoured(
    status: int, headers: dict[str, str], failure: type, retry_after: float | None
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        receiver.fail_next(status, headers)
        with pytest.raises(failure) as caught:
            _channel(receiver.url).send(delivery("hooks", receiver.url))
        _channel(receiver.url).send(delivery("hooks", receiver.url))  # the endpoint recovered
    assert caught.value.reason.startswith(f"webhook: HTTP {status}")
    assert "127.0.0.1" not in caught.value.reason  # never the URL: it may carry a token
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert len(set(receiver.webhook_ids())) == 1


def test_timeouts_and_refused_connections_are_retryable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(Retryable, match="timed out"):
        _channel("https://hr.example.com/hooks", http=httpx.Client(transport=httpx.MockTransport(slow))).send(
            delivery("hooks", "https://hr.example.com/hooks"))
    url = f"http://127.0.0.1:{free_port()}/hooks"
    with pytest.raises(Retryable, match="ConnectError"):
        _channel(url).send(delivery("hooks", url))


def test_an_empty_url_is_off_and_suppresses() -> None:
    channel = _channel("", secret=None)
    assert channel.without_recipient == "suppress"
    with pytest.raises(NoRecipient, match="no url"):
        channel.recipient(Links())


@pytest.mark.parametrize(("secret", "message"), [
    (None, "needs a secret"),
    ("s3cret", "whsec_<base64>"),
    ("whsec_not-base64!", "whsec_<base64>"),
    ("whsec_c2hvcnQ=", "at least 16 bytes"),
])
def test_bad_secrets_are_refused_without_echoing_them(secret: str | None, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookSettings.model_validate({"id": "h", "kind": "webhook", "url": "https://x.example", "secret": secret})
    text = "; ".join(e["msg"] for e in caught.value.errors())
    assert message in text and (secret is None or secret not in text)

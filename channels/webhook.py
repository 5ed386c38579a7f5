"""The webhook channel: a signed, versioned JSON grant document POSTed to one URL.

Signed per Standard Webhooks (https://www.standardwebhooks.com/): `webhook-id` (the same for
every attempt of one grant on one channel, `stable_id`), `webhook-timestamp` (seconds, the
attempt's own time) and `webhook-signature`: `v1,<base64 HMAC-SHA256>` of
`<id>.<timestamp>.<body>` keyed by the `whsec_` secret's base64-decoded bytes. While a secret
rotates, `secret` lists several (a YAML list, or two values separated by a space) and the
header carries one signature per secret, space-separated, so receivers holding either verify.

Each attempt is signed afresh: receivers reject timestamps older than five minutes, so a
signed request is never stored for a later retry; only the body is rebuilt from the grant.

The body (`grant_document`) carries ids, the achievement and an evidence summary: no name,
login or email, only the person id. `links` are paths of the hub's read API, relative to
it (called with the tenant's API key).

An empty `url` turns the channel off: a grant for it is `suppressed` with the reason (a
webhook is not a person's inbox, so there is nothing to fall back to).

Failures, classified once (`connectors.errors.classify_http`): 2xx is sent; 408, 425, 429 and
5xx are Retryable, honouring `Retry-After`; timeouts and connection errors are Retryable;
410 Gone and every other 4xx (and 3xx: redirects are not followed) are Permanent. Reasons
name the status only, never the URL (it may carry a token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Literal

import httpx
from pydantic import SecretStr, field_validator, model_validator

from channels.base import (
    Channel,
    ChannelSettings,
    Clients,
    Delivery,
    GrantView,
    Links,
    NoRecipient,
    Sent,
    stable_id,
)
from connectors.errors import Retryable, classify_http

__all__ = ["DOCUMENT_VERSION", "WebhookChannel", "WebhookSettings", "grant_document", "sign"]

DOCUMENT_VERSION = 1
_FIRST_EVENTS = 10  # event ids quoted in the document; the digest covers all of them
_TIMEOUT = 10.0
_PREFIX = "whsec_"


class WebhookSettings(ChannelSettings):
    kind: Literal["webhook"]
    url: str = ""  # empty: off
    secret: SecretStr | list[SecretStr] | None = None

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | list[SecretStr] | None) -> SecretStr | list[SecretStr] | None:
        for key in _split(value):
            _key_bytes(key)
        return value

    @model_validator(mode="after")
    def _signed(self) -> WebhookSettings:
        if self.url and not _split(self.secret):
            raise ValueError("a webhook with a url needs a secret (whsec_…) to sign with")
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// or http://")
        return self

    def keys(self) -> list[bytes]:
        return [_key_bytes(key) for key in _split(self.secret)]


def _split(value: SecretStr | list[SecretStr] | None) -> list[str]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    return [part for item in items for part in item.get_secret_value().split()]


def _key_bytes(secret: str) -> bytes:
    """The HMAC key a `whsec_<base64>` secret stands for; the error never shows the secret."""
    if not secret.startswith(_PREFIX):
        raise ValueError("each secret must look like whsec_<base64>")
    try:
        encoded = secret.removeprefix(_PREFIX)
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("each secret must look like whsec_<base64>: the rest is not base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret must decode to at least 16 bytes")
    return key


def sign(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one `v1,<base64>` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys
    )


def _timestamp() -> int:
    return int(time.time())


def grant_document(grant: GrantView) -> dict[str, Any]:
    """Version 1 of the grant document; fields are added, never renamed."""
    events = [str(e) for e in grant.evidence.get("events", [])]
    return {
        "version": DOCUMENT_VERSION,
        "type": "accolade.grant",
        "grant_id": grant.grant_id,
        "achievement": {"key": grant.achievement, "version": grant.version, "name": grant.name},
        "person_id": grant.person_id,
        "granted_at": grant.granted_at.isoformat(),
        "evidence": {
            "count": grant.evidence.get("count", len(events)),
            "first_event_ids": events[:_FIRST_EVENTS],
            "digest": "sha256:" + hashlib.sha256("\n".join(events).encode()).hexdigest(),
        },
        "links": {"person": f"/v1/persons/person:{grant.person_id}", "deliveries": "/v1/deliveries"},
    }


class WebhookChannel(Channel[WebhookSettings]):
    kind = "webhook"
    settings_model = WebhookSettings
    without_recipient = "suppress"

    def __init__(self, settings: WebhookSettings, clients: Clients) -> None:
        super().__init__(settings, clients)
        self.http = clients.http or httpx.Client(timeout=_TIMEOUT)

    def recipient(self, links: Links) -> str:
        if not self.settings.url:
            raise NoRecipient("webhook channel is off (no url)")
        return self.settings.url

    def send(self, delivery: Delivery) -> Sent:
        body = json.dumps(grant_document(delivery.grant), separators=(",", ":"), sort_keys=True).encode()
        msg_id = stable_id(delivery.grant.grant_id, delivery.channel_id)
        timestamp = _timestamp()  # this attempt's own: never a stored signature
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.settings.keys(), msg_id, timestamp, body),
        }
        try:
            answer = self.http.post(delivery.recipient, content=body, headers=headers, timeout=_TIMEOUT)
        except httpx.TimeoutException:
            raise Retryable("webhook: timed out") from None
        except httpx.TransportError as exc:
            raise Retryable(f"webhook: unreachable ({exc.__class__.__name__})") from None
        if not 200 <= answer.status_code < 300:
            raise classify_http(answer.status_code, answer.headers, what="webhook")
        return Sent(provider_id=msg_id, detail={"webhook_id": msg_id, "status": answer.status_code})

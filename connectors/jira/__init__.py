"""Jira (Cloud and Data Center), by webhook and by polling: one connector instance does both.

Webhooks: ``X-Hub-Signature: sha256=<hex>``, an HMAC-SHA256 of the raw body with the
instance's ``secret``, compared in constant time; an instance without a secret refuses every
webhook ("no webhook secret configured") and may still poll. The delivery id is
``X-Atlassian-Webhook-Identifier`` (unchanged across Jira's retries), kept as the CloudEvents
extension ``accoladedelivery``. The vendor event is the body's ``webhookEvent``
(``webhook.py``); there is no event header.

Polling (``polling.py``, the only I/O; ``records.py``, pure): when ``url`` is set, the poll
workflow pages ``jql`` from the cursor with ``expand=changelog`` and the ``comment`` field.

Mapping (``mapping.py``, shared by both paths, DESIGN §8): ``ticket.created`` ``<issue
id>:created``; ``ticket.resolved`` / ``ticket.reassigned`` ``<issue id>:<changelog history
id>``; ``ticket.commented`` ``<issue id>:comment:<comment id>``. Ids come from the fact, so
the same fact by webhook and by poll is one event; the webhook's changelog id and the REST
history id are the same record (``tests/connectors/jira`` checks it against the stand-in).
"""

from __future__ import annotations

from typing import Any

from connectors.base import (
    Cursor,
    Page,
    ParseResult,
    PayloadError,
    PollingConnector,
    PollSettings,
    RecordResult,
    WebhookConnector,
    WebhookRequest,
    verify_sha256_signature,
)
from connectors.jira import polling, records, webhook
from connectors.jira.mapping import SYSTEM
from connectors.jira.settings import JiraSettings

__all__ = ["CONNECTOR", "SYSTEM", "JiraConnector", "JiraSettings"]

_SIGNATURE_HEADER = "X-Hub-Signature"
_DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"


class JiraConnector(WebhookConnector, PollingConnector):
    """Jira webhooks verified by HMAC, and a poller of the REST search, mapped alike."""

    vendor = SYSTEM
    settings = JiraSettings
    mapped_events = webhook.MAPPED
    ignored_events = webhook.IGNORED
    event_header = None  # the event is the body's `webhookEvent`

    # --- webhooks ---

    def sample_headers(self, event: str) -> dict[str, str]:
        """Jira names the event in the body, so no header names it: only the content type."""
        return {"Content-Type": "application/json"}

    def delivery_id(self, request: WebhookRequest) -> str | None:
        value = request.header(_DELIVERY_HEADER)
        return value.strip() if value and value.strip() else None

    def verify(self, request: WebhookRequest, settings: JiraSettings) -> None:
        """Raise VerificationError unless ``X-Hub-Signature`` signs the raw body.

        The reason never contains the secret or a digest.
        """
        secret = settings.secret.get_secret_value() if settings.secret else ""
        verify_sha256_signature(request, secret, header=_SIGNATURE_HEADER)

    def parse(self, request: WebhookRequest, *, source: str) -> ParseResult:
        """Map one verified delivery.

        Raises:
            PayloadError: 400 when the body is not a JSON object; 422 when it is no Jira
                webhook or a mapped event lacks a field it needs.
        """
        body = request.json()
        if not isinstance(body, dict):
            raise PayloadError(f"invalid JSON: body must be an object, got {type(body).__name__}",
                               status=400)
        return webhook.parse_body(body, source=source, delivery_id=self.delivery_id(request))

    # --- polling ---

    def polls(self, settings: JiraSettings) -> bool:
        return bool(settings.url)

    def poll_settings(self, settings: JiraSettings) -> PollSettings:
        return settings.poll

    def client(self, settings: JiraSettings) -> Any:
        return polling.build_client(settings)

    def fetch_page(self, client: Any, settings: JiraSettings, cursor: Cursor) -> Page:
        return polling.fetch_page(client, settings, cursor)

    def parse_page(self, page: Page, *, source: str) -> list[RecordResult]:
        return [records.parse_record(raw, source=source) for raw in page.records]


CONNECTOR = JiraConnector()

"""Connectors: one module per vendor, registered explicitly in CONNECTORS.

A vendor slug (`github`, `jira`, …) names its module, its settings model (`vendor:` in
config), its fixtures folder (`tests/connectors/<vendor>/fixtures`) and its pollers' workflow
ids (`poll/<tenant>/<connector-id>`). `ConnectorConfig` is the discriminated union that
`tenants[].connectors[]` is checked against.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from connectors import canvas, github, gitlab, jira, okta, scim, xapi
from connectors.base import (
    Connector,
    ConnectorError,
    ConnectorSettings,
    ParseResult,
    PayloadError,
    PollingConnector,
    VerificationError,
    WebhookConnector,
    WebhookRequest,
)

# xapi and scim are neither shape: they are reached at /xapi/ (api.xapi, written by
# intake.statements) and /scim/v2/ (api.scim, written by connectors.scim).
CONNECTORS: tuple[Connector | xapi.XapiConnector | scim.ScimConnector, ...] = (
    github.CONNECTOR, gitlab.CONNECTOR, jira.CONNECTOR, canvas.CONNECTOR, okta.CONNECTOR, xapi.CONNECTOR,
    scim.CONNECTOR)
_BY_VENDOR: dict[str, Connector | xapi.XapiConnector | scim.ScimConnector] = {c.vendor: c for c in CONNECTORS}

# Each vendor's own settings model, told apart by `vendor` (DESIGN §8).
ConnectorConfig = Annotated[
    Union[tuple(c.settings for c in CONNECTORS)],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="vendor"),
]

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorSettings",
    "ParseResult",
    "PayloadError",
    "PollingConnector",
    "VerificationError",
    "WebhookConnector",
    "WebhookRequest",
    "get_connector",
    "polling_connector",
    "vendors",
    "webhook_connector",
]


def vendors() -> tuple[str, ...]:
    return tuple(_BY_VENDOR)


def get_connector(vendor: str) -> Connector | xapi.XapiConnector | scim.ScimConnector:
    try:
        return _BY_VENDOR[vendor]
    except KeyError:
        raise KeyError(f"unknown vendor {vendor!r}; known: {', '.join(_BY_VENDOR)}") from None


def webhook_connector(vendor: str) -> WebhookConnector | None:
    found: Any = _BY_VENDOR.get(vendor)
    return found if isinstance(found, WebhookConnector) else None


def polling_connector(vendor: str) -> PollingConnector | None:
    found: Any = _BY_VENDOR.get(vendor)
    return found if isinstance(found, PollingConnector) else None

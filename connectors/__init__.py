"""Connectors: one module per vendor, registered explicitly in CONNECTORS."""

from connectors import github
from connectors.base import (
    Connector,
    ConnectorError,
    ParseResult,
    PayloadError,
    VerificationError,
    WebhookRequest,
)

CONNECTORS: tuple[Connector, ...] = (github.CONNECTOR,)
_BY_VENDOR = {c.vendor: c for c in CONNECTORS}

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorError",
    "ParseResult",
    "PayloadError",
    "VerificationError",
    "WebhookRequest",
    "get_connector",
    "vendors",
]


def vendors() -> tuple[str, ...]:
    return tuple(_BY_VENDOR)


def get_connector(vendor: str) -> Connector:
    try:
        return _BY_VENDOR[vendor]
    except KeyError:
        raise KeyError(f"unknown vendor {vendor!r}; known: {', '.join(_BY_VENDOR)}") from None

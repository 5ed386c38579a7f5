"""Channels: one module per kind, registered explicitly in CHANNELS.

A kind (`console`, `feed`, `slack`, `email`, `webhook`: DESIGN §8) names its module and its
settings model (`kind:` in config). `ChannelConfig` is the discriminated union that
`tenants[].channels[]` is checked against; `build_channel` makes a channel from its settings
and the clients `worker.py` built.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

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
from channels.console import ConsoleChannel
from channels.email import EmailChannel
from channels.feed import FeedChannel
from channels.slack import SlackChannel
from channels.webhook import WebhookChannel

CHANNELS: tuple[type[Channel], ...] = (
    ConsoleChannel, FeedChannel, SlackChannel, EmailChannel, WebhookChannel,
)
_BY_KIND: dict[str, type[Channel]] = {c.kind: c for c in CHANNELS}

# Each kind's own settings model, told apart by `kind` (DESIGN §8).
ChannelConfig = Annotated[
    Union[tuple(c.settings_model for c in CHANNELS)],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="kind"),
]

__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelConfig",
    "ChannelSettings",
    "Clients",
    "Delivery",
    "GrantView",
    "Links",
    "NoRecipient",
    "Sent",
    "build_channel",
    "channel_class",
    "kinds",
    "stable_id",
]


def kinds() -> tuple[str, ...]:
    return tuple(_BY_KIND)


def channel_class(kind: str) -> type[Channel]:
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"unknown channel kind {kind!r}; known: {', '.join(_BY_KIND)}") from None


def build_channel(settings: ChannelSettings, clients: Clients) -> Channel:
    return channel_class(settings.kind)(settings, clients)

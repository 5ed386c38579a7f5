"""Channels: one module per kind, registered explicitly in CHANNELS.

A kind (`console`, `feed`, `slack`, `email`, `webhook`: DESIGN §8) names its module and its
settings model (`kind:` in config). `ChannelConfig` is the discriminated union that
`tenants[].channels[]` is checked against; `build_channel` makes a channel from its settings
and the clients `worker.py` built.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from channels.slack import SlackChannel, SlackSettings, SlackTeamChannel, split_target, team_target
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
    "split_target",
    "stable_id",
    "team_target",
    "team_targets",
]


def kinds() -> tuple[str, ...]:
    return tuple(_BY_KIND)


def channel_class(kind: str) -> type[Channel]:
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"unknown channel kind {kind!r}; known: {', '.join(_BY_KIND)}") from None


def build_channel(settings: ChannelSettings, clients: Clients, *, team: bool = False) -> Channel:
    """The channel for `settings`; `team=True` its team post (Slack channels only)."""
    if team:
        if not isinstance(settings, SlackSettings):
            raise KeyError(f"channel {settings.id} ({settings.kind}) has no team posts")
        return SlackTeamChannel(settings, clients)
    return channel_class(settings.kind)(settings, clients)


def team_targets(channels: Sequence[ChannelSettings], routed: Sequence[str], *,
                 team_visible: bool) -> list[tuple[str, str]]:
    """The extra delivery targets (target, kind) of a grant routed to `routed`: a team post for
    each routed Slack channel with a `team_channel`, when the achievement is team_visible."""
    if not team_visible:
        return []
    by_id = {c.id: c for c in channels}
    return [(team_target(c), "slack") for c in routed
            if isinstance(by_id.get(c), SlackSettings) and by_id[c].team_channel]

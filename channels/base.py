"""The shape every channel has: a kind, its settings, a recipient from links, a send.

    Channel.recipient(links) -> str      who to send to, from the person's identity links;
                                         raises NoRecipient(reason) when nobody can be reached
    Channel.send(delivery)   -> Sent     what was sent (the provider's id, anything learned);
                                         raises Retryable(retry_after=…) or Permanent
                                         (`connectors.errors`: the one failure tree)

A channel never touches the deliveries row and never writes identity: the delivery activity
(`activities.delivery`) keeps the guard and the bookkeeping, and stores a link a channel
learned (`Sent.learned`). A channel whose output is a row in our own store (`transactional`)
gets the open connection, so the output and the `sent` status commit together.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TextIO, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from activities.messages import Message
from channels.slack_limits import SlackLimiter

__all__ = [
    "Channel",
    "ChannelSettings",
    "Clients",
    "Delivery",
    "GrantView",
    "Links",
    "NoRecipient",
    "Sent",
    "stable_id",
]

_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ChannelSettings(BaseModel):
    """Fields every channel has; each kind's model adds its own (DESIGN §8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    kind: str


class NoRecipient(Exception):  # noqa: N818 - an outcome, not an error
    """Nobody to send to on this channel (no link, no token, no URL); `reason` is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Links:
    """A person's identity links: (system, kind, value) as stored."""

    items: tuple[tuple[str, str, str], ...] = ()

    def first(self, system: str) -> str | None:
        return next(iter(self.all(system)), None)

    def all(self, system: str) -> list[str]:
        return [value for s, _, value in self.items if s == system]


@dataclass(frozen=True)
class GrantView:
    """What a channel may say about a grant: ids, the achievement and the evidence summary."""

    grant_id: str
    tenant: str
    person_id: str
    achievement: str
    version: int
    name: str
    granted_at: datetime
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class Delivery:
    """One send: the grant, its message, the recipient and the attempt (1 = first).

    `resumed`: an earlier run may have sent already although this attempt is the first of
    its run (a re-drive of a failed delivery); channels that can look first (Slack) do.
    """

    channel_id: str
    grant: GrantView
    message: Message
    recipient: str
    attempt: int
    store: Any = None  # the open connection, for transactional channels only
    resumed: bool = False

    @property
    def may_have_sent(self) -> bool:
        return self.attempt > 1 or self.resumed


@dataclass(frozen=True)
class Sent:
    """What was sent: `provider_id` (Slack ts, Message-ID, webhook-id), `detail` for the
    deliveries row, `learned` a link (`slack:id=U…`) for the bookkeeping to store."""

    provider_id: str | None = None
    detail: dict[str, Any] | None = None
    learned: str | None = None
    reused: bool = False  # found already sent by an earlier attempt


@dataclass
class Clients:
    """The clients channels send through, built by `worker.py`; tests pass their own.

    `slack(token, base_url)` builds a Slack WebClient; `http` is an httpx.Client (its
    transport is the seam); `smtp(host, port, timeout=…)` opens an `smtplib.SMTP`; `tls`
    is the context STARTTLS verifies the server with; `slack_limits` the one rate limiter every
    Slack channel of the process shares (`channels.slack_limits`).
    """

    console: TextIO = field(default_factory=lambda: sys.stdout)
    slack: Callable[[str, str | None], Any] | None = None
    http: Any = None
    smtp: Callable[..., Any] | None = None
    tls: ssl.SSLContext | None = None  # STARTTLS trust; None: the system's default context
    slack_limits: SlackLimiter = field(default_factory=SlackLimiter)


S = TypeVar("S", bound=ChannelSettings)


class Channel(Generic[S]):
    """Base of every channel kind. Subclasses set `kind`, `settings_model` and override
    `recipient` and `send`.

    `without_recipient` says what a NoRecipient means: `fall_back` (the feed carries the
    grant instead, recorded as `fell_back`) or `suppress` (nothing is sent, recorded as
    `suppressed` with the reason). `after_send` names the crash point between the provider's
    answer and the record (`activities.faults`).
    """

    kind: ClassVar[str]
    settings_model: ClassVar[type[ChannelSettings]]
    transactional: ClassVar[bool] = False
    without_recipient: ClassVar[Literal["fall_back", "suppress"]] = "fall_back"
    after_send: ClassVar[str] = "deliver:after-send"

    def __init__(self, settings: S, clients: Clients) -> None:
        self.settings = settings
        self.clients = clients

    def recipient(self, links: Links) -> str:
        raise NotImplementedError

    def send(self, delivery: Delivery) -> Sent:
        raise NotImplementedError


def stable_id(grant_id: str, channel_id: str) -> str:
    """The same id for every attempt of one grant on one channel, and different for any other
    pair: receivers dedupe on it (Message-ID, webhook-id). It names no person: a grant id
    is a uuid and a channel id is a config slug."""
    return f"{grant_id}.{channel_id}"

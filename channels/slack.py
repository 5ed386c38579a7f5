"""The Slack channel: a DM per grant through the official `slack-sdk` client.

Flow: find the person's Slack user id (a `slack:` link, else `users.lookupByEmail` on a linked
email, remembered as a link) → `conversations.open` → `chat.postMessage` with Block Kit, a
complete plain-text fallback and the grant id in `metadata`.

The person's Slack user id is a `slack:` link, else it is looked up by a linked email; a
looked-up id is returned as `Sent.learned` and stored by the delivery bookkeeping. No token,
or nobody found, is a NoRecipient: the grant falls back to the feed (`fell_back`).

At most one DM per grant: on a retry (attempt > 1) the DM's recent history is searched for
a message whose metadata carries this grant id before anything is posted, so a worker killed
between Slack's answer and the database write does not send twice.

Team posts (`SlackTeamChannel`): an achievement with `team_visible: true` routed to a Slack
channel whose settings name a `team_channel` is also posted there, as its own delivery
(target `<channel-id>.team`, `team_target`), with the grant id in the metadata and the same
history check, so it is exactly once too. It mentions the person (`<@U…>`) when a Slack id is
linked. Every call goes through the worker's shared rate limiter (`channels.slack_limits`).

Failures are classified here once: 429/`ratelimited` → retry after `Retry-After`;
`invalid_auth`, `account_inactive`, `channel_not_found` (and other auth/config errors) →
permanent; anything else, including connection errors → retryable. The SDK's own retries are
off: Temporal retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from activities.messages import Message
from channels.base import Channel, ChannelSettings, Clients, Delivery, Links, NoRecipient, Sent
from channels.slack_limits import SlackLimiter, workspace_key
from connectors.errors import Permanent, Retryable

__all__ = [
    "GRANT_EVENT_TYPE", "PERMANENT_ERRORS", "TEAM_SUFFIX", "SlackApi", "SlackChannel", "SlackSent",
    "SlackSettings", "SlackTeamChannel", "build_blocks", "slack_client", "split_target", "team_target",
]

GRANT_EVENT_TYPE = "accolade_grant"
PERMANENT_ERRORS = frozenset({
    "invalid_auth", "account_inactive", "channel_not_found", "not_authed", "token_revoked",
    "token_expired", "missing_scope", "not_allowed_token_type", "is_archived", "user_disabled",
    "cannot_dm_bot", "team_access_not_granted",
})
_HISTORY_LIMIT = 50
_TEAM_HISTORY_LIMIT = 200  # a team channel is busier than a DM
TEAM_SUFFIX = ".team"  # ids are [a-z0-9_-]: a target with a dot is never a configured channel id


def team_target(channel_id: str) -> str:
    """The delivery target of a Slack channel's team post (its deliveries row's `channel`)."""
    return channel_id + TEAM_SUFFIX


def split_target(target: str) -> tuple[str, bool]:
    """A deliveries row's `channel` → (the configured channel id, whether it is a team post)."""
    if target.endswith(TEAM_SUFFIX):
        return target.removesuffix(TEAM_SUFFIX), True
    return target, False


def slack_client(token: str, base_url: str | None = None) -> WebClient:
    """The sync client with the SDK's retries off (Temporal owns retries)."""
    url = base_url or "https://slack.com/api/"
    return WebClient(token=token, base_url=url if url.endswith("/") else url + "/",
                     timeout=15, retry_handlers=[])


@dataclass(frozen=True)
class SlackSent:
    channel: str
    ts: str
    reused: bool  # found already posted by an earlier attempt


def build_blocks(message: Message) -> list[dict[str, Any]]:
    """Block Kit with the same words as the plain-text fallback: every block carries text
    (screen readers and notifications read it); the trophy emoji only decorates the title."""
    label, why = message.rows[0]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"🏆 {message.title}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{message.first_line}\n*{label}:* {why}"}},
    ]
    if rest := message.rows[1:]:
        elements = [{"type": "mrkdwn", "text": f"*{k}:* {v}"} for k, v in rest]
        blocks.append({"type": "context", "elements": elements})
    return blocks


class SlackSettings(ChannelSettings):
    kind: Literal["slack"]
    token: SecretStr | None = None  # empty: not configured, the feed carries grants instead
    base_url: str | None = None  # a stand-in's URL; default https://slack.com/api/
    team_channel: str | None = Field(
        default=None, pattern=r"^[CG][A-Z0-9]{2,}$",
        description="channel id (C…) that team_visible achievements are also posted to")

    @model_validator(mode="after")
    def _target_fits(self) -> SlackSettings:
        if self.team_channel and len(team_target(self.id)) > 64:
            raise ValueError(f"id: at most {64 - len(TEAM_SUFFIX)} characters with a team_channel")
        return self


_EMAIL = "email:"  # a recipient still to be looked up, as opposed to a Slack user id


class SlackChannel(Channel[SlackSettings]):
    kind = "slack"
    settings_model = SlackSettings
    after_send = "deliver:after-slack"

    def __init__(self, settings: SlackSettings, clients: Clients) -> None:
        super().__init__(settings, clients)
        token = settings.token.get_secret_value() if settings.token else ""
        factory = clients.slack or slack_client
        self.api = SlackApi(factory(token, settings.base_url or None), clients.slack_limits,
                            workspace_key(token)) if token else None

    def recipient(self, links: Links) -> str:
        if self.api is None:
            raise NoRecipient("Slack is not configured (no token)")
        if (user_id := links.first("slack")) is not None:
            return user_id
        if emails := links.all("email"):
            return _EMAIL + " ".join(emails)  # looked up in send(), in this order
        raise NoRecipient("no Slack identity linked")

    def send(self, delivery: Delivery) -> Sent:
        assert self.api is not None  # recipient() said so
        user_id, learned = delivery.recipient, None
        if user_id.startswith(_EMAIL):
            user_id = self._look_up(user_id.removeprefix(_EMAIL).split(" "))
            learned = f"slack:id={user_id}"
        sent = self.api.send_dm(user_id, delivery.grant.grant_id, delivery.message,
                                check_history=delivery.may_have_sent,
                                ticket=f"{delivery.grant.grant_id}/{delivery.channel_id}")
        return Sent(provider_id=sent.ts, detail={"dm": sent.channel, "ts": sent.ts, "reused": sent.reused},
                    learned=learned, reused=sent.reused)

    def _look_up(self, emails: list[str]) -> str:
        assert self.api is not None
        for email in emails:
            if (user_id := self.api.lookup_user(email)) is not None:
                return user_id
        raise NoRecipient("no Slack identity linked")


class SlackTeamChannel(SlackChannel):
    """A Slack channel's team post: one message in `team_channel` per team_visible grant.

    Not a kind of its own (not registered): `build_channel(..., team=True)` makes it from the
    Slack channel's settings. Without a token or a `team_channel` nothing is posted
    (`suppressed`, with why): a team post is not the person's message, the feed has it.
    """

    without_recipient = "suppress"

    def recipient(self, links: Links) -> str:
        if self.api is None:
            raise NoRecipient("Slack is not configured (no token)")
        if not self.settings.team_channel:
            raise NoRecipient("no team_channel configured")
        return f"{self.settings.team_channel} {links.first('slack') or ''}".strip()

    def send(self, delivery: Delivery) -> Sent:
        assert self.api is not None and self.settings.team_channel  # recipient() said so
        channel, _, user_id = delivery.recipient.partition(" ")
        message = delivery.message.for_team(f"<@{user_id}>" if user_id else delivery.grant.person_id)
        sent = self.api.post_once(channel, delivery.grant.grant_id, message,
                                  check_history=delivery.may_have_sent,
                                  ticket=f"{delivery.grant.grant_id}/{delivery.channel_id}",
                                  history_limit=_TEAM_HISTORY_LIMIT)
        detail = {"channel": sent.channel, "ts": sent.ts, "reused": sent.reused}
        return Sent(provider_id=sent.ts, detail=detail, reused=sent.reused)


class SlackApi:
    """The Slack Web API calls a DM and a team post need, each failure classified once and
    each call through the worker's rate limiter (keyed by this token's workspace)."""

    def __init__(self, client: WebClient, limiter: SlackLimiter | None = None, workspace: str = "") -> None:
        self.client = client
        self.limiter = limiter or SlackLimiter()
        self.workspace = workspace

    def lookup_user(self, email: str) -> str | None:
        self.limiter.acquire(self.workspace, "users.lookupByEmail")
        try:
            return str(self.client.users_lookupByEmail(email=email)["user"]["id"])
        except SlackApiError as exc:
            if _error(exc) == "users_not_found":
                return None
            raise _classify(exc, "users.lookupByEmail") from None
        except SlackClientError as exc:
            raise Retryable(f"users.lookupByEmail: {exc.__class__.__name__}") from None

    def send_dm(self, user_id: str, grant_id: str, message: Message, *, check_history: bool,
                ticket: str | None = None) -> SlackSent:
        channel = self._call("conversations.open", self.client.conversations_open, users=user_id)
        return self.post_once(str(channel["channel"]["id"]), grant_id, message,
                              check_history=check_history, ticket=ticket)

    def post_once(self, channel: str, grant_id: str, message: Message, *, check_history: bool,
                  ticket: str | None = None, history_limit: int = _HISTORY_LIMIT) -> SlackSent:
        """Post unless `check_history` finds this grant's message in the channel already."""
        if check_history and (ts := self._already_posted(channel, grant_id, history_limit)) is not None:
            return SlackSent(channel, ts, reused=True)
        answer = self._call(
            "chat.postMessage", self.client.chat_postMessage, ticket=ticket,
            channel=channel, text=message.text, blocks=build_blocks(message),
            unfurl_links=False, unfurl_media=False,
            metadata={"event_type": GRANT_EVENT_TYPE, "event_payload": {"grant_id": grant_id}},
        )
        return SlackSent(channel, str(answer["ts"]), reused=False)

    def _already_posted(self, channel: str, grant_id: str, limit: int) -> str | None:
        history = self._call("conversations.history", self.client.conversations_history,
                             channel=channel, limit=limit, include_all_metadata=True)
        for item in history.get("messages", []):
            meta = item.get("metadata") or {}
            if meta.get("event_type") == GRANT_EVENT_TYPE and \
                    (meta.get("event_payload") or {}).get("grant_id") == grant_id:
                return str(item.get("ts"))
        return None

    def _call(self, method: str, fn: Any, *, ticket: str | None = None, **kwargs: Any) -> Any:
        channel = kwargs.get("channel")
        self.limiter.acquire(self.workspace, method, channel=channel, ticket=ticket)
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            failure = _classify(exc, method)
            if isinstance(failure, Retryable) and failure.retry_after:
                self.limiter.penalise(self.workspace, method, channel=channel, seconds=failure.retry_after)
            raise failure from None
        except SlackClientError as exc:
            raise Retryable(f"{method}: {exc.__class__.__name__}") from None
        except OSError as exc:  # connection refused, reset, timeouts from urllib
            raise Retryable(f"{method}: {exc.__class__.__name__}") from None


def _error(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _classify(exc: SlackApiError, method: str) -> Retryable | Permanent:
    status = getattr(exc.response, "status_code", 0)
    error = _error(exc) or f"HTTP {status}"
    if status == 429 or error == "ratelimited":
        headers = {k.lower(): v for k, v in (getattr(exc.response, "headers", None) or {}).items()}
        retry_after = _seconds(headers.get("retry-after"))
        return Retryable(f"{method}: ratelimited", retry_after=retry_after)
    if error in PERMANENT_ERRORS:
        return Permanent(f"{method}: {error}")
    return Retryable(f"{method}: {error}")


def _seconds(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None

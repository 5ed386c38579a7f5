"""What every connector is, in two shapes on one base.

- A **webhook** connector answers `POST` (and, where the vendor needs it, `GET`) at
  `/webhooks/<id>`: `verify` the raw request with its settings, then `parse` it into canonical
  events (pure: no network, no clock beyond `time` fields). It declares the vendor events it
  maps and the ones it acknowledges and ignores.
- A **polling** connector fetches one page from a cursor (`fetch_page`, the only I/O, through
  a client built by `client`, so tests inject a fake at the HTTP level) and maps its records
  (`parse_page`, pure). The poll activity drives the pages; the cursor of record is stored in
  the same transaction as each page's events.

Each vendor owns its settings model (a subclass of `ConnectorSettings` whose `vendor` is a
`Literal`); config is a union of them discriminated on `vendor`. Failures come from one tree,
`connectors.errors`; a vendor never raises anything else for bad input: a traceback is a bug.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from connectors.errors import (
    ConnectorError,
    Failure,
    PayloadError,
    Permanent,
    Retryable,
    VerificationError,
    classify_http,
)
from rules.durations import Duration
from rules.events import CloudEvent
from rules.limits import DEFAULT_LIMITS, JsonLimits, event_problem, loads

__all__ = [
    "BaseUrl",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "Cursor",
    "Failure",
    "Page",
    "ParseResult",
    "PayloadError",
    "Permanent",
    "PollSettings",
    "PollingConnector",
    "RecordResult",
    "RequiredSecret",
    "Retryable",
    "VerificationError",
    "WebhookConnector",
    "WebhookRequest",
    "check_events",
    "classify_http",
    "fixture_folder",
    "hmac_sha256_hex",
    "parse_checked",
    "secret_fields",
    "verify_sha256_signature",
    "verify_shared_secret",
]

CONNECTOR_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ConnectorSettings(BaseModel):
    """What every connector instance has; a vendor subclasses it with `vendor: Literal[...]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=CONNECTOR_ID, description="unique in the file; names /webhooks/<id>")
    vendor: str
    enabled: bool = Field(default=True, description="false pauses the connector: 503 to webhooks, no polls")
    expect_within: Duration | None = Field(
        default=None, description="raise a silence alarm when no event arrives for this long, e.g. 24h")

    def webhook_secrets(self) -> dict[str, SecretStr]:
        """The fields that authenticate this instance (never shared across tenants)."""
        return {name: getattr(self, name) for name in secret_fields(type(self))
                if getattr(self, name) is not None}


def _required_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("is empty: requests to this connector cannot be authenticated without it")
    return value


# A secret the connector cannot work without (a webhook secret, a token): empty is an error.
RequiredSecret = Annotated[SecretStr, AfterValidator(_required_secret)]


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise ValueError("must start with http:// or https://")
    return url


# A vendor's base URL (Jira, Canvas): trimmed, without a trailing slash; "" means off.
BaseUrl = Annotated[str, AfterValidator(_base_url)]


def secret_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """Names of the `SecretStr` fields of a settings model: they must be `${ENV}` references."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if annotation is SecretStr or SecretStr in args:
            out.append(name)
    return tuple(out)


class PollSettings(BaseModel):
    """`poll:` of a polling connector (DESIGN §8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Duration = Field(default=timedelta(minutes=5), ge=timedelta(seconds=1))
    overlap: Duration = Field(default=timedelta(minutes=10), ge=timedelta(0),
                              description="each cycle asks again from cursor − overlap; ids dedupe")
    since: datetime | None = Field(default=None, description="where a new poller starts "
                                   "(default now − overlap); backfill is explicit")
    page_size: int = Field(default=50, ge=1, le=1000)
    fail_after: int = Field(default=3, ge=1, le=100,
                            description="failed cycles in a row that raise the failing alarm")


@dataclass(frozen=True)
class WebhookRequest:
    """A raw webhook delivery. Header names are lower-cased on construction."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    limits: JsonLimits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self, raw: bytes | str | None = None) -> Any:
        """The body (or `raw`, e.g. a form field) as JSON within `limits`; else a 400.

        Numbers too long to convert become `rules.limits.Refused` markers (see there): a
        mapping that reads one rejects the delivery; one it does not read is never looked at.
        """
        try:
            return loads(self.body if raw is None else raw, self.limits)
        except RecursionError:
            raise PayloadError("invalid JSON: nested too deeply", status=400) from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise PayloadError(f"invalid JSON: {_short(str(exc))}", status=400) from None


@dataclass
class ParseResult:
    """Canonical events from one delivery, or why it yields none.

    `ignored` is set when the delivery is acknowledged but maps to nothing (unknown or
    uninteresting event); `dropped` counts mapped-kind events skipped by a documented rule
    (e.g. a completed run without a conclusion); `reply` is an optional body for the vendor
    (GitHub's `ping`).
    """

    events: list[CloudEvent] = field(default_factory=list)
    ignored: str | None = None
    dropped: int = 0
    reply: dict[str, Any] | None = None
    event_name: str | None = None


class WebhookConnector(ABC):
    """A vendor that pushes. Subclasses set the class attributes and implement three methods."""

    vendor: ClassVar[str]
    settings: ClassVar[type[ConnectorSettings]]
    methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    mapped_events: ClassVar[tuple[str, ...]] = ()  # vendor event names that can yield events
    ignored_events: ClassVar[tuple[str, ...]] = ()  # acknowledged on purpose, never mapped
    event_header: ClassVar[str | None] = None  # the header naming the vendor event, if any

    @abstractmethod
    def delivery_id(self, request: WebhookRequest) -> str | None:
        """The vendor's id of this delivery (unchanged across its retries), or None."""

    @abstractmethod
    def verify(self, request: WebhookRequest, settings: Any) -> None:
        """Raise VerificationError unless the raw request is authentic for `settings`."""

    @abstractmethod
    def parse(self, request: WebhookRequest, *, source: str) -> ParseResult:
        """Map the delivery to canonical events with `source`; raise PayloadError if unusable."""

    def sample_headers(self, event: str) -> dict[str, str]:
        """The headers that name `event` in a delivery (for fixtures and `connectors parse`)."""
        return {self.event_header: event} if self.event_header else {}

    def answer_get(self, request: WebhookRequest, settings: Any) -> dict[str, Any]:
        """A verified GET (a vendor's challenge, e.g. Okta's); only when "GET" is in `methods`."""
        raise PayloadError("GET is not part of this vendor's protocol", status=405)


@dataclass(frozen=True)
class Cursor:
    """Where one poll cycle reads from.

    `position` is the cursor of record (stored with the events it covers): everything the
    vendor changed before it has been ingested. A cycle asks for `lower_bound` = position −
    overlap and later, compared with `>=`, fixed for the whole cycle; `token` is the next page
    within the cycle (the vendor's page token or offset), None on the first page. `started`
    is when the cycle began: the cursor never moves past it, so a record changed while the
    cycle pages is seen again next cycle.
    """

    position: datetime | None
    lower_bound: datetime
    started: datetime
    token: str | None = None


@dataclass
class Page:
    """One page of raw vendor records, and the token of the next one (None: the last)."""

    records: list[Any]
    next_token: str | None = None


@dataclass
class RecordResult:
    """One record of a page, mapped: its events, or the PayloadError that quarantines it.

    `key` names the record (an issue id) in quarantine and logs; `updated` is the vendor's
    modification time, which advances the cursor once the page is stored.
    """

    key: str
    raw: Any
    events: list[CloudEvent] = field(default_factory=list)
    updated: datetime | None = None
    error: PayloadError | None = None


class PollingConnector(ABC):
    """A vendor that is asked. `fetch_page` is the only I/O; `parse_page` is pure."""

    vendor: ClassVar[str]
    settings: ClassVar[type[ConnectorSettings]]

    @abstractmethod
    def polls(self, settings: Any) -> bool:
        """Whether this instance polls (e.g. Jira's `url` is set)."""

    @abstractmethod
    def poll_settings(self, settings: Any) -> PollSettings:
        """The instance's `poll:` block."""

    @abstractmethod
    def client(self, settings: Any) -> Any:
        """Build the vendor client from `settings`; the worker calls this, tests pass their own."""

    @abstractmethod
    def fetch_page(self, client: Any, settings: Any, cursor: Cursor) -> Page:
        """One page from `cursor`. Raises `Retryable` (with the server's delay) or `Permanent`."""

    @abstractmethod
    def parse_page(self, page: Page, *, source: str) -> list[RecordResult]:
        """Every record of `page` mapped to events, or to the error that quarantines it."""


Connector = WebhookConnector | PollingConnector


def fixture_folder(event: str) -> str:
    """Where a vendor event's fixtures live: `tests/connectors/<vendor>/fixtures/<folder>/`
    (`Pipeline Hook` → `pipeline_hook`, `jira:issue_updated` → `jira_issue_updated`)."""
    return re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_")


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_SHA256_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")


def verify_sha256_signature(
    request: WebhookRequest, secret: str, *, header: str, missing_hint: str = ""
) -> None:
    """Raise VerificationError unless `header` is `sha256=<hex>`, the HMAC-SHA256 of the raw body
    with `secret` (GitHub's and Jira's scheme), compared in constant time. No secret configured
    refuses every request. Reasons never contain the secret or a digest."""
    if not secret:
        raise VerificationError("no webhook secret configured")
    value = request.header(header)
    if value is None:
        raise VerificationError(f"missing {header} header{missing_hint}")
    match = _SHA256_SIGNATURE.fullmatch(value.strip().lower())
    if match is None:
        raise VerificationError(f"malformed {header} header, expected sha256=<hex>")
    if not hmac.compare_digest(match.group(1), hmac_sha256_hex(secret, request.body)):
        raise VerificationError("signature mismatch")


def verify_shared_secret(
    request: WebhookRequest, expected: str, *, header: str, what: str
) -> None:
    """Raise VerificationError unless `header` carries exactly `expected`, a shared secret sent
    verbatim (GitLab's token, Okta's Authorization value), compared in constant time as bytes
    (a non-ASCII header is refused, never a TypeError). Nothing configured refuses every
    request. Reasons name `what`, never a value."""
    if not expected:
        raise VerificationError(f"no {what} configured")
    value = request.header(header)
    if value is None:
        raise VerificationError(f"missing {header} header")
    given, wanted = (text.encode("utf-8", "surrogatepass") for text in (value, expected))
    if not hmac.compare_digest(given, wanted):
        raise VerificationError(f"{what.split()[-1]} mismatch")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_checked(
    connector: WebhookConnector, request: WebhookRequest, *, source: str, now: datetime | None = None
) -> ParseResult:
    """`connector.parse`, then every event it made judged by `request.limits` (time, values).

    Raises:
        PayloadError: from the connector, or 422 naming the first event's problem.
    """
    result = connector.parse(request, source=source)
    check_events(result.events, limits=request.limits, now=now)
    return result


def check_events(events: Sequence[CloudEvent], *, limits: JsonLimits = DEFAULT_LIMITS,
                 now: datetime | None = None) -> None:
    """Raise a 422 PayloadError naming the first event that breaks `limits` (time, values)."""
    moment = now or datetime.now(UTC)
    for event in events:
        problem = event_problem(event.time, event.model_dump(), now=moment, limits=limits)
        if problem is not None:
            raise PayloadError(f"event {event.type}: {problem}")

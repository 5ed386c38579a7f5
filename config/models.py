"""The shape of `accolade.yaml` (DESIGN §7), as pydantic models."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from channels import ChannelConfig, ChannelSettings
from connectors import ConnectorConfig, ConnectorSettings
from rules.definitions import AchievementSpec
from rules.durations import Duration
from rules.limits import JsonLimits

__all__ = [
    "ApiSettings",
    "ChannelSettings",
    "LimitSettings",
    "MetricsSettings",
    "QuarantineSettings",
    "Config",
    "Route",
    "RoutingPolicy",
    "ConnectorSettings",
    "PersonSettings",
    "StoreSettings",
    "TemporalSettings",
    "TenantSettings",
]

_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuarantineSettings(_Strict):
    """What quarantine keeps of a bad body: a capped prefix (with size and hash), for `keep`."""

    # 1 MiB keeps typical webhook bodies whole, so `accolade quarantine retry` can parse them again
    body_prefix: ByteSize = Field(default=ByteSize(1024 * 1024), ge=0, le=25 * 1024 * 1024)
    keep: Duration = Field(default=timedelta(days=30), description="retention of quarantined items")


class StoreSettings(_Strict):
    url: str = "sqlite:///.accolade/accolade.db"
    quarantine: QuarantineSettings = QuarantineSettings()


class TemporalSettings(_Strict):
    address: str = Field(default="embedded", description="'embedded' or host:port")
    namespace: str = "accolade"
    task_queue: str = "accolade"
    retention_days: int = Field(default=30, ge=1, le=3650)
    port: int = Field(default=7233, description="embedded dev server's gRPC port")
    ui_port: int = Field(default=8233, description="embedded dev server's web UI port")
    evaluator_wake: Duration = Field(
        default=timedelta(seconds=30), ge=timedelta(seconds=1),
        description="how often an evaluator looks for work unasked: the safety net for a lost notification")
    connector_watch: Duration = Field(
        default=timedelta(seconds=60), ge=timedelta(seconds=1),
        description="how often each tenant's watcher checks its connectors (silence, failing, drift)")

    @property
    def embedded(self) -> bool:
        return self.address == "embedded"

    def target(self) -> str:
        return f"127.0.0.1:{self.port}" if self.embedded else self.address


class LimitSettings(_Strict):
    """Limits checked before work (README "Security"). Sizes take units: `25MiB`, `4MB`."""

    webhook_body: ByteSize = Field(default=ByteSize(25 * 1024 * 1024), ge=1024)
    events_body: ByteSize = Field(default=ByteSize(4 * 1024 * 1024), ge=1024)
    header_value: int = Field(default=4096, ge=256, description="characters per header value")
    delivery_id: int = Field(default=256, ge=16, le=512, description="characters of a vendor delivery id")
    json_depth: int = Field(default=32, ge=4, le=200, description="nesting of objects and arrays")
    string_length: int = Field(default=65536, ge=256, description="characters per JSON string")
    integer_digits: int = Field(default=20, ge=10, le=4000, description="digits per JSON integer")
    event_time_after: int = Field(default=1970, ge=1, le=9999, description="earliest year of `time`")
    event_time_ahead: Duration = Field(default=timedelta(days=1), description="how far ahead `time` may be")

    def json_limits(self) -> JsonLimits:
        return JsonLimits(
            depth=self.json_depth, string_length=self.string_length,
            integer_digits=self.integer_digits, earliest_year=self.event_time_after,
            ahead=self.event_time_ahead,
        )


class ApiSettings(_Strict):
    listen: str = Field(default="127.0.0.1:8787", pattern=r"^[^:\s]+:\d{1,5}$")
    limits: LimitSettings = LimitSettings()

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class MetricsSettings(_Strict):
    """Prometheus text at /metrics (README "Metrics")."""

    worker_listen: str = Field(
        default="127.0.0.1:9464", pattern=r"^([^:\s]+:\d{1,5})?$",
        description="host:port of the worker's /metrics (with Temporal's SDK metrics); '' turns it off")
    receiver: bool = Field(default=True, description="serve /metrics on the receiver's own port")

    @property
    def worker_address(self) -> tuple[str, int] | None:
        if not self.worker_listen:
            return None
        host, port = self.worker_listen.rsplit(":", 1)
        return host, int(port)


class PersonSettings(_Strict):
    person: str = Field(pattern=_ID)
    identities: list[str] = Field(min_length=1)

    @field_validator("identities")
    @classmethod
    def _identity_strings(cls, identities: list[str]) -> list[str]:
        from identity.refs import parse_identity_ref

        for ref in identities:
            parse_identity_ref(ref)
        return identities


class RoutingPolicy(_Strict):
    """Which channels each importance uses, and which the tenant forbids (README "Routing").

    An achievement's own `deliver_to` overrides its importance's list; a forbidden channel is
    never sent to, whichever list names it: its delivery is recorded `suppressed` with the
    reason `forbidden by policy`, so admins see what was held back.
    """

    low: list[str] = Field(default_factory=list)
    normal: list[str] = Field(default_factory=list)
    high: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)

    def named(self) -> list[tuple[str, int, str]]:
        """(list name, index, channel id) of every channel the policy names, for checks."""
        lists = (("low", self.low), ("normal", self.normal), ("high", self.high),
                 ("forbidden", self.forbidden))
        return [(name, i, channel) for name, ids in lists for i, channel in enumerate(ids)]


class Route(NamedTuple):
    """One channel a grant goes to; `forbidden` rows are stored `suppressed`, never sent."""

    channel: str
    kind: str
    forbidden: bool = False


class TenantSettings(_Strict):
    id: str = Field(pattern=_ID)
    time_zone: str = "UTC"
    week_start: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = Field(
        default="monday", description="first day of a calendar week, for weekly windows and streaks")
    allowed_lateness: Duration = Field(
        default=timedelta(hours=24), ge=timedelta(0),
        description="how late (by event time) an event may arrive and still be evaluated in order")
    shards: int = Field(default=4, ge=1, le=256)
    api_keys: list[SecretStr] = Field(default_factory=list)
    connectors: list[ConnectorConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    people: list[PersonSettings] = Field(default_factory=list)
    achievements: list[AchievementSpec] = Field(default_factory=list)
    admin_channel: str | None = Field(
        default=None, description="the channel connector alerts go to (a declared channel id)")
    shared_mailboxes: list[str] = Field(
        default_factory=list, description="team addresses that are never linked to a person")
    erase_on_delete: bool = Field(
        default=False, description="a SCIM DELETE also erases the person's personal data")

    @field_validator("shared_mailboxes")
    @classmethod
    def _mailboxes(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return [address.strip().lower() for address in addresses]

    @model_validator(mode="after")
    def _people_linkable(self) -> TenantSettings:
        """A declared identity that may never name a person is a config error, not a skip."""
        from identity.precedence import check_linkable, translate_key
        from identity.refs import parse_identity_ref
        from identity.resolve import stored_key

        for person in self.people:
            for text in person.identities:
                key = translate_key(stored_key(parse_identity_ref(text)))
                check_linkable(key, shared_mailboxes=self.shared_mailboxes)
        return self
    routing: RoutingPolicy = Field(
        default_factory=RoutingPolicy, description="channels per importance; channels forbidden here")
    locale: str = Field(
        default="en", description="language of messages for persons without their own locale, and of "
                                  "team posts (a CLDR locale: en, ar, de_CH, …)")

    @field_validator("locale")
    @classmethod
    def _locale(cls, locale: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            return str(Locale.parse(locale.replace("-", "_")))
        except (UnknownLocaleError, ValueError):
            raise ValueError(f"unknown locale {locale!r} (a CLDR locale such as en, ar, de_CH)") from None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    def connector(self, connector_id: str) -> ConnectorSettings | None:
        return next((c for c in self.connectors if c.id == connector_id), None)

    def achievement(self, key: str) -> AchievementSpec | None:
        return next((a for a in self.achievements if a.key == key), None)

    def channel(self, channel_id: str) -> ChannelSettings | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def routes(self, spec: AchievementSpec) -> list[Route]:
        """The channels a grant of `spec` goes to: its `deliver_to`, else its importance's list."""
        chosen = spec.deliver_to or getattr(self.routing, spec.importance)
        forbidden = set(self.routing.forbidden)
        return [Route(c, self.channel(c).kind, c in forbidden)  # type: ignore[union-attr]
                for c in dict.fromkeys(chosen)]


class Config(_Strict):
    store: StoreSettings = StoreSettings()
    temporal: TemporalSettings = TemporalSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    tenants: list[TenantSettings] = Field(min_length=1)

    def tenant(self, tenant_id: str) -> TenantSettings | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)

    def find_connector(self, connector_id: str) -> tuple[TenantSettings, ConnectorSettings] | None:
        for tenant in self.tenants:
            if (found := tenant.connector(connector_id)) is not None:
                return tenant, found
        return None


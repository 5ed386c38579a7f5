"""Connector health as users see it, and the three alarms: pure decisions, no clock, no I/O
(except `read_statuses`, which reads the rows and applies `connector_status` to them).

`connector_status` turns a connector's settings, its health row (`store.health`), its cursor,
its open incidents and `now` into a `ConnectorStatus` with one state:

- `paused`: `enabled: false` (no alarm is evaluated for it);
- `failing`: an open failing incident, or `poll.fail_after` cycles failed in a row, or a
  permanent error (401/403, a revoked token) newer than the last successful poll;
- `silent`: an open silent incident, or `expect_within` set and the last event older than it;
- `healthy` otherwise. A drift incident shows in `incidents` without changing the state.

`judge` is what the watcher (`workflows.watch`) decides each round, per connector, as
`Verdict`s: `alarm=True` (the condition holds: open an incident unless one is open),
`False` (it does not: resolve an open one), `None` (not enough to tell: leave it).

- **silent**: `expect_within` is set and no event arrived for longer than that, counted from
  the last event, or, when none ever arrived, from when the watcher first saw the connector.
- **failing**: a polling connector whose last `poll.fail_after` cycles failed, or whose last
  error is permanent and newer than its last successful cycle. One incident, not one per cycle.
- **drift**: a *window* is what the counters moved between two watcher rounds (60 s by
  default). Drift opens when a window has at least `DRIFT_MIN_RECEIVED` (5) received payloads
  of which at least `DRIFT_OPEN_SHARE` (50 %) were quarantined (unparseable), while the last
  window before it with at least 5 received had under `DRIFT_BASE_SHARE` (10 %) quarantined
  (none known counts as 0 %). It resolves at the first window of at least 5 received with
  under 10 % quarantined; quieter windows change nothing. The window state is two counters
  and a share per connector (`DriftWindow`), carried by the watcher across continue-as-new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from connectors import ConnectorSettings, polling_connector
from connectors.base import PollSettings
from rules.durations import format_duration
from store.health import health_rows
from store.incidents import cursors, open_incidents

if TYPE_CHECKING:
    from config.models import TenantSettings

__all__ = [
    "COUNTERS",
    "DRIFT_BASE_SHARE",
    "DRIFT_MIN_RECEIVED",
    "DRIFT_OPEN_SHARE",
    "KINDS",
    "ConnectorStatus",
    "DriftWindow",
    "Health",
    "OpenIncident",
    "Verdict",
    "connector_status",
    "judge",
    "poll_settings_of",
    "read_statuses",
]

COUNTERS = ("received", "accepted", "duplicate", "ignored", "quarantined", "rejected")
KINDS = ("silent", "failing", "drift")
DRIFT_MIN_RECEIVED = 5
DRIFT_OPEN_SHARE = 0.5
DRIFT_BASE_SHARE = 0.1
State = Literal["healthy", "silent", "failing", "paused"]


def _utc(value: datetime | None) -> datetime | None:
    """SQLite keeps no offset; everything is stored in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Health(BaseModel):
    """A `connector_health` row (absent: all zero)."""

    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    ignored: int = 0
    quarantined: int = 0
    rejected: int = 0
    last_event_at: datetime | None = None
    poll_cycles: int = 0
    last_poll_at: datetime | None = None
    failures_in_row: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_error_permanent: bool = False

    @classmethod
    def of(cls, row: Mapping[str, Any] | None) -> Health:
        if row is None:
            return cls()
        values = {k: row[k] for k in cls.model_fields if row.get(k) is not None}
        for name in ("last_event_at", "last_poll_at", "last_error_at"):
            if name in values:
                values[name] = _utc(values[name])
        return cls.model_validate(values)


class OpenIncident(BaseModel):
    id: int
    kind: str
    detail: str
    opened_at: datetime


class ConnectorStatus(BaseModel):
    """One connector instance of a tenant, as `accolade connectors status` and
    `GET /v1/connectors` show it."""

    connector: str
    vendor: str
    state: State
    why: str = Field(description="what decided the state")
    enabled: bool
    polls: bool = Field(description="whether this instance polls its vendor")
    expect_within: str | None = Field(default=None, description="the silence alarm's limit, e.g. 24h")
    counters: dict[str, int] = Field(description="received, accepted, duplicate, ignored, "
                                     "quarantined, rejected (signature or token refused)")
    last_event_at: datetime | None = None
    poll_cycles: int = 0
    last_poll_at: datetime | None = None
    failures_in_row: int = 0
    cursor: datetime | None = None
    cursor_age_seconds: float | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_error_permanent: bool = False
    incidents: list[OpenIncident] = Field(default_factory=list, description="open incidents")


def poll_settings_of(settings: ConnectorSettings) -> PollSettings | None:
    """The `poll:` block of an instance that polls (None: webhook only, or polling off)."""
    poller = polling_connector(settings.vendor)
    if poller is None or not poller.polls(settings):
        return None
    return poller.poll_settings(settings)


def _failing(poll: PollSettings | None, health: Health) -> str | None:
    if poll is None:
        return None
    if health.failures_in_row >= poll.fail_after:
        return f"{health.failures_in_row} poll cycles failed in a row: {health.last_error or 'unknown error'}"
    last_ok = health.last_poll_at
    if (health.last_error_permanent and health.last_error_at is not None
            and (last_ok is None or health.last_error_at > last_ok)):
        return f"permanent error, not retried: {health.last_error or 'unknown error'}"
    return None


def _silent(settings: ConnectorSettings, since: datetime | None, now: datetime) -> str | None:
    limit = settings.expect_within
    if limit is None or since is None or now - since <= limit:
        return None
    quiet = format_duration(timedelta(seconds=int((now - since).total_seconds())))
    return f"no event for {quiet} (expected within {format_duration(limit)})"


def connector_status(settings: ConnectorSettings, health: Health, *, poll: PollSettings | None,
                     cursor: datetime | None, incidents: Sequence[OpenIncident],
                     now: datetime) -> ConnectorStatus:
    """`poll`: the instance's `poll:` block when it polls (`poll_settings_of`), else None."""
    poll = poll if settings.enabled else None
    cursor = _utc(cursor)
    state, why = _state(settings, poll, health, incidents, now)
    return ConnectorStatus(
        connector=settings.id, vendor=settings.vendor, state=state, why=why, enabled=settings.enabled,
        polls=poll is not None,
        expect_within=None if settings.expect_within is None else format_duration(settings.expect_within),
        counters={name: int(getattr(health, name)) for name in COUNTERS},
        last_event_at=health.last_event_at, poll_cycles=health.poll_cycles,
        last_poll_at=health.last_poll_at, failures_in_row=health.failures_in_row, cursor=cursor,
        cursor_age_seconds=None if cursor is None else round((now - cursor).total_seconds(), 1),
        last_error=health.last_error, last_error_at=health.last_error_at,
        last_error_permanent=health.last_error_permanent, incidents=list(incidents))


def _state(settings: ConnectorSettings, poll: PollSettings | None, health: Health,
           incidents: Sequence[OpenIncident], now: datetime) -> tuple[State, str]:
    if not settings.enabled:
        return "paused", "enabled: false"
    open_kinds = {i.kind: i.detail for i in incidents}
    if "failing" in open_kinds:
        return "failing", open_kinds["failing"]
    if (failing := _failing(poll, health)) is not None:
        return "failing", failing
    if "silent" in open_kinds:
        return "silent", open_kinds["silent"]
    if (silent := _silent(settings, health.last_event_at, now)) is not None:
        return "silent", silent
    return "healthy", "drift: " + open_kinds["drift"] if "drift" in open_kinds else "ok"


def read_statuses(conn: Connection, tenant: TenantSettings, *, now: datetime) -> list[ConnectorStatus]:
    """Every configured connector of `tenant`, in config order (the one reading function here:
    the store's rows in, `connector_status` for each)."""
    rows = health_rows(conn, tenant.id)
    positions = cursors(conn, tenant.id)
    incidents = open_incidents(conn, tenant.id)
    return [connector_status(
        settings, Health.of(rows.get(settings.id)), poll=poll_settings_of(settings),
        cursor=positions.get(settings.id),
        incidents=[OpenIncident(id=i.id, kind=i.kind, detail=i.detail, opened_at=i.opened_at)
                   for i in incidents if i.connector == settings.id],
        now=now) for settings in tenant.connectors]


# --- the watcher's decisions ---

@dataclass
class DriftWindow:
    """Counters at the watcher's last round, and the quarantined share of the last window with
    enough payloads to judge. (The activity carries it as `activities.contracts.DriftWindow`:
    intake does not import activities.)"""

    received: int
    quarantined: int
    base_share: float | None = None


@dataclass(frozen=True)
class Verdict:
    kind: str
    alarm: bool | None  # True: the condition holds; False: it does not; None: cannot tell
    detail: str


def judge(settings: ConnectorSettings, health: Health, *, poll: PollSettings | None,
          first_seen: datetime, window: DriftWindow | None, drift_open: bool,
          now: datetime) -> tuple[list[Verdict], DriftWindow]:
    """This round's verdicts for an enabled connector, and the drift window to carry on."""
    failing = _failing(poll, health)
    silent = _silent(settings, health.last_event_at or first_seen, now)
    drift, window = _drift(health, window, drift_open=drift_open)
    return [
        Verdict("silent", silent is not None, silent or "events arrive again"),
        Verdict("failing", failing is not None, failing or "poll cycles succeed again"),
        drift,
    ], window


def _drift(health: Health, window: DriftWindow | None, *,
           drift_open: bool) -> tuple[Verdict, DriftWindow]:
    current = DriftWindow(received=health.received, quarantined=health.quarantined,
                          base_share=None if window is None else window.base_share)
    if window is None or health.received < window.received or health.quarantined < window.quarantined:
        return Verdict("drift", None, "first look"), current  # no window yet (or counters reset)
    received = health.received - window.received
    quarantined = min(health.quarantined - window.quarantined, received)
    if received < DRIFT_MIN_RECEIVED:
        return Verdict("drift", None, "too few payloads to tell"), current
    share = quarantined / received
    current.base_share = share
    detail = f"{quarantined} of {received} payloads unparseable in the last window ({share:.0%})"
    if drift_open:
        return Verdict("drift", False if share < DRIFT_BASE_SHARE else None, detail), current
    base = window.base_share or 0.0
    jumped = share >= DRIFT_OPEN_SHARE and base < DRIFT_BASE_SHARE
    return Verdict("drift", True if jumped else None,
                   f"{detail}, up from {base:.0%}" if jumped else detail), current

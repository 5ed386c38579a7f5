"""Pacing: whether one channel of one grant goes now, waits, joins a digest, or not at all.

Decided inside the `deliver` activity, at the moment of each attempt, from the person's
preferences as they are then (`store.preferences`); the workflow only sleeps until the time
decided here (a Temporal timer, not a poll) and asks again, so a delivery that waited through
the night re-checks the grant, the person (deprovisioned?) and the preferences when it wakes.

In this order:

1. a channel the person opted out of → `suppressed`, reason `opted out` (any kind; not a team
   post, see 2);
2. only channels that interrupt a person (`PERSONAL_KINDS`: Slack, email) are paced further;
   the console, the feed and webhooks into other systems are not, nor a team post (a target
   `<channel-id>.team`: channel ids have no dot), which the team reads, not the person;
3. a digest preference → `waiting` for the person's digest of the period (`digest/…`);
4. inside quiet hours → `waiting` until they end, in the person's zone;
5. a throttle of N a day reached → `waiting` until the person's next day. We wait rather
   than fold into a digest: the person chose single messages, and each arrives whole, at
   most N a day (the overflow of one day is first in line the next day).

A send the throttle admits is stamped (`deliveries.admitted_at`) in the transaction that
counted, under a lock on the person's preferences row, so parallel sends cannot overrun it;
a retry of an admitted send is not counted again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update

from config.models import TenantSettings
from store.preferences import Preferences, load_preferences
from store.profiles import load_profiles
from store.schema import deliveries, person_preferences

__all__ = [
    "PERSONAL_KINDS", "Hold", "Suppress", "attempt_time", "digest_period", "pace", "quiet_until",
    "shown_until",
]

PERSONAL_KINDS = frozenset({"slack", "email"})
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Hold:
    """Wait until `until` (UTC); `digest` is the digest's period key when it joins one."""

    why: Literal["quiet hours", "throttle", "digest"]
    until: datetime
    shown: str  # "quiet hours until 08:00 Europe/Berlin": what status shows
    digest: str | None = None

    def detail(self) -> dict[str, Any]:
        return {"why": self.why, "until": self.until.isoformat(), "shown": self.shown,
                **({"digest": self.digest} if self.digest else {})}


@dataclass(frozen=True)
class Suppress:
    reason: str


def attempt_time() -> datetime:
    """Now, for this attempt: the later of the wall clock and the time Temporal scheduled the
    attempt at. They agree on a real server; the time-skipping test server's clock runs ahead
    (a night passes in a second), and a decision taken by the wall clock there would wait
    for the same night again and again."""
    from temporalio import activity

    now = datetime.now(UTC)
    try:
        return max(now, activity.info().current_attempt_scheduled_time)
    except RuntimeError:  # not in an activity
        return now


def pace(conn: Connection, tenant: TenantSettings, row: Any, now: datetime) -> Hold | Suppress | None:
    """The decision for one deliveries row at `now`; None sends now (admitted, if throttled)."""
    if "." in row.channel:  # a target beside a channel id (a Slack team post, `<id>.team`) reaches a team
        return None
    prefs = load_preferences(conn, tenant.id, row.person_id)
    if row.channel in prefs.opt_out:
        return Suppress("opted out")
    if row.kind not in PERSONAL_KINDS:
        return None
    zone = _zone(conn, tenant, row.person_id)
    if prefs.digest is not None:
        key, end = digest_period(prefs.digest, zone, now, week_start=tenant.week_start)
        due = _after_quiet(prefs, zone, end)
        return Hold("digest", due, f"{prefs.digest} digest, sent {shown_until(due, zone, now)}", key)
    if prefs.quiet is not None and (until := quiet_until(prefs.quiet, zone, now)) is not None:
        return Hold("quiet hours", until, f"quiet hours until {shown_until(until, zone, now)}")
    if prefs.throttle is not None and row.admitted_at is None:
        return _throttle(conn, tenant.id, row, prefs.throttle, zone, now)
    return None


def _throttle(conn: Connection, tenant: str, row: Any, limit: int, zone: ZoneInfo,
              now: datetime) -> Hold | None:
    conn.execute(update(person_preferences).where(  # the lock: one admission at a time per person
        person_preferences.c.tenant == tenant, person_preferences.c.person_id == row.person_id,
    ).values(updated_at=person_preferences.c.updated_at))
    start = _local_midnight(zone, now.astimezone(zone).date())
    end = _local_midnight(zone, now.astimezone(zone).date() + timedelta(days=1))
    admitted = conn.execute(select(func.count()).select_from(deliveries).where(
        deliveries.c.tenant == tenant, deliveries.c.person_id == row.person_id,
        deliveries.c.admitted_at >= start, deliveries.c.admitted_at < end)).scalar_one()
    if admitted >= limit:
        shown = f"throttle of {limit} a day reached; until {shown_until(end, zone, now)}"
        return Hold("throttle", end, shown)
    conn.execute(update(deliveries).where(
        deliveries.c.grant_id == row.grant_id, deliveries.c.channel == row.channel,
    ).values(admitted_at=now))
    return None


def _zone(conn: Connection, tenant: TenantSettings, person_id: str) -> ZoneInfo:
    profile = load_profiles(conn, tenant.id, [person_id]).get(person_id)
    return ZoneInfo(profile.time_zone if profile and profile.time_zone else tenant.time_zone)


def _local_midnight(zone: ZoneInfo, day: date) -> datetime:
    return _at(zone, day, time(0, 0))


def _at(zone: ZoneInfo, day: date, clock: time) -> datetime:
    """`clock` on `day` in `zone`, as UTC; a wall time skipped by DST comes out an hour later."""
    local = datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).astimezone(UTC)


def quiet_until(quiet: tuple[time, time], zone: ZoneInfo, now: datetime) -> datetime | None:
    """When the quiet hours around `now` end (UTC), or None outside them."""
    start, end = quiet
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:  # a span inside one day, e.g. 12:00-13:00
        inside, day = start <= clock < end, local.date()
    else:  # across midnight, e.g. 22:00-08:00
        inside = clock >= start or clock < end
        day = local.date() + timedelta(days=1) if clock >= start else local.date()
    return _at(zone, day, end) if inside else None


def _after_quiet(prefs: Preferences, zone: ZoneInfo, when: datetime) -> datetime:
    if prefs.quiet is None:
        return when
    return quiet_until(prefs.quiet, zone, when) or when


def digest_period(kind: str, zone: ZoneInfo, now: datetime, *,
                  week_start: str = "monday") -> tuple[str, datetime]:
    """(period key, its end in UTC) of the daily or weekly period holding `now` in `zone`.

    Keys name the period's first local day (`day-2026-11-30`, `week-2026-11-30`): opaque,
    the same for every grant of the period, and no personal data.
    """
    today = now.astimezone(zone).date()
    if kind == "daily":
        return f"day-{today.isoformat()}", _local_midnight(zone, today + timedelta(days=1))
    first = today - timedelta(days=(today.weekday() - _WEEKDAYS.index(week_start)) % 7)
    return f"week-{first.isoformat()}", _local_midnight(zone, first + timedelta(days=7))


def shown_until(when: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`08:00 Europe/Berlin`, with the date when it is not within a day of `now`."""
    local = when.astimezone(zone)
    shown = f"{local:%H:%M}" if when - now < timedelta(hours=24) else f"{local:%Y-%m-%d %H:%M}"
    return f"{shown} {zone.key}"

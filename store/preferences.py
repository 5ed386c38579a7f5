"""A person's delivery preferences: opt-outs, quiet hours, digest, throttle; zone and locale.

One model (`Preferences`) validates what the CLI (`accolade preferences set`) and the API
(`PUT /v1/persons/{identity}/preferences`) accept, so both reject the same input with the
same field name. Opt-outs, quiet hours, digest and throttle live in `person_preferences`;
the time zone and locale live in `person_profiles` (source `preferences`, which outranks the
IAM profile), because rule time reads the same zone (`store.profiles`).

Updates are partial: a field left out keeps its value, `null` clears it. The quiet hours are
read in the person's zone, else the tenant's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, select

from store._db import insert_for
from store.profiles import load_profiles, set_profile
from store.schema import person_preferences

__all__ = [
    "PREFERENCE_FIELDS", "Preferences", "load_preferences", "parse_quiet_hours", "preferences_view",
    "save_preferences",
]

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
PREFERENCE_FIELDS = ("opt_out", "quiet_hours", "digest", "throttle")  # the person_preferences columns


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """`22:00-08:00` → (22:00, 08:00); the span may cross midnight, and may not be empty."""
    match = _QUIET.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM, e.g. 22:00-08:00")
    start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


class Preferences(BaseModel):
    """What a person chose. `time_zone` and `locale` are stored in the person's profile."""

    model_config = ConfigDict(extra="forbid")

    opt_out: list[str] = Field(default_factory=list, description="channel ids never to use for this person")
    quiet_hours: str | None = Field(default=None, description="HH:MM-HH:MM in the person's zone; sends wait")
    digest: Literal["daily", "weekly"] | None = Field(default=None, description="one message per period")
    throttle: int | None = Field(default=None, ge=1, le=1000, description="at most N messages a day")
    time_zone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Berlin")
    locale: str | None = Field(default=None, description="e.g. de, pt_BR, ar")

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        start, end = parse_quiet_hours(value)
        return f"{start:%H:%M}-{end:%H:%M}"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from babel import Locale, UnknownLocaleError

        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValueError(f"unknown locale {value!r}") from None

    def check_channels(self, channel_ids: Iterable[str]) -> None:
        """Opt-outs name channels the tenant declares (ValueError otherwise)."""
        known = sorted(channel_ids)
        for channel in self.opt_out:
            if channel not in known:
                raise ValueError(f"unknown channel {channel!r} (channels: {', '.join(known) or 'none'})")

    @property
    def quiet(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None


def load_preferences(conn: Connection, tenant: str, person_id: str) -> Preferences:
    """The person's preferences; zone and locale as their profile holds them (any source)."""
    row = conn.execute(select(person_preferences).where(
        person_preferences.c.tenant == tenant, person_preferences.c.person_id == person_id)).first()
    profile = load_profiles(conn, tenant, [person_id]).get(person_id)
    values: dict[str, Any] = {name: getattr(row, name) for name in PREFERENCE_FIELDS} if row else {}
    if profile is not None:
        values.update(time_zone=profile.time_zone, locale=profile.locale)
    return Preferences.model_construct(**{**Preferences().model_dump(), **values})


def save_preferences(conn: Connection, tenant: str, person_id: str, update: Preferences) -> Preferences:
    """Apply the fields `update` was given (`model_fields_set`); returns the stored result."""
    given = update.model_fields_set
    current = load_preferences(conn, tenant, person_id)
    values = {name: getattr(update if name in given else current, name) for name in PREFERENCE_FIELDS}
    values["opt_out"] = sorted(set(values["opt_out"] or []))
    stmt = insert_for(conn, person_preferences).values(
        tenant=tenant, person_id=person_id, updated_at=datetime.now(UTC), **values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["tenant", "person_id"], set_={**values, "updated_at": stmt.excluded.updated_at}))
    profile = {name: getattr(update, name) for name in ("time_zone", "locale") if name in given}
    if profile:
        set_profile(conn, tenant, person_id, source="preferences", **profile)
    return load_preferences(conn, tenant, person_id)


def preferences_view(conn: Connection, tenant: str, person_id: str, *, tenant_zone: str) -> dict[str, Any]:
    """What `preferences show` and `GET …/preferences` answer: the preferences, where the zone
    and locale came from, and the zone in effect (the person's, else the tenant's)."""
    prefs = load_preferences(conn, tenant, person_id)
    profile = load_profiles(conn, tenant, [person_id]).get(person_id)
    return {"person": person_id, **prefs.model_dump(),
            "time_zone_source": profile.time_zone_source if profile else None,
            "locale_source": profile.locale_source if profile else None,
            "effective_time_zone": prefs.time_zone or tenant_zone}

"""A person's time zone and locale, each with the source it came from.

Sources rank (`SOURCES`, highest first): the person's own preference (`accolade preferences
set`, the API), then the IAM profile (SCIM `timezone` / `locale`). A lower source never
overrides a value a higher one set; clearing is done by the source that set it (`None`).
Rule time (windows, streaks) and delivery (quiet hours, message language) read the same
values, so a person's "this week" and "their night" are one zone. Unset means the tenant's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, select

from store._db import insert_for
from store.schema import person_profiles

__all__ = ["SOURCES", "Profile", "load_profiles", "person_zones", "set_profile"]

Source = Literal["preferences", "scim"]
SOURCES: tuple[Source, ...] = ("preferences", "scim")  # highest first


@dataclass(frozen=True)
class Profile:
    time_zone: str | None = None
    time_zone_source: str | None = None
    locale: str | None = None
    locale_source: str | None = None


def load_profiles(conn: Connection, tenant: str, person_ids: Iterable[str]) -> dict[str, Profile]:
    people = sorted(set(person_ids))
    if not people:
        return {}
    rows = conn.execute(select(person_profiles).where(
        person_profiles.c.tenant == tenant, person_profiles.c.person_id.in_(people)))
    return {r.person_id: Profile(r.time_zone, r.time_zone_source, r.locale, r.locale_source) for r in rows}


def person_zones(conn: Connection, tenant: str, person_ids: Iterable[str]) -> dict[str, str]:
    """Person id → IANA zone, for persons who have one; the rest use the tenant's zone."""
    profiles = load_profiles(conn, tenant, person_ids)
    return {p: prof.time_zone for p, prof in profiles.items() if prof.time_zone}


def _outranks(source: str, held_by: str | None) -> bool:
    return held_by is None or SOURCES.index(source) <= SOURCES.index(held_by)  # type: ignore[arg-type]


_UNSET = object()


def set_profile(conn: Connection, tenant: str, person_id: str, *, source: Source,
                time_zone: str | None | object = _UNSET, locale: str | None | object = _UNSET) -> Profile:
    """Set (or clear, with None) fields as `source`; a field held by a higher source is kept.

    Values are validated by the caller (zone names with `zoneinfo`, locales with Babel).
    Returns the profile as stored.
    """
    current = load_profiles(conn, tenant, [person_id]).get(person_id, Profile())
    values = {"time_zone": current.time_zone, "time_zone_source": current.time_zone_source,
              "locale": current.locale, "locale_source": current.locale_source}
    for name, new in (("time_zone", time_zone), ("locale", locale)):
        if new is _UNSET or not _outranks(source, values[f"{name}_source"]):
            continue
        values[name] = new
        values[f"{name}_source"] = source if new is not None else None
    stmt = insert_for(conn, person_profiles).values(
        tenant=tenant, person_id=person_id, updated_at=datetime.now(UTC), **values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["tenant", "person_id"],
        set_={**values, "updated_at": stmt.excluded.updated_at}))
    return Profile(**values)  # type: ignore[arg-type]

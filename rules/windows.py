"""Calendar windows and streak periods in a time zone, with zone-aware arithmetic (`zoneinfo`).

A calendar day is local midnight to the next local midnight: 23 or 25 hours across a DST
change, because bounds are built as local wall times and converted, never by adding 24 h. A
week starts on the tenant's `week_start` (0 = Monday); its key is the ISO week that holds
most of its days (`2026-W10`), so a Monday-start week has its ISO number. A month is
`2026-03`. Instants are UTC POSIX seconds (floats) so the hot path compares numbers.

Streak periods are integers that follow each other: a day's ordinal; a workday's count of
Mondays-to-Fridays (a weekend day is no period at all: it neither keeps nor breaks a
workday streak); a week's index from the tenant's `week_start`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "Span",
    "as_datetime",
    "calendar_span",
    "local_date",
    "period_end",
    "period_of",
    "period_start",
    "zone",
]

Span = tuple[float, float, str]  # (start, end, key)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(instant: float, zone_name: str) -> date:
    return datetime.fromtimestamp(instant, zone(zone_name)).date()


def _midnight(day: date, zone_name: str) -> float:
    return datetime.combine(day, time(0), tzinfo=zone(zone_name)).timestamp()


def _week_first(day: date, week_start: int) -> date:
    return day - timedelta(days=(day.weekday() - week_start) % 7)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# Every zone's offset is a multiple of 15 minutes, so local midnights fall on 15-minute UTC
# boundaries: all instants of one 15-minute slot share their day, week, month and period. The
# caches below are keyed by slot; they hold pure results, so they change no outcome.
_SLOT = 900
_CACHE_LIMIT = 65536
_spans: dict[tuple[int, str, str, int], Span] = {}
_periods: dict[tuple[int, str, str, int], int | None] = {}


def calendar_span(instant: float, unit: str, zone_name: str, week_start: int = 0) -> Span:
    """The calendar day, week or month holding `instant` in the zone: (start, end, key)."""
    slot = (int(instant // _SLOT), unit, zone_name, week_start)
    found = _spans.get(slot)
    if found is None:
        if len(_spans) >= _CACHE_LIMIT:
            _spans.clear()
        found = _spans[slot] = _calendar_span(slot[0] * _SLOT, unit, zone_name, week_start)
    return found


def _calendar_span(instant: float, unit: str, zone_name: str, week_start: int) -> Span:
    day = local_date(instant, zone_name)
    if unit == "day":
        first, after, key = day, day + timedelta(days=1), day.isoformat()
    elif unit == "week":
        first = _week_first(day, week_start)
        after = first + timedelta(days=7)
        iso = (first + timedelta(days=3)).isocalendar()  # the ISO week holding most of its days
        key = f"{iso.year}-W{iso.week:02d}"
    else:
        first, after = day.replace(day=1), _next_month(day.replace(day=1))
        key = f"{first.year}-{first.month:02d}"
    return _midnight(first, zone_name), _midnight(after, zone_name), key


def period_of(instant: float, unit: str, zone_name: str, week_start: int = 0) -> int | None:
    """The streak period holding `instant`; None for a weekend day of a workday streak."""
    slot = (int(instant // _SLOT), unit, zone_name, week_start)
    if slot in _periods:
        return _periods[slot]
    if len(_periods) >= _CACHE_LIMIT:
        _periods.clear()
    found = _periods[slot] = _period_of(slot[0] * _SLOT, unit, zone_name, week_start)
    return found


def _period_of(instant: float, unit: str, zone_name: str, week_start: int) -> int | None:
    day = local_date(instant, zone_name)
    ordinal = day.toordinal()
    if unit == "day":
        return ordinal
    if unit == "week":
        return (ordinal - 1 - week_start) // 7  # date(1, 1, 1) is a Monday: ordinal 1
    weekday = day.weekday()
    return None if weekday >= 5 else (ordinal - 1) // 7 * 5 + weekday


def _period_first_day(period: int, unit: str, week_start: int) -> date:
    if unit == "day":
        return date.fromordinal(period)
    if unit == "week":
        return date.fromordinal(period * 7 + 1 + week_start)
    weeks, weekday = divmod(period, 5)
    return date.fromordinal(weeks * 7 + 1 + weekday)


def period_start(period: int, unit: str, zone_name: str, week_start: int = 0) -> float:
    return _midnight(_period_first_day(period, unit, week_start), zone_name)


def period_end(period: int, unit: str, zone_name: str, week_start: int = 0) -> float:
    """The instant the period closes (its last local midnight), as UTC seconds."""
    days = 7 if unit == "week" else 1
    return _midnight(_period_first_day(period, unit, week_start) + timedelta(days=days), zone_name)


def as_datetime(instant: float) -> datetime:
    return datetime.fromtimestamp(instant, UTC)

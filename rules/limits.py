"""Input limits: what a JSON value or a canonical event may hold before anything stores it.

Every item is judged alone. `loads` parses a whole body without failing on one bad value: an
integer too long to convert, or `NaN`/`Infinity`, becomes a `Refused` marker in place, so the
item that holds it is rejected and its neighbours are kept. `problem_in` then walks one item
(iteratively: no recursion on hostile input) and names the first problem with its path:

- nesting deeper than `depth` objects/arrays,
- a string (or key) longer than `string_length` characters,
- a NUL character or a lone surrogate (`"\\ud800"`) in a string or key: neither is valid
  text for PostgreSQL, and no vendor sends one in a field that matters,
- a refused number.

`event_problem` adds the event's own rules: `time` between January 1 of `earliest_year` and
`now + ahead`, in UTC without overflow. Only the canonical event is range-checked, never the
vendor fields a mapping does not use (real GitHub payloads carry `0001-01-01` in some).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "DEFAULT_LIMITS", "JsonLimits", "Refused", "event_problem", "loads", "problem_in", "time_problem",
]


@dataclass(frozen=True)
class JsonLimits:
    depth: int = 32
    string_length: int = 65536
    integer_digits: int = 20
    earliest_year: int = 1970
    ahead: timedelta = timedelta(days=1)


DEFAULT_LIMITS = JsonLimits()


@dataclass(frozen=True)
class Refused:
    """A JSON number parsed into a marker instead of a value; `why` says what was wrong."""

    why: str


def loads(raw: bytes | str, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """`json.loads` that never raises for one bad number (see the module docstring).

    Raises:
        ValueError: the body is not JSON, or not UTF-8 (JSONDecodeError, UnicodeDecodeError).
        RecursionError: nested beyond what the parser can follow (about 1,000 levels).
    """

    def parse_int(text: str) -> int | Refused:
        digits = len(text.lstrip("-"))
        if digits > limits.integer_digits:
            return Refused(f"integer of {digits} digits (at most {limits.integer_digits})")
        return int(text)

    def parse_constant(name: str) -> Refused:
        return Refused(f"{name} is not a number JSON allows")

    return json.loads(raw, parse_int=parse_int, parse_constant=parse_constant)


def _string_problem(text: str, limits: JsonLimits) -> str | None:
    if len(text) > limits.string_length:
        return f"string of {len(text)} characters (at most {limits.string_length})"
    if "\x00" in text:
        return "NUL character in a string"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone surrogate in a string (not valid UTF-8)"
    return None


def _where(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(item)"


def problem_in(value: Any, limits: JsonLimits = DEFAULT_LIMITS) -> str | None:
    """The first limit `value` breaks, as `path: what`, or None when it is acceptable."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        problem: str | None = None
        if isinstance(node, str):
            problem = _string_problem(node, limits)
        elif isinstance(node, Refused):
            problem = node.why
        elif isinstance(node, dict | list):
            if len(path) >= limits.depth:
                problem = f"nested deeper than {limits.depth} levels"
            elif isinstance(node, dict):
                for key, child in node.items():
                    if (key_problem := _string_problem(str(key), limits)) is not None:
                        return f"{_where(path)}: key: {key_problem}"
                    stack.append((child, (*path, str(key))))
            else:
                stack.extend((child, (*path, i)) for i, child in enumerate(node))
        if problem is not None:
            return f"{_where(path)}: {problem}"
    return None


def event_problem(
    time: datetime, body: Any, *, now: datetime, limits: JsonLimits = DEFAULT_LIMITS
) -> str | None:
    """What makes a canonical event unacceptable (its `time`, then its values), or None."""
    return time_problem(time, now=now, limits=limits) or problem_in(body, limits)


def time_problem(time: datetime, *, now: datetime, limits: JsonLimits = DEFAULT_LIMITS) -> str | None:
    """Why an event's `time` is out of range, or None."""
    try:
        utc = time.astimezone(UTC)
    except OverflowError:
        return "time: out of range when converted to UTC"
    if utc.year < limits.earliest_year:
        return f"time: before {limits.earliest_year}-01-01"
    if utc > now + limits.ahead:
        hours = int(limits.ahead.total_seconds() // 3600)
        return f"time: more than {hours} hour(s) in the future"
    return None

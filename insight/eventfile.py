"""Events from a file for `accolade simulate --events`: CloudEvents as JSON lines.

Every line is judged like an item of the batch API (the JSON limits, then the CloudEvent
model), and the first bad line stops the run with `file:line: field: message`, so an admin
fixes the file before trusting any result from it. Blank lines and `#` comment lines are
skipped, so a fixture can say what it shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rules.events import CloudEvent
from rules.limits import DEFAULT_LIMITS, problem_in

__all__ = ["EventFileError", "parse_event_items", "parse_event_lines", "read_event_file"]

MAX_EVENTS = 100_000  # a simulation is a try-out, not a backfill


class EventFileError(ValueError):
    """A line that is not a CloudEvent; `str()` is `file:line: field: message`."""


def read_event_file(path: str) -> list[CloudEvent]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EventFileError(f"{path}: cannot read: {exc.__class__.__name__}: {exc}") from None
    return parse_event_lines(text.splitlines(), name=path)


def parse_event_lines(lines: Iterable[str], *, name: str) -> list[CloudEvent]:
    out: list[CloudEvent] = []
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(_event(line, where=f"{name}:{number}"))
            if len(out) > MAX_EVENTS:
                raise EventFileError(f"{name}:{number}: more than {MAX_EVENTS} events; split the file")
    return out


def parse_event_items(items: Iterable[Any], *, name: str) -> list[CloudEvent]:
    """Already-decoded items (the API's body): errors name the item's index instead of a line."""
    return [_validated(raw, where=f"{name}[{index}]") for index, raw in enumerate(items)]


def _event(line: str, *, where: str) -> CloudEvent:
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise EventFileError(f"{where}: invalid JSON: {exc}") from None
    return _validated(raw, where=where)


def _validated(raw: Any, *, where: str) -> CloudEvent:
    if not isinstance(raw, dict):
        raise EventFileError(f"{where}: a CloudEvent is a JSON object, got {type(raw).__name__}")
    if (problem := problem_in(raw, DEFAULT_LIMITS)) is not None:
        raise EventFileError(f"{where}: {problem}")
    try:
        return CloudEvent.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "event"
        raise EventFileError(f"{where}: {field}: {str(error['msg']).removeprefix('Value error, ')}") from None

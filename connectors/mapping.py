"""What every vendor mapping shares: an event drafted from a vendor fact, then stamped.

A vendor handler returns a `Draft` (type, the fact's stable id, time, actor, subject, data);
`to_event` stamps `source` and the delivery id (the CloudEvents extension `accoladedelivery`)
on it and drops data keys whose value is None. Reasons built here are short and quote no
more of the vendor's text than `short` allows: they are stored and shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from connectors.errors import PayloadError
from rules.events import CloudEvent

__all__ = ["Draft", "as_utc", "first_error", "short", "to_event"]


class Draft(NamedTuple):
    """A mapped event before `id` and `source` are stamped on it."""

    type: str
    stable_id: str
    time: datetime
    actor: dict[str, str]
    subject: str | None
    data: dict[str, Any]


def short(value: object, limit: int = 64) -> str:
    """`value` as one line of at most `limit` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, as `field.path: message`."""
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"]) or "body"
    return short(f"{loc}: {str(err['msg']).removeprefix('Value error, ')}", 200)


def as_utc(value: datetime | None) -> datetime | None:
    """A vendor time in UTC; a time without a zone is read as UTC, never as local time."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range when converted to UTC") from None


def to_event(draft: Draft, *, source: str, delivery_id: str | None) -> CloudEvent:
    """The CloudEvent of `draft`; a 422 PayloadError if it is not one."""
    data = {"actor": draft.actor, **{k: v for k, v in draft.data.items() if v is not None}}
    delivery = {"accoladedelivery": delivery_id} if delivery_id else {}
    try:
        return CloudEvent(id=draft.stable_id, source=source, type=draft.type, time=draft.time,
                          subject=draft.subject or None, data=data, **delivery)
    except ValidationError as exc:
        raise PayloadError(f"cannot build event: {first_error(exc)}") from None

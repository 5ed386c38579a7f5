"""Polled records → events (pure). A record is what `fetch_page` puts on a page:

    {"issue": <a REST search issue, expand=changelog, with fields.comment>,
     "status_categories": {"<status id>": "<category key>", ...},   # from GET /status
     "since": "<ISO time>"}                                          # the cycle's lower bound

Everything the mapping needs travels inside the record, so a quarantined record can be parsed
again later without the server. Only facts at or after `since` are mapped (creation, each
history, each comment): older ones were read by an earlier cycle, or predate the poller's
start (backfill is explicit, by `poll.since`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from connectors.base import PayloadError, RecordResult
from connectors.jira.mapping import (
    Issue,
    Stamp,
    _Model,
    categories_of,
    comment_draft,
    created_draft,
    history_drafts,
    ordered,
)
from connectors.mapping import Draft, first_error, short, to_event

__all__ = ["parse_record", "record_of"]


class Record(_Model):
    issue: Issue
    status_categories: dict[str, str] = {}
    since: Stamp = None


def record_of(issue: dict[str, Any], categories: dict[str, str], since: datetime) -> dict[str, Any]:
    """The page record of one raw issue (the inverse of `Record`)."""
    return {"issue": issue, "status_categories": categories, "since": since.isoformat()}


def _key(raw: Any) -> str:
    issue = raw.get("issue") if isinstance(raw, dict) else None
    found = issue.get("id") if isinstance(issue, dict) else None
    return short(found, 40) if isinstance(found, str | int) and not isinstance(found, bool) else "?"


def _at_or_after(when: datetime | None, since: datetime | None) -> bool:
    return when is not None and (since is None or when >= since)


def _drafts(record: Record) -> list[Draft]:
    issue, since = record.issue, record.since
    drafts: list[Draft] = []
    if _at_or_after(issue.fields.created, since) and (made := created_draft(issue)) is not None:
        drafts.append(made)
    histories = ordered(issue.changelog.histories if issue.changelog else [])
    categories = categories_of(issue, record.status_categories)
    for index, history in enumerate(histories):
        if _at_or_after(history.created, since):
            drafts += history_drafts(issue, histories, index, categories=categories)
    for comment in issue.fields.comment.comments if issue.fields.comment else []:
        if _at_or_after(comment.created, since) and (made := comment_draft(issue, comment)) is not None:
            drafts.append(made)
    return drafts


def parse_record(raw: Any, *, source: str) -> RecordResult:
    """One record's events, or the PayloadError that quarantines it; never raises."""
    key = _key(raw)
    if not isinstance(raw, dict):
        return RecordResult(key=key, raw=raw, error=PayloadError("record must be an object"))
    try:
        record = Record.model_validate(raw)
        if not record.issue.id:
            raise PayloadError("issue.id is missing")
        if record.issue.fields.updated is None:
            raise PayloadError("issue.fields.updated is missing")
        events = [to_event(d, source=source, delivery_id=None) for d in _drafts(record)]
    except ValidationError as exc:
        return RecordResult(key=key, raw=raw, error=PayloadError(first_error(exc)))
    except PayloadError as exc:
        return RecordResult(key=key, raw=raw, error=exc)
    return RecordResult(key=key, raw=raw, events=events, updated=record.issue.fields.updated)

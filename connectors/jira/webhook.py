"""Jira webhook bodies → events (pure). The vendor event is the body's `webhookEvent`.

- `jira:issue_created` → `ticket.created` only: its changelog (the initial field values) is
  not a change, and REST history has no entry for it.
- `jira:issue_updated` → the changelog's `ticket.resolved` / `ticket.reassigned`, and
  `ticket.commented` when it carries a new comment (`issue_event_type_name` is
  `issue_commented`, or, from servers too old to send that name, a comment never edited).
  Status categories come from the issue's current status: a webhook is sent right after the
  change, so the status it moved to is the current one.
- `comment_created` → `ticket.commented`; Data Center sends no `issue`, its id is read from
  the comment's `self` link.
- `IGNORED` events are acknowledged with a reason; any other `webhookEvent` is "not mapped".
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from connectors.base import ParseResult, PayloadError
from connectors.jira.mapping import (
    Comment,
    History,
    Issue,
    Item,
    Stamp,
    User,
    _Model,
    categories_of,
    comment_draft,
    created_draft,
    history_drafts,
)
from connectors.mapping import Draft, first_error, short, to_event

__all__ = ["IGNORED", "MAPPED", "parse_body"]

MAPPED = ("jira:issue_created", "jira:issue_updated", "comment_created")
IGNORED = ("jira:issue_deleted", "comment_updated", "comment_deleted")


class _WebhookChangelog(_Model):
    id: Any = None
    items: list[Item] = []


class Webhook(_Model):
    webhookEvent: str | None = None  # noqa: N815 - Jira's names
    issue_event_type_name: str | None = None
    timestamp: Stamp = None
    user: User | None = None
    issue: Issue | None = None
    changelog: _WebhookChangelog | None = None
    comment: Comment | None = None


def event_name(body: dict[str, Any]) -> str:
    name = body.get("webhookEvent")
    if not isinstance(name, str) or not name.strip():
        raise PayloadError("webhookEvent is missing: not a Jira webhook body")
    return name.strip()


def _load(body: dict[str, Any]) -> Webhook:
    try:
        return Webhook.model_validate(body)
    except ValidationError as exc:
        raise PayloadError(first_error(exc)) from None


def _issue(hook: Webhook) -> Issue:
    if hook.issue is None:
        raise PayloadError("issue is missing")
    if not hook.issue.id:
        raise PayloadError("issue.id is missing")
    return hook.issue


def _created(hook: Webhook) -> list[Draft]:
    issue = _issue(hook)
    if issue.fields.created is None:
        raise PayloadError("issue.fields.created is missing")
    draft = created_draft(issue, fallback=hook.user)
    if draft is None:
        raise PayloadError("issue.fields.reporter is missing: no usable actor (accountId or key)")
    return [draft]


def _change(hook: Webhook, issue: Issue) -> list[Draft]:
    log = hook.changelog
    if log is None or not log.items:
        return []
    if log.id is None or isinstance(log.id, bool) or not isinstance(log.id, str | int):
        raise PayloadError("changelog.id is missing")
    history = History(id=str(log.id), author=hook.user, created=None, items=log.items)
    when = issue.fields.updated or hook.timestamp
    if when is None:
        raise PayloadError("issue.fields.updated is missing")
    return history_drafts(issue, [history], 0, categories=categories_of(issue), when=when)


def _new_comment(hook: Webhook) -> bool:
    if hook.comment is None:
        return False
    if hook.issue_event_type_name is not None:
        return hook.issue_event_type_name == "issue_commented"
    return hook.comment.updated is None or hook.comment.updated == hook.comment.created


def _comment(hook: Webhook, issue: Issue) -> list[Draft]:
    assert hook.comment is not None
    draft = comment_draft(issue, hook.comment)
    if draft is None:
        raise PayloadError("comment is missing id, created, author or its issue id")
    return [draft]


def _updated(hook: Webhook) -> list[Draft]:
    issue = _issue(hook)
    drafts = _change(hook, issue)
    if _new_comment(hook):
        drafts += _comment(hook, issue)
    return drafts


def _comment_created(hook: Webhook) -> list[Draft]:
    if hook.comment is None:
        raise PayloadError("comment is missing")
    return _comment(hook, hook.issue or Issue())


_HANDLERS = {"jira:issue_created": _created, "jira:issue_updated": _updated,
             "comment_created": _comment_created}


def parse_body(body: dict[str, Any], *, source: str, delivery_id: str | None) -> ParseResult:
    """Map one verified webhook body; PayloadError naming the field when it cannot be."""
    name = event_name(body)
    handler = _HANDLERS.get(name)
    if handler is None:
        reason = "ignored" if name in IGNORED else "not mapped"
        return ParseResult(ignored=f"event {short(name)} is {reason}", event_name=name)
    drafts = handler(_load(body))
    events = [to_event(d, source=source, delivery_id=delivery_id) for d in drafts]
    ignored = None if events else f"{name}: no resolution, reassignment or new comment"
    return ParseResult(events=events, ignored=ignored, event_name=name)

"""Jira issues, changelog histories and comments → canonical event drafts (pure, no I/O).

Webhooks and polling share every rule here, so a fact seen both ways maps to one id:

- creation: `ticket.created`, id `<issue id>:created` (REST history has no creation entry, so
  a creation webhook's changelog is never used for it); actor the reporter, else the creator;
- a history that sets a resolution (`from` empty, `to` set) or moves the status into the done
  category (`to` done, `from` not known to be done): `ticket.resolved`, id `<issue id>:<history
  id>`; actor the assignee at that moment, else the history's author;
- a history that changes `assignee`: `ticket.reassigned`, same id shape with `from`/`to` ids in
  data; actor the new assignee (whose stream a "resolved without reassignment" rule reads),
  else the author when the issue was unassigned;
- a comment: `ticket.commented`, id `<issue id>:comment:<comment id>`, actor its author.

A history yielding both a resolution and a reassignment gives both types under one id; the
store dedupes on (tenant, source, id), so the second is suffixed `:reassigned`.
Each change keeps `(issue, field, from, to, time)` of every item (ids, never display strings)
so a webhook/REST mismatch can be found. Identities are `jira` with `id` = `accountId` on
Cloud, else `key` (Data Center), plus `login` (name) and `email` when present.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from connectors.mapping import Draft, as_utc, short

__all__ = [
    "SYSTEM",
    "Comment",
    "History",
    "Issue",
    "Item",
    "User",
    "comment_draft",
    "created_draft",
    "history_drafts",
    "identity",
    "issue_id_of_comment",
]

SYSTEM = "jira"
_DONE = "done"
_COMMENT_SELF = re.compile(r"/issue/(\d+)/comment/\d+/?$")


def _text_id(value: object) -> object:
    """Jira ids come as strings, some as integers (status category ids): both become text."""
    if value is None or isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    raise ValueError("an id must be a string or an integer")


def _epoch_ms(value: object) -> object:
    """Webhooks stamp `timestamp` in epoch milliseconds."""
    if type(value) is int and 0 <= value < 10**14:
        return datetime.fromtimestamp(value / 1000, UTC)
    return value


Id = Annotated[str | None, BeforeValidator(_text_id)]
Time = Annotated[datetime | None, AfterValidator(as_utc)]
Stamp = Annotated[datetime | None, BeforeValidator(_epoch_ms), AfterValidator(as_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class User(_Model):
    accountId: Id = None  # noqa: N815 - Jira's names
    key: Id = None
    name: str | None = None
    emailAddress: str | None = None  # noqa: N815

    @property
    def ident(self) -> str | None:
        return self.accountId or self.key


class Named(_Model):
    id: Id = None
    key: str | None = None
    name: str | None = None


class Status(_Model):
    id: Id = None
    statusCategory: Named | None = None  # noqa: N815


class Comment(_Model):
    id: Id = None
    link: str | None = Field(default=None, alias="self")
    author: User | None = None
    updateAuthor: User | None = None  # noqa: N815
    created: Time = None
    updated: Time = None


class CommentPage(_Model):
    comments: list[Comment] = []
    total: int | None = None


class Item(_Model):
    field: str | None = None
    fieldId: str | None = None  # noqa: N815
    old: Id = Field(default=None, alias="from")
    new: Id = Field(default=None, alias="to")
    toString: str | None = None  # noqa: N815

    @property
    def name(self) -> str:
        return (self.fieldId or self.field or "").lower()


class History(_Model):
    id: Id = None
    author: User | None = None
    created: Time = None
    items: list[Item] = []


class Changelog(_Model):
    histories: list[History] = []
    total: int | None = None
    maxResults: int | None = None  # noqa: N815


class Fields(_Model):
    project: Named | None = None
    issuetype: Named | None = None
    priority: Named | None = None
    labels: list[str] | None = None
    status: Status | None = None
    assignee: User | None = None
    reporter: User | None = None
    creator: User | None = None
    created: Time = None
    updated: Time = None
    comment: CommentPage | None = None


class Issue(_Model):
    id: Id = None
    key: str | None = None
    fields: Fields = Fields()
    changelog: Changelog | None = None


# --- helpers shared by both paths ---


def identity(user: User | None) -> dict[str, str] | None:
    """A Jira user as an identity dict, or None without a stable id."""
    if user is None or not user.ident:
        return None
    found = {"id": user.ident, "login": user.name, "email": user.emailAddress}
    return {"system": SYSTEM, **{k: v for k, v in found.items() if v}}


def _bare(user_id: str | None, *known: User | None) -> dict[str, str] | None:
    """The identity of a changelog id: the full user when one of `known` has that id."""
    if not user_id:
        return None
    for user in known:
        if user is not None and user_id in (user.accountId, user.key):
            return identity(user)
    return {"system": SYSTEM, "id": user_id}


def _first(*candidates: dict[str, str] | None) -> dict[str, str] | None:
    return next((c for c in candidates if c is not None), None)


def _context(issue: Issue) -> dict[str, Any]:
    f = issue.fields
    return {
        "ticket": issue.key,
        "project": f.project.key if f.project else None,
        "issue_type": f.issuetype.name if f.issuetype else None,
        "priority": f.priority.name if f.priority else None,
        "labels": f.labels,
    }


def issue_id_of_comment(comment: Comment) -> str | None:
    """Data Center's comment webhooks carry no issue: its id is in the comment's `self` link."""
    found = _COMMENT_SELF.search(comment.link or "")
    return found.group(1) if found else None


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- drafts ---


def created_draft(issue: Issue, *, fallback: User | None = None) -> Draft | None:
    """`ticket.created`, or None without an issue id, a creation time or an actor."""
    f = issue.fields
    actor = _first(identity(f.reporter), identity(f.creator), identity(fallback))
    if not issue.id or f.created is None or actor is None:
        return None
    return Draft(type="ticket.created", stable_id=f"{issue.id}:created", time=f.created, actor=actor,
                 subject=issue.key, data=_context(issue))


def comment_draft(issue: Issue, comment: Comment) -> Draft | None:
    """`ticket.commented`, or None when the comment lacks an id, a time or an author."""
    issue_id = issue.id or issue_id_of_comment(comment)
    actor = _first(identity(comment.author), identity(comment.updateAuthor))
    if not issue_id or not comment.id or comment.created is None or actor is None:
        return None
    data = {**_context(issue), "comment_id": comment.id}
    return Draft(type="ticket.commented", stable_id=f"{issue_id}:comment:{comment.id}",
                 time=comment.created, actor=actor, subject=issue.key, data=data)


def _into_done(item: Item, categories: dict[str, str]) -> bool:
    if item.name == "resolution":
        return not item.old and bool(item.new)
    if item.name == "status" and item.new:
        return categories.get(item.new) == _DONE and categories.get(item.old or "") != _DONE
    return False


def assignee_after(histories: Sequence[History], index: int, current: User | None) -> dict[str, str] | None:
    """Who was assigned right after `histories[index]`: that history's own assignee change,
    else the `from` of the next later change, else the issue's current assignee."""
    for history in histories[index:]:
        for item in history.items:
            if item.name == "assignee":
                value = item.new if history is histories[index] else item.old
                return _bare(value, current)
    return identity(current)


def history_drafts(issue: Issue, histories: Sequence[History], index: int, *,
                   categories: dict[str, str], when: datetime | None = None) -> list[Draft]:
    """The events of `histories[index]` (ordered oldest first): resolved and/or reassigned."""
    history = histories[index]
    time = history.created or when
    if not issue.id or not history.id or time is None:
        return []
    f = issue.fields
    changes = [{"issue": issue.id, "field": item.name or None, "from": item.old, "to": item.new,
                "time": _stamp(time)} for item in history.items]
    base = {**_context(issue), "history_id": history.id, "changes": changes}
    drafts = []
    author = identity(history.author)
    if any(_into_done(item, categories) for item in history.items):
        resolution = next((i.toString for i in history.items if i.name == "resolution" and i.new), None)
        actor = _first(assignee_after(histories, index, f.assignee), author)
        if actor is not None:
            drafts.append(Draft(type="ticket.resolved", stable_id=f"{issue.id}:{history.id}", time=time,
                                actor=actor, subject=issue.key, data={**base, "resolution": resolution}))
    for item in history.items:
        if item.name == "assignee":
            actor = _first(_bare(item.new, f.assignee), author)
            suffix = ":reassigned" if drafts else ""
            if actor is not None:
                drafts.append(Draft(type="ticket.reassigned", stable_id=f"{issue.id}:{history.id}{suffix}",
                                    time=time, actor=actor, subject=issue.key,
                                    data={**base, "from": item.old, "to": item.new}))
            break
    return drafts


def categories_of(issue: Issue, known: dict[str, str] | None = None) -> dict[str, str]:
    """Status id → category key: the server's list, completed by the issue's current status."""
    found = dict(known or {})
    status = issue.fields.status
    if status and status.id and status.statusCategory and status.statusCategory.key:
        found.setdefault(status.id, status.statusCategory.key)
    return found


def ordered(histories: Iterable[History]) -> list[History]:
    """Histories oldest first (REST gives newest first on Cloud, oldest first on Data Center)."""
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(histories, key=lambda h: (h.created or floor, _numeric(h.id)))


def _numeric(value: str | None) -> tuple[int, str]:
    text = value or ""
    return (int(text), "") if text.isdigit() and len(text) < 19 else (0, short(text))

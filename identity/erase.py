"""Erasure (issue 11 item 7): pseudonymise a person's personal data in the store, in place.

What is personal: the person's logins and email addresses (their links, and the SCIM user's
`userName`, emails and name parts), and the free text of their own events (message, title,
body, comment, name fields). Each value becomes `erased-<hash>`, the same token wherever it
occurs (deterministic per tenant and value), so counts, `distinct` rules and grants stay
exactly as they were; free text of the person's events becomes `[erased]`.

Where it is rewritten: event `data` (every event of the tenant that mentions a value, e.g. a
reviewer's login in someone else's pull request, and the person's own free text), quarantine
bodies and headers, xAPI statements, the identity links and recorded conflicts, the audit's
`identity`/`before`/`after`, parked events' keys, SCIM users and their change log, feed items
and delivery details.
This is the one documented exception to the append-only log: an event's `source`, `id`, type
and time are untouched, so dedupe keys hold, and evidence digests (over `source#id`) stay
valid. Quarantine `body_sha256` keeps describing the body as received.

Nothing needs erasing in Temporal: workflow ids, inputs, results and search attributes carry
opaque ids only (DESIGN §7); `tests/identity/test_erase_temporal.py` proves it on histories.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select, update

from identity import audit
from identity.recompute import route_log
from store.schema import (
    deliveries,
    events,
    feed,
    identities,
    identity_audit,
    identity_conflicts,
    parked_keys,
    quarantine,
    scim_changes,
    scim_users,
    xapi_statements,
)

__all__ = ["ERASED_TEXT", "Erasure", "erase_person", "personal_values"]

ERASED_TEXT = "[erased]"
_FREE_TEXT = frozenset({"message", "title", "body", "comment", "text", "name", "display_name",
                        "displayname", "full_name", "description", "activity_name"})
_NAME_PARTS = ("formatted", "givenName", "familyName", "middleName")
_MIN_LENGTH = 3  # shorter values would match inside unrelated words


@dataclass
class Erasure:
    person: str
    values: int = 0
    rewritten: dict[str, int] = field(default_factory=dict)


def pseudonym(tenant: str, value: str) -> str:
    digest = hashlib.sha256(f"{tenant}\x1f{value.lower()}".encode()).hexdigest()[:16]
    return f"erased-{digest}"


def personal_values(conn: Connection, tenant: str, person: str) -> set[str]:
    """Logins, emails and names the store holds for `person`."""
    values = {str(r.value) for r in conn.execute(select(identities.c.value, identities.c.kind).where(
        identities.c.tenant == tenant, identities.c.person_id == person,
        identities.c.kind.in_(["login", "email"]) | (identities.c.system == "email")))}
    for resource in conn.execute(select(scim_users.c.resource).where(
            scim_users.c.tenant == tenant, scim_users.c.person_id == person)).scalars():
        values |= _scim_values(resource)
    for change in conn.execute(select(scim_changes.c.before, scim_changes.c.after).where(
            scim_changes.c.tenant == tenant, scim_changes.c.person_id == person)):
        for side in (change.before, change.after):
            values |= _scim_values(side or {})
    return {v for v in values if v and len(v) >= _MIN_LENGTH and not v.startswith("erased-")}


def _scim_values(resource: dict[str, Any]) -> set[str]:
    name = resource.get("name") or {}
    found = {resource.get("userName"), resource.get("displayName"), resource.get("nickName"),
             *(name.get(part) for part in _NAME_PARTS),
             *(e.get("value") if isinstance(e, dict) else e for e in resource.get("emails") or [])}
    return {str(v) for v in found if v}


class _Rewriter:
    """Replaces every value (case-insensitively, as a whole token) by its pseudonym."""

    def __init__(self, tenant: str, values: set[str]) -> None:
        ordered = sorted(values, key=len, reverse=True)
        self._tokens = {v.lower(): pseudonym(tenant, v) for v in ordered}
        alternation = "|".join(re.escape(v) for v in ordered) or r"(?!x)x"
        self._pattern = re.compile(rf"(?<![\w.+-])(?:{alternation})(?![\w-])", re.IGNORECASE)

    def text(self, value: str) -> str:
        return self._pattern.sub(lambda m: self._tokens[m.group(0).lower()], value)

    def json(self, value: Any, *, free_text: bool = False) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v, free_text=free_text) for v in value]
        if isinstance(value, dict):
            return {k: ERASED_TEXT if free_text and k.lower() in _FREE_TEXT and isinstance(v, str)
                    else self.json(v, free_text=free_text) for k, v in value.items()}
        return value


def erase_person(conn: Connection, tenant: str, person: str, *, actor: str, reason: str) -> Erasure:
    """Pseudonymise `person` everywhere in the store, in the caller's transaction."""
    values = personal_values(conn, tenant, person)
    rewrite = _Rewriter(tenant, values)
    report = Erasure(person=person, values=len(values))
    report.rewritten["events"] = _rewrite_events(conn, tenant, person, rewrite)
    for table, columns in _TABLES:
        report.rewritten[table.name] = _rewrite_rows(conn, table, tenant, columns, rewrite.json)
    report.rewritten["identities"] = _rewrite_links(conn, tenant, rewrite)
    audit.record(conn, tenant, actor=actor, action="erase", person=person, reason=reason,
                 after={"values": len(values), "rewritten": report.rewritten})
    return report


def _rewrite_events(conn: Connection, tenant: str, person: str, rewrite: _Rewriter) -> int:
    changed = 0
    for row in route_log(conn, tenant):
        own = row.route is not None and row.route.person_id == person
        body = row.event.to_json_dict()
        data = rewrite.json(body["data"], free_text=own)
        if data != body["data"]:
            conn.execute(update(events).where(events.c.seq == row.seq).values(body={**body, "data": data}))
            changed += 1
    return changed


def _rewrite_rows(conn: Connection, table: Table, tenant: str, columns: tuple[str, ...],
                  rewrite: Callable[[Any], Any]) -> int:
    """Rewrite `columns` of the tenant's rows, each row found again by its primary key."""
    changed = 0
    keys = list(table.primary_key.columns)
    cols = [table.c[name] for name in columns if table.c[name] not in keys]
    for row in conn.execute(select(*keys, *cols).where(table.c.tenant == tenant)).mappings():
        new = {name: rewrite(row[name]) for name in columns}
        if any(new[name] != row[name] for name in columns):
            conn.execute(update(table).where(*(k == row[k.name] for k in keys)).values(**new))
            changed += 1
    return changed


def _rewrite_links(conn: Connection, tenant: str, rewrite: _Rewriter) -> int:
    rows = conn.execute(select(identities).where(identities.c.tenant == tenant)).all()
    changed = 0
    for r in rows:
        new = rewrite.text(r.value)
        if new != r.value:
            conn.execute(update(identities).where(
                identities.c.tenant == tenant, identities.c.system == r.system, identities.c.kind == r.kind,
                identities.c.value == r.value).values(value=new))
            changed += 1
    return changed


_TABLES: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (quarantine, ("body", "headers", "reason")),
    (xapi_statements, ("agent", "related_agents", "body")),
    (scim_users, ("user_name", "user_name_key", "resource")),
    (scim_changes, ("before", "after")),
    (feed, ("title", "body")),
    (deliveries, ("detail", "last_error")),
    (identity_conflicts, ("value",)),
    (parked_keys, ("value",)),
    (identity_audit, ("identity", "before", "after", "reason")),
)

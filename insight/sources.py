"""Which identity systems a rule's events come from, for "no GitLab identity linked".

A rule names canonical event types, not vendors. The systems that can produce them are read
from the tenant's config: each enabled connector whose vendor emits one of the types (the
table below, checked against every connector's real fixtures by `tests/insight`), with the
identity system its events' actors carry: the vendor slug, and for xAPI the connector's
`account_system` (or an email, or its SHA-1, when the statement's actor is an `mbox`: any of
them is a link). An actor's email can also match a person's `email:` link (GitHub shows a
public email), so "no GitLab identity linked" says what is missing in the person's links, not
that no GitLab event can ever count. Events that API clients post (`POST /v1/events`, `accolade emit`) carry
whatever actor system the client chose, so they are not predicted: a rule whose types only
API clients send has no identity line.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.models import TenantSettings

__all__ = ["DISPLAY_NAMES", "VENDOR_TYPES", "display_name", "source_systems", "unlinked_sources"]

_LMS = frozenset({"lms.activity.completed", "lms.activity.attempted", "lms.activity.answered",
                  "lms.activity.experienced", "lms.course.completed", "lms.assessment.passed",
                  "lms.assessment.failed"})
_IAM = frozenset({"iam.user.provisioned", "iam.user.updated", "iam.user.deprovisioned",
                  "iam.group.member_added", "iam.group.member_removed"})
_SCM = frozenset({"ci.pipeline.completed", "deploy.completed", "code.change.merged", "ticket.resolved"})

VENDOR_TYPES: dict[str, frozenset[str]] = {
    "github": _SCM | {"code.review.submitted"},
    "gitlab": _SCM,
    "jira": frozenset({"ticket.created", "ticket.resolved", "ticket.reassigned", "ticket.commented"}),
    "canvas": frozenset({"lms.assignment.graded", "lms.course.completed"}),
    "xapi": _LMS,
    "okta": _IAM | {"iam.user.signed_in"},
    "scim": _IAM,
}

DISPLAY_NAMES = {"github": "GitHub", "gitlab": "GitLab", "jira": "Jira", "canvas": "Canvas",
                 "moodle": "Moodle", "okta": "Okta", "scim": "SCIM", "entra": "Entra ID",
                 "email": "email", "slack": "Slack", "employee": "employee"}


def display_name(system: str) -> str:
    return DISPLAY_NAMES.get(system, system)


def source_systems(tenant: TenantSettings, event_types: Iterable[str]) -> list[tuple[str, frozenset[str]]]:
    """Per enabled connector that emits any of `event_types`: its identity system, and the
    systems any of which links its actors (xAPI: the account system, or the mbox forms)."""
    wanted = set(event_types)
    found: dict[str, frozenset[str]] = {}
    for connector in tenant.connectors:
        if connector.enabled and VENDOR_TYPES.get(connector.vendor, frozenset()) & wanted:
            system = str(getattr(connector, "account_system", None) or getattr(connector, "system", None)
                         or connector.vendor)
            extra = _MBOX if connector.vendor == "xapi" else frozenset()
            found[system] = found.get(system, frozenset()) | {system} | extra
    return list(found.items())


_MBOX = frozenset({"email", "mbox_sha1sum", "openid"})


def unlinked_sources(tenant: TenantSettings, event_types: Iterable[str], linked: set[str]) -> list[str]:
    """Display names of the rule's source systems the person has no link in."""
    return [display_name(system) for system, accepted in source_systems(tenant, event_types)
            if not accepted & linked]

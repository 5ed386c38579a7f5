"""Which identity systems a rule's events come from, for "no GitLab identity linked".

A rule names canonical event types, not vendors. The systems that can produce them are read
from the tenant's config: each enabled connector whose vendor emits one of the types (the
table below, checked against every connector's real fixtures by `tests/insight`), with the
identity system its events' actors carry: the vendor slug, and for xAPI the connector's
`account_system`. Events that API clients post (`POST /v1/events`, `accolade emit`) carry
whatever actor system the client chose, so they are not predicted: a rule whose types only
API clients send has no identity line.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.models import TenantSettings

__all__ = ["DISPLAY_NAMES", "VENDOR_TYPES", "display_name", "source_systems"]

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


def source_systems(tenant: TenantSettings, event_types: Iterable[str]) -> list[str]:
    """Identity systems of the tenant's enabled connectors that emit any of `event_types`."""
    wanted = set(event_types)
    found: list[str] = []
    for connector in tenant.connectors:
        if connector.enabled and VENDOR_TYPES.get(connector.vendor, frozenset()) & wanted:
            system = str(getattr(connector, "account_system", None) or getattr(connector, "system", None)
                         or connector.vendor)
            if system not in found:
                found.append(system)
    return found

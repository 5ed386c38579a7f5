"""Dead letters: a delivery that failed for good opens an incident; the next success closes it.

An **incident** is (tenant, channel, reason class) while open: the first delivery on that
channel that fails for good with a reason of that class opens it and sends ONE admin alert;
further failures of the same class on the channel are counted in `accolade deliveries
--failed`, not alerted again. The next delivery `sent` on that channel resolves every open
incident of the channel, with one "resolved" alert each. A failure of another class on the
same channel is another incident (an SMTP server down and a mailbox refused are two problems).

Reason classes (`reason_class`, from the classified reason each channel writes):

    auth      credentials refused or revoked (HTTP 401/403, `invalid_auth`, SMTP 530/535)
    gone      the endpoint is retired (HTTP 410)
    limited   rate limits outlasted the retries (HTTP 429, `ratelimited`)
    network   the server could not be reached (refused, reset, timed out, DNS)
    server    the server kept failing (HTTP 5xx, SMTP 4xx)
    rejected  the server refused this message (other 4xx, SMTP 5xx, Slack's permanent errors)
    config    the achievement or channel is no longer configured
    other     anything else

The incident rows live beside connector incidents (`store.incidents`, kind
`channel:<class>`), and their alerts go through the same `admin_alert`, each claimed in the
transaction that writes it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TextIO

from sqlalchemy import Connection

from activities.alerts import admin_alert
from config.models import TenantSettings
from store.incidents import (
    CHANNEL_KIND,
    Incident,
    channel_incidents,
    claim_notice,
    open_incident,
    resolve_incident,
)

__all__ = ["REASON_CLASSES", "open_failure_incident", "reason_class", "resolve_channel_incidents"]

_RULES: tuple[tuple[str, str], ...] = (
    ("config", r"no longer configured"),
    ("auth", r"HTTP 40[13]\b|invalid_auth|not_authed|token_revoked|token_expired|account_inactive|"
             r"missing_scope|SMTP 53[05]\b|credentials"),
    ("gone", r"HTTP 410\b"),
    ("limited", r"HTTP 429\b|ratelimited"),
    ("network", r"unreachable|timed out|Timeout|ConnectError|Connection\w*Error|refused\b|"
                r"SMTPServerDisconnected|gaierror|OSError|NetworkError"),
    ("server", r"HTTP 5\d\d\b|SMTP 4\d\d\b|internal_error|fatal_error"),
    ("rejected", r"HTTP 4\d\d\b|SMTP 5\d\d\b|channel_not_found|is_archived|user_disabled|"
                 r"cannot_dm_bot|not_in_channel|STARTTLS|certificate"),
)
REASON_CLASSES = tuple(name for name, _ in _RULES) + ("other",)


def reason_class(reason: str) -> str:
    """The class of a failure reason, first rule that matches (see the module docstring)."""
    return next((name for name, pattern in _RULES if re.search(pattern, reason)), "other")


def open_failure_incident(conn: Connection, tenant: TenantSettings, channel: str, reason: str, *,
                          console: TextIO) -> int | None:
    """In the caller's transaction (the one marking the delivery failed): open the channel's
    incident of this reason's class unless one is open, and alert once. Returns the new
    incident's id, or None when one was open already."""
    now = datetime.now(UTC)
    klass = reason_class(reason)
    incident = open_incident(conn, tenant.id, channel, CHANNEL_KIND + klass, reason, now=now)
    if incident is None or not claim_notice(conn, incident, "open", now=now):
        return None
    admin_alert(tenant, f"deliveries via {channel} are failing ({klass}): {reason}; "
                        "see `accolade deliveries --failed`, then `accolade deliveries retry`",
                incident=incident, console=console)
    return incident


def resolve_channel_incidents(conn: Connection, tenant: TenantSettings, channel: str, *,
                              console: TextIO) -> list[int]:
    """In the caller's transaction (the one marking a delivery sent): resolve the channel's
    open incidents, one "resolved" alert each. Cheap when none is open: one indexed read."""
    now = datetime.now(UTC)
    resolved = []
    for incident in channel_incidents(conn, tenant.id, channel):
        if resolve_incident(conn, incident.id, now=now) and \
                claim_notice(conn, incident.id, "resolved", now=now):
            admin_alert(tenant, _resolved_text(incident), incident=incident.id, console=console)
            resolved.append(incident.id)
    return resolved


def _resolved_text(incident: Incident) -> str:
    klass = incident.kind.removeprefix(CHANNEL_KIND)
    return (f"deliveries via {incident.connector} succeed again ({klass} incident opened "
            f"{incident.opened_at:%Y-%m-%d %H:%M:%S} UTC)")


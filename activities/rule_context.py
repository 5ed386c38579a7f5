"""The `RuleContext` of one round, built from the tenant's settings and the store.

One function, called by the evaluation activity for every round and by `accolade simulate`,
`accolade why`, `person show` and their API routes, so what they explain and simulate runs in
exactly the context the live evaluation runs in: the tenant's zone, week start and allowed
lateness, each person's own zone, and the `without` index for the keys the caller needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection

from config.models import TenantSettings
from rules.engine import RuleContext
from store.profiles import person_zones

__all__ = ["WEEKDAYS", "rule_context"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def rule_context(conn: Connection, tenant: TenantSettings, person_ids: Iterable[str], *,
                 first_seen: Mapping[tuple[str, str, str], datetime] | None = None) -> RuleContext:
    """The context for evaluating (or explaining) `person_ids`; `first_seen` is what the caller
    read from the `without` index (or, for a simulation, from the log and its events)."""
    return RuleContext(
        tenant=tenant.id, time_zone=tenant.time_zone, week_start=WEEKDAYS.index(tenant.week_start),
        allowed_lateness=tenant.allowed_lateness, person_zones=person_zones(conn, tenant.id, person_ids),
        first_seen=dict(first_seen or {}))

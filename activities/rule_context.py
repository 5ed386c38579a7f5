"""The `RuleContext` of a read: the live round's context, with the persons' zones from the store.

`accolade simulate`, `accolade why`, `person show` and their API routes build their context
here, on top of the evaluation round's own `activities.shard_round.rule_context` (the
tenant's zone, week start and allowed lateness), so what they explain and simulate runs in the
context the live evaluation runs in: each person's zone (`store.profiles.person_zones`), and
the `without` index entries the caller needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection

from activities.shard_round import rule_context as settings_context
from config.models import TenantSettings
from rules.engine import RuleContext
from store.profiles import person_zones

__all__ = ["read_context"]


def read_context(conn: Connection, tenant: TenantSettings, person_ids: Iterable[str], *,
                 first_seen: Mapping[tuple[str, str, str], datetime] | None = None) -> RuleContext:
    """The context for evaluating (or explaining) `person_ids`; `first_seen` is what the caller
    read from the `without` index (or, for a simulation, from the log and its events)."""
    return settings_context(tenant, person_zones=person_zones(conn, tenant.id, person_ids),
                            first_seen=dict(first_seen or {}))

"""Apply the config's declared people (DESIGN §7 `people`) to the store."""

from __future__ import annotations

from sqlalchemy import Engine

from config.models import TenantSettings
from identity.refs import parse_identity_ref
from identity.resolve import link_identity

__all__ = ["sync_people"]


def sync_people(engine: Engine, tenant: TenantSettings) -> int:
    """Link every declared identity (idempotent); returns how many parked events were released."""
    released = 0
    with engine.begin() as conn:
        for person in tenant.people:
            for text in person.identities:
                released += link_identity(
                    conn, tenant.id, person.person, parse_identity_ref(text),
                    origin="config", shards=tenant.shards,
                )
    return released

"""Apply the config's declared people (DESIGN §7 `people`) to the store."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from config.models import TenantSettings
from identity.refs import parse_identity_ref
from identity.resolve import LinkConflict, link_identity

__all__ = ["sync_people"]

log = logging.getLogger("accolade.identity")


def sync_people(engine: Engine, tenant: TenantSettings) -> int:
    """Link every declared identity (idempotent); returns how many parked events were released.

    A declared key that IAM (SCIM, Okta) holds for another person stays IAM's: a recorded
    conflict (`accolade identity conflicts`), not a failed start."""
    released = 0
    with engine.begin() as conn:
        for person in tenant.people:
            for text in person.identities:
                try:
                    released += link_identity(
                        conn, tenant.id, person.person, parse_identity_ref(text), origin="config",
                        shards=tenant.shards, actor="config", shared_mailboxes=tenant.shared_mailboxes,
                    )
                except LinkConflict:
                    log.warning("tenant %s: a declared identity of %s is held by another person; "
                                "see `accolade identity conflicts`", tenant.id, person.person)
    return released

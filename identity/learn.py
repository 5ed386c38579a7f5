"""Links learned from a vendor payload (origin `payload`, below an admin's; identity.precedence).

A connector event whose actor resolved only through its email (the address is linked, the
actor's stable id in that system is not) teaches the hub that id: an LMS learner's Canvas id
seen beside their verified email on a course completion, a Jira `accountId` beside its
address. The id is linked to the same person, so the learner's next events, which carry the
id alone (Canvas submissions), resolve instead of waiting parked, and the ones already parked
are released. Only connector events teach (an API client may put any address in its events),
never a key another person holds (a recorded conflict at most), never a never-linked one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection

from config.models import TenantSettings
from identity.precedence import NeverLinked
from identity.refs import IdentityRef
from identity.resolve import LinkConflict, link_identity
from rules.events import RESERVED_SOURCE_PREFIX, CloudEvent
from store.eventlog import Route

__all__ = ["learn_links"]

log = logging.getLogger("accolade.identity")


def learn_links(conn: Connection, tenant: TenantSettings, batch: Sequence[CloudEvent],
                routes: Sequence[Route | None]) -> int:
    """Link the stable ids that only an email resolved; returns how many parked events that released."""
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for event, route in zip(batch, routes, strict=True):
        actor = event.actor
        if (route is None or route.decision.get("link") != "email:id" or not actor.id
                or not event.source.startswith(RESERVED_SOURCE_PREFIX)):
            continue
        wanted.setdefault((actor.system, actor.id), (route.person_id, event.source.rsplit("/", 1)[-1]))
    released = 0
    for (system, actor_id), (person, connector) in sorted(wanted.items()):  # one lock order
        try:
            released += link_identity(
                conn, tenant.id, person, IdentityRef(system, actor_id, "id"), origin="payload",
                shards=tenant.shards, actor=f"payload:{connector}", reason="seen beside a linked email",
                shared_mailboxes=tenant.shared_mailboxes)
        except (LinkConflict, NeverLinked) as exc:
            log.info("tenant %s: %s:id not learned (%s)", tenant.id, system, type(exc).__name__)
    return released

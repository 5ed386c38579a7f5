"""IAM lifecycle events that change whether a person may be reached (issue 11 items 2, 3).

SCIM writes suspend and resume in its own transaction (`connectors.scim.users`). Okta's event
hooks say the same thing as events: `user.lifecycle.deactivate`/`suspend` arrive as
`iam.user.deprovisioned` and suspend the person's deliveries like a SCIM deprovisioning;
`activate`/`unsuspend` arrive as `iam.user.updated` with `change: activated|unsuspended` and
resume them. Only events of an `okta` connector do this (an API client cannot post a
deprovisioning), applied in the transaction that appends them, once (a duplicate is not
applied again), and audited as `okta`. An event older than the current suspension does not
lift it: an Okta retry of an old `activate` cannot undo a newer deactivation.

Grants made while a person is deprovisioned keep their deliveries `suppressed`
(`deprovisioned`) after reactivation; see the README ("Identity", deprovisioning) for why.
"""

from __future__ import annotations

from sqlalchemy import Connection

from config.models import TenantSettings
from identity import audit
from rules.events import RESERVED_SOURCE_PREFIX, CloudEvent
from store.eventlog import Route
from store.suspended import set_suspended, suspended_since

__all__ = ["apply_lifecycle"]

_RESUMING = ("activated", "unsuspended")


def _vendor(tenant: TenantSettings, event: CloudEvent) -> str | None:
    prefix = f"{RESERVED_SOURCE_PREFIX}{tenant.id}/"
    if not event.source.startswith(prefix):
        return None
    connector = tenant.connector(event.source.removeprefix(prefix))
    return connector.vendor if connector is not None else None


def apply_lifecycle(conn: Connection, tenant: TenantSettings, event: CloudEvent, route: Route | None) -> None:
    """Suspend or resume the event's person when an Okta hook says so (a newly stored event)."""
    if route is None or not event.type.startswith("iam.user.") or _vendor(tenant, event) != "okta":
        return
    person = route.person_id
    if event.type == "iam.user.deprovisioned":
        set_suspended(conn, tenant.id, person, True, since=event.time)
        audit.record(conn, tenant.id, actor="okta", action="okta.deprovisioned", person=person,
                     reason=str(event.data.get("reason") or "deactivated"), after={"suspended": True})
    elif event.type == "iam.user.updated" and event.data.get("change") in _RESUMING:
        since = suspended_since(conn, tenant.id, person)
        if since is None or since > event.time:
            return
        set_suspended(conn, tenant.id, person, False)
        audit.record(conn, tenant.id, actor="okta", action="okta.reactivated", person=person,
                     reason=str(event.data["change"]), before={"suspended": True}, after={"suspended": False})


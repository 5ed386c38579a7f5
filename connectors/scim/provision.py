"""What a SCIM user write does to identity: links, suspension, and canonical events.

A SCIM user is a person. Its identity values become links with origin `scim`:

| SCIM attribute | link |
|---|---|
| `id` (the hub's) | `scim:id=<id>` |
| `userName` | `scim:login=<userName>`, and `email:<userName>` when it is an address |
| `externalId` | `<external_system>:id=<externalId>` (`okta:id=00u…`, `entra:id=<object id>`) |
| enterprise `employeeNumber` | `employee:id=<number>` |
| `emails` of type work (or untyped) | `email:<address>` |

A new user joins the person an existing link already names (e.g. `email:` declared in config)
unless another SCIM user is that person, else a new person whose id is the SCIM id (opaque:
no personal data reaches Temporal). A value that moved (a renamed userName, a new work
email) loses its old link and gains the new one;
`scim_changes` and the identity audit keep before and after. A value already linked to
another person through an equal source (another SCIM user's email) is not taken and is a
recorded conflict (`accolade identity conflicts`); one held through a lower source (config,
an admin, a lookup) moves to this person, likewise recorded (`identity.precedence`). A value
that is never linked (a tenant's shared mailbox) is skipped.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scim2_models import InvalidValueException
from sqlalchemy import Connection, delete, insert, select

from config.models import TenantSettings
from identity import audit
from identity.precedence import NeverLinked
from identity.refs import IdentityRef
from identity.resolve import LinkConflict, UnknownIdentity, find_person, link_identity, stored_key
from intake.ingest import append_validated
from rules.events import CloudEvent
from store.profiles import set_profile
from store.schema import identities, scim_changes, scim_users
from store.suspended import DEPROVISIONED, is_suspended, set_suspended

__all__ = ["DEPROVISIONED", "emit", "identity_values", "is_suspended", "link_user", "person_for",
           "record_change", "refs_of", "set_profile_from", "set_suspended"]

log = logging.getLogger("accolade.scim")
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def identity_values(resource: dict[str, Any]) -> dict[str, Any]:
    """The identity-bearing values of a stored SCIM user body (what `scim_changes` records)."""
    emails = sorted({str(e["value"]).lower() for e in resource.get("emails") or []
                     if e.get("value") and e.get("type") in (None, "work")})
    return {"userName": resource.get("userName"), "externalId": resource.get("externalId"),
            "employeeNumber": (resource.get(ENTERPRISE) or {}).get("employeeNumber"),
            "emails": emails, "active": resource.get("active", True) is not False}


def refs_of(scim_id: str, values: dict[str, Any], external_system: str) -> list[IdentityRef]:
    """Links in order of trust: immutable ids first, then the attributes that may move."""
    refs = [IdentityRef("scim", scim_id, "id")]
    if values.get("externalId"):
        refs.append(IdentityRef(external_system, str(values["externalId"]), "id"))
    if values.get("employeeNumber"):
        refs.append(IdentityRef("employee", str(values["employeeNumber"]), "id"))
    user_name = str(values.get("userName") or "")
    if user_name:
        refs.append(IdentityRef("scim", user_name, "login"))
    addresses = list(values.get("emails") or [])
    if "@" in user_name and user_name.lower() not in addresses:
        addresses.append(user_name.lower())
    refs.extend(IdentityRef("email", address, "id") for address in addresses)
    return refs


def person_for(conn: Connection, tenant: str, scim_id: str, values: dict[str, Any],
               external_system: str) -> str:
    """The person a new SCIM user is: the one its most trusted existing link names, else new.

    A person another SCIM user already is, is never joined: the IAM system manages them as
    two users (a shared employee number is a conflict for the identity audit, not a merge)."""
    for ref in refs_of(scim_id, values, external_system):
        try:
            person = find_person(conn, tenant, ref)
        except UnknownIdentity:
            continue
        taken = conn.execute(select(scim_users.c.id).where(
            scim_users.c.tenant == tenant, scim_users.c.person_id == person)).first()
        if taken is None:
            return person
    return scim_id


def link_user(conn: Connection, tenant: TenantSettings, person: str, scim_id: str, *,
              before: dict[str, Any] | None, after: dict[str, Any], external_system: str) -> None:
    """Make the person's `scim` links match `after`: drop links of values that went away, add
    the new ones (releasing parked events they resolve)."""
    wanted = refs_of(scim_id, after, external_system)
    wanted_keys = {stored_key(ref) for ref in wanted}
    if before is not None:
        for ref in refs_of(scim_id, before, external_system):
            if stored_key(ref) not in wanted_keys:
                _unlink(conn, tenant.id, person, ref)
    for ref in wanted:
        try:
            link_identity(conn, tenant.id, person, ref, origin="scim", shards=tenant.shards,
                          actor="scim", shared_mailboxes=tenant.shared_mailboxes)
        except LinkConflict:
            log.warning("scim user %s: %s:%s is linked to another person; recorded as a conflict",
                        scim_id, ref.system, ref.kind)
        except NeverLinked:
            log.info("scim user %s: %s:%s is never linked; skipped", scim_id, ref.system, ref.kind)


def _unlink(conn: Connection, tenant: str, person: str, ref: IdentityRef) -> None:
    system, kind, value = stored_key(ref)
    gone = conn.execute(delete(identities).where(
        identities.c.tenant == tenant, identities.c.system == system, identities.c.kind == kind,
        identities.c.value == value, identities.c.person_id == person,
        identities.c.origin == "scim")).rowcount
    if gone:
        audit.record(conn, tenant, actor="scim", action="unlink", person=person,
                     identity=audit.key_text((system, kind, value)), reason="the SCIM value changed",
                     before={"origin": "scim"})


def record_change(conn: Connection, tenant: str, scim_id: str, person: str, action: str, *,
                  before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    conn.execute(insert(scim_changes).values(
        tenant=tenant, scim_id=scim_id, person_id=person, action=action,
        before=before, after=after, at=datetime.now(UTC)))
    audit.record(conn, tenant, actor="scim", action=f"scim.{action}", person=person,
                 identity=f"scim:id={scim_id}", before=before, after=after)


_LOCALE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,3}$")


def set_profile_from(conn: Connection, tenant: str, person: str, resource: dict[str, Any]) -> None:
    """The user's `timezone` and `locale` become the person's profile (source `scim`, below the
    person's own preference). An unknown zone or a malformed locale is a 400 invalidValue."""
    zone, locale = resource.get("timezone"), resource.get("locale")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            detail = f"timezone: {str(zone)[:64]!r} is not an IANA time zone"
            raise InvalidValueException(detail=detail) from None
    if locale is not None and not _LOCALE.match(str(locale)):
        raise InvalidValueException(detail=f"locale: {str(locale)[:35]!r} is not a language tag like en-US")
    set_profile(conn, tenant, person, source="scim", time_zone=zone, locale=locale)


def emit(conn: Connection, tenant: TenantSettings, connector: str, *, type: str, fact: str,
         scim_id: str, data: dict[str, Any]) -> set[int]:
    """Append one canonical `iam.*` event credited to the user's person, in the caller's
    transaction; returns the shards to notify after commit. `fact` makes the id (a SCIM write
    retried with the same resource version is one event)."""
    event = CloudEvent(id=fact, source=f"/accolade/{tenant.id}/{connector}", type=type,
                       time=datetime.now(UTC), data={"actor": {"system": "scim", "id": scim_id}, **data})
    dirty: set[int] = set()
    append_validated(conn, tenant, [(0, event)], dirty)
    return dirty

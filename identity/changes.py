"""Unlink and merge (issue 11 item 6): change the links, recompute, audit, in one transaction.

Both return the recompute's `Outcome` (grants gained and lost, events per person). With
`apply=False` the whole transaction is rolled back after computing it: the preview is the
very computation `apply=True` commits. Rules an admin cannot break:

- a link IAM made (origin `scim`/`okta`) is not unlinked by hand: the IAM system owns it;
- two persons that IAM manages as different users (each has a SCIM user) are never merged.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, delete, select, update

from config.models import TenantSettings
from identity import audit
from identity.precedence import IAM_ORIGINS
from identity.recompute import Outcome, recompute, route_log
from identity.refs import IdentityRef
from identity.resolve import derived_keys
from store.schema import identities, persons, scim_users, suspended_persons

__all__ = ["ChangeRefused", "merge", "unlink"]

Key = tuple[str, str, str]


class ChangeRefused(ValueError):
    """The change would break a rule (module docstring); nothing was changed."""


def unlink(engine: Engine, tenant: TenantSettings, person: str, ref: IdentityRef, *, actor: str,
           reason: str, apply: bool) -> Outcome:
    """Remove `ref` from `person` (and the keys derived from it), then recompute."""
    with engine.connect() as conn, conn.begin() as tx:
        before = route_log(conn, tenant.id)
        key, origin = _link_of(conn, tenant.id, person, ref)
        for gone in (key, *derived_keys(key)):
            conn.execute(delete(identities).where(*_where(tenant.id, gone), identities.c.person_id == person))
        audit.record(conn, tenant.id, actor=actor, action="unlink", person=person,
                     identity=audit.key_text(key), reason=reason, before={"person": person, "origin": origin})
        outcome = recompute(conn, tenant, before, route_log(conn, tenant.id), [person],
                            reason=f"unlinked {audit.key_text(key)} from {person}: {reason}")
        _finish(tx, apply)
    return outcome


def merge(engine: Engine, tenant: TenantSettings, source: str, into: str, *, actor: str, reason: str,
          apply: bool) -> Outcome:
    """Move every link of `source` to `into`, then recompute both."""
    if source == into:
        raise ChangeRefused("a person cannot be merged into itself")
    with engine.connect() as conn, conn.begin() as tx:
        _check_mergeable(conn, tenant.id, source, into)
        before = route_log(conn, tenant.id)
        links = _links(conn, tenant.id, source)
        conn.execute(update(identities).where(identities.c.tenant == tenant.id,
                                              identities.c.person_id == source).values(person_id=into))
        _move_scim_user(conn, tenant.id, source, into)
        audit.record(conn, tenant.id, actor=actor, action="merge", person=into, other=source, reason=reason,
                     before={"person": source, "links": links}, after={"person": into, "links": links})
        outcome = recompute(conn, tenant, before, route_log(conn, tenant.id), [source, into],
                            reason=f"merged {source} into {into}: {reason}")
        _finish(tx, apply)
    return outcome


def _finish(tx: object, apply: bool) -> None:
    if apply:
        tx.commit()  # type: ignore[attr-defined]
    else:
        tx.rollback()  # type: ignore[attr-defined]


def _where(tenant: str, key: Key) -> tuple[object, ...]:
    system, kind, value = key
    return (identities.c.tenant == tenant, identities.c.system == system, identities.c.kind == kind,
            identities.c.value == value)


def _link_of(conn: Connection, tenant: str, person: str, ref: IdentityRef) -> tuple[Key, str]:
    """The person's stored key that `ref` names, and its origin; refused when IAM made it."""
    for key in ref.candidates():
        row = conn.execute(select(identities.c.person_id, identities.c.origin)
                           .where(*_where(tenant, key))).first()
        if row is None:
            continue
        if row.person_id != person:
            raise ChangeRefused(f"{ref} is linked to person {row.person_id}, not {person}")
        if row.origin in IAM_ORIGINS:
            raise ChangeRefused(f"{ref} was linked by {row.origin}: change it in the IAM system, "
                                "which would put it back")
        return key, str(row.origin)
    raise ChangeRefused(f"{ref} is not linked to person {person}")


def _links(conn: Connection, tenant: str, person: str) -> list[dict[str, str]]:
    rows = conn.execute(select(identities).where(identities.c.tenant == tenant,
                                                 identities.c.person_id == person)
                        .order_by(identities.c.system, identities.c.kind, identities.c.value))
    return [{"identity": audit.key_text((r.system, r.kind, r.value)), "origin": r.origin} for r in rows]


def _check_mergeable(conn: Connection, tenant: str, source: str, into: str) -> None:
    known = set(conn.execute(select(persons.c.person_id).where(
        persons.c.tenant == tenant, persons.c.person_id.in_([source, into]))).scalars())
    for person in (source, into):
        if person not in known:
            raise ChangeRefused(f"no person {person} in tenant {tenant}")
    managed = set(conn.execute(select(scim_users.c.person_id).where(
        scim_users.c.tenant == tenant, scim_users.c.person_id.in_([source, into]))).scalars())
    if managed == {source, into}:
        raise ChangeRefused(f"{source} and {into} are different users in the IAM system (SCIM): "
                            "merge them there, not here")


def _move_scim_user(conn: Connection, tenant: str, source: str, into: str) -> None:
    """A merged person's SCIM user (and its deprovisioning) now belongs to `into`."""
    conn.execute(update(scim_users).where(scim_users.c.tenant == tenant, scim_users.c.person_id == source)
                 .values(person_id=into))
    held = conn.execute(select(suspended_persons).where(suspended_persons.c.tenant == tenant,
                                                        suspended_persons.c.person_id == source)).first()
    if held is not None:
        conn.execute(delete(suspended_persons).where(suspended_persons.c.tenant == tenant,
                                                     suspended_persons.c.person_id == source))
        taken = conn.execute(select(suspended_persons.c.person_id).where(
            suspended_persons.c.tenant == tenant, suspended_persons.c.person_id == into)).first()
        if taken is None:
            conn.execute(suspended_persons.insert().values(tenant=tenant, person_id=into, reason=held.reason,
                                                           since=held.since))

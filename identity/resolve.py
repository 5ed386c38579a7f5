"""Persons and their linked identities: resolution at ingest, links, and parked releases.

A link maps (system, kind, value) to a person. Resolution tries an actor's keys in order of
trust (stable id, then login, then email) and records which link decided it, so a grant can
later say *why* it is this person's.

Park and link never race. Ingest parks an event whose actor it cannot resolve; a link releases
the parked events of its key. On PostgreSQL (READ COMMITTED) an ingest could find no link, a
link could then commit and find nothing parked, and the ingest then park its event forever.
So both serialise on the identity key with a transaction-scoped advisory lock: ingest takes
the locks of an unresolved actor's keys and resolves it again before it parks (a link that
committed meanwhile is seen), and a link takes its key's lock before it writes and sweeps (a
park that committed meanwhile is found). SQLite needs no lock: every write transaction there
begins IMMEDIATE, so whole transactions already run one at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select, text, update

from identity import audit
from identity.conflicts import record_conflict
from identity.precedence import check_linkable, rank, translate_key
from identity.refs import IdentityRef
from rules.events import Actor, CloudEvent
from store._db import insert_for
from store.eventlog import Route, release_parked
from store.schema import events, identities, parked_keys, persons

__all__ = [
    "AmbiguousIdentity",
    "LinkConflict",
    "UnknownIdentity",
    "derived_keys",
    "find_person",
    "known_routes",
    "link_identity",
    "route_actors",
    "stored_key",
]

Key = tuple[str, str, str]


class UnknownIdentity(LookupError):
    pass


class AmbiguousIdentity(LookupError):
    def __init__(self, ref: IdentityRef, candidates: list[tuple[str, Key]]) -> None:
        self.candidates = candidates
        listing = ", ".join(f"{p} (via {s}:{k}={v})" for p, (s, k, v) in candidates)
        super().__init__(f"{ref} matches several persons: {listing}")


def stored_key(ref: IdentityRef) -> Key:
    """The key a link is stored under. Without an explicit kind, digits mean an id."""
    if ref.kind is not None or ref.system in ("email", "slack"):
        return ref.candidates()[0]
    kind = "id" if ref.value.isdigit() else "login"
    return (ref.system, kind, ref.value if kind == "id" else ref.value.lower())


def _lookup(conn: Connection, tenant: str, keys: Iterable[Key]) -> dict[Key, str]:
    """Persons of `keys`: one query per (system, kind), each an IN over values on the primary
    key. A row-value IN over (system, kind, value) tuples made SQLite scan the whole table
    (measured: most of the receiver's time inside its write transaction at 10,000 persons)."""
    groups: dict[tuple[str, str], set[str]] = {}
    for system, kind, value in keys:
        groups.setdefault((system, kind), set()).add(value)
    found: dict[Key, str] = {}
    for (system, kind), values in groups.items():
        params = {"tenant": tenant, "system": system, "kind": kind, "values": sorted(values)}
        found.update({(system, kind, r.value): r.person_id for r in conn.execute(_LOOKUP, params)})
    return found


# Built once: constructing the select per call cost more than running it.
_LOOKUP = select(identities.c.value, identities.c.person_id).where(
    identities.c.tenant == bindparam("tenant"), identities.c.system == bindparam("system"),
    identities.c.kind == bindparam("kind"), identities.c.value.in_(bindparam("values", expanding=True)))


def known_routes(conn: Connection, tenant: str, actors: Sequence[Actor]) -> list[Route | None]:
    """Look actors up without locking, e.g. before the appending transaction, to keep that
    short. A route found stays true (a link never moves to another person: `link_identity`
    refuses; a merge must re-route with its own audit); a None must be resolved again inside
    the transaction: pass the result to `route_actors(..., known=…)`."""
    found = _lookup(conn, tenant, (k for actor in actors for k in actor.keys()))
    return [_route(actor.keys(), found) for actor in actors]


def route_actors(
    conn: Connection, tenant: str, actors: Sequence[Actor], *, known: Sequence[Route | None] | None = None
) -> list[Route | None]:
    """Resolve each actor to a person (one query for the batch); None means park it.

    With `known` (from `known_routes`), only the actors it left unresolved are looked up.
    A None holds the keys' locks until the caller's transaction ends (module docstring), so
    the caller must park in this same transaction.
    """
    if known is None:
        routes = known_routes(conn, tenant, actors)
    else:
        pending = [i for i, route in enumerate(known) if route is None]
        routes = list(known)
        if pending:
            again = known_routes(conn, tenant, [actors[i] for i in pending])
            for i, route in zip(pending, again, strict=True):
                routes[i] = route
    unknown = [actor for actor, route in zip(actors, routes, strict=True) if route is None]
    if unknown and conn.dialect.name == "postgresql":
        _lock_keys(conn, tenant, (k for actor in unknown for k in actor.keys()))
        found = _lookup(conn, tenant, (k for actor in unknown for k in actor.keys()))
        routes = [route or _route(actor.keys(), found) for actor, route in zip(actors, routes, strict=True)]
    return routes


def _lock_keys(conn: Connection, tenant: str, keys: Iterable[Key]) -> None:
    """Transaction-scoped advisory locks on identity keys, in one order (no deadlock)."""
    ids = sorted({_lock_id(tenant, key) for key in keys})
    for lock_id in ids:
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def _lock_id(tenant: str, key: Key) -> int:
    digest = hashlib.sha256("\x1f".join((tenant, *key)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _route(keys: list[Key], found: dict[Key, str]) -> Route | None:
    for key in keys:
        if key in found:
            system, kind, _value = key
            return Route(found[key], {"link": f"{system}:{kind}", "rule": "first-trusted-key"})
    return None


def find_person(conn: Connection, tenant: str, ref: IdentityRef) -> str:
    """The person `ref` names; raises UnknownIdentity or AmbiguousIdentity."""
    found = _lookup(conn, tenant, ref.candidates())
    if ref.kind is None and ref.system not in ("email", "slack"):
        persons_found = {found[k] for k in ref.candidates() if k in found}
        if len(persons_found) > 1:
            raise AmbiguousIdentity(ref, sorted((found[k], k) for k in found))
    for key in ref.candidates():
        if key in found:
            return found[key]
    if ref.system == "person":  # `person:<id>` names a person by its own id
        direct = conn.execute(select(persons.c.person_id).where(
            persons.c.tenant == tenant, persons.c.person_id == ref.value)).first()
        if direct is not None:
            return str(direct.person_id)
    raise UnknownIdentity(f"no person is linked to {ref}")


class LinkConflict(ValueError):
    """The key is held by another person through an equal or higher source: not taken."""


def link_identity(
    conn: Connection,
    tenant: str,
    person_id: str,
    ref: IdentityRef,
    *,
    origin: str,
    shards: int,
    actor: str | None = None,
    reason: str | None = None,
    shared_mailboxes: Collection[str] = (),
) -> int:
    """Link `ref` to `person_id` and release the parked events it resolves; returns how many.

    Precedence (`identity.precedence`) decides a key another person holds: a higher origin
    takes it over, an equal or lower one is refused (LinkConflict); either way the conflict is
    recorded (`identity.conflicts`) unless two admins disagree (that is a typo, not a
    conflict). The caller commits even on LinkConflict to keep that record. Identities that
    are never linked raise NeverLinked. Every change is audited as `actor` (default: origin).
    """
    key = translate_key(stored_key(ref))
    check_linkable(key, shared_mailboxes=shared_mailboxes)
    claim = _Claim(person_id, origin, rank(origin), actor or origin, reason)
    if conn.dialect.name == "postgresql":
        _lock_keys(conn, tenant, [key, *derived_keys(key)])
    _ensure_person(conn, tenant, person_id, claim.now)
    refused = _claim_key(conn, tenant, key, claim)
    if refused is not None:
        raise LinkConflict(refused)
    released = _release_for_key(conn, tenant, key, shards=shards)
    for extra in derived_keys(key):  # an xAPI learner known only by the hash of this address
        if _claim_key(conn, tenant, extra, replace(claim, origin="derived")) is None:
            released += _release_for_key(conn, tenant, extra, shards=shards)
    return released


@dataclass(frozen=True)
class _Claim:
    person: str
    origin: str
    rank: int  # a derived key is claimed with the rank of the link it derives from
    actor: str
    reason: str | None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _claim_key(conn: Connection, tenant: str, key: Key, claim: _Claim) -> str | None:
    """Write the claim unless a holder outranks it; None when the key is now the claimant's,
    else why not."""
    held = _holder(conn, tenant, key)
    if held is None:
        _insert_link(conn, tenant, key, claim.person, origin=claim.origin, now=claim.now)
        audit.record(conn, tenant, actor=claim.actor, action="link", person=claim.person,
                     identity=audit.key_text(key), reason=claim.reason, after={"origin": claim.origin})
        return None
    person, origin = held
    if person == claim.person:  # kept under its first origin: that source may remove it again
        return None
    if claim.rank > rank(origin):
        _set_holder(conn, tenant, key, claim.person, claim.origin)
        if claim.origin != "derived":  # the link it derives from records the conflict
            record_conflict(conn, tenant, key, winner=(claim.person, claim.origin), loser=held, moved=True)
        audit.record(conn, tenant, actor=claim.actor, action="move", person=claim.person, other=person,
                     identity=audit.key_text(key), reason=claim.reason or f"{claim.origin} outranks {origin}",
                     before={"person": person, "origin": origin},
                     after={"person": claim.person, "origin": claim.origin})
        return None
    if claim.origin != "derived" and not (origin in _ADMIN and claim.origin in _ADMIN):
        record_conflict(conn, tenant, key, winner=held, loser=(claim.person, claim.origin), moved=False)
    system, kind, _value = key
    return (f"{system}:{kind} is already linked to person {person} (origin {origin}, which "
            f"{claim.origin} does not outrank); unlink it there first or merge the persons")


_ADMIN = ("cli", "api")


def _holder(conn: Connection, tenant: str, key: Key) -> tuple[str, str] | None:
    system, kind, value = key
    row = conn.execute(select(identities.c.person_id, identities.c.origin).where(
        identities.c.tenant == tenant, identities.c.system == system, identities.c.kind == kind,
        identities.c.value == value)).first()
    return None if row is None else (str(row.person_id), str(row.origin))


def _set_holder(conn: Connection, tenant: str, key: Key, person: str, origin: str) -> None:
    system, kind, value = key
    conn.execute(update(identities).where(
        identities.c.tenant == tenant, identities.c.system == system, identities.c.kind == kind,
        identities.c.value == value).values(person_id=person, origin=origin, linked_at=datetime.now(UTC)))


def derived_keys(key: Key) -> list[Key]:
    """Keys a link implies: an email's xAPI `mbox_sha1sum`, the SHA-1 of `mailto:<email>` (the
    email is stored lower-cased, so an LMS that hashes the address as linked matches)."""
    system, kind, value = key
    if (system, kind) != ("email", "id"):
        return []
    digest = hashlib.sha1(f"mailto:{value}".encode()).hexdigest()  # noqa: S324 - xAPI's identifier
    return [("mbox_sha1sum", "id", digest)]


def _insert_link(conn: Connection, tenant: str, key: Key, person_id: str, *, origin: str,
                 now: datetime) -> None:
    system, kind, value = key
    conn.execute(identities.insert().values(
        tenant=tenant, system=system, kind=kind, value=value,
        person_id=person_id, origin=origin, linked_at=now))


def _ensure_person(conn: Connection, tenant: str, person_id: str, now: datetime) -> None:
    conn.execute(
        insert_for(conn, persons)
        .values(tenant=tenant, person_id=person_id, created_at=now)
        .on_conflict_do_nothing()
    )


def _release_for_key(conn: Connection, tenant: str, key: Key, *, shards: int) -> int:
    system, kind, value = key
    stmt = (
        select(parked_keys.c.seq, events.c.body)
        .join(events, events.c.seq == parked_keys.c.seq)
        .where(
            parked_keys.c.tenant == tenant,
            parked_keys.c.system == system,
            parked_keys.c.kind == kind,
            parked_keys.c.value == value,
        )
        .order_by(parked_keys.c.seq)
    )
    released = 0
    for row in conn.execute(stmt).all():
        actor = CloudEvent.model_validate(row.body).actor
        route = route_actors(conn, tenant, [actor])[0]
        if route is not None:
            release_parked(conn, tenant, row.seq, route, shards=shards)
            released += 1
    return released

"""Identity: persons, their linked identities, resolution at ingest, links that release parked events."""

from identity.precedence import NeverLinked
from identity.refs import IdentityRef, parse_identity_ref
from identity.resolve import (
    AmbiguousIdentity,
    LinkConflict,
    UnknownIdentity,
    find_person,
    link_identity,
    route_actors,
    stored_key,
)

__all__ = [
    "AmbiguousIdentity",
    "IdentityRef",
    "LinkConflict",
    "NeverLinked",
    "UnknownIdentity",
    "find_person",
    "link_identity",
    "parse_identity_ref",
    "route_actors",
    "stored_key",
]

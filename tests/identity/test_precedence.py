"""Precedence (issue 11 item 4): a lower source never overrides a higher one; some identities
are never linked. One test per rule, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from identity import LinkConflict, NeverLinked, link_identity, parse_identity_ref, route_actors
from identity.conflicts import list_conflicts
from identity.precedence import rank
from rules.events import Actor
from store.schema import identities

T = "t1"


def _link(engine: Engine, person: str, ref: str, origin: str, **kw: object) -> None:
    """Link, committing even when the claim is refused (the conflict record must stay)."""
    with engine.begin() as conn:
        try:
            link_identity(conn, T, person, parse_identity_ref(ref), origin=origin, shards=4, **kw)
        except LinkConflict:
            pass


def _holder(engine: Engine, system: str, kind: str, value: str) -> tuple[str, str] | None:
    with engine.connect() as conn:
        row = conn.execute(select(identities.c.person_id, identities.c.origin).where(
            identities.c.tenant == T, identities.c.system == system, identities.c.kind == kind,
            identities.c.value == value)).first()
    return None if row is None else (row.person_id, row.origin)


def test_origins_rank_iam_config_admin_payload_lookup() -> None:
    order = ["scim", "config", "cli", "payload", "slack-lookup"]
    assert [rank(o) for o in order] == sorted((rank(o) for o in order), reverse=True)
    assert len({rank(o) for o in order}) == 5
    assert rank("okta") == rank("scim") and rank("api") == rank("cli")
    with pytest.raises(ValueError, match="unknown link origin"):
        rank("guess")


@pytest.mark.parametrize(("low", "high"), [
    ("slack-lookup", "payload"), ("payload", "cli"), ("cli", "config"), ("config", "scim"),
    ("api", "okta")])
def test_a_higher_source_takes_the_key_and_the_conflict_is_recorded(engine: Engine, low: str,
                                                                     high: str) -> None:
    _link(engine, "low-person", "email:ada@example.com", low)
    _link(engine, "high-person", "email:ada@example.com", high)
    assert _holder(engine, "email", "id", "ada@example.com") == ("high-person", high)
    with engine.connect() as conn:
        (conflict,) = list_conflicts(conn, T)
    assert conflict["winner"] == {"person": "high-person", "origin": high}
    assert conflict["loser"] == {"person": "low-person", "origin": low}
    assert conflict["moved"] is True and conflict["identity"] == "email:id=ada@example.com"


@pytest.mark.parametrize(("high", "low"), [
    ("scim", "config"), ("config", "cli"), ("cli", "payload"), ("payload", "slack-lookup"),
    ("scim", "scim")])
def test_a_lower_or_equal_source_never_overrides(engine: Engine, high: str, low: str) -> None:
    _link(engine, "first", "github:id=42", high)
    with engine.connect() as conn, pytest.raises(LinkConflict, match="already linked to person first"):
        link_identity(conn, T, "second", parse_identity_ref("github:id=42"), origin=low, shards=4)
    _link(engine, "second", "github:id=42", low)  # committed this time
    assert _holder(engine, "github", "id", "42") == ("first", high)
    with engine.connect() as conn:
        (conflict,) = list_conflicts(conn, T)
    assert conflict["winner"]["person"] == "first" and conflict["loser"] == {"person": "second", "origin": low}
    assert conflict["moved"] is False


def test_two_admins_disagreeing_is_refused_but_not_a_conflict(engine: Engine) -> None:
    _link(engine, "first", "github:id=42", "cli")
    _link(engine, "second", "github:id=42", "api")
    assert _holder(engine, "github", "id", "42") == ("first", "cli")
    with engine.connect() as conn:
        assert list_conflicts(conn, T) == []


@pytest.mark.parametrize("ref", ["github:login=dependabot[bot]", "github:login=github-actions",
                                 "gitlab:login=renovate[bot]"])
def test_bot_accounts_are_never_linked(engine: Engine, ref: str) -> None:
    with engine.begin() as conn, pytest.raises(NeverLinked, match="bot"):
        link_identity(conn, T, "p1", parse_identity_ref(ref), origin="config", shards=4)


def test_github_noreply_address_links_the_numeric_id(engine: Engine) -> None:
    _link(engine, "p1", "email:583231+octocat@users.noreply.github.com", "cli")
    assert _holder(engine, "github", "id", "583231") == ("p1", "cli")
    assert _holder(engine, "email", "id", "583231+octocat@users.noreply.github.com") is None
    # and an event whose actor only has that address resolves through the id
    with engine.connect() as conn:
        (route,) = route_actors(conn, T, [Actor(system="git", email="583231+OctoCat@users.noreply.github.com")])
    assert route is not None and route.person_id == "p1"


@pytest.mark.parametrize("ref", ["email:octocat@users.noreply.github.com",
                                 "email:49699333+dependabot[bot]@users.noreply.github.com"])
def test_github_noreply_address_without_a_person_id_is_refused(engine: Engine, ref: str) -> None:
    with engine.begin() as conn, pytest.raises(NeverLinked, match="no-reply"):
        link_identity(conn, T, "p1", parse_identity_ref(ref), origin="cli", shards=4)


@pytest.mark.parametrize("ref", ["email:[REDACTED]", "gitlab:login=[REDACTED]"])
def test_gitlab_redacted_placeholder_is_never_linked(engine: Engine, ref: str) -> None:
    with engine.begin() as conn, pytest.raises(NeverLinked, match="redacted"):
        link_identity(conn, T, "p1", parse_identity_ref(ref), origin="cli", shards=4)


def test_a_tenants_shared_mailbox_is_never_linked(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(NeverLinked, match="shared mailbox"):
        link_identity(conn, T, "p1", parse_identity_ref("email:Team@Example.com"), origin="scim",
                      shards=4, shared_mailboxes=["team@example.com"])
    _link(engine, "p1", "email:ada@example.com", "scim", shared_mailboxes=["team@example.com"])
    assert _holder(engine, "email", "id", "ada@example.com") == ("p1", "scim")

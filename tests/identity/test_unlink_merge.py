"""Unlink and merge: preview, apply, recompute in event time, revoke (never delete), audit."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from identity import link_identity, parse_identity_ref
from identity.audit import history
from identity.changes import ChangeRefused, merge, unlink
from store.evaluation import mark_dispatched
from store.schema import deliveries, event_queue, grants, parked
from tests.identity.helpers import config, evaluate_all, green, ingest, live_grants

ONE = {"system": "github", "id": "1"}
TWO = {"system": "github", "id": "2"}


def _link(engine: Engine, person: str, ref: str, origin: str = "cli") -> None:
    with engine.begin() as conn:
        link_identity(conn, "demo", person, parse_identity_ref(ref), origin=origin, shards=2)


def _count(engine: Engine, table) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_unlink_previews_then_revokes_with_reason_and_parks_the_events(engine: Engine, db_url: str) -> None:
    cfg = config(db_url)
    tenant = cfg.tenants[0]
    _link(engine, "ada", "github:id=1")
    _link(engine, "ada", "github:id=2")
    ingest(engine, cfg, [green("a", ONE, hour=9), green("b", TWO, hour=10)])
    evaluate_all(engine, cfg)
    assert live_grants(engine) == {("ada", "two-green"), ("ada", "first-green")}

    preview = unlink(engine, tenant, "ada", parse_identity_ref("github:id=2"), actor="cli:tester",
                     reason="shared account", apply=False)
    assert [g.achievement for g in preview.lost] == ["two-green"] and preview.gained == []
    assert live_grants(engine) == {("ada", "two-green"), ("ada", "first-green")}  # nothing applied

    done = unlink(engine, tenant, "ada", parse_identity_ref("github:id=2"), actor="cli:tester",
                  reason="shared account", apply=True)
    assert done.to_json() == preview.to_json()
    assert live_grants(engine) == {("ada", "first-green")}
    with engine.connect() as conn:
        revoked = conn.execute(select(grants).where(grants.c.achievement == "two-green")).one()
        trail = history(conn, "demo", person="ada")
    assert revoked.revoked_at is not None and "shared account" in revoked.revoked_reason
    assert _count(engine, parked) == 1  # b waits for whoever github:id=2 is
    (entry,) = [r for r in trail if r["action"] == "unlink"]
    assert entry["actor"] == "cli:tester" and entry["identity"] == "github:id=2"
    assert entry["reason"] == "shared account" and entry["before"] == {"person": "ada", "origin": "cli"}

    _link(engine, "bob", "github:id=2")  # the parked event now counts for bob, once
    evaluate_all(engine, cfg)
    assert live_grants(engine) == {("ada", "first-green"), ("bob", "first-green")}


def test_merge_gains_in_event_time_order_and_never_resends_a_delivered_grant(
        engine: Engine, db_url: str) -> None:
    cfg = config(db_url)
    tenant = cfg.tenants[0]
    _link(engine, "ada", "github:id=1")
    _link(engine, "ada-2", "github:id=2")
    ingest(engine, cfg, [green("a", ONE, hour=11), green("b", TWO, hour=8)])
    evaluate_all(engine, cfg)
    assert live_grants(engine) == {("ada", "first-green"), ("ada-2", "first-green")}
    before_deliveries = _count(engine, deliveries)

    outcome = merge(engine, tenant, "ada-2", "ada", actor="cli:tester", reason="same human", apply=True)
    assert {(g.person, g.achievement) for g in outcome.lost} == {("ada-2", "first-green")}
    gained = {g.achievement: g for g in outcome.gained}
    assert set(gained) == {"two-green"}  # ada's first-green stays, with its delivery
    assert outcome.counted == {"ada": 2}
    assert live_grants(engine) == {("ada", "first-green"), ("ada", "two-green")}
    with engine.connect() as conn:
        two = conn.execute(select(grants).where(grants.c.achievement == "two-green")).one()
        first = conn.execute(select(grants).where(grants.c.person_id == "ada",
                                                  grants.c.achievement == "first-green")).one()
        trail = history(conn, "demo", person="ada-2")
    assert two.evidence["events"] == ["/ci#b", "/ci#a"]  # event time, not arrival
    assert first.revoked_at is None
    assert _count(engine, deliveries) == before_deliveries + 1  # only two-green is new to deliver
    assert [r["action"] for r in trail if r["action"] == "merge"] == ["merge"]


def test_merge_where_both_earned_one_achievement_does_not_send_it_again(engine: Engine, db_url: str) -> None:
    cfg = config(db_url)
    _link(engine, "ada-2", "github:id=2")
    _link(engine, "ada", "github:id=9")
    ingest(engine, cfg, [green("b", TWO)])
    evaluate_all(engine, cfg)
    with engine.begin() as conn:  # the outbox started its delivery
        mark_dispatched(conn, list(conn.execute(select(grants.c.grant_id)).scalars()))
    outcome = merge(engine, cfg.tenants[0], "ada-2", "ada", actor="cli:t", reason="r", apply=True)
    (gain,) = [g for g in outcome.gained if g.achievement == "first-green"]
    assert "already delivered" in gain.note
    with engine.connect() as conn:
        new = conn.execute(select(deliveries).where(deliveries.c.grant_id == gain.grant_id)).all()
    assert new == []


def test_queued_events_are_not_counted_twice(engine: Engine, db_url: str) -> None:
    cfg = config(db_url)
    _link(engine, "ada", "github:id=1")
    _link(engine, "ada-2", "github:id=2")
    ingest(engine, cfg, [green("a", ONE), green("b", TWO)])  # not evaluated yet
    merge(engine, cfg.tenants[0], "ada-2", "ada", actor="cli:t", reason="r", apply=True)
    assert _count(engine, event_queue) == 0  # the recompute consumed them
    evaluate_all(engine, cfg)
    with engine.connect() as conn:
        counts = conn.execute(select(grants.c.evidence).where(grants.c.achievement == "two-green")).scalars()
        assert [e["count"] for e in counts] == [2]


def test_merge_refuses_two_iam_users_and_unlink_refuses_iam_links(engine: Engine, db_url: str) -> None:
    from datetime import UTC, datetime

    from store.schema import scim_users

    cfg = config(db_url)
    now = datetime.now(UTC)
    _link(engine, "ada", "scim:id=s1", "scim")
    _link(engine, "bob", "scim:id=s2", "scim")
    with engine.begin() as conn:
        for sid, person in (("s1", "ada"), ("s2", "bob")):
            conn.execute(scim_users.insert().values(
                tenant="demo", id=sid, person_id=person, user_name=sid, user_name_key=sid, active=True,
                resource={}, version=1, created_at=now, updated_at=now))
    with pytest.raises(ChangeRefused, match="different users in the IAM system"):
        merge(engine, cfg.tenants[0], "bob", "ada", actor="cli:t", reason="r", apply=True)
    with pytest.raises(ChangeRefused, match="linked by scim"):
        unlink(engine, cfg.tenants[0], "ada", parse_identity_ref("scim:id=s1"), actor="cli:t", reason="r",
               apply=True)

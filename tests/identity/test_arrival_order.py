"""Property: any order of link and event arrival yields the same grants.

Events of an actor nobody is linked to are parked and released, once, when the link arrives
(`store.eventlog`, `identity.resolve`); evaluator rounds may run between any two arrivals.
Whatever the interleaving, the grants at the end are those of linking first and evaluating
once. Runs on SQLite and PostgreSQL (a fresh tenant per example keeps examples apart).
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from identity import link_identity, parse_identity_ref
from intake.ingest import ingest_batch
from store.schema import grants
from tests.factories import make_config
from tests.identity.helpers import TEXT, evaluate_all, green

LINKS = [("ada", "github:id=1"), ("ada", "github:login=ada-alt"), ("bob", "github:id=3")]
ACTORS = [{"system": "github", "id": "1"}, {"system": "github", "id": "2", "login": "ada-alt"},
          {"system": "github", "id": "3"}, {"system": "github", "id": "4"}]  # 4: never linked
EVENTS = [("link", i) for i in range(len(LINKS))] + [("event", i) for i in range(6)]
_run = itertools.count()


def _grants(engine: Engine, tenant: str) -> set[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(grants.c.person_id, grants.c.achievement, grants.c.evidence)
                            .where(grants.c.tenant == tenant))
        return {(r.person_id, r.achievement, r.evidence["count"]) for r in rows}


def _play(engine: Engine, db_url: str, steps: list[tuple[str, int]], rounds_after: set[int]) -> set:
    tenant_id = f"p{next(_run)}"
    cfg = make_config(db_url, TEXT.replace("- id: demo", f"- id: {tenant_id}"))  # examples share the db
    tenant = cfg.tenants[0]
    for n, (what, index) in enumerate(steps):
        if what == "link":
            person, ref = LINKS[index]
            with engine.begin() as conn:
                link_identity(conn, tenant_id, person, parse_identity_ref(ref), origin="cli",
                              shards=tenant.shards)
        else:
            item = green(f"e{index}", ACTORS[index % len(ACTORS)], hour=8 + index)
            assert ingest_batch(engine, tenant, [item]).count("accepted") == 1
        if n in rounds_after:
            evaluate_all(engine, cfg)
    evaluate_all(engine, cfg)
    return _grants(engine, tenant_id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(EVENTS), rounds=st.sets(st.integers(0, len(EVENTS) - 1)))
def test_any_arrival_order_yields_the_same_grants(engine: Engine, db_url: str,
                                                  order: list[tuple[str, int]], rounds: set[int]) -> None:
    expected = _play(engine, db_url, sorted(EVENTS), set())  # links first, one evaluation
    assert ("ada", "two-green", 2) in expected and ("bob", "first-green", 1) in expected
    assert _play(engine, db_url, list(order), rounds) == expected

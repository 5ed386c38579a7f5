"""The `without` index: ingest keeps the earliest event time per (type, attribute, value).

Through the real ingest path (`ingest_batch`, which webhooks and polls share through
`append_validated`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.first_seen import load_first_seen
from store.schema import first_seen
from tests.factories import CONFIG_TEXT, make_config

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WITHOUT = CONFIG_TEXT.replace("""        deliver_to: [console, feed]
""", """        deliver_to: [console, feed]
      - key: clean-resolver
        version: 1
        name: Resolved without reassignment
        rule: {count: 2, of: ticket.resolved, without: {of: ticket.reassigned, same: ticket.id}}
""")


def _event(n: int, kind: str, ticket: object, at: datetime, actor: str = "15669918") -> dict:
    return {"id": f"{kind}-{n}", "source": "/jira", "type": f"ticket.{kind}", "time": at.isoformat(),
            "data": {"actor": {"system": "github", "id": actor}, "ticket": {"id": ticket}}}


def _rows(engine: Engine) -> dict[tuple[str, str, str], datetime]:
    with engine.connect() as conn:
        rows = conn.execute(select(first_seen)).all()
    return {(r.type, r.attribute, r.value): r.first_at.replace(tzinfo=UTC) if r.first_at.tzinfo is None
            else r.first_at for r in rows}


def test_the_index_keeps_the_earliest_time_of_each_key(engine: Engine, db_url: str) -> None:
    tenant = make_config(db_url, WITHOUT).tenants[0]
    sync_people(engine, tenant)
    ingest_batch(engine, tenant, [_event(1, "reassigned", "T-1", T0 + timedelta(hours=2))])
    # an earlier reassignment arriving later (a poll overlap) lowers the time; a later one does not
    ingest_batch(engine, tenant, [_event(2, "reassigned", "T-1", T0),
                                  _event(3, "reassigned", "T-1", T0 + timedelta(hours=5))])
    # a reassignment by someone nobody linked (parked) still counts for the index
    ingest_batch(engine, tenant, [_event(4, "reassigned", 42, T0, actor="unknown-manager")])
    assert _rows(engine) == {("ticket.reassigned", "ticket.id", "T-1"): T0,
                             ("ticket.reassigned", "ticket.id", "42"): T0}


def test_only_the_pairs_of_without_rules_are_indexed(engine: Engine, db_url: str) -> None:
    tenant = make_config(db_url, WITHOUT).tenants[0]
    sync_people(engine, tenant)
    ingest_batch(engine, tenant, [_event(1, "resolved", "T-1", T0),  # the A type: not indexed
                                  {**_event(2, "reassigned", "T-2", T0), "data": {
                                      "actor": {"system": "github", "id": "15669918"}, "ticket": "T-2"}}])
    assert _rows(engine) == {}  # `ticket.id` absent (ticket is a string): nothing to index


def test_a_tenant_without_such_a_rule_writes_nothing(engine: Engine, db_url: str) -> None:
    tenant = make_config(db_url).tenants[0]
    sync_people(engine, tenant)
    assert ingest_batch(engine, tenant, [_event(1, "reassigned", "T-1", T0)]).count("accepted") == 1
    assert _rows(engine) == {}


def test_a_long_value_is_found_by_its_full_text(engine: Engine, db_url: str) -> None:
    tenant = make_config(db_url, WITHOUT).tenants[0]
    sync_people(engine, tenant)
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    ingest_batch(engine, tenant, [_event(1, "reassigned", long_a, T0),
                                  _event(2, "reassigned", long_b, T0 + timedelta(hours=1))])
    assert all(len(value) <= 64 for _, _, value in _rows(engine))
    with engine.connect() as conn:
        found = load_first_seen(conn, "demo", [("ticket.reassigned", "ticket.id", long_a),
                                               ("ticket.reassigned", "ticket.id", long_b),
                                               ("ticket.reassigned", "ticket.id", "never")])
        assert load_first_seen(conn, "other", [("ticket.reassigned", "ticket.id", long_a)]) == {}
    assert found == {("ticket.reassigned", "ticket.id", long_a): T0,
                     ("ticket.reassigned", "ticket.id", long_b): T0 + timedelta(hours=1)}

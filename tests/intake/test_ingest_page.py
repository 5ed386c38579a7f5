"""A poll page and its cursor are stored together or not at all, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select

from connectors.base import PayloadError, RecordResult
from identity.sync import sync_people
from intake.ingest import ingest_page
from store.cursors import read_cursor
from store.schema import event_queue, events, quarantine
from tests.factories import event, make_config

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
KNOWN = {"system": "github", "id": "15669918"}


def _records(*ids: str) -> list[RecordResult]:
    return [RecordResult(key=i, raw={"id": i}, events=[event(f"issue:{i}", actor=KNOWN)],
                         updated=T + timedelta(minutes=int(i))) for i in ids]


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_page_stores_events_quarantines_bad_records_and_advances_the_cursor(
    engine: Engine, db_url: str
) -> None:
    tenant = make_config(db_url).tenants[0]
    sync_people(engine, tenant)
    bad = RecordResult(key="9", raw={"id": "9"}, error=PayloadError("no reporter"))
    outcome = ingest_page(engine, tenant, "jira", [*_records("1", "2"), bad], position=T)
    assert (outcome.accepted, outcome.duplicate, outcome.quarantined) == (2, 0, 1)
    assert outcome.dirty_shards  # the evaluators are told
    assert _count(engine, event_queue) == 2 and _count(engine, quarantine) == 1
    with engine.connect() as conn:
        assert read_cursor(conn, "demo", "jira") == T
    again = ingest_page(engine, tenant, "jira", _records("2", "3"), position=T - timedelta(hours=1))
    assert (again.accepted, again.duplicate) == (1, 1)  # the overlap dedupes
    with engine.connect() as conn:
        assert read_cursor(conn, "demo", "jira") == T  # never moves backwards


def test_a_failed_page_leaves_neither_events_nor_cursor(engine: Engine, db_url: str) -> None:
    tenant = make_config(db_url).tenants[0]

    def fail(conn: Connection) -> None:
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        ingest_page(engine, tenant, "jira", _records("1"), position=T, also=fail)
    assert _count(engine, events) == 0
    with engine.connect() as conn:
        assert read_cursor(conn, "demo", "jira") is None

"""Retrying quarantined rows with the current code, on SQLite and PostgreSQL.

Rows are written the way the receiver and the poller write them (`quarantine_body`,
`quarantine_item`), with a reason from an "old bug"; the current code then parses them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import pytest
from sqlalchemy import Engine, func, insert, select

from config.models import Config
from connectors import get_connector
from connectors.base import (
    ConnectorSettings,
    Cursor,
    Page,
    PayloadError,
    PollingConnector,
    PollSettings,
    RecordResult,
)
from identity.sync import sync_people
from intake.ingest import INTERNAL_ERROR
from intake.retry import retry_item
from intake.webhooks import replayable_headers
from rules.events import CloudEvent, connector_source
from store.quarantine import quarantine_body, quarantine_item, quarantine_rows
from store.schema import event_queue, events, quarantine
from tests.factories import FIXTURES, make_config

NOW = datetime.now(UTC)
KEEP = timedelta(days=30)
RUN = FIXTURES / "workflow_run" / "01-completed.json"  # one ci.pipeline.completed, Codertocat
RUN_EVENT = "workflow_run:289782451:1:success"


def _config(db_url: str, *connectors: ConnectorSettings) -> Config:
    config = make_config(db_url)
    demo, *rest = config.tenants
    return config.model_copy(update={"tenants": [
        demo.model_copy(update={"connectors": [*demo.connectors, *connectors]}), *rest]})


def _webhook(engine: Engine, body: bytes, *, tenant: str = "demo", channel: str = "github",
             prefix: int = 1024 * 1024, event: str = "workflow_run") -> int:
    """A verified delivery the receiver quarantined: the headers it keeps, never the signature."""
    headers = replayable_headers({"X-GitHub-Event": event, "X-GitHub-Delivery": "d-1",
                                  "X-Hub-Signature-256": "sha256=" + "0" * 64})
    with engine.begin() as conn:
        quarantine_body(conn, tenant=tenant, channel=channel, delivery_id="d-1", reason=INTERNAL_ERROR,
                        body=body, prefix=prefix, keep=KEEP, now=NOW, kind="webhook", headers=headers)
    return _newest(engine)


def _newest(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(quarantine.c.id))).scalar_one())


def _row(engine: Engine, item: int, tenant: str = "demo") -> dict[str, Any]:
    with engine.connect() as conn:
        return quarantine_rows(conn, tenant, item_id=item)[0]


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_webhook_that_hit_a_mapping_bug_is_stored_once(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    item = _webhook(engine, RUN.read_bytes())
    assert "x-hub-signature-256" not in _row(engine, item)["headers"]  # never kept, never needed

    first = retry_item(engine, config, tenant, item)
    assert (first.status, first.message, first.handled) == ("stored", "stored 1 event", True)
    assert first.dirty_shards  # the evaluator of Codertocat's shard is to be woken
    with engine.connect() as conn:
        stored = conn.execute(select(events.c.event_id, events.c.source, events.c.body)).one()
    assert stored.event_id == RUN_EVENT and stored.source == connector_source("demo", "github")
    assert stored.body["accoladedelivery"] == "d-1"  # the kept headers were parsed again
    row = _row(engine, item)
    assert row["retried_at"] and row["retry_outcome"] == "stored 1 event" and row["resolved"]

    again = retry_item(engine, config, tenant, item)
    assert (again.status, again.message, again.dirty_shards) == ("duplicate", "duplicate: already stored", set())
    assert _count(engine, events) == 1 and _count(engine, event_queue) == 1


def test_a_body_the_current_code_still_refuses_stays_unresolved(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    item = _webhook(engine, b'{"action": "completed", "workflow_run": 5}')
    outcome = retry_item(engine, config, config.tenants[0], item)
    assert outcome.status == "fails" and outcome.message.startswith("still fails: ") and not outcome.handled
    row = _row(engine, item)
    assert row["retry_outcome"] == outcome.message and not row["resolved"]
    assert _count(engine, events) == 0


def test_an_item_of_the_batch_api_is_judged_again(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    good = {"id": "e-1", "source": "/ci", "type": "ci.pipeline.completed", "time": NOW.isoformat(),
            "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}
    bad = {**good, "id": "e-2", "type": None}
    with engine.begin() as conn:
        for raw in (good, bad):
            quarantine_item(conn, item=raw, tenant="demo", channel="api", delivery_id=raw["id"],
                            reason="an old limit", prefix=1 << 20, keep=KEEP, now=NOW)
    ok, still = _newest(engine) - 1, _newest(engine)
    assert retry_item(engine, config, config.tenants[0], ok).message.startswith("stored 1 event")
    failed = retry_item(engine, config, config.tenants[0], still)
    assert failed.status == "fails" and "type" in failed.message
    assert _count(engine, events) == 1


def test_a_row_written_before_kinds_existed_is_read_by_its_channel(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    raw = {"id": "old-1", "source": "/ci", "type": "deploy.completed", "time": NOW.isoformat(),
           "data": {"actor": {"system": "github", "id": "1"}}}
    with engine.begin() as conn:  # as migration 0003 left it: no kind, no headers
        conn.execute(insert(quarantine).values(
            tenant="demo", channel="api", reason="old", body=json.dumps(raw), received_at=NOW))
    item = _newest(engine)
    assert _row(engine, item)["kind"] == "item"
    outcome = retry_item(engine, config, config.tenants[0], item)
    assert outcome.status == "stored" and "parked" in outcome.message  # actor not linked yet


def test_a_truncated_body_is_refused_and_left_as_is(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    item = _webhook(engine, RUN.read_bytes(), prefix=64)
    outcome = retry_item(engine, config, config.tenants[0], item)
    assert outcome.status == "refused" and not outcome.handled
    assert "first 64 of" in outcome.message and "store.quarantine.body_prefix" in outcome.message
    row = _row(engine, item)
    assert row["retried_at"] is None and row["retry_outcome"] is None
    assert _count(engine, events) == 0


def test_a_body_that_was_not_kept_byte_for_byte_is_refused(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    item = _webhook(engine, RUN.read_bytes().replace(b'"Codertocat"', b'"Coder\xfftocat"', 1))
    outcome = retry_item(engine, config, config.tenants[0], item)
    assert outcome.status == "refused" and "not byte-for-byte" in outcome.message


def test_tenants_never_cross(engine: Engine, db_url: str) -> None:
    config = make_config(db_url)
    demo, other = config.tenants
    theirs = _webhook(engine, RUN.read_bytes(), tenant="other")
    refused = retry_item(engine, config, demo, theirs)
    assert refused.status == "refused" and refused.message == f"no quarantined item #{theirs} in tenant demo"
    # a row of `other` naming demo's connector (the config moved it): never parsed as demo's
    moved = retry_item(engine, config, other, theirs)
    assert moved.status == "refused" and "belongs to another tenant" in moved.message
    gone = _webhook(engine, RUN.read_bytes(), channel="gitlab-old")
    assert "no longer configured" in retry_item(engine, config, demo, gone).message
    assert _count(engine, events) == 0


# --- poll records: a tiny polling vendor registered for these tests only -------------------

class TaskSettings(ConnectorSettings):
    vendor: Literal["tasks"]  # type: ignore[assignment]


@dataclass
class Tasks(PollingConnector):
    """Records `{"id", "by", "at"}`; one without `by` cannot be mapped."""

    vendor: ClassVar[str] = "tasks"
    settings: ClassVar[type[ConnectorSettings]] = TaskSettings

    def polls(self, settings: Any) -> bool:
        return True

    def poll_settings(self, settings: Any) -> PollSettings:
        return PollSettings()

    def client(self, settings: Any) -> Any:
        raise AssertionError("a retry makes no network call")

    def fetch_page(self, client: Any, settings: Any, cursor: Cursor) -> Page:
        raise AssertionError("a retry makes no network call")

    def parse_page(self, page: Page, *, source: str) -> list[RecordResult]:
        out = []
        for raw in page.records:
            if "by" not in raw:
                out.append(RecordResult(key=raw["id"], raw=raw, error=PayloadError("no assignee")))
                continue
            event = CloudEvent(id=f"task:{raw['id']}", source=source, type="ticket.resolved",
                               time=raw["at"], data={"actor": {"system": "github", "id": raw["by"]}})
            out.append(RecordResult(key=raw["id"], raw=raw, events=[event]))
        return out


@pytest.mark.parametrize(("record", "status"), [
    ({"id": "7", "by": "15669918", "at": NOW.isoformat()}, "stored"),
    ({"id": "8", "at": NOW.isoformat()}, "fails"),
])
def test_a_poll_record_is_parsed_by_its_polling_connector(
    engine: Engine, db_url: str, record: dict[str, Any], status: str
) -> None:
    config = _config(db_url, TaskSettings(id="board", vendor="tasks"))
    with engine.begin() as conn:
        quarantine_item(conn, item=record, kind="record", tenant="demo", channel="board",
                        delivery_id=record["id"], reason="an old mapping bug", prefix=1 << 20,
                        keep=KEEP, now=NOW)
    item = _newest(engine)
    lookup = {"tasks": Tasks(), "github": get_connector("github")}.get
    outcome = retry_item(engine, config, config.tenants[0], item, lookup=lookup)
    assert outcome.status == status, outcome.message
    assert _count(engine, events) == (1 if status == "stored" else 0)
    if status == "fails":
        assert outcome.message == "still fails: no assignee"
    # the same row as a webhook would need a webhook connector: refused, not guessed
    with engine.begin() as conn:
        conn.execute(quarantine.update().where(quarantine.c.id == item).values(kind="webhook"))
    assert "no longer takes webhooks" in retry_item(engine, config, config.tenants[0], item,
                                                    lookup=lookup).message

"""PollWorkflow and the poll_connector activity against a real Temporal and a real store.

The vendor is a stand-in (`ListVendor`): records in memory, paged by an offset token, with
failures it can be told to raise. Everything else is the product: the workflow, the activity
(heartbeats, resume, failure classification), `ingest_page` and the cursor of record.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from sqlalchemy import Engine, func, select
from temporalio.client import Client, WorkflowHandle

import activities.polling
from activities.contracts import PollerInput
from config.models import Config
from connectors.base import (
    ConnectorSettings,
    Cursor,
    Page,
    PayloadError,
    PollingConnector,
    PollSettings,
    RecordResult,
)
from connectors.errors import Permanent, Retryable
from intake.context import Intake
from rules.events import CloudEvent
from store import create_store_engine
from store._db import migrate
from store.cursors import read_cursor
from store.health import health_rows
from store.schema import events, quarantine
from tests.factories import make_config
from worker import build_worker
from workflows.poller import poller_id

pytestmark = pytest.mark.temporal
T0 = datetime.now(UTC) - timedelta(minutes=5)  # records are T0 + a few minutes: inside the 1 h overlap


class ListSettings(ConnectorSettings):
    vendor: Literal["listvendor"]  # type: ignore[assignment]
    poll: PollSettings = PollSettings(every=timedelta(seconds=1), overlap=timedelta(hours=1),
                                      since=T0 - timedelta(minutes=1), page_size=2)


@dataclass
class ListVendor(PollingConnector):
    """A vendor whose records are a list; `failures` are raised, in order, one per fetch."""

    vendor: ClassVar[str] = "listvendor"
    settings: ClassVar[type[ConnectorSettings]] = ListSettings
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Exception | None] = field(default_factory=list)
    fetches: list[tuple[str | None, float]] = field(default_factory=list)  # (token, when)

    def polls(self, settings: Any) -> bool:
        return True

    def poll_settings(self, settings: Any) -> PollSettings:
        return settings.poll

    def client(self, settings: Any) -> Any:
        return self

    def fetch_page(self, client: Any, settings: Any, cursor: Cursor) -> Page:
        self.fetches.append((cursor.token, time.monotonic()))
        if self.failures and (failure := self.failures.pop(0)) is not None:
            raise failure
        chosen = sorted((r for r in self.records if r["updated"] >= cursor.lower_bound),
                        key=lambda r: r["updated"])
        start = int(cursor.token or 0)
        size = settings.poll.page_size
        rest = start + size < len(chosen)
        return Page(chosen[start:start + size], str(start + size) if rest else None)

    def parse_page(self, page: Page, *, source: str) -> list[RecordResult]:
        out = []
        for raw in page.records:
            if raw.get("broken"):
                out.append(RecordResult(key=raw["id"], raw=raw, error=PayloadError("no actor")))
                continue
            event = CloudEvent(id=f"task:{raw['id']}", source=source, type="ticket.resolved",
                               time=raw["updated"], data={"actor": {"system": "github", "id": "15669918"}})
            out.append(RecordResult(key=raw["id"], raw=raw, events=[event], updated=raw["updated"]))
        return out


def _record(n: int, *, minutes: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": str(n), "updated": T0 + timedelta(minutes=minutes, seconds=n), **extra}


@dataclass
class Rig:
    config: Config
    engine: Engine
    client: Client
    vendor: ListVendor
    task_queue: str

    async def start(self) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            "PollWorkflow", PollerInput(tenant="demo", connector="tasks", every_seconds=1.0),
            id=poller_id("demo", "tasks") + "/" + self.task_queue, task_queue=self.task_queue)

    def stored(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar_one())

    def health(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return health_rows(conn, "demo").get("tasks", {})

    def cursor(self) -> datetime | None:
        with self.engine.connect() as conn:
            return read_cursor(conn, "demo", "tasks")


@pytest.fixture
async def rig(tmp_path: Path, temporal_env: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    config = make_config(url)
    tenant = config.tenants[0]
    settings = ListSettings(id="tasks", vendor="listvendor")
    config = config.model_copy(update={"tenants": [
        tenant.model_copy(update={"connectors": [*tenant.connectors, settings]}), *config.tenants[1:]]})
    vendor = ListVendor()
    monkeypatch.setattr(activities.polling, "polling_connector",
                        lambda name: vendor if name == "listvendor" else None)
    engine = create_store_engine(url)
    migrate(engine)
    queue = f"poll-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(temporal_env.client, config, engine, task_queue=queue, executor=executor,
                              intake=Intake(config, engine))
        async with worker:
            yield Rig(config, engine, temporal_env.client, vendor, queue)
    engine.dispose()


async def _until(check: Callable[[], bool], *, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_pages_are_stored_with_the_cursor_and_a_retry_resumes_at_its_page(rig: Rig) -> None:
    rig.vendor.records = [_record(n) for n in range(5)] + [_record(9, broken=True)]
    rig.vendor.failures = [None, RuntimeError("connection reset")]  # page 2's first fetch fails
    handle = await rig.start()
    await _until(lambda: rig.health().get("poll_cycles", 0) >= 1)
    tokens = [token for token, _ in rig.vendor.fetches[:5]]
    assert tokens == [None, "2", "2", "4"]  # the retry asked for page 2 again, not page 1
    assert rig.stored() == 5
    with rig.engine.connect() as conn:  # the unmappable record is quarantined, the cycle went on
        kept = conn.execute(select(quarantine.c.kind, quarantine.c.channel)).all()
    assert [tuple(row) for row in kept] == [("record", "tasks")]
    cursor = rig.cursor()
    assert cursor is not None and cursor <= datetime.now(UTC)
    # the next cycle asks from cursor − overlap: the overlap is re-read and dedupes
    rig.vendor.records.append(_record(6, minutes=4))
    await handle.signal("poke")
    await _until(lambda: rig.health().get("poll_cycles", 0) >= 2)
    assert rig.stored() == 6
    health = rig.health()
    assert health["failures_in_row"] == 0 and health["accepted"] == 6
    await handle.terminate()


async def test_a_revoked_token_fails_the_cycle_once_and_is_not_retried_hot(rig: Rig) -> None:
    rig.vendor.failures = [Permanent("listvendor: HTTP 401 (credentials refused or revoked)")] * 5
    handle = await rig.start()
    await _until(lambda: rig.health().get("failures_in_row", 0) >= 1)
    await asyncio.sleep(1.5)  # interval 1 s, backed off to 2 s after a failed cycle
    assert len(rig.vendor.fetches) == 1
    health = rig.health()
    assert health["last_error_permanent"] is True and "401" in health["last_error"]
    description = await handle.describe()
    assert description.raw_description.pending_activities == []  # not retrying in the background
    await handle.terminate()


async def test_the_servers_retry_after_is_honoured(rig: Rig) -> None:
    rig.vendor.records = [_record(1)]
    rig.vendor.failures = [Retryable("listvendor: HTTP 429", retry_after=2.0)]
    handle = await rig.start()
    await _until(lambda: rig.stored() == 1)
    (_, first), (_, second) = rig.vendor.fetches[:2]
    assert second - first >= 1.9
    assert rig.health().get("failures_in_row", 0) == 0  # a retried attempt is not a failed cycle
    await handle.terminate()

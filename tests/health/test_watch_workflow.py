"""ConnectorWatchWorkflow on a real Temporal dev server, a real worker and a real store.

A connector with `expect_within: 1s` stays quiet: the watcher (ticking every 0.3 s through its
input, two rounds per run, so it continues as new several times) opens a silent incident, appends one `accolade.connector.silent` event and prints one
console alert. A signed GitHub webhook then arrives through the receiver: the incident
resolves with one `accolade.connector.resolved` event and one "resolved" message.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from activities.contracts import WatchInput
from api import create_app
from store import create_store_engine
from store._db import migrate
from store.schema import connector_incidents, events
from tests.factories import FIXTURES, signed_headers
from tests.health.test_check_connectors import health_config
from worker import build_worker
from workflows.watch import watcher_id

pytestmark = pytest.mark.temporal


def _green_run_now() -> bytes:
    """A real GitHub `workflow_run` payload, finished "now": health's last event time is the
    event's own `time`, so an old fixture would not end the silence. It is stamped 30 s ahead
    (within `event_time_ahead`): with `expect_within: 1s`, an event stamped exactly now would be
    silent again if the watcher's next round came more than 1 s later on a busy machine."""
    payload = json.loads((FIXTURES / "workflow_run" / "01-completed.json").read_bytes())
    payload["workflow_run"]["updated_at"] = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    return json.dumps(payload).encode()


async def _until(check: Callable[[], bool], *, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def _alarm_events(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(events.c.type).where(events.c.type.like("accolade.%"))
                                 .order_by(events.c.seq)).scalars())


def _incidents(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(connector_incidents)).all())


async def test_a_silent_connector_alerts_once_and_resolves_when_an_event_arrives(
        tmp_path: Path, temporal_env: Any) -> None:
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    config = health_config(url, connector="expect_within: 1s")
    engine = create_store_engine(url)
    migrate(engine)
    console = io.StringIO()
    queue = f"watch-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(temporal_env.client, config, engine, task_queue=queue,
                                executor=executor, console=console):
            handle = await temporal_env.client.start_workflow(
                "ConnectorWatchWorkflow", WatchInput(tenant="demo", every_seconds=0.3, rounds_per_run=2),
                id=f"{watcher_id('demo')}/{queue}", task_queue=queue)
            await _until(lambda: len(console.getvalue().splitlines()) >= 1)
            await asyncio.sleep(1.0)  # more rounds: still one incident, one event, one message
            assert _alarm_events(engine) == ["accolade.connector.silent"]
            [alert] = console.getvalue().splitlines()
            assert alert.startswith("[accolade:alert] demo: connector github is silent: no event for")

            receiver = create_app(config, engine)
            body = _green_run_now()
            answer = TestClient(receiver).post("/webhooks/github", content=body,
                                               headers=signed_headers(body, "workflow_run", "d-1"))
            assert answer.status_code == 200, answer.text
            receiver.state.intake.health.flush()  # what the receiver's flusher thread does every 5 s

            await _until(lambda: len(console.getvalue().splitlines()) >= 2)
            assert "connector github: silent alarm resolved" in console.getvalue().splitlines()[1]
            assert _alarm_events(engine) == ["accolade.connector.silent", "accolade.connector.resolved"]
            [incident] = _incidents(engine)
            assert incident.resolved_at is not None and incident.notified_resolved_at is not None
            latest = await temporal_env.client.get_workflow_handle(handle.id).describe()
            # two rounds per run: the watcher continued as new, carrying when it first saw the
            # connector (the silence is counted from it) and the open incident's fate
            assert latest.run_id != handle.result_run_id
            await temporal_env.client.get_workflow_handle(handle.id).terminate()
    engine.dispose()

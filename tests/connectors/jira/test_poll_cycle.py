"""The Jira connector inside the product's poll cycle: PollWorkflow on a real Temporal, the
poll_connector activity, the real store, and the local Jira stand-in (tests/jira_standin.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from activities.contracts import PollerInput
from intake.context import Intake
from store import create_store_engine
from store._db import migrate
from store.cursors import read_cursor
from store.health import health_rows
from store.schema import events
from tests.factories import make_config
from tests.jira_standin import JiraStandin, jira_standin  # noqa: F401 - the session fixture
from worker import build_worker
from workflows.poller import poller_id

pytestmark = pytest.mark.temporal

CONFIG = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - id: jira
        vendor: jira
        secret: "${TEST_JIRA_SECRET:-jira-secret}"
        url: "URL"
        user: u01
        token: "${TEST_JIRA_TOKEN:-standin-token}"
        jql: "project = ACME"
        poll: {every: 1s, overlap: 1m, since: "SINCE"}
    people:
      - {person: demo-2, identities: ["jira:id=u02"]}
"""


async def _until(check: Callable[[], bool], *, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_the_poll_workflow_stores_a_resolved_ticket_from_jira(
    tmp_path: Path, temporal_env: Any, jira_standin: JiraStandin  # noqa: F811
) -> None:
    from jira import JIRA

    since = datetime.now(UTC) - timedelta(seconds=2)
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    text = CONFIG.replace('"URL"', f'"{jira_standin.url}"').replace('"SINCE"', f'"{since.isoformat()}"')
    config = make_config(url, text)
    jira = JIRA(server=jira_standin.url, basic_auth=("u01", jira_standin.token))
    issue = jira.create_issue(project="ACME", summary="Cycle", issuetype={"name": "Task"},
                              reporter={"name": "u02"}, assignee={"name": "u02"})
    [done] = [t for t in jira.transitions(issue.key) if t["to"]["name"] == "Done"]
    jira.transition_issue(issue.key, done["id"])
    engine = create_store_engine(url)
    migrate(engine)
    queue = f"poll-{uuid.uuid4()}"

    def stored() -> set[str]:
        with engine.connect() as conn:
            return {row.event_id for row in conn.execute(select(events.c.event_id))}

    try:
        with ThreadPoolExecutor(max_workers=8) as executor:
            async with build_worker(temporal_env.client, config, engine, task_queue=queue, executor=executor,
                                    intake=Intake(config, engine)):
                handle = await temporal_env.client.start_workflow(
                    "PollWorkflow", PollerInput(tenant="demo", connector="jira", every_seconds=1.0),
                    id=poller_id("demo", "jira") + "/" + queue, task_queue=queue)
                await _until(lambda: f"{issue.id}:created" in stored() and len(
                    [e for e in stored() if e.startswith(f"{issue.id}:")]) == 2)
                await handle.terminate()
        with engine.connect() as conn:
            cursor = read_cursor(conn, "demo", "jira")
            health = health_rows(conn, "demo").get("jira", {})
        assert cursor is not None and since < cursor <= datetime.now(UTC)
        assert health.get("failures_in_row", 0) == 0 and health.get("poll_cycles", 0) >= 1
    finally:
        engine.dispose()

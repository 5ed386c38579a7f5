"""Issue 10's done-means for Canvas: the PollWorkflow on a real Temporal polls the local Canvas
stand-in (tests/canvas_standin.py) and a learner's course completion becomes a grant; a
concluded enrollment alone grants nothing; an expired token turns the connector failing with a
permanent error that does not name the token. Runs on SQLite and PostgreSQL (the `engine`
fixture)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from activities.contracts import PollerInput
from activities.temporal_client import EvaluatorNotifier
from identity.sync import sync_people
from intake.context import Intake
from store.health import health_rows
from store.schema import events, grants
from tests.canvas_standin import TOKEN, CanvasStandin, canvas_standin  # noqa: F401 - the fixture
from tests.factories import make_config
from worker import build_worker
from workflows.poller import poller_id

pytestmark = pytest.mark.temporal

CONFIG = """\
store: {url: "sqlite:///unused.db"}
temporal: {task_queue: "QUEUE"}
tenants:
  - id: TENANT
    shards: 1
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - id: canvas
        vendor: canvas
        url: "URL"
        token: "${TEST_CANVAS_TOKEN:-TOKEN}"
        courses: [101]
        poll: {every: 1s, overlap: 1m, since: "SINCE"}
    channels:
      - {id: feed, kind: feed}
    people:
      - {person: learner-1, identities: ["canvas:id=201"]}
      - {person: learner-2, identities: ["canvas:id=202"]}
    achievements:
      - key: course-completed
        version: 1
        name: Course completed
        rule: {count: 1, of: lms.course.completed}
        deliver_to: [feed]
"""


async def _until(check: Callable[[], bool], *, within: float = 45.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_course_completed_in_canvas_is_granted_through_the_poll_workflow(
    engine: Engine, temporal_env: Any, canvas_standin: CanvasStandin  # noqa: F811
) -> None:
    tenant, queue = f"canvas-{uuid.uuid4().hex[:8]}", f"poll-{uuid.uuid4()}"
    since = datetime.now(UTC) - timedelta(seconds=5)
    canvas_standin.state.complete(101, 201)
    canvas_standin.state.enrollment_state[(101, 202)] = "completed"  # concluded, not completed
    canvas_standin.state.grade(101, 301, 202, 6.0)
    text = (CONFIG.replace("QUEUE", queue).replace("TENANT", tenant).replace('"URL"', f'"{canvas_standin.url}"')
            .replace(":-TOKEN}", f":-{TOKEN}}}").replace('"SINCE"', f'"{since.isoformat()}"'))
    config = make_config(str(engine.url.render_as_string(hide_password=False)), text)

    def granted() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [(r.person_id, r.achievement) for r in conn.execute(
                select(grants.c.person_id, grants.c.achievement).where(grants.c.tenant == tenant))]

    def health() -> dict[str, Any]:
        with engine.connect() as conn:
            return health_rows(conn, tenant).get("canvas", {})

    def stored() -> set[str]:
        with engine.connect() as conn:
            return {r.event_id for r in conn.execute(select(events.c.event_id).where(events.c.tenant == tenant))}

    sync_people(engine, config.tenants[0])
    notifier = EvaluatorNotifier(temporal_env.client, config)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(temporal_env.client, config, engine, task_queue=queue, executor=executor,
                                intake=Intake(config, engine, notifier=notifier)):
            notifier.start()
            handle = await temporal_env.client.start_workflow(
                "PollWorkflow", PollerInput(tenant=tenant, connector="canvas", every_seconds=1.0),
                id=poller_id(tenant, "canvas") + "/" + queue, task_queue=queue)
            try:
                await _until(lambda: granted() == [("learner-1", "course-completed")])
                await asyncio.sleep(2.5)  # more cycles: the same completion is read again
                assert granted() == [("learner-1", "course-completed")]
                assert health().get("failures_in_row", 0) == 0 and health().get("poll_cycles", 0) >= 2
                canvas_standin.state.revoked = True  # the token expires
                await _until(lambda: health().get("failures_in_row", 0) >= 1)
            finally:
                await handle.terminate()
                await notifier.stop()
    ids = stored()
    assert [i for i in ids if i.startswith("course_progress:")] == \
        [f"course_progress:101:201:{canvas_standin.state.completed[(101, 201)]}"]
    assert "submission:5001:1" in ids
    failing = health()
    assert failing["last_error_permanent"] and "401" in failing["last_error"]
    assert TOKEN not in failing["last_error"]

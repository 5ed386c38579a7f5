"""No personal data was ever in Temporal (DESIGN §7), so erasure has nothing to erase there.

A real worker on the dev server evaluates a person's events and delivers the grant; the
person is then erased in the store, and every workflow history of the run (fetched through the
client) is searched for the erased values: none is there, while the person's opaque id is
(so the search reads real histories and could fail).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select

from activities.temporal_client import EvaluatorNotifier
from identity.erase import erase_person
from identity.sync import sync_people
from intake.context import Intake
from intake.ingest import ingest_batch
from store.schema import deliveries, events
from tests.factories import make_config
from worker import build_worker

pytestmark = pytest.mark.temporal

CONFIG = """\
store: {url: "sqlite:///unused.db"}
temporal: {task_queue: "QUEUE"}
tenants:
  - id: TENANT
    shards: 1
    api_keys: ["${TEST_API_KEY}"]
    channels:
      - {id: feed, kind: feed}
    people:
      - {person: PERSON, identities: ["github:login=LOGIN", "email:EMAIL"]}
    achievements:
      - key: first-green
        version: 1
        name: First green pipeline
        rule: {count: 1, of: ci.pipeline.completed, where: {outcome: success}}
        deliver_to: [feed]
"""


def _readable(history: str) -> str:
    """The history JSON with every payload's base64 `data` decoded beside it."""
    decoded = [base64.b64decode(data).decode("utf-8", "replace") for data in _PAYLOAD_DATA.findall(history)]
    return "\n".join([history, *decoded])


_PAYLOAD_DATA = re.compile(r'"data":\s*"([A-Za-z0-9+/=]+)"')


async def test_workflow_histories_hold_no_personal_data_of_an_erased_person(engine: Engine,
                                                                            temporal_env: Any) -> None:
    run = uuid.uuid4().hex[:8]
    tenant, queue, person = f"erase-{run}", f"erase-{uuid.uuid4()}", f"p-{run}"
    login, email, words = f"ada-{run}", f"ada.{run}@example.com", f"Augusta Byron {run}"
    text = (CONFIG.replace("QUEUE", queue).replace("TENANT", tenant).replace("PERSON", person)
            .replace("LOGIN", login).replace("EMAIL", email))
    config = make_config(str(engine.url.render_as_string(hide_password=False)), text)
    sync_people(engine, config.tenants[0])
    notifier = EvaluatorNotifier(temporal_env.client, config)
    item = {"id": f"run-{run}", "source": "/ci", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "login": login, "email": email},
                     "outcome": "success", "message": f"{words} made it green"}}

    def delivered() -> bool:
        with engine.connect() as conn:
            return conn.execute(select(deliveries.c.status).where(deliveries.c.tenant == tenant)).scalar() == "sent"

    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(temporal_env.client, config, engine, task_queue=queue, executor=executor,
                                intake=Intake(config, engine, notifier=notifier)):
            notifier.start()
            try:
                outcome = ingest_batch(engine, config.tenants[0], [item])
                assert outcome.count("accepted") == 1
                notifier.mark_dirty(tenant, outcome.dirty_shards)
                deadline = time.monotonic() + 60
                while not delivered():
                    assert time.monotonic() < deadline, "the grant was not delivered"
                    await asyncio.sleep(0.2)
            finally:
                await notifier.stop()

    with engine.begin() as conn:
        erase_person(conn, tenant, person, actor="cli:test", reason="erasure request")
        body = conn.execute(select(events.c.body).where(events.c.tenant == tenant)).scalar_one()
    assert login not in json.dumps(body) and words not in json.dumps(body)  # the store is clean too

    histories = []
    async for execution in temporal_env.client.list_workflows(f'TaskQueue = "{queue}"'):
        handle = temporal_env.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        histories.append((execution.id, (await handle.fetch_history()).to_json()))
    ids = {workflow_id.split("/")[0] for workflow_id, _ in histories}
    assert {"evaluate", "deliver"} <= ids, ids
    everything = "\n".join(_readable(history) for _, history in histories)
    assert person in everything  # the opaque id is there: the search reads real histories
    for value in (login, email, words, run + " made it green"):
        assert value.lower() not in everything.lower(), value

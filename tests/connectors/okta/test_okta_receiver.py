"""Okta event hooks through the receiver, on SQLite and PostgreSQL: the verification GET, a
forged delivery refused with nothing stored, and a sign-in that becomes a grant through the real
evaluator on the Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from activities.temporal_client import EvaluatorNotifier
from api import create_app
from identity.sync import sync_people
from intake.context import Intake
from store.schema import events, grants, parked, quarantine, webhook_log, webhook_rejections
from tests.factories import make_config
from worker import build_worker

pytestmark = pytest.mark.temporal

FIXTURES = Path(__file__).parent / "fixtures"
AUTH = "okta-hook-not-really-a-secret"
SIGN_IN = (FIXTURES / "user_session_start" / "01-sign-in-success.json").read_bytes()
FAILED = (FIXTURES / "user_session_start" / "02-sign-in-failure.json").read_bytes()
CONFIG = """\
store: {url: "sqlite:///unused.db"}
temporal: {task_queue: "QUEUE"}
tenants:
  - id: TENANT
    shards: 1
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - {id: okta, vendor: okta, authorization: "${TEST_OKTA_AUTH:-AUTH}"}
    channels:
      - {id: feed, kind: feed}
    people:
      - {person: demo-1, identities: ["okta:id=00uttidj01jqL21aM1d6"]}
    achievements:
      - key: first-login
        version: 1
        name: First login
        rule: {count: 1, of: iam.user.signed_in}
        deliver_to: [feed]
"""


def _headers(auth: str = AUTH, **extra: str) -> dict[str, str]:
    return {"content-type": "application/json", "user-agent": "Okta Event Hook", "authorization": auth, **extra}


async def _until(check: Callable[[], bool], *, within: float = 45.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


async def test_okta_hook_is_verified_and_a_sign_in_is_granted(engine: Engine, temporal_env: Any) -> None:
    tenant, queue = f"okta-{uuid.uuid4().hex[:8]}", f"okta-{uuid.uuid4()}"
    text = CONFIG.replace("QUEUE", queue).replace("TENANT", tenant).replace(":-AUTH}", f":-{AUTH}}}")
    config = make_config(str(engine.url.render_as_string(hide_password=False)), text)
    sync_people(engine, config.tenants[0])
    notifier = EvaluatorNotifier(temporal_env.client, config)

    def granted() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(grants.c.person_id, grants.c.achievement).where(grants.c.tenant == tenant))]

    with ThreadPoolExecutor(max_workers=8) as executor, \
            TestClient(create_app(config, engine, notifier)) as client:
        async with build_worker(temporal_env.client, config, engine, task_queue=queue, executor=executor,
                                intake=Intake(config, engine, notifier=notifier)):
            notifier.start()
            try:
                call = asyncio.to_thread
                challenge = await call(client.get, "/webhooks/okta",
                                       headers=_headers(**{"x-okta-verification-challenge": "c-123"}))
                assert (challenge.status_code, challenge.json()) == (200, {"verification": "c-123"})
                forged = [await call(client.get, "/webhooks/okta",
                                     headers=_headers("wrong", **{"x-okta-verification-challenge": "c"})),
                          await call(client.post, "/webhooks/okta", content=SIGN_IN, headers=_headers("wrong"))]
                assert [(a.status_code, a.json()) for a in forged] == [(401, {"error": "authorization mismatch"})] * 2
                assert _count(engine, events) == _count(engine, quarantine) == 0  # nothing stored
                failed = await call(client.post, "/webhooks/okta", content=FAILED, headers=_headers())
                assert failed.json() == {"accepted": 0, "duplicate": 0, "dropped": 1,
                                         "ignored": "1 sign-in(s) without outcome SUCCESS dropped"}
                answers = [await call(client.post, "/webhooks/okta", content=SIGN_IN, headers=_headers())
                           for _ in range(2)]  # Okta retries a delivery it thinks timed out
                assert [(a.status_code, a.json()["accepted"], a.json()["duplicate"]) for a in answers] == [
                    (200, 1, 0), (200, 0, 1)]
                await _until(lambda: granted() == [("demo-1", "first-login")])
                client.app.state.intake.rejections.flush()  # the receiver does this every 5 s
            finally:
                await notifier.stop()
    with engine.connect() as conn:
        row = conn.execute(select(events.c.event_id, events.c.type, events.c.body)
                           .where(events.c.tenant == tenant)).one()
        logged = conn.execute(select(webhook_log.c.delivery_id, webhook_log.c.outcome, webhook_log.c.dropped)
                              .where(webhook_log.c.tenant == tenant).order_by(webhook_log.c.id)).all()
        refused = conn.execute(select(webhook_rejections.c.reason, webhook_rejections.c.count)
                               .where(webhook_rejections.c.tenant == tenant)).all()
    assert (row.event_id, row.type) == ("dc9fd3c0-598c-11ef-8478-2b7584bf8d5a", "iam.user.signed_in")
    assert row.body["accoladedelivery"] == "b5a188b9-5ece-4636-b041-482ffda96311"
    assert _count(engine, parked, parked.c.tenant == tenant) == 0  # okta:id=00u… is demo-1: routed
    assert [tuple(r) for r in logged] == [
        ("3f9c2a70-0b8e-4a55-9d0c-6c1c55c0d2a1", "ignored", 1),
        ("b5a188b9-5ece-4636-b041-482ffda96311", "stored", 0),
        ("b5a188b9-5ece-4636-b041-482ffda96311", "duplicate", 0)]
    assert [tuple(r) for r in refused] == [("authorization mismatch", 2)]  # metadata only, no value
    assert AUTH not in json.dumps([list(map(str, r)) for r in refused])

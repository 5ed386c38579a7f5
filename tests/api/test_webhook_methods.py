"""What the webhook route answers before parsing: methods, pauses, health counters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from identity.sync import sync_people
from store.health import health_rows
from store.schema import events
from tests.factories import CONFIG_TEXT, FIXTURES, make_config, signed_headers

GREEN_RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()
PAUSED = CONFIG_TEXT.replace('secret: "${TEST_GITHUB_SECRET}"}', 'secret: "${TEST_GITHUB_SECRET}", enabled: false}')


def _client(engine: Engine, db_url: str, text: str = CONFIG_TEXT) -> TestClient:
    config = make_config(db_url, text)
    sync_people(engine, config.tenants[0])
    return TestClient(create_app(config, engine))


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    with _client(engine, db_url) as client:
        yield client


def test_a_method_the_vendor_does_not_use_is_405(client: TestClient) -> None:
    answer = client.get("/webhooks/github")
    assert answer.status_code == 405 and "GET" in answer.json()["error"]


def test_a_paused_connector_answers_503_and_stores_nothing(engine: Engine, db_url: str) -> None:
    with _client(engine, db_url, PAUSED) as client:
        answer = client.post("/webhooks/github", content=GREEN_RUN,
                             headers=signed_headers(GREEN_RUN, "workflow_run", "d-1"))
    assert answer.status_code == 503 and "paused" in answer.json()["error"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


def test_health_counts_what_the_connector_received(client: TestClient, engine: Engine) -> None:
    for delivery in ("d-1", "d-2"):  # the second is the same fact: a duplicate
        client.post("/webhooks/github", content=GREEN_RUN,
                    headers=signed_headers(GREEN_RUN, "workflow_run", delivery))
    client.post("/webhooks/github", content=GREEN_RUN,
                headers=signed_headers(GREEN_RUN, "workflow_run", "d-3", secret="wrong"))
    broken = b"{not json"
    client.post("/webhooks/github", content=broken, headers=signed_headers(broken, "workflow_run", "d-4"))
    client.app.state.intake.health.flush()  # the receiver's flusher thread does this every 5 s
    with engine.connect() as conn:
        row = health_rows(conn, "demo")["github"]
    assert {k: row[k] for k in ("received", "accepted", "duplicate", "quarantined", "rejected")} == {
        "received": 3, "accepted": 1, "duplicate": 1, "quarantined": 1, "rejected": 1}
    assert row["last_event_at"] is not None

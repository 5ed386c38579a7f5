"""Okta lifecycle hooks suspend and resume deliveries like SCIM deprovisioning (real fixtures)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import create_app
from identity.audit import history
from identity.sync import sync_people
from store.suspended import is_suspended
from tests.factories import make_config

FIXTURES = Path(__file__).parents[1] / "connectors" / "okta" / "fixtures"
AUTH = "okta-hook-not-really-a-secret"
CONFIG = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - {id: okta, vendor: okta, authorization: "${TEST_OKTA_AUTH:-AUTH}"}
    people:
      - {person: dana, identities: ["okta:id=00u1qw1mqitPHM8AJ0g7"]}
""".replace(":-AUTH}", f":-{AUTH}}}")


def _post(client: TestClient, name: str) -> None:
    body = next((FIXTURES / name).glob("*.json")).read_bytes()
    answer = client.post("/webhooks/okta", content=body,
                         headers={"content-type": "application/json", "authorization": AUTH})
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text


def _suspended(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return is_suspended(conn, "demo", "dana")


def test_suspend_and_deactivate_suppress_unsuspend_resumes_and_an_older_activate_does_not(
        engine: Engine, db_url: str) -> None:
    config = make_config(db_url, CONFIG)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        _post(client, "user_lifecycle_suspend")  # 09:11
        assert _suspended(engine) == "deprovisioned"
        _post(client, "user_lifecycle_unsuspend")  # 09:12
        assert _suspended(engine) is None
        _post(client, "user_lifecycle_deactivate")  # 09:13
        assert _suspended(engine) == "deprovisioned"
        _post(client, "user_lifecycle_activate")  # 09:10: older than the deactivation
        assert _suspended(engine) == "deprovisioned"
    with engine.connect() as conn:
        actions = [r["action"] for r in history(conn, "demo", person="dana") if r["actor"] == "okta"]
    assert actions == ["okta.deprovisioned", "okta.reactivated", "okta.deprovisioned"]

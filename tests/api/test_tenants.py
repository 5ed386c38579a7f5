"""Tenant data never crosses tenants: every auth path and every read, tried with the other
tenant's key or secret, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from config import parse_config
from identity.sync import sync_people
from store.schema import deliveries, event_queue, events, feed, grants
from tests.factories import FIXTURES, signed_headers

GREEN_RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()
TWO_TENANTS = """\
store: {url: "URL"}
tenants:
  - id: acme
    api_keys: ["${ACME_KEY}"]
    connectors: [{id: gh-acme, vendor: github, secret: "${ACME_SECRET}"}]
    channels: [{id: feed, kind: feed}]
    people: [{person: alice, identities: ["github:id=15669918"]}]
  - id: globex
    api_keys: ["${GLOBEX_KEY}"]
    connectors: [{id: gh-globex, vendor: github, secret: "${GLOBEX_SECRET}"}]
    channels: [{id: feed, kind: feed}]
    people: [{person: bob, identities: ["github:id=1"]}]
"""
ENV = {"ACME_KEY": "acme-key", "ACME_SECRET": "acme-secret",
       "GLOBEX_KEY": "globex-key", "GLOBEX_SECRET": "globex-secret"}
ACME = {"authorization": "Bearer acme-key"}
GLOBEX = {"authorization": "Bearer globex-key"}
NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = parse_config(TWO_TENANTS.replace("URL", db_url), file="two.yaml", env=ENV)
    for tenant in config.tenants:
        sync_people(engine, tenant)
    _acme_grant_with_feed_item(engine)
    with TestClient(create_app(config, engine)) as client:
        yield client


def _acme_grant_with_feed_item(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(grants.insert().values(
            grant_id="g-acme", tenant="acme", person_id="alice", achievement="first", version=1,
            content_hash="h", shard=0, granted_at=NOW, evidence={}, created_at=NOW))
        conn.execute(deliveries.insert().values(
            grant_id="g-acme", channel="feed", tenant="acme", person_id="alice", kind="feed",
            status="failed", attempts=1, last_error="x", updated_at=NOW))
        conn.execute(feed.insert().values(
            tenant="acme", person_id="alice", grant_id="g-acme", channel="feed", title="First",
            body="b", created_at=NOW))


def _count(engine: Engine, table) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_webhook_signed_with_the_other_tenants_secret_is_401(client: TestClient, engine: Engine) -> None:
    forged = signed_headers(GREEN_RUN, "workflow_run", "x-1", secret="globex-secret")
    assert client.post("/webhooks/gh-acme", content=GREEN_RUN, headers=forged).status_code == 401
    own = signed_headers(GREEN_RUN, "workflow_run", "x-1", secret="acme-secret")
    assert client.post("/webhooks/gh-acme", content=GREEN_RUN, headers=own).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(events.c.tenant, events.c.source)).all() == [
            ("acme", "/accolade/acme/gh-acme")]


def test_the_same_fact_in_two_tenants_is_two_events(client: TestClient, engine: Engine) -> None:
    for connector, secret in (("gh-acme", "acme-secret"), ("gh-globex", "globex-secret")):
        headers = signed_headers(GREEN_RUN, "workflow_run", "same-delivery", secret=secret)
        assert client.post(f"/webhooks/{connector}", content=GREEN_RUN, headers=headers).json()["accepted"] == 1
    assert _count(engine, events) == 2


def test_reads_with_the_other_tenants_key_see_nothing_of_it(client: TestClient) -> None:
    assert [d["grant_id"] for d in client.get("/v1/deliveries", headers=ACME).json()["deliveries"]] == ["g-acme"]
    assert client.get("/v1/deliveries", headers=GLOBEX).json()["deliveries"] == []
    assert client.get("/v1/deliveries?failed=true", headers=GLOBEX).json()["deliveries"] == []
    assert [i["title"] for i in client.get("/v1/persons/person:alice/feed", headers=ACME).json()["items"]] == ["First"]
    for path in ("/v1/persons/person:alice/feed", "/v1/persons/person:alice", "/v1/persons/github:15669918"):
        answer = client.get(path, headers=GLOBEX)
        assert answer.status_code == 404, path
        assert "First" not in answer.text and "g-acme" not in answer.text


def test_shards_are_the_key_tenants_own(client: TestClient, engine: Engine) -> None:
    headers = signed_headers(GREEN_RUN, "workflow_run", "s-1", secret="acme-secret")
    client.post("/webhooks/gh-acme", content=GREEN_RUN, headers=headers)
    assert _count(engine, event_queue) == 1
    acme = client.get("/v1/shards", headers=ACME).json()["shards"]
    globex = client.get("/v1/shards", headers=GLOBEX).json()["shards"]
    assert sum(s["waiting"] for s in acme) == 1
    assert sum(s["waiting"] for s in globex) == 0
    assert all(s["workflow_id"].startswith("evaluate/globex/") for s in globex)


def test_events_posted_with_a_key_land_in_its_tenant_only(client: TestClient, engine: Engine) -> None:
    item = {"id": "e1", "source": "/ci/x", "type": "deploy.completed", "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": "1"}}}
    assert client.post("/v1/events", json=item, headers=GLOBEX).json()["accepted"] == 1
    assert client.post("/v1/events", json=item, headers=ACME).json()["accepted"] == 1  # not a duplicate
    with engine.connect() as conn:
        assert sorted(conn.execute(select(events.c.tenant)).scalars()) == ["acme", "globex"]

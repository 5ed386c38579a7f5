"""The receiver's /metrics, scraped over HTTP around real requests: counters move exactly.

Counters live for the whole test process, so every check is a difference between a scrape
before and a scrape after the requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import create_app
from identity.sync import sync_people
from metrics.ingest import MAX_REASONS
from tests.factories import API_KEY, FIXTURES, make_config, signed_headers
from tests.metrics.scrape import Samples, delta, parse, total, value

GREEN_RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()
AUTH = {"authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = make_config(db_url)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def _event(event_id: str, actor_id: str = "15669918", **extra: object) -> dict:
    return {"id": event_id, "source": "/ci/metrics", "type": "ci.pipeline.completed",
            "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": actor_id}, "outcome": "success"}, **extra}


def test_batch_counts_each_outcome_once_under_connector_api(client: TestClient) -> None:
    before = scrape(client)
    batch = [_event("m1"), _event("m2"), _event("m1"), _event("m3", actor_id="999"),
             {"id": "bad", "source": "/ci/metrics"}]  # a duplicate, a parked one, a bad one
    answer = client.post("/v1/events", json=batch, headers=AUTH)
    assert answer.status_code == 200, answer.text
    after = scrape(client)
    labels = {"tenant": "demo", "connector": "api"}
    assert delta(before, after, "accolade_events_received_total", **labels) == 5
    assert delta(before, after, "accolade_events_total", outcome="accepted", **labels) == 3
    assert delta(before, after, "accolade_events_total", outcome="duplicate", **labels) == 1
    assert delta(before, after, "accolade_events_total", outcome="quarantined", **labels) == 1
    assert delta(before, after, "accolade_events_parked_total", **labels) == 1


def test_webhooks_count_requests_events_and_refusals(client: TestClient) -> None:
    before = scrape(client)
    for delivery in ("w-1", "w-2"):  # the same fact twice: stored, then a duplicate
        client.post("/webhooks/github", content=GREEN_RUN,
                    headers=signed_headers(GREEN_RUN, "workflow_run", delivery))
    client.post("/webhooks/github", content=GREEN_RUN,
                headers={**signed_headers(GREEN_RUN, "workflow_run", "w-3"), "x-hub-signature-256": "sha256=" + "0" * 64})
    not_json = b"{not json"
    client.post("/webhooks/github", content=not_json, headers=signed_headers(not_json, "workflow_run", "w-4"))
    after = scrape(client)
    labels = {"tenant": "demo", "connector": "github"}
    assert delta(before, after, "accolade_webhook_requests_total", outcome="stored", **labels) == 1
    assert delta(before, after, "accolade_webhook_requests_total", outcome="duplicate", **labels) == 1
    assert delta(before, after, "accolade_webhook_requests_total", outcome="quarantined", **labels) == 1
    assert delta(before, after, "accolade_webhook_refused_total", reason="signature mismatch", **labels) == 1
    assert delta(before, after, "accolade_events_received_total", **labels) == 3
    assert delta(before, after, "accolade_events_total", outcome="accepted", **labels) == 1
    assert delta(before, after, "accolade_events_total", outcome="duplicate", **labels) == 1
    assert delta(before, after, "accolade_events_total", outcome="quarantined", **labels) == 1


def test_refusal_reasons_stay_bounded_whoever_picks_the_header_names(client: TestClient) -> None:
    before = scrape(client)
    for n in range(MAX_REASONS + 5):
        headers = {**signed_headers(GREEN_RUN, "workflow_run", f"h-{n}"), f"x-junk-{n}": "x" * 5000}
        assert client.post("/webhooks/github", content=GREEN_RUN, headers=headers).status_code == 400
    after = scrape(client)
    refused = {dict(labels)["reason"] for (name, labels) in after if name == "accolade_webhook_refused_total"}
    assert not any("junk" in reason for reason in refused)
    assert delta(before, after, "accolade_webhook_refused_total", tenant="demo", connector="github",
                 reason="header longer than 4096 characters") == MAX_REASONS + 5


def test_shard_lag_shows_the_events_waiting_for_an_evaluator(client: TestClient) -> None:
    assert client.post("/v1/events", json=[_event(f"lag-{n}") for n in range(7)], headers=AUTH).status_code == 200
    samples = scrape(client)  # no worker runs here: all seven wait
    shards = client.get("/v1/shards", headers=AUTH).json()["shards"]
    assert total(samples, "accolade_shard_events_waiting", tenant="demo") == 7
    for shard in shards:  # the same facts as GET /v1/shards
        labels = {"tenant": "demo", "shard": str(shard["shard"])}
        assert value(samples, "accolade_shard_events_waiting", **labels) == shard["waiting"]
        age = value(samples, "accolade_shard_oldest_waiting_seconds", **labels)
        assert (age > 0) == (shard["waiting"] > 0) and age < 60
    assert value(samples, "accolade_shard_lag_up", tenant="demo") == 1
    assert value(samples, "accolade_shard_lag_up", tenant="other") == 1


def test_metrics_are_out_of_the_openapi_spec_and_can_be_turned_off(
    client: TestClient, engine: Engine, db_url: str
) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
    config = make_config(db_url)
    off = config.model_copy(update={"metrics": config.metrics.model_copy(update={"receiver": False})})
    with TestClient(create_app(off, engine)) as quiet:
        assert quiet.get("/metrics").status_code == 404


def test_no_label_carries_a_person_a_login_or_an_email(client: TestClient) -> None:
    client.post("/webhooks/github", content=GREEN_RUN, headers=signed_headers(GREEN_RUN, "workflow_run", "p-1"))
    client.post("/v1/events", json=[_event("p-2", actor_id="424242")], headers=AUTH)
    label_values = {v for (_name, labels) in scrape(client) for _key, v in labels}
    body = json.loads(GREEN_RUN)
    personal = {body["sender"]["login"], str(body["sender"]["id"]), "424242", "demo-1", "Codertocat"}
    assert label_values.isdisjoint(personal)
    assert {"demo", "github", "api"} <= label_values

"""The receiver over HTTP: signed webhooks, the CloudEvents ingest API, health and OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from identity.sync import sync_people
from store.schema import event_queue, events, parked, quarantine, webhook_log, webhook_rejections
from tests.factories import API_KEY, FIXTURES, make_config, signed_headers

GREEN_RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = make_config(db_url)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client


def _count(engine: Engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_signed_webhook_is_stored_once_however_often_redelivered(
    client: TestClient, engine: Engine
) -> None:
    headers = signed_headers(GREEN_RUN, "workflow_run", "d-1")
    answers = [client.post("/webhooks/github", content=GREEN_RUN, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["accepted"] for a in answers] == [1, 0, 0]
    assert _count(engine, events) == 1
    assert _count(engine, event_queue) == 1  # Codertocat is linked: routed, not parked
    with engine.connect() as conn:
        row = conn.execute(select(events.c.event_id, events.c.source, events.c.type, events.c.body)).one()
    # the id is the fact (run 289782451, attempt 1, success); the delivery rides beside it
    assert tuple(row)[:3] == ("workflow_run:289782451:1:success", "/accolade/demo/github",
                              "ci.pipeline.completed")
    assert row.body["accoladedelivery"] == "d-1"


def test_signed_body_replayed_under_new_delivery_ids_counts_once(
    client: TestClient, engine: Engine
) -> None:
    answers = [client.post("/webhooks/github", content=GREEN_RUN,
                           headers=signed_headers(GREEN_RUN, "workflow_run", f"replay-{n}"))
               for n in range(5)]
    assert [(a.status_code, a.json()["accepted"], a.json()["duplicate"]) for a in answers] == [
        (200, 1, 0)] + [(200, 0, 1)] * 4
    assert _count(engine, events) == 1 and _count(engine, event_queue) == 1


def test_redelivery_of_an_event_stored_under_its_delivery_id_does_not_count_again(
    client: TestClient, engine: Engine
) -> None:
    # Before facts became ids, GitHub events were stored with X-GitHub-Delivery as their id.
    from datetime import UTC, datetime

    from store.schema import events as events_table

    with engine.begin() as conn:
        conn.execute(events_table.insert().values(
            tenant="demo", source="/accolade/demo/github", event_id="old-delivery",
            type="ci.pipeline.completed", time=datetime(2026, 11, 1, tzinfo=UTC),
            body={"id": "old-delivery"}, received_at=datetime(2026, 11, 1, tzinfo=UTC)))
    old = client.post("/webhooks/github", content=GREEN_RUN,
                      headers=signed_headers(GREEN_RUN, "workflow_run", "old-delivery"))
    assert (old.status_code, old.json()["accepted"], old.json()["duplicate"]) == (200, 0, 1)
    fresh = client.post("/webhooks/github", content=GREEN_RUN,
                        headers=signed_headers(GREEN_RUN, "workflow_run", "new-delivery"))
    assert fresh.json()["accepted"] == 1  # the same fact under a delivery never seen: stored once
    assert _count(engine, events) == 2


def test_wrong_signature_gets_401_and_stores_only_metadata(
    client: TestClient, engine: Engine
) -> None:
    headers = signed_headers(GREEN_RUN, "workflow_run", "d-2", secret="not-the-secret")
    answer = client.post("/webhooks/github", content=GREEN_RUN, headers=headers)
    assert answer.status_code == 401
    assert "test-secret" not in answer.text
    assert _count(engine, events) == 0
    assert _count(engine, quarantine) == 0  # the body of an unverified request is never kept
    assert _count(engine, webhook_log) == 0
    with engine.connect() as conn:
        row = conn.execute(select(webhook_rejections)).one()
    assert (row.connector, row.reason, row.count, row.sample_delivery_id) == (
        "github", "signature mismatch", 1, "d-2")


def test_a_flood_of_unsigned_requests_adds_counts_not_rows(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="accolade.webhooks")
    for n in range(300):
        headers = signed_headers(GREEN_RUN, "workflow_run", f"f-{n}", secret="forged")
        assert client.post("/webhooks/github", content=GREEN_RUN, headers=headers).status_code == 401
    client.post("/webhooks/github", content=b"{}", headers={"x-github-event": "ping"})
    client.app.state.intake.rejections.flush()  # what the receiver does on shutdown
    with engine.connect() as conn:
        rows = {r.reason: (r.count, r.sample_delivery_id) for r in conn.execute(select(webhook_rejections))}
    assert rows == {"signature mismatch": (300, "f-299"),
                    "missing X-Hub-Signature-256 header": (1, None)}
    assert _count(engine, webhook_log) == 0 and _count(engine, quarantine) == 0
    assert len(caplog.records) <= 4  # a line per flush and reason, not one per request


@pytest.mark.parametrize("header, value", [
    ("x-github-delivery", "d" * 10_000), ("x-github-event", "e" * 5_000), ("user-agent", "u" * 5_000)])
def test_over_long_header_values_are_400_on_both_stores(
    client: TestClient, engine: Engine, header: str, value: str
) -> None:
    headers = {**signed_headers(GREEN_RUN, "workflow_run", "h-1"), header: value}
    answer = client.post("/webhooks/github", content=GREEN_RUN, headers=headers)
    assert answer.status_code == 400
    assert "longer than" in answer.json()["error"]
    assert _count(engine, events) == 0 and _count(engine, webhook_log) == 0


def test_body_altered_after_signing_is_rejected(client: TestClient, engine: Engine) -> None:
    headers = signed_headers(GREEN_RUN, "workflow_run", "d-3")
    tampered = GREEN_RUN.replace(b'"success"', b'"failure"', 1)
    assert client.post("/webhooks/github", content=tampered, headers=headers).status_code == 401
    assert _count(engine, events) == 0


def test_verified_but_unusable_body_is_quarantined_with_reason(
    client: TestClient, engine: Engine
) -> None:
    body = b'{"action": "completed", "workflow_run": {"conclusion": "success"}}'
    answer = client.post("/webhooks/github", content=body,
                         headers=signed_headers(body, "workflow_run", "d-4"))
    assert answer.status_code == 422
    assert answer.json()["quarantined"] is True
    with engine.connect() as conn:
        row = conn.execute(select(quarantine)).one()
        log = conn.execute(select(webhook_log)).one()
    assert row.delivery_id == "d-4" and row.body == body.decode()
    assert (row.body_size, row.body_truncated) == (len(body), False)
    assert row.reason == answer.json()["error"] == "workflow_run.id is missing"
    assert (log.outcome, log.delivery_id, log.detail) == ("quarantined", "d-4", row.reason)


def test_ping_is_answered_and_other_events_counted_as_ignored(
    client: TestClient, engine: Engine
) -> None:
    ping = (FIXTURES / "ping" / "00-noaction.json").read_bytes()
    answer = client.post("/webhooks/github", content=ping, headers=signed_headers(ping, "ping", "p"))
    assert answer.status_code == 200 and answer.json()["msg"] == "pong"
    star = (FIXTURES / "star" / "00-created.json").read_bytes()
    answer = client.post("/webhooks/github", content=star, headers=signed_headers(star, "star", "s"))
    assert answer.status_code == 200 and "star" in answer.json()["ignored"]
    assert _count(engine, webhook_log, webhook_log.c.outcome == "ignored") == 2
    assert _count(engine, events) == 0


def test_unknown_connector_is_404(client: TestClient) -> None:
    assert client.post("/webhooks/nope", content=b"{}").status_code == 404


def _ce(event_id: str, **extra: object) -> dict:
    return {
        "specversion": "1.0", "id": event_id, "source": "/ci/jenkins", "type": "deploy.completed",
        "time": "2026-11-01T10:00:00Z",
        "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}, **extra,
    }


AUTH = {"authorization": f"Bearer {API_KEY}"}


def test_batch_reports_accepted_duplicate_and_rejected_and_keeps_the_good(
    client: TestClient, engine: Engine
) -> None:
    batch = [_ce("1"), _ce("2"), _ce("1"), {"id": "bad"}, _ce("3", time="yesterday")]
    answer = client.post("/v1/events", json=batch,
                         headers={**AUTH, "content-type": "application/cloudevents-batch+json"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, 2)
    reasons = {r["index"]: r.get("reason", "") for r in body["results"]}
    assert reasons[3] == "source: Field required; type: Field required; time: Field required; data: Field required"
    assert reasons[4].startswith("time:")
    assert _count(engine, events) == 2
    assert _count(engine, quarantine, quarantine.c.channel == "api") == 2


def test_single_structured_event_and_unknown_actor_is_parked(
    client: TestClient, engine: Engine
) -> None:
    event = _ce("solo")
    event["data"]["actor"] = {"system": "gitlab", "id": "42"}
    answer = client.post("/v1/events", json=event,
                         headers={**AUTH, "content-type": "application/cloudevents+json"})
    assert answer.status_code == 200
    assert answer.json()["results"] == [{"index": 0, "status": "accepted", "id": "solo",
                                         "parked": True}]
    assert _count(engine, parked) == 1


def test_reserved_source_prefix_is_refused(client: TestClient) -> None:
    answer = client.post("/v1/events", json=_ce("x", source="/accolade/demo/github"), headers=AUTH)
    assert answer.status_code == 422
    assert "reserved" in answer.json()["results"][0]["reason"]


def test_api_key_decides_the_tenant(client: TestClient, engine: Engine) -> None:
    assert client.post("/v1/events", json=_ce("k")).status_code == 401
    assert client.post("/v1/events", json=_ce("k"), headers={"authorization": "Bearer x"}
                       ).status_code == 401
    other = {"authorization": "Bearer other-key"}
    assert client.post("/v1/events", json=_ce("k"), headers=other).status_code == 200
    assert client.post("/v1/events", json=_ce("k"), headers=AUTH).json()["accepted"] == 1
    with engine.connect() as conn:
        tenants = sorted(conn.execute(select(events.c.tenant)).scalars())
    assert tenants == ["demo", "other"]


def test_invalid_json_and_content_type_are_clear_4xx(client: TestClient) -> None:
    answer = client.post("/v1/events", content=b"{nope", headers=AUTH)
    assert answer.status_code == 400 and "invalid JSON" in answer.json()["detail"]
    answer = client.post("/v1/events", content=b"x", headers={**AUTH, "content-type": "text/plain"})
    assert answer.status_code == 415


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/events", "/webhooks/{connector_id}", "/healthz"} <= set(paths)


def test_read_api_is_scoped_to_the_key_tenant(client: TestClient) -> None:
    mine = client.get("/v1/persons/github:Codertocat", headers=AUTH)
    assert mine.status_code == 200
    assert mine.json()["progress"][0] == {
        "achievement": "first-green-pipeline", "version": 1, "name": "First green pipeline", "kind": "count",
        "count": 0, "target": 1, "granted": False, "missing": "0 of 1 green pipelines; 1 more",
        "lines": ["0 of 1 green pipelines; 1 more"], "have": 0, "need": 1, "next_deadline": None,
        "occurrences": [], "points": None, "hidden": False, "unlinked": []}
    other = client.get("/v1/persons/github:Codertocat", headers={"authorization": "Bearer other-key"})
    assert other.status_code == 404  # another tenant's person does not exist for this key
    assert client.get("/v1/persons/github:Codertocat").status_code == 401
    assert client.get("/v1/persons/nonsense", headers=AUTH).status_code == 400
    assert client.get("/v1/persons/person:demo-1", headers=AUTH).json()["person"] == "demo-1"
    assert client.get("/v1/shards", headers=AUTH).json()["shards"][0]["waiting"] == 0

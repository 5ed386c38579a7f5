"""Limits before work: a body over the route's cap is refused with 413 before it is stored.

FastAPI's per-route `max_body_size` checks Content-Length before reading, and cuts a streamed
(chunked) body at the cap. Nothing of such a request reaches the store: no event, no
quarantine row, no webhook_log row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from store.schema import events, quarantine, webhook_log
from tests.factories import API_KEY, CONFIG_TEXT, FIXTURES, make_config, signed_headers

EVENTS_CAP = 2048
WEBHOOK_CAP = 4096
SMALL_LIMITS = f"api: {{limits: {{events_body: {EVENTS_CAP}, webhook_body: {WEBHOOK_CAP}}}}}\n"
AUTH = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
GREEN_RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(db_url, SMALL_LIMITS + CONFIG_TEXT), engine)) as client:
        yield client


def _event(event_id: str, padding: int = 0) -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "/ci/x", "type": "deploy.completed",
            "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": "15669918"}, "pad": "x" * padding}}


def _padded(body: bytes, size: int) -> bytes:
    """`body` (a JSON object) grown to exactly `size` bytes with trailing whitespace."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


def _chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def _stored(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (events, quarantine, webhook_log)}


NOTHING = {"events": 0, "quarantine": 0, "webhook_log": 0}


def _assert_json_413(answer) -> None:  # noqa: ANN001 - httpx.Response
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert "over this route's limit" in answer.json()["detail"]


def test_events_body_at_the_cap_is_taken_and_one_byte_over_is_413(
    client: TestClient, engine: Engine
) -> None:
    body = _padded(json.dumps(_event("fits", padding=1500)).encode(), EVENTS_CAP)
    assert client.post("/v1/events", content=body, headers=AUTH).json()["accepted"] == 1
    over = _padded(json.dumps(_event("over", padding=1500)).encode(), EVENTS_CAP + 1)
    answer = client.post("/v1/events", content=over, headers=AUTH)
    _assert_json_413(answer)
    assert f"of {EVENTS_CAP} bytes" in answer.json()["detail"]
    assert _stored(engine) == {**NOTHING, "events": 1}


def test_chunked_events_body_is_cut_at_the_cap(client: TestClient, engine: Engine) -> None:
    batch = json.dumps([_event(f"c{i}", padding=100) for i in range(20)]).encode()
    assert len(batch) > EVENTS_CAP
    answer = client.post("/v1/events", content=_chunks(batch), headers=AUTH)
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.request.headers
    _assert_json_413(answer)
    assert _stored(engine) == NOTHING


def test_oversized_unauthenticated_request_is_413_in_json_too(client: TestClient, engine: Engine) -> None:
    over = b"[" + b" " * EVENTS_CAP + b"]"
    _assert_json_413(client.post("/v1/events", content=over))
    assert _stored(engine) == NOTHING


def test_signed_webhook_over_the_cap_is_413_and_leaves_no_trace(client: TestClient, engine: Engine) -> None:
    body = _padded(GREEN_RUN, max(len(GREEN_RUN), WEBHOOK_CAP) + 1)
    headers = signed_headers(body, "workflow_run", "big-1")  # authentic: only the size is wrong
    _assert_json_413(client.post("/webhooks/github", content=body, headers=headers))
    _assert_json_413(client.post("/webhooks/github", content=_chunks(body), headers=headers))
    assert _stored(engine) == NOTHING


def test_unsigned_chunked_webhook_over_the_cap_writes_no_log_row(client: TestClient, engine: Engine) -> None:
    body = b"{" + b" " * (WEBHOOK_CAP * 3) + b"}"
    answer = client.post("/webhooks/github", content=_chunks(body), headers={"x-github-event": "push"})
    _assert_json_413(answer)
    assert _stored(engine) == NOTHING


def test_our_own_413_for_too_many_events_keeps_its_reason(engine: Engine, db_url: str) -> None:
    with TestClient(create_app(make_config(db_url), engine)) as client:  # default 4 MiB cap
        batch = [_event(f"n{i}") for i in range(1001)]
        answer = client.post("/v1/events", json=batch, headers=AUTH)
    assert answer.status_code == 413
    assert answer.json()["detail"] == "batch of 1001 events; at most 1000 per request"


async def test_declared_length_over_the_default_cap_is_refused_before_any_read(
    engine: Engine, db_url: str
) -> None:
    """Straight ASGI: a Content-Length over the default caps is refused without one receive."""
    app = create_app(make_config(db_url), engine)
    for path, cap in (("/v1/events", 4 * 1024 * 1024), ("/webhooks/github", 25 * 1024 * 1024)):
        status, body, reads = await _asgi_post(app, path, content_length=cap + 1)
        assert (status, reads) == (413, 0), path
        assert f"of {cap} bytes" in json.loads(body)["detail"]
    assert _stored(engine) == NOTHING


async def _asgi_post(app, path: str, *, content_length: int) -> tuple[int, bytes, int]:  # noqa: ANN001
    reads = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("test", 80),
        "headers": [(b"content-length", str(content_length).encode()),
                    (b"authorization", f"Bearer {API_KEY}".encode()),
                    (b"content-type", b"application/json")],
    }
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, reads

"""Each finding of the hostile probe, reproduced: one bad item never fails its batch, a signed
webhook with a hostile field is quarantined (422), and nothing answers 500, on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from identity.sync import sync_people
from store.schema import events, quarantine, webhook_log
from tests.factories import API_KEY, FIXTURES, make_config, signed_headers

AUTH = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
GREEN_RUN = json.loads((FIXTURES / "workflow_run" / "01-completed.json").read_bytes())


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = make_config(db_url)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine), raise_server_exceptions=False) as client:
        yield client


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _ce(event_id: str, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "/ci/jenkins", "type": "deploy.completed",
            "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}, **extra}


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


# Raw JSON text of one bad item each, as the probe sent them (text: some are not expressible
# with json.dumps, e.g. a 5,000-digit integer or NaN).
BAD_ITEMS = {
    "no data": (json.dumps({k: v for k, v in _ce("x").items() if k != "data"}), "data: Field required"),
    "time overflows in UTC": (json.dumps(_ce("x", time="9999-12-31T23:00:00-05:00")),
                              "time: out of range when converted to UTC"),
    "time before 1970": (json.dumps(_ce("x", time="1969-12-31T23:59:59Z")), "time: before 1970-01-01"),
    "time far ahead": (json.dumps(_ce("x", time="2999-01-01T00:00:00Z")), "time: more than 24 hour(s)"),
    "data nested 300 deep": (json.dumps(_ce("x", data={"actor": {"system": "s", "id": "1"},
                                                       "deep": _nested(300)})), "nested deeper than 32"),
    "5,000-digit integer": (json.dumps(_ce("x")).replace('"success"', "9" * 5000), "integer of 5000 digits"),
    "NaN": (json.dumps(_ce("x")).replace('"success"', "NaN"), "NaN is not a number JSON allows"),
    "lone surrogate in id": (json.dumps(_ce("\ud800")), "lone surrogate"),
    "lone surrogate in login": (json.dumps(_ce("x", data={"actor": {"system": "github", "login": "a\udc00"}})),
                                "lone surrogate"),
    "NUL in id": (json.dumps(_ce("a\u0000b")), "NUL character"),
    "NUL in source": (json.dumps(_ce("x", source="/ci/\u0000")), "NUL character"),
    "over-long login": (json.dumps(_ce("x", data={"actor": {"system": "github", "login": "l" * 5000}})),
                        "data: actor.login: String should have at most 256 characters"),
    "over-long id": (json.dumps(_ce("i" * 10_000)), "id: String should have at most 512 characters"),
    "a string, not an event": (json.dumps("hello"), "Input should be a valid dictionary"),
}


@pytest.mark.parametrize("name", list(BAD_ITEMS))
def test_one_bad_item_is_rejected_alone_and_its_neighbours_are_stored(
    client: TestClient, engine: Engine, name: str
) -> None:
    bad, expected = BAD_ITEMS[name]
    body = f"[{json.dumps(_ce('before'))}, {bad}, {json.dumps(_ce('after'))}]"
    answer = client.post("/v1/events", content=body.encode(), headers=AUTH)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert expected in results[1]["reason"]
    assert _count(engine, events) == 2
    assert _count(engine, quarantine) == 1


def test_a_body_nested_a_thousand_deep_is_a_clear_400(client: TestClient, engine: Engine) -> None:
    body = ("[" * 1000 + "]" * 1000).encode()
    answer = client.post("/v1/events", content=body, headers=AUTH)
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["detail"]
    body = json.dumps([_ce("ok"), _nested(900)]).encode()
    answer = client.post("/v1/events", content=body, headers=AUTH)
    assert answer.status_code in (200, 400)  # a parser limit or a rejected item: never 500
    assert _count(engine, events) == (1 if answer.status_code == 200 else 0)


def _mutated(path: tuple[str, ...], value: Any) -> bytes:
    body = json.loads(json.dumps(GREEN_RUN))
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(body).encode()


HOSTILE_WEBHOOKS = {
    "timestamp overflows in UTC": (_mutated(("workflow_run", "updated_at"), "9999-12-31T23:00:00-05:00"),
                                   "out of range when converted to UTC"),
    "lone-surrogate login": (_mutated(("workflow_run", "actor", "login"), "x\ud800"),
                             "actor.login: Input should be a valid string"),
    "NUL in the workflow name": (_mutated(("workflow_run", "name"), "ci\u0000"), "NUL character"),
    "time in the year 1": (_mutated(("workflow_run", "updated_at"), "0001-01-01T00:00:00Z"),
                           "time: before 1970-01-01"),
    "5,000-digit run id": (_mutated(("workflow_run", "id"), "@@").replace(b'"@@"', b"7" * 5000),
                           "an id must be an integer or a string"),
}


@pytest.mark.parametrize("name", list(HOSTILE_WEBHOOKS))
def test_signed_webhook_with_a_hostile_field_is_quarantined_with_422(
    client: TestClient, engine: Engine, name: str
) -> None:
    body, expected = HOSTILE_WEBHOOKS[name]
    answer = client.post("/webhooks/github", content=body, headers=signed_headers(body, "workflow_run", "w-1"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["quarantined"] is True and expected in answer.json()["error"]
    with engine.connect() as conn:
        row = conn.execute(select(quarantine)).one()
        log = conn.execute(select(webhook_log)).one()
    assert expected in row.reason and row.body_size == len(body)
    assert (log.outcome, log.delivery_id) == ("quarantined", "w-1")
    assert _count(engine, events) == 0


def test_unused_vendor_fields_are_never_range_checked(client: TestClient, engine: Engine) -> None:
    # Real GitHub payloads carry 0001-01-01 in fields a mapping does not read.
    body = _mutated(("repository", "pushed_at"), "0001-01-01T00:00:00Z")
    answer = client.post("/webhooks/github", content=body, headers=signed_headers(body, "workflow_run", "u-1"))
    assert answer.status_code == 200 and answer.json()["accepted"] == 1


def test_quarantine_keeps_a_capped_prefix_with_size_and_hash(
    engine: Engine, db_url: str
) -> None:
    import hashlib

    config = make_config(db_url, extra_store="quarantine: {body_prefix: 1KiB}")
    with TestClient(create_app(config, engine)) as client:
        body = b'{"action": "completed", "workflow_run": {"conclusion": "success", "name": "' + b"x" * 50_000 + b'"}}'
        answer = client.post("/webhooks/github", content=body, headers=signed_headers(body, "workflow_run", "big"))
    assert answer.status_code == 422
    with engine.connect() as conn:
        row = conn.execute(select(quarantine)).one()
    assert len(row.body.encode()) <= 1024 and body.decode().startswith(row.body)
    assert (row.body_size, row.body_truncated) == (len(body), True)
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()


def test_quarantine_rows_past_retention_are_purged(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from store.quarantine import purge_expired, quarantine_body

    now = datetime(2026, 11, 30, tzinfo=UTC)
    with engine.begin() as conn:
        for age in (40, 31, 29, 1):
            quarantine_body(conn, tenant="demo", channel="api", delivery_id=f"age-{age}", reason="r",
                            body=b"{}", prefix=10, keep=timedelta(days=365), now=now - timedelta(days=age))
        assert purge_expired(conn, keep=timedelta(days=30), now=now) == 2
        kept = sorted(conn.execute(select(quarantine.c.delivery_id)).scalars())
    assert kept == ["age-1", "age-29"]

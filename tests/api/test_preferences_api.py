"""`GET`/`PUT /v1/persons/{identity}/preferences` on both stores: the bearer key's tenant only,
partial updates, and a 400 naming the field for anything that does not parse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import create_app
from config import parse_config
from identity.sync import sync_people
from store.preferences import load_preferences

CONFIG = """\
store: {url: "URL"}
tenants:
  - id: acme
    time_zone: Europe/Berlin
    api_keys: ["${ACME_KEY}"]
    channels: [{id: feed, kind: feed}, {id: mail, kind: email, smtp: "127.0.0.1:8025", from: a@example.com}]
    people: [{person: alice, identities: ["github:id=15669918"]}]
  - id: globex
    api_keys: ["${GLOBEX_KEY}"]
    channels: [{id: feed, kind: feed}]
    people: [{person: bob, identities: ["github:id=1"]}]
"""
ACME = {"authorization": "Bearer acme-key"}
GLOBEX = {"authorization": "Bearer globex-key"}
URL = "/v1/persons/github:15669918/preferences"


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = parse_config(CONFIG.replace("URL", db_url), file="t.yaml",
                          env={"ACME_KEY": "acme-key", "GLOBEX_KEY": "globex-key"})
    for tenant in config.tenants:
        sync_people(engine, tenant)
    with TestClient(create_app(config, engine)) as client:
        yield client


def test_put_stores_what_it_names_and_get_answers_it(client: TestClient, engine: Engine) -> None:
    body = {"opt_out": ["mail"], "quiet_hours": "22:30-07:00", "digest": "daily", "throttle": 4,
            "time_zone": "Europe/Lisbon", "locale": "ar"}
    answer = client.put(URL, json=body, headers=ACME)
    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in body} == body
    assert client.put(URL, json={"throttle": None}, headers=ACME).json()["quiet_hours"] == "22:30-07:00"
    got = client.get(URL, headers=ACME).json()
    assert (got["throttle"], got["digest"], got["time_zone_source"]) == (None, "daily", "preferences")
    with engine.connect() as conn:
        assert load_preferences(conn, "acme", "alice").opt_out == ["mail"]


@pytest.mark.parametrize(("body", "reason"), [
    ({"quiet_hours": "22-08"}, "quiet_hours: '22-08' is not HH:MM-HH:MM"),
    ({"time_zone": "Europe/Atlantis"}, "time_zone: unknown time zone 'Europe/Atlantis'"),
    ({"opt_out": ["slack"]}, "opt_out: unknown channel 'slack' (channels: feed, mail)"),
    ({"digest": "monthly"}, "digest: Input should be 'daily' or 'weekly'"),
    ({"throttle": -1}, "throttle: Input should be greater than or equal to 1"),
    ({"locale": "zz"}, "locale: unknown locale 'zz'"),
    ({"volume": "loud"}, "volume: Extra inputs are not permitted"),
])
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    client: TestClient, engine: Engine, body: dict, reason: str
) -> None:
    answer = client.put(URL, json={"throttle": 2, **body}, headers=ACME)
    assert answer.status_code == 400 and reason in answer.json()["detail"]
    with engine.connect() as conn:
        assert load_preferences(conn, "acme", "alice").throttle is None


def test_a_body_that_is_not_a_json_object_is_a_400(client: TestClient) -> None:
    assert client.put(URL, content=b"{", headers=ACME).status_code == 400
    assert client.put(URL, json=["daily"], headers=ACME).json() == {"detail": "the body must be a JSON object"}


def test_another_tenants_person_is_not_found_and_a_missing_key_is_401(client: TestClient) -> None:
    assert client.get(URL, headers=GLOBEX).status_code == 404
    assert client.put(URL, json={"digest": "daily"}, headers=GLOBEX).status_code == 404
    assert client.put(URL, json={"digest": "daily"}).status_code == 401

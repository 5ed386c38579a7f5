"""The xAPI Statement API through the receiver (FastAPI app), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from config.models import Config
from identity.sync import sync_people
from store.eventlog import shard_of
from store.schema import event_queue, events, grants, parked, quarantine, webhook_log, xapi_statements
from tests.factories import make_config

FIXTURES = Path(__file__).parent / "fixtures"
QUIZ = "https://moodle.example.com/mod/quiz/view.php?id=12"
XAPI_CONFIG = f"""\
store: {{url: "sqlite:///unused.db"}}
tenants:
  - id: demo
    api_keys: ["${{TEST_API_KEY}}"]
    connectors:
      - {{id: xapi, vendor: xapi, key: "${{T_XAPI_KEY:-lms-key}}", secret: "${{T_XAPI_SECRET:-lms-secret}}"}}
    channels:
      - {{id: feed, kind: feed}}
    people:
      - {{person: ada, identities: ["moodle:id=42"]}}
      - {{person: bob, identities: ["email:bob@example.com"]}}
    achievements:
      - key: security-training
        version: 1
        name: Security training passed
        rule: {{count: 1, of: lms.assessment.passed, where: {{activity: "{QUIZ}", score: {{gte: 0.8}}}}}}
        deliver_to: [feed]
"""
ID = "5b0a3d4e-1c2f-4a5b-8c9d-0e1f2a3b4c5d"


def basic(key: str = "lms-key", secret: str = "lms-secret") -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


HEADERS = {"Authorization": basic(), "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url, XAPI_CONFIG)


@pytest.fixture
def client(engine: Engine, config: Config) -> Iterator[TestClient]:
    from api import create_app

    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def evaluate(engine: Engine, config: Config, person: str) -> list[str]:
    evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
    shard = shard_of(person, config.tenants[0].shards)
    evaluation.evaluate_shard(EvaluateShardInput(tenant="demo", shard=shard, batch_size=100, now=datetime.now(UTC)))
    with engine.connect() as conn:
        return [r.achievement for r in conn.execute(select(grants.c.achievement).where(grants.c.person_id == person))]


def test_about_names_both_versions(client: TestClient) -> None:
    answer = client.get("/xapi/about")
    assert answer.status_code == 200 and answer.json() == {"version": ["1.0.3", "2.0.0"]}


def test_a_moodle_quiz_pass_is_stored_once_and_granted(client: TestClient, engine: Engine, config: Config) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    first = client.post("/xapi/statements", json=statement, headers=HEADERS)
    assert first.status_code == 200 and first.json() == [ID]
    assert first.headers["X-Experience-API-Version"] == "1.0.3"
    assert first.headers["X-Experience-API-Consistent-Through"]
    again = client.post("/xapi/statements", json=statement, headers=HEADERS)
    assert again.status_code == 200 and again.json() == [ID]
    assert (count(engine, events), count(engine, xapi_statements), count(engine, event_queue)) == (1, 1, 1)
    assert evaluate(engine, config, "ada") == ["security-training"]
    stored = client.get("/xapi/statements", params={"statementId": ID}, headers=HEADERS)
    assert stored.status_code == 200 and stored.json()["result"]["score"]["scaled"] == 0.9
    assert stored.json()["stored"] and stored.headers["X-Experience-API-Consistent-Through"]


def test_a_score_below_the_threshold_grants_nothing(client: TestClient, engine: Engine, config: Config) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json")
    statement["result"]["score"] = {"raw": 7, "min": 0, "max": 10, "scaled": 0.7}
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    assert evaluate(engine, config, "ada") == []


def test_a_statement_without_id_gets_one_and_put_answers_204(client: TestClient, engine: Engine) -> None:
    answer = client.post("/xapi/statements", json=[fixture("moodle/course_completed.json")], headers=HEADERS)
    [new_id] = answer.json()
    assert len(new_id) == 36
    put = client.put("/xapi/statements", params={"statementId": ID}, json=fixture("moodle/course_completed.json"),
                     headers=HEADERS)
    assert put.status_code == 204
    not_uuid = client.put("/xapi/statements", params={"statementId": "x" * 40},
                          json=fixture("moodle/course_completed.json"), headers=HEADERS)
    assert not_uuid.status_code == 400 and not_uuid.json()["error"] == "statementId: not a UUID"
    assert client.get("/xapi/statements", params={"statementId": ID}, headers=HEADERS).json()["id"] == ID
    assert count(engine, xapi_statements) == 2


def test_a_conflicting_repost_is_409_and_the_stored_one_stays(client: TestClient, engine: Engine) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    changed = json.loads(json.dumps(statement))
    changed["result"]["score"]["scaled"] = 0.95
    other = fixture("moodle/course_completed.json") | {"id": "11111111-2222-4333-8444-555555555555"}
    conflict = client.post("/xapi/statements", json=[other, changed], headers=HEADERS)
    assert conflict.status_code == 409 and ID in conflict.json()["error"]
    assert count(engine, xapi_statements) == 1 and count(engine, events) == 1  # nothing of the batch
    kept = client.get("/xapi/statements", params={"statementId": ID}, headers=HEADERS).json()
    assert kept["result"]["score"]["scaled"] == 0.9


def test_wrong_or_missing_credentials_are_401_and_store_nothing(client: TestClient, engine: Engine) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json")
    for auth in (basic(secret="nope"), basic(key="other"), None, "Basic !!!"):
        headers = {k: v for k, v in HEADERS.items() if k != "Authorization"} | ({"Authorization": auth} if auth else {})
        answer = client.post("/xapi/statements", json=statement, headers=headers)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
        assert "lms-secret" not in answer.text
    assert count(engine, xapi_statements) == 0 and count(engine, events) == 0
    client.app.state.intake.health.flush()
    status = client.get("/v1/connectors", headers={"Authorization": "Bearer test-key"}).json()
    [xapi] = [c for c in status["connectors"] if c["connector"] == "xapi"]
    assert xapi["counters"]["rejected"] == 1  # the wrong secret named this instance's key


def test_a_missing_or_unknown_version_header_is_400(client: TestClient) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json")
    no_version = {k: v for k, v in HEADERS.items() if k != "X-Experience-API-Version"}
    assert client.post("/xapi/statements", json=statement, headers=no_version).status_code == 400
    answer = client.post("/xapi/statements", json=statement, headers=HEADERS | {"X-Experience-API-Version": "0.95"})
    assert answer.status_code == 400 and "X-Experience-API-Version" in answer.json()["error"]


def test_an_invalid_statement_rejects_the_batch_and_is_quarantined(client: TestClient, engine: Engine) -> None:
    good = fixture("moodle/quiz_attempt_passed.json")
    bad = fixture("adl/v1_0_3-no_actor.json")
    answer = client.post("/xapi/statements", json=[good, bad], headers=HEADERS)
    assert answer.status_code == 400 and answer.json()["error"] == "statement[1].actor: Field required"
    malformed = client.post("/xapi/statements", content=b"{not json", headers=HEADERS)
    assert malformed.status_code == 400 and "invalid JSON" in malformed.json()["error"]
    assert count(engine, xapi_statements) == 0 and count(engine, events) == 0
    with engine.connect() as conn:
        kept = conn.execute(select(quarantine.c.kind, quarantine.c.headers)).all()
    assert [k.kind for k in kept] == ["xapi", "xapi"]
    assert all("authorization" not in (k.headers or {}) for k in kept)


def test_an_unknown_learner_is_parked_and_a_hashed_mbox_finds_a_linked_email(
    client: TestClient, engine: Engine, config: Config
) -> None:
    import hashlib

    sha = hashlib.sha1(b"mailto:bob@example.com").hexdigest()  # noqa: S324 - xAPI's identifier
    stranger = fixture("moodle/quiz_attempt_passed.json") | {"actor": {"mbox": "mailto:nobody@example.com"}}
    hashed = fixture("moodle/quiz_attempt_passed.json") | {"actor": {"mbox_sha1sum": sha}}
    assert client.post("/xapi/statements", json=[stranger, hashed], headers=HEADERS).status_code == 200
    assert count(engine, parked) == 1
    assert evaluate(engine, config, "bob") == ["security-training"]


def test_voiding_a_statement_not_yet_counted_means_it_never_counts(
    client: TestClient, engine: Engine, config: Config
) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    voiding = fixture("adl/v1_0_3-voiding.json")
    voiding["object"]["id"] = ID
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    assert client.post("/xapi/statements", json=voiding, headers=HEADERS).status_code == 200
    assert count(engine, event_queue) == 0
    assert evaluate(engine, config, "ada") == []
    assert client.get("/xapi/statements", params={"statementId": ID}, headers=HEADERS).status_code == 404
    voided = client.get("/xapi/statements", params={"voidedStatementId": ID}, headers=HEADERS)
    assert voided.status_code == 200 and voided.json()["id"] == ID


def test_voiding_a_statement_that_counted_lists_the_grant_for_review(
    client: TestClient, engine: Engine, config: Config
) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    assert evaluate(engine, config, "ada") == ["security-training"]
    voiding = fixture("adl/v1_0_3-voiding.json")
    voiding["object"]["id"] = ID
    assert client.post("/xapi/statements", json=voiding, headers=HEADERS).status_code == 200
    with engine.connect() as conn:
        review = conn.execute(select(webhook_log.c.detail).where(webhook_log.c.outcome == "voided")).scalar_one()
        grant_id = conn.execute(select(grants.c.grant_id)).scalar_one()
    assert review.startswith(f"voided {ID} after it counted; review grants: {grant_id}")
    assert count(engine, grants) == 1  # listed for review, not revoked


def test_the_list_query_pages_with_more_and_refuses_what_it_does_not_support(client: TestClient) -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    batch = [fixture("moodle/course_completed.json") | {"id": i} for i in ids]
    assert client.post("/xapi/statements", json=batch, headers=HEADERS).status_code == 200
    first = client.get("/xapi/statements", params={"limit": 2, "ascending": "true"}, headers=HEADERS).json()
    assert [s["id"] for s in first["statements"]] == ids[:2] and first["more"]
    rest = client.get(first["more"], headers=HEADERS).json()
    assert [s["id"] for s in rest["statements"]] == ids[2:] and rest["more"] == ""
    refused = client.get("/xapi/statements", params={"attachments": "true"}, headers=HEADERS)
    assert refused.status_code == 400 and refused.json()["error"].startswith("attachments=true is not supported")
    wrong = client.get("/xapi/statements", params={"format": "short"}, headers=HEADERS)
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("format must be one of")
    unknown = client.get("/xapi/statements", params={"colour": "red"}, headers=HEADERS)
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]


def test_a_statement_of_a_megabyte_is_accepted(client: TestClient) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json")
    statement["context"]["extensions"] = {f"https://lms.example.com/x/{n}": "y" * 60_000 for n in range(17)}
    body = json.dumps(statement).encode()
    assert len(body) > 1_000_000
    answer = client.post("/xapi/statements", content=body, headers=HEADERS)
    assert answer.status_code == 200 and len(answer.json()) == 1


def test_the_list_query_filters_by_agent_verb_activity_and_registration(client: TestClient) -> None:
    registration = "AAAAAAAA-0000-4000-8000-000000000001"
    quiz = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    quiz["context"]["registration"] = registration
    other = fixture("moodle/course_completed.json") | {"actor": {"mbox": "mailto:Bob@Example.com"}}
    assert client.post("/xapi/statements", json=[quiz, other], headers=HEADERS).status_code == 200

    def ids(**params: str) -> list[str]:
        answer = client.get("/xapi/statements", params=params, headers=HEADERS)
        assert answer.status_code == 200, answer.text
        return [s["id"] for s in answer.json()["statements"]]

    moodle_42 = json.dumps({"account": {"homePage": "https://moodle.example.com", "name": "42"}})
    assert ids(agent=moodle_42) == [ID]
    assert len(ids(agent=json.dumps({"mbox": "mailto:bob@example.com"}))) == 1
    assert ids(activity=QUIZ) == [ID] and ids(registration=registration.lower()) == [ID]
    assert len(ids(verb="http://adlnet.gov/expapi/verbs/completed")) == 2
    assert ids(verb="http://adlnet.gov/expapi/verbs/passed") == []
    course = "https://moodle.example.com/course/view.php?id=7"  # the quiz's parent, the other's object
    assert len(ids(activity=course)) == 1 and len(ids(activity=course, related_activities="true")) == 2
    member_of_team = {"objectType": "Group", "member": [{"mbox": "mailto:carol@example.com"}]}
    taught = fixture("moodle/course_completed.json") | {"context": {"instructor": {"mbox": "mailto:dan@example.com"},
                                                                    "team": member_of_team}}
    assert client.post("/xapi/statements", json=taught, headers=HEADERS).status_code == 200
    carol = json.dumps({"mbox": "mailto:carol@example.com"})
    assert ids(agent=carol) == [] and len(ids(agent=carol, related_agents="true")) == 1
    bad = client.get("/xapi/statements", params={"agent": "{}"}, headers=HEADERS)
    assert bad.status_code == 400 and bad.json()["error"].startswith("agent:")


def test_voiding_a_group_statement_withdraws_every_members_event(client: TestClient, engine: Engine) -> None:
    members = [{"account": {"homePage": "https://moodle.example.com", "name": "42"}}, {"mbox": "mailto:bob@example.com"}]
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID, "actor": {"objectType": "Group", "member": members}}
    voiding = fixture("adl/v1_0_3-voiding.json")
    voiding["object"]["id"] = ID.upper()  # UUIDs compare case-insensitively
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    assert count(engine, event_queue) == 2
    assert client.post("/xapi/statements", json=voiding, headers=HEADERS).status_code == 200
    assert count(engine, event_queue) == 0 and count(engine, events) == 2


def test_formats_ids_and_canonical(client: TestClient) -> None:
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    statement["object"]["definition"]["name"] = {"en": "Security quiz", "de-DE": "Sicherheitsquiz"}
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    ids = client.get("/xapi/statements", params={"statementId": ID, "format": "ids"}, headers=HEADERS).json()
    assert ids["actor"] == {"account": {"homePage": "https://moodle.example.com", "name": "42"}}
    assert ids["verb"] == {"id": "http://adlnet.gov/expapi/verbs/completed"}
    assert ids["object"] == {"id": QUIZ, "objectType": "Activity"}
    canonical = client.get("/xapi/statements", params={"statementId": ID, "format": "canonical"},
                           headers=HEADERS | {"Accept-Language": "de;q=0.9, fr"}).json()
    assert canonical["object"]["definition"]["name"] == {"de-DE": "Sicherheitsquiz"}
    assert canonical["verb"]["display"] == {"en": "completed"}


def test_a_statement_whose_voiding_came_first_arrives_voided_and_never_counts(
    client: TestClient, engine: Engine, config: Config
) -> None:
    voiding = fixture("adl/v1_0_3-voiding.json")
    voiding["object"]["id"] = ID
    assert client.post("/xapi/statements", json=voiding, headers=HEADERS).status_code == 200
    statement = fixture("moodle/quiz_attempt_passed.json") | {"id": ID}
    assert client.post("/xapi/statements", json=statement, headers=HEADERS).status_code == 200
    assert count(engine, events) == 0 and evaluate(engine, config, "ada") == []
    voided = client.get("/xapi/statements", params={"voidedStatementId": ID}, headers=HEADERS)
    assert voided.status_code == 200 and voided.json()["id"] == ID

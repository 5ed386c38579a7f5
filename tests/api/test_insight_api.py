"""Why, why not and simulate over HTTP, on the demo config, SQLite and PostgreSQL: progress the
real evaluation round stored, explained in the tenant's zone; simulations that store nothing;
and every refusal a 4xx with its reason, never another tenant's data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from activities.contracts import EvaluateShardInput
from activities.evaluation import EvaluationActivities
from api import create_app
from config import parse_config
from config.models import Config
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.schema import metadata

EXAMPLES = Path(__file__).parents[2] / "examples"
EXTRA = """\
      - key: review-points
        version: 1
        name: Reviewer
        rule: {of: code.review.submitted}
        points: {per_event: 10, cap: {per: week, max: 100}}
      - key: secret-deploy
        version: 1
        name: Secret deploy
        rule: {count: 1, of: deploy.completed}
        hidden: true
  - id: other
    api_keys: ["${OTHER_KEY:-other-key}"]
    people: [{person: bob, identities: ["github:id=1"]}]
"""
DEMO = {"authorization": "Bearer demo-key"}
OTHER = {"authorization": "Bearer other-key"}


def _config(db_url: str) -> Config:
    text = (EXAMPLES / "accolade.yaml").read_text().replace("sqlite:///.accolade/accolade.db", db_url)
    return parse_config(text + EXTRA, file="accolade.yaml", env={})


@pytest.fixture
def hub(engine: Engine, db_url: str) -> Iterator[tuple[TestClient, Config]]:
    config = _config(db_url)
    for tenant in config.tenants:
        sync_people(engine, tenant)
    with TestClient(create_app(config, engine)) as client:
        yield client, config


def _events(kind: str, n: int, **data: object) -> list[dict]:
    """`n` events of the last minute (this week, whatever the day the test runs)."""
    now = datetime.now(UTC)
    return [{"id": f"{kind}-{i}", "source": "/t", "type": kind, "time": (now - timedelta(seconds=30 + i)).isoformat(),
             "data": {"actor": {"system": "github", "id": "15669918"}, **data}} for i in range(n)]


def _evaluate(engine: Engine, config: Config, raw: list[dict]) -> None:
    """Ingest and run the real evaluation round for demo-1's shard."""
    tenant = config.tenants[0]
    assert ingest_batch(engine, tenant, raw).count("accepted") == len(raw)
    activities = EvaluationActivities(engine, config, client=None, task_queue="unused")
    activities.evaluate_shard(EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", tenant.shards),
                                                 now=datetime.now(UTC)))


def _rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def test_why_not_yet_then_why(engine: Engine, hub: tuple[TestClient, Config]) -> None:
    client, config = hub
    before = client.get("/v1/persons/github:Codertocat/achievements/green-week", headers=DEMO).json()
    assert (before["granted"], before["have"], before["need"]) == (False, 0, 5)
    assert re.fullmatch(r"0 of 5 green pipelines this week; 5 more by \w+ 23:59 Europe/Berlin", before["lines"][0])
    assert before["unlinked"] == ["GitLab"] and before["lines"][-1].startswith("no GitLab identity linked")
    _evaluate(engine, config, _events("ci.pipeline.completed", 3, outcome="success"))
    during = client.get("/v1/persons/github:Codertocat/achievements/green-week", headers=DEMO).json()
    assert (during["have"], during["need"]) == (3, 5) and during["lines"][0].startswith("3 of 5 green pipelines")
    earned = client.get("/v1/persons/github:15669918/achievements/first-green-pipeline", headers=DEMO).json()
    assert earned["granted"] is True and earned["lines"][0] == "earned"
    [grant] = earned["grants"]
    assert grant["why"][0].startswith("1 green pipelines counted (rule first-green-pipeline v1, count, hash ")
    assert "identity: person demo-1 via the github:id link" in grant["why"]


def test_the_person_view_has_the_bars_numbers_points_and_hides_what_is_hidden(
        engine: Engine, hub: tuple[TestClient, Config]) -> None:
    client, config = hub
    _evaluate(engine, config, _events("code.review.submitted", 3) + _events("ci.pipeline.completed", 2,
                                                                             outcome="success"))
    view = client.get("/v1/persons/github:Codertocat", headers=DEMO).json()
    progress = {p["achievement"]: p for p in view["progress"]}
    assert "secret-deploy" not in progress
    assert (progress["green-week"]["have"], progress["green-week"]["need"]) == (2, 5)
    assert progress["review-points"]["points"] == 30 and view["points"] == 30
    _evaluate(engine, config, _events("deploy.completed", 1))
    progress = {p["achievement"]: p for p in client.get("/v1/persons/github:Codertocat", headers=DEMO).json()["progress"]}
    assert progress["secret-deploy"]["granted"] is True  # listed once earned


def test_simulate_answers_what_would_be_granted_and_stores_nothing(engine: Engine, hub: tuple[TestClient, Config]) -> None:
    client, _ = hub
    lines = (EXAMPLES / "simulate-events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if line and not line.startswith("#")]
    before = _rows(engine)
    answer = client.post("/v1/simulate", headers=DEMO, json={
        "achievement": "deploy-streak", "events": events, "at": "2026-11-20T12:00:00Z"})
    assert answer.status_code == 200, answer.text
    assert _rows(engine) == before
    body = answer.json()
    assert body["stored"] is False and [g["person"] for g in body["grants"]] == ["demo-1"]
    assert "streak of 3: Tue 17 Nov 2026 00:00 to Thu 19 Nov 2026 23:59 Europe/Berlin" in body["grants"][0]["why"]
    edited = client.post("/v1/simulate", headers=DEMO, json={
        "achievement": "deploy-streak", "events": events, "at": "2026-11-20T12:00:00Z",
        "achievements": [{"key": "deploy-streak", "version": 2, "name": "Four",
                          "rule": {"streak": {"period": "day", "length": 4}, "of": "deploy.completed"}}]})
    assert edited.json()["grants"] == [] and edited.json()["persons"][0]["lines"][0].startswith("streak 3 days of 4")


def test_refusals_name_their_reason_and_stay_in_the_tenant(hub: tuple[TestClient, Config]) -> None:
    client, _ = hub
    good = {"id": "1", "source": "/t", "type": "deploy.completed", "time": "2026-11-17T16:00:00Z",
            "data": {"actor": {"system": "github", "id": "15669918"}}}
    bad = client.post("/v1/simulate", headers=DEMO, json={"achievement": "deploy-streak",
                                                           "events": [good, {**good, "data": {}}]})
    assert (bad.status_code, bad.json()["detail"]) == (400, "events[1]: data: data.actor is required: who did "
                                                             "it, e.g. {system, id}")
    spec = client.post("/v1/simulate", headers=DEMO, json={"achievement": "x", "events": [good],
                                                            "achievements": [{"key": "x", "version": 1}]})
    assert spec.status_code == 400 and spec.json()["detail"].startswith("achievements[0].name: Field required")
    unknown = client.post("/v1/simulate", headers=DEMO, json={"achievement": "nope", "events": [good]})
    assert unknown.status_code == 400 and "no achievement 'nope'" in unknown.json()["detail"]
    assert client.post("/v1/simulate", json={"achievement": "deploy-streak", "events": [good]}).status_code == 401
    foreign = client.post("/v1/simulate", headers=OTHER, json={"achievement": "x", "person": "github:Codertocat"})
    assert foreign.status_code == 400  # the other tenant has no such achievement, nor the person
    assert client.get("/v1/persons/github:Codertocat/achievements/green-week", headers=OTHER).status_code == 404
    missing = client.get("/v1/persons/github:Codertocat/achievements/nope", headers=DEMO)
    assert missing.status_code == 404 and "known: first-green-pipeline" in missing.json()["detail"]
    assert client.get("/v1/persons/nonsense/achievements/green-week", headers=DEMO).status_code == 400

"""`insight.simulate` on the demo config and events, SQLite and PostgreSQL: what would be granted,
when and why, from a file or from a person's real history, and never a row written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from config import parse_config
from config.models import Config
from identity.sync import sync_people
from insight.eventfile import EventFileError, parse_event_lines, read_event_file
from insight.simulate import SimulationError, SimulationRequest, simulate
from intake.ingest import ingest_batch
from rules.definitions import AchievementSpec
from store.schema import metadata

EXAMPLES = Path(__file__).parents[2] / "examples"
EVENTS = read_event_file(str(EXAMPLES / "simulate-events.jsonl"))
FRIDAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def demo_config(db_url: str) -> Config:
    text = (EXAMPLES / "accolade.yaml").read_text().replace("sqlite:///.accolade/accolade.db", db_url)
    return parse_config(text, file="accolade.yaml", env={})


@pytest.fixture
def demo(engine: Engine, db_url: str) -> Config:
    config = demo_config(db_url)
    sync_people(engine, config.tenants[0])
    return config


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}


def _run(engine: Engine, config: Config, request: SimulationRequest) -> dict:
    with engine.connect() as conn:
        return simulate(conn, config.tenants[0], request, now=FRIDAY)


def test_the_three_demo_achievements_would_be_granted_and_nothing_is_stored(engine: Engine, demo: Config) -> None:
    ingest_batch(engine, demo.tenants[0], [e.to_json_dict() for e in EVENTS[:3]])
    before = _row_counts(engine)
    reports = {key: _run(engine, demo, SimulationRequest(key, EVENTS, at=FRIDAY))
               for key in ("green-week", "deploy-streak", "clean-resolver")}
    assert _row_counts(engine) == before
    assert all(r["stored"] is False for r in reports.values())
    week = reports["green-week"]["grants"]
    assert [(g["person"], g["granted_local"]) for g in week] == [("demo-1", "Thu 19 Nov 2026 16:20 Europe/Berlin")]
    assert "window 2026-W47: Mon 16 Nov 2026 00:00 to Sun 22 Nov 2026 23:59 Europe/Berlin" in week[0]["why"]
    streak = reports["deploy-streak"]["grants"][0]
    assert streak["granted_local"] == "Thu 19 Nov 2026 12:00 Europe/Berlin"  # deploy-203 arrived last, happened first
    clean = reports["clean-resolver"]["grants"][0]
    assert clean["evidence"]["count"] == 5 and "/examples/jira#10003:6003" not in clean["evidence"]["events"]


def test_as_of_tuesday_what_is_still_missing(engine: Engine, demo: Config) -> None:
    tuesday = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)  # later events have not happened yet
    report = _run(engine, demo, SimulationRequest("green-week", EVENTS, at=tuesday))
    assert report["grants"] == [] and report["later_events"] == 2
    [person] = report["persons"]
    assert person["lines"] == ["3 of 5 green pipelines this week; 2 more by Sunday 23:59 Europe/Berlin"]
    assert (person["have"], person["need"]) == (3, 5)


def test_a_persons_history_is_replayed_from_the_log_in_event_time_order(engine: Engine, demo: Config) -> None:
    tenant = demo.tenants[0]
    shuffled = list(reversed(EVENTS))  # arrival order does not matter; event time does
    assert ingest_batch(engine, tenant, [e.to_json_dict() for e in shuffled]).count("accepted") == len(EVENTS)
    report = _run(engine, demo, SimulationRequest("green-week", person="github:Codertocat", at=FRIDAY))
    assert report["from_history"] == 6  # the six pipelines, red one included; nothing of other types
    assert [g["granted_local"] for g in report["grants"]] == ["Thu 19 Nov 2026 16:20 Europe/Berlin"]
    clean = _run(engine, demo, SimulationRequest("clean-resolver", person="jira:u01", at=FRIDAY))
    assert clean["grants"][0]["evidence"]["count"] == 5  # DEMO-3's reassignment read from the log


def test_an_edited_unpublished_rule_is_tried_instead_of_the_published_one(engine: Engine, demo: Config) -> None:
    edited = [a if a.key != "green-week" else AchievementSpec.model_validate(
        {**a.model_dump(by_alias=True), "rule": {**a.rule.model_dump(by_alias=True, exclude_none=True), "count": 6}})
        for a in demo.tenants[0].achievements]
    report = _run(engine, demo, SimulationRequest("green-week", EVENTS, achievements=edited, at=FRIDAY))
    assert report["grants"] == []
    assert report["persons"][0]["lines"] == ["5 of 6 green pipelines this week; 1 more by Sunday 23:59 Europe/Berlin"]


def test_an_actor_nobody_is_linked_to_is_simulated_as_a_stand_in(engine: Engine, demo: Config) -> None:
    stranger = [e.model_copy(update={"data": {**e.data, "actor": {"system": "github", "login": "octo-new"}}})
                for e in EVENTS if e.type == "ci.pipeline.completed"]
    report = _run(engine, demo, SimulationRequest("green-week", stranger, at=FRIDAY))
    assert report["unlinked"] == [{"person": "unlinked:github:login=octo-new", "events": 6}]
    assert report["grants"][0]["person"] == "unlinked:github:login=octo-new"


def test_refusals(engine: Engine, demo: Config) -> None:
    with pytest.raises(SimulationError, match="no achievement 'nope' in tenant demo \\(known: first-green"):
        _run(engine, demo, SimulationRequest("nope", EVENTS))
    with pytest.raises(SimulationError, match="no events to simulate"):
        _run(engine, demo, SimulationRequest("green-week", []))


def test_a_bad_events_file_names_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match=r"^f.jsonl:3: invalid JSON"):
        parse_event_lines(["# comment", "", "{nope"], name="f.jsonl")
    good = EVENTS[0].to_json_dict()
    broken = {**good, "data": {"outcome": "success"}}
    with pytest.raises(EventFileError, match=r"^f.jsonl:2: data: data.actor is required"):
        parse_event_lines([json.dumps(good), json.dumps(broken)], name="f.jsonl")
    with pytest.raises(EventFileError, match=r"^f.jsonl:1: time: "):
        parse_event_lines(['{"id": "1", "source": "/s", "type": "a.b", "time": "yesterday", "data": {}}'],
                          name="f.jsonl")
    with pytest.raises(EventFileError, match="cannot read"):
        read_event_file(str(tmp_path / "missing.jsonl"))

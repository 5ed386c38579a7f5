"""`check_connectors` against a real store (SQLite and PostgreSQL): each incident opens once,
is told once (one event, one admin message) however often the activity runs, and resolves once.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import activities.watch
from activities.contracts import CheckConnectorsInput, CheckConnectorsResult, WatchState
from activities.watch import WatchActivities
from config.models import Config
from connectors.base import PollSettings
from store.health import HealthDelta, add_health, record_poll
from store.incidents import open_incident
from store.schema import connector_incidents, event_queue, events, parked
from tests.factories import CONFIG_TEXT, make_config

GITHUB = '      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}\n'


def health_config(url: str, *, connector: str = "expect_within: 1m", admin: str = "console") -> Config:
    line = GITHUB.rstrip().removesuffix("}") + f", {connector}}}\n" if connector else GITHUB
    text = CONFIG_TEXT.replace(GITHUB, line)
    text = text.replace("    people:\n", f"    admin_channel: {admin}\n    people:\n", 1)
    return make_config(url, text)


@dataclass
class Watch:
    engine: Engine
    activities: WatchActivities
    console: io.StringIO
    state: WatchState

    def check(self, state: WatchState | None = None) -> CheckConnectorsResult:
        """One round; `state` (default: the last round's) lets a test replay an attempt."""
        result = self.activities.check_connectors(CheckConnectorsInput(tenant="demo", state=state or self.state))
        self.state = result.state
        return result

    def lines(self) -> list[str]:
        return self.console.getvalue().splitlines()

    def stored(self) -> list[tuple[str, str, str]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(events.c.event_id, events.c.type, events.c.source).order_by(events.c.seq))]

    def observe(self, **counts: int) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            add_health(conn, [HealthDelta("demo", "github", counts, now if counts.get("accepted") else None)],
                       now=now)


def _watch(engine: Engine, config: Config, *, quiet_for: timedelta = timedelta(0)) -> Watch:
    console = io.StringIO()
    state = WatchState(first_seen={"github": datetime.now(UTC) - quiet_for})
    return Watch(engine, WatchActivities(engine, config, console=console), console, state)


@pytest.fixture
def watch(engine: Engine, db_url: str) -> Iterator[Watch]:
    yield _watch(engine, health_config(db_url), quiet_for=timedelta(minutes=2))


def test_silence_opens_once_is_told_once_and_resolves_once(watch: Watch) -> None:
    first = watch.check()
    assert (first.opened, first.notified) == (["github:silent"], 1)
    [line] = watch.lines()
    assert line.startswith("[accolade:alert] demo: connector github is silent: no event for 2m")
    retried = watch.check(first.state.model_copy())  # the same round again, as a retry would
    assert (retried.opened, retried.notified, len(watch.lines())) == ([], 0, 1)
    [(event_id, kind, source)] = watch.stored()
    assert (kind, source) == ("accolade.connector.silent", "/accolade/demo/github")
    assert event_id.startswith("incident:") and event_id.endswith(":opened")

    watch.observe(received=1, accepted=1)
    cleared = watch.check()
    assert (cleared.resolved, cleared.notified) == (["github:silent"], 1)
    assert "silent alarm resolved" in watch.lines()[1] and len(watch.lines()) == 2
    assert watch.check().notified == 0 and len(watch.lines()) == 2
    assert [t for _, t, _ in watch.stored()] == ["accolade.connector.silent", "accolade.connector.resolved"]


def test_system_events_are_stored_neither_queued_nor_parked(watch: Watch) -> None:
    watch.check()
    with watch.engine.connect() as conn:
        counts = [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (events, event_queue, parked)]
        body = conn.execute(select(events.c.body)).scalar_one()
    assert counts == [1, 0, 0]
    assert body["data"]["actor"] == {"system": "accolade", "id": "connector:github"}
    assert body["data"]["kind"] == "silent" and body["data"]["connector"] == "github"


def test_a_notice_left_by_a_crashed_attempt_is_sent_by_the_next_one(watch: Watch) -> None:
    with watch.engine.begin() as conn:  # opened, then the worker died before telling anyone
        open_incident(conn, "demo", "github", "silent", "no event for 2m", now=datetime.now(UTC))
    result = watch.check()
    assert (result.opened, result.notified, len(watch.lines())) == ([], 1, 1)


def test_failing_opens_once_for_many_failed_cycles_and_resolves_on_success(
        watch: Watch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activities.watch, "poll_settings_of", lambda settings: PollSettings(fail_after=2))
    watch.observe(received=1, accepted=1)  # not silent
    fail = {"error": "tasks: HTTP 503", "now": datetime.now(UTC)}
    with watch.engine.begin() as conn:
        record_poll(conn, "demo", "github", **fail)
    assert watch.check().opened == []
    for _ in range(3):
        with watch.engine.begin() as conn:
            record_poll(conn, "demo", "github", **fail)
        watch.check()
    assert [line.split(": ", 1)[1] for line in watch.lines()] == [
        "connector github is failing: 2 poll cycles failed in a row: tasks: HTTP 503 [incident 1]"]
    with watch.engine.begin() as conn:
        record_poll(conn, "demo", "github", now=datetime.now(UTC), pages=1, events=0)
    assert watch.check().resolved == ["github:failing"]


def test_drift_needs_the_window_state_the_workflow_carries(watch: Watch) -> None:
    watch.observe(received=20, accepted=20)
    watch.check()  # first look: counters recorded
    watch.observe(received=10, accepted=2, quarantined=8)
    result = watch.check()
    assert result.opened == ["github:drift"]
    assert "8 of 10 payloads unparseable in the last window (80%), up from 0%" in watch.lines()[-1]
    assert result.state.windows["github"].base_share == 0.8


def test_a_paused_connector_resolves_its_incidents(engine: Engine, db_url: str) -> None:
    running = _watch(engine, health_config(db_url), quiet_for=timedelta(minutes=2))
    assert running.check().opened == ["github:silent"]
    paused = _watch(engine, health_config(db_url, connector="expect_within: 1m, enabled: false"))
    assert paused.check().resolved == ["github:silent"]


def test_an_admin_channel_of_another_kind_logs_and_does_not_fail(
        engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    watch = _watch(engine, health_config(db_url, admin="feed"), quiet_for=timedelta(minutes=2))
    with caplog.at_level(logging.WARNING, logger="accolade.watch"):
        result = watch.check()
    assert result.notified == 1 and watch.lines() == []
    assert "not supported yet" in caplog.text and "connector github is silent" in caplog.text


def test_other_tenants_incidents_are_not_touched(watch: Watch) -> None:
    with watch.engine.begin() as conn:
        open_incident(conn, "other", "github", "silent", "theirs", now=datetime.now(UTC))
    watch.check()
    with watch.engine.connect() as conn:
        theirs: Any = conn.execute(select(connector_incidents).where(connector_incidents.c.tenant == "other")).one()
    assert theirs.resolved_at is None and theirs.notified_open_at is None

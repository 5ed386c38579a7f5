"""Routing and preferences in the delivery activity, on a real store (SQLite and PostgreSQL) and
a real SMTP server: forbidden by policy, opted out, quiet hours re-checked on wake, throttles;
and the clock arithmetic of quiet hours and digest periods (zones, midnight, DST)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select
from temporalio.testing import ActivityEnvironment

from activities.contracts import DeliverInput, EvaluateShardInput
from activities.delivery import DeliveryActivities
from activities.evaluation import EvaluationActivities
from activities.pacing import Suppress, digest_period, pace, quiet_until
from channels import Clients
from config import Config, parse_config
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.preferences import Preferences, save_preferences
from store.reads import delivery_rows
from store.schema import deliveries, suspended_persons
from tests.smtp_sink import SmtpSink

BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = """\
store: {url: "DB_URL"}
tenants:
  - id: demo
    time_zone: Europe/Berlin
    api_keys: ["${K:-k}"]
    channels:
      - {id: console, kind: console}
      - {id: feed, kind: feed}
      - {id: email, kind: email, smtp: "SMTP", from: accolade@example.com}
    routing: {normal: [console, email], high: [console, feed, email], forbidden: [feed]}
    people:
      - {person: demo-1, identities: ["github:id=15669918", "email:coder@example.com"]}
    achievements:
      - {key: first-green, version: 1, name: First green, importance: high, rule: {count: 1, of: ci.pipeline.completed}}
      - {key: first-deploy, version: 1, name: First deploy, rule: {count: 1, of: deploy.completed}}
"""


def _granted(engine: Engine, db_url: str, smtp: str, types: list[str]) -> tuple[Config, list[str]]:
    config = parse_config(CONFIG.replace("DB_URL", db_url).replace("SMTP", smtp), file="t.yaml", env={})
    sync_people(engine, config.tenants[0])
    ingest_batch(engine, config.tenants[0], [{
        "id": f"e{i}", "source": "/ci/pacing", "type": type_, "time": "2026-11-01T10:00:00Z",
        "data": {"actor": {"system": "github", "id": "15669918"}}} for i, type_ in enumerate(types)])
    result = ActivityEnvironment().run(
        EvaluationActivities(engine, config, client=None, task_queue="unused").evaluate_shard,
        EvaluateShardInput(tenant="demo", shard=shard_of("demo-1", 4), batch_size=100,
                           now=datetime.now(UTC)))
    return config, [g.grant_id for g in result.undispatched]


def _deliver(config: Config, engine: Engine, grant_id: str, channel: str = "email") -> tuple[str, str | None]:
    activities = DeliveryActivities(engine, config, clients=Clients(console=io.StringIO()))
    result = ActivityEnvironment().run(activities.deliver, DeliverInput(tenant="demo", grant_id=grant_id,
                                                                        channel=channel))
    return result.status, result.detail


def _prefer(engine: Engine, **values: object) -> None:
    with engine.begin() as conn:
        save_preferences(conn, "demo", "demo-1", Preferences(**values))


def _reasons(engine: Engine) -> dict[tuple[str, str], tuple[str, str | None]]:
    with engine.connect() as conn:
        return {(r["achievement"], r["channel"]): (r["status"], r["reason"]) for r in delivery_rows(conn, "demo")}


def test_a_forbidden_channel_is_suppressed_when_the_grant_is_stored_and_never_dispatched(
    engine: Engine, db_url: str
) -> None:
    _, undispatched = _granted(engine, db_url, "127.0.0.1:25", ["ci.pipeline.completed", "deploy.completed"])
    assert _reasons(engine) == {
        ("first-green", "console"): ("queued", None), ("first-green", "email"): ("queued", None),
        ("first-green", "feed"): ("suppressed", "forbidden by policy"),  # high importance lists it
        ("first-deploy", "console"): ("queued", None), ("first-deploy", "email"): ("queued", None)}
    assert len(undispatched) == 2


def test_an_opted_out_channel_is_suppressed_and_nothing_is_sent(engine: Engine, db_url: str) -> None:
    _prefer(engine, opt_out=["email"])
    with SmtpSink() as sink:
        config, [grant, _] = _granted(engine, db_url, sink.address, ["ci.pipeline.completed", "deploy.completed"])
        assert _deliver(config, engine, grant) == ("suppressed", "opted out")
        assert _deliver(config, engine, grant, "console") == ("sent", None)
    assert sink.received == []
    assert _reasons(engine)[("first-green", "email")] == ("suppressed", "opted out")


def test_quiet_hours_wait_and_the_wake_rechecks_the_person(engine: Engine, db_url: str) -> None:
    now = datetime.now(BERLIN)
    quiet = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=2):%H:%M}"
    _prefer(engine, quiet_hours=quiet)
    with SmtpSink() as sink:
        config, [grant, _] = _granted(engine, db_url, sink.address, ["ci.pipeline.completed", "deploy.completed"])
        assert _deliver(config, engine, grant) == ("waiting", "quiet hours")
        shown = f"quiet hours until {now + timedelta(hours=2):%H:%M} Europe/Berlin"
        assert _reasons(engine)[("first-green", "email")] == ("waiting", shown)
        with engine.begin() as conn:  # deprovisioned during the night
            conn.execute(insert(suspended_persons).values(tenant="demo", person_id="demo-1",
                                                          reason="deprovisioned", since=datetime.now(UTC)))
        _prefer(engine, quiet_hours=None)
        assert _deliver(config, engine, grant) == ("suppressed", "deprovisioned")
    assert sink.received == []


def test_a_throttle_admits_n_a_day_and_the_rest_wait_for_the_persons_next_day(engine: Engine, db_url: str) -> None:
    _prefer(engine, throttle=1, time_zone="Asia/Tokyo")
    with SmtpSink() as sink:
        config, [first, second] = _granted(engine, db_url, sink.address,
                                           ["ci.pipeline.completed", "deploy.completed"])
        assert _deliver(config, engine, first) == ("sent", None)
        assert _deliver(config, engine, first) == ("sent", "already delivered")
        assert _deliver(config, engine, second) == ("waiting", "throttle")
        assert _deliver(config, engine, second) == ("waiting", "throttle")  # asking again admits nothing
    assert len(sink.received) == 1
    status, reason = _reasons(engine)[("first-deploy", "email")]
    assert (status, reason) == ("waiting", "throttle of 1 a day reached; until 00:00 Asia/Tokyo")
    with engine.connect() as conn:
        admitted = conn.execute(select(deliveries.c.admitted_at).where(deliveries.c.channel == "email")).all()
    assert sum(a is not None for (a,) in admitted) == 1


def test_a_team_post_is_not_paced_by_the_persons_preferences(engine: Engine, db_url: str) -> None:
    config, _ = _granted(engine, db_url, "127.0.0.1:25", [])
    _prefer(engine, opt_out=["email"], quiet_hours="00:00-23:59", digest="daily")
    row = SimpleNamespace(person_id="demo-1", channel="email", kind="email", admitted_at=None, grant_id="g")
    with engine.begin() as conn:
        assert pace(conn, config.tenants[0], row, datetime.now(UTC)) == Suppress("opted out")
        team = SimpleNamespace(**{**vars(row), "channel": "slack.team", "kind": "slack"})
        assert pace(conn, config.tenants[0], team, datetime.now(UTC)) is None


def test_quiet_hours_across_midnight_within_a_day_and_over_a_dst_change() -> None:
    night = (time(22, 0), time(8, 0))
    at = datetime(2026, 11, 30, 22, 30, tzinfo=BERLIN)
    assert quiet_until(night, BERLIN, at) == datetime(2026, 12, 1, 8, 0, tzinfo=BERLIN)
    assert quiet_until(night, BERLIN, at.replace(hour=3)) == datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
    assert quiet_until(night, BERLIN, at.replace(hour=8)) is None
    assert quiet_until((time(12, 0), time(13, 0)), BERLIN, at.replace(hour=12, minute=59)) == at.replace(hour=13, minute=0)
    # 02:30 does not exist on 29 March 2026 in Berlin: the wait ends at the first time that does
    spring = quiet_until((time(1, 0), time(2, 30)), BERLIN, datetime(2026, 3, 29, 1, 15, tzinfo=BERLIN))
    assert spring == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_digest_periods_end_at_the_persons_midnight_and_weeks_start_on_the_tenants_day() -> None:
    at = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # a Wednesday
    assert digest_period("daily", BERLIN, at) == ("day-2026-12-02", datetime(2026, 12, 2, 23, 0, tzinfo=UTC))
    assert digest_period("weekly", BERLIN, at) == ("week-2026-11-30", datetime(2026, 12, 6, 23, 0, tzinfo=UTC))
    sunday = digest_period("weekly", ZoneInfo("Asia/Tokyo"), at, week_start="sunday")
    assert sunday == ("week-2026-11-29", datetime(2026, 12, 5, 15, 0, tzinfo=UTC))

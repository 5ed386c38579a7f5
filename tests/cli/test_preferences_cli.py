"""`accolade preferences set|show` on a real store (SQLite and PostgreSQL): what is stored, what
is shown, and bad input refused with exit 2 and the option named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli import app
from config import load_config
from identity.sync import sync_people
from store.preferences import load_preferences
from store.profiles import load_profiles, set_profile

CONFIG = """\
store: {url: "DB_URL"}
tenants:
  - id: demo
    time_zone: Europe/Berlin
    channels:
      - {id: console, kind: console}
      - {id: email, kind: email, smtp: "127.0.0.1:8025", from: accolade@example.com}
      - {id: feed, kind: feed}
    people:
      - {person: demo-1, identities: ["github:id=15669918", "github:login=Codertocat"]}
"""


@pytest.fixture
def config_file(engine: Engine, db_url: str, tmp_path: Path) -> str:
    path = tmp_path / "accolade.yaml"
    path.write_text(CONFIG.replace("DB_URL", db_url))
    sync_people(engine, load_config(path).tenants[0])
    return str(path)


def _run(config_file: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", config_file])
    return result.exit_code, result.output


def test_set_stores_every_preference_and_show_tells_them_with_their_source(
    engine: Engine, config_file: str
) -> None:
    code, out = _run(config_file, "preferences", "set", "github:Codertocat", "--opt-out", "email",
                     "--quiet-hours", "22:00-08:00", "--time-zone", "America/New_York", "--digest", "weekly",
                     "--throttle", "5", "--locale", "de")
    assert code == 0, out
    with engine.connect() as conn:
        prefs = load_preferences(conn, "demo", "demo-1")
    assert (prefs.opt_out, prefs.quiet_hours, prefs.digest, prefs.throttle) == (["email"], "22:00-08:00", "weekly", 5)
    assert (prefs.time_zone, prefs.locale) == ("America/New_York", "de")
    code, out = _run(config_file, "preferences", "show", "github:Codertocat")
    assert code == 0 and "opted out of: email" in out and "quiet hours: 22:00-08:00" in out
    assert "time zone: America/New_York (from preferences)" in out and "throttle: 5 a day" in out
    shown = json.loads(_run(config_file, "preferences", "show", "github:Codertocat", "--json")[1])
    assert shown["effective_time_zone"] == "America/New_York" and shown["digest"] == "weekly"


def test_set_changes_only_what_is_given_and_off_clears(engine: Engine, config_file: str) -> None:
    _run(config_file, "preferences", "set", "github:Codertocat", "--opt-out", "email", "--opt-out", "feed",
         "--quiet-hours", "22:00-08:00", "--throttle", "3")
    code, _ = _run(config_file, "preferences", "set", "github:Codertocat", "--opt-in", "feed", "--throttle", "off")
    assert code == 0
    with engine.connect() as conn:
        prefs = load_preferences(conn, "demo", "demo-1")
    assert (prefs.opt_out, prefs.quiet_hours, prefs.throttle) == (["email"], "22:00-08:00", None)


def test_a_preferred_zone_outranks_the_iam_profile_and_the_tenant_zone_is_the_default(
    engine: Engine, config_file: str
) -> None:
    shown = json.loads(_run(config_file, "preferences", "show", "github:Codertocat", "--json")[1])
    assert (shown["time_zone"], shown["effective_time_zone"]) == (None, "Europe/Berlin")
    with engine.begin() as conn:
        set_profile(conn, "demo", "demo-1", source="scim", time_zone="Asia/Tokyo")
    _run(config_file, "preferences", "set", "github:Codertocat", "--time-zone", "Europe/Lisbon")
    with engine.begin() as conn:
        set_profile(conn, "demo", "demo-1", source="scim", time_zone="Asia/Tokyo")  # the IdP syncs again
        assert load_profiles(conn, "demo", ["demo-1"])["demo-1"].time_zone == "Europe/Lisbon"


@pytest.mark.parametrize(("args", "message"), [
    (["--quiet-hours", "25:00-08:00"], "--quiet-hours: '25:00-08:00' is not HH:MM-HH:MM"),
    (["--quiet-hours", "22:00-22:00"], "--quiet-hours: '22:00-22:00' starts and ends at the same time"),
    (["--time-zone", "Mars/Olympus"], "--time-zone: unknown time zone 'Mars/Olympus'"),
    (["--opt-out", "sms"], "--opt-out: unknown channel 'sms' (channels: console, email, feed)"),
    (["--digest", "hourly"], "--digest: Input should be 'daily' or 'weekly'"),
    (["--throttle", "0"], "--throttle: Input should be greater than or equal to 1"),
    (["--locale", "xx_YY"], "--locale: unknown locale 'xx_YY'"),
])
def test_bad_input_exits_2_naming_the_option_and_stores_nothing(
    engine: Engine, config_file: str, args: list[str], message: str
) -> None:
    code, out = _run(config_file, "preferences", "set", "github:Codertocat", "--throttle", "4", *args)
    assert code == 2 and message in out and "Traceback" not in out
    with engine.connect() as conn:
        assert load_preferences(conn, "demo", "demo-1").throttle is None


def test_an_unknown_person_exits_1(config_file: str) -> None:
    code, out = _run(config_file, "preferences", "show", "github:nobody")
    assert code == 1 and "nobody" in out

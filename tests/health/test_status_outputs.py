"""What an operator reads: `accolade connectors status [--json]`, `GET /v1/connectors`, and the
config check of `admin_channel`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from api import create_app
from cli import app
from config import ConfigError
from store import create_store_engine, migrate
from store.cursors import advance_cursor
from store.health import HealthDelta, add_health, record_poll
from store.incidents import open_incident
from tests.factories import API_KEY, CONFIG_TEXT, ENV
from tests.health.test_check_connectors import GITHUB, health_config

NOW = datetime.now(UTC)  # status ages are read against the clock: see the bounds below


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        add_health(conn, [HealthDelta("demo", "github", {"received": 9, "accepted": 6, "duplicate": 1,
                                                         "quarantined": 2, "rejected": 3},
                                      NOW - timedelta(minutes=5))], now=NOW)
        record_poll(conn, "demo", "github", now=NOW, error="github: HTTP 503", permanent=False)
        advance_cursor(conn, "demo", "github", NOW - timedelta(minutes=30), now=NOW)
        open_incident(conn, "demo", "github", "silent", "no event for 2m (expected within 1m)", now=NOW)


def test_cli_table_and_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create_store_engine(url)
    migrate(engine)
    _seed(engine)
    engine.dispose()
    config = tmp_path / "accolade.yaml"
    config.write_text(CONFIG_TEXT.replace('"sqlite:///unused.db"', f'"{url}"'))
    runner = CliRunner()
    table = runner.invoke(app, ["connectors", "status", "--config", str(config), "--tenant", "demo"], env=ENV)
    assert table.exit_code == 0, table.output
    header, row, error = table.output.splitlines()
    assert header.split()[:3] == ["CONNECTOR", "VENDOR", "STATE"]
    assert row.split()[:9] == ["github", "github", "silent", "9", "6", "1", "0", "2", "3"]
    assert row.endswith("no event for 2m (expected within 1m)")
    assert "last error (retryable" in error and error.endswith("github: HTTP 503")
    raw = runner.invoke(app, ["connectors", "status", "--json", "--config", str(config), "--tenant", "demo"],
                        env=ENV)
    [status] = json.loads(raw.output)["connectors"]
    assert status["state"] == "silent" and status["counters"]["rejected"] == 3
    assert 1799 <= status["cursor_age_seconds"] <= 1800 + (datetime.now(UTC) - NOW).total_seconds() + 5
    assert [i["kind"] for i in status["incidents"]] == ["silent"]
    other = runner.invoke(app, ["connectors", "status", "--config", str(config), "--tenant", "other"], env=ENV)
    assert other.output.strip() == "tenant other has no connectors"


def test_api_lists_the_keys_tenant_only(engine: Engine, db_url: str) -> None:
    _seed(engine)
    client = TestClient(create_app(health_config(db_url), engine))
    answer = client.get("/v1/connectors", headers={"authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 200
    body = answer.json()
    [status] = body["connectors"]
    assert (body["tenant"], status["connector"], status["state"]) == ("demo", "github", "silent")
    assert status["expect_within"] == "1m" and status["last_error"] == "github: HTTP 503"
    theirs = client.get("/v1/connectors", headers={"authorization": "Bearer other-key"}).json()
    assert theirs == {"tenant": "other", "connectors": []}
    assert client.get("/v1/connectors").status_code == 401


def test_admin_channel_must_name_a_declared_channel(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        health_config("sqlite://", admin="pager")
    [line] = raised.value.lines()
    assert line == ("test.yaml:11: tenants[0].admin_channel: unknown channel 'pager' "
                    "(channels: console, feed)")
    assert GITHUB in CONFIG_TEXT  # the helper edits the shared test config, not a copy of it

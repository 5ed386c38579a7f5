"""`accolade quarantine list|show|retry` as an operator uses them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from cli import app
from config import load_config
from identity.sync import sync_people
from intake.ingest import INTERNAL_ERROR
from intake.webhooks import replayable_headers
from store import create_store_engine, migrate
from store.quarantine import quarantine_body, quarantine_item
from store.schema import events, quarantine
from tests.factories import CONFIG_TEXT, ENV, FIXTURES, make_config

NOW = datetime.now(UTC)
RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()
LIST_KEYS = {"id", "channel", "kind", "delivery_id", "reason", "received_at", "body_size", "body_sha256",
             "body_truncated", "kept", "retried_at", "retry_outcome", "resolved"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_file(tmp_path: Path, db_url: str, *, temporal: str, tenant: str = "demo") -> Path:
    path = tmp_path / "accolade.yaml"
    text = CONFIG_TEXT.replace('"sqlite:///unused.db"', f'"{db_url}"').replace("id: demo", f"id: {tenant}")
    path.write_text(f"temporal: {{{temporal}}}\n" + text)
    return path


def _seed(engine: Engine, tenant: str = "demo") -> dict[str, int]:
    """A webhook that hit a mapping bug, one cut by the size cap, and a batch item."""
    headers = replayable_headers({"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-run"})
    item = {"id": "e-1", "source": "/ci", "type": "ci.pipeline.completed", "time": NOW.isoformat(),
            "data": {"actor": {"system": "github", "id": "15669918"}}}
    keep = timedelta(days=30)
    with engine.begin() as conn:
        for name, prefix in (("run", 1 << 20), ("cut", 100)):
            quarantine_body(conn, tenant=tenant, channel="github", delivery_id=f"d-{name}", reason=INTERNAL_ERROR,
                            body=RUN, prefix=prefix, keep=keep, now=NOW, kind="webhook", headers=headers)
        quarantine_item(conn, item=item, tenant=tenant, channel="api", delivery_id="e-1",
                        reason="an old limit", prefix=1 << 20, keep=keep, now=NOW)
        ids = conn.execute(select(quarantine.c.delivery_id, quarantine.c.id)).all()
    return {str(d): int(i) for d, i in ids}


def _run(config: Path, *args: str, tenant: str = "demo") -> tuple[int, str]:
    result = CliRunner().invoke(app, ["quarantine", *args, "--config", str(config), "--tenant", tenant], env=ENV)
    return result.exit_code, result.output


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


@pytest.fixture
def setup(tmp_path: Path, engine: Engine, db_url: str) -> tuple[Path, dict[str, int]]:
    sync_people(engine, make_config(db_url).tenants[0])
    return _config_file(tmp_path, db_url, temporal=f'address: "127.0.0.1:{_closed_port()}"'), _seed(engine)


def test_list_filters_by_connector_and_shows_kind_and_retry_state(setup: Any) -> None:
    config, ids = setup
    code, out = _run(config, "list", "--json")
    rows = json.loads(out)
    assert code == 0 and all(set(r) == LIST_KEYS for r in rows) and len(rows) == 3
    assert {r["delivery_id"]: (r["kind"], r["resolved"]) for r in rows} == {
        "d-run": ("webhook", False), "d-cut": ("webhook", False), "e-1": ("item", False)}
    code, out = _run(config, "list", "--connector", "api")
    assert out.splitlines() == [line for line in out.splitlines() if "e-1" in line] and len(out.splitlines()) == 1
    assert " item " in out and "never retried" in out
    code, out = _run(config, "show", str(ids["d-run"]))
    assert "webhook from github" in out and "x-github-event: workflow_run" in out and "signature" not in out


def test_retry_stores_once_and_says_how_the_evaluators_learn(setup: Any, engine: Engine) -> None:
    config, ids = setup
    code, out = _run(config, "retry", str(ids["d-run"]))
    assert code == 0, out
    assert "stored 1 event" in out and "1 retried: 1 stored" in out
    assert "Temporal unreachable" in out and "temporal.evaluator_wake, 30 s" in out
    code, out = _run(config, "retry", str(ids["d-run"]))
    assert code == 0 and "duplicate: already stored" in out and "Temporal" not in out
    assert _stored(engine) == 1

    code, out = _run(config, "list")
    assert "d-run" not in out  # resolved: shown with --all only
    code, out = _run(config, "list", "--all")
    assert "resolved, retried" in next(line for line in out.splitlines() if "d-run" in line)

    code, out = _run(config, "retry", "--all")
    assert code == 1, out  # the cut body is refused
    assert "2 retried: 1 stored, 0 duplicate, 0 ignored, 0 fails, 1 refused" in out
    assert "store.quarantine.body_prefix" in out and _stored(engine) == 2
    code, out = _run(config, "retry", "--all", "--connector", "api")
    assert code == 0 and "nothing to retry" in out
    assert _stored(engine) == 2


def test_retry_json_and_usage_errors(setup: Any) -> None:
    config, ids = setup
    code, out = _run(config, "retry", "--all", "--connector", "github", "--json")
    answer = json.loads(out)
    assert code == 1 and (answer["retried"], answer["stored"], answer["refused"]) == (2, 1, 1)
    assert {r["id"]: r["status"] for r in answer["results"]} == {ids["d-run"]: "stored", ids["d-cut"]: "refused"}
    assert "Temporal unreachable" in answer["evaluators"]
    assert _run(config, "retry")[0] == 2
    assert _run(config, "retry", str(ids["d-run"]), "--all")[0] == 2
    assert _run(config, "retry", str(ids["d-run"]), "--connector", "github")[0] == 2
    assert _run(config, "retry", "99999")[0] == 1


@pytest.mark.temporal
async def test_retry_wakes_the_evaluator_of_the_shard(tmp_path: Path, temporal_env: Any) -> None:
    tenant = f"q-{uuid.uuid4().hex[:8]}"  # its own evaluator ids in the shared dev server
    url = f"sqlite:///{tmp_path / 'q.db'}"
    target = temporal_env.client.service_client.config.target_host
    config = _config_file(tmp_path, url, tenant=tenant,
                          temporal=f'address: "{target}", namespace: default, task_queue: q-{tenant}')
    engine = create_store_engine(url)
    migrate(engine)
    sync_people(engine, load_config(str(config), env=ENV).tenants[0])
    ids = _seed(engine, tenant)
    engine.dispose()
    code, out = await asyncio.to_thread(_run, config, "retry", str(ids["d-run"]), tenant=tenant)
    assert code == 0 and "woke the evaluator(s) of shard(s)" in out, out
    shard = int(out.rsplit(" ", 1)[-1])
    handle = temporal_env.client.get_workflow_handle(f"evaluate/{tenant}/{shard}")
    history = await handle.fetch_history()
    signals = [e.workflow_execution_signaled_event_attributes.signal_name for e in history.events
               if e.HasField("workflow_execution_signaled_event_attributes")]
    assert signals == ["notify"]
    await handle.terminate("test over")

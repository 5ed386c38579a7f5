"""`accolade quarantine list|show|purge`: an operator sees what was kept and that the cap hit."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from store import create_store_engine, migrate
from store.quarantine import quarantine_body
from tests.factories import CONFIG_TEXT, ENV

NOW = datetime.now(UTC)


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    path = tmp_path / "accolade.yaml"
    path.write_text(CONFIG_TEXT.replace('"sqlite:///unused.db"', f'"{url}", quarantine: {{body_prefix: 16}}'))
    engine = create_store_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        for n, (body, age) in enumerate([(b'{"tiny": 1}', 0), (b'{"big": "' + b"x" * 100 + b'"}', 0),
                                         (b"{}", 40)]):
            quarantine_body(conn, tenant="demo", channel="github", delivery_id=f"d-{n}", reason=f"reason {n}",
                            body=body, prefix=16, keep=timedelta(days=365), now=NOW - timedelta(days=age))
    engine.dispose()
    return path, url


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.output


def test_list_shows_reason_and_whether_the_cap_was_hit(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    code, out = _run("quarantine", "list", "--config", str(config), "--tenant", "demo")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 3 and "reason 1" in lines[1] and "reason 0" in lines[2]
    big_hash = hashlib.sha256(b'{"big": "' + b"x" * 100 + b'"}').hexdigest()
    assert f"first 16 of 111 bytes kept (cap hit), sha256 {big_hash[:16]}" in lines[1]
    assert "11 bytes kept whole" in lines[2]
    code, out = _run("quarantine", "list", "--json", "--config", str(config), "--tenant", "demo")
    rows = json.loads(out)
    assert [(r["delivery_id"], r["body_truncated"], r["body_size"]) for r in rows] == [
        ("d-2", False, 2), ("d-1", True, 111), ("d-0", False, 11)]


def test_show_prints_the_kept_prefix_and_purge_removes_expired(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    code, out = _run("quarantine", "list", "--json", "--config", str(config), "--tenant", "demo")
    big = next(r for r in json.loads(out) if r["delivery_id"] == "d-1")
    code, out = _run("quarantine", "show", str(big["id"]), "--config", str(config), "--tenant", "demo")
    assert code == 0 and out.splitlines()[-1] == '{"big": "xxxxxxx' and "cap hit" in out
    assert _run("quarantine", "show", "999", "--config", str(config), "--tenant", "demo")[0] == 1
    code, out = _run("quarantine", "purge", "--config", str(config))
    assert code == 0 and "removed 1 quarantined item(s) older than 30 day(s)" in out
    code, out = _run("quarantine", "list", "--json", "--config", str(config), "--tenant", "demo")
    assert sorted(r["delivery_id"] for r in json.loads(out)) == ["d-0", "d-1"]

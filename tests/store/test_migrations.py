"""The migrations build exactly the schema `store.schema` declares (no drift either way)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from store import create_store_engine
from store._db import migrate
from store.schema import metadata


def test_migrated_sqlite_matches_the_declared_schema(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == [], f"migrations and store/schema.py differ: {diff}"

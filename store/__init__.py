"""Storage: schema, migrations and repositories (SQLAlchemy 2; SQLite default, PostgreSQL by URL)."""

from store._db import create_store_engine, insert_for, is_sqlite, migrate, private_dir, read_only

__all__ = ["create_store_engine", "insert_for", "is_sqlite", "migrate", "private_dir", "read_only"]

"""Personal data at rest: the SQLite store's files are the owner's only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from store import create_store_engine, migrate, private_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0 makes files 0666 by default: the modes below must not come from the umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_fresh_store_files_are_0600_and_its_new_folder_0700(
    tmp_path: Path, permissive_umask: None
) -> None:
    folder = tmp_path / "fresh" / ".accolade"
    database = folder / "accolade.db"
    engine = create_store_engine(f"sqlite:///{database}")
    try:
        migrate(engine)
        with engine.begin() as conn:  # a write leaves the -wal and -shm files in place
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(folder) == 0o700
        assert _mode(folder.parent) == 0o700  # every folder we create, not just the last
    finally:
        engine.dispose()


def test_existing_world_readable_store_is_narrowed(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        (tmp_path / name).touch(mode=0o644)
        os.chmod(tmp_path / name, 0o644)
    engine = create_store_engine(f"sqlite:///{database}")
    engine.dispose()
    assert {_mode(tmp_path / n) for n in ("old.db", "old.db-wal", "old.db-shm")} == {0o600}


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    engine = create_store_engine(f"sqlite:///{tmp_path / 'accolade.db'}")
    engine.dispose()
    assert _mode(tmp_path) == 0o755  # may be shared on purpose; only the files are narrowed
    assert _mode(tmp_path / "accolade.db") == 0o600


def test_private_dir_is_0700_under_a_permissive_umask(tmp_path: Path, permissive_umask: None) -> None:
    private_dir(tmp_path / "run" / ".accolade")
    assert _mode(tmp_path / "run" / ".accolade") == 0o700


def test_our_own_run_folder_is_narrowed_even_when_it_exists(tmp_path: Path) -> None:
    run = tmp_path / ".accolade"
    run.mkdir(mode=0o755)
    os.chmod(run, 0o755)
    private_dir(run, ours=True)
    assert _mode(run) == 0o700

"""Progress rows keep each rule kind's state and due time; due keys are found per shard.

On SQLite and PostgreSQL: what is saved loads back equal, a due time is found by the
shard it belongs to once `now` reaches it, and an old version's due row never wakes anyone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine

from rules.state import CountState, MaintainedState, StepsState, StreakState
from store.evaluation import load_due, load_progress, next_due, save_progress

T = datetime(2026, 11, 9, tzinfo=UTC)
V1 = {"weekly": 1, "streak": 1, "held": 1, "steps": 1}


def _states() -> dict:
    return {
        ("ana", "weekly"): CountState(count=2, total=2, first_events=["/s#1", "/s#2"], digest="d", high=1.7e9,
                                      windows={"2026-W45": [1.7e9, 1.8e9, "Europe/Berlin", 2, False]},
                                      values={"b", "a"}, points=3, points_by={"2026-W45": 3}),
        ("ana", "streak"): StreakState(count=2, periods=[20400, 20401], zone="Europe/Berlin", high=1.7e9),
        ("bo", "held"): MaintainedState(count=0, log=[[1.7e9, False, "/s#3"]], since=1.7e9, high=1.7e9),
        ("bo", "steps"): StepsState(count=1, granted=True, occurrences=["1"], steps=[[1.7e9], []], done=[0]),
    }


def test_every_kind_loads_back_as_it_was_saved(engine: Engine) -> None:
    states = _states()
    with engine.begin() as conn:
        save_progress(conn, "demo", 2, states, {}, V1)
    with engine.connect() as conn:
        assert load_progress(conn, "demo", ["ana", "bo"], V1) == states
        assert load_progress(conn, "other", ["ana", "bo"], V1) == {}


def test_due_keys_are_found_by_shard_once_now_reaches_them(engine: Engine) -> None:
    berlin_midnight = datetime(2026, 11, 9, 0, 0, tzinfo=timezone(timedelta(hours=1)))  # 23:00 UTC
    with engine.begin() as conn:
        save_progress(conn, "demo", 2, _states(), {("ana", "weekly"): berlin_midnight, ("ana", "streak"): T,
                                                   ("bo", "held"): T + timedelta(days=3)}, V1)
    with engine.connect() as conn:
        assert next_due(conn, "demo", 2, versions=V1) == berlin_midnight
        assert next_due(conn, "demo", 1, versions=V1) is None
        assert load_due(conn, "demo", 2, berlin_midnight - timedelta(seconds=1), versions=V1) == {}
        assert load_due(conn, "demo", 2, T, versions=V1) == {("ana", "weekly"): berlin_midnight,
                                                            ("ana", "streak"): T}
        assert list(load_due(conn, "demo", 2, T, versions=V1, limit=1)) == [("ana", "weekly")]  # earliest first


def test_a_due_row_of_an_older_version_is_not_due_any_more(engine: Engine) -> None:
    with engine.begin() as conn:
        save_progress(conn, "demo", 0, {("ana", "weekly"): CountState(count=1, total=1)},
                      {("ana", "weekly"): T}, V1)
    v2 = {**V1, "weekly": 2}
    with engine.connect() as conn:
        assert load_due(conn, "demo", 0, T + timedelta(days=1), versions=v2) == {}
        assert next_due(conn, "demo", 0, versions=v2) is None
        assert next_due(conn, "demo", 0, versions=V1) == T

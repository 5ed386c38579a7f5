"""The event log on SQLite and PostgreSQL: dedupe, routing, parking, and gap-safe reads."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from identity import link_identity, parse_identity_ref, route_actors
from store.eventlog import append_events, complete, read_batch, shard_of
from store.schema import event_queue, events, parked
from tests.factories import event

SHARDS = 4


def _append(engine: Engine, batch: list) -> list:
    with engine.begin() as conn:
        routes = route_actors(conn, "t1", [e.actor for e in batch])
        return append_events(conn, "t1", batch, routes, shards=SHARDS)


def _link(engine: Engine, ref: str, person: str = "p1") -> int:
    with engine.begin() as conn:
        return link_identity(conn, "t1", person, parse_identity_ref(ref), origin="cli",
                             shards=SHARDS)


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_same_event_twice_is_stored_once(engine: Engine) -> None:
    _link(engine, "github:id=1")
    first = _append(engine, [event("a"), event("b")])
    again = _append(engine, [event("a"), event("c"), event("c")])
    assert [r.duplicate for r in first] == [False, False]
    assert [r.duplicate for r in again] == [True, False, True]
    assert _count(engine, events) == 3
    assert _count(engine, event_queue) == 3


def test_dedupe_key_is_tenant_source_id(engine: Engine) -> None:
    _link(engine, "github:id=1")
    _append(engine, [event("a", source="/s1"), event("a", source="/s2")])
    with engine.begin() as conn:
        routes = route_actors(conn, "t2", [event("a").actor])
        append_events(conn, "t2", [event("a", source="/s1")], routes, shards=SHARDS)
    assert _count(engine, events) == 3


def test_unknown_actor_is_parked_and_released_once_when_linked(engine: Engine) -> None:
    stranger = {"system": "github", "id": "99", "login": "Stranger"}
    results = _append(engine, [event("x", actor=stranger), event("y", actor=stranger)])
    assert all(r.parked for r in results)
    assert (_count(engine, parked), _count(engine, event_queue)) == (2, 0)
    assert _link(engine, "github:login=stranger", person="p9") == 2
    assert _link(engine, "github:id=99", person="p9") == 0  # already released
    assert (_count(engine, parked), _count(engine, event_queue)) == (0, 2)
    with engine.begin() as conn:
        batch = read_batch(conn, "t1", shard_of("p9", SHARDS), limit=10)
    assert [q.event.id for q in batch] == ["x", "y"]
    assert {q.person_id for q in batch} == {"p9"}
    assert batch[0].decision["link"] == "github:login"


def test_stable_id_wins_over_login(engine: Engine) -> None:
    _link(engine, "github:id=1", person="by-id")
    _link(engine, "github:login=one", person="by-login")
    with engine.connect() as conn:
        [route] = route_actors(conn, "t1", [event().actor])
    assert route is not None and route.person_id == "by-id"


def test_read_batch_then_complete_takes_each_event_once(engine: Engine) -> None:
    _link(engine, "github:id=1")
    _append(engine, [event(str(i)) for i in range(5)])
    shard = shard_of("p1", SHARDS)
    with engine.begin() as conn:
        first = read_batch(conn, "t1", shard, limit=3)
        assert complete(conn, [q.seq for q in first]) == 3
    with engine.begin() as conn:
        rest = read_batch(conn, "t1", shard, limit=10)
        complete(conn, [q.seq for q in rest])
    assert [q.event.id for q in first + rest] == ["0", "1", "2", "3", "4"]
    assert _count(engine, event_queue) == 0


@pytest.mark.postgres
def test_interleaved_appends_on_postgres_skip_nothing(postgres_url: str) -> None:
    """A takes the lower seq and commits last; the reader must still see A's event later."""
    from store import create_store_engine, migrate

    engine = create_store_engine(postgres_url)
    migrate(engine)
    _link(engine, "github:id=1")
    shard = shard_of("p1", SHARDS)
    seen: list[str] = []
    with engine.connect() as a_conn, engine.connect() as b_conn:
        a_tx = a_conn.begin()
        append_events(a_conn, "t1", [event("A")], route_actors(a_conn, "t1", [event().actor]),
                      shards=SHARDS)
        with b_conn.begin():
            append_events(b_conn, "t1", [event("B")],
                          route_actors(b_conn, "t1", [event().actor]), shards=SHARDS)
        seen += _evaluate_round(engine, shard)  # A is still open: only B is visible
        a_tx.commit()
    seen += _evaluate_round(engine, shard)
    seqs = _seqs(engine)
    assert seqs["A"] < seqs["B"]  # A really took the lower sequence number
    assert seen == ["B", "A"]
    assert _count(engine, event_queue) == 0
    engine.dispose()


def _evaluate_round(engine: Engine, shard: int) -> list[str]:
    with engine.begin() as conn:
        batch = read_batch(conn, "t1", shard, limit=100)
        complete(conn, [q.seq for q in batch])
    return [q.event.id for q in batch]


def _seqs(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {r.event_id: r.seq for r in conn.execute(select(events.c.event_id, events.c.seq))}


def test_concurrent_writers_never_fail_with_locked_database(engine: Engine) -> None:
    """Receiver and worker write the same file: immediate transactions wait instead of failing."""
    _link(engine, "github:id=1")
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(30):
                _append(engine, [event(f"{prefix}{i}")])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(engine, events) == 90


def test_source_time_with_an_offset_is_stored_as_the_same_instant(engine: Engine) -> None:
    from datetime import UTC, datetime

    from rules.events import CloudEvent

    berlin = CloudEvent.model_validate({
        "id": "tz", "source": "/s", "type": "deploy.completed", "time": "2026-11-01T12:00:00+02:00",
        "data": {"actor": {"system": "github", "id": "1"}}})
    _append(engine, [berlin])
    with engine.connect() as conn:
        stored = conn.execute(select(events.c.time)).scalar_one()
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


# --- park and link never race (PostgreSQL, READ COMMITTED) ---


def _in_thread(target) -> threading.Thread:  # noqa: ANN001
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.mark.postgres
def test_link_committing_between_resolve_and_park_still_routes_the_event(postgres_url: str) -> None:
    """Ingest resolves (nobody), a link commits, then ingest parks: the event must not stay parked."""
    from store import create_store_engine, migrate

    engine = create_store_engine(postgres_url)
    migrate(engine)
    stranger = event("s-1", actor={"system": "github", "id": "777"})
    try:
        with engine.begin() as ingest:
            assert route_actors(ingest, "t1", [stranger.actor]) == [None]  # resolved: nobody
            linker = _in_thread(lambda: _link(engine, "github:id=777", "p7"))
            linker.join(timeout=1.5)
            # The link either committed already (then the append below must see it) or
            # waits on the identity key until this transaction ends (then it finds the park).
            append_events(ingest, "t1", [stranger], [None], shards=SHARDS)
        linker.join(timeout=10)
        assert not linker.is_alive()
        assert _count(engine, parked) == 0
        with engine.connect() as conn:
            queued = conn.execute(select(event_queue.c.person_id)).scalars().all()
        assert queued == ["p7"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_link_during_an_open_park_waits_for_it_and_releases_it(postgres_url: str) -> None:
    from store import create_store_engine, migrate

    engine = create_store_engine(postgres_url)
    migrate(engine)
    stranger = event("s-2", actor={"system": "github", "id": "778", "login": "newcomer"})
    released: list[int] = []
    try:
        with engine.begin() as ingest:
            routes = route_actors(ingest, "t1", [stranger.actor])
            append_events(ingest, "t1", [stranger], routes, shards=SHARDS)  # parked, not committed
            linker = _in_thread(lambda: released.append(_link(engine, "github:login=newcomer", "p8")))
            linker.join(timeout=1.0)
            assert linker.is_alive(), "the link must wait for the open park on its key"
        linker.join(timeout=10)
        assert released == [1]
        assert _count(engine, parked) == 0 and _count(engine, event_queue) == 1
    finally:
        engine.dispose()

"""Group commit: concurrent works share transactions, each caller gets its own result only
after its work committed, and one failing work never fails its neighbours."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Connection, Engine, func, insert, select

from store.group_commit import GroupCommit
from store.schema import persons


def _add(name: str, seen: list[int]):  # noqa: ANN202
    def work(conn: Connection) -> str:
        seen.append(threading.get_ident())
        conn.execute(insert(persons).values(tenant="t", person_id=name, created_at=func.now()))
        return name
    return work


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(persons)).scalar_one()


def test_concurrent_works_all_commit_and_each_caller_gets_its_result(engine: Engine) -> None:
    group = GroupCommit(engine)
    seen: list[int] = []
    transactions: list[int] = []

    from sqlalchemy import event

    event.listen(engine, "commit", lambda conn: transactions.append(1))
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda n: (n, group.run(_add(f"p{n}", seen)), _count(engine)), range(200)))
    assert all(result == f"p{n}" for n, result, _ in results)
    assert all(visible >= 1 for _, _, visible in results)  # committed before `run` returned
    assert _count(engine) == 200
    assert len(transactions) < 200  # some works shared a transaction


def test_a_failing_work_fails_alone(engine: Engine) -> None:
    group = GroupCommit(engine)
    gate = threading.Barrier(8)

    def run(n: int) -> str:
        gate.wait()
        name = "dup" if n in (3, 4) else f"p{n}"  # the second "dup" breaks the primary key
        return group.run(_add(name, []))

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(run, n) for n in range(8)]
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result())
        except Exception as exc:  # noqa: BLE001 - the duplicate's own error
            outcomes.append(type(exc).__name__)
    assert outcomes.count("IntegrityError") == 1
    assert sorted(o for o in outcomes if o != "IntegrityError") == sorted(["dup"] + [f"p{n}" for n in range(8) if n not in (3, 4)])
    assert _count(engine) == 7


def test_the_lead_is_handed_on(engine: Engine) -> None:
    """A steady stream never keeps one caller leading: every caller returns."""
    group = GroupCommit(engine, max_group=2)
    with ThreadPoolExecutor(6) as pool:
        assert len(list(pool.map(lambda n: group.run(_add(f"s{n}", [])), range(60)))) == 60
    assert _count(engine) == 60


"""Scale-out: two workers on one task queue, one killed in the middle of a batch.

Two `python -m worker` processes poll the same task queue of one dev server and share one
store (SQLite, PostgreSQL), so the evaluators' shards and the delivery workflows spread over
both. Signed webhooks arrive in waves; after the first wave is evaluated a crash point is
armed, and the next `evaluate_shard` round to reach it, on whichever worker runs it, ends that
process at once (`os._exit`, no clean-up: a SIGKILL as far as Temporal and the store can
tell). Both workers carry the same crash point and one marker file, and the first to reach it
deletes the marker: exactly one of the two dies, whatever the shard placement. The survivor
takes over the dead worker's evaluators (sticky timeout) and its interrupted attempt
(heartbeat timeout).

Every count is checked, not only "a grant exists": each person sends exactly RUNS events, so
a lost event leaves `all-green-runs` unearned and its progress below RUNS, a doubled one
earns `one-run-too-many` and lifts progress above RUNS; processed totals, grants, deliveries
per channel, feed rows and console lines are all counted against what was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.hub import Hub, green_run, wait_for, wait_settled
from tests.factories import CONFIG_TEXT

pytestmark = pytest.mark.temporal

PERSONS = 8  # spread over the tenant's 4 shards
RUNS = 4  # green runs per person: earns `all-green-runs` exactly, `one-run-too-many` only if doubled
FIRST_ACTOR = 880_000  # github:id of person scale-0; scale-<n> is FIRST_ACTOR + n
CRASHED = 70  # activities.faults exits with this status
CHANNELS = ("console", "feed")


def _config_text() -> str:
    people = "".join(f'      - {{person: scale-{n}, identities: ["github:id={FIRST_ACTOR + n}"]}}\n'
                     for n in range(PERSONS))
    achievements = "".join(
        f"      - key: {key}\n        version: 1\n        name: {name}\n"
        f"        rule: {{count: {count}, of: ci.pipeline.completed, where: {{outcome: success}}}}\n"
        "        deliver_to: [console, feed]\n"
        for key, name, count in (("all-green-runs", "All green runs", RUNS),
                                 ("one-run-too-many", "One run too many", RUNS + 1)))
    head, _, _ = CONFIG_TEXT.partition("    people:\n")
    return f"{head}    people:\n{people}    achievements:\n{achievements}"


def _delivery(person: int, run: int) -> bytes:
    """Person `person`'s green run number `run`: its own fact (run id), its own actor."""
    return green_run(run_id=9_000_000 + person * 100 + run, actor_id=FIRST_ACTOR + person,
                     login=f"scale-user-{person}")


@pytest.fixture
async def hub(tmp_path: Path, db_url: str, temporal_env) -> AsyncIterator[Hub]:  # noqa: ANN001
    hub = Hub(tmp_path, db_url, temporal_env.client.service_client.config.target_host,
              config_text=_config_text())
    hub.prepare()
    try:
        yield hub
    finally:
        hub.stop_workers()
        hub.stop()
    client = temporal_env.client  # end this test's evaluators; the dev server is shared
    query = f"TaskQueue = '{hub.task_queue}' AND ExecutionStatus = 'Running'"
    async for wf in client.list_workflows(query):
        await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test finished")


@pytest.mark.parametrize("point", ["evaluate:before-commit", "evaluate:after-commit"])
async def test_one_of_two_workers_killed_mid_batch_loses_and_doubles_nothing(
    hub: Hub, point: str, tmp_path: Path, temporal_env  # noqa: ANN001
) -> None:
    marker = tmp_path / "crash-once"  # absent: armed only once the first wave is evaluated
    for _ in range(2):
        hub.start_worker(ACCOLADE_CRASH_AT=point, ACCOLADE_CRASH_ONCE=str(marker))
    for index in range(2):
        hub.wait_worker_ready(index)
    hub.start_receiver()

    _send_wave(hub, run=0)
    wait_for(lambda: hub.count_processed() == PERSONS, timeout=15, what="the first wave evaluated")
    marker.write_text("armed")
    for run in range(1, RUNS):
        _send_wave(hub, run)
    wait_for(lambda: any(w.poll() is not None for w in hub.workers), timeout=30,
             what=f"a worker to reach {point}")
    assert not marker.exists()
    assert sorted(w.poll() or 0 for w in hub.workers) == [0, CRASHED], "exactly one worker died"

    try:
        hub.wait_delivered(grants_expected=PERSONS, channels=len(CHANNELS), timeout=30)
    except AssertionError:
        _assert_every_event_counted_once(hub)  # say which count is off, not only "timed out"
        raise
    await wait_settled(temporal_env.client, hub)  # no attempt left that could count twice
    assert [w.poll() for w in hub.workers].count(None) == 1, "the survivor is still running"
    _assert_every_event_counted_once(hub)


def _send_wave(hub: Hub, run: int) -> None:
    for person in range(PERSONS):
        answer = hub.post_webhook(_delivery(person, run), delivery=f"scale-{person}-{run}")
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text


def _assert_every_event_counted_once(hub: Hub) -> None:
    persons = [f"scale-{n}" for n in range(PERSONS)]
    assert hub.count_processed() == PERSONS * RUNS
    assert hub.progress_counts() == {(p, key): RUNS for p in persons
                                     for key in ("all-green-runs", "one-run-too-many")}
    grants = hub.grants()
    assert sorted((g.person_id, g.achievement) for g in grants) == [(p, "all-green-runs") for p in persons]
    assert all(g.evidence["count"] == RUNS for g in grants)
    assert sorted((d.grant_id, d.channel, d.status) for d in hub.deliveries()) == sorted(
        (g.grant_id, channel, "sent") for g in grants for channel in CHANNELS)
    assert hub.feed_count() == PERSONS
    assert len(hub.console_lines()) == PERSONS  # both workers' logs: one line per grant

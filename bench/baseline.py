"""The baseline for `bench/throughput.py`: one Temporal operation per event.

Each event is a signal-with-start into a per-person workflow `bench-baseline/<person>`. The
workflow applies the same rule with the same pure engine (`rules.engine.evaluate`), keeps the
person's progress in its own state, and stores the same grant (same `grant_id`, same evidence,
same `store.evaluation.insert_grants`) through an activity into a `grants` table of its own
SQLite file. This is the design DESIGN §1.2 argues against; the benchmark measures by how much.

Run the worker as its own process (the benchmark does this for you):

    .venv/bin/python bench/baseline.py --target 127.0.0.1:7233 --namespace accolade \
        --task-queue bench-baseline --store-url sqlite:////tmp/x/baseline.db --stats-file /tmp/x/s.json

The module runs nothing at import: the workflow sandbox re-imports it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import baseline_stats  # bench/, first on sys.path: run this file as a script

    from rules.definitions import AchievementSpec
    from rules.engine import EvalEvent, RuleContext, compile_rule, evaluate, state_from_json
    from rules.events import CloudEvent
    from rules.evidence import Evidence

__all__ = [
    "BASELINE_TENANT",
    "PersonInput",
    "PersonWorkflow",
    "StoreGrantInput",
    "StoreGrantActivities",
    "baseline_workflow_id",
]

BASELINE_TENANT = "bench"
WORKFLOW_NAME = "BenchPersonWorkflow"
SIGNAL_NAME = "event"
READY_LINE = "bench baseline worker ready"
_DECISION = {"link": "bench:id", "rule": "first-trusted-key"}  # as the ingest would decide


def baseline_workflow_id(person_id: str) -> str:
    return f"bench-baseline/{person_id}"


class ProgressState(BaseModel):
    count: int = 0
    first_events: list[str] = Field(default_factory=list)
    digest: str = ""
    granted: bool = False


class PersonInput(BaseModel):
    tenant: str
    person_id: str
    achievement: AchievementSpec
    progress: ProgressState = Field(default_factory=ProgressState)
    seen: int = 0  # events applied so far, carried across continue-as-new


class StoreGrantInput(BaseModel):
    tenant: str
    person_id: str
    grant_id: str
    achievement: AchievementSpec
    granted_at: datetime
    evidence: dict[str, Any]


@workflow.defn(name=WORKFLOW_NAME)
class PersonWorkflow:
    """One person's progress on the benchmark's rule; grants go to the store via an activity."""

    def __init__(self) -> None:
        self._inbox: list[dict[str, Any]] = []

    @workflow.signal(name=SIGNAL_NAME)
    def event(self, raw: dict[str, Any]) -> None:
        self._inbox.append(raw)

    @workflow.run
    async def run(self, input: PersonInput) -> None:
        rule = compile_rule(input.achievement)
        key = (input.person_id, rule.key)
        p = input.progress
        state = {key: state_from_json(None, count=p.count, first_events=p.first_events, digest=p.digest,
                                      granted=p.granted)} if p.count else {}
        seen = input.seen
        while True:
            await workflow.wait_condition(lambda: bool(self._inbox))
            raw_events, self._inbox = self._inbox, []
            items = []
            for raw in raw_events:
                seen += 1
                items.append(EvalEvent(seen, input.person_id, CloudEvent.model_validate(raw), _DECISION))
            evaluation = evaluate(state, items, [rule], context=RuleContext(tenant=input.tenant),
                                  now=workflow.now())
            state, grants = evaluation.state, evaluation.grants
            if not workflow.unsafe.is_replaying():
                baseline_stats.processed += len(items)
            for grant in grants:
                await workflow.execute_activity(
                    "bench_store_grant",
                    StoreGrantInput(tenant=input.tenant, person_id=grant.person_id,
                                    grant_id=grant.grant_id, achievement=input.achievement,
                                    granted_at=grant.granted_at, evidence=grant.evidence.to_json()),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
                )
            if workflow.info().is_continue_as_new_suggested() and not self._inbox:
                await workflow.wait_condition(workflow.all_handlers_finished)
                now = state.get(key, state_from_json(None))
                workflow.continue_as_new(input.model_copy(update={
                    "progress": ProgressState(count=now.count, first_events=list(now.first_events),
                                              digest=now.digest, granted=now.granted),
                    "seen": seen,
                }))


class StoreGrantActivities:
    """Stores a grant exactly as the evaluator does (`insert_grants`), in its own transaction."""

    def __init__(self, store_url: str) -> None:
        from store import create_store_engine  # not at module level: the sandbox re-imports us

        self.engine = create_store_engine(store_url)

    @activity.defn(name="bench_store_grant")
    def store_grant(self, input: StoreGrantInput) -> int:
        from rules.engine import Grant
        from store.evaluation import insert_grants

        grant = Grant(input.grant_id, input.person_id, compile_rule(input.achievement),
                      input.granted_at, Evidence.from_json(input.evidence))
        with self.engine.begin() as conn:
            return insert_grants(conn, input.tenant, 0, [grant], {})


async def _write_stats(path: str) -> None:
    import asyncio
    import json
    import os

    while True:
        with open(f"{path}.tmp", "w") as out:
            json.dump({"processed": baseline_stats.processed}, out)
        os.replace(f"{path}.tmp", path)
        await asyncio.sleep(0.2)


async def _run_worker(target: str, namespace: str, task_queue: str, store_url: str,
                      max_cached: int, stats_file: str) -> None:
    import asyncio
    import signal
    from concurrent.futures import ThreadPoolExecutor

    import baseline  # this file under its module name, not __main__: the sandbox re-imports it
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    client = await Client.connect(target, namespace=namespace, data_converter=pydantic_data_converter)
    activities = baseline.StoreGrantActivities(store_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stats = asyncio.create_task(_write_stats(stats_file))
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity") as executor:
        worker = Worker(client, task_queue=task_queue, workflows=[baseline.PersonWorkflow],
                        activities=[activities.store_grant], activity_executor=executor,
                        max_concurrent_activities=8, max_cached_workflows=max_cached)
        async with worker:
            print(READY_LINE, flush=True)
            await stop.wait()
    stats.cancel()
    activities.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    import argparse
    import asyncio
    import os
    import sys

    parser = argparse.ArgumentParser(prog="bench-baseline-worker")
    parser.add_argument("--target", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--max-cached-workflows", type=int, default=10_000)
    parser.add_argument("--stats-file", required=True, help="where to write the processed-events count")
    args = parser.parse_args(argv)
    status = 0
    try:
        asyncio.run(_run_worker(args.target, args.namespace, args.task_queue, args.store_url,
                                args.max_cached_workflows, args.stats_file))
    except Exception as exc:  # noqa: BLE001 - report, then exit without interpreter teardown
        print(f"bench baseline worker failed: {exc!r}", file=sys.stderr, flush=True)
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # sdk-python issue 300: teardown after using the client can crash


if __name__ == "__main__":
    main()

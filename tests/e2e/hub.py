"""A real hub for end-to-end tests: worker and receiver as subprocesses on the test dev server.

Each hub has its own config file, database, uuid task queue and free port; nothing touches
`./.accolade/` or the fixed ports.

Evaluators run with a one-hour wake timer (`temporal.evaluator_wake`), so every test that
waits a few seconds for a grant proves the receiver's notification woke the evaluator: a
broken notifier fails them instead of only making them slower.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus

from config import load_config
from store import create_store_engine
from store.schema import deliveries, feed, grants, progress
from tests.factories import CONFIG_TEXT, ENV, FIXTURES, signed_headers

GREEN_RUN = (FIXTURES / "workflow_run" / "01-completed.json").read_bytes()
def _another_run(path: Path) -> bytes:
    """A different green run (another run id): 02-completed.json is the SAME run as
    01-completed.json (same id, attempt and conclusion), so it is the same fact and dedupes."""
    body = json.loads(path.read_bytes())
    body["workflow_run"]["id"] += 1
    return json.dumps(body).encode()


OTHER_GREEN_RUN = _another_run(FIXTURES / "workflow_run" / "02-completed.json")


def green_run(run_id: int, actor_id: int, login: str) -> bytes:
    """01-completed.json as another fact (`run_id`) by another actor: a new event per call."""
    body = json.loads(GREEN_RUN)
    body["workflow_run"]["id"] = run_id
    body["workflow_run"]["actor"].update(id=actor_id, login=login)
    return json.dumps(body).encode()
EVALUATOR_WAKE = "1h"  # longer than any test: only a notification wakes an evaluator in time
NOTIFIED_WITHIN = 5.0  # seconds from an accepted event to its evaluation; the timer is an hour

# A second rule on the same events with a count of 2: one event evaluated twice would earn it.
TWO_GREEN_RULE = """\
      - key: two-green-pipelines
        version: 1
        name: Two green pipelines
        rule: {count: 2, of: ci.pipeline.completed, where: {outcome: success}}
        deliver_to: [console, feed]
"""


def with_two_green_rule(text: str = CONFIG_TEXT) -> str:
    """`text` with TWO_GREEN_RULE after the first tenant's achievements."""
    anchor = "        deliver_to: [console, feed]\n"
    assert anchor in text
    return text.replace(anchor, anchor + TWO_GREEN_RULE, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    def __init__(self, tmp: Path, db_url: str, temporal_target: str, config_text: str = CONFIG_TEXT,
                 *, temporal_extra: str = "") -> None:
        self.tmp = tmp
        self.port = free_port()
        self.metrics_port = free_port()  # never the default 9464: hubs and benches run side by side
        self.task_queue = f"accolade-test-{uuid.uuid4().hex[:8]}"
        self.tenant = f"demo-{uuid.uuid4().hex[:8]}"
        text = config_text.replace("sqlite:///unused.db", db_url).replace(
            "  - id: demo\n", f"  - id: {self.tenant}\n")
        header = (f"api: {{listen: '127.0.0.1:{self.port}'}}\n"
                  f"metrics: {{worker_listen: '127.0.0.1:{self.metrics_port}'}}\n"
                  f"temporal: {{address: '{temporal_target}', namespace: default, "
                  f"task_queue: {self.task_queue}, evaluator_wake: {EVALUATOR_WAKE}{temporal_extra}}}\n")
        self.config_path = tmp / "accolade.yaml"
        self.config_path.write_text(header + text)
        self.config = load_config(self.config_path, env=ENV)
        self.engine = create_store_engine(db_url)
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker: subprocess.Popen[bytes] | None = None
        self.receiver: subprocess.Popen[bytes] | None = None
        self.worker_logs: list[Path] = []
        self.workers: list[subprocess.Popen[bytes]] = []  # every worker started, in order

    # --- processes ---

    def prepare(self) -> None:
        from cli.up import prepare_store

        assert prepare_store(self.config) == []

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker-{len(self.worker_logs)}.log"
        self.worker_logs.append(log)
        with log.open("wb") as sink:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "worker", "--config", str(self.config_path)],
                env={**_own_env(), **env}, stdout=sink, stderr=subprocess.STDOUT,
                cwd=self.tmp,
            )
        self.workers.append(self.worker)
        return self.worker

    def wait_worker_ready(self, index: int, timeout: float = 30) -> None:
        """Until worker `index` (start order) polls its task queue and has woken the evaluators."""
        process, log = self.workers[index], self.worker_logs[index]

        def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            return "worker ready" in log.read_text(errors="replace")
        wait_for(ready, timeout=timeout, what=f"worker {index} ready")

    def stop_workers(self) -> None:
        """Stop every worker still running (`stop` stops only the latest one)."""
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def start_receiver(self) -> None:
        with (self.tmp / "receiver.log").open("wb") as sink:
            self.receiver = subprocess.Popen(
                [sys.executable, "-m", "api.serve", "--config", str(self.config_path)],
                env=_own_env(), stdout=sink, stderr=subprocess.STDOUT, cwd=self.tmp,
            )
        wait_for(lambda: self._healthy(), timeout=30, what="receiver /healthz")

    def _healthy(self) -> bool:
        assert self.receiver is not None and self.receiver.poll() is None, self.log("receiver.log")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        for process in (self.receiver, self.worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.engine.dispose()

    def log(self, name: str) -> str:
        path = self.tmp / name
        return path.read_text(errors="replace") if path.exists() else ""

    def console_lines(self) -> list[str]:
        text = "".join(p.read_text(errors="replace") for p in self.worker_logs if p.exists())
        return [line for line in text.splitlines() if line.startswith("[accolade] ")]

    # --- traffic ---

    def post_webhook(self, body: bytes = GREEN_RUN, delivery: str = "d-1",
                     event: str = "workflow_run") -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/github", content=body,
                          headers=signed_headers(body, event, delivery), timeout=10)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers={"authorization": "Bearer test-key"}, timeout=10)

    # --- store ---

    def count(self, table: Any, *where: Any) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()

    def grants(self) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(grants)).all()

    def deliveries(self) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(deliveries).order_by(deliveries.c.channel)).all()

    def progress_counts(self) -> dict[tuple[str, str], int]:
        """(person, achievement) → how many events counted toward it."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(progress.c.person_id, progress.c.achievement, progress.c.count))
            return {(r.person_id, r.achievement): r.count for r in rows}

    def count_processed(self) -> int:
        from store.schema import shard_state

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(shard_state.c.processed), 0))).scalar_one())

    def feed_count(self) -> int:
        return self.count(feed)

    def wait_delivered(self, grants_expected: int = 1, timeout: float = 60, channels: int = 2,
                       final: tuple[str, ...] = ("sent",)) -> None:
        def done() -> bool:
            rows = self.deliveries()
            return (len(self.grants()) >= grants_expected and len(rows) == channels * grants_expected
                    and all(r.status in final for r in rows))
        wait_for(done, timeout=timeout, what=f"{channels} deliveries per grant in {final}")


async def wait_settled(client: Client, hub: Hub, *, timeout: float = 30) -> None:
    """Until nothing is in flight: every grant's delivery closed, every evaluator idle.

    Stronger than sleeping "long enough" before counting: once this holds, no retried or
    abandoned attempt is left that could still count or deliver something twice.
    """
    tenant = hub.config.tenants[0]
    ids = [f"evaluate/{tenant.id}/{s}" for s in range(tenant.shards)]
    ids += [f"deliver/{g.grant_id}" for g in hub.grants()]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [i for i in ids if await _busy(client, i)]
        if not busy:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"still busy after {timeout}s: {busy}")


async def _busy(client: Client, workflow_id: str) -> bool:
    desc = await client.get_workflow_handle(workflow_id).describe()
    if workflow_id.startswith("deliver/"):
        return desc.status != WorkflowExecutionStatus.COMPLETED
    raw = desc.raw_description
    in_flight = bool(raw.pending_activities) or raw.HasField("pending_workflow_task")
    return desc.status == WorkflowExecutionStatus.RUNNING and in_flight


def _own_env() -> dict[str, str]:
    """The test config's variables, without the caller's ACCOLADE_* (a leaked crash point)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ACCOLADE_")}, **ENV}


def wait_for(check: Any, *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")

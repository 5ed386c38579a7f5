"""`accolade up` keeps serving when a process dies: a real hub on free ports in a temp dir.

A thread posts batches to `POST /v1/events` while the worker is SIGKILLed. The receiver must
answer 2xx to every batch, the supervisor must restart the worker, and once it is back every
accepted event must be evaluated exactly once: per-person progress equals what was accepted,
the shard counters equal the total, and a count-2 rule is earned by exactly the persons with
two or more events (`solo`, with one event posted while the worker was down, must not earn
it). Then the dev server is SIGKILLed; events posted meanwhile are evaluated once it is back,
without the evaluators' one-hour timer. SIGTERM still stops everything with exit 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from config import load_config
from store import create_store_engine
from store.schema import grants, progress, shard_state
from tests.e2e.hub import free_port, wait_for
from tests.factories import API_KEY, ENV
from tests.metrics.scrape import parse, total

pytestmark = pytest.mark.temporal

LOADED = [f"p-{i}" for i in range(4)]  # persons the load thread posts for, round robin
ACTOR_IDS = {person: str(9000 + i) for i, person in enumerate([*LOADED, "solo", "late"])}
BATCH = 20


def _config_text(tmp_path: Path, api_port: int) -> str:
    people = "\n".join(f'      - {{person: {p}, identities: ["github:id={i}"]}}' for p, i in ACTOR_IDS.items())
    return f"""\
store: {{url: "sqlite:///{tmp_path / 'hub.db'}"}}
api: {{listen: '127.0.0.1:{api_port}'}}
metrics: {{worker_listen: '127.0.0.1:{free_port()}'}}
temporal: {{port: {free_port()}, ui_port: {free_port()}, evaluator_wake: 1h}}
tenants:
  - id: demo
    shards: 4
    api_keys: ["${{TEST_API_KEY}}"]
    people:
{people}
    achievements:
      - key: two-tasks
        version: 1
        name: Two tasks
        rule: {{count: 2, of: task.completed}}
"""


def _event(event_id: str, person: str) -> dict:
    return {"id": event_id, "source": "/load", "type": "task.completed", "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": ACTOR_IDS[person]}}}


class Load(threading.Thread):
    """Posts a batch every ~50 ms until stopped; counts accepted events per person."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.accepted: Counter[str] = Counter()
        self.failures: list[str] = []
        self.batches = 0
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            n = 0
            while not self.halt.is_set():
                batch = [_event(f"load-{n + i}", LOADED[(n + i) % len(LOADED)]) for i in range(BATCH)]
                n += BATCH
                self._post(http, batch)
                time.sleep(0.05)

    def _post(self, http: httpx.Client, batch: list[dict]) -> None:
        try:
            answer = http.post(f"{self.url}/v1/events", json=batch,
                               headers={"authorization": f"Bearer {API_KEY}"})
        except httpx.TransportError as exc:
            self.failures.append(f"batch {self.batches}: {exc!r}")
            return
        self.batches += 1
        if not answer.is_success:
            self.failures.append(f"batch {self.batches}: {answer.status_code} {answer.text[:200]}")
            return
        for event, result in zip(batch, answer.json()["results"], strict=True):
            if result["status"] == "accepted":
                self.accepted[_person_of(event)] += 1


def _person_of(event: dict) -> str:
    return next(p for p, i in ACTOR_IDS.items() if i == event["data"]["actor"]["id"])


def _post(url: str, events: list[dict]) -> None:
    answer = httpx.post(f"{url}/v1/events", json=events, headers={"authorization": f"Bearer {API_KEY}"},
                        timeout=30)
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.text


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    api_port = free_port()
    config = tmp_path / "accolade.yaml"
    config.write_text(_config_text(tmp_path, api_port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCOLADE_")} | ENV
    with (tmp_path / "up.log").open("wb") as sink:
        # Its own process group, as a shell gives a foreground job: Ctrl-C reaches up and its
        # children at once, and cleanup can end exactly this group.
        process = subprocess.Popen([sys.executable, "-m", "cli", "up", "--config", str(config)],
                                   cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process, f"http://127.0.0.1:{api_port}"
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """After a failed test: stop our `accolade up`, then anything left in its group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the group this test created, nothing else


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _child(pid: int, marker: str) -> int:
    [found] = [c for c in _children(pid) if marker in _cmdline(c)]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _log(tmp_path: Path) -> str:
    return (tmp_path / "up.log").read_text(errors="replace")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


class Store:
    def __init__(self, tmp_path: Path) -> None:
        self.engine = create_store_engine(f"sqlite:///{tmp_path / 'hub.db'}")

    def processed(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(shard_state.c.processed), 0))).scalar_one())

    def progress(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {person: count for person, count in conn.execute(select(progress.c.person_id, progress.c.count))}

    def granted(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(grants.c.person_id)).scalars())


def test_up_restarts_killed_children_and_evaluates_every_event_once(
    up: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    process, url = up
    wait_for(lambda: _healthy(url) or process.poll() is not None, timeout=90, what="the hub up")
    assert process.poll() is None, _log(tmp_path)
    wait_for(lambda: "worker ready" in _log(tmp_path), timeout=30, what="the worker ready")
    assert (tmp_path / ".accolade").stat().st_mode & 0o777 == 0o700
    store = Store(tmp_path)
    try:
        load = _kill_the_worker_under_load(process.pid, url, tmp_path)
        expected = {**load.accepted, "solo": 1}
        wait_for(lambda: store.processed() == sum(expected.values()), timeout=30, what="every event evaluated")
        assert store.progress() == expected  # each accepted event counted exactly once
        assert store.granted() == {p for p in LOADED if load.accepted[p] >= 2}
        _kill_the_dev_server(process.pid, url, tmp_path)
        wait_for(lambda: "late" in store.granted(), timeout=30, what="the late person's grant")
        assert store.progress()["late"] == 2 and store.processed() == sum(expected.values()) + 2
        wait_for(lambda: _worker_metrics_show(tmp_path, store.processed()), timeout=30,
                 what="the restarted worker's /metrics")
    finally:
        store.engine.dispose()
    _stop_cleanly(process, tmp_path)


def _worker_metrics_show(tmp_path: Path, processed: int) -> bool:
    """The worker `up` restarted serves /metrics again: the store's lag and Temporal's series."""
    listen = load_config(tmp_path / "accolade.yaml", env=ENV).metrics.worker_listen
    try:
        samples = parse(httpx.get(f"http://{listen}/metrics", timeout=5).text)
    except httpx.TransportError:
        return False
    return (total(samples, "accolade_shard_events_processed_total", tenant="demo") == processed
            and total(samples, "temporal_worker_start_total") >= 1)


def _kill_the_worker_under_load(up_pid: int, url: str, tmp_path: Path) -> Load:
    load = Load(url)
    load.start()
    time.sleep(1.5)  # the worker is busy evaluating
    worker = _child(up_pid, "-m worker")
    os.kill(worker, signal.SIGKILL)
    _post(url, [_event("solo-1", "solo")])  # accepted while no worker runs
    wait_for(lambda: _log(tmp_path).count("worker ready") == 2, timeout=30, what="the worker restarted")
    time.sleep(1)  # load on the restarted worker too
    load.halt.set()
    load.join(timeout=30)
    log = _log(tmp_path)
    assert "accolade up: worker exited (killed by SIGKILL)" in log and "restarting worker" in log
    assert load.failures == [], "the receiver did not answer every batch with 2xx"
    assert load.batches >= 20 and len(load.accepted) == len(LOADED)
    return load


def _kill_the_dev_server(up_pid: int, url: str, tmp_path: Path) -> None:
    os.kill(_child(up_pid, "start-dev"), signal.SIGKILL)
    _post(url, [_event("late-1", "late"), _event("late-2", "late")])  # likely while it is down
    wait_for(lambda: "restarting temporal dev server" in _log(tmp_path), timeout=10, what="dev server restart")
    assert "temporal dev server exited (killed by SIGKILL)" in _log(tmp_path)


def _stop_cleanly(process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    children = _children(process.pid)
    assert len(children) == 3, [_cmdline(c) for c in children]
    record = json.loads((tmp_path / ".accolade" / "up.json").read_text())
    assert record["pid"] == process.pid
    before = _log(tmp_path)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: up and every child get SIGINT together
    assert process.wait(timeout=30) == 0, _log(tmp_path)
    assert not any(_cmdline(c) for c in children)
    assert not (tmp_path / ".accolade" / "up.json").exists()
    after = _log(tmp_path)[len(before):]
    assert "exited (" not in after and "restarting" not in after, "children that stopped were restarted"
    assert "giving up" not in after

"""Sustained throughput of the hub's ingest paths to stored grants, against a signal-with-start baseline.

    .venv/bin/python bench/throughput.py [--seconds 60] [--rate N] [--persons 10000]
        [--only accolade,webhook,baseline] [--store sqlite|postgres] [--workers N] [--rss]

One run, everything in a fresh temporary directory on free ports: the Temporal dev server as
`accolade up` starts it (file database in WAL mode), and the store: SQLite files in WAL mode
by default, fresh databases on the local PostgreSQL server with `--store postgres`. Phases:

1. accolade: the real worker(s) and receiver (`python -m worker`, `python -m api.serve`) as
   subprocesses; `--workers N` starts N workers on the one task queue. A load generator,
   pinned to one core, POSTs batches of CloudEvents to `/v1/events` at a fixed offered rate
   for `--seconds`; then the benchmark waits until every accepted event is evaluated and
   every grant is stored. Event→grant latency per grant is `grants.created_at` minus the time
   the request carrying the completing event was sent (`evidence.completed_by` names it).
2. webhook: the same hub, `POST /webhooks/github` with one signed real GitHub `workflow_run`
   payload per request, a new fact and one of the linked persons each time
   (`bench/github_load.py`): first at a fixed offered rate (`--webhook-rate`), then as fast
   as `--saturation-concurrency` requests in flight allow (deliveries/s at saturation).
3. baseline: the same events as phase 1, the same offered rate and duration, but one
   signal-with-start per event into a per-person workflow (`bench/baseline.py`) that applies
   the same rule with the same engine and stores the same grant in a store of its own.

`--rss` instead runs the batch-API load twice, on a store holding only the load's persons and
then on one seeded with `--rss-events` stored events and `--rss-persons` persons by a direct
bulk insert (`bench/seed.py`), with fresh worker and receiver processes each time, and
compares their peak resident memory.

Every phase reports CPU seconds and CPU-ms per 1,000 events per process against issue 8's
budget (`bench/meters.py`). See bench/README.md for how to read the output. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import baseline  # bench/baseline.py (this file's folder is first on sys.path)
import httpx
from github_load import GitHubRuns, run_index
from meters import CpuMeter, mb, peak_rss
from seed import link_persons, person_id, seed_history
from stores import PG_ADMIN_URL, BenchStores, StoreProbe
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.temporal_client import connect
from cli.up import SEARCH_ATTRIBUTES, prepare_store, temporal_binary
from config import Config, load_config
from store import create_store_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
TENANT = "bench"
ACHIEVEMENT = "five-tasks"
WEBHOOK_ACHIEVEMENT = "five-green-runs"
EVENT_TYPE = "bench.task.completed"
SOURCE = "/bench/loadgen"
CONNECTOR = "github"
TARGET = 5  # both rules: count 5
API_KEY_ENV = "ACCOLADE_BENCH_API_KEY"
SECRET_ENV = "ACCOLADE_BENCH_GITHUB_SECRET"
BASELINE_STATS = "baseline-stats.json"
PHASES = ("accolade", "webhook", "baseline")
# First run ids of the two webhook loads: every delivery of the run is a fact of its own.
RATE_RUN_IDS, SATURATION_RUN_IDS = 1_000_000_000, 2_000_000_000
CONFIG_TEMPLATE = """\
# Written by bench/throughput.py for one run; persons are linked in bulk, not listed here.
store: {{url: "{store_url}"}}
temporal: {{address: embedded, namespace: accolade, task_queue: {queue}, port: {port}, ui_port: {ui_port}}}
api: {{listen: "127.0.0.1:{api_port}"}}
metrics: {{worker_listen: "${{BENCH_WORKER_METRICS}}"}}  # one free port per worker (--workers)
tenants:
  - id: {tenant}
    shards: {shards}
    api_keys: ["${{{key_env}}}"]
    connectors:
      - {{id: {connector}, vendor: github, secret: "${{{secret_env}}}"}}
    achievements:
      - key: {achievement}
        version: 1
        name: Five tasks
        rule: {{count: {target}, of: {event_type}}}
        deliver_to: []
      - key: {webhook_achievement}
        version: 1
        name: Five green runs
        rule: {{count: {target}, of: ci.pipeline.completed, where: {{outcome: success}}}}
        deliver_to: []
"""


# --------------------------------------------------------------------------- processes


class Children:
    """Subprocesses in our process group (Ctrl-C reaches them too); stopped newest first."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with self.log_path(name).open("wb") as sink:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    env=env, cwd=self.logs)
        self.procs[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def log_text(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = "\n".join(self.log_text(name).splitlines()[-15:])
                raise RuntimeError(f"{name} exited with {proc.returncode}; last log lines:\n{tail}")

    def stop(self, name: str, timeout: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], children: Children, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check_alive()
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# --------------------------------------------------------------------------- workload


def schedule(n_events: int, persons: int, *, window: int, seed: int = 1) -> list[int]:
    """Which person each event belongs to, so that grants complete evenly over the whole run.

    Earner g gets its TARGET counted events spread over `window` consecutive events starting
    at an evenly spaced position; the remaining events go to random persons (filler, which
    still updates progress). Earners: min(persons, n_events // TARGET).
    """
    rng = random.Random(seed)
    earners = min(persons, n_events // TARGET)
    span = max(n_events - window, 1)
    keyed: list[tuple[float, int]] = []
    for g in range(earners):
        start = g * span / earners
        keyed += [(start + j * window / (TARGET - 1), g) for j in range(TARGET)]
    keyed += [(rng.random() * n_events, rng.randrange(persons)) for _ in range(n_events - len(keyed))]
    keyed.sort()
    return [p for _, p in keyed]


def event(k: int, person: int, when: str, source: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"e{k}", "source": source, "type": EVENT_TYPE, "time": when,
            "data": {"actor": {"system": "bench", "id": str(person)}}}


def event_index(completed_by: str) -> int:
    """`/bench/loadgen/accolade#e123` → 123."""
    return int(completed_by.rsplit("#e", 1)[1])


def phase_order(n_events: int, persons: range, rate: float, burst_seconds: float) -> list[int]:
    """`schedule` over the persons numbered `persons` (phases that must not share earners differ)."""
    window = max(TARGET, int(rate * burst_seconds))
    return [persons.start + p for p in schedule(n_events, len(persons), window=window)]


@dataclass
class Load:
    """One phase's traffic: requests of `per_request` events to `path`, and how to read answers."""

    name: str  # short, for the summary
    title: str
    path: str
    achievement: str  # the rule these events complete
    order: list[int]  # the person number of each event, in sending order
    per_request: int
    rate: float | None  # offered events/s; None: as fast as `concurrency` requests in flight allow
    seconds: float
    concurrency: int
    build: Callable[[int], tuple[bytes, dict[str, str]]]  # request number → body, headers
    read: Callable[[dict[str, Any]], tuple[list[int], list[str]]]  # answer → accepted positions, problems
    index_of: Callable[[str], int]  # a grant's `completed_by` → the event's number
    unit: str = "ev/s"


def batch_load(args: argparse.Namespace, name: str, title: str, persons: range) -> Load:
    """Batches of `--batch` CloudEvents to `POST /v1/events` at `--rate`, for `--seconds`."""
    n_events = (int(args.rate * args.seconds) // args.batch) * args.batch
    order = phase_order(n_events, persons, args.rate, args.burst_seconds)
    source = f"{SOURCE}/{name}"  # its own ids per phase: never a duplicate of another phase's
    headers = {"authorization": f"Bearer {args.api_key}",
               "content-type": "application/cloudevents-batch+json"}

    def build(i: int) -> tuple[bytes, dict[str, str]]:
        when = datetime.now(UTC).isoformat()
        first = i * args.batch
        body = [event(k, order[k], when, source) for k in range(first, first + args.batch)]
        return json.dumps(body).encode(), headers

    def read(answer: dict[str, Any]) -> tuple[list[int], list[str]]:
        items = answer["results"]
        return ([item["index"] for item in items if item["status"] == "accepted"],
                [f"rejected: {item.get('reason')}" for item in items if item["status"] == "rejected"])

    return Load(name, title, "/v1/events", ACHIEVEMENT, order, args.batch, args.rate, args.seconds,
                args.http_concurrency, build, read, event_index)


def webhook_load(args: argparse.Namespace, name: str, title: str, persons: range, *, rate: float | None,
                 concurrency: int, first_run_id: int) -> Load:
    """One signed `workflow_run` delivery per request to `POST /webhooks/github`.

    At saturation the rate is not known in advance. The persons' events are scheduled as for
    `--webhook-rate`, so grants complete early whatever rate it reaches, followed by events of
    random persons (new facts that update progress) up to `--saturation-cap` deliveries/s.
    """
    scheduled = int(args.webhook_rate * args.webhook_seconds)
    order = phase_order(scheduled, persons, args.webhook_rate, args.burst_seconds)
    if rate is None:
        rng = random.Random(2)
        filler = int(args.saturation_cap * args.webhook_seconds) - scheduled
        order += [persons.start + rng.randrange(len(persons)) for _ in range(max(filler, 0))]
    runs = GitHubRuns(args.github_secret)

    def build(i: int) -> tuple[bytes, dict[str, str]]:
        body = runs.body(first_run_id + i, order[i])
        return body, runs.headers(body, f"bench-{uuid.uuid4()}")

    def read(answer: dict[str, Any]) -> tuple[list[int], list[str]]:
        if answer.get("accepted") == 1:
            return [0], []
        return [], [f"not accepted: {answer}"]  # a duplicate would measure the wrong path

    return Load(name, title, f"/webhooks/{CONNECTOR}", WEBHOOK_ACHIEVEMENT, order, 1, rate,
                args.webhook_seconds, concurrency, build, read, lambda c: run_index(c, first_run_id),
                unit="deliveries/s")


# --------------------------------------------------------------------------- measuring


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 1000:,.0f} ms"


def rate_of(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def fmt_rate(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f} ev/s"


def fmt_unit(value: float, unit: str) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f} {unit}"


@dataclass
class Sample:
    t: float  # seconds since the first send
    queue: int
    processed: int
    grants: int


class Monitor:
    """Samples backlog, evaluated events and grants; prints a progress line every `every` seconds."""

    def __init__(self, read: Callable[[], tuple[int, int, int]], t0: float, *,
                 describe: Callable[[Sample], str], interval: float = 0.25, every: float = 10.0) -> None:
        self.read = read  # () -> (queue, processed, grants)
        self.t0 = t0
        self.describe = describe
        self.interval = interval
        self.every = every
        self.samples: list[Sample] = []
        self._next_print = every
        self._task: asyncio.Task[None] | None = None

    def _read(self) -> Sample:
        t = time.time() - self.t0
        return Sample(t, *self.read())

    async def sample(self) -> Sample:
        s = await asyncio.to_thread(self._read)
        self.samples.append(s)
        if s.t >= self._next_print:
            print(f"    {s.t:5.0f} s  {self.describe(s)}", flush=True)
            self._next_print += self.every
        return s

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def at(self, t: float) -> Sample | None:
        return next((s for s in reversed(self.samples) if s.t <= t), None)

    async def drain(self, done: Callable[[Sample], bool], timeout: float,
                    children: Children) -> tuple[float | None, Sample]:
        """(seconds since t0 when `done` first held or None after `timeout`, the last sample)."""
        await self.stop()  # sample from here on, more often
        deadline = time.monotonic() + timeout
        while True:
            children.check_alive()
            s = await self.sample()
            if done(s):
                return s.t, s
            if time.monotonic() >= deadline:
                return None, s
            await asyncio.sleep(0.1)


@dataclass
class PhaseResult:
    name: str
    offered_rate: float  # NaN: as fast as the requests in flight allow (saturation)
    seconds: float
    offered: int
    unit: str = "ev/s"
    concurrency: int = 0
    sent: int = 0
    accepted: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    send_window: float = 0.0  # first send → last acknowledgement
    max_lag: float = 0.0  # how far the generator fell behind its schedule
    ack_latencies: list[float] = field(default_factory=list)
    expected_grants: int = 0
    latencies: list[float] = field(default_factory=list)  # stored grants
    latency_by_send: list[tuple[float, float]] = field(default_factory=list)  # (sent, latency), wall clock
    pending: list[float] = field(default_factory=list)  # expected, not stored: lower bounds
    drained_at: float | None = None  # seconds after the first send
    end_t: float = 0.0  # when measuring stopped (drained, or the drain timeout)
    processed: int | None = None  # events evaluated by then (accolade only)
    processed_in_window: int | None = None  # events evaluated while the load ran
    cpu: list[str] = field(default_factory=list)
    cpu_total_ms: float = math.nan  # CPU-ms per 1,000 events, every process together
    peak_rss: dict[str, int | None] = field(default_factory=dict)  # process → bytes (RSS runs)
    notes: list[str] = field(default_factory=list)

    @property
    def saturating(self) -> bool:
        return math.isnan(self.offered_rate)

    @property
    def grants(self) -> int:
        return len(self.latencies)

    @property
    def accepted_rate(self) -> float:
        return rate_of(self.accepted, self.send_window)

    @property
    def end_to_end_rate(self) -> float:
        """Events per second from the first send until their effects (grants) are all stored.

        Drained: accepted / time to drain. Not drained: events evaluated so far / time so far,
        the rate it sustains while saturated.
        """
        if self.drained_at is not None:
            return rate_of(self.accepted, self.drained_at)
        if self.processed is not None:
            return rate_of(self.processed, self.end_t)
        return math.nan

    def latency(self, q: float) -> str:
        """Percentile over stored and pending grants; '≥' when pending grants make it a lower bound."""
        values = sorted([(v, False) for v in self.latencies] + [(v, True) for v in self.pending])
        if not values:
            return "n/a"
        rank = min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))
        value, _ = values[rank]
        bound = any(lb <= value for lb in self.pending)
        return ("≥ " if bound else "") + ms(value)


def note_error(result: PhaseResult, text: str) -> None:
    result.errors += 1
    if len(result.error_examples) < 3:
        result.error_examples.append(text[:200])


def completing_events(order: Sequence[int], delivered: Sequence[bool]) -> dict[int, int]:
    """Person → index of its TARGET-th delivered event (the one expected to complete the rule)."""
    counts: Counter[int] = Counter()
    out: dict[int, int] = {}
    for k, (person, ok) in enumerate(zip(order, delivered, strict=False)):
        if ok:
            counts[person] += 1
            if counts[person] == TARGET:
                out[person] = k
    return out


def collect_grants(result: PhaseResult, probe: StoreProbe, achievement: str, persons: set[int],
                   expected: dict[int, int], index_of: Callable[[str], int],
                   sent_time: Callable[[int], float], end_wall: float) -> None:
    """Latency of this phase's grants (its persons, its rule); expected ones not stored are pending."""
    ours = {person_id(p) for p in persons}
    stored: set[str] = set()
    for person, evidence, created in probe.grants(achievement):
        if person in ours:
            stored.add(person)
            sent = sent_time(index_of(evidence["completed_by"]))
            result.latencies.append(created - sent)
            result.latency_by_send.append((sent, created - sent))
    result.expected_grants = len(expected)
    result.pending = [end_wall - sent_time(k) for p, k in expected.items() if person_id(p) not in stored]


# --------------------------------------------------------------------------- the hub's phases


@dataclass
class Hub:
    """The running hub of this run: its config, and the accolade processes it has started."""

    config: Config
    config_path: Path
    env: dict[str, str]
    url: str
    workers: int
    stores: BenchStores
    baseline_store: str | None = None
    baseline_queue: str = ""

    def worker_names(self) -> list[str]:
        return ["worker"] if self.workers == 1 else [f"worker-{n}" for n in range(1, self.workers + 1)]

    def start(self, children: Children) -> None:
        """The worker(s) and the receiver, fresh processes; returns once all are ready."""
        py = sys.executable
        for name in self.worker_names():
            env = {**self.env, "BENCH_WORKER_METRICS": f"127.0.0.1:{free_port()}"}
            children.start(name, [py, "-m", "worker", "--config", str(self.config_path)], env)
        children.start("receiver", [py, "-m", "api.serve", "--config", str(self.config_path)], self.env)
        wait_until(lambda: healthy(self.url), children, timeout=60, what="the receiver")
        for name in self.worker_names():
            wait_until(lambda n=name: "worker ready" in children.log_text(n), children, timeout=60,
                       what=f"the {name}")

    def stop(self, children: Children) -> None:
        children.stop("receiver")
        for name in self.worker_names():
            children.stop(name)

    def pids(self, children: Children) -> dict[str, int]:
        names = ["temporal", *self.worker_names(), "receiver"]
        return {**{n: children.procs[n].pid for n in names}, "bench": os.getpid()}

    def cpu_meter(self, pids: dict[str, int]) -> CpuMeter:
        """A meter over `pids`, and over the PostgreSQL server's processes when it is the store."""
        groups = {"postgres": self.stores.server_pids} if self.stores.kind == "postgres" else {}
        return CpuMeter(pids, groups)


async def http_phase(args: argparse.Namespace, hub: Hub, load: Load, probe: StoreProbe, children: Children,
                     client: Client) -> PhaseResult:
    """Send `load` on its schedule (open loop, at most `concurrency` requests in flight), then drain."""
    per = load.per_request
    n_requests = len(load.order) // per
    result = PhaseResult(load.name, load.rate or math.nan, load.seconds,
                         offered=n_requests * per if load.rate else 0, unit=load.unit,
                         concurrency=load.concurrency)
    sent_at = [math.nan] * n_requests
    delivered = [False] * len(load.order)
    sem = asyncio.Semaphore(load.concurrency)
    last_ack = 0.0
    processed0, grants0 = probe.processed(), probe.grant_count(load.achievement)

    async def post(http: aiohttp.ClientSession, i: int) -> None:
        nonlocal last_ack
        try:
            body, headers = load.build(i)
            sent_at[i] = time.time()
            async with http.post(load.path, data=body, headers=headers) as response:
                answer = await response.read()
            acked = time.time()
            last_ack = max(last_ack, acked)
            result.ack_latencies.append(acked - sent_at[i])
            if response.status != 200:
                note_error(result, f"HTTP {response.status}: {answer.decode(errors='replace')}")
                return
            accepted, problems = load.read(json.loads(answer))
            result.accepted += len(accepted)
            for position in accepted:
                delivered[i * per + position] = True
            for problem in problems:
                note_error(result, problem)
        except (aiohttp.ClientError, TimeoutError) as exc:
            note_error(result, f"{type(exc).__name__}: {exc}")
        finally:
            sem.release()

    def read() -> tuple[int, int, int]:
        return probe.queued(), probe.processed() - processed0, probe.grant_count(load.achievement) - grants0

    def progress(s: Sample) -> str:
        return (f"accepted {result.accepted:>9,}  evaluated {s.processed:>9,}  backlog {s.queue:>8,}  "
                f"grants {s.grants:>7,}")

    meter = hub.cpu_meter(hub.pids(children))
    # aiohttp, not httpx: measured here with 20 KB bodies against a trivial server, httpx cost the
    # generator 2.8 ms of CPU per request at 16 in flight (233 req/s) and 8.1 ms at 100 (69 req/s),
    # aiohttp 0.2 ms (3,600-4,000 req/s); httpx would have measured itself (encode/httpx#3215).
    connector = aiohttp.TCPConnector(limit=load.concurrency)
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    async with aiohttp.ClientSession(hub.url, connector=connector, timeout=timeout) as http:
        async with http.get("/healthz") as response:  # a keep-alive connection before the clock starts
            await response.read()
        t0 = time.time()
        start = time.monotonic()
        monitor = Monitor(read, t0, describe=progress)
        monitor.start()
        meter.start()
        in_flight: set[asyncio.Task[None]] = set()
        for i in range(n_requests):
            due = i * per / load.rate if load.rate else 0.0
            if (delay := due - (time.monotonic() - start)) > 0:
                await asyncio.sleep(delay)
            await sem.acquire()
            now = time.monotonic() - start
            if now >= load.seconds:  # behind schedule at the deadline: what is left is not sent
                sem.release()
                break
            result.max_lag = max(result.max_lag, now - due) if load.rate else 0.0
            result.sent += per
            task = asyncio.create_task(post(http, i))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        else:
            if not load.rate:
                result.notes.append(f"ran out of prepared deliveries: raise --saturation-cap "
                                    f"({args.saturation_cap:g}/s)")
        await asyncio.gather(*in_flight)
    result.send_window = last_ack - t0
    expected = completing_events(load.order, delivered)
    print(f"  load done: {result.accepted:,} events accepted in {result.send_window:.1f} s; waiting for "
          f"evaluation and {len(expected):,} grants (at most {args.drain_timeout:.0f} s)", flush=True)
    result.drained_at, last = await monitor.drain(
        lambda s: s.queue == 0 and s.grants >= len(expected), args.drain_timeout, children)
    meter.stop()
    result.end_t, result.processed = last.t, last.processed
    in_window = monitor.at(load.seconds)
    result.processed_in_window = in_window.processed if in_window else None
    result.cpu = meter.render(result.accepted, drained=result.drained_at is not None)
    result.cpu_total_ms = sum(meter.ms_per_1000(result.accepted).values())
    await asyncio.to_thread(collect_grants, result, probe, load.achievement, set(load.order), expected,
                            load.index_of, lambda k: sent_at[k // per], t0 + last.t)
    result.notes += await evaluator_notes(client, hub.config, since=t0, workers=_worker_pids(hub, children))
    return result


def _worker_pids(hub: Hub, children: Children) -> dict[int, str]:
    return {children.procs[name].pid: name for name in hub.worker_names()}


def _activity_times(events: Sequence[Any], since: float, busy: Counter[str], calls: Counter[str],
                    by_worker: dict[str, Counter[str]]) -> tuple[float, float]:
    """Add each activity scheduled after `since`: its scheduled→completed time to `busy`, its
    worker (the started event's identity) to `by_worker`; returns the history's time span."""
    scheduled: dict[int, tuple[str, float]] = {}
    started_by: dict[int, str] = {}
    times = []
    for ev in events:
        when = ev.event_time.ToDatetime(tzinfo=UTC).timestamp()
        times.append(when)
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and when >= since:
            scheduled[ev.event_id] = (ev.activity_task_scheduled_event_attributes.activity_type.name, when)
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = ev.activity_task_started_event_attributes
            started_by[attrs.scheduled_event_id] = attrs.identity
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled_id = ev.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled_id in scheduled:
                name, at = scheduled[scheduled_id]
                busy[name] += when - at
                calls[name] += 1
                by_worker[name][started_by.get(scheduled_id, "?")] += 1
    return (min(times), max(times)) if times else (math.nan, math.nan)


async def evaluator_notes(client: Client, config: Config, *, since: float,
                          workers: dict[int, str]) -> list[str]:
    """Where the evaluators' time went since `since`, and on which worker, from their histories."""
    tenant = config.tenants[0]
    busy: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    by_worker: dict[str, Counter[str]] = defaultdict(Counter)
    shards_of: dict[str, set[int]] = defaultdict(set)
    span = 0.0
    restarts: list[str] = []
    try:
        for shard in range(tenant.shards):
            spans = []
            before = Counter(by_worker["evaluate_shard"])
            async for execution in client.list_workflows(f"WorkflowId = 'evaluate/{tenant.id}/{shard}'"):
                if execution.start_time.timestamp() > since:
                    restarts.append(f"{shard}@{execution.start_time.timestamp() - since:.1f}s")
                handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
                history = (await handle.fetch_history()).events
                spans.append(_activity_times(history, since, busy, calls, by_worker))
            for identity, count in by_worker["evaluate_shard"].items():
                if count > before[identity]:
                    shards_of[identity].add(shard)
            if spans:
                span += max(end for _, end in spans) - max(since, min(begin for begin, _ in spans))
    except Exception as exc:  # noqa: BLE001 - a note, not a result
        return [f"could not read evaluator histories: {exc}"]
    notes = []
    for name in ("evaluate_shard", "dispatch_grants"):
        if calls[name] and span > 0:
            notes.append(f"evaluators: {name} {calls[name]:,} calls, mean {ms(busy[name] / calls[name])}, "
                         f"busy {100 * busy[name] / span:.0f}% of the evaluators' lifetime "
                         f"({span / tenant.shards:.0f} s per shard)")
    if restarts:
        notes.append("evaluator runs begun while measuring (continue-as-new), shard@seconds after the "
                     f"first send: {', '.join(sorted(restarts))}")
    if len(workers) > 1:
        def who(identity: str) -> str:
            pid = identity.split("@", 1)[0]
            return workers.get(int(pid), identity) if pid.isdigit() else identity
        spread = ", ".join(f"{who(i)} {n:,} (shards {','.join(map(str, sorted(shards_of[i])))})"
                           for i, n in sorted(by_worker["evaluate_shard"].items(), key=lambda kv: who(kv[0])))
        notes.append(f"evaluate_shard calls per worker: {spread}")
    try:
        started = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        count = await client.count_workflows(
            f"WorkflowType = 'DeliverGrantWorkflow' AND StartTime >= '{started}'")
        notes.append(f"delivery workflows started (outbox, one per grant): {count.count:,}")
    except Exception as exc:  # noqa: BLE001
        notes.append(f"could not count delivery workflows: {exc}")
    return notes


# --------------------------------------------------------------------------- baseline


async def baseline_phase(args: argparse.Namespace, order: list[int], probe: StoreProbe, stats_file: Path,
                         children: Children, client: Client, config: Config, task_queue: str,
                         meter: CpuMeter) -> PhaseResult:
    """The same events as the accolade phase, one signal-with-start each (`bench/baseline.py`)."""
    rate, seconds = args.baseline_rate, args.baseline_seconds
    source = f"{SOURCE}/baseline"
    n_events = min(len(order), int(rate * seconds))
    result = PhaseResult("baseline", rate, seconds, offered=n_events)
    spec = config.tenants[0].achievements[0]
    sent_at = [math.nan] * n_events
    delivered = [False] * n_events
    sem = asyncio.Semaphore(args.baseline_concurrency)
    last_ack = 0.0

    async def signal_with_start(k: int) -> None:
        nonlocal last_ack
        person = person_id(order[k])
        try:
            body = event(k, order[k], datetime.now(UTC).isoformat(), source)
            sent_at[k] = time.time()
            await client.start_workflow(
                baseline.WORKFLOW_NAME,
                baseline.PersonInput(tenant=baseline.BASELINE_TENANT, person_id=person, achievement=spec),
                id=baseline.baseline_workflow_id(person), task_queue=task_queue,
                start_signal=baseline.SIGNAL_NAME, start_signal_args=[body],
            )
            acked = time.time()
            last_ack = max(last_ack, acked)
            result.ack_latencies.append(acked - sent_at[k])
            delivered[k] = True
            result.accepted += 1
        except Exception as exc:  # noqa: BLE001 - counted and shown
            note_error(result, f"{type(exc).__name__}: {exc}")
        finally:
            sem.release()

    def progress(s: Sample) -> str:
        return (f"accepted {result.accepted:>9,}  evaluated {s.processed:>9,}  "
                f"backlog {result.accepted - s.processed:>8,}  grants {s.grants:>7,}")

    def read() -> tuple[int, int, int]:
        try:
            processed = int(json.loads(stats_file.read_text())["processed"])
        except (OSError, ValueError, KeyError):
            processed = 0
        return 0, processed, probe.grant_count(ACHIEVEMENT)

    t0 = time.time()
    start = time.monotonic()
    monitor = Monitor(read, t0, describe=progress)
    monitor.start()
    meter.start()
    in_flight: set[asyncio.Task[None]] = set()
    for k in range(n_events):
        due = k / rate
        if (delay := due - (time.monotonic() - start)) > 0:
            await asyncio.sleep(delay)
        await sem.acquire()
        now = time.monotonic() - start
        if now >= seconds:
            sem.release()
            break
        result.max_lag = max(result.max_lag, now - due)
        result.sent += 1
        task = asyncio.create_task(signal_with_start(k))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    result.send_window = last_ack - t0
    expected = completing_events(order[:n_events], delivered)
    print(f"  load done: {result.accepted:,} signal-with-starts acknowledged in {result.send_window:.1f} s; "
          f"waiting for {len(expected):,} grants (at most {args.drain_timeout:.0f} s)", flush=True)
    result.drained_at, last = await monitor.drain(
        lambda s: s.processed >= result.accepted and s.grants >= len(expected), args.drain_timeout, children)
    meter.stop()
    result.end_t, result.processed = last.t, last.processed
    in_window = monitor.at(args.baseline_seconds)
    result.processed_in_window = in_window.processed if in_window else None
    result.cpu = meter.render(result.accepted, drained=result.drained_at is not None)
    result.cpu_total_ms = sum(meter.ms_per_1000(result.accepted).values())
    await asyncio.to_thread(collect_grants, result, probe, ACHIEVEMENT, set(order[:n_events]), expected,
                            event_index, lambda k: sent_at[k], t0 + last.t)
    return result



# --------------------------------------------------------------------------- report


def describe(result: PhaseResult, what: str) -> list[str]:
    unit = result.unit
    if result.saturating:
        offered = f"as fast as {result.concurrency} requests in flight allow, for {result.seconds:g} s"
    else:
        offered = (f"offered {fmt_unit(result.offered_rate, unit)} for {result.seconds:g} s "
                   f"({result.offered:,} events)")
    lines = [f"{what}",
             f"  {offered}: sent {result.sent:,}, accepted {result.accepted:,} = "
             f"{fmt_unit(result.accepted_rate, unit)} "
             f"(first send → last acknowledgement {result.send_window:.1f} s), "
             f"errors {result.errors:,}"]
    lines += [f"    e.g. {example}" for example in result.error_examples]
    if result.max_lag > 1:
        lines.append(f"  the generator fell behind its schedule by up to {result.max_lag:.1f} s "
                     "(acknowledgements did not keep up with the offered load)")
    lines.append(f"  acknowledgement latency p50 {ms(percentile(result.ack_latencies, 50))}, "
                 f"p99 {ms(percentile(result.ack_latencies, 99))}")
    if result.processed_in_window is not None:
        lines.append(f"  evaluated while the load ran: {result.processed_in_window:,} events = "
                     f"{fmt_rate(rate_of(result.processed_in_window, result.seconds))}")
    if result.drained_at is not None:
        lines.append(f"  everything evaluated and granted {result.drained_at:.1f} s after the first send "
                     f"({result.drained_at - result.send_window:+.1f} s after the last acknowledgement): "
                     f"end to end {fmt_rate(result.end_to_end_rate)}")
    else:
        done = f"{result.processed:,} of {result.accepted:,} events evaluated, " if result.processed else ""
        lines.append(f"  NOT DRAINED {result.end_t:.0f} s after the first send (drain timeout): {done}"
                     f"{result.grants:,} of {result.expected_grants:,} grants stored; end to end "
                     f"{fmt_rate(result.end_to_end_rate)} (saturated)")
    pending = f" ({len(result.pending):,} not stored yet count as their age so far)" if result.pending else ""
    lines.append(f"  grants {result.grants:,} of {result.expected_grants:,} expected; event→grant latency "
                 f"p50 {result.latency(50)}, p99 {result.latency(99)}{pending}")
    if slices := latency_slices(result):
        lines.append(f"  event→grant max per 10 s of sending (a stall shows as one high slice): {slices}")
    lines += [f"  {note}" for note in result.notes]
    lines += [f"  {line}" for line in result.cpu]
    if result.peak_rss:
        lines.append("  peak RSS (VmHWM): " + ", ".join(f"{n} {mb(v)}" for n, v in result.peak_rss.items()))
    return lines


def latency_slices(result: PhaseResult, width: float = 10.0) -> str:
    """The worst event→grant latency of each `width` seconds of sending, so a stall has a time."""
    if not result.latency_by_send:
        return ""
    first = min(sent for sent, _ in result.latency_by_send)
    worst: dict[int, float] = defaultdict(float)
    for sent, latency in result.latency_by_send:
        key = int((sent - first) // width)
        worst[key] = max(worst[key], latency)
    return ", ".join(f"{int(k * width)}s {ms(v)}" for k, v in sorted(worst.items()))


def summary_line(result: PhaseResult, what: str) -> str:
    drained = "" if result.drained_at is not None else " (not drained)"
    offered = (f"{result.concurrency} in flight" if result.saturating
               else f"offered {fmt_unit(result.offered_rate, result.unit)}")
    acks = result.ack_latencies
    return (f"  {what}: {offered}, accepted {fmt_unit(result.accepted_rate, result.unit)} "
            f"(ack p50 {ms(percentile(acks, 50))} p99 {ms(percentile(acks, 99))}), "
            f"evaluated {fmt_rate(result.end_to_end_rate)} end to end{drained}, grants {result.grants:,}, "
            f"event→grant p50 {result.latency(50)} p99 {result.latency(99)}, "
            f"CPU {result.cpu_total_ms:,.0f} ms per 1,000 events")


def summary(results: dict[str, PhaseResult], labels: dict[str, str], rss: list[str]) -> list[str]:
    lines = ["", "summary"]
    lines += [summary_line(result, labels[name]) for name, result in results.items()]
    accolade, base = results.get("accolade"), results.get("baseline")
    if accolade is not None and base is not None:
        ratio = accolade.end_to_end_rate / base.end_to_end_rate
        accepted_ratio = accolade.accepted_rate / base.accepted_rate
        lines.append(f"  ratio accolade/baseline: {ratio:.1f}x end to end, {accepted_ratio:.1f}x accepted")
    lines += rss
    for result in results.values():
        if result.drained_at is None:
            lines.append(f"  note: {result.name} did not drain: its end-to-end figure is the rate it "
                         "sustained while saturated; latencies marked ≥ are lower bounds")
        elif not result.saturating and result.accepted_rate < 0.95 * result.offered_rate:
            lines.append(f"  note: {result.name} could not accept the offered rate; its figures are its "
                         "ceiling here")
    return lines


def rss_comparison(empty: PhaseResult, seeded: PhaseResult, args: argparse.Namespace,
                   sizes: tuple[int, int]) -> list[str]:
    lines = [f"  peak RSS (VmHWM), the same load on a store with {args.persons:,} persons and no history, "
             f"then after {args.rss_events:,} stored events and {args.rss_persons:,} persons "
             f"(store {mb(sizes[0])} → {mb(sizes[1])}):"]
    for name, before in empty.peak_rss.items():
        after = seeded.peak_rss.get(name)
        change = f"{100 * (after - before) / before:+.0f}%" if before and after else "n/a"
        lines.append(f"    {name:<10} {mb(before):>9} → {mb(after):>9}  ({change})")
    return lines


# --------------------------------------------------------------------------- main


def pin_to_one_core(core: int | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if core is None else core
    if threading.active_count() != 1:  # threads started before this would stay unpinned
        return f"not pinned ({threading.active_count()} threads already running)"
    os.sched_setaffinity(0, {chosen})  # this thread; every thread started later inherits it
    return f"pinned to core {chosen} of {len(allowed)}"


def start_hub(args: argparse.Namespace, tmp: Path, children: Children, stores: BenchStores) -> Hub:
    port, ui_port, api_port = free_port(), free_port(), free_port()
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, API_KEY_ENV: args.api_key, SECRET_ENV: args.github_secret,
           "BENCH_WORKER_METRICS": f"127.0.0.1:{free_port()}"}
    argv = [temporal_binary(), "server", "start-dev", "--db-filename", str(tmp / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal", "--headless", "--ip", "127.0.0.1",
            "--port", str(port), "--ui-port", str(ui_port), "--namespace", "accolade", "--log-level", "error"]
    for name in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{name}=Keyword"]
    print(f"setup: temporal dev server on 127.0.0.1:{port} (file db, WAL, headless) in {tmp}", flush=True)
    children.start("temporal", argv)
    wait_until(lambda: port_open(port), children, timeout=60, what="the Temporal dev server")

    config_path = tmp / "accolade.yaml"
    config_path.write_text(CONFIG_TEMPLATE.format(
        store_url=stores.url("accolade"), queue=task_queue, port=port, ui_port=ui_port, api_port=api_port,
        tenant=TENANT, shards=args.shards, key_env=API_KEY_ENV, connector=CONNECTOR, secret_env=SECRET_ENV,
        achievement=ACHIEVEMENT, target=TARGET, event_type=EVENT_TYPE,
        webhook_achievement=WEBHOOK_ACHIEVEMENT))
    config = load_config(config_path, env=env)
    if problems := prepare_store(config):
        raise RuntimeError(f"prepare_store: {problems}")
    started = time.monotonic()
    engine = create_store_engine(config.store.url)
    try:
        link_persons(engine, TENANT, range(2 * args.persons))
    finally:
        engine.dispose()
    print(f"setup: store {stores.describe()} migrated; {2 * args.persons:,} persons linked "
          f"(bench:id and github:id) in {time.monotonic() - started:.1f} s", flush=True)
    hub = Hub(config, config_path, env, f"http://127.0.0.1:{api_port}", args.workers, stores)
    if "baseline" in args.phases:
        start_baseline_worker(args, tmp, children, hub, stores, task_queue)
    hub.start(children)
    return hub


def start_baseline_worker(args: argparse.Namespace, tmp: Path, children: Children, hub: Hub,
                          stores: BenchStores, task_queue: str) -> None:
    hub.baseline_store = stores.url("baseline")
    hub.baseline_queue = f"{task_queue}-baseline"
    engine = create_store_engine(hub.baseline_store)
    migrate(engine)
    engine.dispose()
    children.start("baseline-worker", [
        sys.executable, str(ROOT / "bench" / "baseline.py"), "--target", hub.config.temporal.target(),
        "--namespace", "accolade", "--task-queue", hub.baseline_queue, "--store-url", hub.baseline_store,
        "--max-cached-workflows", str(args.baseline_cache), "--stats-file", str(tmp / BASELINE_STATS),
    ], hub.env)
    wait_until(lambda: baseline.READY_LINE in children.log_text("baseline-worker"), children, timeout=60,
               what="the baseline worker")


async def run_load(args: argparse.Namespace, hub: Hub, load: Load, children: Children, client: Client,
                   announce: str) -> PhaseResult:
    print(f"\n{load.name}: {announce}", flush=True)
    probe = StoreProbe(hub.config.store.url)
    try:
        result = await http_phase(args, hub, load, probe, children, client)
    finally:
        probe.close()
    print("\n".join(describe(result, load.title)), flush=True)
    return result


async def run_phases(args: argparse.Namespace, tmp: Path, children: Children, hub: Hub,
                     labels: dict[str, str]) -> dict[str, PhaseResult]:
    client = await connect(hub.config)
    results: dict[str, PhaseResult] = {}
    # The two webhook loads count toward one rule: each has persons of its own to earn it.
    persons, others = range(args.persons), range(args.persons, 2 * args.persons)
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    accolade = batch_load(args, "accolade", "accolade batch API (POST /v1/events -> evaluators -> grants)",
                          persons)
    if "accolade" in args.phases:
        labels["accolade"] = "accolade batch API"
        results["accolade"] = await run_load(
            args, hub, accolade, children, client,
            f"POST /v1/events, {args.batch} events per request, {fmt_rate(args.rate)} "
            f"for {args.seconds:g} s, {workers}")
    if "webhook" in args.phases:
        path = f"POST /webhooks/{CONNECTOR}"
        fixed = webhook_load(args, "webhook", f"webhook path at a fixed offered rate ({path} -> grants)",
                             persons, rate=args.webhook_rate, concurrency=args.webhook_concurrency,
                             first_run_id=RATE_RUN_IDS)
        labels["webhook"] = f"webhook path at {args.webhook_rate:,.0f}/s"
        results["webhook"] = await run_load(
            args, hub, fixed, children, client, f"{path}, one signed workflow_run per request, "
            f"{args.webhook_rate:,.0f} deliveries/s for {args.webhook_seconds:g} s, {workers}")
        saturated = webhook_load(args, "webhook-saturated", f"webhook path at saturation ({path} -> grants)",
                                 others, rate=None, concurrency=args.saturation_concurrency,
                                 first_run_id=SATURATION_RUN_IDS)
        labels["webhook-saturated"] = f"webhook path at saturation ({args.saturation_concurrency} in flight)"
        results["webhook-saturated"] = await run_load(
            args, hub, saturated, children, client, f"{path}, as fast as {args.saturation_concurrency} "
            f"requests in flight allow, for {args.webhook_seconds:g} s, {workers}")
    if "baseline" in args.phases:
        hub.stop(children)  # give the baseline the machine; the dev server stays
        labels["baseline"] = "baseline signal-with-start per event"
        results["baseline"] = await run_baseline(args, tmp, children, hub, client, accolade.order)
    return results


async def run_baseline(args: argparse.Namespace, tmp: Path, children: Children, hub: Hub, client: Client,
                       order: list[int]) -> PhaseResult:
    assert hub.baseline_store is not None
    pids = {"temporal": children.procs["temporal"].pid,
            "baseline-worker": children.procs["baseline-worker"].pid, "bench": os.getpid()}
    print(f"\nbaseline: one signal-with-start per event into bench-baseline/<person>, "
          f"{fmt_rate(args.baseline_rate)} for {args.baseline_seconds:g} s "
          f"(at most {args.baseline_concurrency} in flight)", flush=True)
    probe = StoreProbe(hub.baseline_store)
    try:
        result = await baseline_phase(args, order, probe, tmp / BASELINE_STATS, children, client, hub.config,
                                      hub.baseline_queue, hub.cpu_meter(pids))
    finally:
        probe.close()
    print("\n".join(describe(result, "baseline signal-with-start per event (per-person workflow -> grants)")))
    return result


async def run_rss(args: argparse.Namespace, children: Children, hub: Hub,
                  labels: dict[str, str]) -> tuple[dict[str, PhaseResult], list[str]]:
    """The batch-API load on a store with no history, then after seeding one; fresh processes each."""
    client = await connect(hub.config)
    announce = (f"POST /v1/events, {args.batch} events per request, {fmt_rate(args.rate)} for "
                f"{args.seconds:g} s, then the peak RSS of each process")
    labels["rss-empty"] = "batch API, store without history"
    empty = await run_load(args, hub, batch_load(
        args, "rss-empty", "batch API on a store without history", range(args.persons)),
        children, client, announce)
    empty.peak_rss = _peak_rss(hub, children)
    probe = StoreProbe(hub.config.store.url)
    sizes = [await asyncio.to_thread(probe.size)]
    hub.stop(children)
    await asyncio.to_thread(seed_store, args, hub)
    sizes.append(await asyncio.to_thread(probe.size))
    probe.close()
    hub.start(children)
    labels["rss-seeded"] = f"batch API after {args.rss_events:,} events, {args.rss_persons:,} persons"
    seeded = await run_load(args, hub, batch_load(
        args, "rss-seeded", f"batch API on a store seeded with {args.rss_events:,} events and "
        f"{args.rss_persons:,} persons", range(args.persons, 2 * args.persons)), children, client, announce)
    seeded.peak_rss = _peak_rss(hub, children)
    comparison = rss_comparison(empty, seeded, args, (sizes[0], sizes[1]))
    return {"rss-empty": empty, "rss-seeded": seeded}, comparison


def seed_store(args: argparse.Namespace, hub: Hub) -> None:
    started = time.monotonic()
    tenant = hub.config.tenants[0]
    engine = create_store_engine(hub.config.store.url)
    try:
        if args.rss_persons > 2 * args.persons:
            link_persons(engine, TENANT, range(2 * args.persons, args.rss_persons))
        print(f"\nsetup: {max(args.rss_persons, 2 * args.persons):,} persons linked; seeding "
              f"{args.rss_events:,} events (bench/seed.py)", flush=True)
        seed_history(engine, tenant, events=args.rss_events, persons=args.rss_persons,
                     report=lambda line: print(line, flush=True))
    finally:
        engine.dispose()
    print(f"setup: store seeded in {time.monotonic() - started:.0f} s; fresh worker(s) and receiver",
          flush=True)


def _peak_rss(hub: Hub, children: Children) -> dict[str, int | None]:
    return {name: peak_rss(children.procs[name].pid) for name in [*hub.worker_names(), "receiver"]}


def parse_phases(text: str) -> tuple[str, ...]:
    phases = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in phases if p not in PHASES]
    if unknown or not phases:
        raise argparse.ArgumentTypeError(f"phases are {', '.join(PHASES)} (comma-separated), not {text!r}")
    return phases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/throughput.py", description=__doc__.split("\n\n")[0],
                                     epilog="See bench/README.md for how to read the output.")
    add = parser.add_argument
    add("--seconds", type=float, default=60, help="load duration of each phase (%(default)s)")
    add("--rate", type=float, default=1000, help="offered load of the batch API, events/s (%(default)s)")
    add("--persons", type=int, default=10_000,
        help="persons per phase; each earns the grant once, so this sets the number of grants (%(default)s)")
    add("--batch", type=int, default=100, help="events per POST /v1/events (%(default)s)")
    add("--shards", type=int, default=4, help="evaluator shards of the tenant (%(default)s)")
    add("--http-concurrency", type=int, default=8, help="batch POSTs in flight at most (%(default)s)")
    add("--burst-seconds", type=float, default=1.0,
        help="a person's five counted events are spread over this much offered load (%(default)s)")
    add("--only", dest="phases", type=parse_phases, default=PHASES, metavar="PHASE[,PHASE]",
        help=f"phases to run, comma-separated; they run in the order {','.join(PHASES)} (all)")
    add("--store", choices=("sqlite", "postgres"), default="sqlite",
        help="SQLite files (the embedded default) or fresh databases on the local PostgreSQL (%(default)s)")
    add("--pg-admin-url", default=PG_ADMIN_URL,
        help="a PostgreSQL database to create and drop the run's databases from (%(default)s; "
             "env ACCOLADE_BENCH_PG)")
    add("--workers", type=int, default=1, help="worker processes on the one task queue (%(default)s)")
    add("--webhook-rate", type=float, default=500,
        help="offered deliveries/s of the webhook phase (%(default)s)")
    add("--webhook-seconds", type=float, default=None, help="load duration of each webhook load (--seconds)")
    add("--webhook-concurrency", type=int, default=100,
        help="webhook requests in flight at most at the fixed rate (%(default)s)")
    add("--saturation-concurrency", type=int, default=16,
        help="webhook requests in flight in the saturation load (%(default)s)")
    add("--saturation-cap", type=float, default=5000,
        help="deliveries/s prepared for the saturation load, above what it reaches (%(default)s)")
    add("--baseline-rate", type=float, default=None, help="offered load of the baseline (--rate)")
    add("--baseline-seconds", type=float, default=None, help="load duration of the baseline (--seconds)")
    add("--baseline-concurrency", type=int, default=100,
        help="signal-with-starts in flight at most (%(default)s)")
    add("--baseline-cache", type=int, default=None,
        help="baseline worker's max cached workflows (--persons: all of them)")
    add("--rss", action="store_true",
        help="instead of the phases: peak RSS of worker(s) and receiver under the batch-API load, "
             "on a store without history and after seeding --rss-events and --rss-persons")
    add("--rss-events", type=int, default=1_000_000, help="stored events seeded by --rss (%(default)s)")
    add("--rss-persons", type=int, default=100_000, help="persons in the store seeded by --rss (%(default)s)")
    add("--drain-timeout", type=float, default=30,
        help="after the load, wait at most this long for the backlog (%(default)s s)")
    add("--request-timeout", type=float, default=30, help="per request (%(default)s s)")
    add("--core", type=int, default=None, help="core for the load generator (the last one)")
    add("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args(argv)
    args.baseline_rate = args.baseline_rate or args.rate
    args.baseline_seconds = args.baseline_seconds or args.seconds
    args.webhook_seconds = args.webhook_seconds or args.seconds
    args.baseline_cache = args.baseline_cache or args.persons
    args.api_key = f"bench-{uuid.uuid4().hex}"
    args.github_secret = f"bench-{uuid.uuid4().hex}"
    if args.rss:
        args.phases = ()
    if min(args.rate, args.seconds, args.batch, args.persons, args.workers, args.webhook_rate) <= 0:
        parser.error("--rate, --seconds, --batch, --persons, --workers and --webhook-rate must be positive")
    return args


def run(args: argparse.Namespace, tmp: Path, children: Children, stores: BenchStores) -> int:
    hub = start_hub(args, tmp, children, stores)
    pinned = pin_to_one_core(args.core)
    print(f"setup: {os.cpu_count()} cores; load generator (this process) {pinned}; rules count {TARGET} of "
          f"{EVENT_TYPE} (batch API) and of green ci.pipeline.completed (webhooks), {args.shards} shards, "
          f"{args.persons:,} persons per phase, {args.workers} worker process(es), store {args.store}",
          flush=True)
    labels: dict[str, str] = {}
    rss: list[str] = []
    if args.rss:
        results, rss = asyncio.run(run_rss(args, children, hub, labels))
    else:
        results = asyncio.run(run_phases(args, tmp, children, hub, labels))
    print("\n".join(summary(results, labels, rss)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(*_: object) -> None:
        signal.raise_signal(signal.SIGINT)  # one path for Ctrl-C and SIGTERM: KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="accolade-bench-"))
    children = Children(tmp)
    stores = BenchStores(args.store, tmp, admin_url=args.pg_admin_url)
    status = 1
    try:
        status = run(args, tmp, children, stores)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr, flush=True)
        status = 130
    except RuntimeError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr, flush=True)
        args.keep = True
    finally:
        children.stop_all()  # before the databases are dropped
        if args.keep:
            kept = f" and databases {', '.join(stores.databases)}" if stores.databases else ""
            print(f"kept {tmp} (logs, databases){kept}", file=sys.stderr, flush=True)
        else:
            stores.drop_all()
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python issue 300: interpreter teardown after the Temporal client can crash

"""Sustained throughput of the batch API to stored grants, against a signal-with-start baseline.

    .venv/bin/python bench/throughput.py [--seconds 60] [--rate N] [--persons 10000]

One run, on the embedded default (Temporal dev server with a file database in WAL mode,
SQLite store in WAL mode), everything in a fresh temporary directory on free ports:

1. Accolade: the real worker and receiver (`python -m worker`, `python -m api.serve`) as
   subprocesses. A load generator, pinned to one core, POSTs batches of CloudEvents to
   `/v1/events` at a fixed offered rate for `--seconds`; then the benchmark waits until every
   accepted event is evaluated and every grant is stored. Event→grant latency per grant is
   `grants.created_at` minus the time the batch carrying the completing event was sent
   (`evidence.completed_by` names that event).
2. Baseline: the same events, the same offered rate and duration, but one signal-with-start
   per event into a per-person workflow (`bench/baseline.py`) that applies the same rule with
   the same engine and stores the same grant in a `grants` table of its own SQLite file.

See bench/README.md for how to read the output. Not part of the test suite.
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
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import baseline  # bench/baseline.py (this file's folder is first on sys.path)
import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.temporal_client import connect
from cli.up import SEARCH_ATTRIBUTES, prepare_store, temporal_binary
from config import Config, load_config
from identity import link_identity, parse_identity_ref
from store import create_store_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
TENANT = "bench"
ACHIEVEMENT = "five-tasks"
EVENT_TYPE = "bench.task.completed"
SOURCE = "/bench/loadgen"
TARGET = 5  # the rule: count 5 of EVENT_TYPE
API_KEY_ENV = "ACCOLADE_BENCH_API_KEY"
BASELINE_STATS = "baseline-stats.json"
CONFIG_TEMPLATE = """\
# Written by bench/throughput.py for one run; persons are linked in bulk, not listed here.
store: {{url: "sqlite:///{db}"}}
temporal: {{address: embedded, namespace: accolade, task_queue: {queue}, port: {port}, ui_port: {ui_port}}}
api: {{listen: "127.0.0.1:{api_port}"}}
tenants:
  - id: {tenant}
    shards: {shards}
    api_keys: ["${{{key_env}}}"]
    achievements:
      - key: {achievement}
        version: 1
        name: Five tasks
        rule: {{count: {target}, of: {event_type}}}
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc); 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    """CPU seconds each process used between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.wall = time.monotonic()

    def stop(self) -> None:
        self.wall = time.monotonic() - self.wall
        self.used = {name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}

    def render(self) -> str:
        parts = [f"{name} {used:.0f} s ({100 * used / self.wall:.0f}%)" for name, used in self.used.items()]
        return f"CPU over {self.wall:.0f} s (100% = one core): " + ", ".join(parts)


# --------------------------------------------------------------------------- workload


def person_id(n: int) -> str:
    return f"bench-{n}"


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


def event(k: int, person: int, when: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"e{k}", "source": SOURCE, "type": EVENT_TYPE, "time": when,
            "data": {"actor": {"system": "bench", "id": str(person)}}}


def event_index(completed_by: str) -> int:
    """`/bench/loadgen#e123` → 123."""
    return int(completed_by.rsplit("#e", 1)[1])


def link_persons(config: Config, persons: int) -> None:
    """Link `bench:id=<n>` to person `bench-<n>` for every person, in one transaction."""
    tenant = config.tenants[0]
    engine = create_store_engine(config.store.url)
    try:
        with engine.begin() as conn:
            for n in range(persons):
                link_identity(conn, tenant.id, person_id(n), parse_identity_ref(f"bench:id={n}"),
                              origin="cli", shards=tenant.shards)
    finally:
        engine.dispose()


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


def _utc_timestamp(value: str) -> float:
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class StoreProbe:
    """Read-only counts from a SQLite store (plain reads: no BEGIN IMMEDIATE, no write lock)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.lock = threading.Lock()

    def scalar(self, sql: str) -> int:
        with self.lock:
            row = self.conn.execute(sql).fetchone()
        return int(row[0] or 0)

    def grants(self) -> list[tuple[str, dict[str, Any], float]]:
        with self.lock:
            rows = self.conn.execute("SELECT person_id, evidence, created_at FROM grants").fetchall()
        return [(person, json.loads(evidence), _utc_timestamp(created)) for person, evidence, created in rows]

    def close(self) -> None:
        self.conn.close()


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
    offered_rate: float
    seconds: float
    offered: int
    sent: int = 0
    accepted: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    send_window: float = 0.0  # first send → last acknowledgement
    max_lag: float = 0.0  # how far the generator fell behind its schedule
    ack_latencies: list[float] = field(default_factory=list)
    expected_grants: int = 0
    latencies: list[float] = field(default_factory=list)  # stored grants
    pending: list[float] = field(default_factory=list)  # expected, not stored: lower bounds
    drained_at: float | None = None  # seconds after the first send
    end_t: float = 0.0  # when measuring stopped (drained, or the drain timeout)
    processed: int | None = None  # events evaluated by then (accolade only)
    processed_in_window: int | None = None  # events evaluated while the load ran
    cpu: str = ""
    notes: list[str] = field(default_factory=list)

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


def collect_grants(result: PhaseResult, probe: StoreProbe, expected: dict[int, int],
                   sent_time: Callable[[int], float], end_wall: float) -> None:
    stored: set[str] = set()
    for person, evidence, created in probe.grants():
        stored.add(person)
        result.latencies.append(created - sent_time(event_index(evidence["completed_by"])))
    result.expected_grants = len(expected)
    result.pending = [end_wall - sent_time(k) for p, k in expected.items() if person_id(p) not in stored]


# --------------------------------------------------------------------------- phase 1: accolade


async def accolade_phase(args: argparse.Namespace, url: str, order: list[int], probe: StoreProbe,
                         children: Children, client: Client, config: Config,
                         meter: CpuMeter) -> PhaseResult:
    batch = args.batch
    n_batches = len(order) // batch
    result = PhaseResult("accolade", args.rate, args.seconds, offered=n_batches * batch)
    sent_at = [math.nan] * n_batches
    delivered = [False] * len(order)
    sem = asyncio.Semaphore(args.http_concurrency)
    headers = {"authorization": f"Bearer {args.api_key}",
               "content-type": "application/cloudevents-batch+json"}
    limits = httpx.Limits(max_connections=args.http_concurrency,
                          max_keepalive_connections=args.http_concurrency)
    last_ack = 0.0

    async def post(http: httpx.AsyncClient, i: int) -> None:
        nonlocal last_ack
        try:
            when = datetime.now(UTC).isoformat()
            first = i * batch
            body = json.dumps([event(k, order[k], when) for k in range(first, first + batch)]).encode()
            sent_at[i] = time.time()
            response = await http.post("/v1/events", content=body, headers=headers)
            acked = time.time()
            last_ack = max(last_ack, acked)
            result.ack_latencies.append(acked - sent_at[i])
            if response.status_code != 200:
                note_error(result, f"HTTP {response.status_code}: {response.text}")
                return
            outcome = response.json()
            result.accepted += outcome["accepted"]
            for item in outcome["results"]:
                if item["status"] == "accepted":
                    delivered[first + item["index"]] = True
                elif item["status"] == "rejected":
                    note_error(result, f"rejected: {item.get('reason')}")
        except httpx.HTTPError as exc:
            note_error(result, f"{type(exc).__name__}: {exc}")
        finally:
            sem.release()

    def progress(s: Sample) -> str:
        return (f"accepted {result.accepted:>9,}  evaluated {s.processed:>9,}  backlog {s.queue:>8,}  "
                f"grants {s.grants:>7,}")

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=args.request_timeout) as http:
        await http.get("/healthz")  # open a keep-alive connection before the clock starts
        t0 = time.time()
        start = time.monotonic()
        monitor = Monitor(lambda: (probe.scalar("SELECT count(*) FROM event_queue"),
                                   probe.scalar("SELECT coalesce(sum(processed), 0) FROM shard_state"),
                                   probe.scalar("SELECT count(*) FROM grants")),
                          t0, describe=progress)
        monitor.start()
        meter.start()
        in_flight: set[asyncio.Task[None]] = set()
        for i in range(n_batches):
            due = i * batch / args.rate
            if (delay := due - (time.monotonic() - start)) > 0:
                await asyncio.sleep(delay)
            await sem.acquire()
            now = time.monotonic() - start
            if now >= args.seconds:  # behind schedule at the deadline: what is left is not sent
                sem.release()
                break
            result.max_lag = max(result.max_lag, now - due)
            result.sent += batch
            task = asyncio.create_task(post(http, i))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
    result.send_window = last_ack - t0
    expected = completing_events(order, delivered)
    print(f"  load done: {result.accepted:,} events accepted in {result.send_window:.1f} s; waiting for "
          f"evaluation and {len(expected):,} grants (at most {args.drain_timeout:.0f} s)", flush=True)
    result.drained_at, last = await monitor.drain(
        lambda s: s.queue == 0 and s.grants >= len(expected), args.drain_timeout, children)
    meter.stop()
    result.end_t, result.processed = last.t, last.processed
    in_window = monitor.at(args.seconds)
    result.processed_in_window = in_window.processed if in_window else None
    result.cpu = meter.render()
    await asyncio.to_thread(collect_grants, result, probe, expected, lambda k: sent_at[k // batch],
                            t0 + last.t)
    result.notes += await evaluator_notes(client, config)
    return result


def _activity_times(events: Sequence[Any], busy: Counter[str], calls: Counter[str]) -> tuple[float, float]:
    """Add each activity's scheduled→completed time to `busy`; returns the history's time span."""
    scheduled: dict[int, tuple[str, float]] = {}
    times = []
    for ev in events:
        when = ev.event_time.ToDatetime().timestamp()
        times.append(when)
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[ev.event_id] = (ev.activity_task_scheduled_event_attributes.activity_type.name, when)
        elif ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name, at = scheduled[ev.activity_task_completed_event_attributes.scheduled_event_id]
            busy[name] += when - at
            calls[name] += 1
    return (min(times), max(times)) if times else (math.nan, math.nan)


async def evaluator_notes(client: Client, config: Config) -> list[str]:
    """Where the evaluators' time went, from their Temporal histories (every run of every shard)."""
    tenant = config.tenants[0]
    busy: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    span = 0.0
    try:
        for shard in range(tenant.shards):
            spans = []
            async for execution in client.list_workflows(f"WorkflowId = 'evaluate/{tenant.id}/{shard}'"):
                handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
                spans.append(_activity_times((await handle.fetch_history()).events, busy, calls))
            if spans:
                span += max(end for _, end in spans) - min(begin for begin, _ in spans)
    except Exception as exc:  # noqa: BLE001 - a note, not a result
        return [f"could not read evaluator histories: {exc}"]
    notes = []
    for name in ("evaluate_shard", "dispatch_grants"):
        if calls[name] and span > 0:
            notes.append(f"evaluators: {name} {calls[name]:,} calls, mean {ms(busy[name] / calls[name])}, "
                         f"busy {100 * busy[name] / span:.0f}% of the evaluators' lifetime "
                         f"({span / tenant.shards:.0f} s per shard)")
    try:
        count = await client.count_workflows("WorkflowType = 'DeliverGrantWorkflow'")
        notes.append(f"delivery workflows started (outbox, one per grant): {count.count:,}")
    except Exception as exc:  # noqa: BLE001
        notes.append(f"could not count delivery workflows: {exc}")
    return notes


# --------------------------------------------------------------------------- phase 2: baseline


async def baseline_phase(args: argparse.Namespace, order: list[int], probe: StoreProbe, stats_file: Path,
                         children: Children, client: Client, config: Config, task_queue: str,
                         meter: CpuMeter) -> PhaseResult:
    rate, seconds = args.baseline_rate, args.baseline_seconds
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
            body = event(k, order[k], datetime.now(UTC).isoformat())
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
        return 0, processed, probe.scalar("SELECT count(*) FROM grants")

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
    result.cpu = meter.render()
    await asyncio.to_thread(collect_grants, result, probe, expected, lambda k: sent_at[k], t0 + last.t)
    return result


# --------------------------------------------------------------------------- report


def describe(result: PhaseResult, what: str) -> list[str]:
    lines = [f"{what}",
             f"  offered {fmt_rate(result.offered_rate)} for {result.seconds:g} s "
             f"({result.offered:,} events): sent {result.sent:,}, accepted {result.accepted:,} = "
             f"{fmt_rate(result.accepted_rate)} "
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
    lines += [f"  {note}" for note in result.notes]
    lines.append(f"  {result.cpu}")
    return lines


def summary_line(result: PhaseResult, what: str, accepted: str) -> str:
    drained = "" if result.drained_at is not None else " (not drained)"
    return (f"  {what}: offered {fmt_rate(result.offered_rate)}, "
            f"{accepted} {fmt_rate(result.accepted_rate)}, "
            f"evaluated {fmt_rate(result.end_to_end_rate)} end to end{drained}, grants {result.grants:,}, "
            f"latency p50 {result.latency(50)} p99 {result.latency(99)}")


def summary(accolade: PhaseResult | None, base: PhaseResult | None) -> list[str]:
    lines = ["", "summary"]
    if accolade is not None:
        lines.append(summary_line(accolade, "accolade batch API", "accepted"))
    if base is not None:
        lines.append(summary_line(base, "baseline signal-with-start per event", "achieved"))
    if accolade is not None and base is not None:
        ratio = accolade.end_to_end_rate / base.end_to_end_rate
        accepted_ratio = accolade.accepted_rate / base.accepted_rate
        lines.append(f"  ratio accolade/baseline: {ratio:.1f}x end to end, {accepted_ratio:.1f}x accepted")
    for result in (r for r in (accolade, base) if r is not None):
        if result.drained_at is None:
            lines.append(f"  note: {result.name} did not drain: its end-to-end figure is the rate it "
                         "sustained while saturated; latencies marked ≥ are lower bounds")
        elif result.accepted_rate < 0.95 * result.offered_rate:
            lines.append(f"  note: {result.name} could not accept the offered rate; its figures are its "
                         "ceiling here")
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


def start_hub(args: argparse.Namespace, tmp: Path, children: Children) -> tuple[Config, Path, str, str, str]:
    port, ui_port, api_port = free_port(), free_port(), free_port()
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    baseline_queue = f"{task_queue}-baseline"
    env = {**os.environ, API_KEY_ENV: args.api_key}
    argv = [temporal_binary(), "server", "start-dev", "--db-filename", str(tmp / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal", "--headless", "--ip", "127.0.0.1",
            "--port", str(port), "--ui-port", str(ui_port), "--namespace", "accolade", "--log-level", "error"]
    for name in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{name}=Keyword"]
    print(f"setup: temporal dev server on 127.0.0.1:{port} (file db, WAL, headless) in {tmp}", flush=True)
    children.start("temporal", argv)
    wait_until(lambda: port_open(port), children, timeout=60, what="the Temporal dev server")

    db = tmp / "accolade.db"
    config_path = tmp / "accolade.yaml"
    config_path.write_text(CONFIG_TEMPLATE.format(
        db=db, queue=task_queue, port=port, ui_port=ui_port, api_port=api_port, tenant=TENANT,
        shards=args.shards, key_env=API_KEY_ENV, achievement=ACHIEVEMENT, target=TARGET,
        event_type=EVENT_TYPE))
    config = load_config(config_path, env=env)
    if problems := prepare_store(config):
        raise RuntimeError(f"prepare_store: {problems}")
    started = time.monotonic()
    link_persons(config, args.persons)
    print(f"setup: store migrated, {args.persons:,} persons linked in {time.monotonic() - started:.1f} s",
          flush=True)
    baseline_db = tmp / "baseline.db"
    engine = create_store_engine(f"sqlite:///{baseline_db}")
    migrate(engine)
    engine.dispose()

    py = sys.executable
    children.start("worker", [py, "-m", "worker", "--config", str(config_path)], env)
    children.start("receiver", [py, "-m", "api.serve", "--config", str(config_path)], env)
    children.start("baseline-worker", [
        py, str(ROOT / "bench" / "baseline.py"), "--target", config.temporal.target(), "--namespace",
        "accolade", "--task-queue", baseline_queue, "--store-url", f"sqlite:///{baseline_db}",
        "--max-cached-workflows", str(args.baseline_cache), "--stats-file", str(tmp / BASELINE_STATS)], env)
    url = f"http://127.0.0.1:{api_port}"
    wait_until(lambda: healthy(url), children, timeout=60, what="the receiver")
    wait_until(lambda: "worker ready" in children.log_text("worker"), children, timeout=60, what="the worker")
    wait_until(lambda: baseline.READY_LINE in children.log_text("baseline-worker"), children, timeout=60,
               what="the baseline worker")
    return config, baseline_db, url, baseline_queue, task_queue


async def run_phases(args: argparse.Namespace, tmp: Path, children: Children, config: Config, url: str,
                     baseline_db: Path, baseline_queue: str) -> tuple[PhaseResult | None, PhaseResult | None]:
    n_events = (int(args.rate * args.seconds) // args.batch) * args.batch
    order = schedule(n_events, args.persons, window=max(TARGET, int(args.rate * args.burst_seconds)))
    client = await connect(config)
    accolade = base = None
    if args.only in (None, "accolade"):
        probe = StoreProbe(Path(config.store.url.removeprefix("sqlite:///")))
        pids = {name: children.procs[name].pid for name in ("temporal", "worker", "receiver")}
        pids["bench"] = os.getpid()
        print(f"\naccolade: POST /v1/events, {args.batch} events per request, {fmt_rate(args.rate)} "
              f"for {args.seconds:g} s", flush=True)
        accolade = await accolade_phase(args, url, order, probe, children, client, config, CpuMeter(pids))
        probe.close()
        print("\n".join(describe(accolade, "accolade batch API (POST /v1/events -> evaluators -> grants)")))
    if args.only in (None, "baseline"):
        children.stop("receiver")  # give the baseline the machine; the dev server stays
        children.stop("worker")
        pids = {"temporal": children.procs["temporal"].pid,
                "baseline-worker": children.procs["baseline-worker"].pid, "bench": os.getpid()}
        print(f"\nbaseline: one signal-with-start per event into bench-baseline/<person>, "
              f"{fmt_rate(args.baseline_rate)} for {args.baseline_seconds:g} s "
              f"(at most {args.baseline_concurrency} in flight)", flush=True)
        probe = StoreProbe(baseline_db)
        base = await baseline_phase(args, order, probe, tmp / BASELINE_STATS, children, client, config,
                                    baseline_queue, CpuMeter(pids))
        probe.close()
        title = "baseline signal-with-start per event (per-person workflow -> grants)"
        print("\n".join(describe(base, title)))
    return accolade, base


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/throughput.py", description=__doc__.split("\n\n")[0],
                                     epilog="See bench/README.md for how to read the output.")
    add = parser.add_argument
    add("--seconds", type=float, default=60, help="load duration of each phase (%(default)s)")
    add("--rate", type=float, default=1000, help="offered load, events/s (%(default)s)")
    add("--persons", type=int, default=10_000,
        help="persons; each earns the grant once, so this sets the number of grants (%(default)s)")
    add("--batch", type=int, default=100, help="events per POST /v1/events (%(default)s)")
    add("--shards", type=int, default=4, help="evaluator shards of the tenant (%(default)s)")
    add("--http-concurrency", type=int, default=8, help="POSTs in flight at most (%(default)s)")
    add("--burst-seconds", type=float, default=1.0,
        help="a person's five counted events are spread over this much offered load (%(default)s)")
    add("--baseline-rate", type=float, default=None, help="offered load of the baseline (--rate)")
    add("--baseline-seconds", type=float, default=None, help="load duration of the baseline (--seconds)")
    add("--baseline-concurrency", type=int, default=100,
        help="signal-with-starts in flight at most (%(default)s)")
    add("--baseline-cache", type=int, default=None,
        help="baseline worker's max cached workflows (--persons: all of them)")
    add("--only", choices=("accolade", "baseline"), default=None, help="run one phase only")
    add("--drain-timeout", type=float, default=30,
        help="after the load, wait at most this long for the backlog (%(default)s s)")
    add("--request-timeout", type=float, default=30, help="per request (%(default)s s)")
    add("--core", type=int, default=None, help="core for the load generator (the last one)")
    add("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args(argv)
    args.baseline_rate = args.baseline_rate or args.rate
    args.baseline_seconds = args.baseline_seconds or args.seconds
    args.baseline_cache = args.baseline_cache or args.persons
    args.api_key = f"bench-{uuid.uuid4().hex}"
    if args.rate <= 0 or args.seconds <= 0 or args.batch < 1 or args.persons < 1:
        parser.error("--rate, --seconds, --batch and --persons must be positive")
    return args


def run(args: argparse.Namespace, tmp: Path, children: Children) -> int:
    config, baseline_db, url, baseline_queue, _ = start_hub(args, tmp, children)
    pinned = pin_to_one_core(args.core)
    print(f"setup: {os.cpu_count()} cores; load generator (this process) {pinned}; rule "
          f"count {TARGET} of {EVENT_TYPE}, {args.shards} shards, {args.persons:,} persons", flush=True)
    accolade, base = asyncio.run(run_phases(args, tmp, children, config, url, baseline_db, baseline_queue))
    print("\n".join(summary(accolade, base)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(*_: object) -> None:
        signal.raise_signal(signal.SIGINT)  # one path for Ctrl-C and SIGTERM: KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="accolade-bench-"))
    children = Children(tmp)
    status = 1
    try:
        status = run(args, tmp, children)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr, flush=True)
        status = 130
    except RuntimeError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr, flush=True)
        args.keep = True
    finally:
        children.stop_all()
        if args.keep:
            print(f"kept {tmp} (logs, databases)", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python issue 300: interpreter teardown after the Temporal client can crash

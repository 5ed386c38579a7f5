"""CPU cost of the metrics hooks per 1,000 events, on this machine (not part of the tests).

    .venv/bin/python bench/metrics_cost.py [--repeat 20]

Each hook is called as the hub calls it, with the shapes of `make bench`: batches of 100
events on the batch API; one event per webhook request; evaluator rounds of 500 events with
one grant per five events (the bench rule counts 5), whose event→grant latency needs one
read-only query on a real SQLite store; one delivery per grant. Prints CPU milliseconds
(process time, best of `--repeat`) per 1,000 events for each hook and their sum, then the
wall time of one scrape's shard-lag query with `--backlog` events waiting (16 shards).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from config.models import TenantSettings
from metrics import ShardLagCollector, ingest, pipeline
from store import create_store_engine, migrate
from store.schema import event_queue, events

EVENTS = 1000
BATCH = 100
ROUND = 500
GRANT_EVERY = 5


@dataclass(frozen=True)
class Item:  # what the API reports per item (intake.ingest.ItemOutcome)
    status: str
    parked: bool = False


@dataclass(frozen=True)
class Evaluated:  # what a round evaluated (rules.engine.EvalEvent)
    seq: int
    key: str


@dataclass(frozen=True)
class Grant:
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    processed: int


@dataclass(frozen=True)
class Request:
    tenant: str


def cpu_ms(work: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best * 1000


def store_with_events(folder: Path) -> tuple[Any, list[Evaluated]]:
    engine = create_store_engine(f"sqlite:///{folder / 'cost.db'}")
    migrate(engine)
    now = datetime.now(UTC)
    rows = [{"tenant": "bench", "source": "/bench", "event_id": f"e{i}", "type": "t", "time": now,
             "body": {}, "received_at": now} for i in range(EVENTS)]
    with engine.begin() as conn:
        conn.execute(insert(events), rows)
        seqs = conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars().all()
    return engine, [Evaluated(seq, f"/bench#e{i}") for i, seq in enumerate(seqs)]


def scrape_seconds(folder: Path, backlog: int) -> float:
    """Wall time of the shard-lag collection with `backlog` events waiting in one tenant."""
    engine = create_store_engine(f"sqlite:///{folder / 'lag.db'}")
    migrate(engine)
    now = datetime.now(UTC)
    log = [{"tenant": "bench", "source": "/bench", "event_id": f"e{i}", "type": "t", "time": now,
            "body": {}, "received_at": now} for i in range(backlog)]
    queue = [{"seq": seq, "tenant": "bench", "shard": seq % 16, "person_id": "p", "decision": {}}
             for seq in range(1, backlog + 1)]
    with engine.begin() as conn:
        conn.execute(insert(events), log)
        conn.execute(insert(event_queue), queue)
    collector = ShardLagCollector(engine, [TenantSettings(id="bench", shards=16)])
    started = time.perf_counter()
    list(collector.collect())
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args()
    repeat = args.repeat
    batch = [Item("accepted")] * 90 + [Item("duplicate")] * 5 + [Item("rejected")] * 5
    webhook = [Item("accepted")]
    round_ = pipeline.timed_round(lambda _self, request: Result(ROUND))
    with tempfile.TemporaryDirectory() as tmp:
        engine, evaluated = store_with_events(Path(tmp))
        rounds = [evaluated[i:i + ROUND] for i in range(0, EVENTS, ROUND)]
        grants = [[Grant({"completed_by": e.key}) for e in r[GRANT_EVERY - 1::GRANT_EVERY]] for r in rounds]
        created = datetime.now(UTC)
        costs = {
            "receiver: batch API, ingested() per 100-event batch":
                lambda: [ingest.ingested("bench", "api", batch) for _ in range(EVENTS // BATCH)],
            "receiver: webhook_ingested() per one-event request":
                lambda: [ingest.webhook_ingested("bench", "github", "stored", webhook)
                         for _ in range(EVENTS)],
            "worker: timed_round per 500-event round":
                lambda: [round_(None, Request("bench")) for _ in rounds],
            "worker: grants_stored() (1 grant per 5 events, SQLite query)":
                lambda: [pipeline.grants_stored(engine, "bench", g, r)
                         for g, r in zip(grants, rounds, strict=True)],
            "worker: delivered() per grant":
                lambda: [pipeline.delivered("bench", "console", "sent", created)
                         for _ in range(EVENTS // GRANT_EVERY)],
        }
        results = {name: cpu_ms(work, repeat) for name, work in costs.items()}
        engine.dispose()
        scrape = scrape_seconds(Path(tmp), args.backlog)
    for name, ms in results.items():
        print(f"{ms:7.3f} CPU-ms / 1,000 events  {name}")
    receiver = sum(v for k, v in results.items() if k.startswith("receiver: batch"))
    worker = sum(v for k, v in results.items() if k.startswith("worker"))
    print(f"{receiver:7.3f} CPU-ms / 1,000 events  receiver total on the batch API")
    print(f"{worker:7.3f} CPU-ms / 1,000 events  worker total")
    print(f"{scrape * 1000:7.1f} ms per scrape: shard lag with {args.backlog:,} events waiting (16 shards)")


if __name__ == "__main__":
    main()

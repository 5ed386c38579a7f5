"""The Temporal worker process: `python worker.py --config FILE` (run by `accolade up`).

Builds the clients (database, Temporal), registers the workflows and activities, applies the
config's people (releasing parked events), wakes every evaluator once, starts the poller of
every enabled polling connector and the connector watcher of every tenant, and runs until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities
from activities.digest import DigestActivities
from activities.evaluation import EvaluationActivities
from activities.liveness import HEARTBEAT_THROTTLE, STICKY_TIMEOUT
from activities.polling import PollingActivities
from activities.temporal_client import EvaluatorNotifier, connect, start_pollers, wake_evaluators
from activities.watch import WatchActivities, start_watchers
from channels import Clients
from config import Config, load_config
from identity.sync import sync_people
from intake.context import Intake
from metrics import WorkerMetrics
from store import create_store_engine
from workflows import WORKFLOWS

__all__ = ["build_worker", "connect_patiently", "main", "run_worker"]

log = logging.getLogger("accolade.worker")


def build_worker(client: Client, config: Config, engine: Engine, *, task_queue: str | None = None,
                 executor: ThreadPoolExecutor, intake: Intake | None = None,
                 poll_clients: dict[str, Any] | None = None, console: Any = None,
                 channel_clients: Clients | None = None) -> Worker:
    """`intake` carries the notifier pollers wake evaluators with (none: the evaluators'
    timer finds polled events); `poll_clients` injects vendor clients by connector id;
    `console` is where console admin alerts go (default stdout); `channel_clients` the
    clients channels send through (`channels.Clients`)."""
    queue = task_queue or config.temporal.task_queue
    evaluation = EvaluationActivities(engine, config, client, queue)
    delivery = DeliveryActivities(engine, config, clients=channel_clients)
    digest = DigestActivities(delivery, client, queue)
    polling = PollingActivities(intake or Intake(config, engine), poll_clients or {})
    watch = WatchActivities(engine, config, console=console)
    return Worker(
        client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=[evaluation.evaluate_shard, evaluation.dispatch_grants,
                    delivery.deliver, delivery.mark_failed, delivery.claim_retry, digest.join_digest,
                    digest.send_digest, polling.poll_connector,
                    watch.check_connectors],
        activity_executor=executor,
        max_concurrent_activities=8,
        # A killed worker's cached workflows move to another worker in seconds, and
        # heartbeats reach the server well inside HEARTBEAT_TIMEOUT (activities/liveness.py).
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
    )


async def connect_patiently(config: Config, *, within: float = 30.0) -> Client:
    """Connect, waiting up to `within` seconds for a Temporal that is (re)starting.

    Under `accolade up` a worker restarted while the dev server restarts too would otherwise
    exit at once and be counted as a crash; a Temporal that stays away still fails start-up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await connect(config)
        except RuntimeError as exc:  # the SDK's "failed client connect"
            if loop.time() >= deadline:
                raise
            log.warning("Temporal at %s not reachable yet (%s); retrying", config.temporal.target(), exc)
            await asyncio.sleep(1.0)


async def run_worker(config_path: str) -> None:
    config = load_config(config_path)
    engine = create_store_engine(config.store.url)
    metrics = WorkerMetrics.start(config, engine)  # before the client: it sets the SDK's runtime
    client = await connect_patiently(config)
    for tenant in config.tenants:
        released = await asyncio.to_thread(sync_people, engine, tenant)
        if released:
            log.info("tenant %s: %d parked event(s) released by configured links", tenant.id, released)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier = EvaluatorNotifier(client, config)
    notifier.start()
    intake = Intake(config, engine, notifier).start()
    # One HTTP client for outbound webhooks: pooled connections, redirects not followed.
    http = httpx.Client(timeout=10.0, follow_redirects=False)
    with http, ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity") as executor:
        worker = build_worker(client, config, engine, executor=executor, intake=intake,
                              channel_clients=Clients(http=http))
        async with worker:
            await _wake_all(client, config, stop)
            log.info("worker ready on task queue %s", config.temporal.task_queue)
            await stop.wait()
    await notifier.stop()
    intake.close()
    if metrics is not None:
        metrics.close()
    engine.dispose()


async def _wake_all(client: Client, config: Config, stop: asyncio.Event) -> None:
    """Wake every evaluator once: catch up on anything a lost notification left behind.

    A failure while we are already being stopped (the dev server may stop first on a Ctrl-C
    to the whole group) is the end of a clean stop, not a crash.
    """
    try:
        for tenant in config.tenants:
            await wake_evaluators(client, config, tenant.id, range(tenant.shards))
            await start_pollers(client, config, tenant.id)
        await start_watchers(client, config, every_seconds=config.temporal.connector_watch.total_seconds())
    except RPCError:
        if not stop.is_set():
            raise
        log.info("stopped before every evaluator was woken")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="accolade-worker")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    # one line per vendor request (a Canvas cycle asks once per learner) drowns the worker's own
    # lines; failures are logged, classified, by the connectors themselves
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(run_worker(args.config))


if __name__ == "__main__":
    main()

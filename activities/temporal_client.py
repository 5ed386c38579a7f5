"""Building the Temporal client, and waking evaluators (signal-with-start, coalesced)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable

from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.contracts import EvaluatorInput, PollerInput
from activities.liveness import WORKFLOW_TASK_TIMEOUT
from config.models import Config
from workflows.poller import poller_id

__all__ = [
    "HINT_EVERY", "EvaluatorNotifier", "connect", "poller_id", "polls", "start_poller", "start_pollers",
    "wake_evaluators",
]

log = logging.getLogger("accolade.notify")
_SA_TENANT = SearchAttributeKey.for_keyword("AccoladeTenant")


_USED = False


def used() -> bool:
    """Whether this process connected a Temporal client (the CLI then exits without teardown)."""
    return _USED


async def connect(config: Config) -> Client:
    global _USED
    _USED = True
    return await Client.connect(
        config.temporal.target(),
        namespace=config.temporal.namespace,
        data_converter=pydantic_data_converter,
    )


async def wake_evaluators(client: Client, config: Config, tenant_id: str, shards: Iterable[int]) -> None:
    """Signal `notify` to each shard's evaluator, starting it if it is not running.

    A running evaluator keeps the wake timer it was started with (carried across
    continue-as-new); `temporal.evaluator_wake` applies to evaluators started from now on.
    """
    wake = config.temporal.evaluator_wake.total_seconds()
    for shard in sorted(set(shards)):
        await client.start_workflow(
            "EvaluatorWorkflow",
            EvaluatorInput(tenant=tenant_id, shard=shard, wake_seconds=wake),
            id=f"evaluate/{tenant_id}/{shard}",
            task_queue=config.temporal.task_queue,
            start_signal="notify",
            task_timeout=WORKFLOW_TASK_TIMEOUT,  # kept across continue-as-new
            search_attributes=TypedSearchAttributes([SearchAttributePair(_SA_TENANT, tenant_id)]),
            static_summary=f"Evaluator for tenant {tenant_id}, shard {shard}",
        )


HINT_EVERY = 5.0  # seconds between two hints to one poller
_SA_CONNECTOR = SearchAttributeKey.for_keyword("AccoladeConnector")


async def start_pollers(client: Client, config: Config, tenant_id: str) -> list[str]:
    """Start `poll/<tenant>/<id>` for each enabled polling connector of the tenant (a running
    one is left as it is); returns the connector ids."""
    tenant = config.tenant(tenant_id)
    started = []
    for settings in tenant.connectors if tenant else []:
        if polls(config, tenant_id, settings.id):
            await start_poller(client, config, tenant_id, settings.id)
            started.append(settings.id)
    return started


async def start_poller(client: Client, config: Config, tenant_id: str, connector: str, *,
                       poke: bool = False) -> None:
    """Start the connector's poller if it is not running; with `poke`, signal it to poll now."""
    from connectors import polling_connector

    found = config.find_connector(connector)
    assert found is not None
    poller = polling_connector(found[1].vendor)
    assert poller is not None
    every = poller.poll_settings(found[1]).every.total_seconds()
    await client.start_workflow(
        "PollWorkflow",
        PollerInput(tenant=tenant_id, connector=connector, every_seconds=every),
        id=poller_id(tenant_id, connector),
        task_queue=config.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="poke" if poke else None,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        search_attributes=TypedSearchAttributes([SearchAttributePair(_SA_TENANT, tenant_id),
                                                 SearchAttributePair(_SA_CONNECTOR, connector)]),
        static_summary=f"Poller of connector {connector} (tenant {tenant_id})",
    )


def polls(config: Config, tenant: str, connector: str) -> bool:
    """Whether `connector` of `tenant` is an enabled instance that polls."""
    from connectors import polling_connector

    found = config.find_connector(connector)
    if found is None or found[0].id != tenant or not found[1].enabled:
        return False
    poller = polling_connector(found[1].vendor)
    return poller is not None and poller.polls(found[1])


class EvaluatorNotifier:
    """Marks shards dirty from any thread; a loop task wakes each dirty evaluator every ~100 ms.

    A shard whose wake-up fails (Temporal restarting) stays dirty and is tried again on the
    next round, so events accepted while Temporal is away are evaluated as soon as it is
    back, not only at the evaluator's timer. The timer still covers a receiver that dies
    with shards dirty. Without a client (Temporal was down when the receiver started) it
    connects on its own, at most every `reconnect` seconds, keeping shards dirty meanwhile.
    """

    def __init__(self, client: Client | None, config: Config, *, interval: float = 0.1,
                 reconnect: float = 5.0) -> None:
        self.client = client
        self.reconnect = reconnect
        self._last_connect = float("-inf")
        self.config = config
        self.interval = interval
        self._dirty: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failing: set[str] = set()  # tenants whose last wake-up failed: log once per outage
        self._hints: set[tuple[str, str]] = set()
        self._hinted: dict[tuple[str, str], float] = {}

    def mark_dirty(self, tenant: str, shards: set[int]) -> None:
        with self._lock:
            self._dirty.setdefault(tenant, set()).update(shards)

    def hint_poller(self, tenant: str, connector: str) -> None:
        """A webhook of a polling connector arrived: its poller looks sooner ("webhooks are
        hints"), at most once per `HINT_EVERY` seconds per connector."""
        if polls(self.config, tenant, connector):
            with self._lock:
                self._hints.add((tenant, connector))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _client(self) -> Client | None:
        if self.client is None and time.monotonic() - self._last_connect >= self.reconnect:
            self._last_connect = time.monotonic()
            try:
                self.client = await connect(self.config)
                log.info("connected to Temporal at %s", self.config.temporal.target())
            except RuntimeError:  # the SDK raises RuntimeError when it cannot connect
                pass
        return self.client

    async def flush(self) -> None:
        with self._lock:
            if not self._dirty and not self._hints:
                return
        client = await self._client()
        if client is None:
            return  # shards stay dirty until Temporal answers
        await self._send_hints(client)
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        for tenant, shards in dirty.items():
            try:
                await wake_evaluators(client, self.config, tenant, shards)
            except Exception as exc:  # noqa: BLE001 - any failure: keep the shards dirty, retry
                self.mark_dirty(tenant, shards)
                if tenant not in self._failing:
                    self._failing.add(tenant)
                    log.warning("could not notify evaluators of %s (%s); retrying", tenant, exc)
            else:
                if tenant in self._failing:
                    self._failing.discard(tenant)
                    log.info("evaluators of %s notified again", tenant)

    async def _send_hints(self, client: Client) -> None:
        now = time.monotonic()
        with self._lock:
            due = {h for h in self._hints if now - self._hinted.get(h, float("-inf")) >= HINT_EVERY}
            self._hints -= due
        for tenant, connector in due:
            self._hinted[(tenant, connector)] = now
            try:
                await client.get_workflow_handle(poller_id(tenant, connector)).signal("poke")
            except Exception as exc:  # noqa: BLE001 - a hint: the poller's timer covers a lost one
                log.debug("hint to poller %s/%s not delivered: %s", tenant, connector, exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

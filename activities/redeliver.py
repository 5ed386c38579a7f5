"""Re-driving a failed delivery once its cause is fixed: `accolade deliveries retry ID` and
`POST /v1/deliveries/{grant_id}/{channel}/retry`.

A delivery is named by its grant id and channel id, `ID = <grant-id>/<channel>` (the
deliveries row's key; `accolade deliveries` shows it). A re-drive is the same
`DeliverGrantWorkflow`, for that one channel, with id `deliver/<grant-id>/<channel>/retry-<n>`
(n = 1 for the first re-drive of that row, then 2, …; the row keeps n in `detail.retry`). The
guard is the deliveries row: the workflow's first activity re-queues it only while it is
`failed`; each n runs once (REJECT_DUPLICATE). A row that is not failed is refused here with
its status, before anything starts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.contracts import DeliverGrantInput, DeliverGrantResult, GrantRef
from activities.evaluation import SA_ACHIEVEMENT, SA_PERSON, SA_TENANT
from activities.liveness import WORKFLOW_TASK_TIMEOUT
from config.models import Config, TenantSettings
from store import read_only
from store.schema import deliveries, grants

__all__ = [
    "RetryOutcome", "parse_delivery_id", "retry_delivery", "retry_target", "retry_workflow_id", "start_retry",
]


@dataclass(frozen=True)
class RetryOutcome:
    """`status`: `sent` (or fell_back/suppressed), `failed` (again, with the reason),
    `running` (not finished within the wait), `refused` (with why)."""

    delivery: str
    status: str
    reason: str | None = None
    workflow_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"delivery": self.delivery, "status": self.status, "reason": self.reason,
                "workflow_id": self.workflow_id}


_MORE_NUMBERS = 5  # retry numbers tried past the row's own before giving up


def parse_delivery_id(value: str) -> tuple[str, str]:
    """`<grant-id>/<channel>` → (grant id, channel); ValueError naming the expected shape."""
    grant_id, sep, channel = value.strip().partition("/")
    if not sep or not grant_id or not channel or "/" in channel:
        raise ValueError(f"delivery id {value!r}: expected <grant-id>/<channel>, "
                         "as `accolade deliveries` shows")
    return grant_id, channel


def retry_workflow_id(grant_id: str, channel: str, n: int) -> str:
    return f"deliver/{grant_id}/{channel}/retry-{n}"


def retry_target(engine: Engine, tenant: TenantSettings, grant_id: str,
                 channel: str) -> tuple[GrantRef, int] | RetryOutcome:
    """The grant to re-drive and its n, or the refusal (read only: the workflow claims)."""
    name = f"{grant_id}/{channel}"
    with read_only(engine) as conn:
        row = conn.execute(select(deliveries, grants.c.achievement).join(
            grants, grants.c.grant_id == deliveries.c.grant_id).where(
            deliveries.c.grant_id == grant_id, deliveries.c.channel == channel,
            deliveries.c.tenant == tenant.id)).first()
    if row is None:
        return RetryOutcome(name, "refused", f"no delivery {name} in tenant {tenant.id}")
    if row.status != "failed":
        return RetryOutcome(name, "refused", f"not failed: it is {row.status}")
    n = int((row.detail or {}).get("retry", 0)) + 1
    return GrantRef(grant_id=grant_id, tenant=tenant.id, person_id=row.person_id,
                    achievement=row.achievement, channels=[channel]), n


async def retry_delivery(client: Client, config: Config, engine: Engine, tenant: TenantSettings,
                         grant_id: str, channel: str, *, wait: float = 30.0) -> RetryOutcome:
    """Start the re-drive and wait up to `wait` seconds for its outcome."""
    target = await asyncio.to_thread(retry_target, engine, tenant, grant_id, channel)
    if isinstance(target, RetryOutcome):
        return target
    return await start_retry(client, config, *target, wait=wait)


async def start_retry(client: Client, config: Config, grant: GrantRef, n: int, *,
                      wait: float) -> RetryOutcome:
    """Start `deliver/<grant>/<channel>/retry-<n>` (found by `retry_target`) and wait for it.

    An n already taken (a concurrent retry, or a row whose `detail` lost its counter) moves on
    to the next n: the row's claim in the workflow, not the id, decides whether anything is
    sent, so a concurrent second retry ends refused ("not failed: it is queued")."""
    (channel,) = grant.channels
    name = f"{grant.grant_id}/{channel}"
    for attempt in range(n, n + _MORE_NUMBERS):
        try:
            handle = await _start(client, config, grant, attempt)
        except WorkflowAlreadyStartedError:
            continue
        return await _outcome(handle, name, retry_workflow_id(grant.grant_id, channel, attempt), wait)
    return RetryOutcome(name, "refused", f"retries {n} to {n + _MORE_NUMBERS - 1} were all started already")


async def _start(client: Client, config: Config, grant: GrantRef, n: int) -> Any:
    (channel,) = grant.channels
    return await client.start_workflow(
        "DeliverGrantWorkflow", DeliverGrantInput(grant=grant, retry=n),
        id=retry_workflow_id(grant.grant_id, channel, n), task_queue=config.temporal.task_queue,
        result_type=DeliverGrantResult, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(SA_TENANT, grant.tenant), SearchAttributePair(SA_PERSON, grant.person_id),
            SearchAttributePair(SA_ACHIEVEMENT, grant.achievement)]),
        static_summary=f"Retry {n} of {grant.achievement} to person {grant.person_id} via {channel}")


async def _outcome(handle: Any, name: str, workflow_id: str, wait: float) -> RetryOutcome:
    try:
        result: DeliverGrantResult = await asyncio.wait_for(handle.result(), timeout=wait)
    except TimeoutError:
        return RetryOutcome(name, "running", "not finished yet: see `accolade deliveries`", workflow_id)
    except WorkflowFailureError as exc:
        cause = getattr(exc.cause, "message", None) or str(exc)
        return RetryOutcome(name, "failed", cause, workflow_id)
    [outcome] = result.deliveries
    return RetryOutcome(name, outcome.status, outcome.detail, workflow_id)

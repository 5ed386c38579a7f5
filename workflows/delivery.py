"""DeliverGrantWorkflow: one per grant, id `deliver/<grant-id>`, every channel in parallel.

Each channel is the `deliver` activity with its own retries and backoff; rate limits arrive
as `next_retry_delay`. When a channel gives up (non-retryable, or out of attempts) its
delivery record is marked failed with the reason, and the other channels carry on; once all
channels are done, a workflow with a failed channel ends Failed, so the Temporal UI's
`ExecutionStatus = 'Failed'` finds exactly the grants that did not reach someone.

A re-drive of one failed channel (`accolade deliveries retry`) is this workflow too, id
`deliver/<grant-id>/<channel>/retry-<n>` with `retry = n`: it first claims the deliveries row
(`claim_delivery_retry`: only a `failed` row is re-queued), so a retry of a row that was sent
meanwhile, or that another re-drive took, ends at once with the reason and sends nothing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ClaimRetryInput,
        ClaimRetryResult,
        DeliverGrantInput,
        DeliverGrantResult,
        DeliverInput,
        DeliverResult,
        MarkFailedInput,
    )
    from activities.liveness import HEARTBEAT_TIMEOUT

__all__ = ["DELIVERY_RETRY", "DeliverGrantWorkflow"]

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=12,
    non_retryable_error_types=["Permanent"],
)


@workflow.defn(name="DeliverGrantWorkflow")
class DeliverGrantWorkflow:
    @workflow.run
    async def run(self, input: DeliverGrantInput) -> DeliverGrantResult:
        if input.retry and (refused := await self._claim(input)) is not None:
            return DeliverGrantResult(deliveries=[refused])
        results = await asyncio.gather(*(self._channel(input, c) for c in input.grant.channels))
        failed = [r for r in results if r.status == "failed"]
        if failed:  # every channel was tried; fail visibly so admins can filter on it
            summary = "; ".join(f"{r.channel}: {r.detail}" for r in failed)
            raise ApplicationError(f"delivery failed on {summary}", type="DeliveryFailed",
                                   non_retryable=True)
        return DeliverGrantResult(deliveries=list(results))

    async def _claim(self, input: DeliverGrantInput) -> DeliverResult | None:
        """A re-drive's guard: None when the row was claimed, else why it was refused."""
        grant, (channel,) = input.grant, input.grant.channels
        claim = await workflow.execute_activity(
            "claim_delivery_retry",
            ClaimRetryInput(tenant=grant.tenant, grant_id=grant.grant_id, channel=channel, retry=input.retry),
            result_type=ClaimRetryResult,
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"claim failed delivery via {channel} for retry {input.retry}",
        )
        if claim.claimed:
            return None
        return DeliverResult(channel=channel, status="refused", detail=claim.reason)

    async def _channel(self, input: DeliverGrantInput, channel: str) -> DeliverResult:
        grant = input.grant
        request = DeliverInput(tenant=grant.tenant, grant_id=grant.grant_id, channel=channel,
                               retry=input.retry)
        try:
            return await workflow.execute_activity(
                "deliver",
                request,
                result_type=DeliverResult,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,  # a dead worker is noticed in seconds
                retry_policy=DELIVERY_RETRY,
                summary=f"deliver {grant.achievement} via {channel}",
            )
        except ActivityError as err:
            reason = str(err.cause.message if err.cause is not None and hasattr(err.cause, "message")
                         else err.message)
            await workflow.execute_activity(
                "mark_delivery_failed",
                MarkFailedInput(tenant=grant.tenant, grant_id=grant.grant_id, channel=channel,
                                reason=reason),
                start_to_close_timeout=timedelta(seconds=30),
                summary=f"record failed delivery via {channel}",
            )
            return DeliverResult(channel=channel, status="failed", detail=reason)

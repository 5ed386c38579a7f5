"""DeliverGrantWorkflow: one per grant, id `deliver/<grant-id>`, every channel in parallel.

Each channel is the `deliver` activity with its own retries and backoff; rate limits arrive
as `next_retry_delay`. When a channel gives up (non-retryable, or out of attempts) its
delivery record is marked failed with the reason, and the other channels carry on; once all
channels are done, a workflow with a failed channel ends Failed, so the Temporal UI's
`ExecutionStatus = 'Failed'` finds exactly the grants that did not reach someone.

A channel the person's preferences hold back (`activities.pacing`) comes back `waiting` with
an `until`: the workflow sleeps on a Temporal timer until then (not a poll) and asks the
activity again, which re-checks the grant, the person and the preferences at that moment.
A channel that joins a digest is handed to `DigestWorkflow` (`join_digest`, signal-with-start)
and this workflow is done with it; the digest marks its row sent. The current details (the
Temporal UI's "current details") list each channel's status, ids and UTC times only.

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
        JoinDigestInput,
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


_MIN_WAIT = timedelta(seconds=1)  # a wait that is already over still yields once: no hot loop


@workflow.defn(name="DeliverGrantWorkflow")
class DeliverGrantWorkflow:
    def __init__(self) -> None:
        self._status: dict[str, str] = {}

    def _show(self, channel: str, status: str) -> None:
        self._status[channel] = status
        workflow.set_current_details("\n".join(f"{c}: {s}" for c, s in sorted(self._status.items())))

    @workflow.run
    async def run(self, input: DeliverGrantInput) -> DeliverGrantResult:
        for channel in input.grant.channels:
            self._show(channel, "queued")
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
        try:
            result = await self._deliver(input, channel)
            while result.status == "waiting" and result.digest is None and result.until is not None:
                self._show(channel, f"waiting ({result.detail}) until {result.until:%Y-%m-%d %H:%M} UTC")
                await workflow.sleep(max(result.until - workflow.now(), _MIN_WAIT),
                                     summary=f"{channel}: {result.detail}")
                result = await self._deliver(input, channel)
            if result.digest is not None:
                await self._join_digest(input, channel, result)
            self._show(channel, result.status + (f" ({result.detail})" if result.detail else ""))
            return result
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
            self._show(channel, f"failed ({reason})")
            return DeliverResult(channel=channel, status="failed", detail=reason)

    async def _deliver(self, input: DeliverGrantInput, channel: str) -> DeliverResult:
        grant = input.grant
        return await workflow.execute_activity(
            "deliver",
            DeliverInput(tenant=grant.tenant, grant_id=grant.grant_id, channel=channel, retry=input.retry),
            result_type=DeliverResult,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,  # a dead worker is noticed in seconds
            retry_policy=DELIVERY_RETRY,
            summary=f"deliver {grant.achievement} via {channel}",
        )

    async def _join_digest(self, input: DeliverGrantInput, channel: str, result: DeliverResult) -> None:
        grant = input.grant
        assert result.digest is not None and result.until is not None
        await workflow.execute_activity(
            "join_digest",
            JoinDigestInput(tenant=grant.tenant, person_id=grant.person_id, channel=channel,
                            period=result.digest, due=result.until, grant_id=grant.grant_id),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            summary=f"{channel}: join digest {result.digest}",
        )
        result.detail = f"digest {result.digest}"

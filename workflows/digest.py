"""DigestWorkflow: one per person, channel and period, id `digest/<tenant>/<person>/<channel>/<period>`.

A delivery whose person chose a digest hands its grant over with signal-with-start
(`join_digest`): the first grant of the period starts the workflow, later ones signal it
(`collect`). At the period's end (moved out of the person's quiet hours) it sends all
collected grants as ONE message (`send_digest`), which marks each grant's delivery row sent
with the digest's id. A grant that arrives while that send is running is sent right after,
as a second message, rather than lost; one that arrives after the workflow closed starts a
new run under the same id, which sends at once (its period is over). Ids only, no personal
data: the period key names a date, never a person.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        CollectGrant,
        DigestInput,
        DigestResult,
        MarkFailedInput,
        SendDigestInput,
        SendDigestResult,
    )
    from activities.liveness import HEARTBEAT_TIMEOUT
    from workflows.delivery import DELIVERY_RETRY

__all__ = ["DigestWorkflow", "digest_id"]


def digest_id(tenant: str, person_id: str, channel: str, period: str) -> str:
    return f"digest/{tenant}/{person_id}/{channel}/{period}"


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    def __init__(self) -> None:
        self._grants: list[str] = []
        self._sent: set[str] = set()

    @workflow.signal(name="collect")
    def collect(self, grant: CollectGrant) -> None:
        """One more grant for this digest; a grant collected twice is one entry."""
        if grant.grant_id not in self._grants:
            self._grants.append(grant.grant_id)
            workflow.set_current_details(f"{len(self._grants)} grant(s) collected")

    @workflow.run
    async def run(self, input: DigestInput) -> DigestResult:
        wait = input.due - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait, summary=f"until the end of {input.period}")
        sends = 0
        while pending := [g for g in self._grants if g not in self._sent]:
            await self._send(input, pending)
            self._sent.update(pending)
            sends += 1
        return DigestResult(sends=sends, grants=len(self._sent))

    async def _send(self, input: DigestInput, grant_ids: list[str]) -> None:
        request = SendDigestInput(tenant=input.tenant, person_id=input.person_id, channel=input.channel,
                                  digest_id=workflow.info().workflow_id, grant_ids=grant_ids)
        try:
            result = await workflow.execute_activity(
                "send_digest", request, result_type=SendDigestResult,
                start_to_close_timeout=timedelta(seconds=60), heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=DELIVERY_RETRY, summary=f"send {len(grant_ids)} grant(s) via {input.channel}")
            workflow.set_current_details(f"{result.status}: {result.grants} grant(s) in one message")
        except ActivityError as err:
            reason = str(getattr(err.cause, "message", None) or err.message)
            for grant_id in grant_ids:  # each grant's row shows why, and the dead-letter list has it
                await workflow.execute_activity(
                    "mark_delivery_failed",
                    MarkFailedInput(tenant=input.tenant, grant_id=grant_id, channel=input.channel,
                                    reason=f"digest: {reason}"),
                    start_to_close_timeout=timedelta(seconds=30), summary="record failed digest")
            workflow.set_current_details(f"failed: {reason}")

"""PollWorkflow: one per polling connector instance, id `poll/<tenant>/<connector-id>`.

Each run is one cycle: wait for the interval timer, or a `poke` (from `accolade connectors
poll-now ID`, or from a webhook of the same instance: webhooks are hints), then run the
`poll_connector` activity, which pages with heartbeats so a retry resumes mid-page and stores
each page with its cursor in one transaction; then continue as new. One workflow id and one
activity at a time mean the instance never polls twice at once.

A cycle that fails after its retries (or at once, for a permanent failure such as a revoked
token) is recorded on the connector's health by the activity; the poller then waits its
interval times 2^failures (at most 1 h): a failing connector is not retried hot. The
current details say the cursor, the last cycle's pages and events, and the last error.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import PollCycleInput, PollCycleResult, PollerInput
    from activities.liveness import HEARTBEAT_TIMEOUT

__all__ = ["CYCLE_ATTEMPTS", "PollWorkflow", "poller_id"]

CYCLE_ATTEMPTS = 3  # attempts of one cycle (resuming from the last heartbeat) before it fails
_MAX_WAIT = timedelta(hours=1)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                     maximum_interval=timedelta(minutes=1), maximum_attempts=CYCLE_ATTEMPTS,
                     non_retryable_error_types=["Permanent"])


def poller_id(tenant: str, connector: str) -> str:
    return f"poll/{tenant}/{connector}"


@workflow.defn(name="PollWorkflow")
class PollWorkflow:
    def __init__(self) -> None:
        self._poked = False

    @workflow.signal
    def poke(self) -> None:
        """Poll now (a webhook arrived, or an admin asked)."""
        self._poked = True

    @workflow.run
    async def run(self, input: PollerInput) -> str:
        workflow.set_current_details(input.details or "waiting for the first cycle")
        if input.wait_first:
            await self._wait(input)
        self._poked = False
        failures, every = input.failures, input.every_seconds
        try:
            result = await workflow.execute_activity(
                "poll_connector", PollCycleInput(tenant=input.tenant, connector=input.connector),
                result_type=PollCycleResult,
                start_to_close_timeout=timedelta(minutes=30),  # a long backfill; heartbeats notice death
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=_RETRY,
                summary=f"poll {input.tenant}/{input.connector}",
            )
        except ActivityError as exc:
            failures += 1
            details = f"cycle failed ({failures} in a row): {_reason(exc)}"
        else:
            if result.paused:
                workflow.set_current_details("paused: the connector is disabled or does not poll")
                return "paused"
            failures, every = 0, result.every_seconds
            details = (f"cursor {_with_age(result.cursor)}; last cycle {result.pages} page(s), "
                       f"{result.records} record(s), {result.accepted} new event(s), "
                       f"{result.quarantined} quarantined; last error: none")
        workflow.set_current_details(details)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(input.model_copy(update={
            "wait_first": not self._poked, "failures": failures, "every_seconds": every,
            "details": details}))

    async def _wait(self, input: PollerInput) -> None:
        wait = min(timedelta(seconds=input.every_seconds) * (2 ** min(input.failures, 12)), _MAX_WAIT)
        if input.failures:
            wait = max(wait, timedelta(seconds=input.every_seconds))
        try:
            await workflow.wait_condition(lambda: self._poked, timeout=wait)
        except TimeoutError:
            pass


def _with_age(cursor: str | None) -> str:
    if cursor is None:
        return "not set"
    age = workflow.now() - datetime.fromisoformat(cursor)
    return f"{cursor} (age {int(age.total_seconds())} s at the end of the cycle)"


def _reason(exc: ActivityError) -> str:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return cause.message[:300]
    return type(cause).__name__ if cause is not None else "unknown"

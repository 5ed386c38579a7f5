"""ConnectorWatchWorkflow: one per tenant, id `watch/<tenant>`, the connector alarms' clock.

Every `every_seconds` (60 s by default) it runs the `check_connectors` activity, which judges
each connector (silent, failing, drift: `intake.alarms`), opens or resolves incidents and
tells each one exactly once. The workflow only keeps time and carries the state the alarms
need between rounds (`WatchState`: when each connector was first seen, and the drift
window's counters; ids and counts only, no personal data), across continue-as-new, which it
does when the server suggests it or after `rounds_per_run` rounds. A round that fails after
its retries (the store away) is skipped with its reason in the current details; the next
round tries again with the same state.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import CheckConnectorsInput, CheckConnectorsResult, WatchInput

__all__ = ["ConnectorWatchWorkflow", "watcher_id"]

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                     maximum_attempts=5)


def watcher_id(tenant: str) -> str:
    return f"watch/{tenant}"


@workflow.defn(name="ConnectorWatchWorkflow")
class ConnectorWatchWorkflow:
    @workflow.run
    async def run(self, input: WatchInput) -> None:
        state, rounds = input.state, input.rounds
        for n in range(input.rounds_per_run):
            if n:
                await workflow.sleep(timedelta(seconds=input.every_seconds))
            try:
                result = await workflow.execute_activity(
                    "check_connectors", CheckConnectorsInput(tenant=input.tenant, state=state),
                    result_type=CheckConnectorsResult,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=_RETRY,
                    summary=f"check connectors of {input.tenant}",
                )
            except ActivityError as exc:
                workflow.set_current_details(f"round {rounds + 1} failed: {exc.cause or exc}"[:300])
            else:
                state = result.state
                workflow.set_current_details(_details(rounds + 1, result))
            rounds += 1
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(input.model_copy(update={"state": state, "rounds": rounds}))


def _details(round_no: int, result: CheckConnectorsResult) -> str:
    opened = ", ".join(result.opened) or "none"
    resolved = ", ".join(result.resolved) or "none"
    return (f"round {round_no}: {len(result.state.first_seen)} connector(s) watched; "
            f"opened {opened}; resolved {resolved}; {result.notified} notice(s) sent")

"""EvaluatorWorkflow: one per (tenant, shard), id `evaluate/<tenant>/<shard>`.

Woken by the coalesced `notify` signal (the receiver sends at most one per shard per ~100 ms),
by the shard's next due time, or by its own wake timer, so a lost notification only delays.
Each round is one activity that reads a batch and the keys that came due, evaluates them
and commits every effect in one transaction; then undispatched grants get their delivery
workflows (the outbox). No Temporal operation per event.

Time is Temporal's: each round passes `workflow.now()` as rule time, and the activity
answers with the shard's earliest due time (a window close, a streak deadline, a
maintained-for completion). The workflow sleeps until the earliest of that instant, the wake
timer (`temporal.evaluator_wake`) and a notification: one timer per shard, none per person
or rule, and no cron. The due time is carried across continue-as-new, though the first round
of a new run looks anyway and learns it again from the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        DispatchInput,
        DispatchResult,
        EvaluateShardInput,
        EvaluateShardResult,
        EvaluatorInput,
    )
    from activities.liveness import HEARTBEAT_TIMEOUT

__all__ = ["EvaluatorWorkflow", "evaluator_id"]

ROUNDS_PER_RUN = 250  # keep histories short even when the server does not suggest it yet
# Shards of one tenant start together and run at one rate, so with one limit they would all
# continue as new at one moment (at ~55 s of a 2,000 ev/s run, where two of six runs showed a
# stall of every shard at once). Each shard's limit is offset so that the restarts spread out.
_STAGGER = 37
_STAGGER_SPAN = 150


# A due time that a round did not move past `now` (a clock step, a rule that keeps its due)
# would otherwise wake the shard in a tight loop; it is retried after this pause instead.
_MIN_DUE_PAUSE = timedelta(seconds=1)


def rounds_per_run(shard: int) -> int:
    return ROUNDS_PER_RUN + (shard * _STAGGER) % _STAGGER_SPAN


_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


def evaluator_id(tenant: str, shard: int) -> str:
    return f"evaluate/{tenant}/{shard}"


@workflow.defn(name="EvaluatorWorkflow")
class EvaluatorWorkflow:
    def __init__(self) -> None:
        self._dirty = True  # a fresh run (or continue-as-new) always looks once
        self._rounds = 0
        self._next_due: datetime | None = None

    @workflow.signal
    def notify(self) -> None:
        """New events were appended to this shard."""
        self._dirty = True

    @workflow.query
    def rounds(self) -> int:
        return self._rounds

    @workflow.query
    def next_due(self) -> datetime | None:
        return self._next_due

    @workflow.run
    async def run(self, input: EvaluatorInput) -> None:
        self._rounds = input.rounds
        self._next_due = input.next_due
        for _ in range(rounds_per_run(input.shard)):
            await self._wait_for_work(input.wake_seconds)
            await self._round(input)
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info("continuing as new after %d rounds", self._rounds)
        carried = {"rounds": self._rounds, "next_due": self._next_due}
        workflow.continue_as_new(input.model_copy(update=carried))

    def _wait(self, wake_seconds: float) -> timedelta:
        """Until the wake timer or the next due time, whichever is first."""
        wait = timedelta(seconds=wake_seconds)
        if self._next_due is not None:
            wait = min(wait, self._next_due - workflow.now())
        return wait

    async def _wait_for_work(self, wake_seconds: float) -> None:
        # Without a due time this is exactly the wait of the runs before due times existed (one
        # wait_condition with the wake timer), so their histories replay unchanged.
        wait = self._wait(wake_seconds)
        if wait > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self._dirty, timeout=wait)
            except TimeoutError:
                pass  # due time or timer wake: look anyway
        self._dirty = False

    async def _round(self, input: EvaluatorInput) -> None:
        now = workflow.now()
        result = await workflow.execute_activity(
            "evaluate_shard",
            EvaluateShardInput(tenant=input.tenant, shard=input.shard, batch_size=input.batch_size, now=now),
            result_type=EvaluateShardResult,
            start_to_close_timeout=timedelta(seconds=10),  # a batch takes well under 1 s
            heartbeat_timeout=HEARTBEAT_TIMEOUT,  # a dead worker is noticed in seconds
            retry_policy=_RETRY,
            summary=f"evaluate batch of shard {input.tenant}/{input.shard}",
        )
        self._rounds += 1
        if result.undispatched:
            await workflow.execute_activity(
                "dispatch_grants",
                DispatchInput(grants=result.undispatched),
                result_type=DispatchResult,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=_RETRY,
                summary=f"start delivery of {len(result.undispatched)} grant(s)",
            )
        if result.more:
            self._dirty = True
        self._next_due = result.next_due
        if self._next_due is not None and self._next_due <= workflow.now():
            self._next_due = workflow.now() + _MIN_DUE_PAUSE
        workflow.set_current_details(
            f"round {self._rounds}: {result.processed} event(s), {result.due} due, "
            f"{result.grants} new grant(s), {result.skipped} skipped; next due {_when(self._next_due)}"
        )


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"

"""How fast Temporal notices a dead worker, and the heartbeats that make it fast.

A worker killed mid-task leaves three kinds of work behind, each held until a timeout:

- an activity attempt it had started: held until the attempt's start-to-close timeout
  (10–30 s here) unless it heartbeats. Long activities heartbeat while they run (a side
  thread, `heartbeating`, or a side task, `heartbeating_async`) with `HEARTBEAT_TIMEOUT`,
  so a dead attempt is retried within seconds;
- a workflow task it had taken (a long poll of the dead process can still be handed one):
  held for the workflow task timeout, Temporal's default 10 s; ours is
  `WORKFLOW_TASK_TIMEOUT`, set when evaluators and deliveries start;
- workflow tasks queued on its sticky queue (the workflows it had cached): held for the
  sticky schedule-to-start timeout, the SDK's default 10 s; ours is `STICKY_TIMEOUT`.

These heartbeats say "this process is alive", not "progress was made": a live attempt that is
stuck is still bounded by start-to-close. An attempt declared dead while it was only slow is
harmless: `evaluate_shard` and `deliver` are guarded against a racing second attempt.

Pure of I/O imports: workflows import the timeouts from here.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta

from temporalio import activity

__all__ = [
    "HEARTBEAT_EVERY",
    "HEARTBEAT_THROTTLE",
    "HEARTBEAT_TIMEOUT",
    "STICKY_TIMEOUT",
    "WORKFLOW_TASK_TIMEOUT",
    "heartbeating",
    "heartbeating_async",
]

HEARTBEAT_TIMEOUT = timedelta(seconds=3)
# The SDK sends at most one heartbeat per min(80 % of the timeout, this); 1 s leaves the
# server 2 s of slack before it declares a live attempt dead.
HEARTBEAT_THROTTLE = timedelta(seconds=1)
HEARTBEAT_EVERY = 0.5  # seconds between calls; the SDK coalesces them to HEARTBEAT_THROTTLE
STICKY_TIMEOUT = timedelta(seconds=3)
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)  # our workflow tasks take milliseconds


@contextmanager
def heartbeating(every: float = HEARTBEAT_EVERY) -> Iterator[None]:
    """Heartbeat from a side thread while the body runs (a sync activity on a thread pool).

    Outside an activity (a test calling the method directly) it does nothing.
    """
    if not activity.in_activity():
        yield
        return
    context = contextvars.copy_context()  # the activity's context lives in a contextvar
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            context.run(activity.heartbeat)

    activity.heartbeat()
    thread = threading.Thread(target=beat, name="activity-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@asynccontextmanager
async def heartbeating_async(every: float = HEARTBEAT_EVERY) -> AsyncIterator[None]:
    """The same for an async activity: a task on the worker's loop beats while the body runs."""
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.get_running_loop().create_task(beat())  # copies the activity's context
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

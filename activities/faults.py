"""Crash points for the kill tests: a real `os._exit` at a named point, armed once.

Set `ACCOLADE_CRASH_AT=<point>` and `ACCOLADE_CRASH_ONCE=<file>`; the first time the worker
reaches that point while the file exists, it deletes the file and exits the process at once,
as a killed worker would. Unset (always, outside tests) it does nothing.

`<point>@<scope>` narrows a point to one scope, e.g. `deliver:after-send@console`: activities of
one grant run side by side, and a crash in one of them may cut another mid-way; a test that
counts one channel's output crashes in that channel's own activity.
"""

from __future__ import annotations

import os
import sys

__all__ = ["POINTS", "crash_point"]

POINTS = (
    "evaluate:before-commit",   # effects computed, transaction still open
    "evaluate:after-commit",    # grants committed, the activity's result not yet reported
    "dispatch:before-start",    # the outbox hand-off: grants committed, no delivery workflow yet
    "dispatch:before-mark",     # delivery workflows started, grants not yet marked dispatched
    "deliver:after-send",       # console/feed written and marked sent, result not yet reported;
                                # email/webhook accepted by the server, delivery not yet recorded
    "deliver:after-slack",      # Slack answered, the delivery record not yet written
)


def crash_point(name: str, *, scope: str | None = None) -> None:
    assert name in POINTS, f"unknown crash point {name!r}"
    armed = os.environ.get("ACCOLADE_CRASH_AT")
    if armed != name and (scope is None or armed != f"{name}@{scope}"):
        return
    marker = os.environ.get("ACCOLADE_CRASH_ONCE", "")
    try:
        os.unlink(marker)
    except OSError:
        return  # already crashed once (or not armed)
    print(f"accolade worker: crash point {name} reached, exiting", file=sys.stderr, flush=True)
    os._exit(70)

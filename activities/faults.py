"""Crash points for the kill tests: a real `os._exit` at a named point, armed once.

Set `ACCOLADE_CRASH_AT=<point>` and `ACCOLADE_CRASH_ONCE=<file>`; the first time the worker
reaches that point while the file exists, it deletes the file and exits the process at once,
as a killed worker would. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import sys

__all__ = ["POINTS", "crash_point"]

POINTS = ("evaluate:before-commit", "evaluate:after-commit", "deliver:after-send", "deliver:after-slack")


def crash_point(name: str) -> None:
    if os.environ.get("ACCOLADE_CRASH_AT") != name:
        return
    marker = os.environ.get("ACCOLADE_CRASH_ONCE", "")
    try:
        os.unlink(marker)
    except OSError:
        return  # already crashed once (or not armed)
    print(f"accolade worker: crash point {name} reached, exiting", file=sys.stderr, flush=True)
    os._exit(70)

"""The receiver's notifier keeps a shard dirty until its evaluator was really woken.

The client is a stand-in passed through the notifier's own door (it takes the client): the
point is what the notifier does when Temporal refuses, which a real, healthy dev server never
does on demand. `tests/e2e/test_up.py` covers the real restart of a dev server.
"""

from __future__ import annotations

from typing import Any

import pytest

from activities.temporal_client import EvaluatorNotifier
from tests.factories import make_config


class FlakyTemporal:
    """Refuses the first `refusals` starts, as a restarting server would; records the rest."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.woken: list[str] = []

    async def start_workflow(self, workflow: str, arg: Any, *, id: str, **_: Any) -> None:
        if self.refusals:
            self.refusals -= 1
            raise RuntimeError("Temporal unavailable")
        self.woken.append(id)


async def test_a_failed_wake_up_is_retried_on_the_next_round(caplog: pytest.LogCaptureFixture) -> None:
    temporal = FlakyTemporal(refusals=2)
    notifier = EvaluatorNotifier(temporal, make_config("sqlite://"))  # type: ignore[arg-type]
    notifier.mark_dirty("demo", {2, 0})
    await notifier.flush()
    await notifier.flush()
    assert temporal.woken == []
    await notifier.flush()
    assert temporal.woken == ["evaluate/demo/0", "evaluate/demo/2"]
    await notifier.flush()
    assert temporal.woken == ["evaluate/demo/0", "evaluate/demo/2"]  # clean again: no repeats
    warnings = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "retrying" in warnings[0]  # one line per outage, not per round

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


@pytest.mark.temporal
async def test_a_receiver_started_while_temporal_was_down_connects_later(temporal_env) -> None:  # noqa: ANN001
    """No client at start (Temporal unreachable): shards stay dirty, then the notifier connects."""
    import uuid

    from config import parse_config
    from tests.factories import CONFIG_TEXT, ENV

    target = temporal_env.client.service_client.config.target_host
    tenant = f"t{uuid.uuid4().hex[:8]}"
    text = CONFIG_TEXT.replace("id: demo", f"id: {tenant}").replace(
        'store: {url: "sqlite:///unused.db"}',
        f'store: {{url: "sqlite://"}}\ntemporal: {{address: "127.0.0.1:1", namespace: default, task_queue: q-{tenant}}}')
    down = parse_config(text, file="t.yaml", env=ENV)
    notifier = EvaluatorNotifier(None, down, reconnect=0)
    notifier.mark_dirty(tenant, {1})
    await notifier.flush()  # nothing listens on 127.0.0.1:1
    assert notifier.client is None
    notifier.config = parse_config(text.replace("127.0.0.1:1", target), file="t.yaml", env=ENV)
    await notifier.flush()  # Temporal is "back": connect, then wake
    assert notifier.client is not None
    handle = notifier.client.get_workflow_handle(f"evaluate/{tenant}/1")
    assert (await handle.describe()).id == f"evaluate/{tenant}/1"
    await handle.terminate("test finished")

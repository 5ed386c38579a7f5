"""A grant and its message, as the delivery activity hands them to a channel."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.messages import Message
from channels import Delivery, GrantView

GRANT = GrantView(
    grant_id="0b5e7c1e-6f0a-4c8e-9a52-3f1f2d9b1a11", tenant="demo", person_id="demo-1",
    achievement="first-green-pipeline", version=1, name="First green pipeline",
    granted_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    evidence={"count": 1, "events": ["/accolade/demo/github#workflow_run:289782451:1:success"]},
)
MESSAGE = Message(title="First green pipeline", why="1 ci.pipeline.completed event (you have 1) <b>",
                  next="Keep it green & ten more earn the next badge.")


def delivery(channel_id: str, recipient: str, *, attempt: int = 1) -> Delivery:
    return Delivery(channel_id, GRANT, MESSAGE, recipient, attempt)

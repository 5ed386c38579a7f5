"""Canvas LMS, by polling (DESIGN §8): graded submissions and course completions.

When `url` is set, the poll workflow pages each named course (or each course of `account_id`)
from the cursor: graded submissions → `lms.assignment.graded` (`submission:<id>:<attempt>`),
learners' `course_progress.completed_at` → `lms.course.completed`
(`course_progress:<course>:<user>:<completed_at>`). `client.py` is the only I/O (httpx; the
transport is the seam tests use); `records.py` maps records, pure, so a quarantined record can
be parsed again. Learners are `canvas:id=<user id>`, with `login_id` and `email` as
attributes. Canvas has no webhooks for these facts that reach an outside hub without Live
Events infrastructure, so this connector only polls.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Cursor, Page, PollingConnector, PollSettings, RecordResult
from connectors.canvas import client as _client
from connectors.canvas.records import SYSTEM, parse_record
from connectors.canvas.settings import CanvasSettings

__all__ = ["CONNECTOR", "SYSTEM", "CanvasConnector", "CanvasSettings"]


class CanvasConnector(PollingConnector):
    """A poller of Canvas's REST API; tests pass a client built on their own transport."""

    vendor = SYSTEM
    settings = CanvasSettings

    def polls(self, settings: CanvasSettings) -> bool:
        return bool(settings.url)

    def poll_settings(self, settings: CanvasSettings) -> PollSettings:
        return settings.poll

    def client(self, settings: CanvasSettings) -> Any:
        return _client.build_client(settings)

    def fetch_page(self, client: Any, settings: CanvasSettings, cursor: Cursor) -> Page:
        return _client.fetch_page(client, settings, cursor)

    def parse_page(self, page: Page, *, source: str) -> list[RecordResult]:
        return [parse_record(raw, source=source) for raw in page.records]


CONNECTOR = CanvasConnector()

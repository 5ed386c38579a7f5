"""Canvas records → events (pure): what a learner's grade and completion become."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Page
from connectors.canvas import CONNECTOR
from connectors.canvas.records import parse_record

FIXTURES = Path(__file__).parent / "fixtures"
SOURCE = "/accolade/demo/canvas"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_a_graded_submission_is_an_assignment_graded_with_score_and_points_possible() -> None:
    [event] = parse_record(fixture("submission_graded"), source=SOURCE).events
    assert (event.type, event.id, event.source) == ("lms.assignment.graded", "submission:5001:2", SOURCE)
    assert event.data["actor"] == {"system": "canvas", "id": "201"}
    assert (event.data["score"], event.data["score_raw"], event.data["score_max"]) == (0.85, 8.5, 10.0)
    assert (event.data["course"], event.data["assignment"], event.data["assignment_name"]) == \
        ("101", "301", "Phishing quiz")
    assert event.time.isoformat() == "2026-11-30T09:15:00+00:00"


def test_a_regrade_of_the_same_attempt_is_the_same_event_and_a_new_attempt_is_another() -> None:
    regraded = fixture("submission_graded")
    regraded["submission"].update(score=9.5, graded_at="2026-11-30T11:00:00Z")
    again = fixture("submission_graded")
    again["submission"]["attempt"] = 3
    ids = [parse_record(r, source=SOURCE).events[0].id for r in (fixture("submission_graded"), regraded, again)]
    assert ids == ["submission:5001:2", "submission:5001:2", "submission:5001:3"]


@pytest.mark.parametrize("change", [{"excused": True, "score": None}, {"score": None},
                                    {"workflow_state": "pending_review"}])
def test_an_excused_or_ungraded_submission_maps_to_nothing(change: dict[str, Any]) -> None:
    record = fixture("submission_graded")
    record["submission"].update(change)
    result = parse_record(record, source=SOURCE)
    assert result.error is None and result.events == []


def test_extra_credit_caps_the_scaled_score_and_keeps_the_raw_one() -> None:
    record = fixture("submission_graded")
    record["submission"]["score"] = 12
    [event] = parse_record(record, source=SOURCE).events
    assert (event.data["score"], event.data["score_raw"]) == (1.0, 12.0)


def test_a_completion_is_a_course_completed_of_the_learner_with_login_and_email() -> None:
    [event] = parse_record(fixture("course_progress_completed"), source=SOURCE).events
    assert event.type == "lms.course.completed"
    assert event.id == "course_progress:101:201:2026-11-30T16:30:00Z"  # completed_at in UTC
    assert event.data["actor"] == {"system": "canvas", "id": "201", "login": "ada", "email": "ada@example.com"}
    assert (event.data["course"], event.data["enrollment_state"]) == ("101", "completed")


def test_a_concluded_enrollment_without_completed_at_grants_nothing() -> None:
    record = fixture("course_progress_completed")
    record["progress"].update(completed_at=None, requirement_completed_count=1)
    assert record["user"]["enrollments"][0]["enrollment_state"] == "completed"
    result = parse_record(record, source=SOURCE)
    assert result.error is None and result.events == []


def test_a_completion_before_the_cycles_lower_bound_is_not_mapped_again() -> None:
    record = fixture("course_progress_completed")
    record["since"] = "2026-12-01T00:00:00+00:00"
    assert parse_record(record, source=SOURCE).events == []


@pytest.mark.parametrize(("path", "value", "reason"), [
    (("submission", "user_id"), None, "submission.user_id"),
    (("submission", "graded_at"), None, "graded_at is missing"),
    (("submission", "score"), "lots", "submission.score"),
    (("user", "id"), "ada", "user.id"),
    (("kind",), "quiz", "unknown record kind"),
])
def test_a_broken_record_is_a_per_record_error_naming_the_field(path: tuple[str, ...], value: Any,
                                                                 reason: str) -> None:
    record = copy.deepcopy(fixture("course_progress_completed" if path[0] == "user" else "submission_graded"))
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    result = parse_record(record, source=SOURCE)
    assert result.events == [] and result.error is not None and reason in result.error.reason


def test_one_bad_record_does_not_stop_the_page() -> None:
    page = Page(records=[fixture("submission_graded"), {"kind": "submission"}, fixture("course_progress_completed")])
    results = CONNECTOR.parse_page(page, source=SOURCE)
    assert [bool(r.events) for r in results] == [True, False, True]
    assert results[1].error is not None and results[1].updated is None

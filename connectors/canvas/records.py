"""Polled Canvas records → events (pure). A record is what `fetch_page` puts on a page:

    {"kind": "submission", "course": "<course>",
     "submission": <a Submission with include[]=assignment>}            # Submissions API
    {"kind": "course_progress", "course": "<course>", "since": "<ISO time>",
     "user": <a User with include[]=enrollments, email>,                 # Users API
     "progress": <a CourseProgress>}                                      # Courses API

Everything the mapping needs travels inside the record, so a quarantined record can be parsed
again later without the server.

- A graded submission → `lms.assignment.graded`, id `submission:<id>:<attempt>` (a regrade of
  the same attempt is the same event; an attempt of null, a grade without a submission, is
  0). Data: `score` scaled to points possible (capped at 1: extra credit stays in
  `score_raw`), `score_raw`, `score_max` (the assignment's `points_possible`), `grade`,
  `assignment`, `assignment_name`, `course`, `attempt`, `late`. An excused or ungraded
  submission maps to nothing.
- A learner's `course_progress.completed_at` → `lms.course.completed`, id
  `course_progress:<course>:<user>:<completed_at in UTC>`, when it is at or after `since`
  (older ones were read by an earlier cycle or predate the poller's start: backfill is
  explicit, by `poll.since`). An enrollment in state `completed` only means the course was
  concluded: it is kept as `enrollment_state` and grants nothing on its own.
- Learners are `canvas` identities: `id` the Canvas user id, `login` its `login_id` and
  `email`, when Canvas shows them, as attributes.

Records carry no `updated`: Canvas returns neither list in time order, so the cursor moves
only when a cycle completes (to its start), never to a mid-cycle maximum.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from connectors.base import PayloadError, RecordResult
from connectors.mapping import Draft, as_utc, first_error, short, to_event

__all__ = ["SYSTEM", "parse_record", "progress_record", "submission_record"]

SYSTEM = "canvas"


def _int_id(value: object) -> object:
    """Canvas ids are integers (strings with `Accept: application/json+canvas-string-ids`)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool):
        raise ValueError("an id must be an integer")
    return value


Id = Annotated[int, BeforeValidator(_int_id)]
Time = Annotated[datetime | None, AfterValidator(as_utc)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Assignment(_Model):
    id: Id | None = None
    name: str | None = None
    points_possible: Number | None = None
    course_id: Id | None = None


class Submission(_Model):
    id: Id
    user_id: Id
    assignment_id: Id | None = None
    attempt: int | None = None
    score: Number | None = None
    grade: str | None = None
    graded_at: Time = None
    workflow_state: str | None = None
    excused: bool | None = None
    late: bool | None = None
    assignment: Assignment | None = None


class Enrollment(_Model):
    course_id: Id | None = None
    type: str | None = None
    enrollment_state: str | None = None


class User(_Model):
    id: Id
    login_id: str | None = None
    email: str | None = None
    enrollments: list[Enrollment] = []


class Progress(_Model):
    requirement_count: int | None = None
    requirement_completed_count: int | None = None
    completed_at: Time = None


class SubmissionRecord(_Model):
    kind: Literal["submission"]
    course: str
    submission: Submission


class ProgressRecord(_Model):
    kind: Literal["course_progress"]
    course: str
    user: User
    progress: Progress
    since: Time = None


def submission_record(course: str, submission: Any) -> dict[str, Any]:
    return {"kind": "submission", "course": course, "submission": submission}


def progress_record(course: str, user: Any, progress: Any, since: datetime) -> dict[str, Any]:
    return {"kind": "course_progress", "course": course, "user": user, "progress": progress,
            "since": since.isoformat()}


def _actor(user_id: int, login: str | None = None, email: str | None = None) -> dict[str, str]:
    found = {"id": str(user_id), "login": login, "email": email}
    return {"system": SYSTEM, **{k: v for k, v in found.items() if v}}


def _scaled(score: float, points: float | None) -> float | None:
    if not points or points <= 0:
        return None
    return max(-1.0, min(1.0, round(score / points, 6)))


def submission_draft(record: SubmissionRecord) -> Draft | None:
    """`lms.assignment.graded`, or None when the submission carries no grade to count."""
    sub = record.submission
    if sub.excused or sub.score is None or sub.workflow_state not in (None, "graded"):
        return None
    if sub.graded_at is None:
        raise PayloadError("submission.graded_at is missing on a graded submission")
    assignment = sub.assignment or Assignment()
    course = assignment.course_id if assignment.course_id is not None else record.course
    attempt = sub.attempt or 0
    data = {"course": str(course), "assignment": str(sub.assignment_id or assignment.id or ""),
            "assignment_name": assignment.name, "score": _scaled(sub.score, assignment.points_possible),
            "score_raw": sub.score, "score_max": assignment.points_possible, "grade": sub.grade,
            "attempt": attempt, "late": sub.late}
    return Draft(type="lms.assignment.graded", stable_id=f"submission:{sub.id}:{attempt}",
                 time=sub.graded_at, actor=_actor(sub.user_id), subject=str(course), data=data)


def _enrollment(user: User) -> Enrollment | None:
    students = [e for e in user.enrollments if e.type in (None, "StudentEnrollment")]
    return students[0] if students else None


def progress_draft(record: ProgressRecord) -> Draft | None:
    """`lms.course.completed` once the learner met every requirement at or after `since`."""
    done = record.progress.completed_at
    if done is None or (record.since is not None and done < record.since):
        return None
    enrollment = _enrollment(record.user)
    course = str(enrollment.course_id) if enrollment and enrollment.course_id else record.course
    stamp = done.strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {"course": course, "requirement_count": record.progress.requirement_count,
            "requirement_completed_count": record.progress.requirement_completed_count,
            "enrollment_state": enrollment.enrollment_state if enrollment else None}
    user = record.user
    return Draft(type="lms.course.completed", stable_id=f"course_progress:{course}:{user.id}:{stamp}",
                 time=done, actor=_actor(user.id, user.login_id, user.email), subject=course, data=data)


def _key(raw: Any) -> str:
    if not isinstance(raw, dict):
        return "?"
    inner = raw.get("submission") if raw.get("kind") == "submission" else raw.get("user")
    found = inner.get("id") if isinstance(inner, dict) else None
    if not isinstance(found, str | int) or isinstance(found, bool):
        return "?"
    if raw.get("kind") == "submission":
        return short(f"submission:{found}", 60)
    return short(f"course_progress:{raw.get('course')}:{found}", 60)


def _draft(raw: dict[str, Any]) -> Draft | None:
    kind = raw.get("kind")
    if kind == "submission":
        return submission_draft(SubmissionRecord.model_validate(raw))
    if kind == "course_progress":
        return progress_draft(ProgressRecord.model_validate(raw))
    raise PayloadError(f"kind: unknown record kind {short(kind, 40)!r}")


def parse_record(raw: Any, *, source: str) -> RecordResult:
    """One record's events, or the PayloadError that quarantines it; never raises."""
    key = _key(raw)
    if not isinstance(raw, dict):
        return RecordResult(key=key, raw=raw, error=PayloadError("record must be an object"))
    try:
        draft = _draft(raw)
        events = [] if draft is None else [to_event(draft, source=source, delivery_id=None)]
    except ValidationError as exc:
        return RecordResult(key=key, raw=raw, error=PayloadError(first_error(exc)))
    except (PayloadError, ValueError, OverflowError) as exc:
        error = exc if isinstance(exc, PayloadError) else PayloadError(short(str(exc), 200))
        return RecordResult(key=key, raw=raw, error=error)
    return RecordResult(key=key, raw=raw, events=events)

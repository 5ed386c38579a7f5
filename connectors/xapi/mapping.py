"""xAPI statements → canonical `lms.*` events (DESIGN §8), and learners → identities.

Verbs:

- `passed` / `failed` → `lms.assessment.passed` / `.failed`;
- `completed` with `result.success` set, on an assessment (activity type assessment, quiz,
  exam, interaction, question) → `lms.assessment.passed` or `.failed`: Moodle's
  logstore_xapi reports a passed quiz attempt as `completed` with `success: true`;
- otherwise `completed` → `lms.course.completed` when the activity type is a course, else
  `lms.activity.completed`;
- `attempted`, `answered`, `experienced` → `lms.activity.attempted` / `.answered` / `.experienced`;
- cmi5 `satisfied` → `lms.course.completed`;
- cmi5 `launched`, `initialized`, `terminated`, `abandoned`, `waived`, every other verb, and
  voiding statements map to nothing: the statement is stored and counted as ignored.

Data: `activity` (the object's IRI), `activity_type`, `activity_name` (the first language of
the definition's name map, as sent), `score` (scaled), `score_raw`, `score_max`, `success`,
`completion`, `duration` (seconds) with `duration_iso` (the text), `registration`, `verb`.
The event `time` is the statement's `timestamp`, else `stored`. Its `id` is the statement id.

Learners: `mbox` → `email` (the LMS verified it: trusted for linking); `mbox_sha1sum` → the
system `mbox_sha1sum` (a link of an email derives that key, `identity.resolve`); `account` →
`<account_system>:id=<name>` with `homePage` kept beside it as an attribute. The key is the
name alone: one connector instance stands for one LMS, whose accounts share one homePage, so
the system the instance declares already says which site the name belongs to (two Moodle
sites need two connector instances with two systems). `openid` → the system `openid`, keyed
by the IRI. A group actor credits each member, each event with the id
`<statement id>:member:<n>` (members in the order of their keys, so a re-post of the same
group in another order makes the same ids); a group without members credits nobody.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from connectors.errors import PayloadError
from connectors.mapping import Draft, to_event
from connectors.xapi.model import VOIDED, Activity, Agent, Group, Statement, parse_timestamp
from rules.events import CloudEvent

__all__ = ["ADL", "CMI5_DROPPED", "actor_of", "map_statement", "seconds_of"]

ADL = "http://adlnet.gov/expapi/verbs/"
_CMI5 = "https://w3id.org/xapi/adl/verbs/"
CMI5_DROPPED = frozenset({ADL + "launched", ADL + "initialized", ADL + "terminated",
                          _CMI5 + "abandoned", _CMI5 + "waived"})
_SIMPLE = {
    ADL + "passed": "lms.assessment.passed",
    ADL + "failed": "lms.assessment.failed",
    ADL + "attempted": "lms.activity.attempted",
    ADL + "answered": "lms.activity.answered",
    ADL + "experienced": "lms.activity.experienced",
    _CMI5 + "satisfied": "lms.course.completed",
}
_COMPLETED = ADL + "completed"
_ASSESSMENT_TYPES = frozenset({
    "http://adlnet.gov/expapi/activities/assessment", "http://adlnet.gov/expapi/activities/interaction",
    "http://adlnet.gov/expapi/activities/question", "http://id.tincanapi.com/activitytype/quiz",
    "http://id.tincanapi.com/activitytype/exam", "http://id.tincanapi.com/activitytype/lms/quiz",
})
_COURSE_TYPES = frozenset({"http://adlnet.gov/expapi/activities/course",
                           "http://id.tincanapi.com/activitytype/lms/course"})


def map_statement(statement: Statement, *, source: str, account_system: str,
                  stored: datetime) -> tuple[list[CloudEvent], str | None]:
    """The events of one validated statement (with its id set), or why it maps to none."""
    kind = _event_type(statement)
    if kind is None:
        return [], _why_ignored(statement)
    actors = _actors(statement, account_system)
    if not actors:
        return [], "group without members: nobody to credit"
    time = parse_timestamp(statement.timestamp) if statement.timestamp else stored
    data = _data(statement)
    subject = data.get("activity")
    assert statement.id is not None  # the receiver sets it before mapping
    events = []
    for n, actor in enumerate(actors):
        stable = statement.id if len(actors) == 1 and not isinstance(statement.actor, Group) \
            else f"{statement.id}:member:{n}"
        events.append(to_event(Draft(kind, stable, time, actor, subject, data),
                               source=source, delivery_id=None))
    return events, None


def _event_type(statement: Statement) -> str | None:
    verb = statement.verb.id
    if verb in _SIMPLE:
        return _SIMPLE[verb]
    if verb != _COMPLETED:
        return None
    kind = _activity_type(statement)
    success = statement.result.success if statement.result else None
    if success is not None and kind in _ASSESSMENT_TYPES:
        return "lms.assessment.passed" if success else "lms.assessment.failed"
    return "lms.course.completed" if kind in _COURSE_TYPES else "lms.activity.completed"


def _why_ignored(statement: Statement) -> str:
    verb = statement.verb.id
    if verb == VOIDED:
        return "voiding statement"
    if verb in CMI5_DROPPED:
        return f"cmi5 verb {verb.rsplit('/', 1)[-1]} grants nothing"
    return f"verb {verb[:120]} is not mapped"


def _activity_type(statement: Statement) -> str | None:
    target = statement.object
    if isinstance(target, Activity) and target.definition is not None:
        return target.definition.type
    return None


def _data(statement: Statement) -> dict[str, Any]:
    target = statement.object
    result = statement.result
    score = result.score if result else None
    data: dict[str, Any] = {"verb": statement.verb.id}
    if isinstance(target, Activity):
        definition = target.definition
        names = definition.name if definition and definition.name else {}
        data.update(activity=target.id, activity_type=_activity_type(statement),
                    activity_name=next(iter(names.values()), None))
    if score is not None:
        data.update(score=score.scaled, score_raw=score.raw, score_max=score.max)
    if result is not None:
        data.update(success=result.success, completion=result.completion)
        if result.duration is not None:
            data.update(duration=seconds_of(result.duration), duration_iso=result.duration)
    if statement.context is not None:
        data["registration"] = statement.context.registration
    return data


_PART = re.compile(r"(\d+(?:\.\d+)?)([YMWDHS])")
_SECONDS = {"Y": 365 * 86400, "W": 7 * 86400, "D": 86400, "H": 3600, "S": 1}


def seconds_of(duration: str) -> float:
    """ISO 8601 duration text in seconds; a year is 365 days and a month 30 (xAPI durations
    of learning sessions are hours, so the approximation never matters in practice)."""
    date, _, clock = duration.removeprefix("P").partition("T")
    total = 0.0
    for number, unit in _PART.findall(date):
        total += float(number) * (30 * 86400 if unit == "M" else _SECONDS[unit])
    for number, unit in _PART.findall(clock):
        total += float(number) * (60 if unit == "M" else _SECONDS[unit])
    return round(total, 3)


def _actors(statement: Statement, account_system: str) -> list[dict[str, str]]:
    actor = statement.actor
    if isinstance(actor, Group):
        members = [actor_of(m, account_system) for m in actor.member or []]
        return sorted(members, key=lambda a: (a["system"], a.get("id", ""), a.get("email", "")))
    return [actor_of(actor, account_system)]


def actor_of(agent: Agent, account_system: str) -> dict[str, str]:
    """The canonical actor (`rules.events.Actor`) of one xAPI agent (module docstring)."""
    if agent.mbox is not None:
        return {"system": "email", "email": agent.mbox.removeprefix("mailto:").lower()}
    if agent.mbox_sha1sum is not None:
        return {"system": "mbox_sha1sum", "id": agent.mbox_sha1sum.lower()}
    if agent.openid is not None:
        return {"system": "openid", "id": agent.openid}
    if agent.account is not None:
        return {"system": account_system, "id": agent.account.name, "homePage": agent.account.homePage}
    raise PayloadError("actor: an agent without an identifier", status=400)  # the model refuses it first


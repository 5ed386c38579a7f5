"""Why and why not, in plain words: what a person has toward an achievement and what is missing.

Pure, like the engine: a compiled rule, the person's stored state, the round's `RuleContext`
and `now` in; an `Explanation` out. Times are shown in the person's zone (else the tenant's)
and name it, so "3 more by Sunday 23:59 Europe/Berlin" means the same to everyone reading it.

Deadlines are shown one minute before the instant that closes them (a week ending at Monday
00:00 is "by Sunday 23:59"). `have`/`need` feed progress bars: a window's count against its
target, a streak's length against its length, the steps done, the days held.

A hidden achievement that is not earned explains nothing but that it is hidden: listing its
progress would give it away. `evidence_lines` puts a stored grant's `Evidence` in words.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.durations import format_duration
from rules.engine import CompiledRule, RuleContext
from rules.evidence import Evidence
from rules.state import CountState, MaintainedState, RuleState, StepsState, StreakState
from rules.windows import calendar_span, period_end, zone

__all__ = ["Explanation", "describe_events", "evidence_lines", "explain", "format_when"]

_NOUNS = {
    "ci.pipeline.completed": "pipelines", "deploy.completed": "deployments",
    "code.change.merged": "merged changes", "code.review.submitted": "reviews",
    "ticket.created": "tickets created", "ticket.resolved": "resolved tickets",
    "ticket.reassigned": "reassignments", "ticket.commented": "ticket comments",
    "lms.activity.completed": "completed activities", "lms.course.completed": "completed courses",
    "lms.assessment.passed": "passed assessments", "lms.assignment.graded": "graded assignments",
    "iam.user.signed_in": "sign-ins",
}
_SUCCESS_NOUNS = {"ci.pipeline.completed": "green pipelines", "deploy.completed": "successful deployments"}
_WINDOW_WORDS = {"day": "today", "week": "this week", "month": "this month"}
_UNITS = {"day": "day", "workday": "workday", "week": "week"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Explanation:
    granted: bool
    hidden: bool
    lines: list[str]
    have: int = 0
    need: int = 0  # 0: nothing to draw a bar for (points only, or hidden)
    next_deadline: datetime | None = None
    occurrences: list[str] = field(default_factory=list)
    points: int | None = None  # accumulated points, for achievements that award them

    def to_json(self) -> dict[str, Any]:
        return {"granted": self.granted, "hidden": self.hidden, "lines": self.lines, "have": self.have,
                "need": self.need, "occurrences": self.occurrences, "points": self.points,
                "next_deadline": None if self.next_deadline is None else self.next_deadline.isoformat()}


def describe_events(event_type: str, where: dict[str, Any] | None = None) -> str:
    """`ci.pipeline.completed` with `{outcome: success}` → "green pipelines"."""
    where = dict(where or {})
    if where.get("outcome") == "success" and event_type in _SUCCESS_NOUNS:
        del where["outcome"]
        noun = _SUCCESS_NOUNS[event_type]
    else:
        noun = _NOUNS.get(event_type, f"{event_type} events")
    if not where:
        return noun
    return f"{noun} with " + ", ".join(f"{k} {_condition(v)}" for k, v in sorted(where.items()))


def _condition(value: Any) -> str:
    if isinstance(value, dict):
        ((op, operand),) = value.items()
        return f"{op} {_condition(operand) if op == 'not' else operand!r}"
    if isinstance(value, list):
        return "in " + ", ".join(map(str, value))
    return f"= {value}"


def format_when(instant: datetime, zone_name: str, *, now: datetime | None = None, end: bool = False,
                with_zone: bool = True) -> str:
    """"Sunday 23:59 Europe/Berlin" within the seven days after `now`, else with the date:
    "Sun 6 Dec 2026 23:59 Europe/Berlin" (always, without `now`).

    `end` shows the instant that closes a period as the minute before it."""
    local = (instant - timedelta(minutes=1) if end else instant).astimezone(zone(zone_name))
    if now is not None and timedelta(0) <= instant - now < timedelta(days=7):
        text = local.strftime("%A %H:%M")
    else:
        text = f"{local:%a} {local.day} {local:%b %Y %H:%M}"
    return f"{text} {zone_name}" if with_zone else text


def explain(rule: CompiledRule, state: RuleState | None, *, person_id: str, context: RuleContext,
            now: datetime, unlinked: Sequence[str] = ()) -> Explanation:
    """What `person_id` has toward `rule` and what is missing; `unlinked` names the identity
    systems the rule's events come from that the person has no link in (display names)."""
    zone_name = context.person_zones.get(person_id, context.time_zone)
    granted = bool(state is not None and state.granted)
    if rule.hidden and not granted:
        return Explanation(granted=False, hidden=True, lines=["hidden until earned"])
    explained = _BY_KIND[rule.kind](rule, state, _View(context, zone_name, now))
    lines = list(explained.lines)
    if unlinked and not explained.granted:
        names = " or ".join(unlinked)
        lines.append(f"no {names} identity linked for this person: {names} events cannot count")
    return Explanation(explained.granted, rule.hidden, lines, explained.have, explained.need,
                       explained.next_deadline, list(state.occurrences) if state else [],
                       explained.points)


@dataclass(frozen=True)
class _View:
    context: RuleContext
    zone: str
    now: datetime
    dated: bool = False  # every time with its date (evidence, read long after)

    @property
    def ts(self) -> float:
        return self.now.timestamp()

    def when(self, instant: float | datetime, *, end: bool = False, with_zone: bool = True) -> str:
        moment = instant if isinstance(instant, datetime) else datetime.fromtimestamp(instant, UTC)
        return format_when(moment, self.zone, now=None if self.dated else self.now, end=end,
                           with_zone=with_zone)

    def span(self, start: datetime, end: datetime, zone_name: str) -> str:
        """"Mon 16 Nov 2026 00:00 to Sun 22 Nov 2026 23:59 Europe/Berlin", in the span's own zone."""
        view = _View(self.context, zone_name, self.now, self.dated)
        first, last = view.when(start, with_zone=False), view.when(end, end=True, with_zone=False)
        return f"{first} to {last} {zone_name}"


# --- count: plain, distinct, windowed, without; tiers, repeatable, points ---

def _count(rule: CompiledRule, state: RuleState | None, view: _View) -> Explanation:
    logic: Any = rule.logic
    st = state if isinstance(state, CountState) else None
    noun = _count_noun(rule)
    points = _points(rule, st, view)
    extra = _without_line(rule) + points[0]
    if logic.calendar is not None:
        found = _calendar(rule, st, view, noun)
    elif logic.rolling is not None:
        found = _rolling(rule, st, view, noun)
    else:
        found = _total(rule, st, noun)
    return Explanation(found.granted, rule.hidden, found.lines + extra, found.have, found.need,
                       found.next_deadline, points=points[1])


def _count_noun(rule: CompiledRule) -> str:
    spec = rule.spec.rule
    noun = describe_events(spec.of or "", spec.where)
    return f"different {spec.distinct} values in {noun}" if spec.distinct else noun


def _total(rule: CompiledRule, st: CountState | None, noun: str) -> Explanation:
    logic: Any = rule.logic
    have = st.total if st is not None else 0
    done = list(st.occurrences) if st is not None else []
    step = logic.step(len(done))
    if logic.target is None and logic.tiers is None:  # points alone: nothing to reach
        return Explanation(False, rule.hidden, [], have, 0)
    if step is None:  # every grant made: the last tier, the repeat cap, or the one grant
        total = [f"{have} {noun} in all"] if rule.spec.tiers or rule.spec.repeatable else []
        last = logic.step(len(done) - 1) if done else None
        need = last[1] if last is not None else have  # the bar is full at the last threshold
        return Explanation(True, rule.hidden, [_earned(rule, done), *total], min(have, need), need)
    occurrence, need, tier = step
    head = _earned(rule, done) + "; " if done else ""
    toward = f" toward {tier}" if tier else (" toward the next" if done else "")
    return Explanation(False, rule.hidden, [f"{head}{have} of {need} {noun}{toward}; {need - have} more"],
                       have, need)


def _earned(rule: CompiledRule, occurrences: Sequence[str]) -> str:
    if rule.spec.tiers:
        return "earned " + ", ".join(occurrences) if occurrences else "no tier yet"
    if rule.spec.repeatable is not None:
        return f"earned {len(occurrences)} time{'s' if len(occurrences) != 1 else ''}"
    return "earned" if occurrences else "not yet earned"


def _calendar(rule: CompiledRule, st: CountState | None, view: _View, noun: str) -> Explanation:
    logic: Any = rule.logic
    unit = logic.calendar
    start, end, key = calendar_span(view.ts, unit, view.zone, view.context.week_start)
    window = next((w for w in (st.windows.values() if st else ()) if w[0] <= view.ts < w[1]), None)
    if window is not None:
        end = window[1]
    have = window[3] if window is not None else 0
    need = logic.target or 0
    closes = datetime.fromtimestamp(end, UTC)
    done = list(st.occurrences) if st is not None else []
    if st is not None and st.granted and logic.repeat is None:
        return Explanation(True, rule.hidden, ["earned", f"{have} {noun} {_WINDOW_WORDS[unit]} ({key})"],
                           need, need)
    if window is not None and window[4]:
        return Explanation(False, rule.hidden, [f"{_earned(rule, done)}, {_WINDOW_WORDS[unit]} too ({key}); "
                                                f"the next chance opens {view.when(closes)}"], need, need)
    head = f"{_earned(rule, done)}; " if done else ""
    line = f"{head}{have} of {need} {noun} {_WINDOW_WORDS[unit]}; {max(need - have, 0)} more by " \
           f"{view.when(closes, end=True)}"
    return Explanation(False, rule.hidden, [line], have, need, closes)


def _rolling(rule: CompiledRule, st: CountState | None, view: _View, noun: str) -> Explanation:
    logic: Any = rule.logic
    span = logic.rolling
    need = logic.target or 0
    times = st.times if st is not None else []
    low = view.ts - span if st is None or st.reset_after is None else max(view.ts - span, st.reset_after)
    first = bisect_right(times, low)
    have = bisect_right(times, view.ts) - first
    words = f"in the last {format_duration(timedelta(seconds=span))}"
    done = list(st.occurrences) if st is not None else []
    if st is not None and st.granted and logic.repeat is None:
        return Explanation(True, rule.hidden, ["earned", f"{have} {noun} {words}"], need, need)
    head = f"{_earned(rule, done)}; " if done else ""
    line = f"{head}{have} of {need} {noun} {words}; {max(need - have, 0)} more"
    deadline = None
    if have:
        deadline = datetime.fromtimestamp(times[first] + span, UTC)
        line += f"; the oldest of them stops counting {view.when(deadline)}"
    return Explanation(False, rule.hidden, [line], have, need, deadline)


def _without_line(rule: CompiledRule) -> list[str]:
    without = rule.spec.rule.without
    if without is None:
        return []
    within = f" within {format_duration(without.within)}" if without.within else ""
    return [f"not counted: one whose {without.same} had {describe_events(without.of)} before it{within}"]


def _points(rule: CompiledRule, st: CountState | None, view: _View) -> tuple[list[str], int | None]:
    spec = rule.spec.points
    if spec is None:
        return [], None
    total = st.points if st is not None else 0
    if spec.cap is None:
        return [f"points: {total} ({spec.per_event} per event)"], total
    key = calendar_span(view.ts, spec.cap.per, view.zone, view.context.week_start)[2]
    used = (st.points_by.get(key, 0) if st is not None else 0)
    left = max(spec.cap.max - used, 0)
    return [f"points: {total} ({spec.per_event} per event, at most {spec.cap.max} per {spec.cap.per}; "
            f"{left} more {_WINDOW_WORDS[spec.cap.per]})"], total


# --- streak ---

def _streak(rule: CompiledRule, state: RuleState | None, view: _View) -> Explanation:
    """The streak the last period with an event belongs to (`logic.runs`, as the engine reads
    it): alive until the close of the last period it may still miss."""
    spec = rule.spec.rule.streak
    assert spec is not None
    st = state if isinstance(state, StreakState) else None
    unit, noun = _UNITS[spec.period], describe_events(rule.spec.rule.of or "", rule.spec.rule.where)
    if st is not None and st.granted and rule.spec.repeatable is None:
        return Explanation(True, rule.hidden, ["earned"], spec.length, spec.length)
    runs: list[list[int]] = rule.logic.runs(sorted(st.periods)) if st is not None else []  # type: ignore[attr-defined]
    if not runs:
        return Explanation(False, rule.hidden, [f"no streak yet: {noun} on {spec.length} {unit}s in a row"],
                           0, spec.length)
    _first, last, length, used = runs[-1]
    zone_name = st.zone if st is not None and st.zone else view.zone
    week_start = view.context.week_start
    last_missable = last + 1 + spec.grace - used
    breaks = datetime.fromtimestamp(period_end(last_missable, spec.period, zone_name, week_start), UTC)
    head = f"{_earned(rule, st.occurrences)}; " if st is not None and st.occurrences else ""
    if view.now >= breaks:
        ended = datetime.fromtimestamp(period_end(last, spec.period, zone_name, week_start), UTC)
        return Explanation(False, rule.hidden, [
            f"{head}streak broken: the last of the {noun} was in the {unit} ending "
            f"{view.when(ended, end=True)}; "
            f"the next one starts a new streak of {spec.length} {unit}s"], 0, spec.length)
    lines = [f"{head}streak {length} {unit}{'s' if length != 1 else ''} of {spec.length}; "
             f"next deadline {view.when(breaks, end=True)}"]
    if spec.grace:
        lines.append(f"grace used: {used} of {spec.grace} missed {unit}s")
    return Explanation(False, rule.hidden, lines, min(length, spec.length), spec.length, breaks)


# --- maintained for ---

def _maintained(rule: CompiledRule, state: RuleState | None, view: _View) -> Explanation:
    spec = rule.spec.rule
    assert spec.maintained is not None and spec.from_ is not None and spec.broken_by is not None
    st = state if isinstance(state, MaintainedState) else None
    days = max(int(spec.maintained.total_seconds() // 86400), 1)
    if st is not None and st.granted:
        late = [f"a break came after the grant ({key}): recorded, not revoked"
                for _ts, key in st.broken_after_grant]
        return Explanation(True, rule.hidden, ["earned", *late], days, days)
    since = st.since if st is not None else None
    broken = describe_events(spec.broken_by.of, spec.broken_by.where)
    if since is None:
        return Explanation(False, rule.hidden, [
            f"not started: it starts with {describe_events(spec.from_.of, spec.from_.where)}; "
            f"{broken} reset it"], 0, days)
    start = datetime.fromtimestamp(since, UTC)
    done_at = start + spec.maintained
    have = min(max(int((view.now - start).total_seconds() // 86400), 0), days)
    return Explanation(False, rule.hidden, [
        f"held since {view.when(start)}: {have} of {days} days; complete {view.when(done_at)} "
        f"unless {broken} comes first"], have, days, done_at)


# --- all of / in order ---

def _steps(rule: CompiledRule, state: RuleState | None, view: _View) -> Explanation:
    steps = rule.spec.rule.all or []
    st = state if isinstance(state, StepsState) else None
    done = _steps_done(st, len(steps))
    if st is not None and st.granted:
        return Explanation(True, rule.hidden, ["earned: every step done"], len(steps), len(steps))
    order = ", in order" if rule.spec.rule.ordered else ""
    lines = [f"{sum(done)} of {len(steps)} steps done{order}"]
    for index, (step, ok) in enumerate(zip(steps, done, strict=True), 1):
        lines.append(f"  {'done' if ok else 'todo'} {index}. {describe_events(step.of, step.where)}")
    return Explanation(False, rule.hidden, lines, sum(done), len(steps))


def _steps_done(st: StepsState | None, count: int) -> list[bool]:
    if st is None:
        return [False] * count
    if st.done and len(st.done) == count:
        return [bool(flag) for flag in st.done]
    return [bool(times) for times in (list(st.steps) + [[]] * count)[:count]]


_BY_KIND = {"count": _count, "streak": _streak, "maintained": _maintained, "all": _steps}


# --- a stored grant's evidence ---

def evidence_lines(evidence: Evidence, *, zone_name: str, rule: CompiledRule | None = None) -> list[str]:
    """A grant's `Evidence` in words: what counted, in which window or streak, and whose it is.
    Times are always shown with their date: evidence is read long after it was made. With the
    compiled `rule` it was made by, its events are named with their filter ("green pipelines")."""
    view = _View(RuleContext(tenant=""), zone_name, _EPOCH, dated=True)  # `now` unused when dated
    made_by = rule.spec.rule if rule is not None and rule.content_hash == evidence.rule.hash else None
    what = (describe_events(made_by.of, made_by.where) if made_by is not None and made_by.of
            else describe_events(evidence.rule.of) if evidence.rule.of else "matching events")
    made = evidence.rule
    lines = [f"{evidence.count} {what} counted "
             f"(rule {made.key} v{made.version}, {made.kind}, hash {made.hash})"]
    if evidence.tier:
        lines.append(f"tier {evidence.tier}")
    if (w := evidence.window) is not None:
        lines.append(f"window {w.key}: {view.span(w.start, w.end, w.zone)}")
    if (s := evidence.streak) is not None:
        grace = f", {s.grace_used} missed period(s) forgiven" if s.grace_used else ""
        lines.append(f"streak of {s.length}: {view.span(s.start, s.end, s.zone)}{grace}")
    shown = ", ".join(evidence.events[:5]) + (" …" if len(evidence.events) > 5 else "")
    digest = f" (digest {evidence.digest[:12]})" if evidence.digest else ""
    lines.append(f"events: {shown or 'none'}{digest}")
    if evidence.completed_by:
        lines.append(f"completed by {evidence.completed_by}")
    ident = evidence.identity
    lines.append(f"identity: person {ident.person}" + (f" via the {ident.link} link" if ident.link else ""))
    lines += [f"applied late: {late.event}: {late.reason}" for late in evidence.late]
    return lines

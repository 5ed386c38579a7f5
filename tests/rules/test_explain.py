"""`rules.explain`: what a person reads in `accolade why` and `person show`, per rule kind.

States come from the real engine (`evaluate` on events), never built by hand, so a change in
a kind's state that explain does not follow fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rules.definitions import AchievementSpec
from rules.engine import CompiledRule, EvalEvent, RuleContext, compile_rules, evaluate
from rules.events import CloudEvent
from rules.explain import describe_events, evidence_lines, explain
from rules.state import RuleState

BERLIN = RuleContext(tenant="demo", time_zone="Europe/Berlin")
# Mon 16 Nov 2026 is in ISO week 47; Berlin is UTC+1 in November.
MON = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def _rule(rule: dict[str, Any], **extra: Any) -> CompiledRule:
    spec = AchievementSpec.model_validate({"key": "a", "version": 1, "name": "A", "rule": rule, **extra})
    return compile_rules([spec])[0]


def _event(n: int, at: datetime, type: str = "ci.pipeline.completed", **data: Any) -> EvalEvent:
    event = CloudEvent.model_validate({"id": f"e{n}", "source": "/t", "type": type, "time": at.isoformat(),
                                       "data": {"actor": {"system": "github", "id": "1"}, **data}})
    return EvalEvent(n, "p1", event, {"link": "github:id"})


def _state(rule: CompiledRule, events: list[EvalEvent], *, now: datetime,
           context: RuleContext = BERLIN) -> tuple[RuleState | None, list[Any]]:
    result = evaluate({}, events, [rule], context=context, now=now)
    return result.state.get(("p1", rule.key)), result.grants


GREEN_WEEK = {"count": 5, "of": "ci.pipeline.completed", "where": {"outcome": "success"},
              "window": {"calendar": "week"}}


def test_a_weekly_window_says_how_many_more_and_by_when_in_the_tenants_zone() -> None:
    rule = _rule(GREEN_WEEK)
    events = [_event(i, MON + timedelta(days=i), outcome="success") for i in range(3)]
    thursday = MON + timedelta(days=3)
    state, _ = _state(rule, events, now=thursday)
    got = explain(rule, state, person_id="p1", context=BERLIN, now=thursday)
    assert got.lines == ["3 of 5 green pipelines this week; 2 more by Sunday 23:59 Europe/Berlin"]
    assert (got.granted, got.have, got.need) == (False, 3, 5)
    assert got.next_deadline == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Monday 00:00 in Berlin
    next_tuesday = MON + timedelta(days=8)  # the week closed; explained at now, even unevaluated
    later = explain(rule, state, person_id="p1", context=BERLIN, now=next_tuesday)
    assert later.lines == ["0 of 5 green pipelines this week; 5 more by Sunday 23:59 Europe/Berlin"]


def test_the_persons_own_zone_wins_over_the_tenants() -> None:
    rule = _rule(GREEN_WEEK)
    context = RuleContext(tenant="demo", time_zone="Europe/Berlin", person_zones={"p1": "America/New_York"})
    got = explain(rule, None, person_id="p1", context=context, now=MON)
    assert got.lines == ["0 of 5 green pipelines this week; 5 more by Sunday 23:59 America/New_York"]
    assert got.next_deadline == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_a_far_deadline_is_shown_with_its_date() -> None:
    rule = _rule({**GREEN_WEEK, "window": {"calendar": "month"}})
    got = explain(rule, None, person_id="p1", context=BERLIN, now=datetime(2026, 11, 2, tzinfo=UTC))
    assert got.lines == ["0 of 5 green pipelines this month; 5 more by Mon 30 Nov 2026 23:59 Europe/Berlin"]


def test_a_plain_count_and_its_grant() -> None:
    rule = _rule({"count": 3, "of": "code.change.merged"})
    events = [_event(i, MON + timedelta(hours=i), type="code.change.merged") for i in range(2)]
    state, _ = _state(rule, events, now=MON + timedelta(hours=3))
    assert explain(rule, state, person_id="p1", context=BERLIN, now=MON).lines == [
        "2 of 3 merged changes; 1 more"]
    state, grants = _state(rule, [*events, _event(9, MON + timedelta(hours=5), type="code.change.merged")],
                           now=MON + timedelta(hours=6))
    got = explain(rule, state, person_id="p1", context=BERLIN, now=MON)
    assert got.granted and got.lines[0] == "earned" and (got.have, got.need) == (3, 3)
    more, _ = _state(rule, [*events, *(_event(n, MON + timedelta(hours=n), type="code.change.merged")
                                       for n in (9, 10))], now=MON + timedelta(hours=11))
    assert explain(rule, more, person_id="p1", context=BERLIN, now=MON).have == 3  # a full bar, not 4/4
    words = evidence_lines(grants[0].evidence, zone_name="Europe/Berlin")
    assert words[0] == "3 merged changes counted (rule a v1, count, hash " + rule.content_hash + ")"
    assert "completed by /t#e9" in words and "identity: person p1 via the github:id link" in words


def test_a_streak_names_its_next_deadline_and_says_when_it_broke() -> None:
    rule = _rule({"streak": {"period": "day", "length": 5}, "of": "deploy.completed",
                  "where": {"outcome": "success"}})
    events = [_event(i, MON + timedelta(days=i), type="deploy.completed", outcome="success") for i in range(4)]
    thursday_evening = MON + timedelta(days=3, hours=8)
    state, _ = _state(rule, events, now=thursday_evening)
    got = explain(rule, state, person_id="p1", context=BERLIN, now=thursday_evening)
    assert got.lines == ["streak 4 days of 5; next deadline Friday 23:59 Europe/Berlin"]
    assert (got.have, got.need) == (4, 5)
    saturday = MON + timedelta(days=5, hours=2)
    broken = explain(rule, state, person_id="p1", context=BERLIN, now=saturday)
    assert broken.have == 0 and broken.lines[0].startswith(
        "streak broken: the last of the successful deployments was in the day ending Thu 19 Nov 2026 23:59")


def test_a_streaks_evidence_names_its_span_and_zone() -> None:
    rule = _rule({"streak": {"period": "day", "length": 3}, "of": "deploy.completed"})
    events = [_event(i, MON + timedelta(days=i), type="deploy.completed") for i in range(3)]
    _, grants = _state(rule, events, now=MON + timedelta(days=3))
    assert "streak of 3: Mon 16 Nov 2026 00:00 to Wed 18 Nov 2026 23:59 Europe/Berlin" in evidence_lines(
        grants[0].evidence, zone_name="Europe/Berlin")


def test_without_says_what_does_not_count() -> None:
    rule = _rule({"count": 5, "of": "ticket.resolved", "without": {"of": "ticket.reassigned", "same": "ticket"}})
    got = explain(rule, None, person_id="p1", context=BERLIN, now=MON)
    assert got.lines == ["0 of 5 resolved tickets; 5 more",
                         "not counted: one whose ticket had reassignments before it"]


def test_tiers_and_points() -> None:
    rule = _rule({"of": "code.review.submitted"}, tiers=[{"name": "bronze", "count": 2}, {"name": "silver", "count": 5}],
                 points={"per_event": 10, "cap": {"per": "week", "max": 30}})
    events = [_event(i, MON + timedelta(hours=i), type="code.review.submitted") for i in range(4)]
    state, _ = _state(rule, events, now=MON + timedelta(hours=5))
    got = explain(rule, state, person_id="p1", context=BERLIN, now=MON + timedelta(hours=5))
    assert got.lines == ["earned bronze; 4 of 5 reviews toward silver; 1 more",
                         "points: 30 (10 per event, at most 30 per week; 0 more this week)"]
    assert got.points == 30 and got.occurrences == ["bronze"]


def test_a_hidden_achievement_says_nothing_until_earned() -> None:
    rule = _rule({"count": 1, "of": "deploy.completed"}, hidden=True)
    got = explain(rule, None, person_id="p1", context=BERLIN, now=MON)
    assert (got.hidden, got.lines, got.need) == (True, ["hidden until earned"], 0)
    state, _ = _state(rule, [_event(1, MON, type="deploy.completed")], now=MON)
    assert explain(rule, state, person_id="p1", context=BERLIN, now=MON).lines == ["earned"]


def test_the_identity_side_names_the_unlinked_systems() -> None:
    rule = _rule({"count": 1, "of": "ci.pipeline.completed"})
    got = explain(rule, None, person_id="p1", context=BERLIN, now=MON, unlinked=["GitLab"])
    assert got.lines[-1] == "no GitLab identity linked for this person: GitLab events cannot count"


def test_maintained_for_and_steps() -> None:
    held = _rule({"maintained": "30d", "from": {"of": "iam.user.provisioned"},
                  "broken_by": {"of": "compliance.check.failed"}})
    assert explain(held, None, person_id="p1", context=BERLIN, now=MON).lines == [
        "not started: it starts with iam.user.provisioned events; compliance.check.failed events reset it"]
    state, _ = _state(held, [_event(1, MON, type="iam.user.provisioned")], now=MON + timedelta(days=3))
    got = explain(held, state, person_id="p1", context=BERLIN, now=MON + timedelta(days=3))
    assert (got.have, got.need) == (3, 30)
    assert got.lines[0].startswith("held since Mon 16 Nov 2026 10:00 Europe/Berlin: 3 of 30 days; complete "
                                   "Wed 16 Dec 2026 10:00 Europe/Berlin")
    steps = _rule({"all": [{"of": "lms.course.completed", "where": {"course": "intro"}},
                           {"of": "deploy.completed"}], "ordered": True})
    state, _ = _state(steps, [_event(1, MON, type="lms.course.completed", course="intro")], now=MON)
    assert explain(steps, state, person_id="p1", context=BERLIN, now=MON).lines == [
        "1 of 2 steps done, in order",
        "  done 1. completed courses with course = intro",
        "  todo 2. deployments"]


def test_describe_events_in_words() -> None:
    assert describe_events("ci.pipeline.completed", {"outcome": "success"}) == "green pipelines"
    assert describe_events("ci.pipeline.completed", {"outcome": "failure"}) == "pipelines with outcome = failure"
    assert describe_events("x.y.z", {"n": {"gte": 3}}) == "x.y.z events with n gte 3"


def test_a_rolling_window_says_when_its_oldest_event_stops_counting() -> None:
    rule = _rule({"count": 3, "of": "deploy.completed", "window": {"rolling": "7d"}})
    events = [_event(i, MON + timedelta(days=i), type="deploy.completed") for i in range(2)]
    now = MON + timedelta(days=2)
    state, _ = _state(rule, events, now=now)
    got = explain(rule, state, person_id="p1", context=BERLIN, now=now)
    assert got.lines == ["2 of 3 deployments in the last 7d; 1 more; the oldest of them stops counting "
                         "Monday 10:00 Europe/Berlin"]
    assert got.next_deadline == MON + timedelta(days=7)


def test_a_repeatable_weekly_window_is_earned_again_next_week() -> None:
    rule = _rule(GREEN_WEEK, repeatable={})
    events = [_event(i, MON + timedelta(hours=i), outcome="success") for i in range(5)]
    state, grants = _state(rule, events, now=MON + timedelta(hours=6))
    assert [g.occurrence for g in grants] == ["2026-W47"]
    same_week = explain(rule, state, person_id="p1", context=BERLIN, now=MON + timedelta(hours=6))
    assert same_week.lines == ["earned 1 time, this week too (2026-W47); the next chance opens "
                               "Monday 00:00 Europe/Berlin"]
    next_week = explain(rule, state, person_id="p1", context=BERLIN, now=MON + timedelta(days=8))
    assert next_week.lines[0] == "earned 1 time; 0 of 5 green pipelines this week; 5 more by Sunday 23:59 Europe/Berlin"


def test_a_streak_with_grace_counts_the_missed_day() -> None:
    rule = _rule({"streak": {"period": "day", "length": 4, "grace": 1}, "of": "deploy.completed"})
    days = (0, 1, 3)  # Wednesday missed, forgiven
    events = [_event(i, MON + timedelta(days=d), type="deploy.completed") for i, d in enumerate(days)]
    now = MON + timedelta(days=3, hours=2)
    state, _ = _state(rule, events, now=now)
    got = explain(rule, state, person_id="p1", context=BERLIN, now=now)
    assert got.lines == ["streak 3 days of 4; next deadline Friday 23:59 Europe/Berlin",
                         "grace used: 1 of 1 missed days"]

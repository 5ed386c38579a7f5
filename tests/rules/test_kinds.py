"""Each rule kind of DESIGN §8 as a user would notice it: when it grants, with which occurrence,
what progress shows, and when it next comes due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.engine import grant_id
from tests.rules.kit import KEY, T0, days, ev, run, spec

BERLIN = {"time_zone": "Europe/Berlin"}


def test_regex_and_not_filters() -> None:
    rule = spec({"count": 1, "of": "ci.pipeline.completed",
                 "where": {"branch": {"regex": "^release/"}, "outcome": {"not": {"in": ["failure", "error"]}}}})
    assert run(rule, [ev(1, T0, branch="main", outcome="success")]).grants == []
    assert run(rule, [ev(1, T0, branch="release/2", outcome="failure")]).grants == []
    assert len(run(rule, [ev(1, T0, branch="release/2", outcome="success")]).grants) == 1


def test_an_odd_value_is_skipped_with_its_reason_not_counted() -> None:
    rule = spec({"count": 1, "of": "ci.pipeline.completed", "where": {"score": {"gte": 5}}})
    result = run(rule, [ev(1, T0, score="high"), ev(2, T0, score={"x": 1})])
    assert result.grants == [] and KEY not in result.state
    assert [(s.event, s.achievement) for s in result.skipped] == [("/t#1", "a"), ("/t#2", "a")]
    assert "'high' is not a number" in result.skipped[0].reason


def test_distinct_counts_different_values_only() -> None:
    rule = spec({"count": 3, "distinct": "course", "of": "lms.course.completed"})
    events = [ev(i, T0 + timedelta(minutes=i), type="lms.course.completed", course=c)
              for i, c in enumerate(["a", "b", "a", "b", "c"])]
    result = run(rule, events)
    assert result.state[KEY].count == 3 and [g.evidence.completed_by for g in result.grants] == ["/t#4"]


def test_weekly_window_grants_once_in_the_first_window_reaching_n() -> None:
    rule = spec({"count": 3, "of": "ci.pipeline.completed", "window": {"calendar": "week"}})
    # two in week 10, three in week 11 (the Sunday 23:30 Berlin one still belongs to week 11)
    times = [T0, T0 + days(1), T0 + days(7), T0 + days(8), datetime(2026, 3, 15, 22, 30, tzinfo=UTC)]
    result = run(rule, [ev(i, t) for i, t in enumerate(times)], **BERLIN)
    [grant] = result.grants
    assert grant.occurrence == "1" and grant.evidence.window is not None
    assert grant.evidence.window.key == "2026-W11" and grant.evidence.window.zone == "Europe/Berlin"
    assert grant.evidence.window.end == datetime(2026, 3, 15, 23, 0, tzinfo=UTC)  # Monday 00:00 Berlin
    assert result.state[KEY].count == 3 and result.due[KEY] == grant.evidence.window.end


def test_window_close_changes_progress_never_grants() -> None:
    rule = spec({"count": 3, "of": "ci.pipeline.completed", "window": {"calendar": "week"}})
    before = run(rule, [ev(1, T0), ev(2, T0 + days(1))], **BERLIN)
    assert before.state[KEY].count == 2 and before.due[KEY] == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    closed = run(rule, [], state=before.state, now=datetime(2026, 3, 8, 23, 0, tzinfo=UTC),
                 due_keys=[KEY], **BERLIN)
    assert closed.grants == [] and closed.state[KEY].count == 0 and closed.due[KEY] is None
    fresh = run(rule, [ev(3, T0 + days(7))], state=closed.state, **BERLIN)
    assert fresh.grants == [] and fresh.state[KEY].count == 1  # a new window starts from zero


def test_repeatable_window_grants_once_per_window_keyed_by_it() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed", "window": {"calendar": "week"}},
                repeatable={"max": 2})
    events = [ev(i, T0 + days(d)) for i, d in enumerate([0, 1, 2, 7, 8, 14, 15])]
    grants = run(rule, events, **BERLIN).grants
    assert [g.occurrence for g in grants] == ["2026-W10", "2026-W11"]  # max 2: week 12 is not granted
    assert grants[1].grant_id == grant_id("t", "a", "p1", "2026-W11")


def test_week_start_sunday_and_month_windows() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed", "window": {"calendar": "week"}})
    sunday, monday = datetime(2026, 3, 8, 12, tzinfo=UTC), datetime(2026, 3, 9, 12, tzinfo=UTC)
    assert run(rule, [ev(1, sunday), ev(2, monday)], week_start=6).grants[0].evidence.window.key == "2026-W11"
    assert run(rule, [ev(1, sunday), ev(2, monday)], week_start=0).grants == []  # Monday starts a new week
    month = spec({"count": 2, "of": "ci.pipeline.completed", "window": {"calendar": "month"}})
    [grant] = run(month, [ev(1, T0), ev(2, T0 + days(20))]).grants
    assert grant.evidence.window.key == "2026-03"


def test_a_day_window_across_the_spring_dst_change_is_23_hours() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed", "window": {"calendar": "day"}})
    # 29 March 2026, Berlin: 00:00 CET (23:00 UTC the day before) to 00:00 CEST (22:00 UTC)
    early, late = datetime(2026, 3, 28, 23, 30, tzinfo=UTC), datetime(2026, 3, 29, 21, 30, tzinfo=UTC)
    [grant] = run(rule, [ev(1, early), ev(2, late)], **BERLIN).grants
    window = grant.evidence.window
    assert window.key == "2026-03-29" and window.end - window.start == timedelta(hours=23)
    assert run(rule, [ev(1, early), ev(2, late + timedelta(hours=1))], **BERLIN).grants == []


def test_person_zone_wins_and_a_window_keeps_the_zone_it_opened_with() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed", "window": {"calendar": "day"}})
    at = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 04:00 in Berlin, 22:00 the day before in New York
    opened = run(rule, [ev(1, at)], person_zones={"p1": "America/New_York"}, **BERLIN)
    window = opened.state[KEY].windows["2026-03-01"]
    assert window[2] == "America/New_York"
    # the person moves to Berlin; an event inside the New York day still counts into that day
    later = run(rule, [ev(2, at + timedelta(hours=1))], state=opened.state, **BERLIN)
    assert later.grants[0].evidence.window.zone == "America/New_York"


def test_rolling_window_is_t_minus_d_exclusive_to_t_inclusive() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed", "window": {"rolling": "7d"}})
    assert run(rule, [ev(1, T0), ev(2, T0 + days(7))]).grants == []
    [grant] = run(rule, [ev(1, T0), ev(2, T0 + days(7) - timedelta(seconds=1))]).grants
    assert grant.evidence.window.key == "rolling"
    progress = run(rule, [ev(1, T0)])
    assert progress.due[KEY] == T0 + days(7)  # when that event leaves the window


def test_streak_grants_at_length_with_grace_used_in_evidence() -> None:
    rule = spec({"streak": {"period": "day", "length": 3, "grace": 1}, "of": "deploy.completed"})
    events = [ev(i, T0 + days(d), type="deploy.completed") for i, d in enumerate([0, 1, 3])]
    [grant] = run(rule, events, **BERLIN).grants
    assert grant.evidence.streak.length == 3 and grant.evidence.streak.grace_used == 1
    assert grant.evidence.streak.zone == "Europe/Berlin"


def test_streak_break_is_detected_at_the_due_time() -> None:
    rule = spec({"streak": {"period": "day", "length": 5}, "of": "deploy.completed"})
    two = run(rule, [ev(1, T0, type="deploy.completed"), ev(2, T0 + days(1), type="deploy.completed")], **BERLIN)
    deadline = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)  # the end of Wednesday in Berlin
    assert two.state[KEY].count == 2 and two.due[KEY] == deadline
    kept = run(rule, [], state=two.state, now=deadline - timedelta(seconds=1), due_keys=[KEY], **BERLIN)
    assert kept.state[KEY].count == 2
    broken = run(rule, [], state=two.state, now=deadline, due_keys=[KEY], **BERLIN)
    assert broken.state[KEY].count == 0 and broken.due[KEY] is None
    again = run(rule, [ev(3, T0 + days(3), type="deploy.completed")], state=broken.state, **BERLIN)
    assert again.state[KEY].count == 1


def test_workday_streak_spans_the_weekend_and_week_streaks() -> None:
    rule = spec({"streak": {"period": "workday", "length": 3}, "of": "deploy.completed"})
    friday = datetime(2026, 3, 6, 10, tzinfo=UTC)
    events = [ev(i, friday + days(d), type="deploy.completed") for i, d in enumerate([-1, 0, 1, 3])]
    [grant] = run(rule, events).grants  # Thursday, Friday, (Saturday: no period), Monday
    assert grant.evidence.completed_by == "/t#3"
    weekly = spec({"streak": {"period": "week", "length": 2}, "of": "deploy.completed"})
    assert len(run(weekly, [ev(1, T0, type="deploy.completed"), ev(2, T0 + days(7), type="deploy.completed")]
                   ).grants) == 1
    assert run(weekly, [ev(1, T0, type="deploy.completed"), ev(2, T0 + days(14), type="deploy.completed")]
               ).grants == []


def test_without_ignores_an_event_whose_key_saw_b_before_even_by_another_person() -> None:
    rule = spec({"count": 2, "of": "ticket.resolved", "without": {"of": "ticket.reassigned", "same": "ticket"}})
    seen = {("ticket.reassigned", "ticket", "7"): T0 - timedelta(hours=1),   # the manager's
            ("ticket.reassigned", "ticket", "9"): T0 + timedelta(hours=1)}   # after resolution
    events = [ev(1, T0, type="ticket.resolved", ticket=7), ev(2, T0, type="ticket.resolved", ticket=8),
              ev(3, T0, type="ticket.resolved", ticket=9)]
    result = run(rule, events, first_seen=seen)
    assert result.state[KEY].count == 2 and result.grants[0].evidence.events == ["/t#2", "/t#3"]
    within = spec({"count": 1, "of": "ticket.resolved",
                   "without": {"of": "ticket.reassigned", "same": "ticket", "within": "30m"}})
    assert len(run(within, events[:1], first_seen=seen).grants) == 1  # the reassignment was 1 h before


def test_maintained_grants_at_start_plus_duration_and_a_late_break_is_only_recorded() -> None:
    rule = spec({"maintained": "30d", "from": {"of": "iam.user.provisioned"},
                 "broken_by": {"of": "compliance.check.failed"}})
    events = [ev(1, T0, type="iam.user.provisioned"), ev(2, T0 + days(5), type="compliance.check.failed"),
              ev(3, T0 + days(6), type="iam.user.provisioned")]
    started = run(rule, events, now=T0 + days(7))
    assert started.grants == [] and started.due[KEY] == T0 + days(36)
    done = run(rule, [], state=started.state, now=T0 + days(40), due_keys=[KEY])
    [grant] = done.grants
    assert grant.granted_at == T0 + days(36) and done.due[KEY] is None
    late = run(rule, [ev(4, T0 + days(20), type="compliance.check.failed")], state=done.state, now=T0 + days(41))
    assert late.grants == [] and late.state[KEY].granted and late.state[KEY].broken_after_grant
    assert any("recorded, not revoked" in line for line in late.explanations)


def test_ordered_steps_show_which_are_done() -> None:
    rule = spec({"all": [{"of": "lms.course.completed", "where": {"course": "intro"}}, {"of": "deploy.completed"}],
                 "ordered": True})
    deploy_first = run(rule, [ev(1, T0, type="deploy.completed"),
                              ev(2, T0 + days(1), type="lms.course.completed", course="intro")])
    assert deploy_first.grants == [] and [d is not None for d in deploy_first.state[KEY].done] == [True, False]
    finished = run(rule, [ev(3, T0 + days(2), type="deploy.completed")], state=deploy_first.state)
    assert len(finished.grants) == 1
    unordered = spec({"all": [{"of": "lms.course.completed"}, {"of": "deploy.completed"}]})
    assert len(run(unordered, [ev(1, T0, type="deploy.completed"),
                               ev(2, T0 + days(1), type="lms.course.completed")]).grants) == 1


def test_tiers_are_grants_named_by_tier_and_points_accumulate_under_their_cap() -> None:
    rule = spec({"of": "ci.pipeline.completed"}, tiers=[{"name": "bronze", "count": 2}, {"name": "silver", "count": 4}],
                points={"per_event": 10, "cap": {"per": "day", "max": 25}})
    result = run(rule, [ev(i, T0 + timedelta(hours=i)) for i in range(5)])
    assert [(g.occurrence, g.evidence.tier) for g in result.grants] == [("bronze", "bronze"), ("silver", "silver")]
    assert result.grants[0].grant_id == grant_id("t", "a", "p1", "bronze")
    assert result.state[KEY].points == 25
    points_only = spec({"of": "ci.pipeline.completed"}, points={"per_event": 3})
    only = run(points_only, [ev(i, T0) for i in range(4)])
    assert only.grants == [] and only.state[KEY].points == 12


def test_repeatable_grants_every_n_after_the_first_up_to_max() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed"}, repeatable={"every": 3, "max": 3})
    grants = run(rule, [ev(i, T0 + timedelta(minutes=i)) for i in range(20)]).grants
    assert [g.occurrence for g in grants] == ["1", "2", "3"]
    assert [g.evidence.count for g in grants] == [2, 5, 8]
    assert grants[0].grant_id == grant_id("t", "a", "p1") == grant_id("t", "a", "p1", 1)


def test_an_event_later_than_the_lateness_is_applied_and_recorded() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed"})
    first = run(rule, [ev(1, T0 + days(3))])
    late = run(rule, [ev(2, T0)], state=first.state)
    [grant] = late.grants
    assert late.state[KEY].count == 2 and [x.event for x in late.late] == ["/t#2"]
    assert grant.evidence.late[0].event == "/t#2" and "allowed lateness 24 h" in grant.evidence.late[0].reason


def test_duplicates_in_a_batch_count_once() -> None:
    rule = spec({"count": 2, "of": "ci.pipeline.completed"})
    assert run(rule, [ev(1, T0), ev(1, T0)]).state[KEY].count == 1


@pytest.mark.parametrize("kind_rule", [
    {"count": 2, "of": "ci.pipeline.completed", "window": {"calendar": "week"}},
    {"streak": {"period": "day", "length": 2}, "of": "ci.pipeline.completed"},
])
def test_state_survives_its_json_round_trip(kind_rule: dict) -> None:
    from rules.engine import state_from_json

    first = run(spec(kind_rule), [ev(1, T0)], **BERLIN)
    stored = state_from_json(first.state[KEY].to_json())
    assert stored == first.state[KEY]
    again = run(spec(kind_rule), [ev(2, T0 + days(1))], state={KEY: stored}, **BERLIN)
    assert len(again.grants) == 1


def test_without_keys_and_next_due_for_the_callers() -> None:
    from rules.engine import compile_rules, without_keys

    specs = [spec({"count": 5, "of": "ticket.resolved", "without": {"of": "ticket.reassigned", "same": "ticket"}}),
             spec({"count": 3, "of": "ci.pipeline.completed", "window": {"calendar": "day"}}, key="daily"),
             spec({"streak": {"period": "week", "length": 4}, "of": "ci.pipeline.completed"}, key="weekly")]
    assert without_keys(compile_rules(specs)) == {("ticket.reassigned", "ticket")}
    result = run(specs, [ev(1, T0)], **BERLIN)
    assert result.due[("p1", "daily")] == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert result.due[("p1", "weekly")] == datetime(2026, 3, 15, 23, 0, tzinfo=UTC)  # the next week needs one
    assert result.next_due == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert set(result.changed) == {("p1", "daily"), ("p1", "weekly")}

"""Issue 12 item 6, on the pure engine: results depend on event time, not on arrival.

For any arrival order within the allowed lateness, any split into rounds, with duplicates
inside a batch and retried batches, the grants (ids) and the final progress equal those of the
event-time-sorted, deduplicated stream evaluated at once. Progress is compared by what a user
sees (headline count, granted, occurrences, totals, points, distinct values); the evidence's
first-N list and digest follow arrival and are not compared.

Not covered, by design (README "Rules"): `maintained` (a grant at start + duration is made as
soon as `now` passes it; a break arriving later is recorded, not revoked), a windowed
`repeatable` with `max`, and a repeatable rolling window: those grant first-come. Duplicates
across rounds never reach the engine: the event log dedupes on (tenant, source, id) at ingest.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine import EvalEvent, Evaluation, RuleContext, RuleState, compile_rules, evaluate
from tests.rules.kit import T0, ev, spec

LATENESS = timedelta(hours=24)
CONTEXT = RuleContext(tenant="t", time_zone="Europe/Berlin", week_start=0, allowed_lateness=LATENESS,
                      person_zones={"p2": "America/New_York"},
                      first_seen={("ticket.reassigned", "ticket", "3"): T0 + timedelta(days=2)})
CI = "ci.pipeline.completed"
RULES = compile_rules([
    spec({"count": 4, "of": CI, "where": {"outcome": "success"}}, key="count"),
    spec({"count": 3, "of": CI, "distinct": "repo"}, key="distinct"),
    spec({"count": 3, "of": CI, "window": {"calendar": "day"}}, key="day", repeatable={}),
    spec({"count": 2, "of": CI, "window": {"calendar": "day"}}, key="first-day"),
    spec({"count": 8, "of": CI, "window": {"calendar": "week"}}, key="weekly", repeatable={}),
    spec({"count": 6, "of": CI, "window": {"rolling": "1d"}}, key="rolling"),
    spec({"streak": {"period": "day", "length": 3, "grace": 1}, "of": CI, "where": {"outcome": "success"}},
         key="streak", repeatable={"every": 1}),
    spec({"streak": {"period": "workday", "length": 2}, "of": CI, "where": {"repo": "c"}}, key="workdays",
         repeatable={"every": 2}),
    spec({"of": CI, "where": {"repo": {"regex": "^a"}}}, key="tiers",
         tiers=[{"name": "bronze", "count": 5}, {"name": "silver", "count": 15}],
         points={"per_event": 7, "cap": {"per": "week", "max": 30}}),
    spec({"count": 10, "of": CI}, key="again", repeatable={"every": 7, "max": 4}),
    spec({"count": 2, "of": "ticket.resolved", "without": {"of": "ticket.reassigned", "same": "ticket"}},
         key="without"),
    spec({"all": [{"of": "ticket.resolved"}, {"of": CI, "where": {"outcome": "success"}}], "ordered": True},
         key="path"),
])

_event = st.tuples(
    st.integers(0, 9 * 24 * 60),                       # minutes after T0: nine days
    st.sampled_from([CI, CI, CI, "ticket.resolved"]),
    st.sampled_from(["success", "failure"]),
    st.sampled_from(["a1", "a2", "b1", "c"]),
    st.sampled_from(["p1", "p2"]),
    st.integers(1, 4),                                 # ticket
    st.integers(0, 24 * 60 - 1),                       # arrival delay in minutes, below the lateness
)


def _events(raw: list[tuple[Any, ...]]) -> list[tuple[EvalEvent, timedelta]]:
    return [(ev(i, T0 + timedelta(minutes=m), type=t, person=p, outcome=o, repo=r, ticket=k),
             timedelta(minutes=m + delay)) for i, (m, t, o, r, p, k, delay) in enumerate(raw)]


def _seen(states: dict[tuple[str, str], RuleState]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {key: (s.count, s.granted, sorted(s.occurrences), getattr(s, "total", None),
                  getattr(s, "points", None), sorted(getattr(s, "values", ())), getattr(s, "done", None),
                  {k: w[3] for k, w in getattr(s, "windows", {}).items()})
            for key, s in states.items()}


def _rounds(arrivals: list[tuple[EvalEvent, timedelta]], cuts: list[int]) -> tuple[list[str], Evaluation]:
    """Evaluate in arrival order, split at `cuts`; each round's `now` is its last arrival."""
    state: dict[tuple[str, str], RuleState] = {}
    grants: list[str] = []
    bounds = sorted({0, len(arrivals), *(c % (len(arrivals) + 1) for c in cuts)})
    result: Evaluation | None = None
    for start, end in zip(bounds, bounds[1:], strict=False):
        batch = arrivals[start:end]
        now = T0 + max(arrived for _, arrived in arrivals[:end])
        result = evaluate(state, [e for e, _ in batch], RULES, context=CONTEXT, now=now)
        state = result.state
        grants += [g.grant_id for g in result.grants]
    last = T0 + max((arrived for _, arrived in arrivals), default=timedelta(0))
    final = evaluate(state, [], RULES, context=CONTEXT, now=last, due_keys=list(state))
    return grants + [g.grant_id for g in final.grants], final


def _reference(arrivals: list[tuple[EvalEvent, timedelta]]) -> tuple[list[str], Evaluation]:
    ordered = sorted(arrivals, key=lambda pair: pair[0].event.time)
    return _rounds(ordered, [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_event, min_size=1, max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_any_arrival_within_lateness_and_any_split_equal_the_sorted_stream(
    raw: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    events = _events(raw)
    arrivals = sorted(events, key=lambda pair: pair[1])
    expected_grants, expected = _reference(events)
    grants, final = _rounds(arrivals, cuts)
    assert len(grants) == len(set(grants)), "a grant was made twice"
    assert sorted(grants) == sorted(expected_grants)
    assert _seen(final.state) == _seen(expected.state)


@settings(max_examples=60, deadline=None)
@given(st.lists(_event, min_size=1, max_size=30), st.data())
def test_duplicates_in_a_batch_and_a_retried_batch_change_nothing(raw: list[tuple[Any, ...]],
                                                                  data: st.DataObject) -> None:
    events = [e for e, _ in _events(raw)]
    doubled = events + data.draw(st.lists(st.sampled_from(events), max_size=10))
    now = T0 + timedelta(days=10)
    once = evaluate({}, events, RULES, context=CONTEXT, now=now)
    twice = evaluate({}, doubled, RULES, context=CONTEXT, now=now)
    retried = evaluate({}, doubled, RULES, context=CONTEXT, now=now)  # a retry starts from the same state
    assert [g.grant_id for g in twice.grants] == [g.grant_id for g in once.grants]
    assert _seen(twice.state) == _seen(once.state)
    assert [g.evidence for g in retried.grants] == [g.evidence for g in twice.grants]
    assert {k: s.to_json() for k, s in retried.state.items()} == {k: s.to_json() for k, s in twice.state.items()}
    assert retried.due == twice.due and retried.skipped == twice.skipped

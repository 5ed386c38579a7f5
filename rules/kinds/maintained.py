"""Maintained for: a state that must hold for a duration ("30 days without a failed check").

It starts at the first `from` event and a `broken_by` event resets it; the clock restarts at
the next `from`. It grants at start + duration, with that instant as the grant time, when
either `now` or a later event passes it. The state keeps the from/break events within the
lateness as a sorted log (older ones folded into `base`, the start in force before the log),
so a late break that arrives before the completion is applied as if it came in order. A
break whose event time is earlier but which arrives after the grant is recorded in the state
and the explanations, never revoked.
"""

from __future__ import annotations

from bisect import insort
from typing import TYPE_CHECKING, Any

from rules.definitions import AchievementSpec
from rules.kinds.base import Kind, Run, always, any_of, matcher
from rules.matchers import Predicate
from rules.state import MaintainedState

if TYPE_CHECKING:
    from rules.engine import CompiledRule, EvalEvent

__all__ = ["MaintainedKind"]

_BREAKS_KEPT = 20


class MaintainedKind(Kind):
    name = "maintained"
    state_type = MaintainedState

    def __init__(self, spec: AchievementSpec) -> None:
        super().__init__(spec)
        rule = spec.rule
        assert rule.from_ is not None and rule.broken_by is not None and rule.maintained is not None
        self.starts, self.breaks = rule.from_, rule.broken_by
        self.event_types = tuple(dict.fromkeys((self.starts.of, self.breaks.of)))
        self.match = always
        self.starts_match, self.breaks_match = matcher(self.starts.where), matcher(self.breaks.where)
        self.seconds = rule.maintained.total_seconds()
        self.target = None

    def matchers(self) -> dict[str, Predicate]:
        return any_of([(self.starts.of, self.starts_match), (self.breaks.of, self.breaks_match)])

    def apply(self, state: MaintainedState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        kind, data = item.event.type, item.event.data
        is_break = kind == self.breaks.of and self.breaks_match(data)
        if not is_break and not (kind == self.starts.of and self.starts_match(data)):
            return
        state.record(item.key)
        if state.granted:
            if is_break and len(state.broken_after_grant) < _BREAKS_KEPT:
                state.broken_after_grant.append([ts, item.key])
                run.explanations.append(f"{item.person_id}: {rule.key} was already granted; the break "
                                        f"{item.key} is recorded, not revoked")
            return
        insort(state.log, [ts, is_break, item.key])
        self._replay(state, run, rule, item.person_id, limit=None)

    def _replay(self, state: MaintainedState, run: Run, rule: CompiledRule, person: str, *,
                limit: float | None) -> None:
        """Walk the log; grant when an event or `limit` (now) passes start + duration."""
        since: Any = state.base
        for ts, is_break, _key in state.log:
            if since is not None and since + self.seconds <= ts:
                break
            since = None if is_break else (ts if since is None else since)
        state.since = since
        if since is not None and not state.granted:
            done = since + self.seconds
            if done <= max(state.log[-1][0] if state.log else done - 1, limit or done - 1):
                run.grant(rule, state, person, occurrence="1", at=done)
                state.log = []
        state.count = 1 if state.since is not None else 0

    def advance(self, state: MaintainedState, run: Run, rule: CompiledRule, person: str) -> None:
        if state.granted:
            return
        self._replay(state, run, rule, person, limit=run.now)
        horizon = (state.high or run.now) - run.context.allowed_lateness.total_seconds()
        while state.log and state.log[0][0] < horizon and (
                state.since is None or state.log[0][0] < state.since):
            ts, is_break, _key = state.log.pop(0)
            state.base = None if is_break else (ts if state.base is None else state.base)

    def due(self, state: MaintainedState, run: Run, person: str) -> float | None:
        if state.granted or state.since is None:
            return None
        return state.since + self.seconds

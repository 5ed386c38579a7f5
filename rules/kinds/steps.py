"""All of / in order: every step's event, in any order, or (`ordered`) one after the other.

Per step the state keeps the sorted times of its matching events (the earliest few: a path
is walked once), and `done` is read off them: unordered, a step is done at its first event;
ordered, at its first event after the previous step was done. So a late event lands where
it belongs, and `done` shows which steps are complete (progress, "why not").
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import TYPE_CHECKING

from rules.definitions import AchievementSpec
from rules.kinds.base import Kind, Run, always, any_of, matcher
from rules.matchers import Predicate
from rules.state import StepsState

if TYPE_CHECKING:
    from rules.engine import CompiledRule, EvalEvent

__all__ = ["StepsKind"]

_TIMES_KEPT = 20


class StepsKind(Kind):
    name = "all"
    state_type = StepsState
    timed = False

    def __init__(self, spec: AchievementSpec) -> None:
        super().__init__(spec)
        assert spec.rule.all is not None
        self.steps = [(step.of, matcher(step.where)) for step in spec.rule.all]
        self.ordered = spec.rule.ordered
        self.event_types = tuple(dict.fromkeys(of for of, _ in self.steps))
        self.match = always
        self.target = len(self.steps)

    def matchers(self) -> dict[str, Predicate]:
        return any_of(self.steps)

    def apply(self, state: StepsState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        if len(state.steps) != len(self.steps):
            state.steps = [[] for _ in self.steps]
        hit = False
        for index, (of, match) in enumerate(self.steps):
            if of == item.event.type and match(item.event.data):
                insort(state.steps[index], ts)
                del state.steps[index][_TIMES_KEPT:]
                hit = True
        if not hit:
            return
        state.record(item.key)
        state.done = self._done(state.steps)
        state.count = sum(t is not None for t in state.done)
        if state.count == len(self.steps) and not state.granted:
            run.grant(rule, state, item.person_id, occurrence="1", at=item.event.time, item=item)

    def _done(self, steps: list[list[float]]) -> list[float | None]:
        if not self.ordered:
            return [times[0] if times else None for times in steps]
        done: list[float | None] = []
        previous = float("-inf")
        for times in steps:
            at = bisect_right(times, previous) if previous is not None else len(times)
            current = times[at] if previous is not None and at < len(times) else None
            done.append(current)
            previous = current  # type: ignore[assignment]
        return done

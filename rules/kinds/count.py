"""Count rules: today's count, `distinct`, calendar and rolling windows, `without`; and on top,
`tiers`, `repeatable` and `points`.

Order: every part of the state is a fold that does not depend on arrival order within the
lateness (a total, a set of values, a count per calendar window, the sorted times of a
rolling window), so a shuffled stream ends where the event-time-sorted one does, with the same
grant ids.

- Thresholds: the i-th grant is tier i (`tiers`), or `count + i·every` (`repeatable`), or
  just `count`; each is granted once, when `total` reaches it.
- Calendar window: a window is found by the event's time among the windows kept (a window
  keeps the zone it opened with), else opened in the person's zone. Without `repeatable` the
  rule grants once, in the first window that reaches `count`; with it, once per window, the
  occurrence being the window key. A window's close only changes the headline count.
- Rolling window (t − d, t]: at each event; a late event re-checks the windows that end at the
  kept events after it. With `repeatable`, events up to a grant do not count again.
- `without`: the event does not count if a B event with the same key happened before it
  (or within `within` before it), per `context.first_seen` (any person of the tenant).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import TYPE_CHECKING, Any

from rules.definitions import AchievementSpec
from rules.evidence import WindowSpan
from rules.kinds.base import Kind, Run
from rules.matchers import MISSING, OddValue, lookup
from rules.state import CountState
from rules.windows import as_datetime, calendar_span

if TYPE_CHECKING:
    from rules.engine import CompiledRule, EvalEvent

__all__ = ["CountKind"]

_POINTS_WINDOWS_KEPT = 8


def _key_value(data: dict[str, Any], path: str, role: str) -> str | None:
    value = lookup(data, path)
    if value is MISSING or value is None:
        return None
    if isinstance(value, dict | list):
        raise OddValue(f"{path}: a {type(value).__name__} cannot be {role}")
    return str(value)


class CountKind(Kind):
    name = "count"
    state_type = CountState

    def __init__(self, spec: AchievementSpec) -> None:
        super().__init__(spec)
        rule = spec.rule
        self.distinct = rule.distinct
        self.calendar = rule.window.calendar if rule.window else None
        self.rolling = rule.window.rolling.total_seconds() if rule.window and rule.window.rolling else None
        self.without = rule.without
        self.within = rule.without.within.total_seconds() if rule.without and rule.without.within else None
        self.tiers = [(t.name, t.count) for t in spec.tiers] if spec.tiers else None
        self.repeat = spec.repeatable
        self.points = spec.points
        self.timed = bool(self.calendar or self.rolling)
        self.containers = tuple(name for name, used in (
            ("values", self.distinct), ("windows", self.calendar), ("times", self.rolling),
            ("points_by", self.points and self.points.cap)) if used)

    def step(self, index: int) -> tuple[str, int, str | None] | None:
        """The `index`-th grant: (occurrence, total needed, tier), or None when there is none."""
        if self.tiers is not None:
            if index >= len(self.tiers):
                return None
            name, count = self.tiers[index]
            return name, count, name
        if self.target is None:
            return None
        if self.repeat is None:
            return ("1", self.target, None) if index == 0 else None
        if self.repeat.max is not None and index >= self.repeat.max:
            return None
        return str(index + 1), self.target + index * self.repeat.every, None

    def apply(self, state: CountState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        data = item.event.data
        if self.without is not None and self._cancelled(data, ts, run):
            return
        if self.distinct is not None:
            value = _key_value(data, self.distinct, "counted as distinct")
            if value is None or value in state.values:
                return
            state.values.add(value)
        state.record(item.key)
        state.total += 1
        if self.points is not None:
            self._add_points(state, run, item.person_id, ts)
        if self.calendar is not None:
            self._calendar(state, run, rule, ts, item)
        elif self.rolling is not None:
            self._rolling(state, run, rule, ts, item)
        else:
            state.count = state.total
            self._thresholds(state, run, rule, item)

    def _cancelled(self, data: dict[str, Any], ts: float, run: Run) -> bool:
        assert self.without is not None
        value = _key_value(data, self.without.same, "a key")
        if value is None:
            return False
        seen = run.context.first_seen.get((self.without.of, self.without.same, value))
        if seen is None:
            return False
        at = seen.timestamp()
        return at <= ts and (self.within is None or at >= ts - self.within)

    def _thresholds(self, state: CountState, run: Run, rule: CompiledRule, item: EvalEvent) -> None:
        while (step := self.step(len(state.occurrences))) is not None and state.total >= step[1]:
            run.grant(rule, state, item.person_id, occurrence=step[0], at=item.event.time, item=item,
                      tier=step[2])

    def _add_points(self, state: CountState, run: Run, person: str, ts: float) -> None:
        assert self.points is not None
        points = self.points.per_event
        if (cap := self.points.cap) is not None:
            key = calendar_span(ts, cap.per, run.zone_of(person), run.context.week_start)[2]
            have = state.points_by.get(key, 0)
            points = min(points, cap.max - have)
            if points <= 0:
                return
            state.points_by[key] = have + points
            if len(state.points_by) > _POINTS_WINDOWS_KEPT:
                del state.points_by[min(state.points_by)]
        state.points += points

    # --- calendar windows ---

    def _window(self, state: CountState, run: Run, person: str, ts: float) -> tuple[str, list[Any]]:
        for key, window in state.windows.items():
            if window[0] <= ts < window[1]:
                return key, window
        zone = run.zone_of(person)
        start, end, key = calendar_span(ts, self.calendar or "day", zone, run.context.week_start)
        if (same := state.windows.get(key)) is not None:  # the zone changed within one window key
            same[0], same[1] = min(same[0], start), max(same[1], end)
            return key, same
        for other in state.windows.values():  # an older window keeps its zone: no overlap
            if other[0] < end and start < other[1]:
                start, end = (max(start, other[1]), end) if other[1] <= ts else (start, min(end, other[0]))
        window = state.windows[key] = [start, end, zone, 0, False]
        return key, window

    def _calendar(self, state: CountState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        key, window = self._window(state, run, item.person_id, ts)
        window[3] += 1
        if self.target is None or window[3] < self.target or window[4]:
            return
        if self.repeat is None:
            if state.granted:
                return
            occurrence = "1"
        else:
            occurrence = key
            if key in state.occurrences or self._capped(state):
                return
        window[4] = True
        span = WindowSpan(start=as_datetime(window[0]), end=as_datetime(window[1]), zone=window[2], key=key)
        run.grant(rule, state, item.person_id, occurrence=occurrence, at=item.event.time, item=item,
                  window=span)

    def _capped(self, state: CountState) -> bool:
        cap = self.repeat.max if self.repeat is not None else None
        return cap is not None and len(state.occurrences) >= cap

    # --- rolling windows ---

    def _in_window(self, times: list[float], end: float, reset_after: float | None) -> int:
        assert self.rolling is not None
        low = end - self.rolling if reset_after is None else max(end - self.rolling, reset_after)
        return bisect_right(times, end) - bisect_right(times, low)

    def _rolling(self, state: CountState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        assert self.rolling is not None
        times = state.times
        insort(times, ts)
        candidates = [u for u in times[bisect_right(times, ts) - 1:] if u < ts + self.rolling]
        for end in candidates:  # in order, only `ts`; a late event can complete a later window
            if self.target is None or self._in_window(times, end, state.reset_after) < self.target:
                continue
            if self.repeat is None and state.granted:
                return
            step = self.step(len(state.occurrences)) if self.repeat is not None else ("1", 0, None)
            if step is None:
                return
            span = WindowSpan(start=as_datetime(end - self.rolling), end=as_datetime(end),
                              zone=run.zone_of(item.person_id), key="rolling")
            run.grant(rule, state, item.person_id, occurrence=step[0], at=end, item=item, window=span)
            if self.repeat is not None:
                state.reset_after = end
            return

    # --- time passing ---

    def advance(self, state: CountState, run: Run, rule: CompiledRule, person: str) -> None:
        horizon = (state.high or run.now) - run.context.allowed_lateness.total_seconds()
        reference = max(run.now, state.high or run.now)
        if self.calendar is not None:
            for key in [k for k, w in state.windows.items() if w[1] <= horizon and w[1] <= reference]:
                del state.windows[key]
            state.count = next((w[3] for w in state.windows.values() if w[0] <= reference < w[1]), 0)
        elif self.rolling is not None:
            cut = bisect_right(state.times, horizon - self.rolling)
            if cut:
                del state.times[:cut]
            state.count = self._in_window(state.times, reference, state.reset_after)

    def due(self, state: CountState, run: Run, person: str) -> float | None:
        reference = max(run.now, state.high or run.now)
        if self.calendar is not None:
            return next((w[1] for w in state.windows.values() if w[0] <= reference < w[1] and w[3]), None)
        if self.rolling is not None and state.count:
            low = reference - self.rolling
            first = state.times[bisect_right(state.times, low)]
            return first + self.rolling
        return None

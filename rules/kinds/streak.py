"""Streaks: consecutive periods (day, workday, week in the person's zone) with an event each.

The state is the set of periods that had an event, so a late event that fills a gap is folded
in exactly as if it had come in order. Streaks are read off the sorted periods: a gap of g
missed periods joins two runs while the streak's total `grace` allows it. A grant comes when
a streak reaches `length` (with `repeatable`: again every `every` periods further, and for each
new streak, up to `max`); its evidence carries the span, the zone and the grace used.

A break needs no event: `due` is the close of the last period the streak can still miss, and
at that time the headline count drops to 0; the next event starts a new streak. Streaks that
no event within the lateness can change any more are folded into `base_units`.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import TYPE_CHECKING

from rules.definitions import AchievementSpec
from rules.evidence import StreakSpan
from rules.kinds.base import Kind, Run
from rules.state import StreakState
from rules.windows import as_datetime, period_end, period_of, period_start

if TYPE_CHECKING:
    from rules.engine import CompiledRule, EvalEvent

__all__ = ["StreakKind"]

Run_ = list[int]  # [first period, last period, length, grace used]


class StreakKind(Kind):
    name = "streak"
    state_type = StreakState

    def __init__(self, spec: AchievementSpec) -> None:
        super().__init__(spec)
        assert spec.rule.streak is not None
        self.unit = spec.rule.streak.period
        self.length = spec.rule.streak.length
        self.grace = spec.rule.streak.grace
        self.repeat = spec.repeatable
        self.target = self.length

    def runs(self, periods: list[int]) -> list[Run_]:
        out: list[Run_] = []
        for p in periods:
            if out and (gap := p - out[-1][1] - 1) + out[-1][3] <= self.grace:
                run = out[-1]
                run[1], run[2], run[3] = p, run[2] + 1, run[3] + gap
            else:
                out.append([p, p, 1, 0])
        return out

    def units(self, length: int) -> int:
        if length < self.length:
            return 0
        return 1 if self.repeat is None else 1 + (length - self.length) // self.repeat.every

    def capped(self, units: int) -> int:
        if self.repeat is None:
            return min(units, 1)
        return units if self.repeat.max is None else min(units, self.repeat.max)

    def apply(self, state: StreakState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        zone = run.zone_of(item.person_id)
        period = period_of(ts, self.unit, zone, run.context.week_start)
        if period is None:  # a weekend day: no workday period, neither kept nor broken
            return
        state.zone = zone
        state.record(item.key)
        periods = state.periods
        at = bisect_left(periods, period)
        if at < len(periods) and periods[at] == period:
            return
        insort(periods, period)
        runs = self.runs(periods)
        state.count = runs[-1][2]
        units = self.capped(state.base_units + sum(self.units(r[2]) for r in runs))
        holder = next(r for r in runs if r[0] <= period <= r[1])
        while len(state.occurrences) < units:
            run.grant(rule, state, item.person_id, occurrence=str(len(state.occurrences) + 1),
                      at=item.event.time, item=item, streak=self._span(holder, zone, run))

    def _span(self, streak: Run_, zone: str, run: Run) -> StreakSpan:
        ws = run.context.week_start
        return StreakSpan(start=as_datetime(period_start(streak[0], self.unit, zone, ws)),
                          end=as_datetime(period_end(streak[1], self.unit, zone, ws)),
                          length=streak[2], zone=zone, grace_used=streak[3])

    def _break_at(self, state: StreakState, run: Run, streak: Run_) -> float:
        last_missable = streak[1] + 1 + (self.grace - streak[3])
        zone = state.zone or run.context.time_zone
        return period_end(last_missable, self.unit, zone, run.context.week_start)

    def advance(self, state: StreakState, run: Run, rule: CompiledRule, person: str) -> None:
        if not state.periods:
            return
        runs = self.runs(state.periods)
        self._fold(state, run, runs)
        state.count = 0 if run.now >= self._break_at(state, run, runs[-1]) else runs[-1][2]

    def _fold(self, state: StreakState, run: Run, runs: list[Run_]) -> None:
        """Drop closed streaks no event within the lateness can extend; keep their grants' worth."""
        zone = state.zone or run.context.time_zone
        horizon = (state.high or run.now) - run.context.allowed_lateness.total_seconds()
        for _ in range(3):  # a workday horizon on a weekend: step back to Friday
            horizon_period = period_of(horizon, self.unit, zone, run.context.week_start)
            if horizon_period is not None:
                break
            horizon -= 86400
        else:
            return
        closed = [r for r in runs[:-1] if r[1] + 1 + self.grace - r[3] < horizon_period]
        if closed:
            state.base_units += sum(self.units(r[2]) for r in closed)
            del state.periods[:sum(r[2] for r in closed)]

    def due(self, state: StreakState, run: Run, person: str) -> float | None:
        if not state.periods or state.count == 0:
            return None
        return self._break_at(state, run, self.runs(state.periods)[-1])

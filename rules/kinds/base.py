"""What every rule kind implements, and `Run`: one `evaluate` call's context and outputs.

A kind is compiled once per achievement version. Per matching event the engine calls
`apply(state, run, ts, key, item)` on a copy of the person's state it owns for this call;
after the events, `advance(state, run, person, now)` lets time pass (a window closes, a streak
breaks, a maintained-for completes) and `due(state, run, person)` says when that can next
happen with no event. Kinds raise `OddValue` for data they cannot judge; the engine skips that
event for that rule and reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rules.definitions import AchievementSpec
from rules.evidence import Evidence, EvidenceRule, Identity, LateEvent, StreakSpan, WindowSpan
from rules.matchers import Predicate, compile_where
from rules.state import RuleState
from rules.windows import as_datetime

if TYPE_CHECKING:
    from rules.engine import CompiledRule, EvalEvent, Grant, RuleContext

__all__ = ["Kind", "Run", "always", "matcher"]


def always(_data: dict[str, Any]) -> bool:
    return True


def matcher(where: dict[str, Any]) -> Predicate:
    """One closure for all of `where`: no loop at all for zero or one condition."""
    tests = tuple(test for _description, test in compile_where(where))
    if not tests:
        return always
    if len(tests) == 1:
        return tests[0]
    return lambda data: all(test(data) for test in tests)


@dataclass
class Run:
    """One evaluate call: its context and `now`, and what it produces."""

    context: RuleContext
    now: float
    grant_factory: Callable[..., Grant]
    grants: list[Grant] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    late: dict[tuple[str, str], list[LateEvent]] = field(default_factory=dict)

    def zone_of(self, person: str) -> str:
        return self.context.person_zones.get(person, self.context.time_zone)

    def grant(self, rule: CompiledRule, state: RuleState, person: str, *, occurrence: str,
              at: float | datetime, item: EvalEvent | None = None, window: WindowSpan | None = None,
              streak: StreakSpan | None = None, tier: str | None = None) -> None:
        granted_at = at if isinstance(at, datetime) else as_datetime(at)
        decision = dict(item.decision) if item is not None else {}
        evidence = Evidence(
            events=list(state.first_events), count=_evidence_count(state), digest=state.digest,
            rule=EvidenceRule(key=rule.key, version=rule.version, hash=rule.content_hash, kind=rule.kind,
                              count=rule.target, of=rule.event_type),
            occurrence=occurrence, window=window, streak=streak, tier=tier,
            identity=Identity(person=person, **decision),
            completed_by=item.key if item is not None else None,
            late=self.late.get((person, rule.key), []))
        state.occurrences.append(occurrence)
        state.granted = True
        self.grants.append(self.grant_factory(rule, person, occurrence, granted_at, evidence))
        which = "" if occurrence == "1" else f" ({occurrence})"
        self.explanations.append(
            f"{person} earned {rule.key} v{rule.version}{which} at {granted_at:%F %R} UTC")


def _evidence_count(state: RuleState) -> int:
    return int(getattr(state, "total", state.count))


class Kind:
    """The interface; see the module docstring."""

    name = "count"
    state_type: type[RuleState] = RuleState

    def __init__(self, spec: AchievementSpec) -> None:
        self.spec = spec
        self.event_types: tuple[str, ...] = (spec.rule.of,) if spec.rule.of else ()
        self.match: Predicate = matcher(spec.rule.where)
        self.target: int | None = spec.rule.count

    def begin(self, previous: RuleState | None) -> RuleState:
        """A private copy of `previous` (adopting another kind's headline fields), or a new state."""
        if previous is None:
            return self.state_type()
        if type(previous) is self.state_type:
            return previous.copy()
        return self.state_type(count=previous.count, granted=previous.granted,
                               first_events=previous.first_events, digest=previous.digest,
                               high=previous.high, occurrences=previous.occurrences)

    def apply(self, state: RuleState, run: Run, rule: CompiledRule, ts: float, item: EvalEvent) -> None:
        raise NotImplementedError

    def advance(self, state: RuleState, run: Run, rule: CompiledRule, person: str) -> None:
        """Let time pass up to `run.now`; default: nothing changes without an event."""

    def due(self, state: RuleState, run: Run, person: str) -> float | None:
        return None

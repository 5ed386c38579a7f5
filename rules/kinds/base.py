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

__all__ = ["Kind", "Run", "always", "any_of", "matcher"]


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


def any_of(pairs: list[tuple[str, Predicate]]) -> dict[str, Predicate]:
    """One predicate per event type: does any of the (type, predicate) pairs of that type match."""
    out: dict[str, Predicate] = {}
    for event_type in dict.fromkeys(t for t, _ in pairs):
        tests = tuple(test for t, test in pairs if t == event_type)
        out[event_type] = tests[0] if len(tests) == 1 else _either(tests)
    return out


def _either(tests: tuple[Predicate, ...]) -> Predicate:
    return lambda data: any(test(data) for test in tests)


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
        decision = item.decision if item is not None else {}
        # model_construct: every value here is the engine's own, already typed; validating it
        # again was most of a grant's cost
        identity = Identity.model_construct(person=person, link=decision.get("link"),
                                            source=decision.get("source"), **_others(decision))
        evidence = Evidence.model_construct(
            events=list(state.first_events), count=_evidence_count(state), digest=state.digest,
            rule=rule.logic.evidence_rule(rule), occurrence=occurrence, window=window, streak=streak,
            tier=tier, identity=identity, completed_by=item.key if item is not None else None,
            late=self.late.get((person, rule.key), []))
        state.occurrences = (*state.occurrences, occurrence)
        state.granted = True
        self.grants.append(self.grant_factory(rule, person, occurrence, granted_at, evidence))
        which = "" if occurrence == "1" else f" ({occurrence})"
        self.explanations.append(
            f"{person} earned {rule.key} v{rule.version}{which} at {granted_at:%F %R} UTC")


def _others(decision: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in decision.items() if k not in ("person", "link", "source")}


def _evidence_count(state: RuleState) -> int:
    return int(getattr(state, "total", state.count))


class Kind:
    """The interface; see the module docstring."""

    name = "count"
    state_type: type[RuleState] = RuleState
    timed = True  # False: `advance` and `due` never change anything (no time-based behaviour)

    def __init__(self, spec: AchievementSpec) -> None:
        self.spec = spec
        self.event_types: tuple[str, ...] = (spec.rule.of,) if spec.rule.of else ()
        self.match: Predicate = matcher(spec.rule.where)
        self.target: int | None = spec.rule.count
        self.containers: tuple[str, ...] | None = None  # what `fresh` must make mutable; None: all

    def matchers(self) -> dict[str, Predicate]:
        """Per event type, whether an event of it concerns this rule at all: the engine's index
        calls it before touching any state, so an event no step wants costs no state copy."""
        return {event_type: self.match for event_type in self.event_types}

    def evidence_rule(self, rule: CompiledRule) -> EvidenceRule:
        """The rule part of every grant's evidence: built once per compiled rule."""
        cached: EvidenceRule | None = getattr(self, "_evidence_rule", None)
        if cached is None:
            cached = self._evidence_rule = EvidenceRule(
                key=rule.key, version=rule.version, hash=rule.content_hash, kind=rule.kind,
                count=rule.target if rule.kind == "count" else None, of=rule.event_type)
        return cached

    def begin(self, previous: RuleState | None) -> RuleState:
        """A private copy of `previous` (adopting another kind's headline fields), or a new state."""
        if previous is None:
            return self.state_type.fresh(self.containers)
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

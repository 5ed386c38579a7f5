"""The rule engine: pure and total. State, events and `now` in; state, grants, explanations out.

No clock, no I/O, no randomness: the same inputs give the same outputs, so a retried or
replayed evaluation decides exactly what the first one did.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rules.definitions import AchievementSpec
from rules.events import CloudEvent

__all__ = [
    "CompiledRule",
    "EvalEvent",
    "Grant",
    "Progress",
    "compile_rule",
    "evaluate",
    "grant_id",
]

EVIDENCE_FIRST_N = 20
_MISSING = object()
Predicate = Callable[[dict[str, Any]], bool]
GRANT_NAMESPACE = uuid.UUID("5b0c7f0e-2d7c-4f5e-9a57-8c1d0a6e3b21")


def grant_id(tenant: str, achievement: str, person_id: str, occurrence: int = 1) -> str:
    """Deterministic, opaque and independent of the rule version (DESIGN §7)."""
    return str(uuid.uuid5(GRANT_NAMESPACE, f"{tenant}\x1f{achievement}\x1f{person_id}\x1f{occurrence}"))


@dataclass(frozen=True)
class CompiledRule:
    key: str
    version: int
    content_hash: str
    event_type: str
    target: int
    conditions: tuple[tuple[str, str, Predicate], ...]  # (attribute, description, test)

    def failed_condition(self, event: CloudEvent) -> str | None:
        """None when `event` counts; else the first condition it misses, for "why not"."""
        if event.type != self.event_type:
            return f"type is {event.type}, not {self.event_type}"
        for _attribute, description, test in self.conditions:
            if not test(event.data):
                return description
        return None


def _lookup(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _compare(op: str, operand: Any) -> Callable[[Any], bool]:
    if op == "eq":
        return lambda v: v == operand
    if op == "ne":
        return lambda v: v is not _MISSING and v != operand
    if op == "in":
        allowed = list(operand)
        return lambda v: v in allowed
    if op == "exists":
        return lambda v: (v is not _MISSING and v is not None) == operand
    bound = float(operand)
    checks = {"gt": bound.__lt__, "gte": bound.__le__, "lt": bound.__gt__, "lte": bound.__ge__}
    check = checks[op]
    return lambda v: (n := _number(v)) is not None and check(n)


def _condition(attribute: str, condition: Any) -> tuple[str, str, Predicate]:
    if isinstance(condition, dict):
        ((op, operand),) = condition.items()
    elif isinstance(condition, list):
        op, operand = "in", condition
    else:
        op, operand = "eq", condition
    test = _compare(op, operand)
    return attribute, f"{attribute} {op} {operand!r}", lambda data: test(_lookup(data, attribute))


def compile_rule(spec: AchievementSpec) -> CompiledRule:
    conditions = tuple(_condition(a, c) for a, c in sorted(spec.rule.where.items()))
    return CompiledRule(spec.key, spec.version, spec.content_hash(), spec.rule.of,
                        spec.rule.count, conditions)


@dataclass(frozen=True)
class Progress:
    """One person's progress on one achievement version."""

    count: int = 0
    first_events: tuple[str, ...] = ()
    digest: str = ""  # running sha256 over every counted event's key
    granted: bool = False

    def add(self, event_key: str) -> Progress:
        first = self.first_events
        if len(first) < EVIDENCE_FIRST_N:
            first = (*first, event_key)
        digest = hashlib.sha256(f"{self.digest}|{event_key}".encode()).hexdigest()
        return replace(self, count=self.count + 1, first_events=first, digest=digest)


@dataclass(frozen=True)
class EvalEvent:
    seq: int
    person_id: str
    event: CloudEvent
    decision: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.event.source}#{self.event.id}"


@dataclass(frozen=True)
class Grant:
    grant_id: str
    person_id: str
    rule: CompiledRule
    granted_at: datetime  # source time of the event that completed the rule
    evidence: dict[str, Any]


StateKey = tuple[str, str]  # (person_id, achievement key)


def evaluate(
    state: dict[StateKey, Progress],
    events: Sequence[EvalEvent],
    rules: Iterable[CompiledRule],
    *,
    tenant: str,
    now: datetime,
) -> tuple[dict[StateKey, Progress], list[Grant], list[str]]:
    """Apply `events` (in order) to `state`; returns new state, new grants and explanations."""
    rules = list(rules)
    new_state = dict(state)
    grants: list[Grant] = []
    explanations: list[str] = []
    for item in events:
        for rule in rules:
            if rule.failed_condition(item.event) is not None:
                continue
            key = (item.person_id, rule.key)
            progress = new_state.get(key, Progress()).add(item.key)
            if not progress.granted and progress.count >= rule.target:
                progress = replace(progress, granted=True)
                grants.append(_grant(tenant, rule, item, progress))
                explanations.append(f"{item.person_id} earned {rule.key} v{rule.version} at {now:%F}")
            new_state[key] = progress
    return new_state, grants, explanations


def _grant(tenant: str, rule: CompiledRule, item: EvalEvent, progress: Progress) -> Grant:
    evidence = {
        "events": list(progress.first_events),
        "count": progress.count,
        "digest": progress.digest,
        "rule": {"key": rule.key, "version": rule.version, "hash": rule.content_hash,
                 "count": rule.target, "of": rule.event_type},
        "identity": {"person": item.person_id, **item.decision},
        "completed_by": item.key,
    }
    return Grant(grant_id(tenant, rule.key, item.person_id), item.person_id, rule,
                 item.event.time, evidence)

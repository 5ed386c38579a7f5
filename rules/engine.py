"""The rule engine: pure and total. State, events, `now` and a context in; an `Evaluation` out.

No clock, no I/O, no randomness: the same inputs give the same outputs, so a retried or
replayed evaluation decides exactly what the first one did. The contract other parts build
on is `/work/helpers/ENGINE.md` (kept in README "Rules").

Event time, not arrival: a batch is applied in event-time order (ties by event key), once per
event key. Every kind keeps state that does not depend on arrival order within the tenant's
`allowed_lateness`, so any arrival order within it ends with the same grant ids and counts as
the sorted stream. An event older than its state's latest event by more than the lateness is
still applied (never dropped, never counted twice within a batch) and reported in
`Evaluation.late` and in the evidence of a grant it helps make. An event a rule cannot judge
(`rules.matchers.OddValue`: a string where a number was expected) is not counted by that rule
and is reported in `Evaluation.skipped`, so a shard never retries forever on it.

The hot path does no parsing and no pydantic: rules are indexed by event type, filters are
compiled closures, states are plain objects copied once per call; `Evidence` is built only
for a grant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hashlib import sha1
from typing import Any

from rules.definitions import AchievementSpec
from rules.events import CloudEvent
from rules.evidence import Evidence, LateEvent
from rules.kinds import Kind, Run, kind_for
from rules.matchers import OddValue, Predicate, compile_where
from rules.state import (
    EVIDENCE_FIRST_N,
    CountState,
    MaintainedState,
    RuleState,
    StepsState,
    StreakState,
    state_from_json,
)
from rules.windows import as_datetime

__all__ = [
    "EVIDENCE_FIRST_N",
    "CompiledRule",
    "CountState",
    "EvalEvent",
    "Evaluation",
    "Grant",
    "Late",
    "MaintainedState",
    "Progress",
    "RuleContext",
    "RuleSet",
    "RuleState",
    "Skipped",
    "StateKey",
    "StepsState",
    "StreakState",
    "compile_rule",
    "compile_rules",
    "evaluate",
    "grant_id",
    "state_from_json",
    "without_keys",
]

GRANT_NAMESPACE = uuid.UUID("5b0c7f0e-2d7c-4f5e-9a57-8c1d0a6e3b21")
StateKey = tuple[str, str]  # (person_id, achievement key)
Progress = CountState  # the pre-Rules-2 name of a count rule's state


_NAMESPACE_BYTES = GRANT_NAMESPACE.bytes


def grant_id(tenant: str, achievement: str, person_id: str, occurrence: int | str = 1) -> str:
    """Deterministic, opaque and independent of the rule version (DESIGN §7).

    Occurrence 1 (or "1") gives exactly the ids of every grant made before Rules 2. This is
    `uuid.uuid5` (RFC 4122 name-based, SHA-1) without building a UUID object, which cost
    more than the hash; `test_grant_id_is_uuid5` keeps the two equal.
    """
    name = f"{tenant}\x1f{achievement}\x1f{person_id}\x1f{occurrence}".encode()
    digest = bytearray(sha1(_NAMESPACE_BYTES + name).digest()[:16])  # noqa: S324 - RFC 4122 v5
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class RuleContext:
    """Per tenant and round; built by the evaluation activity from settings and the store."""

    tenant: str
    time_zone: str = "UTC"
    week_start: int = 0  # 0 = Monday … 6 = Sunday
    allowed_lateness: timedelta = timedelta(hours=24)
    person_zones: Mapping[str, str] = field(default_factory=dict)
    # (event type, attribute path, value as str) -> earliest event time of such an event in the
    # tenant, any person: what a `without` rule needs (see `without_keys`).
    first_seen: Mapping[tuple[str, str, str], datetime] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class CompiledRule:
    key: str
    version: int
    content_hash: str
    kind: str
    event_types: tuple[str, ...]
    target: int | None
    hidden: bool
    conditions: tuple[tuple[str, Predicate], ...]  # (description, test), for "why not"
    match: Predicate
    logic: Kind
    spec: AchievementSpec

    @property
    def event_type(self) -> str | None:
        return self.spec.rule.of

    def failed_condition(self, event: CloudEvent) -> str | None:
        """None when `event` counts; else the first condition it misses, for "why not"."""
        if event.type not in self.event_types:
            return f"type is {event.type}, not {' or '.join(self.event_types)}"
        for description, test in self.conditions:
            try:
                if not test(event.data):
                    return description
            except OddValue as exc:
                return str(exc)
        return None


class RuleSet(list[CompiledRule]):
    """Compiled rules with their index by event type (built once per config)."""

    def __init__(self, rules: Iterable[CompiledRule] = ()) -> None:
        super().__init__(rules)
        self.by_type: dict[str, tuple[tuple[CompiledRule, Predicate], ...]] = {}
        for rule in self:
            for event_type, match in rule.logic.matchers().items():
                self.by_type[event_type] = (*self.by_type.get(event_type, ()), (rule, match))
        self.by_key = {rule.key: rule for rule in self}


def compile_rule(spec: AchievementSpec) -> CompiledRule:
    logic = kind_for(spec)
    return CompiledRule(spec.key, spec.version, spec.content_hash(), spec.rule.kind, logic.event_types,
                        logic.target, spec.hidden, compile_where(spec.rule.where), logic.match, logic, spec)


def compile_rules(specs: Iterable[AchievementSpec]) -> RuleSet:
    """Once per config (version): matchers, regexes and kinds are built here, never per event."""
    return RuleSet(compile_rule(spec) for spec in specs)


def without_keys(rules: Iterable[CompiledRule]) -> set[tuple[str, str]]:
    """(B event type, attribute path) pairs that ingest must index for `without` rules."""
    return {(r.spec.rule.without.of, r.spec.rule.without.same) for r in rules if r.spec.rule.without}


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
    granted_at: datetime  # event time of what completed the rule (or the due instant)
    evidence: Evidence
    occurrence: str = "1"

    @property
    def achievement(self) -> str:
        return self.rule.key


@dataclass(frozen=True)
class Skipped:
    event: str  # event key (source#id)
    achievement: str
    reason: str


@dataclass(frozen=True)
class Late:
    event: str
    achievement: str
    person_id: str
    reason: str


@dataclass(frozen=True)
class Evaluation:
    state: dict[StateKey, RuleState]  # new state, unchanged keys included
    grants: list[Grant]
    explanations: list[str]
    due: dict[StateKey, datetime | None]  # per changed key: next instant something changes unasked
    skipped: list[Skipped] = field(default_factory=list)
    late: list[Late] = field(default_factory=list)

    @property
    def next_due(self) -> datetime | None:
        return min((d for d in self.due.values() if d is not None), default=None)

    @property
    def changed(self) -> dict[StateKey, RuleState]:
        """The states this call touched (every key of `due`): what a store must write."""
        return {key: self.state[key] for key in self.due}


def _prepared(events: Sequence[EvalEvent]) -> list[tuple[float, str, EvalEvent]]:
    """Event-time order, ties by key; one entry per event key (a duplicate is not counted)."""
    seen: dict[str, tuple[float, str, EvalEvent]] = {}
    for item in events:
        key = item.key
        if key not in seen:
            seen[key] = (item.event.time.timestamp(), key, item)
    return sorted(seen.values(), key=lambda entry: (entry[0], entry[1]))


class _Call:
    """One evaluate call's working set: private copies of the states it changes."""

    def __init__(self, state: Mapping[StateKey, RuleState], run: Run) -> None:
        self.before = state
        self.work: dict[StateKey, RuleState] = {}
        self.run = run
        self.skipped: list[Skipped] = []
        self.late: list[Late] = []
        self.lateness = run.context.allowed_lateness.total_seconds()

    def state_for(self, key: StateKey, rule: CompiledRule) -> RuleState:
        state = self.work.get(key)
        if state is None:
            state = self.work[key] = rule.logic.begin(self.before.get(key))
        return state

    def note_late(self, rule: CompiledRule, ts: float, high: float, event_key: str, person: str) -> None:
        reason = (f"{(high - ts) / 3600:.1f} h older than the latest event applied (allowed lateness "
                  f"{self.lateness / 3600:g} h); applied late")
        self.late.append(Late(event_key, rule.key, person, reason))
        self.run.late.setdefault((person, rule.key), []).append(LateEvent(event=event_key, reason=reason))


def _grant_factory(tenant: str):  # noqa: ANN202 - a closure over the tenant
    def make(rule: CompiledRule, person: str, occurrence: str, at: datetime, evidence: Evidence) -> Grant:
        return Grant(grant_id(tenant, rule.key, person, occurrence), person, rule, at, evidence, occurrence)
    return make


def evaluate(
    state: Mapping[StateKey, RuleState],
    events: Sequence[EvalEvent],
    rules: Iterable[CompiledRule],
    *,
    context: RuleContext,
    now: datetime,
    due_keys: Iterable[StateKey] = (),
) -> Evaluation:
    """Apply `events` by event time and advance every touched key and every key in `due_keys`
    to `now` (a window closes, a streak breaks, a maintained-for completes). Pure."""
    ruleset = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    call = _Call(state, Run(context, now.timestamp(), _grant_factory(context.tenant)))
    by_type, work, run, lateness = ruleset.by_type, call.work, call.run, call.lateness
    for ts, event_key, item in _prepared(events):  # the hot loop: locals, no calls it can spare
        data, person = item.event.data, item.person_id
        for rule, match in by_type.get(item.event.type, ()):
            try:
                if not match(data):
                    continue
                key = (person, rule.key)
                current = work.get(key)
                if current is None:
                    current = work[key] = rule.logic.begin(state.get(key))
                high = current.high
                if high is not None and ts < high - lateness:
                    call.note_late(rule, ts, high, event_key, person)
                rule.logic.apply(current, run, rule, ts, item)
                if high is None or ts > high:
                    current.high = ts
            except OddValue as exc:
                call.skipped.append(Skipped(event_key, rule.key, str(exc)))
    for key in due_keys:  # a key never stored has nothing to advance
        if key[1] in ruleset.by_key and key not in call.work and key in state:
            call.state_for(key, ruleset.by_key[key[1]])
    return _finish(call, ruleset, state)


def _finish(call: _Call, ruleset: RuleSet, before: Mapping[StateKey, RuleState]) -> Evaluation:
    run = call.run
    due: dict[StateKey, datetime | None] = {}
    by_key = ruleset.by_key
    for key, work in call.work.items():
        logic = by_key[key[1]].logic
        if not logic.timed:  # nothing changes for it without an event
            due[key] = None
            continue
        logic.advance(work, run, by_key[key[1]], key[0])
        at = logic.due(work, run, key[0])
        due[key] = as_datetime(at) if at is not None else None
    new_state = dict(before)
    new_state.update(call.work)
    return Evaluation(new_state, run.grants, run.explanations, due, call.skipped, call.late)

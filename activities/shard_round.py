"""One evaluator round: what it reads, and its pure evaluation kept from getting stuck.

A round evaluates the shard's next batch of events and the keys that came due by the
round's `now` (Temporal's time, never the wall clock). The engine gets everything it needs
as values: the states, the tenant's zone, week start and lateness, the persons' zones, and
the `without` index rows for the batch (`RuleContext`).

An event a rule cannot judge (odd data) is the engine's to report (`Evaluation.skipped`).
Anything else that raises inside the engine is a bug, but it must not stop the shard: a
round that raised would be retried on the same batch for ever. So the round finds what it
fails on (each event alone, then each due key alone), evaluates the rest, and reports the
culprits as skipped; a culprit due key loses its due time so it does not come due again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from config.models import TenantSettings
from rules.engine import EvalEvent, Evaluation, RuleContext, RuleSet, RuleState, StateKey, evaluate
from rules.matchers import lookup
from store.evaluation import earliest_due, load_due, load_progress
from store.eventlog import read_batch
from store.first_seen import IndexKey, load_first_seen, value_text
from store.profiles import person_zones
from store.skips import SkipRow

__all__ = ["Round", "RoundResult", "WEEKDAYS", "evaluate_round", "read_round", "rule_context", "uses_zones"]

log = logging.getLogger("accolade.evaluation")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def rule_context(tenant: TenantSettings, **store_facts: object) -> RuleContext:
    """The engine's view of a tenant's settings; `store_facts`: person_zones, first_seen."""
    return RuleContext(tenant=tenant.id, time_zone=tenant.time_zone,
                       week_start=WEEKDAYS.index(tenant.week_start),
                       allowed_lateness=tenant.allowed_lateness, **store_facts)  # type: ignore[arg-type]


@dataclass
class Round:
    items: list[EvalEvent]
    due: dict[StateKey, datetime]  # keys that came due, with the due time read (the guard)
    earliest: tuple[StateKey, datetime] | None  # the shard's earliest due row before the round
    state: dict[StateKey, RuleState] = field(default_factory=dict)
    context: RuleContext | None = None

    @property
    def empty(self) -> bool:
        return not self.items and not self.due

    @property
    def next_due(self) -> datetime | None:
        return None if self.earliest is None else self.earliest[1]

    def next_due_after(self, evaluation: Evaluation) -> tuple[bool, datetime | None]:
        """(known, the shard's earliest due time after storing `evaluation`). Known without a
        query unless the round advanced due keys or the earliest row itself: the time of any
        other row is as it was read."""
        if self.due or (self.earliest is not None and self.earliest[0] in evaluation.due):
            return False, None
        times = [at for at in evaluation.due.values() if at is not None]
        if self.earliest is not None:
            times.append(self.earliest[1])
        return True, min(times, default=None)


def read_round(conn: Connection, tenant: TenantSettings, rules: RuleSet, versions: dict[str, int], *,
               shard: int, now: datetime, limit: int) -> Round:
    """The batch, the keys due by `now`, and (when there is work) states and context.

    The shard's earliest due time is one indexed MIN; the due keys are read only when it has
    passed, so a round with nothing due costs one query more than before due times existed.
    """
    batch = read_batch(conn, tenant.id, shard, limit=limit)
    earliest = earliest_due(conn, tenant.id, shard, versions=versions)
    due = {} if earliest is None or earliest[1] > now else load_due(
        conn, tenant.id, shard, now, versions=versions, limit=limit)
    work = Round([EvalEvent(q.seq, q.person_id, q.event, q.decision) for q in batch], due, earliest)
    if work.empty:
        return work
    people = {i.person_id for i in work.items} | {person for person, _ in work.due}
    work.state = load_progress(conn, tenant.id, people, versions)
    wanted = first_seen_keys(work.items, rules)
    zones = person_zones(conn, tenant.id, people) if uses_zones(rules) else {}
    work.context = rule_context(tenant, person_zones=zones,
                                first_seen=load_first_seen(conn, tenant.id, wanted) if wanted else {})
    return work


def uses_zones(rules: RuleSet) -> bool:
    """Whether any rule reads a person's zone (calendar and rolling windows, streaks, a points
    cap per period): a tenant of plain counts skips the profile lookup on its hot path."""
    return any(r.spec.rule.window is not None or r.spec.rule.streak is not None
               or (r.spec.points is not None and r.spec.points.cap is not None) for r in rules)


def first_seen_keys(items: Sequence[EvalEvent], rules: RuleSet) -> set[IndexKey]:
    """The `without` index rows the batch's A events may be cancelled by."""
    keys: set[IndexKey] = set()
    for rule in rules:
        if (without := rule.spec.rule.without) is None:
            continue
        for item in items:
            if item.event.type in rule.event_types:
                if (text := value_text(lookup(item.event.data, without.same))) is not None:
                    keys.add((without.of, without.same, text))
    return keys


@dataclass
class RoundResult:
    evaluation: Evaluation
    skipped: list[SkipRow] = field(default_factory=list)
    # states whose evaluation raised: stored unchanged, without a due time
    stalled: dict[StateKey, RuleState] = field(default_factory=dict)


def evaluate_round(work: Round, rules: RuleSet, versions: dict[str, int], *, now: datetime) -> RoundResult:
    assert work.context is not None
    try:
        evaluation = _evaluate(work, rules, now, work.items, list(work.due))
    except Exception as exc:  # noqa: BLE001 - an engine bug must not stop the shard (module doc)
        log.error("tenant %s: evaluation raised %s; isolating the events and due keys it fails on",
                  work.context.tenant, type(exc).__name__)  # the message may quote event data
        return _isolated(work, rules, versions, now)
    return RoundResult(evaluation, _engine_skips(evaluation, versions))


def _engine_skips(evaluation: Evaluation, versions: dict[str, int]) -> list[SkipRow]:
    return [(s.event, s.achievement, versions.get(s.achievement, 0), s.reason) for s in evaluation.skipped]


def _evaluate(work: Round, rules: RuleSet, now: datetime, items: Sequence[EvalEvent],
              due: Sequence[StateKey]) -> Evaluation:
    assert work.context is not None
    return evaluate(work.state, items, rules, context=work.context, now=now, due_keys=due)


def _fails(work: Round, rules: RuleSet, now: datetime, items: Sequence[EvalEvent],
           due: Sequence[StateKey]) -> bool:
    try:
        _evaluate(work, rules, now, items, due)
    except Exception:  # noqa: BLE001 - finding the culprit is the point
        return True
    return False


def _isolated(work: Round, rules: RuleSet, versions: dict[str, int], now: datetime) -> RoundResult:
    bad_items = [i for i in work.items if _fails(work, rules, now, [i], [])]
    bad_due = [k for k in work.due if _fails(work, rules, now, [], [k])]
    bad_seqs = {i.seq for i in bad_items}
    good = [i for i in work.items if i.seq not in bad_seqs]
    evaluation = _evaluate(work, rules, now, good, [k for k in work.due if k not in bad_due])
    reason = "the rule engine raised on this event; not counted by any rule (a bug: see the worker log)"
    skipped = [(i.key, "*", 0, reason) for i in bad_items]
    skipped += [("(due time)", k[1], versions.get(k[1], 0), "the rule engine raised advancing this "
                 "progress to its due time; its due time is cleared") for k in bad_due]
    skipped += _engine_skips(evaluation, versions)
    stalled = {k: work.state[k] for k in bad_due if k in work.state and k not in evaluation.due}
    return RoundResult(evaluation, skipped, stalled)

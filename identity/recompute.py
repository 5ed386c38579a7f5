"""Recompute persons' progress and grants from the event log after an identity change.

An unlink or a merge changes which person an event's actor resolves to. Every event of the
tenant is routed twice, with the links before and after the change; the affected persons are
the ones named, plus everyone some event moved to or from. For each of them, progress is
computed afresh from their events in event-time order, through ONE call of the pure engine
(`_run_engine`, with the evaluator's `RuleContext`), and compared with the stored grants:

- gained: a grant the new progress makes that is not stored (or was revoked: it is restored).
  When the same change took the same achievement from another person of the same human (a
  merge), the grant was delivered already: it is stored with its deliveries `suppressed`,
  reason `already delivered`, never sent again;
- lost: a stored grant the new progress does not make. It is marked `revoked` with the reason,
  never deleted; its deliveries not yet made are suppressed by the delivery activity.

Queue. Queued (not yet evaluated) events that the recompute counts are consumed in the same
transaction, so they are not counted twice: an evaluator round that read them fails its guard
(`complete` finds them gone) and reads again. Events that resolve to nobody any more are parked
again, so a later link releases them like any parked event.

Cost: one pass over the tenant's log (an admin operation, not the hot path).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select, tuple_, update

from config.models import TenantSettings
from identity.resolve import known_routes
from rules.engine import (
    CompiledRule,
    EvalEvent,
    Evaluation,
    Grant,
    RuleSet,
    RuleState,
    compile_rules,
    evaluate,
)
from rules.events import CloudEvent
from store.evaluation import insert_grants, save_progress
from store.eventlog import Route, is_system_event, park, shard_of
from store.first_seen import load_first_seen
from store.schema import event_queue, events, grants, parked, parked_keys, progress

__all__ = ["GrantChange", "LogRow", "Outcome", "recompute", "route_log"]


@dataclass(frozen=True)
class LogRow:
    seq: int
    event: CloudEvent
    route: Route | None


@dataclass(frozen=True)
class GrantChange:
    grant_id: str
    person: str
    achievement: str
    granted_at: str
    note: str = ""


@dataclass
class Outcome:
    persons: list[str]
    gained: list[GrantChange] = field(default_factory=list)
    lost: list[GrantChange] = field(default_factory=list)
    counted: dict[str, int] = field(default_factory=dict)  # events per person after the change
    parked: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"persons": self.persons, "gained": [vars(g) for g in self.gained],
                "lost": [vars(g) for g in self.lost], "events": self.counted, "parked": self.parked}


def route_log(conn: Connection, tenant: str) -> list[LogRow]:
    """Every person-made event of the tenant with the person it resolves to now."""
    rows = conn.execute(select(events.c.seq, events.c.body).where(events.c.tenant == tenant)
                        .order_by(events.c.seq)).all()
    parsed = [(r.seq, CloudEvent.model_validate(r.body)) for r in rows]
    parsed = [(seq, e) for seq, e in parsed if not is_system_event(e)]
    routes = known_routes(conn, tenant, [e.actor for _, e in parsed])
    return [LogRow(seq, e, route) for (seq, e), route in zip(parsed, routes, strict=True)]


def _person(row: LogRow) -> str | None:
    return row.route.person_id if row.route else None


def affected_persons(before: Sequence[LogRow], after: Sequence[LogRow], named: Iterable[str]) -> set[str]:
    moved = {p for old, new in zip(before, after, strict=True) if _person(old) != _person(new)
             for p in (_person(old), _person(new)) if p}
    return moved | set(named)


def _run_engine(conn: Connection, tenant: TenantSettings, rules: RuleSet, items: list[EvalEvent],
                now: datetime) -> Evaluation:
    """The one place recompute calls the pure rule engine: from empty state, every event of
    the persons at once (the engine applies them in event time), in the context the live
    evaluation round builds (zones, and the `without` index for these events)."""
    from activities.rule_context import read_context
    from activities.shard_round import first_seen_keys

    wanted = first_seen_keys(items, rules)
    context = read_context(conn, tenant, {item.person_id for item in items},
                           first_seen=load_first_seen(conn, tenant.id, wanted) if wanted else {})
    return evaluate({}, items, rules, context=context, now=now)


def recompute(conn: Connection, tenant: TenantSettings, before: Sequence[LogRow],
              after: Sequence[LogRow], named: Iterable[str], *, reason: str) -> Outcome:
    """Recompute the affected persons and store the result in the caller's transaction (a
    preview rolls it back). `before`/`after` are `route_log` results around the change."""
    persons = affected_persons(before, after, named)
    outcome = Outcome(persons=sorted(persons))
    rules = compile_rules(tenant.achievements)
    mine = [row for row in after if _person(row) in persons]
    items = [EvalEvent(r.seq, r.route.person_id, r.event, r.route.decision) for r in mine if r.route]
    evaluation = _run_engine(conn, tenant, rules, items, datetime.now(UTC))
    state, new_grants = evaluation.state, evaluation.grants
    for item in items:
        outcome.counted[item.person_id] = outcome.counted.get(item.person_id, 0) + 1
    _store_progress(conn, tenant, persons, state, evaluation.due, rules)
    _diff_grants(conn, tenant, persons, new_grants, outcome, reason=reason)
    _settle_queue(conn, tenant, before, after, persons, outcome)
    return outcome


def _store_progress(conn: Connection, tenant: TenantSettings, persons: set[str],
                    state: dict[tuple[str, str], RuleState], due: dict[tuple[str, str], datetime | None],
                    rules: list[CompiledRule]) -> None:
    versions = {rule.key: rule.version for rule in rules}
    if persons and versions:
        conn.execute(delete(progress).where(
            progress.c.tenant == tenant.id, progress.c.person_id.in_(sorted(persons)),
            tuple_(progress.c.achievement, progress.c.version).in_(list(versions.items()))))
    by_shard: dict[int, dict[tuple[str, str], RuleState]] = {}
    for key, value in state.items():  # a progress row keeps its person's shard (for due times)
        by_shard.setdefault(shard_of(key[0], tenant.shards), {})[key] = value
    for shard, part in sorted(by_shard.items()):
        save_progress(conn, tenant.id, shard, part, {k: due.get(k) for k in part}, versions)


def _change(row: Any, note: str = "") -> GrantChange:
    return GrantChange(row.grant_id, row.person_id, row.achievement,
                       row.granted_at.astimezone(UTC).isoformat(), note)


def _diff_grants(conn: Connection, tenant: TenantSettings, persons: set[str], new_grants: list[Grant],
                 outcome: Outcome, *, reason: str) -> None:
    stored = {r.grant_id: r for r in conn.execute(select(grants).where(
        grants.c.tenant == tenant.id, grants.c.person_id.in_(sorted(persons))))}
    wanted = {g.grant_id: g for g in new_grants}
    now = datetime.now(UTC)
    lost = [r for gid, r in stored.items() if gid not in wanted and r.revoked_at is None]
    for row in lost:
        outcome.lost.append(_change(row))
    if lost:
        conn.execute(update(grants).where(grants.c.grant_id.in_([r.grant_id for r in lost]))
                     .values(revoked_at=now, revoked_reason=reason[:500]))
    delivered = {(r.achievement, str(r.evidence.get("occurrence", "1"))): r.grant_id
                 for r in lost if r.dispatched_at is not None}
    for gid, grant in wanted.items():
        if gid in stored and stored[gid].revoked_at is None:
            continue
        _gain(conn, tenant, grant, stored.get(gid), delivered.get((grant.rule.key, str(grant.occurrence))),
              outcome)


def _gain(conn: Connection, tenant: TenantSettings, grant: Grant, row: Any, delivered_as: str | None,
          outcome: Outcome) -> None:
    if row is not None:  # revoked earlier, earned again: restored, its deliveries as they were
        conn.execute(update(grants).where(grants.c.grant_id == grant.grant_id)
                     .values(revoked_at=None, revoked_reason=None))
        outcome.gained.append(_change(row, "restored"))
        return
    spec = tenant.achievement(grant.rule.key)
    from activities.evaluation import delivery_routes  # the live round's routing

    send = spec is not None and delivered_as is None
    channels = {grant.rule.key: delivery_routes(tenant, spec)} if send else {}  # type: ignore[arg-type]
    insert_grants(conn, tenant.id, shard_of(grant.person_id, tenant.shards), [grant], channels)
    note = f"already delivered as {delivered_as}: not sent again" if delivered_as else ""
    outcome.gained.append(GrantChange(grant.grant_id, grant.person_id, grant.rule.key,
                                      grant.granted_at.astimezone(UTC).isoformat(), note))


def _settle_queue(conn: Connection, tenant: TenantSettings, before: Sequence[LogRow],
                  after: Sequence[LogRow], persons: set[str], outcome: Outcome) -> None:
    """Consume counted queue items; park events that resolve to nobody any more."""
    counted = [r.seq for r in after if _person(r) in persons]
    for chunk in _chunks(counted):
        conn.execute(delete(event_queue).where(event_queue.c.seq.in_(chunk)))
        conn.execute(delete(parked_keys).where(parked_keys.c.seq.in_(chunk)))
        conn.execute(delete(parked).where(parked.c.seq.in_(chunk)))
    orphans = [new for old, new in zip(before, after, strict=True)
               if new.route is None and _person(old) in persons]
    now = datetime.now(UTC)
    for row in orphans:
        conn.execute(delete(event_queue).where(event_queue.c.seq == row.seq))
        if conn.execute(select(parked.c.seq).where(parked.c.seq == row.seq)).first() is None:
            park(conn, tenant.id, row.seq, row.event, now=now)
            outcome.parked += 1


def _chunks(seqs: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(seqs), size):
        yield seqs[start:start + size]


"""`accolade simulate` and `POST /v1/simulate`: what a rule would grant on given events. Reads only.

The live path, exactly: the rule is compiled by `rules.engine.compile_rules` (as the worker
compiles its config), events are resolved to persons by `identity.known_routes` (as ingest
routes them), the context is `activities.rule_context.read_context` (the evaluation
activity builds it), and the pure `rules.engine.evaluate` decides, from an empty state, with
`now` = `at`. Nothing is written: no progress, no grant, no delivery, no index row.

Rule time is `at` (default now): events after it have not happened yet and are left out (and
counted), so `--at` reads "as of". Where the events come from:
- `events` (a file, or the API body): arrival order is the file's order; the engine applies
  them by event time within the tenant's allowed lateness, as it would live.
- `person`: that person's real history, read from the event log: every event of the rule's
  types whose actor resolves to the person today, in event-time order.

An event whose actor no person is linked to would be parked live; here it is evaluated for a
stand-in person named after the actor (`unlinked:github:login=octo`) and reported as
unlinked, so an admin trying a rule on a file of real payloads still sees what it would do.

`without` rules look their B events up tenant-wide (`RuleContext.first_seen`): here the keys
the round would ask for (`activities.shard_round.first_seen_keys`) are read from the live
index (`store.first_seen`), then lowered by the given events and by the log's B events, with
the ingest's own key extraction (`keys_of`). For a published rule the log adds nothing the
index lacks; for an edited one that is not published yet (no index kept for it) it is what the
index would hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from activities.rule_context import read_context
from activities.shard_round import first_seen_keys
from config.models import TenantSettings
from identity import find_person, parse_identity_ref
from identity.resolve import known_routes
from rules.definitions import AchievementSpec
from rules.engine import CompiledRule, EvalEvent, Evaluation, RuleSet, compile_rules, evaluate, without_keys
from rules.events import CloudEvent
from rules.explain import evidence_lines, explain, format_when
from store.eventlog import Route
from store.first_seen import IndexKey, keys_of, load_first_seen
from store.schema import events as events_table

__all__ = ["SimulationError", "SimulationRequest", "render_simulation", "simulate"]

_LOG_CHUNK = 1000


class SimulationError(ValueError):
    """The request cannot be simulated (unknown achievement, no events); a 4xx / exit 2."""


@dataclass(frozen=True)
class SimulationRequest:
    achievement: str
    events: Sequence[CloudEvent] = ()
    person: str | None = None  # SYSTEM:VALUE: replay this person's history from the log
    achievements: Sequence[AchievementSpec] | None = None  # an edited config's; None: the tenant's
    at: datetime | None = None  # rule time; None: now


@dataclass
class _Batch:
    items: list[EvalEvent] = field(default_factory=list)
    unlinked: dict[str, int] = field(default_factory=dict)
    history: int = 0
    other: int = 0  # given events of types the rule does not evaluate (a `without`'s B, say)
    later: int = 0  # events after `at`: they have not happened yet at that rule time


def simulate(conn: Connection, tenant: TenantSettings, request: SimulationRequest, *,
             now: datetime) -> dict[str, Any]:
    """The report: grants (when and why), each person's explanation, skipped and late events."""
    rule = _compile(tenant, request)
    at = request.at or now
    batch = _Batch()
    if request.person is not None:
        _add_history(conn, tenant, rule, request.person, batch)
    _add_events(conn, tenant, rule, request.events, batch)
    if not batch.items and not batch.other:
        raise SimulationError("no events to simulate: pass events, or a person with history")
    happened = [item for item in batch.items if item.event.time <= at]
    batch.later, batch.items = len(batch.items) - len(happened), happened
    persons = sorted({item.person_id for item in batch.items})
    first_seen = _first_seen(conn, tenant, rule, batch.items, request.events, at=at)
    context = read_context(conn, tenant, persons, first_seen=first_seen)
    result = evaluate({}, batch.items, [rule], context=context, now=at)
    return _report(rule, tenant, batch, result, context=context, at=at)


def _compile(tenant: TenantSettings, request: SimulationRequest) -> CompiledRule:
    specs = list(tenant.achievements if request.achievements is None else request.achievements)
    spec = next((s for s in specs if s.key == request.achievement), None)
    if spec is None:
        known = ", ".join(s.key for s in specs) or "none"
        raise SimulationError(f"no achievement {request.achievement!r} in tenant {tenant.id} "
                              f"(known: {known})")
    return compile_rules([spec])[0]


def _add_events(conn: Connection, tenant: TenantSettings, rule: CompiledRule, given: Sequence[CloudEvent],
                batch: _Batch) -> None:
    relevant = [event for event in given if event.type in rule.event_types]
    batch.other += len(given) - len(relevant)
    routes = known_routes(conn, tenant.id, [event.actor for event in relevant])
    for event, route in zip(relevant, routes, strict=True):
        if route is None:
            route = _stand_in(event)
            batch.unlinked[route.person_id] = batch.unlinked.get(route.person_id, 0) + 1
        batch.items.append(EvalEvent(len(batch.items) + 1, route.person_id, event, route.decision))


def _stand_in(event: CloudEvent) -> Route:
    keys = event.actor.keys()
    name = "{}:{}={}".format(*keys[0]) if keys else f"{event.actor.system}:?"
    return Route(f"unlinked:{name}", {"link": None, "rule": "unlinked (would be parked)"})


def _add_history(conn: Connection, tenant: TenantSettings, rule: CompiledRule, identity: str,
                 batch: _Batch) -> None:
    person = find_person(conn, tenant.id, parse_identity_ref(identity))
    for chunk in _chunks(_log(conn, tenant.id, rule.event_types), _LOG_CHUNK):
        routes = known_routes(conn, tenant.id, [event.actor for event in chunk])
        for event, route in zip(chunk, routes, strict=True):
            if route is not None and route.person_id == person:
                batch.items.append(EvalEvent(len(batch.items) + 1, person, event, route.decision))
                batch.history += 1


def _log(conn: Connection, tenant: str, types: Iterable[str]) -> Iterable[CloudEvent]:
    """The tenant's events of `types` in event-time order (the (tenant, type, time) index)."""
    stmt = (select(events_table.c.body).where(events_table.c.tenant == tenant,
                                              events_table.c.type.in_(sorted(set(types))))
            .order_by(events_table.c.time, events_table.c.seq))
    for row in conn.execute(stmt):
        yield CloudEvent.model_validate(row.body)


def _chunks(items: Iterable[CloudEvent], size: int) -> Iterable[list[CloudEvent]]:
    chunk: list[CloudEvent] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _first_seen(conn: Connection, tenant: TenantSettings, rule: CompiledRule, items: Sequence[EvalEvent],
                given: Sequence[CloudEvent], *, at: datetime) -> dict[IndexKey, datetime]:
    """The `without` rows the A events need (`first_seen_keys`, as the round asks for them):
    the live index, lowered by the given events and the log's (module docstring)."""
    wanted = first_seen_keys(items, RuleSet([rule]))
    if not wanted:
        return {}
    found = load_first_seen(conn, tenant.id, wanted)
    pairs = without_keys([rule])
    for event in [*given, *_log(conn, tenant.id, [of for of, _ in pairs])]:
        for key in keys_of(event, pairs) if event.time <= at else ():
            if key in wanted and (key not in found or event.time < found[key]):
                found[key] = event.time
    return found


def _report(rule: CompiledRule, tenant: TenantSettings, batch: _Batch, result: Evaluation, *,
            context: Any, at: datetime) -> dict[str, Any]:
    def zone_of(person: str) -> str:
        return str(context.person_zones.get(person, context.time_zone))

    grants = [{
        "person": g.person_id, "grant_id": g.grant_id, "occurrence": g.occurrence,
        "granted_at": g.granted_at.astimezone(UTC).isoformat(),
        "granted_local": format_when(g.granted_at, zone_of(g.person_id)),
        "why": evidence_lines(g.evidence, zone_name=zone_of(g.person_id), rule=rule),
        "evidence": g.evidence.to_json(),
    } for g in sorted(result.grants, key=lambda g: (g.granted_at, g.person_id, g.occurrence))]
    persons = sorted({item.person_id for item in batch.items})
    return {
        "tenant": tenant.id, "achievement": rule.key, "version": rule.version, "kind": rule.kind,
        "at": at.astimezone(UTC).isoformat(), "at_local": format_when(at, context.time_zone),
        "events": len(batch.items), "from_history": batch.history,
        "other_events": batch.other, "later_events": batch.later,
        "grants": grants,
        "persons": [{"person": p, **explain(rule, result.state.get((p, rule.key)), person_id=p,
                                            context=context, now=at).to_json()} for p in persons],
        "unlinked": [{"person": p, "events": n} for p, n in sorted(batch.unlinked.items())],
        "skipped": [{"event": s.event, "reason": s.reason} for s in result.skipped],
        "late": [{"event": late.event, "person": late.person_id, "reason": late.reason}
                 for late in result.late],
        "stored": False,
    }


def render_simulation(report: dict[str, Any]) -> str:
    """The report for a terminal: what would be granted, when and why, and what is missing."""
    notes = [f"{report['other_events']} of other types"] if report["other_events"] else []
    notes += [f"{report['later_events']} after that time, left out"] if report["later_events"] else []
    extra = f" ({'; '.join(notes)})" if notes else ""
    head = f"simulate {report['achievement']} v{report['version']} ({report['kind']})"
    lines = [f"{head} as of {report['at_local']}: {report['events']} event(s){extra}; nothing was stored"]
    lines.append("would grant:" if report["grants"] else "would grant: nothing")
    for g in report["grants"]:
        occurrence = "" if g["occurrence"] == "1" else f" ({g['occurrence']})"
        lines.append(f"  {g['person']}{occurrence} at {g['granted_local']}")
        lines += [f"    {line}" for line in g["why"]]
    lines.append("progress:")
    for p in report["persons"]:
        lines.append(f"  {p['person']}: {'earned' if p['granted'] else 'not yet'}")
        lines += [f"    {line}" for line in p["lines"] if line != "earned"]
    for u in report["unlinked"]:
        lines.append(f"unlinked: {u['person']} ({u['events']} event(s)): live, they wait parked until "
                     "the identity is linked")
    lines += [f"skipped {s['event']}: {s['reason']}" for s in report["skipped"]]
    lines += [f"late {item['event']}: {item['reason']}" for item in report["late"]]
    return "\n".join(lines)

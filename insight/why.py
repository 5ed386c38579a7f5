"""`accolade why`, `person show` and their API routes: stored progress, explained.

Reads the person's stored state (`store.evaluation.load_progress`) for the achievement's
current version and explains it with `rules.explain` in the round's context
(`activities.rule_context`), at `now`: a week that closed since the last evaluation already
reads as the new week. Grants come with their evidence in words. The identity side says which
source systems of the rule's events the person has no link in (`insight.sources`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select

from activities.rule_context import read_context
from config.models import TenantSettings
from insight.sources import unlinked_sources
from rules.engine import CompiledRule, compile_rules
from rules.evidence import Evidence
from rules.explain import Explanation, evidence_lines, explain, format_when
from store.evaluation import load_progress
from store.reads import person_view
from store.schema import grants, identities

__all__ = ["UnknownAchievement", "person_report", "why"]


class UnknownAchievement(LookupError):
    pass


def _rule(tenant: TenantSettings, key: str) -> CompiledRule:
    spec = tenant.achievement(key)
    if spec is None:
        known = ", ".join(a.key for a in tenant.achievements) or "none"
        raise UnknownAchievement(f"no achievement {key!r} in tenant {tenant.id} (known: {known})")
    return compile_rules([spec])[0]


def _linked_systems(conn: Connection, tenant: str, person: str) -> set[str]:
    return set(conn.execute(select(identities.c.system).where(
        identities.c.tenant == tenant, identities.c.person_id == person)).scalars())


def _states(conn: Connection, tenant: str, person: str, rules: list[CompiledRule]) -> dict[str, Any]:
    loaded = load_progress(conn, tenant, {person}, {rule.key: rule.version for rule in rules})
    return {key: state for (_person, key), state in loaded.items()}


def why(conn: Connection, tenant: TenantSettings, person: str, key: str, *, now: datetime) -> dict[str, Any]:
    """One achievement for one person: progress and what is missing, or the grants and why."""
    rule = _rule(tenant, key)
    context = read_context(conn, tenant, [person])
    state = _states(conn, tenant.id, person, [rule]).get(key)
    unlinked = unlinked_sources(tenant, rule.event_types, _linked_systems(conn, tenant.id, person))
    explained = explain(rule, state, person_id=person, context=context, now=now, unlinked=unlinked)
    zone_name = context.person_zones.get(person, context.time_zone)
    rows = conn.execute(select(grants).where(
        grants.c.tenant == tenant.id, grants.c.person_id == person, grants.c.achievement == key,
    ).order_by(grants.c.granted_at)).all()
    spec = rule.spec
    return {"tenant": tenant.id, "person": person, "achievement": key, "version": rule.version,
            "name": spec.name, "kind": rule.kind, "time_zone": zone_name, "unlinked": unlinked,
            **explained.to_json(),
            "grants": [_grant(r, zone_name, rule) for r in rows]}


def _grant(row: Any, zone_name: str, rule: CompiledRule) -> dict[str, Any]:
    at = row.granted_at if row.granted_at.tzinfo else row.granted_at.replace(tzinfo=UTC)
    return {"grant_id": row.grant_id, "version": row.version,
            **_words({"evidence": row.evidence, "granted_at": at.isoformat()}, zone_name, rule)}


def person_report(conn: Connection, tenant: TenantSettings, person: str, *, now: datetime) -> dict[str, Any]:
    """`person_view` with progress explained per achievement (hidden ones only once earned),
    the person's points, and the source systems they have no link in (once, not per line)."""
    view = person_view(conn, tenant.id, person)
    context = read_context(conn, tenant, [person])
    linked = {link["system"] for link in view["identities"]}
    earned = {g["achievement"] for g in view["grants"]}  # any version: a v1 grant stays earned
    rules = compile_rules(tenant.achievements)
    states = _states(conn, tenant.id, person, rules)
    entries, missing = [], []
    for rule in rules:
        unlinked = unlinked_sources(tenant, rule.event_types, linked)
        explained = explain(rule, states.get(rule.key), person_id=person, context=context, now=now)
        if not explained.hidden or rule.key in earned:
            entry = _progress_entry(rule, explained, earned=rule.key in earned)
            entries.append({**entry, "unlinked": unlinked})
            missing += [name for name in unlinked if name not in missing]
    view["progress"] = entries
    view["points"] = sum(e["points"] or 0 for e in entries)
    view["unlinked"] = missing
    zone_name = context.person_zones.get(person, context.time_zone)
    by_key = {rule.key: rule for rule in rules}
    view["grants"] = [{**g, **_words(g, zone_name, by_key.get(g["achievement"]))} for g in view["grants"]]
    return view


def _words(grant: dict[str, Any], zone_name: str, rule: CompiledRule | None) -> dict[str, Any]:
    """A stored grant's occurrence, local time and evidence in words. Evidence the model cannot
    read (a row written by hand, a future shape) keeps its raw form and gets no words."""
    at = datetime.fromisoformat(grant["granted_at"]) if grant.get("granted_at") else None
    words: dict[str, Any] = {"granted_at": grant.get("granted_at"),
                             "granted_local": format_when(at, zone_name) if at else None}
    try:
        evidence = Evidence.from_json(grant["evidence"])
    except ValidationError:
        return {**words, "occurrence": "1", "why": []}
    return {**words, "occurrence": evidence.occurrence,
            "why": evidence_lines(evidence, zone_name=zone_name, rule=rule)}


def _progress_entry(rule: CompiledRule, explained: Explanation, *, earned: bool) -> dict[str, Any]:
    granted = explained.granted or earned
    return {"achievement": rule.key, "version": rule.version, "name": rule.spec.name, "kind": rule.kind,
            "count": explained.have, "target": explained.need or None,
            "missing": None if granted else "; ".join(explained.lines) or None,
            **explained.to_json(), "granted": granted}

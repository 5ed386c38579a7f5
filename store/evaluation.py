"""Repositories for evaluation: progress, grants with evidence, the outbox, shard state.

All functions work inside the caller's transaction: the evaluator writes progress, grants,
evidence, queued deliveries and the consumed queue items in ONE transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_, update

from rules.definitions import AchievementSpec
from rules.engine import Grant, RuleState, StateKey, state_from_json
from store._db import insert_for as _insert
from store.schema import achievement_versions, deliveries, grants, progress, shard_state

__all__ = [
    "OutboxGrant",
    "check_versions",
    "due_unchanged",
    "earliest_due",
    "insert_grants",
    "load_due",
    "load_progress",
    "mark_dispatched",
    "next_due",
    "record_shard",
    "row_state",
    "save_progress",
    "undispatched",
]

_FORBIDDEN = {"reason": "forbidden by policy"}


# The headline fields live in their own columns (as before 0008), not twice in `state`.
_HEADLINE = ("count", "granted", "first_events", "digest")


def load_progress(
    conn: Connection, tenant: str, person_ids: Iterable[str], versions: dict[str, int]
) -> dict[StateKey, RuleState]:
    """Each person's state per current achievement version; a row without `state` (written
    before 0008) is a count rebuilt from its columns."""
    people = sorted(set(person_ids))
    if not people or not versions:
        return {}
    stmt = select(progress).where(
        progress.c.tenant == tenant, progress.c.person_id.in_(people), _current(versions))
    return {(r.person_id, r.achievement): row_state(r) for r in conn.execute(stmt)}


def row_state(row: Any) -> RuleState:
    """The state of a `progress` row (read models use this too: `state` alone is not the
    whole state, its headline is in the row's columns)."""
    headline = {"count": row.count, "first_events": list(row.first_events), "digest": row.digest,
                "granted": row.granted}
    if row.state is None:
        return state_from_json(None, **headline)
    return state_from_json({**row.state, **headline})


def _current(versions: dict[str, int]) -> Any:
    return _current_of(tuple(sorted(versions.items())))


@lru_cache(maxsize=64)
def _current_of(versions: tuple[tuple[str, int], ...]) -> Any:
    """The filter on current versions, built once per config: every round uses it 2-3 times."""
    return tuple_(progress.c.achievement, progress.c.version).in_(list(versions))


def save_progress(
    conn: Connection, tenant: str, shard: int, changed: dict[StateKey, RuleState],
    due: dict[StateKey, datetime | None], versions: dict[str, int],
) -> None:
    """Upsert every changed progress row with its state and due time: one cached statement,
    executemany.

    A multi-row `.values(rows)` construct is compiled anew for every batch: measured at 360 µs
    per row, most of an evaluator round. The executemany form compiles once and is cached.
    Due times are stored in UTC: SQLite compares them as text.
    """
    if not changed:
        return
    now = datetime.now(UTC)  # bookkeeping only: rule time is the round's `now`
    rows = [_row(tenant, shard, key, state, due.get(key), versions, now) for key, state in changed.items()]
    stmt = _insert(conn, progress)
    updated = (*_HEADLINE, "state", "due_at", "shard", "updated_at")
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["tenant", "person_id", "achievement", "version"],
        set_={name: stmt.excluded[name] for name in updated},
    ), rows)


def _row(tenant: str, shard: int, key: StateKey, state: RuleState, due: datetime | None,
         versions: dict[str, int], now: datetime) -> dict[str, Any]:
    person_id, achievement = key
    return {"tenant": tenant, "person_id": person_id, "achievement": achievement,
            "version": versions[achievement], "count": state.count, "first_events": list(state.first_events),
            "digest": state.digest, "granted": state.granted, "state": _compact(state), "shard": shard,
            "due_at": None if due is None else due.astimezone(UTC), "updated_at": now}


def _compact(state: RuleState) -> dict[str, Any]:
    """The state as stored: its kind, its latest event time, and the kind's fields that are
    not empty (`state_from_json` fills the rest in); the headline has its own columns.

    Built from the state's public fields rather than `to_json()`, which also renders the
    headline and every empty field: measured at 24 µs a state against 4 µs, for every key
    an evaluator round touches (500 per round under load).
    """
    body: dict[str, Any] = {"kind": state.kind, "high": state.high}
    if state.occurrences:
        body["occurrences"] = list(state.occurrences)
    for name, empty in state.extra.items():
        value = getattr(state, name)
        if value != empty:
            body[name] = sorted(value) if isinstance(value, set) else value
    return body


def load_due(conn: Connection, tenant: str, shard: int, now: datetime, *, versions: dict[str, int],
             limit: int = 500) -> dict[StateKey, datetime]:
    """Keys (person id, achievement) of the shard whose due time is `now` or earlier, earliest
    first, with that due time. Only the current versions: an old version's row is never
    evaluated again, so its due time must not keep the shard awake."""
    if not versions:
        return {}
    rows = conn.execute(
        select(progress.c.person_id, progress.c.achievement, progress.c.due_at)
        .where(progress.c.tenant == tenant, progress.c.shard == shard,
               progress.c.due_at <= now.astimezone(UTC), _current(versions))
        .order_by(progress.c.due_at, progress.c.person_id, progress.c.achievement).limit(limit))
    return {(r.person_id, r.achievement): _utc(r.due_at) for r in rows}


def due_unchanged(conn: Connection, tenant: str, due: dict[StateKey, datetime], *,
                  versions: dict[str, int]) -> bool:
    """Inside the write transaction: do the keys read as due still have the due times read?

    The guard of a round whose due keys an overlapping attempt may have advanced already (a
    retry racing a timed-out attempt), as consuming queue items is the guard for events. On
    PostgreSQL the rows stay locked until the commit.
    """
    if not due:
        return True
    stmt = select(progress.c.person_id, progress.c.achievement, progress.c.due_at).where(
        progress.c.tenant == tenant, _current(versions),
        tuple_(progress.c.person_id, progress.c.achievement).in_(list(due))).with_for_update()
    now = {(r.person_id, r.achievement): r.due_at for r in conn.execute(stmt)}
    return all(now.get(key) is not None and _utc(now[key]) == at for key, at in due.items())


def earliest_due(conn: Connection, tenant: str, shard: int, *,
                 versions: dict[str, int]) -> tuple[StateKey, datetime] | None:
    """The shard's earliest due row, key and time (None: nothing comes due without an event)."""
    if not versions:
        return None
    row = conn.execute(_EARLIEST_DUE, {"tenant": tenant, "shard": shard,
                                       "versions": list(versions.items())}).first()
    return None if row is None else ((row.person_id, row.achievement), _utc(row.due_at))


def next_due(conn: Connection, tenant: str, shard: int, *, versions: dict[str, int]) -> datetime | None:
    found = earliest_due(conn, tenant, shard, versions=versions)
    return None if found is None else found[1]


# Built once: every evaluator round asks, and building a select was most of an idle round's CPU.
_EARLIEST_DUE = select(progress.c.person_id, progress.c.achievement, progress.c.due_at).where(
    progress.c.tenant == bindparam("tenant"), progress.c.shard == bindparam("shard"),
    progress.c.due_at.is_not(None),
    tuple_(progress.c.achievement, progress.c.version).in_(bindparam("versions", expanding=True)),
).order_by(progress.c.due_at).limit(1)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite keeps no offset; stored in UTC


def insert_grants(
    conn: Connection, tenant: str, shard: int, new: Sequence[Grant],
    channels: Mapping[str, Sequence[tuple[str, str, bool]]],
) -> int:
    """Store grants (a grant id already present is kept as it was) and queue their deliveries.

    `channels` maps an achievement key to its routes, (channel id, kind, forbidden): a channel
    the tenant forbids gets its row `suppressed` (reason `forbidden by policy`) right here, so
    the delivery workflow never sends it and admins see what was held back. Two executemany
    statements on cached INSERTs, whatever the number of grants: one per grant was a
    round-trip and a statement build each, inside the shard's write transaction.
    """
    if not new:
        return 0
    now = datetime.now(UTC)
    rows = [{
        "grant_id": grant.grant_id, "tenant": tenant, "person_id": grant.person_id,
        "achievement": grant.rule.key, "version": grant.rule.version,
        "content_hash": grant.rule.content_hash, "shard": shard,
        "granted_at": grant.granted_at.astimezone(UTC), "evidence": grant.evidence.to_json(),
        "created_at": now,
        # nothing to deliver: no delivery workflow either (one Temporal start per grant is
        # what limits throughput; bench/README.md)
        "dispatched_at": None if any(not r[2] for r in channels.get(grant.rule.key, ())) else now,
    } for grant in new]
    stmt = _insert(conn, grants).on_conflict_do_nothing(index_elements=["grant_id"])
    stored = {r.grant_id for r in conn.execute(stmt.returning(grants.c.grant_id), rows)}
    queued = [
        {"grant_id": grant.grant_id, "channel": channel_id, "tenant": tenant, "person_id": grant.person_id,
         "kind": kind, "status": "suppressed" if forbidden else "queued", "attempts": 0, "updated_at": now,
         "detail": _FORBIDDEN if forbidden else None}
        for grant in new if grant.grant_id in stored
        for channel_id, kind, forbidden in channels.get(grant.rule.key, ())
    ]
    if queued:
        conn.execute(_insert(conn, deliveries).on_conflict_do_nothing(
            index_elements=["grant_id", "channel"]), queued)
    return len(stored)


@dataclass(frozen=True)
class OutboxGrant:
    grant_id: str
    person_id: str
    achievement: str
    channels: list[str]


def undispatched(conn: Connection, tenant: str, shard: int, *, limit: int = 200) -> list[OutboxGrant]:
    rows = conn.execute(
        select(grants.c.grant_id, grants.c.person_id, grants.c.achievement)
        .where(grants.c.tenant == tenant, grants.c.shard == shard, grants.c.dispatched_at.is_(None))
        .order_by(grants.c.created_at).limit(limit)
    ).all()
    if not rows:
        return []
    by_grant: dict[str, list[str]] = {r.grant_id: [] for r in rows}
    for d in conn.execute(
        select(deliveries.c.grant_id, deliveries.c.channel)
        .where(deliveries.c.grant_id.in_(list(by_grant)), deliveries.c.status != "suppressed")
        .order_by(deliveries.c.channel)
    ):
        by_grant[d.grant_id].append(d.channel)
    return [OutboxGrant(r.grant_id, r.person_id, r.achievement, by_grant[r.grant_id]) for r in rows]


def mark_dispatched(conn: Connection, grant_ids: Sequence[str]) -> None:
    if grant_ids:
        conn.execute(update(grants).where(grants.c.grant_id.in_(list(grant_ids)),
                                          grants.c.dispatched_at.is_(None))
                     .values(dispatched_at=datetime.now(UTC)))


def record_shard(conn: Connection, tenant: str, shard: int, processed: int, last_seq: int | None) -> None:
    now = datetime.now(UTC)
    stmt = _insert(conn, shard_state).values(
        tenant=tenant, shard=shard, processed=processed, last_seq=last_seq, last_run_at=now
    )
    set_: dict[str, Any] = {"processed": shard_state.c.processed + processed, "last_run_at": now}
    if last_seq is not None:
        set_["last_seq"] = last_seq
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant", "shard"], set_=set_))


def check_versions(conn: Connection, tenant: str, specs: Sequence[AchievementSpec], *,
                   publish: bool) -> list[tuple[int, str]]:
    """Compare each achievement's hash with the stored one; returns (index, problem) pairs.

    With `publish`, versions not stored yet are recorded (their hash becomes binding).
    """
    stored = {
        (r.achievement, r.version): r.content_hash
        for r in conn.execute(select(achievement_versions).where(achievement_versions.c.tenant == tenant))
    }
    problems: list[tuple[int, str]] = []
    for index, spec in enumerate(specs):
        known = stored.get((spec.key, spec.version))
        if known is not None and known != spec.content_hash():
            problems.append((index, f"the rule of {spec.key} v{spec.version} changed after it was "
                                    f"published (hash {known} → {spec.content_hash()}): "
                                    "bump `version` to publish a new rule"))
        elif known is None and publish:
            conn.execute(_insert(conn, achievement_versions).values(
                tenant=tenant, achievement=spec.key, version=spec.version,
                content_hash=spec.content_hash(), published_at=datetime.now(UTC),
            ).on_conflict_do_nothing())
    return problems

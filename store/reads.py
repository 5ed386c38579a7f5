"""Read models for people and admins: a person's progress, grants, evidence and deliveries."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import Connection, select

from store.schema import deliveries, feed, grants, identities, progress

__all__ = ["delivery_rows", "feed_rows", "person_view"]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite keeps no offset; everything is stored in UTC
        value = value.replace(tzinfo=UTC)
    return str(value.isoformat())


def person_view(conn: Connection, tenant: str, person_id: str, achievements: list[Any]) -> dict[str, Any]:
    """Everything about one person; `achievements` are the tenant's current specs."""
    links = conn.execute(select(identities).where(
        identities.c.tenant == tenant, identities.c.person_id == person_id
    ).order_by(identities.c.system, identities.c.kind)).all()
    progress_rows = {
        (r.achievement, r.version): r for r in conn.execute(select(progress).where(
            progress.c.tenant == tenant, progress.c.person_id == person_id))
    }
    grant_rows = conn.execute(select(grants).where(
        grants.c.tenant == tenant, grants.c.person_id == person_id
    ).order_by(grants.c.granted_at)).all()
    by_grant = _deliveries_by_grant(conn, [g.grant_id for g in grant_rows])
    granted = {g.achievement for g in grant_rows}
    return {
        "tenant": tenant,
        "person": person_id,
        "identities": [{"system": r.system, "kind": r.kind, "value": r.value, "origin": r.origin}
                       for r in links],
        "progress": [_progress(spec, progress_rows.get((spec.key, spec.version)), spec.key in granted)
                     for spec in achievements],
        "grants": [_grant(g, by_grant.get(g.grant_id, [])) for g in grant_rows],
    }


def _progress(spec: Any, row: Any, granted: bool) -> dict[str, Any]:
    count = row.count if row is not None else 0
    target = spec.rule.count
    where = ", ".join(f"{k}={v}" for k, v in sorted(spec.rule.where.items()))
    missing = None if granted else (
        f"{max(target - count, 0)} more {spec.rule.of}" + (f" with {where}" if where else ""))
    return {"achievement": spec.key, "version": spec.version, "name": spec.name, "count": count,
            "target": target, "granted": granted, "missing": missing}


def _grant(row: Any, delivery_list: list[dict[str, Any]]) -> dict[str, Any]:
    return {"grant_id": row.grant_id, "achievement": row.achievement, "version": row.version,
            "content_hash": row.content_hash, "granted_at": _iso(row.granted_at),
            "evidence": row.evidence, "dispatched_at": _iso(row.dispatched_at),
            "deliveries": delivery_list}


def _deliveries_by_grant(conn: Connection, grant_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if grant_ids:
        for d in conn.execute(select(deliveries).where(deliveries.c.grant_id.in_(grant_ids))
                              .order_by(deliveries.c.channel)):
            out.setdefault(d.grant_id, []).append(_delivery(d))
    return out


def _delivery(d: Any) -> dict[str, Any]:
    return {"id": f"{d.grant_id}/{d.channel}", "grant_id": d.grant_id, "channel": d.channel,
            "kind": d.kind, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
            "detail": d.detail,
            "updated_at": _iso(d.updated_at), "sent_at": _iso(d.sent_at)}


def delivery_rows(conn: Connection, tenant: str, *, failed_only: bool = False,
                  limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(deliveries, grants.c.achievement).join(
        grants, grants.c.grant_id == deliveries.c.grant_id
    ).where(deliveries.c.tenant == tenant)
    if failed_only:
        stmt = stmt.where(deliveries.c.status == "failed")
    rows = conn.execute(stmt.order_by(deliveries.c.updated_at.desc()).limit(limit)).all()
    return [{**_delivery(r), "person": r.person_id, "achievement": r.achievement} for r in rows]


def feed_rows(conn: Connection, tenant: str, person_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(select(feed).where(feed.c.tenant == tenant, feed.c.person_id == person_id)
                        .order_by(feed.c.id.desc()).limit(limit)).all()
    return [{"grant_id": r.grant_id, "title": r.title, "body": r.body,
             "created_at": _iso(r.created_at)} for r in rows]


def shard_lag(conn: Connection, tenant: str, shards: int) -> list[dict[str, Any]]:
    """Per shard: events waiting, the oldest one's receive time, and the evaluator's last round."""
    from sqlalchemy import func

    from store.schema import event_queue, events, shard_state

    waiting = {
        r.shard: r for r in conn.execute(
            select(event_queue.c.shard, func.count().label("waiting"),
                   func.min(events.c.received_at).label("oldest"))
            .join(events, events.c.seq == event_queue.c.seq)
            .where(event_queue.c.tenant == tenant).group_by(event_queue.c.shard))
    }
    state = {r.shard: r for r in conn.execute(select(shard_state).where(shard_state.c.tenant == tenant))}
    out = []
    for shard in range(shards):
        w, s = waiting.get(shard), state.get(shard)
        out.append({"shard": shard, "workflow_id": f"evaluate/{tenant}/{shard}",
                    "waiting": w.waiting if w else 0, "oldest_waiting": _iso(w.oldest) if w else None,
                    "processed": s.processed if s else 0, "last_round": _iso(s.last_run_at) if s else None})
    return out

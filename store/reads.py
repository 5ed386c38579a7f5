"""Read models for people and admins: a person's progress, grants, evidence and deliveries."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import Connection, func, select

from store.schema import deliveries, feed, grants, identities, progress

__all__ = ["delivery_reason", "delivery_rows", "feed_rows", "person_view"]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite keeps no offset; everything is stored in UTC
        value = value.replace(tzinfo=UTC)
    return str(value.isoformat())


def person_view(conn: Connection, tenant: str, person_id: str) -> dict[str, Any]:
    """One person's links, grants with evidence and deliveries. `progress` is left empty for
    `insight.why.person_report`, which explains it with the rules."""
    links = conn.execute(select(identities).where(
        identities.c.tenant == tenant, identities.c.person_id == person_id
    ).order_by(identities.c.system, identities.c.kind)).all()
    grant_rows = conn.execute(select(grants).where(
        grants.c.tenant == tenant, grants.c.person_id == person_id
    ).order_by(grants.c.granted_at)).all()
    by_grant = _deliveries_by_grant(conn, [g.grant_id for g in grant_rows])
    return {
        "tenant": tenant,
        "person": person_id,
        "identities": [{"system": r.system, "kind": r.kind, "value": r.value, "origin": r.origin}
                       for r in links],
        "progress": [],
        "grants": [_grant(g, by_grant.get(g.grant_id, [])) for g in grant_rows],
    }


def _grant(row: Any, delivery_list: list[dict[str, Any]]) -> dict[str, Any]:
    return {"grant_id": row.grant_id, "achievement": row.achievement, "version": row.version,
            "content_hash": row.content_hash, "granted_at": _iso(row.granted_at),
            "evidence": row.evidence, "dispatched_at": _iso(row.dispatched_at),
            "revoked_at": _iso(row.revoked_at), "revoked_reason": row.revoked_reason,
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
            "kind": d.kind, "status": d.status, "reason": delivery_reason(d.status, d.detail, d.last_error),
            "attempts": d.attempts, "last_error": d.last_error, "detail": d.detail,
            "updated_at": _iso(d.updated_at), "sent_at": _iso(d.sent_at)}


def delivery_reason(status: str, detail: dict[str, Any] | None, last_error: str | None) -> str | None:
    """Why a delivery is in its status, in words: `quiet hours until 08:00 Europe/Berlin`,
    `opted out`, `forbidden by policy`, the last error of a retry, a failure's reason."""
    detail = detail or {}
    if status == "waiting":
        return detail.get("shown") or detail.get("why")
    if status in ("retrying", "failed"):
        return last_error
    if status == "fell_back":
        return f"to the {detail.get('to', 'feed')}: {detail.get('reason', '?')}"
    if status == "sent" and "digest" in detail:
        return f"in digest {detail['digest']}"
    return detail.get("reason")


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
    """Per shard: events waiting, the oldest one's receive time, the evaluator's last round,
    rows with a due time and the earliest of them, and the (event, rule) pairs skipped."""
    from store.schema import shard_state
    from store.skips import skip_counts

    waiting = _waiting(conn, tenant)
    due = _due(conn, tenant)
    skipped = skip_counts(conn, tenant)
    state = {r.shard: r for r in conn.execute(select(shard_state).where(shard_state.c.tenant == tenant))}
    out = []
    for shard in range(shards):
        w, s, d = waiting.get(shard), state.get(shard), due.get(shard)
        out.append({"shard": shard, "workflow_id": f"evaluate/{tenant}/{shard}",
                    "waiting": w.waiting if w else 0, "oldest_waiting": _iso(w.oldest) if w else None,
                    "processed": s.processed if s else 0, "last_round": _iso(s.last_run_at) if s else None,
                    "due": d.due if d else 0, "next_due": _iso(d.next_due) if d else None,
                    "skipped": skipped.get(shard, 0)})
    return out


def _waiting(conn: Connection, tenant: str) -> dict[int, Any]:
    from store.schema import event_queue, events

    return {r.shard: r for r in conn.execute(
        select(event_queue.c.shard, func.count().label("waiting"),
               func.min(events.c.received_at).label("oldest"))
        .join(events, events.c.seq == event_queue.c.seq)
        .where(event_queue.c.tenant == tenant).group_by(event_queue.c.shard))}


def _due(conn: Connection, tenant: str) -> dict[int, Any]:
    """Rows with a due time, of any version (an old version's row still shows here)."""
    return {r.shard: r for r in conn.execute(
        select(progress.c.shard, func.count().label("due"), func.min(progress.c.due_at).label("next_due"))
        .where(progress.c.tenant == tenant, progress.c.due_at.is_not(None)).group_by(progress.c.shard))}

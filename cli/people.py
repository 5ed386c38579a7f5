"""`accolade person show`, `accolade identity link`, `accolade deliveries`: read the store directly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from cli._common import die
from config.models import Config, TenantSettings
from identity import AmbiguousIdentity, UnknownIdentity, find_person, link_identity, parse_identity_ref
from identity.audit import cli_actor
from store import create_store_engine
from store.eventlog import shard_of
from store.reads import delivery_rows, shard_lag

__all__ = ["link", "read_store", "resolve", "show_deliveries", "show_person", "show_shards"]

T = TypeVar("T")


def _engine(config: Config) -> Engine:
    return create_store_engine(config.store.url)


def read_store(config: Config, read: Callable[[Connection], T]) -> T:
    engine = _engine(config)
    try:
        with engine.connect() as conn:
            return read(conn)
    finally:
        engine.dispose()


def show_person(config: Config, tenant: TenantSettings, identity: str, *, as_json: bool) -> None:
    from insight.why import person_report

    view = read_store(config, lambda conn: person_report(
        conn, tenant, resolve(conn, tenant, identity), now=datetime.now(UTC)))
    print(json.dumps(view, indent=2) if as_json else render_person(view))


def resolve(conn: Any, tenant: TenantSettings, identity: str) -> str:
    """The person IDENTITY names; exit 2 when it is malformed or ambiguous (listing the
    candidates), 1 when nobody is linked to it."""
    try:
        return find_person(conn, tenant.id, parse_identity_ref(identity))
    except ValueError as exc:
        die(str(exc))
    except AmbiguousIdentity as exc:
        die(str(exc))
    except UnknownIdentity as exc:
        die(f"{exc} (tenant {tenant.id})", 1)


def render_person(view: dict[str, Any]) -> str:
    lines = [f"person {view['person']} (tenant {view['tenant']})"]
    links = ", ".join(f"{i['system']}:{i['kind']}={i['value']} [{i['origin']}]" for i in view["identities"])
    lines.append(f"identities: {links or 'none'}")
    if view.get("unlinked"):
        lines.append(f"no {', '.join(view['unlinked'])} identity linked: events from there cannot count")
    lines.append(f"points: {view['points']}" if view.get("points") else "progress:")
    if view.get("points"):
        lines.append("progress:")
    for p in view["progress"]:
        lines += _render_progress(p)
    lines.append("grants:" if view["grants"] else "grants: none yet")
    for g in view["grants"]:
        lines += _render_grant(g)
    return "\n".join(lines)


def _render_progress(p: dict[str, Any]) -> list[str]:
    """One achievement: a bar of have/need (none for points alone), then what is missing."""
    from cli.insight import bar

    meter = f"{bar(p['have'], p['need'])} {p['have']}/{p['need']}  " if p["need"] else ""
    state = "earned" if p["granted"] else "not yet"
    lines = [f"  {p['achievement']} v{p['version']}  {meter}{state}"]
    shown = p["lines"] if not p["granted"] else [line for line in p["lines"] if line.startswith("points:")]
    return lines + [f"      {line}" for line in shown]


def _render_grant(g: dict[str, Any]) -> list[str]:
    """The grant, its evidence in words (`insight.why`), and its deliveries."""
    occurrence = "" if g.get("occurrence", "1") == "1" else f" ({g['occurrence']})"
    when = g.get("granted_local") or g["granted_at"]
    revoked = f"  REVOKED {g['revoked_at']}: {g['revoked_reason']}" if g.get("revoked_at") else ""
    lines = [f"  {g['achievement']} v{g['version']}{occurrence}  granted {when}  id {g['grant_id']}{revoked}"]
    lines += [f"    {line}" for line in g.get("why", [])]
    for d in g["deliveries"]:
        lines.append(f"    delivery {d['channel']} ({d['kind']}): {_status(d)}, {d['attempts']} attempt(s)")
    return lines


def link(config: Config, tenant: TenantSettings, person: str, identity: str, *,
         reason: str | None = None) -> None:
    try:
        ref = parse_identity_ref(identity)
    except ValueError as exc:
        die(str(exc))
    engine = _engine(config)
    refused: str | None = None
    try:
        with engine.begin() as conn:  # committed even when refused: a conflict record is kept
            try:
                released = link_identity(conn, tenant.id, person, ref, origin="cli", shards=tenant.shards,
                                         actor=cli_actor(), reason=reason,
                                         shared_mailboxes=tenant.shared_mailboxes)
            except ValueError as exc:
                refused = str(exc)
    finally:
        engine.dispose()
    if refused is not None:
        die(refused)
    print(f"linked {ref} to {person}; {released} parked event(s) released")
    if released:
        _wake(config, tenant, person)


def _wake(config: Config, tenant: TenantSettings, person: str) -> None:
    from activities.temporal_client import connect, wake_evaluators

    async def wake() -> None:
        client = await connect(config)
        await wake_evaluators(client, config, tenant.id, [shard_of(person, tenant.shards)])

    try:
        asyncio.run(wake())
    except RuntimeError as exc:
        print(f"accolade: Temporal unreachable ({exc}); the evaluator picks them up on its timer")


def show_deliveries(config: Config, tenant: TenantSettings, *, failed: bool, as_json: bool) -> None:
    rows = read_store(config, lambda conn: delivery_rows(conn, tenant.id, failed_only=failed))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        reason = f"  ({r['reason']})" if r["reason"] else ""
        print(f"{r['updated_at']}  {r['status']:<10} {r['channel']:<8} {r['achievement']}  "
              f"person {r['person']}  id {r['id']}  attempts {r['attempts']}{reason}")
    if not rows:
        print("no deliveries" + (" failed" if failed else ""))


def _status(delivery: dict[str, Any]) -> str:
    """`waiting (quiet hours until 08:00 Europe/Berlin)`, `suppressed (opted out)`, `sent`."""
    reason = delivery.get("reason")
    return f"{delivery['status']} ({reason})" if reason else str(delivery["status"])


def show_shards(config: Config, tenant: TenantSettings, *, as_json: bool) -> None:
    rows = read_store(config, lambda conn: shard_lag(conn, tenant.id, tenant.shards))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['workflow_id']:<28} waiting {r['waiting']:>6}  oldest {r['oldest_waiting'] or '-':<26} "
              f"processed {r['processed']:>8}  last round {r['last_round'] or 'never'}  "
              f"due {r['due']:>6}  next due {r['next_due'] or 'never'}  skipped {r['skipped']}")

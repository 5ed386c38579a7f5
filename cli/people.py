"""`accolade person show`, `accolade identity link`, `accolade deliveries`: read the store directly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from cli._common import die
from config.models import Config, TenantSettings
from identity import AmbiguousIdentity, UnknownIdentity, find_person, link_identity, parse_identity_ref
from store import create_store_engine
from store.eventlog import shard_of
from store.reads import delivery_rows, person_view, shard_lag

__all__ = ["link", "show_deliveries", "show_person", "show_shards"]

T = TypeVar("T")


def _engine(config: Config) -> Engine:
    return create_store_engine(config.store.url)


def _read(config: Config, read: Callable[[Connection], T]) -> T:
    engine = _engine(config)
    try:
        with engine.connect() as conn:
            return read(conn)
    finally:
        engine.dispose()


def show_person(config: Config, tenant: TenantSettings, identity: str, *, as_json: bool) -> None:
    view = _read(config, lambda conn: person_view(
        conn, tenant.id, _resolve(conn, tenant, identity), tenant.achievements))
    print(json.dumps(view, indent=2) if as_json else render_person(view))


def _resolve(conn: Any, tenant: TenantSettings, identity: str) -> str:
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
    lines.append("progress:")
    for p in view["progress"]:
        state = "granted" if p["granted"] else f"missing {p['missing']}"
        lines.append(f"  {p['achievement']} v{p['version']}  {p['count']}/{p['target']}  {state}")
    lines.append("grants:" if view["grants"] else "grants: none yet")
    for g in view["grants"]:
        lines += _render_grant(g)
    return "\n".join(lines)


def _render_grant(g: dict[str, Any]) -> list[str]:
    ev = g["evidence"]
    ident = ev.get("identity", {})
    lines = [f"  {g['achievement']} v{g['version']}  granted {g['granted_at']}  id {g['grant_id']}",
             f"    why: {ev['count']} matching event(s) for rule {ev['rule']['key']} "
             f"v{ev['rule']['version']} (hash {ev['rule']['hash']})",
             f"    events: {', '.join(ev['events'][:5])}" + (" …" if len(ev["events"]) > 5 else ""),
             f"    identity: via {ident.get('link', '?')} link"]
    for d in g["deliveries"]:
        error = f" — {d['last_error']}" if d["last_error"] else ""
        lines.append(f"    delivery {d['channel']} ({d['kind']}): {d['status']}, "
                     f"{d['attempts']} attempt(s){error}")
    return lines


def link(config: Config, tenant: TenantSettings, person: str, identity: str) -> None:
    try:
        ref = parse_identity_ref(identity)
    except ValueError as exc:
        die(str(exc))
    engine = _engine(config)
    try:
        with engine.begin() as conn:
            released = link_identity(conn, tenant.id, person, ref, origin="cli", shards=tenant.shards)
    except ValueError as exc:
        die(str(exc))
    finally:
        engine.dispose()
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
    rows = _read(config, lambda conn: delivery_rows(conn, tenant.id, failed_only=failed))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        error = f"  {r['last_error']}" if r["last_error"] else ""
        print(f"{r['updated_at']}  {r['status']:<9} {r['channel']:<8} {r['achievement']}  "
              f"person {r['person']}  id {r['id']}  attempts {r['attempts']}{error}")
    if not rows:
        print("no deliveries" + (" failed" if failed else ""))


def show_shards(config: Config, tenant: TenantSettings, *, as_json: bool) -> None:
    rows = _read(config, lambda conn: shard_lag(conn, tenant.id, tenant.shards))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['workflow_id']:<28} waiting {r['waiting']:>6}  oldest {r['oldest_waiting'] or '-':<26} "
              f"processed {r['processed']:>8}  last round {r['last_round'] or 'never'}")

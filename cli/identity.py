"""`accolade identity unlink|merge|conflicts|history|erase`: identity changes from the shell.

Unlink and merge print the grants gained and lost and change nothing without `--yes`; with it
they apply exactly what was shown (the same computation, committed). Every change is audited
as `cli:$USER` with the `--reason`.
"""

from __future__ import annotations

import json
from typing import Any

from cli._common import die
from cli.people import _engine, read_store
from config.models import Config, TenantSettings
from identity import AmbiguousIdentity, IdentityRef, UnknownIdentity, find_person, parse_identity_ref
from identity.audit import cli_actor, history, key_text
from identity.changes import ChangeRefused, merge, unlink
from identity.conflicts import list_conflicts
from identity.erase import erase_person
from identity.precedence import translate_key
from identity.recompute import Outcome
from identity.resolve import stored_key

__all__ = ["erase", "merge_persons", "show_conflicts", "show_history", "unlink_identity"]


def unlink_identity(config: Config, tenant: TenantSettings, person: str, identity: str, *, reason: str,
                    yes: bool, as_json: bool) -> None:
    try:
        ref = parse_identity_ref(identity)
    except ValueError as exc:
        die(str(exc))
    _change(config, lambda engine: unlink(engine, tenant, person, ref, actor=cli_actor(), reason=reason,
                                          apply=yes), f"unlink {ref} from {person}", yes=yes, as_json=as_json)


def merge_persons(config: Config, tenant: TenantSettings, source: str, into: str, *, reason: str,
                  yes: bool, as_json: bool) -> None:
    _change(config, lambda engine: merge(engine, tenant, source, into, actor=cli_actor(), reason=reason,
                                         apply=yes), f"merge {source} into {into}", yes=yes, as_json=as_json)


def _change(config: Config, run: Any, what: str, *, yes: bool, as_json: bool) -> None:
    engine = _engine(config)
    try:
        outcome: Outcome = run(engine)
    except ChangeRefused as exc:
        die(f"{what} refused: {exc}")
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps({"applied": yes, **outcome.to_json()}, indent=2))
        return
    print(render_outcome(outcome, what, applied=yes))


def render_outcome(outcome: Outcome, what: str, *, applied: bool) -> str:
    lines = [f"{what}: {'applied' if applied else 'preview (nothing changed; --yes applies)'}",
             f"persons recomputed: {', '.join(outcome.persons)}",
             "events now: " + (", ".join(f"{p} {n}" for p, n in sorted(outcome.counted.items())) or "none")]
    for label, changes in (("gained", outcome.gained), ("lost (revoked)", outcome.lost)):
        lines.append(f"{label}: {'none' if not changes else ''}".rstrip())
        lines += [f"  + {g.achievement} for {g.person} (grant {g.grant_id}){' — ' + g.note if g.note else ''}"
                  if label == "gained" else f"  - {g.achievement} of {g.person} (grant {g.grant_id})"
                  for g in changes]
    if outcome.parked:
        lines.append(f"{outcome.parked} event(s) now resolve to nobody: parked until linked")
    return "\n".join(lines)


def show_conflicts(config: Config, tenant: TenantSettings, *, as_json: bool) -> None:
    rows = read_store(config, lambda conn: list_conflicts(conn, tenant.id))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        verdict = "moved to" if r["moved"] else "kept by"
        print(f"{r['at']}  {r['identity']}  {verdict} {r['winner']['person']} ({r['winner']['origin']}); "
              f"claim of {r['loser']['person']} ({r['loser']['origin']}) lost")
    if not rows:
        print("no identity conflicts")


def show_history(config: Config, tenant: TenantSettings, identity: str, *, as_json: bool) -> None:
    try:
        ref = parse_identity_ref(identity)
    except ValueError as exc:
        die(str(exc))
    rows = read_store(config, lambda conn: _history_rows(conn, tenant, ref))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        other = f" with {r['other_person']}" if r["other_person"] else ""
        why = f" — {r['reason']}" if r["reason"] else ""
        print(f"{r['at']}  {r['actor']:<16} {r['action']:<18} {r['person']}{other} "
              f"{r['identity'] or ''}{why}")
        if r["before"] is not None or r["after"] is not None:
            print(f"    before {json.dumps(r['before'])}  after {json.dumps(r['after'])}")
    if not rows:
        print("no identity changes recorded")


def _history_rows(conn: Any, tenant: TenantSettings, ref: IdentityRef) -> list[dict[str, Any]]:
    """The person's rows and the key's own (a key that moved or was unlinked names no one)."""
    if ref.system == "person":
        return history(conn, tenant.id, person=ref.value)
    try:
        person: str | None = find_person(conn, tenant.id, ref)
    except UnknownIdentity:
        person = None
    except AmbiguousIdentity as exc:
        die(str(exc))
    return history(conn, tenant.id, person=person, identity=key_text(translate_key(stored_key(ref))))


def erase(config: Config, tenant: TenantSettings, person: str, *, reason: str, yes: bool) -> None:
    if not yes:
        die(f"erasing {person} rewrites their logins, emails, names and message texts in place and "
            "cannot be undone: pass --yes")
    engine = _engine(config)
    try:
        with engine.begin() as conn:
            report = erase_person(conn, tenant.id, person, actor=cli_actor(), reason=reason)
    finally:
        engine.dispose()
    done = ", ".join(f"{name} {n}" for name, n in report.rewritten.items() if n)
    print(f"erased {report.values} personal value(s) of {person}; rows rewritten: {done or 'none'}")

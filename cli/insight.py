"""`accolade simulate` and `accolade why`: the rules tried and explained, reading the store only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cli._common import die
from cli.people import read_store, resolve
from config.models import Config, TenantSettings
from identity import AmbiguousIdentity, UnknownIdentity
from insight.eventfile import EventFileError, read_event_file
from insight.simulate import SimulationError, SimulationRequest, render_simulation, simulate
from insight.why import UnknownAchievement, why

__all__ = ["bar", "render_why", "run_simulate", "run_why"]


def run_simulate(config: Config, tenant: TenantSettings, *, achievement: str, events_file: str | None,
                 person: str | None, at: datetime | None, as_json: bool) -> None:
    if events_file is None and person is None:
        die("pass --events FILE, --person IDENTITY, or both")
    try:
        given = read_event_file(events_file) if events_file is not None else []
    except EventFileError as exc:
        die(str(exc))
    request = SimulationRequest(achievement, given, person, tenant.achievements, at)
    try:
        report = read_store(config, lambda conn: simulate(conn, tenant, request, now=datetime.now(UTC)))
    except (SimulationError, ValueError, AmbiguousIdentity) as exc:
        die(str(exc))
    except UnknownIdentity as exc:
        die(f"{exc} (tenant {tenant.id})", 1)
    print(json.dumps(report, indent=2) if as_json else render_simulation(report))


def run_why(config: Config, tenant: TenantSettings, identity: str, achievement: str, *,
            as_json: bool) -> None:
    def read(conn: Any) -> dict[str, Any]:
        return why(conn, tenant, resolve(conn, tenant, identity), achievement, now=datetime.now(UTC))

    try:
        answer = read_store(config, read)
    except UnknownAchievement as exc:
        die(str(exc))
    print(json.dumps(answer, indent=2) if as_json else render_why(answer))


def render_why(answer: dict[str, Any]) -> str:
    state = "earned" if answer["granted"] else ("hidden" if answer["hidden"] else "not yet")
    lines = [f"{answer['person']} · {answer['achievement']} v{answer['version']} \"{answer['name']}\" "
             f"({answer['kind']}): {state}"]
    if answer["need"]:
        lines.append(f"  {bar(answer['have'], answer['need'])} {answer['have']}/{answer['need']}")
    lines += [f"  {line}" for line in answer["lines"] if line != "earned"]  # the first line says it
    for g in answer["grants"]:
        occurrence = "" if g["occurrence"] == "1" else f" ({g['occurrence']})"
        lines.append(f"  granted{occurrence} {g['granted_local']} (v{g['version']}, grant {g['grant_id']})")
        lines += [f"    {line}" for line in g["why"]]
    return "\n".join(lines)


def bar(have: int, need: int, *, width: int = 20) -> str:
    """`[########------------]`: `have` of `need`, capped at full."""
    filled = width if need <= 0 else min(width, have * width // need)
    return "[" + "#" * filled + "-" * (width - filled) + "]"

"""The pure rule engine's cost, by hand (issue 12 item 7): events/s on one core, and a due sweep.

    .venv/bin/python bench/engine.py                # the figures in README "Rules"
    .venv/bin/python bench/engine.py --events 20000 # a quick look

What runs, all in this one process, pinned to one core (`--core`, default the last one):

1. **mixed**: 100 live rules of the kinds of DESIGN §8 (25 windowed: calendar day/week/month and
   rolling, some repeatable; 10 streaks; 15 with a regex; distinct, without, tiers with points,
   points, repeatable, all/ordered, maintained, and plain counts) over a realistic event mix
   (`--events` CloudEvents of nine canonical types from `--persons` people over four weeks,
   arriving in rounds of `--batch` with a few minutes of jitter, so some arrive out of order).
   State is carried from round to round, as the shard evaluator does; grants, evidence and
   due times are produced as in production (`evaluate` always computes them).
2. **count-only, this engine**: 100 count rules (type + one `where` condition) through the same
   `evaluate`, the same events.
3. **count-only, today's engine**: the same 100 rules through the engine as it was before Rules 2
   (`rules/engine.py` at `--baseline-rev`, loaded from git into this process), the ratio's base.
4. **mixed, GC off**: run 1 with Python's cyclic garbage collector off during each `evaluate`
   call, to show how much of the cost is the collector scanning the many small state objects.
5. **due sweep**: `evaluate(state, [], rules, due_keys=...)` over `--sweep-persons` people with an
   open weekly window each (and again with a running streak each), at an instant after the
   window closed / the streak's deadline: what a shard pays when many windows close at once.

Events are built before timing (parsing is not the engine's work); time is CPU time of this
process. Nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.definitions import AchievementSpec  # noqa: E402
from rules.engine import (  # noqa: E402
    CountState,
    EvalEvent,
    RuleContext,
    StreakState,
    compile_rules,
    evaluate,
)
from rules.events import CloudEvent  # noqa: E402
from rules.windows import calendar_span, period_of  # noqa: E402

__all__ = ["main"]

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday; four weeks cross the Berlin DST change
SPAN = timedelta(days=28)
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]
TYPES = {  # type -> share of the stream
    "ci.pipeline.completed": 30, "code.change.merged": 12, "code.review.submitted": 12,
    "deploy.completed": 10, "ticket.resolved": 10, "ticket.reassigned": 4,
    "lms.activity.completed": 12, "lms.course.completed": 5, "iam.user.signed_in": 5,
}
REPOS = [f"acme/{name}" for name in ("api", "web", "infra", "mobile", "docs", "data", "auth", "billing")]
BRANCHES = ["main", "release/1.2", "release/2.0", "feature/login", "fix/crash", "hotfix/2.0.1"]


def _data(rng: random.Random, kind: str, person: int) -> dict[str, Any]:
    data: dict[str, Any] = {"actor": {"system": "github", "id": str(person)}}
    if kind in ("ci.pipeline.completed", "deploy.completed"):
        data |= {"outcome": rng.choices(["success", "failure", "cancelled"], [80, 15, 5])[0],
                 "repository": rng.choice(REPOS), "branch": rng.choice(BRANCHES),
                 "environment": rng.choice(["production", "staging"])}
    elif kind in ("code.change.merged", "code.review.submitted"):
        data |= {"repository": rng.choice(REPOS), "branch": rng.choice(BRANCHES),
                 "state": rng.choice(["approved", "commented", "changes_requested"])}
    elif kind.startswith("ticket."):
        data |= {"ticket": f"T-{rng.randrange(20000)}", "project": rng.choice(["OPS", "DEV", "SUP"])}
    elif kind.startswith("lms."):
        data |= {"course": f"course-{rng.randrange(40)}", "activity": f"https://lms.example.com/a/{rng.randrange(400)}",
                 "score": round(rng.random(), 2)}
    return data


def make_events(count: int, persons: int, seed: int) -> list[EvalEvent]:
    """`count` events in time order over SPAN, arrival jittered by up to 10 minutes."""
    rng = random.Random(seed)
    kinds, weights = list(TYPES), list(TYPES.values())
    step = SPAN / count
    out = []
    for n in range(count):
        kind = rng.choices(kinds, weights)[0]
        person = rng.randrange(persons)
        at = START + step * n - timedelta(seconds=rng.randrange(600))
        event = CloudEvent.model_validate({"id": f"e{n}", "source": "/bench/engine", "type": kind,
                                           "time": at, "data": _data(rng, kind, person)})
        out.append(EvalEvent(n, f"p{person}", event, {"link": "github:id", "rule": "first-trusted-key"}))
    return out


def _spec(n: int, rule: dict[str, Any], **extra: Any) -> AchievementSpec:
    return AchievementSpec(key=f"r{n:03d}", version=1, name=f"Rule {n}", rule=rule, **extra)


CONDITION = {  # what a real rule on each type usually asks (DESIGN §8 examples)
    "ci.pipeline.completed": {"outcome": "success"},
    "code.change.merged": {"branch": "main"},
    "code.review.submitted": {"state": "approved"},
    "deploy.completed": {"outcome": "success", "environment": "production"},
    "ticket.resolved": {"project": ["OPS", "DEV"]},
    "ticket.reassigned": {},
    "lms.activity.completed": {"score": {"gte": 0.5}},
    "lms.course.completed": {},
    "iam.user.signed_in": {},
}


def _on(kind: str, **rule: Any) -> dict[str, Any]:
    return {"of": kind, "where": CONDITION[kind], **rule}


def mixed_rules() -> list[AchievementSpec]:
    """100 rules: 25 windowed, 10 streaks, 15 regex, and the other kinds (module docstring)."""
    ci, specs = "ci.pipeline.completed", []
    windows = [{"calendar": "day"}, {"calendar": "week"}, {"calendar": "month"}, {"rolling": "7d"},
               {"rolling": "1d"}]
    kinds = list(TYPES)
    for i in range(25):
        extra = {"repeatable": {}} if i % 3 == 0 else {}
        specs.append(_spec(len(specs), _on(kinds[i % 5], count=3 + i % 5, window=windows[i % 5]), **extra))
    for i in range(10):
        streak = {"period": ["day", "workday", "week"][i % 3], "length": 3 + i % 4, "grace": i % 2}
        specs.append(_spec(len(specs), _on(kinds[i % 4], streak=streak)))
    for i in range(15):
        pattern = ["^release/", "^(fix|hotfix)/", "acme/(api|web)$", r"/a/1\d\d$", "^feature/"][i % 5]
        field = "activity" if "/a/" in pattern else ("repository" if "acme" in pattern else "branch")
        of = ("lms.activity.completed" if field == "activity"
              else [ci, "code.change.merged", "deploy.completed"][i % 3])
        specs.append(_spec(len(specs), {"count": 2 + i % 7, "of": of, "where": {field: {"regex": pattern}}}))
    for i in range(5):
        specs.append(_spec(len(specs), {"count": 3 + i, "distinct": "course", "of": "lms.course.completed"}))
    for i in range(5):
        specs.append(_spec(len(specs), {"count": 2 + i, "of": "ticket.resolved",
                                        "without": {"of": "ticket.reassigned", "same": "ticket"}}))
    tiers = [{"name": "bronze", "count": 5}, {"name": "silver", "count": 20}, {"name": "gold", "count": 50}]
    for i in range(5):
        specs.append(_spec(len(specs), _on(kinds[i]), tiers=tiers,
                           points={"per_event": 10, "cap": {"per": "week", "max": 100}}))
    for i in range(5):
        specs.append(_spec(len(specs), _on(kinds[i + 2], count=5), repeatable={"every": 5, "max": 10}))
    for i in range(5):
        steps = [{"of": "lms.course.completed", "where": {"course": f"course-{i}"}},
                 {"of": "code.change.merged", "where": {"repository": REPOS[i]}}, _on(ci)]
        specs.append(_spec(len(specs), {"all": steps, "ordered": True}))
    for _ in range(3):
        specs.append(_spec(len(specs), {"maintained": "7d", "from": {"of": "iam.user.signed_in"},
                                        "broken_by": {"of": ci, "where": {"outcome": "failure"}}}))
    while len(specs) < 100:
        i = len(specs)
        specs.append(_spec(i, _on(kinds[i % len(kinds)], count=1 + i % 10)))
    return specs


def count_rules() -> list[AchievementSpec]:
    """100 count-only rules, the shape of today's config (type plus one condition)."""
    kinds, specs = list(TYPES), []
    conditions = [{}, {"outcome": "success"}, {"repository": "acme/api"}, {"score": {"gte": 0.5}},
                  {"environment": ["production", "staging"]}]
    for i in range(100):
        specs.append(_spec(i, {"count": 1 + i % 10, "of": kinds[i % len(kinds)], "where": conditions[i % 5]}))
    return specs


def matched_per_event(specs: list[AchievementSpec], events: list[EvalEvent]) -> float:
    """How many rules an average event reaches (type and filters): the engine's real work."""
    rules = compile_rules(specs)
    hits = sum(match(e.event.data) for e in events for _rule, match in rules.by_type.get(e.event.type, ()))
    return hits / len(events)


def _context(persons: int) -> RuleContext:
    first_seen = {("ticket.reassigned", "ticket", f"T-{n}"): START + timedelta(hours=n % 600)
                  for n in range(0, 20000, 3)}
    return RuleContext(tenant="bench", time_zone="Europe/Berlin",
                       person_zones={f"p{n}": ZONES[n % len(ZONES)] for n in range(persons)},
                       first_seen=first_seen)


def _rounds(events: list[EvalEvent], batch: int) -> list[list[EvalEvent]]:
    return [events[i:i + batch] for i in range(0, len(events), batch)]


def run_new(specs: list[AchievementSpec], events: list[EvalEvent], batch: int,
            context: RuleContext, *, collect: bool = True) -> tuple[float, int, int]:
    """With `collect` False the cyclic GC is off during each evaluate call (what it costs)."""
    rules = compile_rules(specs)
    state: dict[Any, Any] = {}
    grants = 0
    started = time.process_time()
    for chunk in _rounds(events, batch):
        if not collect:
            gc.disable()
        result = evaluate(state, chunk, rules, context=context, now=max(e.event.time for e in chunk))
        gc.enable()
        state, grants = result.state, grants + len(result.grants)
        result.next_due  # noqa: B018 - the evaluator reads it every round
    return time.process_time() - started, grants, len(state)


def old_engine(revision: str) -> types.ModuleType:
    """`rules/engine.py` as it was at `revision`, as a module of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:rules/engine.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("bench_old_engine")
    sys.modules[module.__name__] = module
    exec(compile(source, "old rules/engine.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def run_old(engine: types.ModuleType, specs: list[AchievementSpec], events: list[EvalEvent],
            batch: int) -> tuple[float, int, int]:
    rules = [engine.compile_rule(spec) for spec in specs]
    old_events = [engine.EvalEvent(e.seq, e.person_id, e.event, e.decision) for e in events]
    state: dict[Any, Any] = {}
    grants = 0
    started = time.process_time()
    for chunk in _rounds(old_events, batch):
        state, new, _ = engine.evaluate(state, chunk, rules, tenant="bench", now=chunk[-1].event.time)
        grants += len(new)
    return time.process_time() - started, grants, len(state)


def _window_states(persons: int, context: RuleContext) -> dict[Any, Any]:
    at = START.timestamp()
    out = {}
    for n in range(persons):
        zone = ZONES[n % len(ZONES)]
        start, end, key = calendar_span(at, "week", zone, 0)
        window = [start, end, zone, 2, False]
        out[(f"p{n}", "weekly")] = CountState(count=2, total=2, high=at, windows={key: window})
    return out


def _streak_states(persons: int) -> dict[Any, Any]:
    at = START.timestamp()
    out = {}
    for n in range(persons):
        zone = ZONES[n % len(ZONES)]
        day = period_of(at, "day", zone)
        assert day is not None
        out[(f"p{n}", "streak")] = StreakState(count=2, high=at, periods=[day - 1, day], zone=zone)
    return out


def sweep(kind: str, persons: int, context: RuleContext) -> tuple[float, int, int]:
    """CPU seconds to advance `persons` due keys past their window close / streak deadline."""
    if kind == "weekly":
        rules = compile_rules([AchievementSpec(key="weekly", version=1, name="W",
                                               rule={"count": 5, "of": "ci.pipeline.completed",
                                                     "window": {"calendar": "week"}})])
        state = _window_states(persons, context)
    else:
        rules = compile_rules([AchievementSpec(key="streak", version=1, name="S",
                                               rule={"streak": {"period": "day", "length": 5},
                                                     "of": "deploy.completed"})])
        state = _streak_states(persons)
    started = time.process_time()
    result = evaluate(state, [], rules, context=context, now=START + timedelta(days=8), due_keys=list(state))
    elapsed = time.process_time() - started
    closed = sum(1 for key in state if result.state[key].count == 0)
    started = time.process_time()
    for key in result.due:
        result.state[key].to_json()
    return elapsed, closed, int((time.process_time() - started) * 1e6 / max(persons, 1))


def _pin(core: int | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cores = sorted(os.sched_getaffinity(0))
    chosen = cores[-1] if core is None else core
    os.sched_setaffinity(0, {chosen})
    return f"core {chosen}"


def _row(name: str, seconds: float, events: int, grants: int, keys: int, hit: float,  # noqa: PLR0913
         base: float | None) -> str:
    rate = events / seconds if seconds else float("inf")
    ratio = f"{rate / base:5.2f}x" if base else "  1.00x"
    return (f"| {name:<34} | {rate:>10,.0f} | {seconds:7.2f} | {grants:>7,} | {keys:>10,} | {hit:>15.1f} "
            f"| {ratio:>7} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-engine", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--persons", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500, help="events per evaluate call (a shard round)")
    parser.add_argument("--sweep-persons", type=int, default=100_000)
    parser.add_argument("--baseline-rev", default="5f0b8b9", help="git revision of today's (old) engine")
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    pinned = _pin(args.core)
    print(f"building {args.events:,} events for {args.persons:,} persons ({pinned}) …", flush=True)
    events = make_events(args.events, args.persons, args.seed)
    context = _context(args.persons)
    old = old_engine(args.baseline_rev)
    counts, mixed = count_rules(), mixed_rules()
    runs: list[tuple[str, list[AchievementSpec], Callable[[], tuple[float, int, int]]]] = [
        ("count-only, today's engine (base)", counts, lambda: run_old(old, counts, events, args.batch)),
        ("count-only, this engine", counts, lambda: run_new(counts, events, args.batch, context)),
        ("mixed 100 rules, this engine", mixed, lambda: run_new(mixed, events, args.batch, context)),
        ("mixed, GC off during evaluate", mixed,
         lambda: run_new(mixed, events, args.batch, context, collect=False)),
    ]
    print(f"\n{args.events:,} events, {args.persons:,} persons, rounds of {args.batch}, 100 rules each, "
          f"CPU time on one core; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| run                                |   events/s | CPU s   |  grants | state keys "
          "| rules hit/event | vs base |")
    print("|------------------------------------|-----------:|--------:|--------:|-----------:"
          "|----------------:|--------:|")
    base: float | None = None
    for name, specs, measure in runs:
        seconds, grants, keys = measure()
        hit = matched_per_event(specs, events)
        print(_row(name, seconds, args.events, grants, keys, hit, base), flush=True)
        base = base or args.events / seconds
    print(f"\ndue sweep: evaluate(state, [], rules, due_keys=…) over {args.sweep_persons:,} persons\n")
    print("| sweep                              | CPU s   | µs per key | progress changed | to_json µs/key |")
    print("|------------------------------------|--------:|-----------:|-----------------:|---------------:|")
    for kind, label in (("weekly", "weekly windows closing"), ("streak", "day streaks breaking")):
        seconds, closed, dump = sweep(kind, args.sweep_persons, context)
        print(f"| {label:<34} | {seconds:7.2f} | {seconds * 1e6 / args.sweep_persons:10.1f} | "
              f"{closed:>16,} | {dump:>14} |", flush=True)


if __name__ == "__main__":
    main()

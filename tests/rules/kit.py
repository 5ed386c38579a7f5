"""Builders shared by the rule-engine tests: events at given times, specs, one-call runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.definitions import AchievementSpec
from rules.engine import EvalEvent, Evaluation, RuleContext, RuleState, compile_rules, evaluate
from rules.events import CloudEvent

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
KEY = ("p1", "a")


def ev(n: int | str, at: datetime, *, type: str = "ci.pipeline.completed", person: str = "p1",
       **data: Any) -> EvalEvent:
    event = CloudEvent.model_validate({"id": str(n), "source": "/t", "type": type, "time": at.isoformat(),
                                       "data": {"actor": {"system": "x", "id": person}, **data}})
    return EvalEvent(0, person, event, {"link": "x:id"})


def spec(rule: dict[str, Any], key: str = "a", **extra: Any) -> AchievementSpec:
    return AchievementSpec(key=key, version=1, name=key.title(), rule=rule, **extra)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def run(specs: AchievementSpec | Iterable[AchievementSpec], events: list[EvalEvent], *,
        state: Mapping[tuple[str, str], RuleState] | None = None, now: datetime | None = None,
        due_keys: Iterable[tuple[str, str]] = (), **context: Any) -> Evaluation:
    specs = [specs] if isinstance(specs, AchievementSpec) else list(specs)
    latest = max((e.event.time for e in events), default=T0)
    return evaluate(state or {}, events, compile_rules(specs), context=RuleContext(tenant="t", **context),
                    now=now or latest, due_keys=due_keys)

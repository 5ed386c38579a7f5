"""Achievement definitions as ops write them (DESIGN §8 "Rule shape"), and their content hash.

A rule matches events of one type whose `data` attributes satisfy every condition in `where`:

- a scalar is equality (`outcome: success`),
- a list is membership (`outcome: [success, neutral]`),
- a mapping is an operator: `{gt|gte|lt|lte: number}`, `{ne: value}`, `{in: [...]}`,
  `{exists: true|false}`, `{regex: "^release/"}` (compiled once, searched), or
  `{not: <any condition above>}`.

Attribute names are dotted paths into `data` (`repository`, `actor.system`).

The rule's keys decide its kind: `streak`, `maintained` or `all` name one; anything else is a
count (today's rule), refined by `distinct`, `window` and `without`. Beside `rule`, an
achievement may declare `tiers` (which replace `count`), `points`, `repeatable` and `hidden`.
Every mistake is a `ValueError` naming the field, so `accolade config check` reports it with
file and line before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.durations import Duration

__all__ = [
    "AchievementSpec",
    "OPERATORS",
    "PointsSpec",
    "RepeatSpec",
    "RuleSpec",
    "StepSpec",
    "StreakSpec",
    "TierSpec",
    "WindowSpec",
    "WithoutSpec",
    "check_zone",
    "rule_fields",
]

OPERATORS = frozenset({"eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "regex", "not"})
_NUMERIC = frozenset({"gt", "gte", "lt", "lte"})
CalendarUnit = Literal["day", "week", "month"]


def _check_operator(attribute: str, condition: dict[str, Any]) -> None:
    if len(condition) != 1:
        raise ValueError(f"{attribute}: an operator mapping takes exactly one of {_ops()}")
    (op, operand), = condition.items()
    if op not in OPERATORS:
        raise ValueError(f"{attribute}: unknown operator {op!r}; use one of {_ops()}")
    if op in _NUMERIC and (isinstance(operand, bool) or not isinstance(operand, int | float)):
        raise ValueError(f"{attribute}: {op} needs a number")
    if op == "in" and not isinstance(operand, list):
        raise ValueError(f"{attribute}: in needs a list")
    if op == "exists" and not isinstance(operand, bool):
        raise ValueError(f"{attribute}: exists needs true or false")
    if op == "regex":
        _check_regex(attribute, operand)
    if op == "not" and isinstance(operand, dict):
        _check_operator(attribute, operand)


def _check_regex(attribute: str, pattern: Any) -> None:
    if not isinstance(pattern, str):
        raise ValueError(f"{attribute}: regex needs a string")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{attribute}: regex {pattern!r} does not compile: {exc}") from None


def _ops() -> str:
    return ", ".join(sorted(OPERATORS))


def _check_where(where: dict[str, Any]) -> dict[str, Any]:
    for attribute, condition in where.items():
        if isinstance(condition, dict):
            _check_operator(attribute, condition)
    return where


def check_zone(zone: str) -> str:
    """An IANA zone name, or a ValueError naming it (shared with the tenant settings)."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    return zone


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(_Strict):
    """One kind of event: a step of `all`, the `from` / `broken_by` of `maintained`."""

    of: str = Field(min_length=3)
    where: dict[str, Any] = Field(default_factory=dict)

    @field_validator("where")
    @classmethod
    def _conditions(cls, where: dict[str, Any]) -> dict[str, Any]:
        return _check_where(where)


class WindowSpec(_Strict):
    """`{calendar: day|week|month}` or `{rolling: 7d}`; exactly one."""

    calendar: CalendarUnit | None = None
    rolling: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> WindowSpec:
        if (self.calendar is None) == (self.rolling is None):
            raise ValueError("a window is either {calendar: day|week|month} or {rolling: 7d}")
        if self.rolling is not None and self.rolling <= timedelta(0):
            raise ValueError("rolling: a window must be longer than 0")
        return self


class WithoutSpec(_Strict):
    """Count A unless a B event with the same `same` attribute happened before it (or `within`)."""

    of: str = Field(min_length=3)
    same: str = Field(min_length=1, description="dotted attribute path shared by A and B, e.g. ticket")
    within: Duration | None = Field(default=None, description="only a B this long before A counts")


class StreakSpec(_Strict):
    period: Literal["day", "workday", "week"]
    length: int = Field(ge=1, le=10_000)
    grace: int = Field(default=0, ge=0, le=1000, description="missed periods allowed over the streak's life")


class RuleSpec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    count: int | None = Field(default=None, ge=1, le=1_000_000)
    of: str | None = Field(default=None, min_length=3,
                           description="canonical event type, e.g. ci.pipeline.completed")
    where: dict[str, Any] = Field(default_factory=dict)
    distinct: str | None = Field(default=None, min_length=1,
                                 description="count different values of this attribute")
    window: WindowSpec | None = None
    without: WithoutSpec | None = None
    streak: StreakSpec | None = None
    maintained: Duration | None = None
    from_: StepSpec | None = Field(default=None, alias="from")
    broken_by: StepSpec | None = None
    all: list[StepSpec] | None = Field(default=None, min_length=1, max_length=100)
    ordered: bool = False

    @field_validator("where")
    @classmethod
    def _conditions(cls, where: dict[str, Any]) -> dict[str, Any]:
        return _check_where(where)

    @property
    def kind(self) -> str:
        """`streak`, `maintained`, `all` or `count` (today's rule, with its refinements)."""
        for name in ("streak", "maintained", "all"):
            if getattr(self, name) is not None:
                return name
        return "count"

    @model_validator(mode="after")
    def _shape(self) -> RuleSpec:
        kinds = [name for name in ("streak", "maintained", "all") if getattr(self, name) is not None]
        if len(kinds) > 1:
            raise ValueError(f"one rule kind per rule: {' and '.join(kinds)} together")
        _KIND_CHECKS[self.kind](self)
        return self

    def hash_body(self) -> dict[str, Any]:
        """What decides a grant, with unset new fields left out: a count-only rule hashes as before."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not self.ordered:
            body.pop("ordered", None)
        if self.kind == "count":  # today's three keys, always present in published hashes
            body.setdefault("count", None)
            body.setdefault("where", {})
        return body


def rule_fields() -> list[str]:
    """The keys a rule may have, as users write them (`from`, not `from_`)."""
    return [field.alias or name for name, field in RuleSpec.model_fields.items()]


def _forbid(rule: RuleSpec, kind: str, *names: str) -> None:
    for name in names:
        value = getattr(rule, "from_" if name == "from" else name)
        if value not in (None, {}, False):
            raise ValueError(f"{name}: not a field of a {kind} rule")


def _count_shape(rule: RuleSpec) -> None:
    _forbid(rule, "count", "from", "broken_by", "ordered")
    if rule.of is None:
        raise ValueError("of: a count rule names the event type it counts")


def _streak_shape(rule: RuleSpec) -> None:
    _forbid(rule, "streak", "count", "distinct", "window", "without", "from", "broken_by", "ordered")
    if rule.of is None:
        raise ValueError("of: a streak names the event type that keeps it")


def _maintained_shape(rule: RuleSpec) -> None:
    _forbid(rule, "maintained", "count", "of", "where", "distinct", "window", "without", "ordered")
    if rule.maintained is not None and rule.maintained <= timedelta(0):
        raise ValueError("maintained: a duration longer than 0, e.g. 30d")
    if rule.from_ is None or rule.broken_by is None:
        raise ValueError("maintained needs `from` (what starts it) and `broken_by` (what resets it)")


def _all_shape(rule: RuleSpec) -> None:
    _forbid(rule, "all", "count", "of", "where", "distinct", "window", "without", "from", "broken_by")


_KIND_CHECKS = {"count": _count_shape, "streak": _streak_shape, "maintained": _maintained_shape,
                "all": _all_shape}


class TierSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    count: int = Field(ge=1, le=1_000_000)


class PointsCap(_Strict):
    per: CalendarUnit
    max: int = Field(ge=1)


class PointsSpec(_Strict):
    per_event: int = Field(ge=1, le=1_000_000)
    cap: PointsCap | None = None


class RepeatSpec(_Strict):
    every: int = Field(default=1, ge=1, le=1_000_000,
                       description="matching events (periods for a streak) per further grant; "
                                   "a windowed rule repeats once per window instead")
    max: int | None = Field(default=None, ge=1, le=100_000, description="most grants in all")


class AchievementSpec(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    version: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    next: str | None = Field(default=None, description="what to aim for next, shown on delivery")
    rule: RuleSpec
    tiers: list[TierSpec] | None = Field(default=None, min_length=1, max_length=20)
    points: PointsSpec | None = None
    repeatable: RepeatSpec | None = None
    hidden: bool = Field(default=False, description="not listed until earned")
    deliver_to: list[str] = Field(default_factory=list)
    importance: Literal["low", "normal", "high"] = Field(
        default="normal", description="routes the grant through the tenant's channel policy")
    team_visible: bool = Field(default=False, description="also post to the team's Slack channel")

    @model_validator(mode="after")
    def _thresholds(self) -> AchievementSpec:
        if self.tiers is not None:
            _check_tiers(self)
        elif self.rule.kind == "count" and self.rule.count is None and self.points is None:
            raise ValueError("rule.count: a count rule needs `count` (or `tiers`, or `points` alone)")
        _check_extras(self)
        return self

    def content_hash(self) -> str:
        """Hash of what decides a grant; delivery settings may change without a new version.

        Fields added with Rules 2 enter the hash only when set, so every count-only hash that
        was ever published stays exactly what it was.
        """
        body: dict[str, Any] = {"key": self.key, "rule": self.rule.hash_body()}
        for name in ("tiers", "points", "repeatable"):
            if (value := getattr(self, name)) is not None:
                body[name] = json.loads(json.dumps(_dump(value)))
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [item.model_dump(mode="json") for item in value]
    return value.model_dump(mode="json")


def _check_tiers(spec: AchievementSpec) -> None:
    assert spec.tiers is not None
    if spec.rule.kind != "count":
        raise ValueError(f"tiers: only a count rule has tiers (this is a {spec.rule.kind})")
    if spec.rule.count is not None:
        raise ValueError("rule.count: tiers replace count; drop one of them")
    counts = [tier.count for tier in spec.tiers]
    if counts != sorted(set(counts)):
        raise ValueError(f"tiers: counts must rise strictly from first to last, got {counts}")
    names = [tier.name for tier in spec.tiers]
    if len(set(names)) != len(names):
        raise ValueError("tiers: each tier needs its own name")


def _check_extras(spec: AchievementSpec) -> None:
    """Combinations the engine does not define are config errors, not surprises."""
    rule, kind = spec.rule, spec.rule.kind
    if spec.repeatable is not None and kind in ("maintained", "all"):
        raise ValueError(f"repeatable: a {kind} rule is earned once")
    if spec.repeatable is not None and spec.tiers is not None:
        raise ValueError("repeatable: tiers are each earned once; drop one of them")
    if spec.repeatable is not None and rule.window is not None and spec.repeatable.every != 1:
        raise ValueError("repeatable.every: a windowed rule repeats once per window; drop `every`")
    if spec.points is not None and kind != "count":
        raise ValueError(f"points: only a count rule gives points (this is a {kind})")
    if rule.distinct is not None and rule.window is not None:
        raise ValueError("rule.distinct: a distinct count over a window is not supported; drop one of them")

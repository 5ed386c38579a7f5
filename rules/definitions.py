"""Achievement definitions as ops write them, and their content hash.

A rule counts events of one type whose `data` attributes satisfy every condition in `where`:

- a scalar is equality (`outcome: success`),
- a list is membership (`outcome: [success, neutral]`),
- a mapping is an operator: `{gt|gte|lt|lte: number}`, `{ne: value}`, `{in: [...]}`,
  `{exists: true|false}`.

Attribute names are dotted paths into `data` (`repository`, `actor.system`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AchievementSpec", "RuleSpec", "OPERATORS"]

OPERATORS = frozenset({"eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"})
_NUMERIC = frozenset({"gt", "gte", "lt", "lte"})


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1, le=1_000_000)
    of: str = Field(min_length=3, description="canonical event type, e.g. ci.pipeline.completed")
    where: dict[str, Any] = Field(default_factory=dict)

    @field_validator("where")
    @classmethod
    def _conditions(cls, where: dict[str, Any]) -> dict[str, Any]:
        for attribute, condition in where.items():
            if isinstance(condition, dict):
                _check_operator(attribute, condition)
        return where


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


def _ops() -> str:
    return ", ".join(sorted(OPERATORS))


class AchievementSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    version: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    next: str | None = Field(default=None, description="what to aim for next, shown on delivery")
    rule: RuleSpec
    deliver_to: list[str] = Field(default_factory=list)
    importance: Literal["low", "normal", "high"] = Field(
        default="normal", description="routes the grant through the tenant's channel policy")
    team_visible: bool = Field(default=False, description="also post to the team's Slack channel")

    def content_hash(self) -> str:
        """Hash of what decides a grant; delivery settings may change without a new version."""
        body = {"key": self.key, "rule": self.rule.model_dump(mode="json")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

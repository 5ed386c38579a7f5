"""What a person reads when they earn something: title, why, what next — as plain text.

Channels render this one `Message` their own way (console line, feed entry, Slack blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rules.definitions import AchievementSpec

__all__ = ["Message", "compose", "describe_rule"]


@dataclass(frozen=True)
class Message:
    title: str
    why: str
    next: str | None

    headline: str | None = None  # the first line; default "You earned “<title>”."

    @property
    def text(self) -> str:
        lines = [self.headline or f"You earned “{self.title}”.", f"Why: {self.why}"]
        if self.next:
            lines.append(f"Next: {self.next}")
        return "\n".join(lines)

    def for_team(self, who: str) -> Message:
        """The same message as a team channel reads it: `who` earned it."""
        return replace(self, headline=f"{who} earned “{self.title}”.")


def describe_rule(spec: AchievementSpec) -> str:
    rule = spec.rule
    what = "event" if rule.count == 1 else "events"
    conditions = ", ".join(f"{k} {_condition(v)}" for k, v in sorted(rule.where.items()))
    suffix = f" with {conditions}" if conditions else ""
    return f"{rule.count} {rule.of} {what}{suffix}"


def _condition(value: Any) -> str:
    if isinstance(value, dict):
        ((op, operand),) = value.items()
        return f"{op} {operand}"
    if isinstance(value, list):
        return "in " + "/".join(map(str, value))
    return f"= {value}"


def compose(spec: AchievementSpec, evidence: dict[str, Any]) -> Message:
    count = evidence.get("count", spec.rule.count)
    why = f"{describe_rule(spec)} (you have {count})."
    if spec.description:
        why = f"{spec.description} — {why}"
    return Message(title=spec.name, why=why, next=spec.next)

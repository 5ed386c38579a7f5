"""Evidence: why a grant was made, as one typed model shared by engine, store, CLI and API.

The engine builds it only for a grant (never per event). The store keeps
`evidence.model_dump(mode="json")`; readers written before Rules 2 keep working because the
old keys keep their meaning: `events` (first N event keys), `count`, `digest` (running sha256
over every counted key), `rule.key|version|hash` (plus `count` and `of` for a count rule),
`identity` (`person` and the ingest's decision: `link`, `rule`, …) and `completed_by`.
`Evidence.from_json` reads both old and new rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Evidence", "EvidenceRule", "Identity", "LateEvent", "StreakSpan", "WindowSpan"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceRule(_Frozen):
    key: str
    version: int
    hash: str
    kind: str = "count"
    count: int | None = None  # the threshold of a count rule (kept for pre-Rules-2 readers)
    of: str | None = None


class WindowSpan(_Frozen):
    start: datetime
    end: datetime
    zone: str
    key: str  # "2026-03-09", "2026-W10", "2026-03", or "rolling"


class StreakSpan(_Frozen):
    start: datetime
    end: datetime
    length: int
    zone: str
    grace_used: int = 0


class LateEvent(_Frozen):
    event: str
    reason: str


class Identity(BaseModel):
    """The person and the ingest's identity decision (which link, from which source)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    person: str
    link: str | None = None
    source: str | None = None


class Evidence(_Frozen):
    events: list[str] = Field(description="the first N counted event keys (source#id)")
    count: int
    digest: str
    rule: EvidenceRule
    occurrence: str = "1"
    window: WindowSpan | None = None
    streak: StreakSpan | None = None
    tier: str | None = None
    identity: Identity
    completed_by: str | None = Field(default=None, description="the event key that completed the rule")
    late: list[LateEvent] = Field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """Read a stored row, old (pre-Rules 2) or new."""
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

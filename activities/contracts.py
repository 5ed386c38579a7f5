"""Inputs and results of every workflow, signal and activity (one model in, one model out).

Pure pydantic: workflows import this module, so it must not import I/O libraries. Everything
here carries opaque ids only (tenant, shard, person id, grant id, achievement key), never
names, logins or emails: Temporal histories cannot be erased.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = [
    "CollectGrant",
    "DigestInput",
    "DigestResult",
    "JoinDigestInput",
    "SendDigestInput",
    "SendDigestResult",
    "ClaimRetryInput",
    "ClaimRetryResult",
    "DeliverGrantInput",
    "DeliverGrantResult",
    "DeliverInput",
    "DeliverResult",
    "DispatchInput",
    "CheckConnectorsInput",
    "CheckConnectorsResult",
    "DispatchResult",
    "DriftWindow",
    "EvaluateShardInput",
    "EvaluateShardResult",
    "EvaluatorInput",
    "GrantRef",
    "MarkFailedInput",
    "PollCycleInput",
    "PollCycleResult",
    "PollerInput",
    "WatchInput",
    "WatchState",
]


class EvaluatorInput(BaseModel):
    tenant: str
    shard: int
    batch_size: int = Field(default=500, ge=1, le=10_000)
    wake_seconds: float = Field(default=30.0, gt=0)
    rounds: int = 0  # carried across continue-as-new, for the summary
    next_due: datetime | None = None  # the shard's earliest due time, carried across continue-as-new


class EvaluateShardInput(BaseModel):
    """`now` is the workflow's time (`workflow.now()`): rule time is Temporal's, so a retried
    round decides with the instant of its first attempt and a time-skipped test moves it."""

    tenant: str
    shard: int
    batch_size: int = 500
    now: datetime


class GrantRef(BaseModel):
    grant_id: str
    tenant: str
    person_id: str
    achievement: str
    channels: list[str]


class EvaluateShardResult(BaseModel):
    """`next_due`: the earliest instant anything stored for the shard can change with no
    event (a window close, a streak deadline, a maintained-for completion); None = never.
    `due` counts the keys advanced because they came due; `skipped` the (event, rule) pairs
    a rule could not evaluate (recorded, not counted)."""

    processed: int
    grants: int
    more: bool
    undispatched: list[GrantRef] = Field(default_factory=list)
    next_due: datetime | None = None
    due: int = 0
    skipped: int = 0


class DispatchInput(BaseModel):
    grants: list[GrantRef]


class DispatchResult(BaseModel):
    started: int
    already_running: int


class DeliverGrantInput(BaseModel):
    grant: GrantRef
    retry: int = Field(default=0, ge=0,
                       description="n of `deliver/<grant>/<channel>/retry-<n>`; 0: the first run")


class DeliverInput(BaseModel):
    tenant: str
    grant_id: str
    channel: str
    retry: int = 0  # > 0: a re-drive of a failed delivery; an earlier run may have sent already


class ClaimRetryInput(BaseModel):
    """Re-drive one failed delivery: `retry` is n of `deliver/<grant>/<channel>/retry-<n>`."""

    tenant: str
    grant_id: str
    channel: str
    retry: int = Field(ge=1)


class ClaimRetryResult(BaseModel):
    claimed: bool
    status: str  # the row's status before the claim (failed when claimed)
    reason: str | None = None  # why not, when refused


class DeliverResult(BaseModel):
    """`waiting`: ask again at `until` (UTC), or, with `digest` (a period key), hand the grant
    to the person's digest of that period (`JoinDigestInput`)."""

    channel: str
    status: str  # sent | fell_back | suppressed | failed | waiting | refused (a re-drive of a row not failed)
    detail: str | None = None
    until: datetime | None = None
    digest: str | None = None


class JoinDigestInput(BaseModel):
    tenant: str
    person_id: str
    channel: str
    period: str  # day-2026-11-30 | week-2026-11-30
    due: datetime
    grant_id: str


class DigestInput(BaseModel):
    """A `DigestWorkflow` run, id `digest/<tenant>/<person>/<channel>/<period>`."""

    tenant: str
    person_id: str
    channel: str
    period: str
    due: datetime


class CollectGrant(BaseModel):
    """The `collect` signal: one more grant for this digest."""

    grant_id: str


class SendDigestInput(BaseModel):
    tenant: str
    person_id: str
    channel: str
    digest_id: str  # the workflow id
    grant_ids: list[str]


class SendDigestResult(BaseModel):
    status: str  # sent | suppressed | fell_back | nothing (every grant was settled already)
    grants: int = 0
    detail: str | None = None


class DigestResult(BaseModel):
    sends: int
    grants: int


class MarkFailedInput(BaseModel):
    tenant: str
    grant_id: str
    channel: str
    reason: str


class DeliverGrantResult(BaseModel):
    deliveries: list[DeliverResult]


class PollerInput(BaseModel):
    """A `PollWorkflow` run; carried across continue-as-new, one run per cycle."""

    tenant: str
    connector: str
    every_seconds: float = Field(default=300.0, gt=0)
    wait_first: bool = False  # a new run waits for its timer (or a poke) before polling
    failures: int = 0  # cycles failed in a row: the wait backs off with them
    details: str = ""  # what the last cycle said, shown until the next one ends


class PollCycleInput(BaseModel):
    tenant: str
    connector: str


class PollCycleResult(BaseModel):
    """What a cycle did. `paused`: the connector is disabled or no longer polls (the poller
    ends). `cursor` is the cursor of record afterwards (ISO 8601, UTC), `every_seconds` the
    configured interval now."""

    paused: bool = False
    pages: int = 0
    records: int = 0
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    cursor: str | None = None
    every_seconds: float = 300.0


class DriftWindow(BaseModel):
    """A connector's counters at the watcher's last round, and the quarantined share of its
    last window with enough payloads to judge (`intake.alarms`). Counters only."""

    received: int
    quarantined: int
    base_share: float | None = None


class WatchState(BaseModel):
    """What the watcher carries across rounds and continue-as-new, per connector id."""

    first_seen: dict[str, datetime] = Field(default_factory=dict)
    windows: dict[str, DriftWindow] = Field(default_factory=dict)


class WatchInput(BaseModel):
    """A `ConnectorWatchWorkflow` run, id `watch/<tenant>`."""

    tenant: str
    every_seconds: float = Field(default=60.0, gt=0)
    rounds_per_run: int = Field(default=100, ge=1)
    state: WatchState = Field(default_factory=WatchState)
    rounds: int = 0  # carried across continue-as-new, for the details


class CheckConnectorsInput(BaseModel):
    tenant: str
    state: WatchState = Field(default_factory=WatchState)


class CheckConnectorsResult(BaseModel):
    """`opened`/`resolved`/`notified` name incidents as `<connector>:<kind>` (ids only)."""

    state: WatchState
    opened: list[str] = Field(default_factory=list)
    resolved: list[str] = Field(default_factory=list)
    notified: int = 0

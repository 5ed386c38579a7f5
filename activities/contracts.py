"""Inputs and results of every workflow, signal and activity (one model in, one model out).

Pure pydantic: workflows import this module, so it must not import I/O libraries. Everything
here carries opaque ids only (tenant, shard, person id, grant id, achievement key), never
names, logins or emails: Temporal histories cannot be erased.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = [
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


class EvaluateShardInput(BaseModel):
    tenant: str
    shard: int
    batch_size: int = 500


class GrantRef(BaseModel):
    grant_id: str
    tenant: str
    person_id: str
    achievement: str
    channels: list[str]


class EvaluateShardResult(BaseModel):
    processed: int
    grants: int
    more: bool
    undispatched: list[GrantRef] = Field(default_factory=list)


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
    channel: str
    status: str  # sent | fell_back | suppressed | failed | refused (a re-drive of a row not failed)
    detail: str | None = None


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

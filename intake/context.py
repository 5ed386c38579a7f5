"""What the intake paths share: the store, the quarantine, the counters and the notifier.

The receiver builds one `Intake` (api/app.py); the worker builds one for its pollers. The
webhook route, the batch API and the poll activity all write through `intake.ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine

from config.models import Config
from intake.health import HealthCounters
from intake.ingest import Quarantine
from intake.rejections import RejectionCounter
from store.group_commit import GroupCommit

__all__ = ["Intake", "Notifier"]


class Notifier(Protocol):
    """Tells evaluators that shards have new work, and pollers that their vendor spoke
    (both coalesced by the implementation)."""

    def mark_dirty(self, tenant: str, shards: set[int]) -> None: ...

    def hint_poller(self, tenant: str, connector: str) -> None: ...


class NoNotifier:
    def mark_dirty(self, tenant: str, shards: set[int]) -> None:
        return None

    def hint_poller(self, tenant: str, connector: str) -> None:
        return None


@dataclass
class Intake:
    config: Config
    engine: Engine
    notifier: Notifier = field(default_factory=NoNotifier)
    quarantine: Quarantine = field(init=False)
    rejections: RejectionCounter = field(init=False)
    group_commit: GroupCommit = field(init=False)
    health: HealthCounters = field(init=False)

    def __post_init__(self) -> None:
        self.quarantine = Quarantine.of(self.config)
        self.rejections = RejectionCounter(self.engine)
        self.group_commit = GroupCommit(self.engine)
        self.health = HealthCounters(self.engine)

    def refused(self, tenant: str, connector: str, reason: str, delivery: str | None) -> None:
        """A request refused before authentication: aggregated, never a row per request."""
        self.rejections.add(tenant, connector, reason, delivery)
        self.health.observe(tenant, connector, rejected=1)

    def hint_poller(self, tenant: str, connector: str) -> None:
        self.notifier.hint_poller(tenant, connector)

    def start(self) -> Intake:
        self.health.start()
        return self

    def close(self) -> None:
        """Write what the counters hold (on shutdown)."""
        self.rejections.flush()
        self.health.close()

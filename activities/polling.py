"""The poll cycle: page through a vendor from the cursor of record, one transaction per page.

`poll_connector` is one cycle of one connector instance:

1. The cursor of record is read from the store (`poll_cursors`); the cycle asks for records
   changed at or after `cursor − overlap` (a new poller: `poll.since`, default now − overlap).
2. Each page is fetched (the vendor's I/O, `fetch_page`), mapped (pure, `parse_page`; a record
   that fails to map is quarantined and the cycle goes on) and stored with the cursor advanced
   to the newest change it covers, never past the cycle's start, in ONE transaction
   (`intake.ingest.ingest_page`).
3. After each page the activity heartbeats the next page's token with the cycle's bounds, so
   a retried attempt resumes at that page instead of the first.

Failures are classified once, in the connector (`Retryable` with the server's delay, or
`Permanent`); anything else a vendor client raises is treated as retryable. A cycle that
fails for good (its last attempt, or a permanent failure) is recorded on the connector's
health (`failures_in_row`, `last_error`); a successful one resets the streak.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.contracts import PollCycleInput, PollCycleResult
from activities.errors import to_application_error
from config.models import Config, TenantSettings
from connectors import PollingConnector, polling_connector
from connectors.base import ConnectorSettings, Cursor, Page, PayloadError, RecordResult, check_events
from connectors.errors import Failure, Permanent, Retryable
from intake.context import Intake
from intake.ingest import ingest_page
from rules.events import connector_source
from store import read_only
from store.cursors import read_cursor
from store.health import record_poll
from workflows.poller import CYCLE_ATTEMPTS

__all__ = ["PollingActivities"]

log = logging.getLogger("accolade.poll")


class _Resume(BaseModel):
    """Heartbeat details: where a retried attempt of this cycle goes on."""

    token: str | None
    lower_bound: datetime
    started: datetime
    pages: int = 0
    records: int = 0
    accepted: int = 0
    duplicate: int = 0
    quarantined: int = 0


@dataclass
class PollingActivities:
    """`clients` maps a connector id to a vendor client built elsewhere (tests inject theirs);
    missing ones are built by the connector from its settings on first use."""

    intake: Intake
    clients: dict[str, Any]

    @property
    def config(self) -> Config:
        return self.intake.config

    @activity.defn(name="poll_connector")
    async def poll_connector(self, input: PollCycleInput) -> PollCycleResult:
        found = self._find(input)
        if found is None:
            return PollCycleResult(paused=True)
        tenant, settings, connector = found
        every = connector.poll_settings(settings).every.total_seconds()
        try:
            state = await self._cycle(tenant, settings, connector)
        except Failure as exc:
            await self._failed(input, exc)
            raise to_application_error(exc) from None
        except Exception as exc:  # noqa: BLE001 - a vendor client's own error: classify it here
            failure = Retryable(f"{connector.vendor} poll failed: {type(exc).__name__}")
            log.warning("poll %s/%s: %s", input.tenant, input.connector, exc)
            await self._failed(input, failure)
            raise to_application_error(failure) from None
        now = datetime.now(UTC)
        await asyncio.to_thread(self._succeeded, input, state, now)
        cursor = await asyncio.to_thread(self._cursor, input)
        return PollCycleResult(pages=state.pages, records=state.records, accepted=state.accepted,
                               duplicate=state.duplicate, quarantined=state.quarantined,
                               cursor=None if cursor is None else cursor.isoformat(), every_seconds=every)

    def _find(
        self, input: PollCycleInput
    ) -> tuple[TenantSettings, ConnectorSettings, PollingConnector] | None:
        found = self.config.find_connector(input.connector)
        if found is None or found[0].id != input.tenant or not found[1].enabled:
            return None
        connector = polling_connector(found[1].vendor)
        if connector is None or not connector.polls(found[1]):
            return None
        return found[0], found[1], connector

    async def _cycle(self, tenant: TenantSettings, settings: ConnectorSettings,
                     connector: PollingConnector) -> _Resume:
        state = await asyncio.to_thread(self._start_or_resume, tenant, settings, connector)
        client = self.clients.get(settings.id)
        if client is None:
            client = self.clients[settings.id] = await asyncio.to_thread(connector.client, settings)
        source = connector_source(tenant.id, settings.id)
        while True:
            cursor = Cursor(position=None, lower_bound=state.lower_bound, started=state.started,
                            token=state.token)
            page = await asyncio.to_thread(connector.fetch_page, client, settings, cursor)
            await asyncio.to_thread(self._store, tenant, settings.id, connector, page, source, state)
            activity.heartbeat(state.model_dump(mode="json"))
            if state.token is None:
                return state

    def _start_or_resume(self, tenant: TenantSettings, settings: ConnectorSettings,
                         connector: PollingConnector) -> _Resume:
        details = activity.info().heartbeat_details
        if details:
            resumed = _Resume.model_validate(details[0])
            log.info("poll %s/%s: resuming the cycle at page %d", tenant.id, settings.id, resumed.pages + 1)
            return resumed
        poll = connector.poll_settings(settings)
        now = datetime.now(UTC)
        with read_only(self.intake.engine) as conn:
            position = read_cursor(conn, tenant.id, settings.id)
        if position is None:  # a new poller starts at `since` (default now − overlap)
            lower = poll.since or now - poll.overlap
            lower = lower if lower.tzinfo else lower.replace(tzinfo=UTC)
        else:
            lower = position - poll.overlap
        return _Resume(token=None, lower_bound=lower, started=now)

    def _store(self, tenant: TenantSettings, connector_id: str, connector: PollingConnector,
               page: Page, source: str, state: _Resume) -> None:
        records = [_checked(r, self.config) for r in connector.parse_page(page, source=source)]
        newest = max((r.updated for r in records if r.updated is not None), default=None)
        # The cursor covers this page's newest change; after the last page, the whole cycle
        # up to its start. Never past the start: a change made while paging comes next cycle.
        position = state.started if page.next_token is None else newest
        if position is not None:
            position = min(position, state.started)
        outcome = ingest_page(self.intake.engine, tenant, connector_id, records, position=position,
                              quarantine=self.intake.quarantine)
        latest = max((e.time for r in records if r.error is None for e in r.events), default=None)
        self.intake.health.observe(tenant.id, connector_id, event_at=latest, received=len(records),
                                   accepted=outcome.accepted, duplicate=outcome.duplicate,
                                   quarantined=outcome.quarantined)
        if outcome.dirty_shards:
            self.intake.notifier.mark_dirty(tenant.id, outcome.dirty_shards)
        state.pages += 1
        state.records += len(records)
        state.accepted += outcome.accepted
        state.duplicate += outcome.duplicate
        state.quarantined += outcome.quarantined
        state.token = page.next_token

    async def _failed(self, input: PollCycleInput, failure: Failure) -> None:
        final = isinstance(failure, Permanent) or activity.info().attempt >= CYCLE_ATTEMPTS
        log.warning("poll %s/%s: attempt %d failed%s: %s", input.tenant, input.connector,
                    activity.info().attempt, " (cycle failed)" if final else "", failure.reason)
        if final:
            def write() -> None:
                with self.intake.engine.begin() as conn:
                    record_poll(conn, input.tenant, input.connector, now=datetime.now(UTC),
                                error=failure.reason, permanent=isinstance(failure, Permanent))
            await asyncio.to_thread(write)

    def _succeeded(self, input: PollCycleInput, state: _Resume, now: datetime) -> None:
        with self.intake.engine.begin() as conn:
            record_poll(conn, input.tenant, input.connector, now=now, pages=state.pages,
                        events=state.accepted)
        self.intake.health.flush()

    def _cursor(self, input: PollCycleInput) -> datetime | None:
        with read_only(self.intake.engine) as conn:
            return read_cursor(conn, input.tenant, input.connector)


def _checked(record: RecordResult, config: Config) -> RecordResult:
    """A record whose events break the limits is quarantined like one that fails to map."""
    if record.error is not None:
        return record
    try:
        check_events(record.events, limits=config.api.limits.json_limits())
    except PayloadError as exc:
        record.error, record.events = exc, []
    return record

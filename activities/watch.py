"""`check_connectors`: one watcher round for one tenant — judge, open or resolve, then tell.

1. Read the tenant's health rows and open incidents; judge every enabled connector
   (`intake.alarms.judge`). An incident opens where an alarm holds and none of its kind is
   open, and resolves where its condition no longer holds. A paused or removed connector's
   open incidents resolve: it raises no alarm while paused.
2. Tell every incident with a notice pending (`store.incidents.unnotified`), oldest first,
   each notice in ONE transaction: claim the `notified_*` column, append the canonical
   event through the one ingest path (`intake.ingest.append_validated`; id
   `incident:<id>:opened|resolved`, so a replay is a duplicate), write the admin message,
   commit. A retried attempt (or a second watcher) finds the column set and sends nothing.
   As with console deliveries, only a crash between the message and the commit can repeat
   a message; the event is never stored twice.

Step 2 sweeps every pending notice, not only this round's, so an attempt that died after
opening an incident is finished by the next attempt. Messages go to the tenant's
`admin_channel` through `activities.alerts.admin_alert` (shared with delivery incidents).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from activities.alerts import admin_alert
from activities.contracts import (
    CheckConnectorsInput,
    CheckConnectorsResult,
    DriftWindow,
    WatchInput,
    WatchState,
)
from activities.liveness import WORKFLOW_TASK_TIMEOUT
from config.models import Config, ConnectorSettings, TenantSettings
from intake.alarms import DriftWindow as Window
from intake.alarms import Health, judge, poll_settings_of
from intake.ingest import append_validated
from rules.events import CloudEvent, connector_source
from store import read_only
from store.eventlog import SYSTEM_ACTOR
from store.health import health_rows
from store.incidents import (
    Incident,
    claim_notice,
    open_incident,
    open_incidents,
    resolve_incident,
    unnotified,
)
from workflows.watch import watcher_id

__all__ = ["WatchActivities", "alert_event", "start_watchers"]

log = logging.getLogger("accolade.watch")
_SA_TENANT = SearchAttributeKey.for_keyword("AccoladeTenant")


class WatchActivities:
    def __init__(self, engine: Engine, config: Config, *, console: Any = None) -> None:
        self.engine = engine
        self.config = config
        self.console = console or sys.stdout

    @activity.defn(name="check_connectors")
    def check_connectors(self, input: CheckConnectorsInput) -> CheckConnectorsResult:
        tenant = self.config.tenant(input.tenant)
        result = CheckConnectorsResult(state=input.state.model_copy(deep=True))
        if tenant is None:
            return result
        now = datetime.now(UTC)
        self._judge(tenant, result, now)
        for incident in self._pending(tenant.id):
            result.notified += self._tell(tenant, incident, "open", now)
            if incident.resolved_at is not None:
                result.notified += self._tell(tenant, incident, "resolved", now)
        return result

    def _judge(self, tenant: TenantSettings, result: CheckConnectorsResult, now: datetime) -> None:
        with read_only(self.engine) as conn:
            rows = health_rows(conn, tenant.id)
            incidents = open_incidents(conn, tenant.id)
        state = result.state
        enabled = {c.id: c for c in tenant.connectors if c.enabled}
        for gone in set(state.first_seen) - set(enabled):
            state.first_seen.pop(gone, None)
            state.windows.pop(gone, None)
        opening: list[tuple[str, str, str]] = []
        resolving = [i for i in incidents if i.connector not in enabled]  # paused or removed
        for settings in enabled.values():
            mine = {i.kind: i for i in incidents if i.connector == settings.id}
            opening += self._verdicts(settings, Health.of(rows.get(settings.id)), mine, state, resolving, now)
        if not opening and not resolving:
            return  # the usual round: no write transaction at all
        with self.engine.begin() as conn:
            for connector, kind, detail in opening:
                if open_incident(conn, tenant.id, connector, kind, detail, now=now) is not None:
                    result.opened.append(f"{connector}:{kind}")
            for incident in resolving:
                if resolve_incident(conn, incident.id, now=now):
                    result.resolved.append(f"{incident.connector}:{incident.kind}")

    @staticmethod
    def _verdicts(settings: ConnectorSettings, health: Health, mine: dict[str, Incident],
                  state: WatchState, resolving: list[Incident],
                  now: datetime) -> list[tuple[str, str, str]]:
        first_seen = state.first_seen.setdefault(settings.id, now)
        carried = state.windows.get(settings.id)
        verdicts, window = judge(
            settings, health, poll=poll_settings_of(settings), first_seen=first_seen,
            window=None if carried is None else Window(**carried.model_dump()),
            drift_open="drift" in mine, now=now)
        state.windows[settings.id] = DriftWindow(**asdict(window))
        opening = []
        for verdict in verdicts:
            if verdict.alarm is True and verdict.kind not in mine:
                opening.append((settings.id, verdict.kind, verdict.detail))
            elif verdict.alarm is False and verdict.kind in mine:
                resolving.append(mine[verdict.kind])
        return opening

    def _pending(self, tenant: str) -> list[Incident]:
        with read_only(self.engine) as conn:
            return unnotified(conn, tenant)

    def _tell(self, tenant: TenantSettings, incident: Incident, which: Literal["open", "resolved"],
              now: datetime) -> int:
        """One notice, exactly once: claim, append the event, write the message, commit."""
        with self.engine.begin() as conn:
            if not claim_notice(conn, incident.id, which, now=now):
                return 0
            event = alert_event(tenant.id, incident, which)
            append_validated(conn, tenant, [(0, event)], set())
            self._message(tenant, incident, which)
        return 1

    def _message(self, tenant: TenantSettings, incident: Incident,
                 which: Literal["open", "resolved"]) -> None:
        if which == "open":
            text = f"connector {incident.connector} is {incident.kind}: {incident.detail}"
        else:
            text = (f"connector {incident.connector}: {incident.kind} alarm resolved "
                    f"(opened {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC)")
        admin_alert(tenant, text, incident=incident.id, console=self.console)


def alert_event(tenant: str, incident: Incident, which: Literal["open", "resolved"]) -> CloudEvent:
    """`accolade.connector.<kind>` when opened, `accolade.connector.resolved` when cleared."""
    opened = which == "open"
    data = {"actor": {"system": SYSTEM_ACTOR, "id": f"connector:{incident.connector}"},
            "connector": incident.connector, "kind": incident.kind, "detail": incident.detail,
            "incident": incident.id, "opened_at": incident.opened_at.isoformat()}
    moment = incident.opened_at if opened else (incident.resolved_at or incident.opened_at)
    return CloudEvent(
        id=f"incident:{incident.id}:{'opened' if opened else 'resolved'}",
        source=connector_source(tenant, incident.connector),
        type=f"accolade.connector.{incident.kind if opened else 'resolved'}",
        time=moment, data=data)


async def start_watchers(client: Client, config: Config, *, every_seconds: float = 60.0) -> list[str]:
    """Start `watch/<tenant>` for every tenant (a running one keeps its state and timer)."""
    started = []
    for tenant in config.tenants:
        await client.start_workflow(
            "ConnectorWatchWorkflow", WatchInput(tenant=tenant.id, every_seconds=every_seconds),
            id=watcher_id(tenant.id), task_queue=config.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            search_attributes=TypedSearchAttributes([SearchAttributePair(_SA_TENANT, tenant.id)]),
            static_summary=f"Connector health watcher of tenant {tenant.id}")
        started.append(tenant.id)
    return started

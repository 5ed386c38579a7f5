"""Evaluation activities: one shard round in one transaction, and the outbox dispatch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.contracts import (
    DeliverGrantInput,
    DispatchInput,
    DispatchResult,
    EvaluateShardInput,
    EvaluateShardResult,
    GrantRef,
)
from activities.faults import crash_point
from activities.liveness import WORKFLOW_TASK_TIMEOUT, heartbeating, heartbeating_async
from channels import team_targets
from config.models import Config, TenantSettings
from metrics import pipeline as metrics
from rules.engine import CompiledRule, EvalEvent, compile_rule, evaluate
from store import read_only
from store.evaluation import insert_grants, load_progress, mark_dispatched, record_shard, save_progress
from store.evaluation import undispatched as load_undispatched
from store.eventlog import complete, read_batch

__all__ = ["EvaluationActivities", "SA_ACHIEVEMENT", "SA_CONNECTOR", "SA_PERSON", "SA_TENANT"]

_CONCURRENT_STARTS = 50  # one at a time measured 6.4 s per 500-grant round (bench/README.md)
SA_TENANT = SearchAttributeKey.for_keyword("AccoladeTenant")
SA_PERSON = SearchAttributeKey.for_keyword("AccoladePerson")
SA_ACHIEVEMENT = SearchAttributeKey.for_keyword("AccoladeAchievement")
SA_CONNECTOR = SearchAttributeKey.for_keyword("AccoladeConnector")


class EvaluationActivities:
    def __init__(self, engine: Engine, config: Config, client: Client | None, task_queue: str) -> None:
        self.engine = engine
        self.config = config
        self.client = client
        self.task_queue = task_queue
        self._rules: dict[str, list[CompiledRule]] = {}

    def _tenant(self, tenant_id: str) -> TenantSettings:
        tenant = self.config.tenant(tenant_id)
        if tenant is None:
            raise ValueError(f"tenant {tenant_id!r} is not configured")
        return tenant

    def rules(self, tenant: TenantSettings) -> list[CompiledRule]:
        if tenant.id not in self._rules:
            self._rules[tenant.id] = [compile_rule(spec) for spec in tenant.achievements]
        return self._rules[tenant.id]

    @activity.defn(name="evaluate_shard")
    def evaluate_shard(self, input: EvaluateShardInput) -> EvaluateShardResult:
        """Read the next batch, evaluate, and store every effect in one transaction.

        The read and the pure evaluation run outside SQLite's single write lock, so the
        receiver's appends are not held up by it; the write transaction then re-checks that
        the batch is still unconsumed before storing anything. Heartbeats let Temporal
        notice a dead worker in seconds (`activities.liveness`).
        """
        with heartbeating():
            return self._evaluate_shard(input)

    @metrics.timed_round
    def _evaluate_shard(self, input: EvaluateShardInput) -> EvaluateShardResult:
        tenant = self._tenant(input.tenant)
        rules = self.rules(tenant)
        versions = {rule.key: rule.version for rule in rules}
        channels = {s.key: [(c, tenant.channel(c).kind) for c in s.deliver_to]  # type: ignore[union-attr]
                    + team_targets(tenant.channels, s.deliver_to, team_visible=s.team_visible)
                    for s in tenant.achievements}
        with read_only(self.engine) as conn:  # compute outside the write lock
            batch = read_batch(conn, tenant.id, input.shard, limit=input.batch_size)
            items = [EvalEvent(q.seq, q.person_id, q.event, q.decision) for q in batch]
            state = load_progress(conn, tenant.id, {i.person_id for i in items}, versions)
            if not items:
                outbox = load_undispatched(conn, tenant.id, input.shard)
        stored = 0
        if items:
            new_state, grants, _ = evaluate(state, items, rules, tenant=tenant.id, now=datetime.now(UTC))
            changed = {k: v for k, v in new_state.items() if state.get(k) != v}
            with self.engine.begin() as conn:
                # Consuming the queue items first is the guard: an overlapping attempt (a retry
                # racing a timed-out one) finds them gone and rolls back instead of counting twice.
                if complete(conn, [item.seq for item in items]) != len(items):
                    raise ApplicationError("batch taken by a concurrent attempt", type="Retryable")
                save_progress(conn, tenant.id, changed, versions)
                stored = insert_grants(conn, tenant.id, input.shard, grants, channels)
                record_shard(conn, tenant.id, input.shard, len(items), items[-1].seq)
                crash_point("evaluate:before-commit")
                outbox = load_undispatched(conn, tenant.id, input.shard)
            metrics.grants_stored(self.engine, tenant.id, grants, items)
        crash_point("evaluate:after-commit")
        refs = [GrantRef(grant_id=g.grant_id, tenant=tenant.id, person_id=g.person_id,
                         achievement=g.achievement, channels=g.channels) for g in outbox]
        return EvaluateShardResult(processed=len(items), grants=stored,
                                   more=len(items) == input.batch_size, undispatched=refs)

    @activity.defn(name="dispatch_grants")
    async def dispatch_grants(self, input: DispatchInput) -> DispatchResult:
        """Start `deliver/<grant-id>` for each grant, then mark them dispatched (the outbox)."""
        assert self.client is not None, "dispatch needs a Temporal client"
        limit = asyncio.Semaphore(_CONCURRENT_STARTS)

        async def start(grant: GrantRef) -> bool:
            async with limit:
                return await self._start_delivery(grant)

        async with heartbeating_async():
            crash_point("dispatch:before-start")
            outcomes = await asyncio.gather(*(start(g) for g in input.grants))
            crash_point("dispatch:before-mark")
            await asyncio.to_thread(self._mark, [g.grant_id for g in input.grants])
        started = sum(outcomes)
        return DispatchResult(started=started, already_running=len(outcomes) - started)

    async def _start_delivery(self, grant: GrantRef) -> bool:
        assert self.client is not None
        try:
            await self.client.start_workflow(
                "DeliverGrantWorkflow",
                DeliverGrantInput(grant=grant),
                id=f"deliver/{grant.grant_id}",
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SA_TENANT, grant.tenant),
                    SearchAttributePair(SA_PERSON, grant.person_id),
                    SearchAttributePair(SA_ACHIEVEMENT, grant.achievement),
                ]),
                static_summary=f"Deliver {grant.achievement} to person {grant.person_id} "
                               f"via {', '.join(grant.channels) or 'no channel'}",
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    def _mark(self, grant_ids: list[str]) -> None:
        with self.engine.begin() as conn:
            mark_dispatched(conn, grant_ids)

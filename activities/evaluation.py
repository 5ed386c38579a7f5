"""Evaluation activities: one shard round in one transaction, and the outbox dispatch."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Connection, Engine
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
from activities.shard_round import Round, RoundResult, evaluate_round, read_round, rule_context
from channels import team_targets
from config.models import Config, Route, TenantSettings
from metrics import pipeline as metrics
from rules.definitions import AchievementSpec
from rules.engine import RuleSet, compile_rules
from store import read_only
from store.evaluation import (
    OutboxGrant,
    due_unchanged,
    insert_grants,
    mark_dispatched,
    next_due,
    record_shard,
    save_progress,
)
from store.evaluation import undispatched as load_undispatched
from store.eventlog import complete
from store.skips import record_skips

__all__ = [
    "EvaluationActivities", "SA_ACHIEVEMENT", "SA_CONNECTOR", "SA_PERSON", "SA_TENANT", "delivery_routes",
    "rule_context",
]

_CONCURRENT_STARTS = 50  # one at a time measured 6.4 s per 500-grant round (bench/README.md)
SA_TENANT = SearchAttributeKey.for_keyword("AccoladeTenant")
SA_PERSON = SearchAttributeKey.for_keyword("AccoladePerson")
SA_ACHIEVEMENT = SearchAttributeKey.for_keyword("AccoladeAchievement")
SA_CONNECTOR = SearchAttributeKey.for_keyword("AccoladeConnector")


log = logging.getLogger("accolade.evaluation")


class EvaluationActivities:
    def __init__(self, engine: Engine, config: Config, client: Client | None, task_queue: str) -> None:
        self.engine = engine
        self.config = config
        self.client = client
        self.task_queue = task_queue
        self._rules: dict[str, RuleSet] = {}

    def _tenant(self, tenant_id: str) -> TenantSettings:
        tenant = self.config.tenant(tenant_id)
        if tenant is None:
            raise ValueError(f"tenant {tenant_id!r} is not configured")
        return tenant

    def rules(self, tenant: TenantSettings) -> RuleSet:
        if tenant.id not in self._rules:
            self._rules[tenant.id] = compile_rules(tenant.achievements)
        return self._rules[tenant.id]

    @activity.defn(name="evaluate_shard")
    def evaluate_shard(self, input: EvaluateShardInput) -> EvaluateShardResult:
        """Read the next batch and the keys due by `input.now`, evaluate, and store every
        effect (progress with its due time, grants, skips) in one transaction.

        Rule time is `input.now`, the workflow's: this activity never reads the wall clock
        for it, so a retry decides as the first attempt did and a time-skipped test moves it.
        The read and the pure evaluation run outside SQLite's single write lock, so the
        receiver's appends are not held up by it; the write transaction then re-checks that
        the batch is still unconsumed (and the due keys still due) before storing anything.
        Heartbeats let Temporal notice a dead worker in seconds (`activities.liveness`).
        The result carries the shard's earliest due time, which the evaluator sleeps until.
        """
        with heartbeating():
            return self._evaluate_shard(input)

    def versions(self, tenant: TenantSettings) -> dict[str, int]:
        return {rule.key: rule.version for rule in self.rules(tenant)}

    @metrics.timed_round
    def _evaluate_shard(self, input: EvaluateShardInput) -> EvaluateShardResult:
        tenant = self._tenant(input.tenant)
        rules, versions = self.rules(tenant), self.versions(tenant)
        with read_only(self.engine) as conn:  # compute outside the write lock
            work = read_round(conn, tenant, rules, versions, shard=input.shard, now=input.now,
                              limit=input.batch_size)
            if work.empty:
                outbox = load_undispatched(conn, tenant.id, input.shard)
        if work.empty:
            crash_point("evaluate:after-commit")
            return EvaluateShardResult(processed=0, grants=0, more=False,
                                       undispatched=_refs(tenant, outbox), next_due=work.next_due)
        result = evaluate_round(work, rules, versions, now=input.now)
        evaluation = result.evaluation
        with self.engine.begin() as conn:
            _claim(conn, tenant.id, work, versions)
            save_progress(conn, tenant.id, input.shard, evaluation.changed, evaluation.due, versions)
            save_progress(conn, tenant.id, input.shard, result.stalled, {}, versions)
            stored = insert_grants(conn, tenant.id, input.shard, evaluation.grants, self._channels(tenant))
            record_skips(conn, tenant.id, input.shard, result.skipped, now=input.now)
            last_seq = work.items[-1].seq if work.items else None
            record_shard(conn, tenant.id, input.shard, len(work.items), last_seq)
            crash_point("evaluate:before-commit")
            outbox = load_undispatched(conn, tenant.id, input.shard)
            known, upcoming = work.next_due_after(evaluation)
            if not known:
                upcoming = next_due(conn, tenant.id, input.shard, versions=versions)
        metrics.grants_stored(self.engine, tenant.id, evaluation.grants, work.items)
        crash_point("evaluate:after-commit")
        _log_skips(tenant.id, input.shard, result)
        more = input.batch_size in (len(work.items), len(work.due))
        return EvaluateShardResult(processed=len(work.items), grants=stored, more=more,
                                   undispatched=_refs(tenant, outbox), next_due=upcoming,
                                   due=len(work.due), skipped=len(result.skipped))

    def _channels(self, tenant: TenantSettings) -> dict[str, list[Route]]:
        """Routing is decided here, when grants are stored: `deliver_to`, else importance; a
        team_visible achievement routed to a Slack channel with a `team_channel` also posts there."""
        return {s.key: delivery_routes(tenant, s) for s in tenant.achievements}

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


def _claim(conn: Connection, tenant: str, work: Round, versions: dict[str, int]) -> None:
    """The guard against an overlapping attempt (a retry racing a timed-out one): it finds the
    queue items consumed, or the due keys advanced, and rolls back instead of counting twice."""
    if work.items and complete(conn, [item.seq for item in work.items]) != len(work.items):
        raise ApplicationError("batch taken by a concurrent attempt", type="Retryable")
    if not due_unchanged(conn, tenant, work.due, versions=versions):
        raise ApplicationError("due keys advanced by a concurrent attempt", type="Retryable")


def _refs(tenant: TenantSettings, outbox: list[OutboxGrant]) -> list[GrantRef]:
    return [GrantRef(grant_id=g.grant_id, tenant=tenant.id, person_id=g.person_id,
                     achievement=g.achievement, channels=g.channels) for g in outbox]


def _log_skips(tenant: str, shard: int, result: RoundResult) -> None:
    """Counts only: the reasons may quote event data and are kept in the store (rule_skips)."""
    if result.skipped:
        rules = sorted({achievement for _, achievement, _, _ in result.skipped})
        log.warning("tenant %s shard %d: %d event/rule pair(s) not counted (odd data) by %s; "
                    "`accolade shards` counts them per shard", tenant, shard, len(result.skipped),
                    ", ".join(rules))


def delivery_routes(tenant: TenantSettings, spec: AchievementSpec) -> list[Route]:
    """Where a grant of `spec` goes (also for grants an identity merge adds): the routed
    channels, plus team posts of a team_visible achievement."""
    routes = tenant.routes(spec)
    sendable = [r.channel for r in routes if not r.forbidden]
    extra = team_targets(tenant.channels, sendable, team_visible=spec.team_visible)
    return routes + [Route(target, kind) for target, kind in extra]

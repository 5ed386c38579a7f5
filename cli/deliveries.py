"""`accolade deliveries retry`: re-drive failed deliveries (`activities.redeliver`) and say what
became of each."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import Engine, select

from activities.redeliver import RetryOutcome, parse_delivery_id, retry_target, start_retry
from cli._common import die
from config.models import Config, TenantSettings
from store import create_store_engine, read_only
from store.schema import deliveries

__all__ = ["retry"]

_DONE = ("sent", "fell_back", "suppressed")


def retry(config: Config, tenant: TenantSettings, delivery: str | None, *, channel: str | None,
          wait: float, as_json: bool) -> int:
    """Returns the exit code: 0 when every chosen delivery ended sent, else 1."""
    engine = create_store_engine(config.store.url)
    try:
        targets = _targets(engine, tenant, delivery, channel)
        outcomes = asyncio.run(_run(config, engine, tenant, targets, wait)) if targets else []
    finally:
        engine.dispose()
    _report(outcomes, as_json=as_json)
    return 0 if all(o.status in _DONE for o in outcomes) else 1


def _targets(engine: Engine, tenant: TenantSettings, delivery: str | None,
             channel: str | None) -> list[tuple[str, str]]:
    if delivery is not None:
        try:
            return [parse_delivery_id(delivery)]
        except ValueError as exc:
            die(str(exc))
    stmt = select(deliveries.c.grant_id, deliveries.c.channel).where(
        deliveries.c.tenant == tenant.id, deliveries.c.status == "failed")
    if channel is not None:
        stmt = stmt.where(deliveries.c.channel == channel)
    with read_only(engine) as conn:
        return [(r.grant_id, r.channel) for r in conn.execute(stmt.order_by(deliveries.c.updated_at))]


async def _run(config: Config, engine: Engine, tenant: TenantSettings,
               targets: list[tuple[str, str]], wait: float) -> list[RetryOutcome]:
    """Refusals come from the store alone; Temporal is reached only for what can start."""
    found = [retry_target(engine, tenant, grant_id, channel) for grant_id, channel in targets]
    startable = [t for t in found if not isinstance(t, RetryOutcome)]
    started: list[RetryOutcome] = []
    if startable:
        from activities.temporal_client import connect

        try:
            client = await connect(config)
        except RuntimeError as exc:
            die(f"Temporal unreachable ({str(exc)[:200]}): nothing was re-driven", 1)
        started = list(await asyncio.gather(*(start_retry(client, config, grant, n, wait=wait)
                                              for grant, n in startable)))
    done = iter(started)
    return [t if isinstance(t, RetryOutcome) else next(done) for t in found]


def _report(outcomes: list[RetryOutcome], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"retried": len(outcomes), "results": [o.as_dict() for o in outcomes]}, indent=2))
        return
    for o in outcomes:
        reason = f": {o.reason}" if o.reason else ""
        where = f" ({o.workflow_id})" if o.workflow_id else ""
        print(f"{o.delivery}  {o.status}{reason}{where}")
    if not outcomes:
        print("nothing to retry: no failed deliveries")

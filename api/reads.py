"""The read API: a person's progress, grants with evidence, deliveries, feed; shards and connectors.

Every route takes the tenant's bearer key and answers only about that tenant: another
tenant's person is a 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import require_tenant
from api.spec import ErrorDetail, bearer_responses
from config.models import TenantSettings
from identity import AmbiguousIdentity, UnknownIdentity, find_person, parse_identity_ref
from insight.why import person_report
from intake.alarms import ConnectorStatus, read_statuses
from store.reads import delivery_rows, feed_rows, shard_lag

__all__ = ["IDENTITY_ERRORS", "Tenant", "find_identity", "router"]

Tenant = Annotated[TenantSettings, Depends(require_tenant)]
IDENTITY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "not an identity string (`SYSTEM:VALUE`)"},
    404: {"model": ErrorDetail, "description": "no such person in the key's tenant"},
    409: {"model": ErrorDetail, "description": "the identity names several persons"},
}
router = APIRouter(prefix="/v1", tags=["read"], responses=bearer_responses())


class _Row(BaseModel):
    """A read model; new keys may be added, so clients ignore those they do not know."""

    model_config = ConfigDict(extra="allow")


class IdentityLink(_Row):
    system: str
    kind: str
    value: str
    origin: str | None = None


class Progress(_Row):
    achievement: str
    version: int
    name: str
    kind: str | None = Field(default=None, description="count, streak, maintained or all")
    count: int = Field(description="what the person has now: `have`")
    target: int | None = Field(default=None, description="what is needed: `need` (none: points alone)")
    granted: bool
    missing: str | None = Field(default=None, description='what is missing ("why not yet"), in words')
    lines: list[str] = Field(default_factory=list, description="the explanation, line by line, in the "
                             "person's time zone (else the tenant's)")
    have: int = 0
    need: int = Field(default=0, description="0: nothing to draw a progress bar for")
    next_deadline: str | None = Field(default=None, description="when the window or streak next closes")
    occurrences: list[str] = Field(default_factory=list, description="granted occurrences: 1, tiers, windows")
    points: int | None = Field(default=None, description="points accumulated (achievements that award them)")
    unlinked: list[str] = Field(default_factory=list, description="source systems of the rule's events the "
                                                                  "person has no identity linked in")


class Delivery(_Row):
    grant_id: str
    channel: str
    kind: str | None = None
    status: str = Field(description="queued, waiting, sent, retrying, failed, suppressed or fell_back")
    reason: str | None = Field(
        default=None, description="why, in words: `quiet hours until 08:00 Europe/Berlin`, `opted out`, "
                                  "`forbidden by policy`, the last error, the failure")
    attempts: int | None = None
    last_error: str | None = None
    detail: Any = None
    updated_at: str | None = None
    sent_at: str | None = None


class Grant(_Row):
    grant_id: str
    achievement: str
    version: int
    content_hash: str | None = None
    granted_at: str | None = None
    evidence: dict[str, Any] = Field(description='events, rule version, identity decision ("why")')
    occurrence: str | None = Field(default=None, description="1; a tier; a window key; 2, 3 for repeatable")
    granted_local: str | None = Field(default=None, description="granted_at in the person's time zone")
    why: list[str] = Field(default_factory=list, description="the evidence in words")
    dispatched_at: str | None = None
    deliveries: list[Delivery]


class PersonView(_Row):
    tenant: str
    person: str
    identities: list[IdentityLink]
    progress: list[Progress] = Field(description="every achievement; hidden ones only once earned")
    points: int = Field(default=0, description="points over all achievements")
    unlinked: list[str] = Field(default_factory=list, description="systems some achievement's events come "
                                                                  "from that the person has no link in")
    grants: list[Grant]


class FeedItem(_Row):
    grant_id: str | None = None
    title: str
    body: str | None = None
    created_at: str | None = None


class Feed(_Row):
    person: str
    items: list[FeedItem]


class TenantDelivery(Delivery):
    person: str
    achievement: str


class Deliveries(_Row):
    deliveries: list[TenantDelivery]


class ShardLag(_Row):
    shard: int
    workflow_id: str
    waiting: int
    oldest_waiting: str | None = None
    processed: int
    last_round: str | None = None


class Shards(_Row):
    shards: list[ShardLag]


def find_identity(conn: Any, tenant: TenantSettings, identity: str) -> str:
    try:
        return find_person(conn, tenant.id, parse_identity_ref(identity))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except AmbiguousIdentity as exc:
        raise HTTPException(409, str(exc)) from None
    except UnknownIdentity as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/persons/{identity}", response_model=PersonView, responses=IDENTITY_ERRORS)
async def get_person(identity: str, request: Request, tenant: Tenant) -> dict[str, Any]:
    """Progress ("why not yet"), grants with evidence ("why"), and delivery status."""

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            person = find_identity(conn, tenant, identity)
            return person_report(conn, tenant, person, now=datetime.now(UTC))

    return await run_in_threadpool(read)


@router.get("/persons/{identity}/feed", response_model=Feed, responses=IDENTITY_ERRORS)
async def get_feed(identity: str, request: Request, tenant: Tenant) -> dict[str, Any]:
    """The person's in-app feed, newest first."""

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            person = find_identity(conn, tenant, identity)
            return {"person": person, "items": feed_rows(conn, tenant.id, person)}

    return await run_in_threadpool(read)


@router.get("/deliveries", response_model=Deliveries)
async def get_deliveries(request: Request, tenant: Tenant, failed: bool = False) -> dict[str, Any]:
    """Delivery status per grant and channel, newest first (`failed=true`: failed only)."""

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return {"deliveries": delivery_rows(conn, tenant.id, failed_only=failed)}

    return await run_in_threadpool(read)


@router.get("/shards", response_model=Shards)
async def get_shards(request: Request, tenant: Tenant) -> dict[str, Any]:
    """Evaluator lag per shard: events waiting, the oldest one, the last round."""

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return {"shards": shard_lag(conn, tenant.id, tenant.shards)}

    return await run_in_threadpool(read)


class Connectors(_Row):
    tenant: str
    connectors: list[ConnectorStatus]


@router.get("/connectors", response_model=Connectors)
async def get_connectors(request: Request, tenant: Tenant) -> dict[str, Any]:
    """Per connector instance: counters, last event, poll cycles, cursor and its age, last
    error, open incidents, and a state (healthy, silent, failing or paused)."""

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            rows = read_statuses(conn, tenant, now=datetime.now(UTC))
            return {"tenant": tenant.id, "connectors": rows}

    return await run_in_threadpool(read)

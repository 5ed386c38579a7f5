"""The read API: a person's progress, grants with evidence, deliveries, and feed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from config.models import TenantSettings
from identity import AmbiguousIdentity, UnknownIdentity, find_person, parse_identity_ref
from store.reads import delivery_rows, feed_rows, person_view, shard_lag

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["read"])


def _tenant(request: Request) -> TenantSettings:
    from api.app import tenant_for_key

    return tenant_for_key(request.app.state.config, request.headers.get("authorization"))


def _person(conn: Any, tenant: TenantSettings, identity: str) -> str:
    try:
        return find_person(conn, tenant.id, parse_identity_ref(identity))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except AmbiguousIdentity as exc:
        raise HTTPException(409, str(exc)) from None
    except UnknownIdentity as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/persons/{identity}")
async def get_person(identity: str, request: Request) -> dict[str, Any]:
    """Progress ("why not yet"), grants with evidence ("why"), and delivery status."""
    tenant = _tenant(request)

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return person_view(conn, tenant.id, _person(conn, tenant, identity), tenant.achievements)

    return await run_in_threadpool(read)


@router.get("/persons/{identity}/feed")
async def get_feed(identity: str, request: Request) -> dict[str, Any]:
    tenant = _tenant(request)

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            person = _person(conn, tenant, identity)
            return {"person": person, "items": feed_rows(conn, tenant.id, person)}

    return await run_in_threadpool(read)


@router.get("/deliveries")
async def get_deliveries(request: Request, failed: bool = False) -> dict[str, Any]:
    tenant = _tenant(request)

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return {"deliveries": delivery_rows(conn, tenant.id, failed_only=failed)}

    return await run_in_threadpool(read)


@router.get("/shards")
async def get_shards(request: Request) -> dict[str, Any]:
    """Evaluator lag per shard: events waiting, the oldest one, the last round."""
    tenant = _tenant(request)

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return {"shards": shard_lag(conn, tenant.id, tenant.shards)}

    return await run_in_threadpool(read)

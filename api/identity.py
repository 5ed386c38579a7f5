"""The identity API: conflicts, history, unlink and merge (preview or apply), with audit.

Changes are audited as `api:<tenant>/key-<n>`: the position of the bearer key in the tenant's
`api_keys`, never the key. `apply: false` (the default) answers what would change and changes
nothing, exactly as `accolade identity unlink|merge` without `--yes`.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import bearer_scheme, require_tenant
from api.spec import ErrorDetail, bearer_responses
from config.models import TenantSettings
from identity import parse_identity_ref
from identity.audit import history
from identity.changes import ChangeRefused, merge, unlink
from identity.conflicts import list_conflicts

__all__ = ["router"]

Tenant = Annotated[TenantSettings, Depends(require_tenant)]
router = APIRouter(prefix="/v1/identity", tags=["identity"], responses=bearer_responses())
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "a body that is not JSON, or not an identity string"},
    409: {"model": ErrorDetail, "description": "refused: not linked, linked by IAM, two IAM users, "
                                               "or an unknown person; nothing changed"},
}


def _actor(tenant: TenantSettings, credentials: HTTPAuthorizationCredentials | None) -> str:
    token = credentials.credentials.encode() if credentials else b""
    for index, key in enumerate(tenant.api_keys):
        if hmac.compare_digest(key.get_secret_value().encode(), token):
            return f"api:{tenant.id}/key-{index + 1}"
    return f"api:{tenant.id}"


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


_PERSON = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL refuses NUL in text)



class UnlinkRequest(BaseModel):
    person: str = Field(min_length=1, max_length=128, pattern=_PERSON)
    identity: str = Field(min_length=1, max_length=400, description="SYSTEM:VALUE")
    reason: str = Field(default="unlinked through the API", min_length=1, max_length=500, pattern=_PERSON)
    apply: bool = Field(default=False, description="false: only show the grants gained and lost")


class MergeRequest(BaseModel):
    source: str = Field(min_length=1, max_length=128, alias="from", pattern=_PERSON)
    into: str = Field(min_length=1, max_length=128, pattern=_PERSON)
    reason: str = Field(default="merged through the API", min_length=1, max_length=500, pattern=_PERSON)
    apply: bool = False


@router.get("/conflicts", summary="Keys two sources claimed for different persons")
async def conflicts(request: Request, tenant: Tenant) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as conn:
            return list_conflicts(conn, tenant.id)
    return await run_in_threadpool(read)


@router.get("/history/{person}", summary="The identity audit trail of a person")
async def person_history(request: Request, tenant: Tenant, person: str) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        if not person.isprintable():  # no person id has control characters (nor can PostgreSQL hold one)
            return []
        with request.app.state.engine.connect() as conn:
            return history(conn, tenant.id, person=person)
    return await run_in_threadpool(read)


@router.post("/unlink", summary="Unlink an identity from a person (preview unless apply)",
             responses=_CHANGE_ERRORS)
async def unlink_route(request: Request, tenant: Tenant, credentials: Credentials,
                       body: UnlinkRequest) -> dict[str, Any]:
    try:
        ref = parse_identity_ref(body.identity)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return await _run(lambda: unlink(request.app.state.engine, tenant, body.person, ref,
                                     actor=_actor(tenant, credentials), reason=body.reason, apply=body.apply),
                      body.apply)


@router.post("/merge", summary="Merge one person into another (preview unless apply)",
             responses=_CHANGE_ERRORS)
async def merge_route(request: Request, tenant: Tenant, credentials: Credentials,
                      body: MergeRequest) -> dict[str, Any]:
    return await _run(lambda: merge(request.app.state.engine, tenant, body.source, body.into,
                                    actor=_actor(tenant, credentials), reason=body.reason, apply=body.apply),
                      body.apply)


async def _run(change: Any, applied: bool) -> dict[str, Any]:
    try:
        outcome = await run_in_threadpool(change)
    except ChangeRefused as exc:
        raise HTTPException(409, str(exc)) from None
    return {"applied": applied, **outcome.to_json()}

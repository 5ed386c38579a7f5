"""`POST /v1/deliveries/{grant_id}/{channel}/retry`: re-drive a failed delivery (the API twin of
`accolade deliveries retry`, `activities.redeliver`).

Answers 200 with what became of it within `wait` seconds (`sent`, `failed` again with the
reason, or `running`); 404 when the tenant has no such delivery; 409 when it is not failed
(sent meanwhile, or being re-driven), with its status; 503 when Temporal is unreachable
(nothing was started). The tenant's bearer key decides which deliveries exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from activities.redeliver import RetryOutcome, retry_target, start_retry
from api.auth import require_tenant
from api.spec import ErrorDetail, bearer_responses
from config.models import TenantSettings

__all__ = ["RetryResult", "TemporalFactory", "router"]

Tenant = Annotated[TenantSettings, Depends(require_tenant)]
TemporalFactory = Callable[[], Awaitable[Any]]  # returns a connected temporalio Client
router = APIRouter(prefix="/v1", tags=["deliveries"], responses=bearer_responses())


class RetryResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    delivery: str = Field(description="<grant-id>/<channel>")
    status: str = Field(description="sent, fell_back, suppressed, failed (again) or running")
    reason: str | None = None
    workflow_id: str | None = Field(default=None, description="deliver/<grant-id>/<channel>/retry-<n>")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "no such delivery in the key's tenant"},
    409: {"model": ErrorDetail, "description": "the delivery is not failed (its status is named)"},
    503: {"model": ErrorDetail, "description": "Temporal is unreachable; nothing was started"},
}


@router.post("/deliveries/{grant_id}/{channel}/retry", response_model=RetryResult, responses=_RESPONSES)
async def retry(grant_id: str, channel: str, request: Request, tenant: Tenant,
                wait: Annotated[float, Query(ge=0, le=60)] = 10.0) -> dict[str, Any]:
    """Re-drive one failed delivery in `deliver/<grant-id>/<channel>/retry-<n>`, guarded by its
    deliveries row, and wait up to `wait` seconds for the outcome."""
    state = request.app.state
    target = await run_in_threadpool(retry_target, state.engine, tenant, grant_id, channel)
    if isinstance(target, RetryOutcome):
        raise HTTPException(404 if (target.reason or "").startswith("no delivery") else 409, target.reason)
    client = await _client(getattr(state, "temporal", None))
    outcome = await start_retry(client, state.config, *target, wait=wait)
    if outcome.status == "refused":  # started by someone else meanwhile
        raise HTTPException(409, outcome.reason)
    return outcome.as_dict()


async def _client(factory: TemporalFactory | None) -> Any:
    if factory is None:
        raise HTTPException(503, "this receiver has no Temporal client")
    try:
        return await factory()
    except RuntimeError as exc:  # the SDK's "cannot connect"
        raise HTTPException(503, f"Temporal unreachable: {str(exc)[:200]}") from None

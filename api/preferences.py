"""`GET` and `PUT /v1/persons/{identity}/preferences`: a person's delivery preferences.

The tenant's bearer key, as every read route. `PUT` changes the fields the body names (`null`
clears one) and answers the preferences as stored. Bad input is a 400 naming the field
(`quiet_hours: '25:00-08:00' is not HH:MM-HH:MM`), checked by the same model as
`accolade preferences set` (`store.preferences.Preferences`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import require_tenant
from api.reads import IDENTITY_ERRORS, _Row, find_identity
from api.spec import ErrorDetail, bearer_responses
from config.models import TenantSettings
from store.preferences import Preferences, preferences_view, save_preferences

__all__ = ["PreferencesView", "parse_update", "router"]

Tenant = Annotated[TenantSettings, Depends(require_tenant)]
router = APIRouter(prefix="/v1", tags=["preferences"], responses=bearer_responses())


class PreferencesView(_Row):
    person: str
    opt_out: list[str]
    quiet_hours: str | None = None
    digest: str | None = None
    throttle: int | None = None
    time_zone: str | None = None
    time_zone_source: str | None = None
    locale: str | None = None
    locale_source: str | None = None
    effective_time_zone: str  # the person's, else the tenant's: quiet hours and digests use it


def _view(conn: Any, tenant: TenantSettings, person: str) -> dict[str, Any]:
    return preferences_view(conn, tenant.id, person, tenant_zone=tenant.time_zone)


def parse_update(body: bytes, tenant: TenantSettings) -> Preferences:
    """The body as a `Preferences` update, or a 400 naming the field."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    try:
        update = Preferences.model_validate(data)
        update.check_channels(c.id for c in tenant.channels)
    except ValidationError as exc:
        raise HTTPException(400, "; ".join(_field_error(e) for e in exc.errors())) from None
    except ValueError as exc:
        raise HTTPException(400, f"opt_out: {exc}") from None
    return update


def _field_error(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{field}: {str(error['msg']).removeprefix('Value error, ')}"


_BODY = {
    "required": True,
    "description": "The fields to change; `null` clears one, a field left out keeps its value.",
    "content": {"application/json": {"schema": Preferences.model_json_schema()}},
}
_PUT_ERRORS: dict[int | str, dict[str, Any]] = {
    **IDENTITY_ERRORS,
    400: {"model": ErrorDetail, "description": "not an identity, not JSON, or a field that does not parse "
                                              "(the message names it)"},
}


@router.get("/persons/{identity}/preferences", response_model=PreferencesView, responses=IDENTITY_ERRORS)
async def get_preferences(identity: str, request: Request, tenant: Tenant) -> dict[str, Any]:
    """Opt-outs, quiet hours, digest, throttle, time zone and locale (with their source)."""

    def read() -> dict[str, Any]:
        with request.app.state.engine.connect() as conn:
            return _view(conn, tenant, find_identity(conn, tenant, identity))

    return await run_in_threadpool(read)


@router.put("/persons/{identity}/preferences", response_model=PreferencesView, responses=_PUT_ERRORS,
            openapi_extra={"requestBody": _BODY})
async def put_preferences(identity: str, request: Request, tenant: Tenant) -> dict[str, Any]:
    """Change the person's preferences; they apply to deliveries from their next attempt on."""
    update = parse_update(await request.body(), tenant)

    def write() -> dict[str, Any]:
        with request.app.state.engine.begin() as conn:
            person = find_identity(conn, tenant, identity)
            save_preferences(conn, tenant.id, person, update)
            return _view(conn, tenant, person)

    return await run_in_threadpool(write)

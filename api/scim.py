"""The SCIM 2.0 service provider at /scim/v2/ (RFC 7644), one per tenant's `scim` connector.

The bearer token is the connector's `token` (never the ingest key); it names the tenant. A
missing or wrong token is a 401 with a SCIM error body and nothing is stored (
nothing about the request is kept). Errors are RFC 7644 bodies (`schemas`, `status`,
`scimType`, `detail`). Each write runs in one transaction with the `iam.*` event it makes;
evaluators are notified after commit. Out of the OpenAPI spec: SCIM clients read
`ServiceProviderConfig`, not OpenAPI.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from scim2_models import (
    Context,
    InvalidSyntaxException,
    ResponseParameters,
    SCIMException,
    UnauthorizedException,
    UniquenessException,
)
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from config.models import Config, TenantSettings
from connectors.scim import ScimSettings, discovery
from connectors.scim import groups as scim_groups
from connectors.scim import users as scim_users
from intake.context import Intake

__all__ = ["MEDIA_TYPE", "scim_router"]

MEDIA_TYPE = "application/scim+json"
MAX_BODY = 1 << 20


def scim_router() -> APIRouter:
    router = APIRouter(prefix="/scim/v2", include_in_schema=False)

    @router.post("/Users")
    async def post_user(request: Request) -> Response:
        return await _run(request, lambda c, s, b: (201, scim_users.create_user(c, s, b)),
                          write=True)

    @router.get("/Users")
    async def list_users(request: Request, filter: str | None = None, startIndex: int = 1,  # noqa: N803
                         count: int = 100) -> Response:
        params = _params(request)
        return await _run(request, lambda c, s, _b: (200, scim_users.list_users(
            c, s, filter=filter, start_index=startIndex, count=count, params=params)))

    @router.get("/Users/{scim_id}")
    async def get_user(scim_id: str, request: Request) -> Response:
        params = _params(request)
        return await _run(request, lambda c, s, _b: (200, scim_users.get_user(c, s, scim_id, params)))

    @router.put("/Users/{scim_id}")
    async def put_user(scim_id: str, request: Request) -> Response:
        return await _run(request, lambda c, s, b: (200, scim_users.replace_user(c, s, scim_id, b)),
                          write=True)

    @router.patch("/Users/{scim_id}")
    async def patch_user(scim_id: str, request: Request) -> Response:
        return await _run(request, lambda c, s, b: (200, scim_users.patch_user(c, s, scim_id, b)),
                          write=True)

    @router.delete("/Users/{scim_id}")
    async def delete_user(scim_id: str, request: Request) -> Response:
        return await _run(request, lambda c, s, _b: (204, scim_users.delete_user(c, s, scim_id)),
                          write=True)

    _group_routes(router)
    _discovery_routes(router)
    return router


def _group_routes(router: APIRouter) -> None:
    @router.post("/Groups")
    async def post_group(request: Request) -> Response:
        return await _run(request, lambda c, s, b: (201, scim_groups.create_group(c, s, b)), write=True)

    @router.get("/Groups")
    async def list_groups(request: Request, filter: str | None = None, startIndex: int = 1,  # noqa: N803
                          count: int = 100) -> Response:
        params = _params(request)
        return await _run(request, lambda c, s, _b: (200, scim_groups.list_groups(
            c, s, filter=filter, start_index=startIndex, count=count, params=params)))

    @router.get("/Groups/{group_id}")
    async def get_group(group_id: str, request: Request) -> Response:
        params = _params(request)
        return await _run(request, lambda c, s, _b: (200, scim_groups.get_group(c, s, group_id, params)))

    @router.put("/Groups/{group_id}")
    async def put_group(group_id: str, request: Request) -> Response:
        return await _run(request, lambda c, s, b: (200, scim_groups.replace_group(c, s, group_id, b)),
                          write=True)

    @router.patch("/Groups/{group_id}")
    async def patch_group(group_id: str, request: Request) -> Response:
        return await _run(request, lambda c, s, b: (200, scim_groups.patch_group(c, s, group_id, b)),
                          write=True)

    @router.delete("/Groups/{group_id}")
    async def delete_group(group_id: str, request: Request) -> Response:
        return await _run(request, lambda c, s, _b: (204, scim_groups.delete_group(c, s, group_id)),
                          write=True)


def _discovery_routes(router: APIRouter) -> None:
    @router.get("/ServiceProviderConfig")
    async def service_provider_config(request: Request) -> Response:
        return await _run(request, lambda _c, s, _b: (200, discovery.service_provider_config(s.base_url)))

    @router.get("/ResourceTypes")
    @router.get("/ResourceTypes/{name}")
    async def resource_types(request: Request, name: str | None = None) -> Response:
        return await _run(request, lambda _c, s, _b: (200, discovery.resource_types(s.base_url, name)))

    @router.get("/Schemas")
    @router.get("/Schemas/{urn}")
    async def schemas(request: Request, urn: str | None = None) -> Response:
        return await _run(request, lambda _c, s, _b: (200, discovery.schemas(s.base_url, urn)))


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _Refused(413, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                             "status": "413", "detail": f"body over {MAX_BODY} bytes"})
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise _Refused.of(InvalidSyntaxException(detail="the body is not valid JSON")) from None


def _params(request: Request) -> ResponseParameters | None:
    attributes = request.query_params.get("attributes")
    excluded = request.query_params.get("excludedAttributes")
    if not attributes and not excluded:
        return None
    split = lambda text: [a.strip() for a in text.split(",") if a.strip()] if text else None  # noqa: E731
    return ResponseParameters(attributes=split(attributes), excluded_attributes=split(excluded))


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body

    @classmethod
    def of(cls, exc: SCIMException) -> _Refused:
        error = exc.to_error()
        return cls(int(error.status or 400), error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


Work = Callable[[Any, scim_users.Scope, Any], tuple[int, Any]]


async def _run(request: Request, work: Work, *, write: bool = False) -> Response:
    """Authenticate first (a refused request is never parsed), then parse, then one transaction."""
    intake: Intake = request.app.state.intake
    try:
        tenant, settings = _authenticate(intake.config, request.headers.get("authorization"))
        body = await _body(request) if write and request.method != "DELETE" else None
        scope = scim_users.Scope(tenant, settings, str(request.base_url).rstrip("/") + "/scim/v2")
        status, payload = await run_in_threadpool(_transaction, intake, scope, work, body)
    except _Refused as refused:
        return JSONResponse(refused.body, status_code=refused.status, media_type=MEDIA_TYPE)
    if write and scope.dirty:
        intake.notifier.mark_dirty(tenant.id, scope.dirty)
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(payload, status_code=status, media_type=MEDIA_TYPE,
                        headers={"Location": payload["meta"]["location"]} if status == 201 else None)


def _transaction(intake: Intake, scope: scim_users.Scope, work: Work, body: Any) -> tuple[int, Any]:
    try:
        with intake.engine.begin() as conn:
            return work(conn, scope, body)
    except SCIMException as exc:  # rolled back: a refused write stores nothing
        raise _Refused.of(exc) from None
    except IntegrityError:  # a concurrent create of the same userName won the unique index
        taken = UniquenessException(detail="userName is already taken (compared case-insensitively)")
        raise _Refused.of(taken) from None


def _authenticate(config: Config, header: str | None) -> tuple[TenantSettings, ScimSettings]:
    """The tenant whose scim connector's token this is; every token is compared (constant time)."""
    scheme, _, token = (header or "").partition(" ")
    found = None
    for tenant in config.tenants:
        for connector in tenant.connectors:
            if isinstance(connector, ScimSettings) and connector.enabled:
                secret = connector.token.get_secret_value().encode()
                same = hmac.compare_digest(token.strip().encode(), secret)
                if same and scheme.lower() == "bearer":
                    found = (tenant, connector)
    if found is None:
        raise _Refused.of(UnauthorizedException(detail="a valid SCIM bearer token is required"))
    return found

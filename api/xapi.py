"""The xAPI Statement API under `/xapi/` (xAPI 1.0.3 and 2.0; the Document APIs are out of scope).

Routes:
    GET  /xapi/about                         the versions (no credentials, per the spec)
    POST /xapi/statements                    one statement or an array → the array of ids
    PUT  /xapi/statements?statementId=…      one statement under that id → 204
    GET  /xapi/statements?statementId=…      one stored statement (or `voidedStatementId`)
    GET  /xapi/statements?…                  the list query, with `more`

The list query takes every Statement GET parameter of xAPI Communication §2.1.3: `agent`,
`verb`, `activity`, `registration`, `related_agents`, `related_activities`, `since`, `until`
(compared with `stored`), `limit` (0 or above 500: 500), `format` (`exact`, `ids`,
`canonical`), `ascending`, `attachments` (only `false`: attachment content is never kept).
Voided statements are left out. Any other parameter is a 400 naming it, never ignored.

Every statement request authenticates with HTTP Basic: the `key` and `secret` of an `xapi`
connector instance, which names the tenant. A wrong or missing credential is 401 and nothing
is stored; it is counted as rejected on the instance whose key it names. It must name
`X-Experience-API-Version` 1.0.x or 2.0.x (else 400); the answer carries the version we speak
(`1.0.3` or `2.0.0`) and `X-Experience-API-Consistent-Through` (now: a statement is readable
as soon as its request was answered). The routes are left out of the OpenAPI document: their
contract is the xAPI specification, not ours.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from config.models import Config, LimitSettings, TenantSettings
from connectors.base import PayloadError
from connectors.xapi import VERSIONS, XapiSettings, negotiate_version
from connectors.xapi.formats import FORMATS, accepted_languages, formatted
from connectors.xapi.model import parse_agent, parse_timestamp
from intake.context import Intake
from intake.statements import Conflict, post_statements
from store import read_only
from store.xapi import list_statements, read_statement

__all__ = ["LIST_PARAMETERS", "xapi_router"]

# The Statement GET parameters (xAPI Communication §2.1.3) and what the hub does with each.
LIST_PARAMETERS = frozenset({"agent", "verb", "activity", "registration", "related_agents",
                             "related_activities", "since", "until", "limit", "ascending", "format",
                             "attachments"})
UNSUPPORTED: frozenset[str] = frozenset()
_SINGLE = frozenset({"statementId", "voidedStatementId", "format", "attachments"})
MAX_LIMIT = 500


class _Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


def xapi_router(limits: LimitSettings) -> APIRouter:
    """The routes; statement bodies are capped at `api.limits.webhook_body` before they are read."""
    router = APIRouter(prefix="/xapi", include_in_schema=False)
    cap = int(limits.webhook_body)

    @router.get("/about")
    async def about() -> JSONResponse:
        return JSONResponse({"version": sorted(VERSIONS.values())})

    @router.post("/statements", max_body_size=cap)
    async def post(request: Request) -> Response:
        return await _statements(request, statement_id=None)

    @router.put("/statements", max_body_size=cap)
    async def put(request: Request) -> Response:
        statement_id = request.query_params.get("statementId")
        if not statement_id:
            return _error(400, "PUT needs the statementId parameter", None)
        return await _statements(request, statement_id=statement_id)

    @router.get("/statements")
    async def get(request: Request) -> Response:
        return await _get(request)

    return router


async def _get(request: Request) -> Response:
    try:
        version = negotiate_version(request.headers.get("x-experience-api-version"))
        tenant, settings = _authenticate(request)
        payload = await run_in_threadpool(_read, request, tenant, settings)
    except _Refused as exc:
        return _error(exc.status, exc.reason, None, exc.headers)
    except PayloadError as exc:
        return _error(exc.status, exc.reason, None)
    return JSONResponse(payload, headers=_headers(version))


async def _statements(request: Request, *, statement_id: str | None) -> Response:
    intake: Intake = request.app.state.intake
    try:
        version = negotiate_version(request.headers.get("x-experience-api-version"))
        tenant, settings = _authenticate(request)
        _json_body(request)
        body = await request.body()
        outcome = await run_in_threadpool(post_statements, intake, tenant, settings, body,
                                          dict(request.headers), statement_id=statement_id)
    except _Refused as exc:
        return _error(exc.status, exc.reason, None, exc.headers)
    except PayloadError as exc:
        return _error(exc.status, exc.reason, None)
    except Conflict as exc:
        return _error(409, exc.reason, version)
    if statement_id is not None:
        return Response(status_code=204, headers=_headers(version))
    return JSONResponse(outcome.ids, headers=_headers(version))


def _json_body(request: Request) -> None:
    media = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if media != "application/json":
        raise _Refused(415, f"content type {media[:60]} is not taken: send application/json "
                       "(statements with attachment content, multipart/mixed, are not supported)")


def _authenticate(request: Request) -> tuple[TenantSettings, XapiSettings]:
    """The `xapi` instance whose key and secret the Basic credentials carry, or a 401/503."""
    config: Config = request.app.state.config
    key, secret = _basic(request.headers.get("authorization"))
    found: tuple[TenantSettings, XapiSettings] | None = None
    named: tuple[TenantSettings, XapiSettings] | None = None
    for tenant in config.tenants:  # compare with every instance: timing says nothing about which
        for settings in tenant.connectors:
            if isinstance(settings, XapiSettings):
                if settings.accepts(key, secret):
                    found = (tenant, settings)
                elif settings.accepts(key, settings.secret.get_secret_value()):
                    named = (tenant, settings)
    if found is None:
        if named is not None:
            request.app.state.intake.refused(named[0].id, named[1].id, "wrong xAPI credentials", None)
        raise _Refused(401, "missing or wrong HTTP Basic credentials (the xapi connector's key and secret)",
                       {"WWW-Authenticate": 'Basic realm="xapi"'})
    if not found[1].enabled:
        raise _Refused(503, f"connector {found[1].id} is paused (enabled: false)")
    return found


def _basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not token:
        return "", "\x00"  # matches no configured secret (those are non-empty text)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", "\x00"
    key, _, secret = decoded.partition(":")
    return key, secret


def _read(request: Request, tenant: TenantSettings, settings: XapiSettings) -> Any:
    params = request.query_params
    single = params.get("statementId") or params.get("voidedStatementId")
    if single is not None:
        return _one(request, tenant, settings, single, voided="voidedStatementId" in params)
    return _list(request, tenant, settings)


def _one(request: Request, tenant: TenantSettings, settings: XapiSettings, statement_id: str,
         *, voided: bool) -> Any:
    extra = sorted(set(request.query_params) - _SINGLE)
    if extra or ("statementId" in request.query_params and "voidedStatementId" in request.query_params):
        raise PayloadError(f"parameter {(extra or ['voidedStatementId'])[0]} is not allowed with "
                           "statementId / voidedStatementId", status=400)
    with read_only(request.app.state.engine) as conn:
        found = read_statement(conn, tenant.id, settings.id, statement_id)
    if found is None or found.voided != voided:
        raise _Refused(404, f"no {'voided ' if voided else ''}statement {statement_id[:40]}")
    return _shaped(request)(found.body)


def _list(request: Request, tenant: TenantSettings, settings: XapiSettings) -> Any:
    params = request.query_params
    for name in params:
        if name in UNSUPPORTED:
            raise PayloadError(f"parameter {name} is not supported by this LRS (supported: "
                               f"{', '.join(sorted(LIST_PARAMETERS))})", status=400)
        if name not in LIST_PARAMETERS and name != "after":
            raise PayloadError(f"unknown parameter {name[:40]}", status=400)
    shape = _shaped(request)
    limit = _integer(params.get("limit", "0"), "limit")
    limit = MAX_LIMIT if limit == 0 else min(limit, MAX_LIMIT)
    ascending = _boolean(params.get("ascending", "false"), "ascending")
    since, until = _time(params.get("since"), "since"), _time(params.get("until"), "until")
    after = _integer(params["after"], "after") if "after" in params else None
    with read_only(request.app.state.engine) as conn:
        rows = list_statements(conn, tenant.id, settings.id, match=_match(params), since=since,
                               until=until, ascending=ascending, limit=limit + 1, after_seq=after)
    more = ""
    if len(rows) > limit:
        rows = rows[:limit]
        rest = {k: v for k, v in params.items() if k != "after"}
        more = f"/xapi/statements?{urlencode({**rest, 'after': rows[-1][0]})}"
    return {"statements": [shape(body) for _, body in rows], "more": more}


def _shaped(request: Request) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The `format` asked for (`connectors.xapi.formats`); attachments are never stored, so
    `attachments=true` is refused rather than answered without them."""
    form = request.query_params.get("format", "exact")
    if form not in FORMATS:
        raise PayloadError(f"format must be one of {', '.join(FORMATS)}", status=400)
    if _boolean(request.query_params.get("attachments", "false"), "attachments"):
        raise PayloadError("attachments=true is not supported: this LRS keeps no attachment content",
                           status=400)
    languages = accepted_languages(request.headers.get("accept-language"))
    return lambda body: formatted(body, form, languages=languages)


def _match(params: Any) -> dict[str, str]:
    """The exact-match filters: `agent` as its identifier key, `registration` lower-cased."""
    match = {name: params[name] for name in ("verb", "activity") if name in params}
    if "registration" in params:
        match["registration"] = params["registration"].lower()
    if "agent" in params:
        match["agent"] = parse_agent(params["agent"])
    for name, related in (("agent", "related_agents"), ("activity", "related_activities")):
        if _boolean(params.get(related, "false"), related) and name in match:
            match[related] = match.pop(name)
    return match


def _integer(value: str, name: str) -> int:
    if not value.isdigit():
        raise PayloadError(f"{name} must be a non-negative integer", status=400)
    return int(value)


def _boolean(value: str, name: str) -> bool:
    if value not in ("true", "false"):
        raise PayloadError(f"{name} must be true or false", status=400)
    return value == "true"


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value).astimezone(UTC)
    except ValueError as exc:
        raise PayloadError(f"{name}: {exc}", status=400) from None


def _headers(version: str) -> dict[str, str]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"X-Experience-API-Version": version, "X-Experience-API-Consistent-Through": now}


def _error(status: int, reason: str, version: str | None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    extra = {**_headers(version or "2.0.0"), **(headers or {})}
    return JSONResponse({"error": reason}, status_code=status, headers=extra)

"""The HTTP receiver: webhooks, the CloudEvents ingest API, and health.

Routes:
    POST /webhooks/{connector_id}   vendor webhooks, verified over the raw body first
    POST /v1/events                 one CloudEvent or a batch, tenant bearer key
    GET  /v1/persons/{identity}     progress, grants with evidence, deliveries (tenant key)
    GET  /v1/persons/{identity}/feed  the in-app feed
    GET  /v1/deliveries[?failed=true]
    GET  /healthz                   liveness plus a store round-trip
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool

from api.ingest import BatchOutcome, Quarantine, ingest_batch
from api.reads import router as reads_router
from api.rejections import RejectionCounter
from api.webhooks import handle_webhook
from config.models import Config, TenantSettings
from rules.limits import JsonLimits, loads
from store.quarantine import safe_text

__all__ = ["Notifier", "create_app"]

log = logging.getLogger("accolade.api")
MAX_BATCH = 1000
_BATCH_TYPES = ("application/cloudevents-batch+json",)
_JSON_TYPES = ("application/json", "application/cloudevents+json", *_BATCH_TYPES)


class Notifier(Protocol):
    """Tells evaluators that shards have new work (coalesced by the implementation)."""

    def mark_dirty(self, tenant: str, shards: set[int]) -> None: ...


class _NoNotifier:
    def mark_dirty(self, tenant: str, shards: set[int]) -> None:
        return None


def create_app(config: Config, engine: Engine, notifier: Notifier | None = None) -> FastAPI:
    app = FastAPI(title="Accolade", version="0.1.0", summary="Achievement hub receiver")
    app.state.config = config
    app.state.engine = engine
    app.state.notifier = notifier or _NoNotifier()
    app.state.quarantine = Quarantine.of(config)
    app.state.rejections = RejectionCounter(engine)
    _routes(app)
    app.include_router(reads_router)
    return app


def tenant_for_key(config: Config, authorization: str | None) -> TenantSettings:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer API key", {"WWW-Authenticate": "Bearer"})
    found: TenantSettings | None = None
    for tenant in config.tenants:  # compare with every key: timing says nothing about which
        for key in tenant.api_keys:
            if hmac.compare_digest(key.get_secret_value().encode(), token.encode()):
                found = tenant
    if found is None:
        raise HTTPException(401, "unknown API key", {"WWW-Authenticate": "Bearer"})
    return found


def _routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        await run_in_threadpool(_ping_store, app.state.engine)
        return {"status": "ok"}

    @app.post("/v1/events", tags=["ingest"], status_code=200)
    async def post_events(request: Request) -> JSONResponse:
        tenant = tenant_for_key(app.state.config, request.headers.get("authorization"))
        limits = app.state.config.api.limits.json_limits()
        items = _batch_items(await request.body(), request.headers.get("content-type"), limits)
        outcome: BatchOutcome = await run_in_threadpool(
            lambda: ingest_batch(app.state.engine, tenant, items, limits=limits,
                                 quarantine=app.state.quarantine)
        )
        if outcome.dirty_shards:
            app.state.notifier.mark_dirty(tenant.id, outcome.dirty_shards)
        all_rejected = outcome.count("rejected") == len(items)
        return JSONResponse(outcome.as_json(), status_code=422 if all_rejected else 200)

    @app.post("/webhooks/{connector_id}", tags=["webhooks"])
    async def post_webhook(connector_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        status, payload = await run_in_threadpool(
            handle_webhook, app, connector_id, body, dict(request.headers)
        )
        return JSONResponse(payload, status_code=status)


def _ping_store(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _batch_items(body: bytes, content_type: str | None, limits: JsonLimits) -> list[Any]:
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media not in _JSON_TYPES:
        media = safe_text(media, 100)
        raise HTTPException(415, f"unsupported content type {media}; send {', '.join(_JSON_TYPES)}")
    try:
        parsed = loads(body, limits)  # an over-long number fails its item, not the batch
    except RecursionError:
        raise HTTPException(400, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HTTPException(400, f"invalid JSON: {safe_text(str(exc), 200)}") from None
    if media in _BATCH_TYPES and not isinstance(parsed, list):
        raise HTTPException(400, "a cloudevents-batch body must be a JSON array")
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise HTTPException(400, "empty batch")
    if len(items) > MAX_BATCH:
        raise HTTPException(413, f"batch of {len(items)} events; at most {MAX_BATCH} per request")
    return items

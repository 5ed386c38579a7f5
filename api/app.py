"""The HTTP receiver: webhooks, the CloudEvents ingest API, and health.

Routes:
    POST /webhooks/{connector_id}   vendor webhooks, verified over the raw body first
    POST /v1/events                 one CloudEvent or a batch, tenant bearer key
    GET  /v1/persons/{identity}     progress, grants with evidence, deliveries (tenant key)
    GET  /v1/persons/{identity}/feed  the in-app feed
    GET  /v1/persons/{identity}/achievements/{key}  why, or what is missing (`api.insight`)
    POST /v1/simulate               what a rule would grant on given events; stores nothing
    GET  /v1/deliveries[?failed=true]
    POST /v1/deliveries/{grant_id}/{channel}/retry   re-drive a failed delivery (`api.deliveries`)
    GET  /healthz                   liveness plus a store round-trip (503 when unreachable)
    GET  /metrics                   Prometheus text (`metrics.receiver`; not in the OpenAPI spec)
    /xapi/about, /xapi/statements  the xAPI Statement API (`api.xapi`; not in the OpenAPI spec)
    /scim/v2/...                    the SCIM 2.0 service provider (`api.scim`; not in the OpenAPI spec)
    GET  /openapi.json              the spec, with request bodies, the bearer scheme and statuses

Bodies are capped per route before they are read (`api.limits.webhook_body`, `events_body`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api import spec
from api.auth import require_tenant, tenant_for_key
from api.deliveries import TemporalFactory
from api.deliveries import router as deliveries_router
from api.identity import router as identity_router
from api.insight import insight_router
from api.limits import BodyLimitAsJson
from api.preferences import router as preferences_router
from api.reads import router as reads_router
from api.scim import scim_router
from api.xapi import xapi_router
from config.models import Config, LimitSettings, TenantSettings
from intake.context import Intake, Notifier
from intake.ingest import BatchOutcome, ingest_batch
from intake.webhooks import handle_webhook
from metrics import ingest as ingest_metrics
from metrics import receiver_registry
from rules.limits import JsonLimits, loads
from store.quarantine import safe_text

__all__ = ["Notifier", "create_app", "tenant_for_key"]

log = logging.getLogger("accolade.api")
MAX_BATCH = spec.MAX_BATCH
_BATCH_TYPES = (spec.BATCH_TYPE,)
_JSON_TYPES = ("application/json", spec.EVENT_TYPE, *_BATCH_TYPES)


def create_app(config: Config, engine: Engine, notifier: Notifier | None = None, *,
               temporal: TemporalFactory | None = None) -> FastAPI:
    """`temporal` connects a Temporal client for the write routes that start workflows
    (re-driving a delivery); without it they answer 503."""
    app = FastAPI(title="Accolade", version="0.1.0", summary="Achievement hub receiver")
    app.state.config = config
    app.state.engine = engine
    app.state.temporal = temporal
    intake = Intake(config, engine) if notifier is None else Intake(config, engine, notifier)
    app.state.intake = intake  # `api.serve` starts its flusher thread
    _routes(app, config.api.limits)
    if config.metrics.receiver:
        _metrics_route(app, receiver_registry(config, engine))
    app.include_router(reads_router)
    app.include_router(insight_router(config.api.limits))
    app.include_router(identity_router)
    app.include_router(preferences_router)
    app.include_router(deliveries_router)
    app.include_router(xapi_router(config.api.limits))
    app.include_router(scim_router())
    app.add_middleware(BodyLimitAsJson)
    spec.install_openapi(app)
    return app


def _routes(app: FastAPI, limits: LimitSettings) -> None:
    @app.get("/healthz", tags=["ops"], response_model=spec.Health, response_model_exclude_none=True,
             responses={503: {"model": spec.Health, "description": "the store is unreachable"}})
    async def healthz() -> Any:
        """Liveness plus a store round-trip."""
        problem = await run_in_threadpool(_store_problem, app.state.engine)
        if problem is not None:
            return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
        return {"status": "ok"}

    @app.post("/v1/events", tags=["ingest"], response_class=JSONResponse,
              max_body_size=int(limits.events_body), responses=spec.EVENTS_RESPONSES,
              openapi_extra={"requestBody": spec.events_request_body()})
    async def post_events(
        request: Request, tenant: Annotated[TenantSettings, Depends(require_tenant)]
    ) -> JSONResponse:
        """Ingest one CloudEvent or a batch; every item is judged alone."""
        json_limits = limits.json_limits()
        items = _batch_items(await request.body(), request.headers.get("content-type"), json_limits)
        intake: Intake = app.state.intake
        outcome: BatchOutcome = await run_in_threadpool(
            lambda: ingest_batch(intake.engine, tenant, items, limits=json_limits,
                                 quarantine=intake.quarantine, group=intake.group_commit)
        )
        ingest_metrics.ingested(tenant.id, ingest_metrics.API_CONNECTOR, outcome.items)
        if outcome.dirty_shards:
            intake.notifier.mark_dirty(tenant.id, outcome.dirty_shards)
        all_rejected = outcome.count("rejected") == len(items)
        return JSONResponse(outcome.as_json(), status_code=422 if all_rejected else 200)

    @app.post("/webhooks/{connector_id}", tags=["webhooks"], response_class=JSONResponse,
              max_body_size=int(limits.webhook_body), responses=spec.WEBHOOK_RESPONSES,
              openapi_extra={"requestBody": spec.webhook_request_body()})
    async def post_webhook(connector_id: str, request: Request) -> JSONResponse:
        """A vendor's webhook, verified over the raw body before it is parsed."""
        body = await request.body()
        status, payload = await run_in_threadpool(
            handle_webhook, app.state.intake, connector_id, body, dict(request.headers)
        )
        return JSONResponse(payload, status_code=status)

    @app.get("/webhooks/{connector_id}", tags=["webhooks"], response_class=JSONResponse,
             responses=spec.WEBHOOK_GET_RESPONSES)
    async def get_webhook(connector_id: str, request: Request) -> JSONResponse:
        """A vendor's verification challenge (Okta's event hook), for vendors that send one."""
        status, payload = await run_in_threadpool(
            lambda: handle_webhook(app.state.intake, connector_id, b"", dict(request.headers), method="GET")
        )
        return JSONResponse(payload, status_code=status)


def _metrics_route(app: FastAPI, registry: CollectorRegistry) -> None:
    # Out of the OpenAPI spec: it is for Prometheus, not API clients (the schema tests stay on
    # the documented routes). Collected in a thread: shard lag reads the store.
    @app.get("/metrics", include_in_schema=False)
    async def get_metrics() -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


def _store_problem(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: store unreachable: %s", exc)
        return f"store unreachable ({exc.__class__.__name__})"
    return None


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


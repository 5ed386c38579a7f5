"""What the receiver's OpenAPI says: response models, the documented request bodies, the statuses.

The routes read their bodies raw (webhooks verify the exact bytes before parsing; the batch API
judges each item alone), so FastAPI cannot derive the request bodies from parameters. They are
written here, from the same `CloudEvent` model the ingest path validates with, and served at
`/openapi.json`. Every status a route answers is listed with its body's model, and only those:
a generated client or an API fuzzer (tests/api/test_openapi.py runs schemathesis) can rely on it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from rules.events import _TYPE_RE, RESERVED_SOURCE_PREFIX, Actor, CloudEvent

__all__ = [
    "BATCH_TYPE",
    "EVENTS_RESPONSES",
    "EVENT_TYPE",
    "MAX_BATCH",
    "WEBHOOK_GET_RESPONSES",
    "WEBHOOK_RESPONSES",
    "BatchResult",
    "ErrorDetail",
    "Health",
    "ItemResult",
    "WebhookError",
    "WebhookResult",
    "bearer_responses",
    "events_request_body",
    "install_openapi",
    "too_large",
    "webhook_request_body",
]

MAX_BATCH = 1000
BATCH_TYPE = "application/cloudevents-batch+json"
EVENT_TYPE = "application/cloudevents+json"
_COMPONENTS = "#/components/schemas/{model}"


class _Open(BaseModel):
    """A response body: clients must ignore keys they do not know (new ones may be added)."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Open):
    """FastAPI's error body: why the request was refused."""

    detail: str


class ItemResult(_Open):
    """One item of a batch, by its position in the request."""

    index: int = Field(ge=0)
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = Field(description="the item's `id`, when it had one")
    parked: bool = Field(default=False, description="stored, but its actor is not linked yet")
    reason: str | None = Field(default=None, description="why the item was rejected")


class BatchResult(_Open):
    """Per-item outcomes; rejected items are kept in quarantine with their reason."""

    accepted: int = Field(ge=0)
    duplicate: int = Field(ge=0)
    rejected: int = Field(ge=0)
    parked: int = Field(ge=0)
    results: list[ItemResult]


class WebhookResult(_Open):
    """A verified delivery: events stored, already known, or dropped by the mapping."""

    accepted: int = Field(ge=0)
    duplicate: int = Field(ge=0)
    dropped: int = Field(ge=0)
    ignored: str | None = Field(default=None, description="the vendor event, when it maps to nothing")


class WebhookError(_Open):
    """A refused delivery; `quarantined` says its (verified) body was kept for `accolade quarantine`."""

    error: str
    quarantined: bool = False


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = Field(default=None, description="why the store is unavailable")


def _json(model: type[BaseModel] | dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    schema = model if isinstance(model, dict) else {"$ref": _COMPONENTS.format(model=model.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "`Bearer`", "required": True, "schema": {"type": "string"}}
}


def bearer_responses() -> dict[int | str, dict[str, Any]]:
    """The 401 of every route behind the tenant's bearer key."""
    return {401: _json(ErrorDetail, "missing or unknown bearer API key", headers=_WWW_AUTHENTICATE)}


def too_large(setting: str) -> dict[int | str, dict[str, Any]]:
    return {413: _json(ErrorDetail, f"the body is over `api.limits.{setting}`; nothing was stored")}


EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json(BatchResult, "at least one item was stored or already known; see `results`"),
    400: _json(ErrorDetail, "not JSON, an empty batch, or a batch content type without an array"),
    **bearer_responses(),
    413: _json(ErrorDetail, f"the body is over `api.limits.events_body`, or over {MAX_BATCH} events; "
                            "nothing was stored"),
    415: _json(ErrorDetail, "a content type other than the three JSON ones"),
    422: _json(BatchResult, "every item was rejected; see `results[].reason`"),
}

WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json({"anyOf": [{"$ref": _COMPONENTS.format(model="WebhookResult")},
                          {"type": "object", "description": "the vendor's own reply, e.g. GitHub ping"}]},
               "verified and handled"),
    400: _json(WebhookError, "the request cannot be used (e.g. a missing or over-long header)"),
    401: _json(WebhookError, "the signature or token does not verify; only metadata is recorded"),
    404: _json(WebhookError, "no connector with this id is configured"),
    405: _json(WebhookError, "this vendor's webhooks do not use this method"),
    **too_large("webhook_body"),
    422: _json(WebhookError, "verified, but the payload cannot be mapped: quarantined with the reason"),
    503: _json(WebhookError, "the connector is paused (enabled: false); retry later"),
}

WEBHOOK_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json({"type": "object", "description": "the vendor's challenge answered (Okta's verification)"},
               "verified and answered"),
    **{k: v for k, v in WEBHOOK_RESPONSES.items() if k in (400, 401, 404, 405, 503)},
}


def events_request_body() -> dict[str, Any]:
    one = {"$ref": _COMPONENTS.format(model="CloudEvent")}
    batch = {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_BATCH}
    return {
        "required": True,
        "description": (
            "One CloudEvent (structured mode) or a batch of them. Each item is judged alone: "
            "a bad item is rejected with its reason while its neighbours are stored. `source` "
            f"must not start with `{RESERVED_SOURCE_PREFIX}` (reserved for connectors)."
        ),
        "content": {
            "application/json": {"schema": {"anyOf": [one, batch]}},
            EVENT_TYPE: {"schema": one},
            BATCH_TYPE: {"schema": batch},
        },
    }


def webhook_request_body() -> dict[str, Any]:
    return {
        "required": True,
        "description": (
            "The vendor's payload as it sends it, e.g. GitHub with `X-GitHub-Event`, "
            "`X-GitHub-Delivery` and `X-Hub-Signature-256`. The signature is checked over the raw "
            "bytes before anything is parsed."
        ),
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-www-form-urlencoded": {  # GitHub's other content type
                "schema": {"type": "object", "required": ["payload"],
                           "properties": {"payload": {"type": "string", "description": "the JSON"}}},
            },
        },
    }


def _event_schemas() -> dict[str, Any]:
    """CloudEvent and Actor as the ingest path validates them (rules/events.py).

    Pydantic's schema misses what the validators check: the spec version, the type's shape
    and `data.actor`. Those are added here so a valid-looking event is a valid event.
    """
    event = CloudEvent.model_json_schema(ref_template=_COMPONENTS)
    props = event["properties"]
    props["specversion"] = {"type": "string", "const": "1.0", "default": "1.0"}
    props["type"] = {**props["type"], "pattern": _TYPE_RE.pattern}
    props["data"] = {
        "type": "object",
        "additionalProperties": True,
        "required": ["actor"],
        "properties": {"actor": {"$ref": _COMPONENTS.format(model="Actor")}},
    }
    event["required"] = [*event["required"], "data"]
    actor = Actor.model_json_schema(ref_template=_COMPONENTS)
    actor["properties"]["id"]["anyOf"].insert(1, {"type": "integer"})
    return {"CloudEvent": event, "Actor": actor}


def _reference_models() -> dict[str, Any]:
    """Models only named by `responses=…` refs; FastAPI adds those it sees in `model` keys."""
    out: dict[str, Any] = {}
    for model in (BatchResult, WebhookResult, WebhookError, ErrorDetail):
        schema = model.model_json_schema(ref_template=_COMPONENTS)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def install_openapi(app: FastAPI) -> None:
    """Serve FastAPI's generated spec plus the hand-written parts above, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, summary=app.summary,
                               description=app.description, routes=app.routes)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(_reference_models())
            schemas.update(_event_schemas())
            _drop_impossible_validation_errors(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_impossible_validation_errors(spec: dict[str, Any]) -> None:
    """FastAPI documents a 422 for every route with a parameter; a plain string path cannot fail.

    The 422 stays where a parameter has a type to violate (`?failed=` must be a boolean) and
    where a JSON body is validated.
    """
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            params = operation.get("parameters", [])
            generated = operation.get("responses", {}).get("422", {})
            refs = str(generated.get("content", {}))
            body = "requestBody" in operation  # a JSON body always has something to violate
            if "HTTPValidationError" in refs and not body and all(_cannot_fail(p) for p in params):
                del operation["responses"]["422"]


def _cannot_fail(parameter: dict[str, Any]) -> bool:
    return parameter.get("in") == "path" and parameter.get("schema", {}).get("type") == "string"

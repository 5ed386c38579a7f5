"""Body size limits: FastAPI's per-route `max_body_size` cuts the body; this says why, in JSON.

FastAPI (>= 0.165) checks `Content-Length` before the body is read and stops a streamed body
at the cap. It answers 413 in two shapes: `text/plain` "Content Too Large" when the declared
length is over (Starlette replaces whatever the route answered), and `{"detail": "Content Too
Large"}` when a chunked body crosses the cap. `BodyLimitAsJson` renders both as one JSON
reason naming the limit, so clients and the OpenAPI see a single 413 shape. It only rewrites
those answers; the limit itself is FastAPI's.
"""

from __future__ import annotations

import json

from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitAsJson", "body_limit_reason"]

_STARLETTE_BODIES = (b"Content Too Large", b'{"detail":"Content Too Large"}')


def body_limit_reason(limit: int | None) -> str:
    cap = f"of {limit} bytes " if limit is not None else ""
    return f"request body over this route's limit {cap}(api.limits); nothing was stored"


class BodyLimitAsJson:
    """ASGI middleware: FastAPI's body-limit 413 answers become `{"detail": <reason>}`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def send_json_413(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 413:
                held.append(message)  # decide once the (small) body is known
                return
            if not held:
                await send(message)
                return
            held.append(message)
            if not message.get("more_body", False):
                await _flush(held, scope.get(MAX_BODY_SIZE_SCOPE_KEY), send)

        await self.app(scope, receive, send_json_413)


async def _flush(held: list[Message], limit: int | None, send: Send) -> None:
    body = b"".join(m.get("body", b"") for m in held[1:])
    if body not in _STARLETTE_BODIES:  # a 413 of our own (e.g. too many events): unchanged
        for message in held:
            await send(message)
        return
    payload = json.dumps({"detail": body_limit_reason(limit)}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
    ]})
    await send({"type": "http.response.body", "body": payload})

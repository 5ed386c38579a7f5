"""A webhook receiver for tests: a real HTTP server in a thread that verifies every request with
the `standardwebhooks` library (the reference implementation of the Standard Webhooks spec),
as a customer's intranet or HR system would.

It answers 204 to a verified request and 401 to one that fails verification; `fail_next`
scripts replies (503 with `Retry-After`, 410 Gone) for the next requests, before
verification, as an overloaded or retired endpoint would.

Also the demo's receiver (README "Try it"): `.venv/bin/python -m tests.webhook_receiver --port
8026` verifies with `$ACCOLADE_WEBHOOK_SECRET` (else the demo's published default) and prints
each request: verified or not, its webhook-id, and the grant document.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


class WebhookReceiver:
    def __init__(self, secret: str, *, port: int = 0) -> None:
        self.verifier = Webhook(secret)
        self.received: list[Received] = []
        self.replies: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/accolade"

    def fail_next(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.replies += [(status, headers or {})] * times

    def verified(self) -> list[Received]:
        return [r for r in self.received if r.verified]

    def webhook_ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        with self._lock:
            if self.replies:
                self.received.append(Received(headers, body, verified=False))
                return self.replies.pop(0)
            try:
                self.verifier.verify(body, headers)
                ok = True
            except WebhookVerificationError:
                ok = False
            self.received.append(Received(headers, body, verified=ok))
        return (204 if ok else 401), {}

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(receiver: WebhookReceiver) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status, headers = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


DEMO_SECRET = "whsec_ZGVtby13ZWJob29rLXNlY3JldC1wdWJsaXNoZWQ="  # examples/accolade.yaml's default


def main() -> None:  # pragma: no cover - the demo's receiver, run by hand
    import argparse
    import os
    import time

    parser = argparse.ArgumentParser(description="Verify and print Accolade's signed webhooks.")
    parser.add_argument("--port", type=int, default=8026)
    port = parser.parse_args().port
    with WebhookReceiver(os.environ.get("ACCOLADE_WEBHOOK_SECRET", DEMO_SECRET), port=port) as receiver:
        print(f"webhook receiver on {receiver.url}; Ctrl-C stops it", flush=True)
        shown = 0
        while True:
            for r in receiver.received[shown:]:
                state = "verified" if r.verified else "REFUSED (signature)"
                print(f"--- {state} webhook-id {r.headers.get('webhook-id')}\n{r.body.decode()}", flush=True)
            shown = len(receiver.received)
            time.sleep(0.2)


if __name__ == "__main__":
    main()

"""A local stand-in for the Slack Web API methods Accolade uses.

There is no runnable Slack server, so tests drive the REAL ``slack_sdk`` clients (sync ``WebClient`` and
``AsyncWebClient``) at the HTTP level against this server: point ``base_url`` at ``standin.base_url``.
It fakes ``users.lookupByEmail``, ``conversations.open``, ``chat.postMessage`` and
``conversations.history`` with Slack's envelope (HTTP 200 + ``ok: false`` for API errors, bearer-token auth,
``invalid_auth`` / ``account_inactive``), plus scripted faults such as HTTP 429 with ``Retry-After``.

How slack_sdk 3.x sends arguments (checked in slack_sdk/web/*): ``chat.postMessage`` is a JSON body from both
clients. ``conversations.open``, ``users.lookupByEmail`` and ``conversations.history`` use ``params=``: the
sync client always POSTs them as a form body; the async client (aiohttp) sends them as a query string (GET for
lookupByEmail/history, POST with an empty body for open). Booleans become "1"/"0" in form and query strings.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Json = dict[str, Any]
_JSON_ARGS = ("blocks", "attachments", "metadata")


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None
    remaining: int


class SlackApiFailure(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


class _Server(ThreadingHTTPServer):
    request_queue_size = (
        128  # socketserver's default backlog of 5 resets connections under concurrent callers
    )


class SlackStandIn:
    """Threaded HTTP server speaking the Slack Web API subset; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] = ("xoxb-test",),
        inactive_tokens: Iterable[str] = (),
        users: dict[str, str] | None = None,
        deactivated: Iterable[str] = (),
        channels: Iterable[str] = (),  # e.g. a team channel "C0TEAM"
        bot_user_id: str = "UBOTSTANDIN",
        port: int = 0,
        post_interval: float | None = None,
    ) -> None:
        self.tokens = set(tokens)
        self.inactive_tokens = set(inactive_tokens)
        self.users: dict[str, str] = dict(users or {})  # email -> user id
        self.deactivated = set(deactivated)  # user ids
        self.channels = set(channels)  # channel ids that exist besides opened DMs
        self.bot_user_id = bot_user_id
        self.port = port
        # Slack's per-channel limit on chat.postMessage ("one message per second per channel",
        # https://docs.slack.dev/apis/web-api/rate-limits): a post to a channel sooner than
        # `post_interval` after its last accepted one is answered as Slack does when a limit is
        # exceeded, "HTTP 429 Too Many Requests ... and a Retry-After HTTP header containing the
        # number of seconds until you can retry" (same page, "Responding to rate limiting
        # conditions"), with the envelope {"ok": false, "error": "ratelimited"}.
        self.post_interval = post_interval
        self._last_post: dict[str, float] = {}
        self.limited: list[str] = []  # channels of posts refused with 429
        self._calls: list[tuple[str, Json]] = []
        self._call_times: list[float] = []
        self._messages: list[Json] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._last_ts = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SlackStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._handle(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=partial(self._server.serve_forever, 0.05), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def base_url(self) -> str:
        return self.url + "api/"

    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with a fault instead of doing the work.

        Defaults: no status and no error -> HTTP 429 ``ratelimited`` with ``Retry-After: 1``;
        an error alone -> HTTP 200 ``{"ok": false, "error": error}``.
        """
        status = status if status is not None else (200 if error else 429)
        retry_after = 1 if status == 429 and retry_after is None else retry_after
        error = error or ("ratelimited" if status == 429 else "internal_error")
        fault = _Fault(status, error, retry_after, times)
        with self._lock:
            self._faults[method].append(fault)

    @property
    def calls(self) -> list[tuple[str, Json]]:
        """Every request so far, in arrival order, as (method, merged args) - including refused ones."""
        with self._lock:
            return list(self._calls)

    def call_times(self) -> list[float]:
        """`time.monotonic()` of each entry in `calls`, same order."""
        with self._lock:
            return list(self._call_times)

    def messages(self, channel: str | None = None) -> list[Json]:
        with self._lock:
            return [dict(m) for m in self._messages if channel is None or m["channel"] == channel]

    @staticmethod
    def dm_channel_id(*user_ids: str) -> str:
        """The stable conversation id ``conversations.open`` returns for these users."""
        key = ",".join(sorted(user_ids))
        return "D" + hashlib.sha1(key.encode()).hexdigest()[:10].upper()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        if not split.path.startswith("/api/"):
            self._reply(req, 404, {"ok": False, "error": "not_found"}, {})
            return
        method = split.path[len("/api/") :]
        args: Json = dict(parse_qsl(split.query))
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" and body:
            args.update(json.loads(body))
        elif ctype == "application/x-www-form-urlencoded":
            args.update(parse_qsl(body.decode()))
        for name in _JSON_ARGS:
            if isinstance(args.get(name), str) and args[name]:
                args[name] = json.loads(args[name])
        auth = req.headers.get("Authorization") or ""
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        with self._lock:
            self._calls.append((method, args))
            self._call_times.append(time.monotonic())
            status, headers, payload = self._dispatch(method, token, args)
        self._reply(req, status, payload, headers)

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, payload: Json, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(data)

    def _dispatch(self, method: str, token: str | None, args: Json) -> tuple[int, dict[str, str], Json]:
        if token in self.inactive_tokens:
            return 200, {}, {"ok": False, "error": "account_inactive"}
        if token not in self.tokens:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        queue = self._faults.get(method)
        if queue:
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, headers, {"ok": False, "error": fault.error}
        if method == "chat.postMessage" and (refusal := self._channel_limit(args)) is not None:
            return refusal
        handler = _METHODS.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        try:
            return 200, {}, {"ok": True, **handler(self, args)}
        except SlackApiFailure as exc:
            return 200, {}, {"ok": False, "error": exc.error}
        except (ValueError, ArithmeticError):  # e.g. limit="ten", oldest="yesterday"
            return 200, {}, {"ok": False, "error": "invalid_arguments"}

    def _channel_limit(self, args: Json) -> tuple[int, dict[str, str], Json] | None:
        channel, now = str(args.get("channel") or ""), time.monotonic()
        if self.post_interval is None or channel not in self.channels:
            return None
        last = self._last_post.get(channel)
        if last is not None and now - last < self.post_interval:
            self.limited.append(channel)
            wait = max(1, math.ceil(self.post_interval - (now - last)))
            return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
        self._last_post[channel] = now
        return None

    # Methods below run with the lock held; each returns the payload after "ok": true or raises.
    def _users_lookup_by_email(self, args: Json) -> Json:
        email = str(args.get("email") or "")
        if not email:
            raise SlackApiFailure("invalid_arguments")
        user_id = self.users.get(email) or self.users.get(email.lower())
        if user_id is None:
            raise SlackApiFailure("users_not_found")
        user = {"id": user_id, "name": email.split("@")[0], "profile": {"email": email}}
        return {"user": user | {"deleted": user_id in self.deactivated}}  # deactivated: found, deleted

    def _conversations_open(self, args: Json) -> Json:
        if args.get("channel"):
            if args["channel"] not in self.channels:
                raise SlackApiFailure("channel_not_found")
            return {"channel": {"id": args["channel"]}}
        user_ids = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not user_ids:
            raise SlackApiFailure("users_list_not_supplied")
        for user_id in user_ids:
            if user_id not in self.users.values():
                raise SlackApiFailure("user_not_found")
            if user_id in self.deactivated:
                raise SlackApiFailure("user_disabled")
        channel = self.dm_channel_id(*user_ids)
        self.channels.add(channel)
        return {"no_op": False, "already_open": False, "channel": {"id": channel}}

    def _chat_post_message(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if channel not in self.channels:
            raise SlackApiFailure("channel_not_found")
        if not any(args.get(name) for name in ("text", "blocks", "attachments", "markdown_text")):
            raise SlackApiFailure("no_text")
        self._last_ts = max(self._last_ts + 1, int(time.time() * 1_000_000))
        ts = f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"
        message: Json = {"type": "message", "channel": channel, "ts": ts, "user": self.bot_user_id}
        message |= {"bot_id": "BSTANDIN", "text": str(args.get("text") or args.get("markdown_text") or "")}
        for name in ("blocks", "attachments", "metadata", "thread_ts"):
            if args.get(name):
                message[name] = args[name]
        self._messages.append(message)
        return {"channel": channel, "ts": ts, "message": {k: v for k, v in message.items() if k != "channel"}}

    def _conversations_history(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if channel not in self.channels:
            raise SlackApiFailure("channel_not_found")
        oldest, latest = Decimal(args.get("oldest") or 0), Decimal(args.get("latest") or "Infinity")
        inclusive = _truthy(args.get("inclusive"))
        limit, start = min(max(int(args.get("limit") or 100), 1), 999), int(args.get("cursor") or 0)
        found = [m for m in reversed(self._messages) if m["channel"] == channel]
        in_range = (lambda t: oldest <= t <= latest) if inclusive else (lambda t: oldest < t < latest)
        found = [m for m in found if in_range(Decimal(m["ts"]))]
        page = found[start : start + limit]
        with_metadata = _truthy(args.get("include_all_metadata"))
        hidden = {"channel"} if with_metadata else {"channel", "metadata"}
        messages = [{k: v for k, v in m.items() if k not in hidden} for m in page]
        has_more = start + limit < len(found)
        cursor = str(start + limit) if has_more else ""
        return {"messages": messages, "has_more": has_more, "response_metadata": {"next_cursor": cursor}}


_METHODS = {
    "users.lookupByEmail": SlackStandIn._users_lookup_by_email,
    "conversations.open": SlackStandIn._conversations_open,
    "chat.postMessage": SlackStandIn._chat_post_message,
    "conversations.history": SlackStandIn._conversations_history,
}


def main() -> None:
    """Run the stand-in by hand, e.g. for `make up` with SLACK_API_URL pointing at it."""
    import argparse

    parser = argparse.ArgumentParser(prog="slack_standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--token", default="xoxb-demo")
    parser.add_argument("--user", action="append", default=[], metavar="EMAIL=UID",
                        help="a workspace member for users.lookupByEmail (repeatable)")
    args = parser.parse_args()
    users = dict(pair.split("=", 1) for pair in args.user)
    with SlackStandIn(tokens=[args.token], users=users, port=args.port) as standin:
        print(f"Slack stand-in: SLACK_API_URL={standin.base_url} SLACK_BOT_TOKEN={args.token}", flush=True)
        seen = 0
        try:
            while True:
                messages = standin.messages()
                for message in messages[seen:]:
                    print(f"DM {message['channel']} ts={message['ts']}:\n{message.get('text', '')}\n", flush=True)
                seen = len(messages)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

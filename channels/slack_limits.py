"""Slack's rate limits, kept in the worker process: one limiter shared by every Slack channel.

Slack limits "per API method per app per workspace" (tiers: Tier 3 ≈ 50+/min, Tier 4 ≈
100+/min), and `chat.postMessage` also "generally allows posting one message per second per
channel" with short bursts (https://docs.slack.dev/apis/web-api/rate-limits). So every call
takes a slot from a bucket keyed (workspace, method), and a post also from one keyed
(workspace, channel). The workspace key is a fingerprint of the bot token (a bot token
belongs to one app in one workspace); the token itself is never kept or shown.

Each bucket is a GCRA token bucket (`interval` between tokens, `burst` tokens at most). A call
reserves the earliest time every bucket it needs has a token, as one reservation under a
lock, so a burst is served in order:
- a wait up to `max_wait` seconds is slept (the activity heartbeats meanwhile);
- a longer one raises Retryable with `retry_after` = the wait, keeping the reservation under
  the caller's `ticket` (grant + target): the retry, when it lands on this worker, uses that
  slot instead of queueing again. A burst of team posts therefore queues, it does not fail:
  each post costs at most two attempts of its retry budget.

A 429 from Slack (several workers share a workspace, or our numbers are off) pushes the
buckets it names back by `Retry-After` (`penalise`), so the posts behind it wait too.

Why in-process and not a rate-limited task queue: Temporal's task-queue rate limit is one
number for the whole queue, not per (workspace, channel); one queue per Slack channel would
need workers created on the fly. The bucket is per worker process: with several workers the
per-channel rate can be exceeded, and Slack's 429 with Retry-After is then the backstop
(retried honouring it, never failed, as before).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from connectors.errors import Retryable

__all__ = ["Bucket", "SlackLimiter", "workspace_key"]


@dataclass(frozen=True)
class Bucket:
    interval: float  # seconds between tokens
    burst: int = 1  # tokens that may be spent at once


# Per (workspace, method). Tier 3: 50/min; chat.postMessage's workspace-wide limit is not
# published ("several hundred per minute"): 300/min is under it.
METHOD_BUCKETS = {
    "users.lookupByEmail": Bucket(60 / 50, burst=10),
    "conversations.open": Bucket(60 / 50, burst=10),
    "conversations.history": Bucket(60 / 50, burst=5),
    "chat.postMessage": Bucket(60 / 300, burst=10),
}
DEFAULT_BUCKET = Bucket(60 / 20, burst=3)  # Tier 2, for a method not listed
# chat.postMessage per channel: a little over a second, so that the jitter between here and
# Slack never lands two posts within one second there.
CHANNEL_BUCKET = Bucket(1.05, burst=1)


def workspace_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class SlackLimiter:
    """Shared by every Slack channel of a worker (`channels.Clients.slack_limits`)."""

    max_wait: float = 5.0
    channel_bucket: Bucket = CHANNEL_BUCKET
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tat: dict[tuple[str, ...], float] = field(default_factory=dict)  # theoretical arrival time
    _tickets: dict[str, float] = field(default_factory=dict)  # ticket → reserved send time
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, workspace: str, method: str, *, channel: str | None = None,
                ticket: str | None = None) -> float:
        """Wait for a slot (returns the seconds waited) or raise Retryable with the wait."""
        send_at = self._reserve(workspace, method, channel, ticket)
        wait = send_at - self.clock()
        wait = wait if wait > 1e-6 else 0.0  # float dust is no wait
        if wait > self.max_wait:
            if ticket is not None:  # the retry takes this slot instead of queueing again
                with self._lock:
                    self._tickets[f"{ticket}:{method}"] = send_at
            raise Retryable(f"{method}: queued behind the Slack rate limit", retry_after=wait)
        if wait:
            self.sleep(wait)
        return wait

    def penalise(self, workspace: str, method: str, *, channel: str | None, seconds: float) -> None:
        """Slack said 429: nothing on these buckets before `seconds` from now."""
        until = self.clock() + seconds
        with self._lock:
            for key, _ in self._buckets(workspace, method, channel):
                self._tat[key] = max(self._tat.get(key, 0.0), until)

    def _reserve(self, workspace: str, method: str, channel: str | None, ticket: str | None) -> float:
        now = self.clock()
        with self._lock:
            self._forget_stale(now)
            if ticket is not None and (held := self._tickets.pop(f"{ticket}:{method}", None)) is not None:
                return held
            buckets = list(self._buckets(workspace, method, channel))
            send_at = max(now, *(self._earliest(key, bucket, now) for key, bucket in buckets))
            for key, bucket in buckets:
                self._tat[key] = max(self._tat.get(key, now), send_at) + bucket.interval
            return send_at

    def _earliest(self, key: tuple[str, ...], bucket: Bucket, now: float) -> float:
        tat = self._tat.get(key, now)
        return tat - (bucket.burst - 1) * bucket.interval

    def _buckets(self, workspace: str, method: str,
                 channel: str | None) -> Iterable[tuple[tuple[str, ...], Bucket]]:
        yield (workspace, "method", method), METHOD_BUCKETS.get(method, DEFAULT_BUCKET)
        if channel is not None and method == "chat.postMessage":
            yield (workspace, "channel", channel), self.channel_bucket

    def _forget_stale(self, now: float) -> None:
        """A reservation nobody came back for is dropped a minute after its time."""
        for ticket in [t for t, at in self._tickets.items() if at < now - 60]:
            del self._tickets[ticket]

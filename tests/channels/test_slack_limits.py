"""The Slack rate limiter on a fake clock: posts to one channel one second apart, other
channels and methods not held up by them, a wait beyond `max_wait` handed to Temporal with the
slot kept for the retry, and a 429 holding back what queues behind it."""

from __future__ import annotations

import pytest

from channels.slack_limits import SlackLimiter
from connectors.errors import Retryable


class Clock:
    """`advance=False`: callers arrive together (threads), so a sleep does not move time."""

    def __init__(self, advance: bool = True) -> None:
        self.now = 1000.0
        self.advance = advance
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds if self.advance else 0.0


def _limiter(max_wait: float = 10.0, *, advance: bool = True) -> tuple[SlackLimiter, Clock]:
    clock = Clock(advance)
    return SlackLimiter(max_wait=max_wait, clock=clock, sleep=clock.sleep), clock


def test_posts_to_one_channel_are_spaced_just_over_a_second_apart_and_other_channels_are_not_held() -> None:
    limiter, clock = _limiter()
    for _ in range(3):
        limiter.acquire("ws", "chat.postMessage", channel="C0TEAM")
    assert clock.slept == [1.05, 1.05]
    limiter.acquire("ws", "chat.postMessage", channel="D0DM")  # another channel: no wait
    limiter.acquire("other-ws", "chat.postMessage", channel="C0TEAM")  # another workspace
    assert clock.slept == [1.05, 1.05]


def test_a_method_bucket_allows_its_burst_then_its_rate() -> None:
    limiter, clock = _limiter()
    for _ in range(10):  # Tier 3 burst
        limiter.acquire("ws", "users.lookupByEmail")
    assert clock.slept == []
    limiter.acquire("ws", "users.lookupByEmail")
    assert clock.slept == [1.2]  # 50 per minute


def test_a_long_wait_is_retried_later_and_the_retry_keeps_its_slot() -> None:
    limiter, clock = _limiter(max_wait=2.5, advance=False)
    for _ in range(3):  # three posts at once: waits 0, 1.05 and 2.1 s
        limiter.acquire("ws", "chat.postMessage", channel="C0TEAM", ticket="g1/slack.team")
    with pytest.raises(Retryable) as caught:
        limiter.acquire("ws", "chat.postMessage", channel="C0TEAM", ticket="g4/slack.team")
    assert caught.value.retry_after == pytest.approx(3.15)
    assert "queued behind the Slack rate limit" in caught.value.reason
    with pytest.raises(Retryable) as behind:
        limiter.acquire("ws", "chat.postMessage", channel="C0TEAM", ticket="g5/slack.team")
    assert behind.value.retry_after == pytest.approx(4.2)  # behind g4, not beside it
    clock.now += caught.value.retry_after
    waited = limiter.acquire("ws", "chat.postMessage", channel="C0TEAM", ticket="g4/slack.team")
    assert waited == 0.0  # its own slot, reserved before g5's


def test_a_429_holds_back_the_posts_queued_behind_it() -> None:
    limiter, clock = _limiter()
    limiter.penalise("ws", "chat.postMessage", channel="C0TEAM", seconds=7)
    limiter.acquire("ws", "chat.postMessage", channel="C0TEAM")
    assert clock.slept == [7.0]

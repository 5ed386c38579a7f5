"""Issue 9's "done means", end to end: a real hub (worker and receiver processes, Temporal)
polls the Jira stand-in; a ticket resolved there becomes a grant, the same resolution sent as
a signed webhook stays one event, `connectors status` says healthy, and a stopped Jira turns
the connector failing with exactly one alert."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connectors.base import hmac_sha256_hex
from store.schema import events
from tests.e2e.hub import Hub, wait_for
from tests.factories import CONFIG_TEXT, ENV
from tests.jira_standin import JiraStandin, start_jira_standin

pytestmark = pytest.mark.temporal

JIRA = """\
      - id: jira
        vendor: jira
        secret: "${TEST_JIRA_SECRET:-jira-secret}"
        url: "URL"
        user: u01
        token: "${TEST_JIRA_TOKEN:-standin-token}"
        poll: {every: 1h, overlap: 10m, fail_after: 1}
"""
RESOLVED_RULE = """\
      - key: first-resolved-ticket
        version: 1
        name: First resolved ticket
        rule: {count: 1, of: ticket.resolved}
        deliver_to: [console, feed]
"""


def _config(url: str) -> str:
    text = CONFIG_TEXT.replace('      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}\n',
                               '      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}\n'
                               + JIRA.replace("URL", url), 1)
    text = text.replace('"github:login=Codertocat"]', '"github:login=Codertocat", "jira:id=u01"]', 1)
    text = text.replace("    people:\n", "    admin_channel: console\n    people:\n", 1)
    anchor = "        deliver_to: [console, feed]\n"
    return text.replace(anchor, anchor + RESOLVED_RULE, 1)


@pytest.fixture
def rig(tmp_path: Path, sqlite_url: str, temporal_env: Any) -> Iterator[tuple[Hub, JiraStandin]]:
    standin = start_jira_standin(tmp_path)  # our own: this test stops it
    target = temporal_env.client.service_client.config.target_host
    # the poll interval is an hour: only `poll-now` and the webhook hint make it poll in time
    hub = Hub(tmp_path, sqlite_url, target, _config(standin.url), temporal_extra=", connector_watch: 1s")
    hub.prepare()
    hub.start_worker()
    hub.wait_worker_ready(0)
    hub.start_receiver()
    try:
        yield hub, standin
    finally:
        hub.stop()
        standin.stop()


def _cli(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args, "--config", str(hub.config_path)],
                          capture_output=True, text=True, env={**ENV, "PATH": ""}, cwd=hub.tmp,
                          timeout=60, check=False)


def _status(hub: Hub) -> dict[str, Any]:
    done = _cli(hub, "connectors", "status", "--json", "--tenant", hub.tenant)
    assert done.returncode == 0, done.stderr
    return {c["connector"]: c for c in json.loads(done.stdout)["connectors"]}


def test_a_ticket_resolved_in_jira_is_granted_once_by_poll_and_webhook(rig: tuple[Hub, JiraStandin]) -> None:
    from jira import JIRA

    hub, standin = rig
    jira = JIRA(server=standin.url, basic_auth=("u01", standin.token))
    issue = jira.create_issue(project=standin.project_key, summary="Polled end to end",
                              issuetype={"name": "Task"}, assignee={"name": "u01"})
    [done] = [t for t in jira.transitions(issue.key) if t["to"]["name"] == "Done"]
    jira.transition_issue(issue.key, done["id"])

    poked = _cli(hub, "connectors", "poll-now", "jira")
    assert poked.returncode == 0, poked.stderr
    wait_for(lambda: any(g.achievement == "first-resolved-ticket" for g in hub.grants()),
             timeout=60, what="the grant of the polled resolution")
    shown = _cli(hub, "person", "show", "jira:u01", "--tenant", hub.tenant)
    assert "first-resolved-ticket" in shown.stdout

    # the same resolution as Jira's signed webhook: one fact, one event
    histories = jira.issue(issue.key, expand="changelog").raw["changelog"]["histories"]
    history = next(h for h in histories if any(i["field"] == "status" for i in h["items"]))
    raw = jira.issue(issue.key).raw
    body = json.dumps({"timestamp": 1, "webhookEvent": "jira:issue_updated", "user": history["author"],
                       "issue": {"id": raw["id"], "key": raw["key"], "fields": raw["fields"]},
                       "changelog": {"id": history["id"], "items": history["items"]}}).encode()
    answer = httpx.post(f"{hub.url}/webhooks/jira", content=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": "e2e-1",
        "X-Hub-Signature": "sha256=" + hmac_sha256_hex("jira-secret", body)})
    assert (answer.status_code, answer.json()["accepted"], answer.json()["duplicate"]) == (200, 0, 1)
    with hub.engine.connect() as conn:
        resolved = conn.execute(select(events.c.event_id).where(events.c.type == "ticket.resolved")).all()
    assert [r.event_id for r in resolved] == [f"{issue.id}:{history['id']}"]
    assert len([g for g in hub.grants() if g.achievement == "first-resolved-ticket"]) == 1

    # webhooks are hints: the webhook poked the poller, whose interval is an hour, into a cycle
    wait_for(lambda: _status(hub)["jira"]["poll_cycles"] >= 2, timeout=30, what="a cycle after the webhook")
    states = {cid: c["state"] for cid, c in _status(hub).items()}
    assert states == {"github": "healthy", "jira": "healthy"}

    # Jira goes away: the next cycle fails (after its retries) and one alert is raised
    standin.stop()
    assert _cli(hub, "connectors", "poll-now", "jira").returncode == 0
    wait_for(lambda: _status(hub)["jira"]["state"] == "failing", timeout=60, what="jira failing")
    wait_for(lambda: "[accolade:alert]" in hub.log("worker-0.log"), timeout=30, what="the alert")
    assert _cli(hub, "connectors", "poll-now", "jira").returncode == 0  # failing again: no new alert
    alerts = [line for line in hub.log("worker-0.log").splitlines() if "[accolade:alert]" in line]
    assert len(alerts) == 1 and "jira" in alerts[0], alerts
    with hub.engine.connect() as conn:
        failing = conn.execute(select(events.c.event_id).where(events.c.type == "accolade.connector.failing")).all()
    assert len(failing) == 1

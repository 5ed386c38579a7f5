"""The Jira poller against a local Jira Data Center (jira820 with its gaps closed, see
tests/jira_standin.py), driven by the real `jira` client; and one fact by poll and by webhook
stored once, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from connectors.base import Cursor, Page, RecordResult, Retryable, hmac_sha256_hex
from connectors.jira import CONNECTOR, JiraSettings
from connectors.jira.polling import search_jql
from connectors.jira.webhook import parse_body
from rules.events import CloudEvent
from tests.jira_standin import JiraStandin, jira_standin  # noqa: F401 - the session fixture

SOURCE = "/accolade/demo/jira"
SECRET = "jira-secret"


@pytest.fixture(scope="module")
def jira(jira_standin: JiraStandin) -> Any:  # noqa: F811
    from jira import JIRA

    return JIRA(server=jira_standin.url, basic_auth=("u01", jira_standin.token))


def settings_for(standin: JiraStandin, **extra: Any) -> JiraSettings:
    return JiraSettings(id="jira", vendor="jira", secret=SECRET, url=standin.url, user=standin.user,
                        token=standin.token, **extra)


def poll(standin: JiraStandin, since: datetime, **extra: Any) -> tuple[list[RecordResult], list[str | None]]:
    """One whole cycle from `since`: every page's records mapped, and the tokens seen."""
    settings = settings_for(standin, **extra)
    client, token, results, tokens = CONNECTOR.client(settings), None, [], []
    while True:
        cursor = Cursor(position=None, lower_bound=since, started=datetime.now(UTC), token=token)
        page = CONNECTOR.fetch_page(client, settings, cursor)
        results += CONNECTOR.parse_page(page, source=SOURCE)
        tokens.append(token := page.next_token)
        if token is None:
            return results, tokens


def by_type(results: list[RecordResult], issue_id: str) -> dict[str, CloudEvent]:
    [record] = [r for r in results if r.key == issue_id]
    assert record.error is None
    return {e.type: e for e in record.events}


def new_issue(jira: Any, key: str, **fields: Any) -> Any:
    return jira.create_issue(project=key, summary="Polled ticket", issuetype={"name": "Task"},
                             reporter={"name": "u02"}, labels=["accolade"], **fields)


def resolve(jira: Any, issue: Any) -> None:
    [done] = [t for t in jira.transitions(issue.key) if t["to"]["name"] == "Done"]
    jira.transition_issue(issue.key, done["id"])


def status_history(jira: Any, issue: Any) -> dict[str, Any]:
    histories = jira.issue(issue.key, expand="changelog").raw["changelog"]["histories"]
    return next(h for h in histories if any(i["field"] == "status" for i in h["items"]))


def webhook_of(jira: Any, issue: Any, history: dict[str, Any]) -> dict[str, Any]:
    """The `jira:issue_updated` body Jira sends for `history`, built from the REST data."""
    raw = jira.issue(issue.key).raw
    return {"timestamp": int(datetime.now(UTC).timestamp() * 1000), "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic", "user": history["author"],
            "issue": {"id": raw["id"], "key": raw["key"], "fields": raw["fields"]},
            "changelog": {"id": history["id"], "items": history["items"]}}


# --- the query ---


def test_the_query_bounds_updated_in_epoch_milliseconds_and_orders_by_it() -> None:
    bound = datetime(2025, 11, 30, 13, 40, 0, 123000, tzinfo=UTC)
    plain = JiraSettings(id="j", vendor="jira")
    scoped = JiraSettings(id="j", vendor="jira", jql="project = ACME OR labels = x")
    assert search_jql(plain, bound) == "updated >= 1764510000123 ORDER BY updated ASC"
    assert search_jql(scoped, bound) == "(project = ACME OR labels = x) AND updated >= 1764510000123 ORDER BY updated ASC"


# --- against the stand-in ---


def test_a_resolved_ticket_polls_to_the_ids_its_webhook_gives(jira: Any, jira_standin: JiraStandin) -> None:  # noqa: F811
    since = datetime.now(UTC) - timedelta(seconds=1)
    issue = new_issue(jira, jira_standin.project_key, assignee={"name": "u02"})
    comment = jira.add_comment(issue.key, "Looks good")
    resolve(jira, issue)
    history = status_history(jira, issue)
    polled = by_type(poll(jira_standin, since)[0], issue.id)
    assert set(polled) == {"ticket.created", "ticket.resolved", "ticket.commented"}
    assert polled["ticket.created"].id == f"{issue.id}:created"
    assert polled["ticket.commented"].id == f"{issue.id}:comment:{comment.id}"
    resolved = polled["ticket.resolved"]
    assert resolved.id == f"{issue.id}:{history['id']}"
    assert resolved.data["actor"] == {"system": "jira", "id": "u02", "login": "u02", "email": "u02@example.com"}
    assert {k: resolved.data[k] for k in ("ticket", "project", "labels", "issue_type")} == {
        "ticket": issue.key, "project": jira_standin.project_key, "labels": ["accolade"], "issue_type": "Task"}
    [hooked] = parse_body(webhook_of(jira, issue, history), source=SOURCE, delivery_id="d-1").events
    assert (hooked.id, hooked.type, hooked.data["actor"]) == (resolved.id, resolved.type, resolved.data["actor"])
    assert hooked.data["changes"] == resolved.data["changes"]  # (issue, field, from, to, time) alike


def test_a_reassignment_is_polled_with_from_and_to(jira: Any, jira_standin: JiraStandin) -> None:  # noqa: F811
    issue = new_issue(jira, jira_standin.project_key, assignee={"name": "u02"})
    since = datetime.now(UTC) - timedelta(milliseconds=10)
    jira.assign_issue(issue.key, "u01")  # the client's /rest/api/latest/ call
    polled = by_type(poll(jira_standin, since)[0], issue.id)
    assert "ticket.created" not in polled or polled["ticket.created"].time >= since  # facts before `since` stay out
    moved = polled["ticket.reassigned"]
    assert (moved.data["from"], moved.data["to"], moved.data["actor"]["id"]) == ("u02", "u01", "u01")


def test_pages_walk_by_offset_until_the_last(jira: Any, jira_standin: JiraStandin) -> None:  # noqa: F811
    since = datetime.now(UTC) - timedelta(milliseconds=10)
    made = [new_issue(jira, jira_standin.project_key) for _ in range(3)]
    results, tokens = poll(jira_standin, since, poll={"page_size": 2})
    assert tokens[-1] is None and tokens[0] == "2"
    keys = [r.key for r in results]
    assert len(keys) == len(set(keys)) and {i.id for i in made} <= set(keys)
    assert [r.updated for r in results] == sorted(r.updated for r in results)  # ORDER BY updated ASC


def test_a_stopped_server_is_retryable(jira_standin: JiraStandin) -> None:  # noqa: F811
    from tests.jira_standin import _free_port

    settings = JiraSettings(id="jira", vendor="jira", url=f"http://127.0.0.1:{_free_port()}", user="u01",
                            token="very-secret-token")
    cursor = Cursor(position=None, lower_bound=datetime.now(UTC), started=datetime.now(UTC))
    with pytest.raises(Retryable) as caught:
        CONNECTOR.fetch_page(CONNECTOR.client(settings), settings, cursor)
    assert caught.value.reason == "jira search: cannot reach the server (ConnectionError)"
    assert "very-secret-token" not in caught.value.reason


def test_one_bad_record_is_quarantined_and_the_page_goes_on(jira: Any, jira_standin: JiraStandin) -> None:  # noqa: F811
    since = datetime.now(UTC) - timedelta(seconds=1)
    settings = settings_for(jira_standin)
    page = CONNECTOR.fetch_page(CONNECTOR.client(settings), settings,
                                Cursor(position=None, lower_bound=since - timedelta(days=400), started=since))
    good = page.records[0]
    broken = json.loads(json.dumps(good))
    broken["issue"]["fields"]["updated"] = "not a time"
    results = CONNECTOR.parse_page(Page(records=[broken, good]), source=SOURCE)
    assert results[0].error is not None and results[0].error.reason.startswith("issue.fields.updated:")
    assert results[1].error is None and results[1].updated is not None


# --- one fact, by poll and by webhook, stored once (SQLite and PostgreSQL) ---

CONFIG = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - {id: jira, vendor: jira, secret: "${TEST_JIRA_SECRET:-jira-secret}", url: "URL", user: u01,
         token: "${TEST_JIRA_TOKEN:-standin-token}"}
    people:
      - {person: demo-2, identities: ["jira:id=u02"]}
"""


@pytest.fixture
def receiver(engine: Engine, db_url: str, jira_standin: JiraStandin) -> Iterator[Any]:  # noqa: F811
    from fastapi.testclient import TestClient

    from api import create_app
    from identity.sync import sync_people
    from tests.factories import make_config

    config = make_config(db_url, CONFIG.replace('"URL"', f'"{jira_standin.url}"'))
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client, config


def test_a_resolution_polled_and_then_sent_as_a_webhook_is_one_event(
    receiver: Any, engine: Engine, jira: Any, jira_standin: JiraStandin  # noqa: F811
) -> None:
    from intake.ingest import ingest_page
    from store.schema import events

    client, config = receiver
    since = datetime.now(UTC) - timedelta(seconds=1)
    issue = new_issue(jira, jira_standin.project_key, assignee={"name": "u02"})
    resolve(jira, issue)
    mine = [r for r in poll(jira_standin, since)[0] if r.key == issue.id]
    stored = ingest_page(engine, config.tenants[0], "jira", mine, position=datetime.now(UTC))
    assert (stored.accepted, stored.duplicate) == (2, 0)  # created and resolved
    body = json.dumps(webhook_of(jira, issue, status_history(jira, issue))).encode()
    answer = client.post("/webhooks/jira", content=body, headers={
        "Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": "delivery-1",
        "X-Hub-Signature": "sha256=" + hmac_sha256_hex(SECRET, body)})
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["accepted"], answer.json()["duplicate"]) == (0, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.event_id, events.c.type)).all()
    assert sorted(rows) == sorted([(f"{issue.id}:created", "ticket.created"),
                                   (f"{issue.id}:{status_history(jira, issue)['id']}", "ticket.resolved")])
    forged = client.post("/webhooks/jira", content=body, headers={"X-Hub-Signature": "sha256=" + "0" * 64})
    assert (forged.status_code, forged.json()) == (401, {"error": "signature mismatch"})

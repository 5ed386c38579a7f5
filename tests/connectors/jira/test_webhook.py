"""Jira webhooks over real mattermost-plugin-jira payloads (see fixtures/NOTICE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from connectors import ConnectorConfig, get_connector, polling_connector, webhook_connector
from connectors.base import ParseResult, PayloadError, VerificationError, WebhookRequest, hmac_sha256_hex
from connectors.jira import CONNECTOR, JiraSettings
from rules.events import CloudEvent

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "jira-webhook-secret"
SETTINGS = JiraSettings(id="jira", vendor="jira", secret=SECRET)
SOURCE = "/accolade/demo/jira"
DELIVERY = "b1c5a1e2-4e5c-4f0e-9a52-2f5d3c1e7a10"


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def payload(name: str) -> dict[str, Any]:
    return json.loads(body_of(name))


def request(body: bytes | dict[str, Any], *, secret: str | None = SECRET, delivery: str | None = DELIVERY,
            signature: str | None = None) -> WebhookRequest:
    """What Jira sends: the HMAC of the raw body in X-Hub-Signature, the delivery identifier."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Atlassian Webhook HTTP Client"}
    if secret is not None:
        headers["X-Hub-Signature"] = signature or "sha256=" + hmac_sha256_hex(secret, raw)
    if delivery is not None:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    return WebhookRequest(body=raw, headers=headers)


def parse(name_or_body: str | dict[str, Any], **kwargs: Any) -> ParseResult:
    body = payload(name_or_body) if isinstance(name_or_body, str) else name_or_body
    return CONNECTOR.parse(request(body, **kwargs), source=SOURCE)


def events(name: str) -> list[CloudEvent]:
    return parse(name).events


# --- registration and settings ---


def test_registered_as_one_connector_that_takes_webhooks_and_polls() -> None:
    assert get_connector("jira") is CONNECTOR
    assert webhook_connector("jira") is CONNECTOR and polling_connector("jira") is CONNECTOR


def test_config_union_reads_a_jira_entry() -> None:
    found = TypeAdapter(ConnectorConfig).validate_python(
        {"id": "jira", "vendor": "jira", "secret": "s", "url": "https://acme.atlassian.net/",
         "user": "bot@acme.example", "token": "t", "jql": "project = ACME", "poll": {"every": "2m"}})
    assert isinstance(found, JiraSettings)
    assert (found.url, found.poll.every.total_seconds()) == ("https://acme.atlassian.net", 120)
    assert CONNECTOR.polls(found) and not CONNECTOR.polls(SETTINGS)


@pytest.mark.parametrize(("fields", "problem"), [
    ({"url": "https://acme.atlassian.net"}, "url is set but token is empty"),
    ({"url": "https://acme.atlassian.net", "token": ""}, "url is set but token is empty"),
    ({"url": "acme.atlassian.net", "token": "t"}, "must start with http:// or https://"),
    ({"jql": "project = ACME ORDER BY created"}, "leave out ORDER BY"),
])
def test_settings_refuse_what_cannot_poll(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        JiraSettings.model_validate({"id": "jira", "vendor": "jira", **fields})
    assert problem in str(caught.value)


DEMO_ENTRY = """      - id: jira
        vendor: jira
        secret: "${JIRA_WEBHOOK_SECRET:-demo-jira-secret}"
        url: "${JIRA_URL:-}"
        user: "${JIRA_USER:-}"
        token: "${JIRA_TOKEN:-}"
"""


def _config(entry: str, env: dict[str, str]) -> Any:
    from config import parse_config

    text = f"""store: {{url: "sqlite:///x.db"}}
tenants:
  - id: demo
    api_keys: ["${{K:-k}}"]
    connectors:
{entry}"""
    return parse_config(text, file="a.yaml", env=env)


def test_the_demo_entry_takes_webhooks_and_polls_only_once_its_url_is_set() -> None:
    [off] = _config(DEMO_ENTRY, {}).tenants[0].connectors
    assert isinstance(off, JiraSettings) and not CONNECTOR.polls(off)
    assert off.secret is not None and off.secret.get_secret_value() == "demo-jira-secret"
    [on] = _config(DEMO_ENTRY, {"JIRA_URL": "https://acme.atlassian.net", "JIRA_USER": "bot@acme.example",
                                "JIRA_TOKEN": "t"}).tenants[0].connectors
    assert CONNECTOR.polls(on) and on.user == "bot@acme.example"


@pytest.mark.parametrize(("env", "entry", "problem"), [
    ({"JIRA_URL": "https://acme.atlassian.net"}, DEMO_ENTRY,
     "a.yaml:11: tenants[0].connectors[0].token: url is set but token is empty: polling needs an API token"),
    ({}, "      - {id: jira, vendor: jira, secret: plain}\n",
     "a.yaml:6: tenants[0].connectors[0].secret: secrets may only be ${ENV} references"),
    ({}, "      - {id: jira, vendor: jira, jql: 'project = A ORDER BY key'}\n",
     "a.yaml:6: tenants[0].connectors[0].jql: leave out ORDER BY"),
])
def test_config_check_names_the_line_and_field_of_a_bad_jira_entry(
    env: dict[str, str], entry: str, problem: str
) -> None:
    from config import ConfigError

    with pytest.raises(ConfigError) as caught:
        _config(entry, env)
    assert str(caught.value).startswith(problem)


# --- verification ---


def test_verify_accepts_the_hmac_of_the_raw_body() -> None:
    CONNECTOR.verify(request(body_of("jira_issue_updated/01-resolved.json")), SETTINGS)


@pytest.mark.parametrize(("req", "reason"), [
    (request(b"{}", secret="another-secret"), "signature mismatch"),
    (request(b"{}", secret=None), "missing X-Hub-Signature header"),
    (request(b"{}", signature="sha1=abc"), "malformed X-Hub-Signature header, expected sha256=<hex>"),
])
def test_verify_refuses_a_bad_signature_without_leaking_the_secret(req: WebhookRequest, reason: str) -> None:
    with pytest.raises(VerificationError) as caught:
        CONNECTOR.verify(req, SETTINGS)
    assert caught.value.reason == reason and SECRET not in caught.value.reason


@pytest.mark.parametrize("secret", [None, ""])
def test_an_instance_without_a_secret_refuses_every_webhook(secret: str | None) -> None:
    settings = JiraSettings(id="jira", vendor="jira", secret=None if secret is None else SecretStr(secret),
                            url="http://127.0.0.1:9", token="t")
    with pytest.raises(VerificationError, match="^no webhook secret configured$"):
        CONNECTOR.verify(request(b"{}", secret="anything"), settings)


# --- mapping, fixture by fixture ---


def test_created_is_the_reporters_and_ignores_the_creation_changelog() -> None:
    [made] = events("jira_issue_created/01-issue-created.json")
    assert (made.type, made.id, made.subject) == ("ticket.created", "10040:created", "TES-41")
    assert made.data["actor"] == {"system": "jira", "id": "5c5f880629be9642ba529340", "login": "admin",
                                  "email": "some-instance-test@gmail.com"}
    assert {k: made.data[k] for k in ("ticket", "project", "issue_type", "priority", "labels")} == {
        "ticket": "TES-41", "project": "TES", "issue_type": "Story", "priority": "High", "labels": ["test-label"]}
    assert made.model_dump()["accoladedelivery"] == DELIVERY


def test_resolution_by_cloud_is_credited_to_the_changer_when_nobody_is_assigned() -> None:
    [done] = events("jira_issue_updated/01-resolved.json")
    assert (done.type, done.id) == ("ticket.resolved", "10040:10228")
    assert done.data["actor"]["id"] == "5c5f880629be9642ba529340"  # the webhook's user
    assert done.data["resolution"] == "Done"
    assert done.data["changes"] == [
        {"issue": "10040", "field": "resolution", "from": None, "to": "10000", "time": "2019-02-16T03:15:40.477000Z"},
        {"issue": "10040", "field": "status", "from": "3", "to": "10002", "time": "2019-02-16T03:15:40.477000Z"}]


def test_resolution_goes_to_the_assignee_at_that_moment() -> None:
    body = payload("jira_issue_updated/02-server-resolved.json")
    body["issue"]["fields"]["assignee"] = {"name": "jdoe", "key": "JIRAUSER10100", "emailAddress": "j@example.com"}
    [done] = parse(body).events
    assert (done.id, done.data["actor"]) == ("10300:10414", {
        "system": "jira", "id": "JIRAUSER10100", "login": "jdoe", "email": "j@example.com"})


def test_a_status_moved_into_done_without_a_resolution_is_resolved() -> None:
    [done] = events("jira_issue_updated/03-server-closed.json")
    assert (done.type, done.id, done.data["actor"]["id"]) == ("ticket.resolved", "10300:10511", "admin")


@pytest.mark.parametrize("name", ["04-reopened.json", "09-server-comment-edited.json", "11-labels.json",
                                  "12-started-working.json"])
def test_updates_that_are_no_fact_we_map_are_acknowledged_with_a_reason(name: str) -> None:
    result = parse(f"jira_issue_updated/{name}")
    assert result.events == [] and result.ignored == "jira:issue_updated: no resolution, reassignment or new comment"


def test_reassignment_carries_from_and_to_ids_and_is_the_new_assignees() -> None:
    [moved] = events("jira_issue_updated/05-assigned.json")
    assert (moved.type, moved.id) == ("ticket.reassigned", "10040:10230")
    assert (moved.data.get("from"), moved.data["to"]) == (None, "admin")  # None is left out of data
    assert moved.data["actor"]["id"] == "5c5f880629be9642ba529340"  # the assignee, matched on key
    [unassigned] = events("jira_issue_updated/07-assigned-nobody.json")
    assert (unassigned.data["from"], unassigned.data.get("to")) == ("admin", None)
    assert "Test User" not in json.dumps(moved.data) + json.dumps(unassigned.data)  # ids, never names


def test_a_comment_is_one_fact_whether_it_comes_as_comment_created_or_inside_issue_updated() -> None:
    [alone] = events("comment_created/02-server-comment-created.json")
    [inside] = events("jira_issue_updated/08-server-commented.json")
    [old_server] = events("jira_issue_updated/10-server-old-commented.json")
    assert alone.id == inside.id == old_server.id == "10013:comment:10082"
    assert alone.type == "ticket.commented" and alone.data["actor"]["id"] == "levbrouk"
    assert inside.data["ticket"] is not None and "ticket" not in alone.data  # DC's comment hook has no issue


@pytest.mark.parametrize(("name", "event"), [
    ("jira_issue_deleted/01-issue-deleted.json", "jira:issue_deleted"),
    ("comment_updated/01-cloud-comment-updated.json", "comment_updated"),
    ("comment_deleted/02-server-comment-deleted.json", "comment_deleted"),
])
def test_declared_ignored_events_are_acknowledged(name: str, event: str) -> None:
    result = parse(name)
    assert (result.events, result.ignored, result.event_name) == ([], f"event {event} is ignored", event)
    assert event in CONNECTOR.ignored_events


def test_an_unknown_event_is_reported_as_not_mapped() -> None:
    result = parse({"webhookEvent": "worklog_created", "timestamp": 1})
    assert result.ignored == "event worklog_created is not mapped"


def test_id_is_the_fact_across_retries_and_replays_under_new_delivery_ids() -> None:
    first = events("jira_issue_updated/01-resolved.json")[0]
    again = parse("jira_issue_updated/01-resolved.json", delivery="another-delivery").events[0]
    assert first.id == again.id and again.model_dump()["accoladedelivery"] == "another-delivery"


# --- bad input ---


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"[]", 400, "invalid JSON: body must be an object, got list"),
    (b"{", 400, "invalid JSON"),
    (b"{}", 422, "webhookEvent is missing: not a Jira webhook body"),
])
def test_a_body_that_is_no_jira_webhook_is_refused(body: bytes, status: int, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        CONNECTOR.parse(request(body), source=SOURCE)
    assert caught.value.status == status and caught.value.reason.startswith(reason)


@pytest.mark.parametrize(("name", "edit", "reason"), [
    ("jira_issue_created/01-issue-created.json", lambda b: b.pop("issue"), "issue is missing"),
    ("jira_issue_created/01-issue-created.json", lambda b: b["issue"].pop("id"), "issue.id is missing"),
    ("jira_issue_created/01-issue-created.json", lambda b: b["issue"]["fields"].pop("created"),
     "issue.fields.created is missing"),
    ("jira_issue_updated/01-resolved.json", lambda b: b["issue"]["fields"].update(labels="x"),
     "issue.fields.labels: Input should be a valid list"),
    ("jira_issue_updated/01-resolved.json", lambda b: b["changelog"].pop("id"), "changelog.id is missing"),
    ("comment_created/02-server-comment-created.json", lambda b: b.pop("comment"), "comment is missing"),
])
def test_a_mapped_event_missing_a_field_is_422_naming_it(name: str, edit: Any, reason: str) -> None:
    body = payload(name)
    edit(body)
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert (caught.value.status, caught.value.reason) == (422, reason)

"""GitLab connector over real go-gitlab payloads (see fixtures/NOTICE.md)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from connectors import get_connector
from connectors.base import ParseResult, PayloadError, VerificationError, WebhookRequest
from connectors.gitlab import CONNECTOR, GitLabSettings
from rules.events import CloudEvent

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "glpat-not-really-a-token"
SETTINGS = GitLabSettings(id="gitlab", vendor="gitlab", token=TOKEN)
SOURCE = "/accolade/demo/gitlab"
UUID = "7bc4a4c6-a0e4-4fc1-a2d7-4a4d0c0b3f11"
EVENTS = {"pipeline_hook": "Pipeline Hook", "merge_request_hook": "Merge Request Hook",
          "deployment_hook": "Deployment Hook", "issue_hook": "Issue Hook",
          "confidential_issue_hook": "Confidential Issue Hook"}
MAPPED = {  # fixture → the event id it maps to
    "pipeline_hook/00-pipeline-success.json": "pipeline:31:success",
    "pipeline_hook/edited-pipeline-failed.json": "pipeline:31:failed",
    "merge_request_hook/edited-merge_request-merge.json": "merge_request:99:merged",
    "deployment_hook/00-deployment-success.json": "deployment:15:success",
    "deployment_hook/edited-deployment-failed.json": "deployment:15:failed",
    "deployment_hook/edited-deployment-canceled.json": "deployment:15:canceled",
    "issue_hook/edited-issue-close.json": "issue:301:closed:2017-09-15T16:56:00Z",
    "confidential_issue_hook/edited-confidential_issue-close.json": "issue:301:closed:2017-09-15T16:56:00Z",
}


def headers(event: str | None, *, token: str | None = TOKEN, uuid: str | None = UUID,
            idempotency: str | None = None) -> dict[str, str]:
    """What GitLab sends with a delivery (docs: "Delivery headers")."""
    found = {"Content-Type": "application/json", "User-Agent": "GitLab/17.6.0",
             "X-Gitlab-Instance": "https://gitlab.example.com",
             "X-Gitlab-Webhook-UUID": "0ad4c3f2-6b7e-4d0e-9d1b-2b0f6d3c1a55",
             "X-Gitlab-Event": event, "X-Gitlab-Token": token, "X-Gitlab-Event-UUID": uuid,
             "Idempotency-Key": idempotency}
    return {k: v for k, v in found.items() if v is not None}


def request(name: str, body: bytes | dict[str, Any] | None = None, **kwargs: Any) -> WebhookRequest:
    path = FIXTURES / name
    raw = path.read_bytes() if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(body=raw, headers=headers(EVENTS.get(path.parent.name, "Push Hook"), **kwargs))


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def parse(req: WebhookRequest) -> ParseResult:
    return CONNECTOR.parse(req, source=SOURCE)


def only_event(result: ParseResult) -> CloudEvent:
    assert result.ignored is None and len(result.events) == 1
    return result.events[0]


# --- settings and verification ---


def test_registered_as_gitlab_vendor_with_a_required_token() -> None:
    assert get_connector("gitlab") is CONNECTOR
    with pytest.raises(ValidationError, match="is empty"):
        GitLabSettings(id="gitlab", vendor="gitlab", token="")
    with pytest.raises(ValidationError, match="token"):
        GitLabSettings(id="gitlab", vendor="gitlab")  # type: ignore[call-arg]
    assert TOKEN not in repr(SETTINGS)


@pytest.mark.parametrize(("entry", "problem"), [
    ("{id: gitlab, vendor: gitlab}", "a.yaml:6: tenants[0].connectors[0].token: Field required"),
    ("{id: gitlab, vendor: gitlab, token: plain}",
     "a.yaml:6: tenants[0].connectors[0].token: secrets may only be ${ENV} references"),
    ('{id: gitlab, vendor: gitlab, token: "${T:-t}", secret: "${S:-s}"}',
     "a.yaml:6: tenants[0].connectors[0].secret: Extra inputs are not permitted"),
])
def test_config_check_names_the_line_and_field_of_a_bad_gitlab_entry(entry: str, problem: str) -> None:
    from config import ConfigError, parse_config

    text = f"""store: {{url: "sqlite:///x.db"}}
tenants:
  - id: demo
    api_keys: ["${{K:-k}}"]
    connectors:
      - {entry}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="a.yaml", env={})
    assert str(caught.value).startswith(problem)


def test_demo_default_token_is_a_reference_with_a_default() -> None:
    from config import parse_config

    text = """store: {url: "sqlite:///x.db"}
tenants:
  - id: demo
    api_keys: ["${K:-k}"]
    connectors:
      - {id: gitlab, vendor: gitlab, token: "${GITLAB_WEBHOOK_TOKEN:-demo-gitlab-token}"}
"""
    [settings] = parse_config(text, file="a.yaml", env={}).tenants[0].connectors
    assert isinstance(settings, GitLabSettings) and settings.token.get_secret_value() == "demo-gitlab-token"


def test_verify_accepts_the_configured_token() -> None:
    CONNECTOR.verify(request("push_hook/00-push.json"), SETTINGS)


@pytest.mark.parametrize(("token", "reason"), [
    (None, "missing X-Gitlab-Token header"),
    ("wrong", "token mismatch"),
    ("", "token mismatch"),
    (TOKEN + " ", "token mismatch"),
    (TOKEN[:-1], "token mismatch"),
    ("jeton-été-☃", "token mismatch"),  # not ASCII: refused, never a TypeError
])
def test_verify_rejects_a_missing_or_wrong_token_without_leaking_it(token: str | None, reason: str) -> None:
    with pytest.raises(VerificationError) as caught:
        CONNECTOR.verify(request("push_hook/00-push.json", token=token), SETTINGS)
    assert caught.value.reason == reason
    assert TOKEN not in str(caught.value) and TOKEN[:8] not in caught.value.reason


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("connectors.base.hmac.compare_digest", spy)  # verify_shared_secret
    with pytest.raises(VerificationError):
        CONNECTOR.verify(request("push_hook/00-push.json", token="wrong"), SETTINGS)
    CONNECTOR.verify(request("push_hook/00-push.json"), SETTINGS)
    assert calls == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_delivery_id_prefers_idempotency_key_over_event_uuid() -> None:
    name = "push_hook/00-push.json"
    assert CONNECTOR.delivery_id(request(name, idempotency="idem-1")) == "idem-1"
    assert CONNECTOR.delivery_id(request(name)) == UUID
    assert CONNECTOR.delivery_id(request(name, uuid=None)) is None


# --- mapping ---


def test_pipeline_success_is_a_completed_pipeline_by_its_user() -> None:
    event = only_event(parse(request("pipeline_hook/00-pipeline-success.json")))
    assert (event.id, event.type, event.source) == ("pipeline:31:success", "ci.pipeline.completed", SOURCE)
    assert event.time == datetime(2016, 8, 12, 15, 26, 29, tzinfo=UTC)  # finished_at, "… UTC"
    assert event.subject == "gitlab-org/gitlab-test/-/pipelines/31"
    assert event.accoladedelivery == UUID
    assert event.data["actor"] == {"system": "gitlab", "id": "42", "login": "user1",
                                   "email": "user1@example.com"}
    assert {k: event.data[k] for k in ("outcome", "status", "project", "ref")} == {
        "outcome": "success", "status": "success", "project": "gitlab-org/gitlab-test", "ref": "master"}


def test_pipeline_failed_has_the_failure_outcome() -> None:
    event = only_event(parse(request("pipeline_hook/edited-pipeline-failed.json")))
    assert (event.id, event.data["outcome"], event.data["status"]) == ("pipeline:31:failed", "failure", "failed")


def test_pipeline_still_running_is_ignored_with_a_reason() -> None:
    result = parse(request("pipeline_hook/edited-pipeline-running.json"))
    assert result.events == [] and result.ignored == "pipeline status running is not mapped (success, failed)"


def test_merge_is_credited_to_the_author_not_the_merger() -> None:
    event = only_event(parse(request("merge_request_hook/edited-merge_request-merge.json")))
    assert (event.id, event.type) == ("merge_request:99:merged", "code.change.merged")
    assert event.data["actor"] == {"system": "gitlab", "id": "51"}  # author_id; user 1 pressed merge
    assert event.data["merged_by"]["id"] == "1"
    assert (event.data["base_branch"], event.data["project"], event.data["number"]) == (
        "master", "gitlabhq/gitlab-test", 1)


def test_merge_by_the_author_adds_the_authors_login() -> None:
    body = payload("merge_request_hook/edited-merge_request-merge.json")
    body["user"]["id"] = 51
    event = only_event(parse(request("merge_request_hook/edited-merge_request-merge.json", body)))
    assert event.data["actor"] == {"system": "gitlab", "id": "51", "login": "user1"}


@pytest.mark.parametrize(("name", "action"), [
    ("merge_request_hook/00-merge_request-open.json", "open"),
    ("merge_request_hook/02-service_merge_request-update.json", "update")])
def test_other_merge_request_actions_are_ignored(name: str, action: str) -> None:
    assert parse(request(name)).ignored == f"merge_request action {action} is not mapped"


def test_real_merge_sample_without_author_is_422_naming_the_field() -> None:
    # go-gitlab's group sample has keys with trailing spaces ("author_id "): no author is readable
    with pytest.raises(PayloadError) as caught:
        parse(request("merge_request_hook/01-group_merge_request-merge.json"))
    assert (caught.value.status, caught.value.reason) == (422, "object_attributes.author_id is missing")


@pytest.mark.parametrize(("name", "status", "outcome"), [
    ("00-deployment-success.json", "success", "success"),
    ("edited-deployment-failed.json", "failed", "failure"),
    ("edited-deployment-canceled.json", "canceled", "cancelled")])
def test_finished_deployments_are_completed_with_their_outcome(name: str, status: str, outcome: str) -> None:
    event = only_event(parse(request(f"deployment_hook/{name}")))
    assert (event.id, event.type) == (f"deployment:15:{status}", "deploy.completed")
    assert event.time == datetime(2021, 4, 28, 19, 50, tzinfo=UTC)  # "21:50:00 +0200"
    assert (event.data["outcome"], event.data["status"], event.data["environment"]) == (outcome, status, "staging")
    assert event.data["actor"]["id"] == "42"


@pytest.mark.parametrize("status", ["running", "created"])
def test_unfinished_deployments_are_ignored_and_listed(status: str) -> None:
    result = parse(request(f"deployment_hook/edited-deployment-{status}.json"))
    assert result.events == []
    assert result.ignored == f"deployment status {status} is not mapped (success, failed, canceled)"


def test_deployment_from_an_older_gitlab_without_its_id_is_422() -> None:
    with pytest.raises(PayloadError, match="^deployment_id is missing$"):
        parse(request("deployment_hook/01-deployment-success-debian.json"))


@pytest.mark.parametrize("name", ["issue_hook/edited-issue-close.json",
                                  "confidential_issue_hook/edited-confidential_issue-close.json"])
def test_closed_issue_is_a_resolved_ticket(name: str) -> None:
    event = only_event(parse(request(name)))
    assert (event.id, event.type) == ("issue:301:closed:2017-09-15T16:56:00Z", "ticket.resolved")
    assert event.data["actor"]["login"] == "root"  # who closed it
    assert (event.data["ticket"], event.data["project"], event.data["labels"]) == (
        "gitlabhq/gitlab-test#23", "gitlabhq/gitlab-test", ["API"])
    assert event.data["assignees"] == [{"system": "gitlab", "login": "user1"}]


def test_opened_issue_is_ignored() -> None:
    assert parse(request("issue_hook/00-issue-open.json")).ignored == "issue action open is not mapped"


IGNORED = {"push_hook": "Push Hook", "tag_push_hook": "Tag Push Hook", "note_hook": "Note Hook",
           "job_hook": "Job Hook", "wiki_page_hook": "Wiki Page Hook", "release_hook": "Release Hook"}


@pytest.mark.parametrize("path", sorted(p for p in FIXTURES.glob("*/*.json") if p.parent.name in IGNORED),
                         ids=lambda p: p.name)
def test_ignored_events_are_acknowledged_with_a_reason(path: Path) -> None:
    event = IGNORED[path.parent.name]
    result = parse(WebhookRequest(body=path.read_bytes(), headers=headers(event)))
    assert (result.events, result.ignored) == ([], f"event {event} is not mapped")


def test_ignored_events_are_the_declared_ones() -> None:
    assert set(CONNECTOR.ignored_events) == set(IGNORED.values())
    assert set(CONNECTOR.mapped_events) == set(EVENTS.values())


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_redacted_email_is_never_an_email(name: str) -> None:
    text = (FIXTURES / name).read_text()
    body = json.loads(text.replace('@example.com"', '@example.com-x"'))
    for user in (body.get("user"), *(body.get("assignees") or [])):
        if user is not None:
            user["email"] = "[REDACTED]"
    event = only_event(parse(request(name, body)))
    assert "[REDACTED]" not in json.dumps(event.to_json_dict())
    assert "email" not in event.data["actor"]


@pytest.mark.parametrize(("name", "expected"), sorted(MAPPED.items()))
def test_id_is_the_fact_across_redeliveries_under_new_uuids(name: str, expected: str) -> None:
    first = only_event(parse(request(name, uuid="uuid-1")))
    again = only_event(parse(request(name, uuid="uuid-2")))
    retry = only_event(parse(request(name, uuid="uuid-3", idempotency="idem-9")))
    assert first.id == again.id == retry.id == expected
    assert (first.accoladedelivery, again.accoladedelivery, retry.accoladedelivery) == ("uuid-1", "uuid-2", "idem-9")


def test_a_reclosed_issue_is_a_new_fact() -> None:
    body = payload("issue_hook/edited-issue-close.json")
    body["object_attributes"]["closed_at"] = "2018-01-02T03:04:05+01:00"
    event = only_event(parse(request("issue_hook/edited-issue-close.json", body)))
    assert event.id == "issue:301:closed:2018-01-02T02:04:05Z"


# --- bad input ---


def test_missing_event_header_is_400() -> None:
    req = WebhookRequest(body=b"{}", headers={"X-Gitlab-Token": TOKEN})
    with pytest.raises(PayloadError) as caught:
        parse(req)
    assert (caught.value.status, caught.value.reason) == (400, "missing X-Gitlab-Event header")


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(request("pipeline_hook/00-pipeline-success.json", body))
    assert caught.value.status == 400 and caught.value.reason.startswith("invalid JSON")


@pytest.mark.parametrize(("name", "edit", "reason"), [
    ("pipeline_hook/00-pipeline-success.json", lambda b: b.pop("object_attributes"),
     "object_attributes is missing"),
    ("pipeline_hook/00-pipeline-success.json", lambda b: b["object_attributes"].update(id="31"),
     "object_attributes.id: an id must be an integer"),
    ("pipeline_hook/00-pipeline-success.json", lambda b: b.pop("user"),
     "user (a user with id or username) is missing"),
    ("pipeline_hook/00-pipeline-success.json", lambda b: b["object_attributes"].update(finished_at=5),
     "object_attributes.finished_at: a time must be a string"),
    ("deployment_hook/00-deployment-success.json", lambda b: b.pop("status_changed_at"),
     "status_changed_at is missing"),
    ("issue_hook/edited-issue-close.json", lambda b: b["object_attributes"].pop("id"),
     "object_attributes.id is missing"),
])
def test_a_mapped_event_missing_or_mistyping_a_field_is_422_naming_it(name: str, edit: Any, reason: str) -> None:
    body = payload(name)
    edit(body)
    with pytest.raises(PayloadError) as caught:
        parse(request(name, body))
    assert (caught.value.status, caught.value.reason) == (422, reason)


# --- through the receiver, on SQLite and PostgreSQL ---

GITLAB_CONFIG = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - {id: gitlab, vendor: gitlab, token: "${TEST_GITLAB_TOKEN:-glpat-not-really-a-token}"}
    people:
      - {person: demo-1, identities: ["gitlab:id=42"]}
"""


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    from api import create_app
    from identity.sync import sync_people
    from tests.factories import make_config

    config = make_config(db_url, GITLAB_CONFIG)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client


def test_receiver_stores_a_gitlab_pipeline_once_and_refuses_a_wrong_token(
    client: TestClient, engine: Engine
) -> None:
    from store.schema import event_queue, events, quarantine

    body = (FIXTURES / "pipeline_hook" / "00-pipeline-success.json").read_bytes()
    forged = client.post("/webhooks/gitlab", content=body, headers=headers("Pipeline Hook", token="nope"))
    assert (forged.status_code, forged.json()) == (401, {"error": "token mismatch"})
    answers = [client.post("/webhooks/gitlab", content=body, headers=headers("Pipeline Hook", uuid=f"u-{n}"))
               for n in range(3)]
    assert [(a.status_code, a.json()["accepted"], a.json()["duplicate"]) for a in answers] == [
        (200, 1, 0), (200, 0, 1), (200, 0, 1)]
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.event_id, events.c.type, events.c.body)).all()
        queued = conn.execute(select(func.count()).select_from(event_queue)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
    assert [(r.event_id, r.type, r.body["accoladedelivery"]) for r in rows] == [
        ("pipeline:31:success", "ci.pipeline.completed", "u-0")]
    assert (queued, quarantined) == (1, 0)  # gitlab:id=42 is linked to demo-1: routed, not parked


def test_receiver_quarantines_an_unusable_gitlab_delivery_without_its_token(
    client: TestClient, engine: Engine
) -> None:
    from store.schema import events, quarantine

    body = (FIXTURES / "deployment_hook" / "01-deployment-success-debian.json").read_bytes()
    answer = client.post("/webhooks/gitlab", content=body,
                         headers=headers("Deployment Hook", idempotency="idem-q"))
    assert answer.status_code == 422 and "deployment_id is missing" in answer.text
    with engine.connect() as conn:
        row = conn.execute(select(quarantine)).one()
        stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
    assert (row.channel, row.delivery_id, row.reason, stored) == (
        "gitlab", "idem-q", "deployment_id is missing", 0)
    assert {k.lower() for k in row.headers} >= {"x-gitlab-event"}
    assert TOKEN not in json.dumps(row.headers) and "x-gitlab-token" not in {k.lower() for k in row.headers}

"""GitHub connector over real octokit payloads (see fixtures/NOTICE.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from connectors import get_connector
from connectors.base import (
    ParseResult,
    PayloadError,
    VerificationError,
    WebhookRequest,
    hmac_sha256_hex,
)
from connectors.github import CONNECTOR, MAPPED_EVENTS, GitHubSettings, GitHubWebhook
from rules.events import CloudEvent

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "It's a Secret to Everybody"
SETTINGS = GitHubSettings(id="github", vendor="github", secret=SECRET)
SOURCE = "/accolade/demo/github"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
ALL_FIXTURES = sorted(FIXTURES.rglob("*.json"))


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def request(
    event: str | None,
    body: bytes | dict[str, Any],
    *,
    delivery: str | None = DELIVERY,
    secret: str = SECRET,
    extra: dict[str, str] | None = None,
) -> WebhookRequest:
    """A delivery with the headers GitHub sends (openapi-webhooks delivery-headers.json)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "User-Agent": "GitHub-Hookshot/123abc",
        "Content-Type": "application/json",
        "X-GitHub-Hook-ID": "12312312",
        "X-GitHub-Hook-Installation-Target-ID": "123123",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(secret, raw),
    }
    if event is not None:
        headers["X-GitHub-Event"] = event
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    headers.update(extra or {})
    return WebhookRequest(body=raw, headers=headers)


def fixture_request(name: str, **kwargs: Any) -> WebhookRequest:
    path = FIXTURES / name
    return request(path.parent.name, path.read_bytes(), **kwargs)


def parse(req: WebhookRequest) -> ParseResult:
    return CONNECTOR.parse(req, source=SOURCE)


def only_event(result: ParseResult) -> CloudEvent:
    assert result.ignored is None and result.dropped == 0
    assert len(result.events) == 1
    return result.events[0]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- registration and protocol ---


def test_registered_as_github_vendor() -> None:
    assert isinstance(CONNECTOR, GitHubWebhook)
    assert CONNECTOR.vendor == "github"
    assert get_connector("github") is CONNECTOR
    assert set(MAPPED_EVENTS) == {
        "workflow_run",
        "deployment_status",
        "pull_request",
        "pull_request_review",
        "issues",
    }


# --- verification ---


def test_verify_accepts_the_signed_raw_body() -> None:
    CONNECTOR.verify(fixture_request("workflow_run/01-completed.json"), SETTINGS)


def test_verify_accepts_upper_case_hex() -> None:
    req = fixture_request("ping/00-noaction.json")
    header = req.header("X-Hub-Signature-256")
    assert header is not None
    upper = WebhookRequest(req.body, {**req.headers, "x-hub-signature-256": header.upper()})
    CONNECTOR.verify(upper, SETTINGS)


def test_verify_rejects_wrong_secret_without_leaking() -> None:
    req = fixture_request("workflow_run/01-completed.json", secret="not the secret")
    with pytest.raises(VerificationError) as info:
        CONNECTOR.verify(req, SETTINGS)
    reason = info.value.reason
    assert reason == "signature mismatch"
    assert SECRET not in reason
    assert hmac_sha256_hex(SECRET, req.body) not in reason
    assert hmac_sha256_hex("not the secret", req.body) not in str(info.value)


def test_verify_rejects_tampered_body() -> None:
    req = fixture_request("workflow_run/01-completed.json")
    tampered = WebhookRequest(req.body.replace(b'"success"', b'"failure"'), req.headers)
    with pytest.raises(VerificationError, match="signature mismatch"):
        CONNECTOR.verify(tampered, SETTINGS)


def test_verify_rejects_missing_signature() -> None:
    req = fixture_request("ping/00-noaction.json")
    headers = {k: v for k, v in req.headers.items() if k != "x-hub-signature-256"}
    with pytest.raises(VerificationError, match="missing X-Hub-Signature-256"):
        CONNECTOR.verify(WebhookRequest(req.body, headers), SETTINGS)


def test_verify_refuses_legacy_sha1_signature() -> None:
    req = fixture_request("ping/00-noaction.json")
    headers = {k: v for k, v in req.headers.items() if k != "x-hub-signature-256"}
    headers["X-Hub-Signature"] = "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6"
    with pytest.raises(VerificationError, match="SHA-1 X-Hub-Signature is not accepted"):
        CONNECTOR.verify(WebhookRequest(req.body, headers), SETTINGS)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        "sha256",
        "sha1=" + "a" * 40,
        "sha256=" + "a" * 63,
        "sha256=" + "a" * 65,
        "sha256=" + "g" * 64,
        "a" * 64,
        "sha256=" + "a" * 32 + " " + "a" * 31,
    ],
)
def test_verify_rejects_malformed_signature(header: str) -> None:
    req = fixture_request("ping/00-noaction.json")
    bad = WebhookRequest(req.body, {**req.headers, "x-hub-signature-256": header})
    with pytest.raises(VerificationError, match="malformed X-Hub-Signature-256") as info:
        CONNECTOR.verify(bad, SETTINGS)
    assert SECRET not in info.value.reason
    assert hmac_sha256_hex(SECRET, req.body) not in info.value.reason


def test_verify_refuses_an_empty_secret() -> None:
    req = fixture_request("ping/00-noaction.json", secret="")
    with pytest.raises(VerificationError, match="no webhook secret"):
        CONNECTOR.verify(req, GitHubSettings.model_construct(id="github", vendor="github", secret=SecretStr("")))


def test_delivery_id_is_the_header_verbatim() -> None:
    assert CONNECTOR.delivery_id(fixture_request("ping/00-noaction.json")) == DELIVERY
    no_header = fixture_request("ping/00-noaction.json", delivery=None)
    assert CONNECTOR.delivery_id(no_header) is None
    blank = fixture_request("ping/00-noaction.json", delivery="  ")
    assert CONNECTOR.delivery_id(blank) is None


# --- mapped events over real payloads ---


def test_workflow_run_completed() -> None:
    result = parse(fixture_request("workflow_run/01-completed.json"))
    assert result.event_name == "workflow_run"
    event = only_event(result)
    assert event.type == "ci.pipeline.completed"
    assert (event.id, event.accoladedelivery) == ("workflow_run:289782451:1:success", DELIVERY)  # the fact; the delivery beside it
    assert event.source == SOURCE
    assert event.time == datetime(2020, 10, 5, 16, 33, 49, tzinfo=UTC)
    assert event.time.tzinfo is not None
    assert event.subject == "octo-org/octo-repo/actions/runs/289782451"
    assert event.data["actor"] == {"system": "github", "id": "15669918", "login": "Codertocat"}
    assert event.actor.keys()[0] == ("github", "id", "15669918")
    assert event.data["outcome"] == "success"
    assert event.data["repository"] == "octo-org/octo-repo"
    assert event.data["workflow"] == "test"  # run name is "" in this payload: workflow.name
    assert event.data["branch"] == "master"
    assert event.data["run_id"] == 289782451
    assert event.data["run_attempt"] == 1
    assert event.data["html_url"] == "https://github.com/octo-org/octo-repo/actions/runs/289782451"


def test_workflow_run_completed_without_conclusion_is_dropped() -> None:
    result = parse(fixture_request("workflow_run/00-completed.json"))
    assert result.events == []
    assert result.dropped == 1
    assert result.ignored == "workflow_run completed without a conclusion"
    assert result.event_name == "workflow_run"


@pytest.mark.parametrize("name", ["03-requested.json", "04-requested.json"])
def test_workflow_run_other_actions_are_ignored(name: str) -> None:
    result = parse(fixture_request(f"workflow_run/{name}"))
    assert result.events == [] and result.dropped == 0
    assert result.ignored == "workflow_run action requested is not mapped"


def test_workflow_run_actor_falls_back_to_sender() -> None:
    body = payload("workflow_run/01-completed.json")
    del body["workflow_run"]["actor"]
    body["sender"]["id"], body["sender"]["login"] = 583231, "octocat"
    event = only_event(parse(request("workflow_run", body)))
    assert event.data["actor"] == {"system": "github", "id": "583231", "login": "octocat"}


def test_workflow_run_failure_and_email() -> None:
    body = payload("workflow_run/01-completed.json")
    body["workflow_run"]["conclusion"] = "failure"
    body["workflow_run"]["actor"]["email"] = "codertocat@example.com"
    event = only_event(parse(request("workflow_run", body)))
    assert event.data["outcome"] == "failure"
    assert event.data["actor"]["email"] == "codertocat@example.com"


def test_deployment_status_success() -> None:
    result = parse(fixture_request("deployment_status/00-created.json"))
    event = only_event(result)
    assert result.event_name == "deployment_status"
    assert event.type == "deploy.completed"
    assert (event.id, event.accoladedelivery) == ("deployment_status:209916254:success", DELIVERY)  # the fact; the delivery beside it
    assert event.time == at("2019-05-15T15:20:55Z")
    assert event.data["actor"] == {"system": "github", "id": "21031067", "login": "Codertocat"}
    assert event.data["outcome"] == "success"
    assert event.data["environment"] == "production"
    assert event.data["repository"] == "Codertocat/Hello-World"
    assert event.subject == "Codertocat/Hello-World/deployments/145988746"


@pytest.mark.parametrize("state", ["failure", "error", "FAILURE"])
def test_deployment_status_failure_states(state: str) -> None:
    body = payload("deployment_status/03-created.json")
    body["deployment_status"]["state"] = state
    event = only_event(parse(request("deployment_status", body)))
    assert event.data["outcome"] == state.lower()


def test_deployment_status_in_progress_is_ignored() -> None:
    result = parse(fixture_request("deployment_status/01-created.json"))
    assert result.events == []
    assert result.ignored == "deployment_status state in_progress is not mapped"


def test_deployment_actor_is_creator_else_sender() -> None:
    body = payload("deployment_status/00-created.json")
    body["deployment"]["creator"] = {"id": 1, "login": "deployer"}
    assert only_event(parse(request("deployment_status", body))).data["actor"]["id"] == "1"
    del body["deployment"]["creator"]
    assert only_event(parse(request("deployment_status", body))).data["actor"]["id"] == "21031067"


def test_pull_request_merged() -> None:
    result = parse(fixture_request("pull_request/edited-pull_request-closed-merged.json"))
    event = only_event(result)
    assert result.event_name == "pull_request"
    assert event.type == "code.change.merged"
    assert (event.id, event.accoladedelivery) == ("pull_request:279147437:merged", DELIVERY)  # the fact; the delivery beside it
    assert event.time == at("2019-05-15T15:21:18Z")
    assert event.data["actor"] == {"system": "github", "id": "21031067", "login": "Codertocat"}
    assert event.data["merged_by"] == {"system": "github", "id": "21031067", "login": "Codertocat"}
    assert event.data["base_branch"] == "master"
    assert event.data["repository"] == "Codertocat/Hello-World"
    assert event.data["number"] == 2
    assert event.subject == "Codertocat/Hello-World/pull/2"


def test_pull_request_actor_is_the_author_not_the_merger() -> None:
    body = payload("pull_request/edited-pull_request-closed-merged.json")
    body["pull_request"]["merged_by"] = {"id": 99, "login": "maintainer"}
    body["sender"] = {"id": 99, "login": "maintainer"}
    event = only_event(parse(request("pull_request", body)))
    assert event.data["actor"]["login"] == "Codertocat"
    assert event.data["merged_by"] == {"system": "github", "id": "99", "login": "maintainer"}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("03-closed.json", "pull_request closed without merge"),
        ("00-opened.json", "pull_request action opened is not mapped"),
    ],
)
def test_pull_request_unmerged_is_ignored(name: str, reason: str) -> None:
    result = parse(fixture_request(f"pull_request/{name}"))
    assert result.events == [] and result.ignored == reason


def test_pull_request_review_submitted() -> None:
    result = parse(fixture_request("pull_request_review/00-submitted.json"))
    event = only_event(result)
    assert result.event_name == "pull_request_review"
    assert event.type == "code.review.submitted"
    assert (event.id, event.accoladedelivery) == ("pull_request_review:237895671:submitted", DELIVERY)  # the fact; the delivery beside it
    assert event.time == at("2019-05-15T15:20:38Z")
    assert event.data["actor"] == {"system": "github", "id": "21031067", "login": "Codertocat"}
    assert event.data["state"] == "commented"
    assert event.data["repository"] == "Codertocat/Hello-World"
    assert event.data["number"] == 2


def test_pull_request_review_state_is_lower_cased() -> None:
    body = payload("pull_request_review/00-submitted.json")
    body["review"]["state"] = "APPROVED"
    assert only_event(parse(request("pull_request_review", body))).data["state"] == "approved"


def test_pull_request_review_dismissed_is_ignored() -> None:
    result = parse(fixture_request("pull_request_review/01-dismissed.json"))
    assert result.events == []
    assert result.ignored == "pull_request_review action dismissed is not mapped"


def test_issue_closed() -> None:
    result = parse(fixture_request("issues/edited-issues-closed.json"))
    event = only_event(result)
    assert result.event_name == "issues"
    assert event.type == "ticket.resolved"
    assert (event.id, event.accoladedelivery) == ("issues:444500041:closed:2019-05-15T15:25:00Z", DELIVERY)  # the fact; the delivery beside it
    assert event.time == at("2019-05-15T15:25:00Z")
    assert event.data["actor"] == {"system": "github", "id": "21031067", "login": "Codertocat"}
    assert event.data["state_reason"] == "completed"
    assert event.data["assignees"] == [
        {"system": "github", "id": "21031067", "login": "Codertocat"}
    ]
    assert event.data["repository"] == "Codertocat/Hello-World"
    assert event.data["number"] == 1


@pytest.mark.parametrize("name", ["15-opened.json", "20-reopened.json"])
def test_issue_other_actions_are_ignored(name: str) -> None:
    result = parse(fixture_request(f"issues/{name}"))
    assert result.events == [] and result.ignored is not None
    assert result.ignored.startswith("issues action ")


@pytest.mark.parametrize("name", ["00-noaction.json", "03-noaction.json"])
def test_ping_replies_pong(name: str) -> None:
    result = parse(fixture_request(f"ping/{name}"))
    assert result.events == []
    assert result.ignored == "ping"
    assert result.event_name == "ping"
    assert result.reply == {
        "msg": "pong",
        "zen": "Anything added dilutes everything else.",
        "hook_id": 109948940,
    }


@pytest.mark.parametrize(
    "name", ["push/00-noaction.json", "star/00-created.json", "workflow_job/01-completed.json"]
)
def test_unmapped_events_are_acknowledged(name: str) -> None:
    event = Path(name).parent.name
    result = parse(fixture_request(name))
    assert result.events == [] and result.dropped == 0
    assert result.ignored == f"event {event} is not mapped"
    assert result.event_name == event


def test_form_encoded_delivery_is_read() -> None:
    raw = (FIXTURES / "workflow_run/01-completed.json").read_bytes()
    form = urlencode({"payload": raw.decode()}).encode()
    req = request("workflow_run", form, extra={"Content-Type": "application/x-www-form-urlencoded"})
    CONNECTOR.verify(req, SETTINGS)
    assert only_event(parse(req)).data["outcome"] == "success"


def test_event_serialises_as_cloudevent_json() -> None:
    event = only_event(parse(fixture_request("workflow_run/01-completed.json")))
    doc = event.to_json_dict()
    assert doc["specversion"] == "1.0"
    assert doc["time"] == "2020-10-05T16:33:49Z"
    assert CloudEvent.model_validate(doc) == event


# --- errors ---


def test_missing_event_header_is_400() -> None:
    with pytest.raises(PayloadError) as info:
        parse(request(None, payload("ping/00-noaction.json")))
    assert info.value.status == 400
    assert "X-GitHub-Event" in info.value.reason


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[1, 2]", b'"text"', b"null", b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000],
)
@pytest.mark.parametrize("event", ["workflow_run", "push"])
def test_invalid_json_is_400(event: str, body: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        parse(request(event, body))
    assert info.value.status == 400
    assert info.value.reason.startswith("invalid JSON: ")
    assert "\n" not in info.value.reason and len(info.value.reason) < 300


def test_form_body_without_payload_is_400() -> None:
    req = request("push", b"other=1", extra={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(PayloadError, match="invalid JSON: form body has no payload") as info:
        parse(req)
    assert info.value.status == 400


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


_MERGED = "pull_request/edited-pull_request-closed-merged.json"
_CLOSED = "issues/edited-issues-closed.json"


@pytest.mark.parametrize(
    ("name", "path", "field"),
    [
        ("workflow_run/01-completed.json", ("workflow_run",), "workflow_run"),
        ("workflow_run/01-completed.json", ("workflow_run", "id"), "workflow_run.id"),
        ("deployment_status/00-created.json", ("deployment_status",), "deployment_status"),
        ("deployment_status/00-created.json", ("deployment_status", "state"), "state"),
        (_MERGED, ("pull_request",), "pull_request"),
        (_MERGED, ("pull_request", "user"), "pull_request.user"),
        ("pull_request_review/00-submitted.json", ("review",), "review"),
        ("pull_request_review/00-submitted.json", ("review", "submitted_at"), "submitted_at"),
        (_CLOSED, ("issue",), "issue"),
        (_CLOSED, ("sender",), "sender"),
    ],
)
def test_mapped_event_missing_a_needed_field_is_422(
    name: str, path: tuple[str, ...], field: str
) -> None:
    body = _without(payload(name), *path)
    with pytest.raises(PayloadError) as info:
        parse(request(Path(name).parent.name, body))
    assert info.value.status == 422
    assert field in info.value.reason
    assert "\n" not in info.value.reason


def test_workflow_run_without_any_actor_is_422() -> None:
    body = _without(
        _without(payload("workflow_run/01-completed.json"), "sender"), "workflow_run", "actor"
    )
    with pytest.raises(PayloadError, match="workflow_run.actor is missing") as info:
        parse(request("workflow_run", body))
    assert info.value.status == 422


def test_wrong_type_names_the_field() -> None:
    body = payload("workflow_run/01-completed.json")
    body["workflow_run"]["id"] = {"not": "an id"}
    with pytest.raises(PayloadError) as info:
        parse(request("workflow_run", body))
    assert info.value.status == 422
    assert info.value.reason.startswith("workflow_run.id: ")


def test_unrelated_odd_objects_do_not_break_a_mapped_event() -> None:
    body = payload("deployment_status/00-created.json")
    body["workflow_run"] = "not an object"  # only the objects an event reads are validated
    assert only_event(parse(request("deployment_status", body))).type == "deploy.completed"


# --- ids are facts, whatever the delivery header says ---

_STABLE = [
    ("workflow_run/01-completed.json", "workflow_run:289782451:1:success"),
    ("deployment_status/00-created.json", "deployment_status:209916254:success"),
    (_MERGED, "pull_request:279147437:merged"),
    ("pull_request_review/00-submitted.json", "pull_request_review:237895671:submitted"),
    (_CLOSED, "issues:444500041:closed:2019-05-15T15:25:00Z"),
]


@pytest.mark.parametrize(("name", "expected"), _STABLE)
def test_id_is_the_fact_with_or_without_a_delivery_header(name: str, expected: str) -> None:
    first = only_event(parse(fixture_request(name, delivery=None)))
    again = only_event(parse(fixture_request(name, delivery="another-delivery")))
    assert first.id == again.id == expected
    assert (first.accoladedelivery, again.accoladedelivery) == (None, "another-delivery")


def test_stable_id_differs_across_runs_attempts_and_outcomes() -> None:
    base = payload("workflow_run/01-completed.json")

    def run_id(**changes: Any) -> str:
        body = copy.deepcopy(base)
        body["workflow_run"].update(changes)
        return only_event(parse(request("workflow_run", body, delivery=None))).id

    ids = {
        run_id(),
        run_id(id=289782452),
        run_id(run_attempt=2),
        run_id(conclusion="failure"),
    }
    assert len(ids) == 4


def test_stable_id_differs_when_an_issue_is_closed_again() -> None:
    body = payload(_CLOSED)
    first = only_event(parse(request("issues", body, delivery=None))).id
    body["issue"]["closed_at"] = "2019-06-01T10:00:00Z"
    assert only_event(parse(request("issues", body, delivery=None))).id != first


# --- GitHub Enterprise Server ---


def test_enterprise_server_delivery_maps_the_same() -> None:
    dotcom = only_event(parse(fixture_request("workflow_run/01-completed.json")))
    ghes = fixture_request(
        "workflow_run/edited-workflow_run-completed-enterprise.json",
        extra={
            "X-GitHub-Enterprise-Host": "ghe.example.com",
            "X-GitHub-Enterprise-Version": "3.14.0",
        },
    )
    CONNECTOR.verify(ghes, SETTINGS)
    event = only_event(parse(ghes))
    assert (event.type, event.time, event.id, event.subject) == (
        dotcom.type,
        dotcom.time,
        dotcom.id,
        dotcom.subject,
    )
    assert {k: v for k, v in event.data.items() if k != "html_url"} == {
        k: v for k, v in dotcom.data.items() if k != "html_url"
    }
    assert event.data["html_url"].startswith("https://ghe.example.com/")


def test_missing_optional_fields_are_tolerated() -> None:
    body = payload("workflow_run/01-completed.json")
    for key in ("run_attempt", "head_branch", "html_url", "name"):
        del body["workflow_run"][key]
    del body["workflow"], body["repository"]
    event = only_event(parse(request("workflow_run", body, delivery=None)))
    assert event.id == "workflow_run:289782451:1:success"
    assert set(event.data) == {"actor", "outcome", "run_id"}
    assert event.subject == "actions/runs/289782451"


def test_naive_timestamp_is_read_as_utc() -> None:
    body = payload("pull_request_review/00-submitted.json")
    body["review"]["submitted_at"] = "2019-05-15T15:20:38"
    assert only_event(parse(request("pull_request_review", body))).time == at(
        "2019-05-15T15:20:38Z"
    )


# --- conformance: every fixture maps or is ignored; bad shapes only ever raise PayloadError ---


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_maps_or_is_ignored(path: Path) -> None:
    for delivery in (DELIVERY, None):
        result = parse(request(path.parent.name, path.read_bytes(), delivery=delivery))
        assert result.event_name == path.parent.name
        if result.events:
            assert result.ignored is None and len(result.events) == 1
            assert result.events[0].source == SOURCE
            assert result.events[0].accoladedelivery == delivery
            assert delivery is None or delivery not in result.events[0].id
        else:
            assert result.ignored


_ODD_VALUES: list[Any] = [None, "x", 7, True, [], {}, [{}]]


def _mutations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each top-level and second-level key removed, or replaced by an odd value."""
    out: list[dict[str, Any]] = []
    for key, value in body.items():
        out.append({k: v for k, v in body.items() if k != key})
        out.extend({**body, key: odd} for odd in _ODD_VALUES)
        if isinstance(value, dict):
            for sub in value:
                out.append({**body, key: {k: v for k, v in value.items() if k != sub}})
                out.extend({**body, key: {**value, sub: odd}} for odd in _ODD_VALUES)
    return out


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_mutated_fixtures_never_raise_anything_but_payload_error(path: Path) -> None:
    event = path.parent.name
    for body in _mutations(json.loads(path.read_bytes())):
        for delivery in (DELIVERY, None):
            try:
                result = parse(request(event, body, delivery=delivery))
            except PayloadError as exc:
                assert exc.status in (400, 422)
                assert exc.reason and "\n" not in exc.reason
            else:
                assert result.events or result.ignored

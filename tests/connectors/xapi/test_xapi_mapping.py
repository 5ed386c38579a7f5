"""xAPI statements parsed and mapped (pure): ADL conformance templates, spec examples, Moodle shapes."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import ConnectorConfig, get_connector
from connectors.base import PayloadError, WebhookRequest
from connectors.xapi import CONNECTOR, Parsed, XapiSettings, negotiate_version
from connectors.xapi.mapping import seconds_of
from connectors.xapi.model import content_digest
from identity.resolve import derived_keys

FIXTURES = Path(__file__).parent / "fixtures"
SOURCE = "/accolade/demo/xapi"
SETTINGS = XapiSettings(id="xapi", vendor="xapi", key="k", secret="s", account_system="moodle")
VALID_ADL = ["context", "default", "multiple_actor", "object_agent_default", "object_group_default",
             "object_statementref", "result", "unicode", "voiding"]
INVALID_ADL = {"no_actor": "actor: Field required", "no_verb": "verb: Field required",
               "no_object": "object: Field required", "verb": "verb.id: Field required",
               "actor": "actor: an agent needs exactly one of", "authority": "authority: an agent needs",
               "object_activity": "object.id: Field required", "object_substatement": "object.actor: Field"}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def parse(body: Any, version: str = "1.0.3") -> Parsed:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = WebhookRequest(body=raw, headers={"X-Experience-API-Version": version})
    return CONNECTOR.parse(request, source=SOURCE, settings=SETTINGS, now=datetime(2026, 11, 30, tzinfo=UTC))


def test_registered_as_the_xapi_vendor_with_basic_credentials_and_an_account_system() -> None:
    from pydantic import TypeAdapter

    assert get_connector("xapi") is CONNECTOR
    settings = TypeAdapter(ConnectorConfig).validate_python({"id": "lms", "vendor": "xapi", "key": "the-key", "secret": "the-secret"})
    assert isinstance(settings, XapiSettings) and settings.account_system == "moodle"
    assert "the-key" not in repr(settings) and "the-secret" not in repr(settings)
    assert settings.accepts("the-key", "the-secret") and not settings.accepts("the-key", "The-secret")
    assert not settings.accepts("other", "the-secret")


@pytest.mark.parametrize(("header", "answer"), [("1.0.3", "1.0.3"), ("1.0.0", "1.0.3"), ("1.0", "1.0.3"),
                                                 ("2.0.0", "2.0.0"), ("2.0.1", "2.0.0")])
def test_accepted_versions_are_answered_with_ours(header: str, answer: str) -> None:
    assert negotiate_version(header) == answer


@pytest.mark.parametrize("header", [None, "", "0.95", "1.1.0", "3.0.0", "one"])
def test_a_missing_or_other_version_is_a_400_naming_the_header(header: str | None) -> None:
    with pytest.raises(PayloadError) as caught:
        negotiate_version(header)
    assert caught.value.status == 400 and "X-Experience-API-Version" in caught.value.reason


@pytest.mark.parametrize("name", VALID_ADL)
def test_valid_adl_templates_are_accepted(name: str) -> None:
    parsed = parse(fixture(f"adl/v1_0_3-{name}.json"))
    assert len(parsed.statements) == 1 and parsed.statements[0].id


@pytest.mark.parametrize(("name", "reason"), INVALID_ADL.items())
def test_invalid_adl_templates_are_400_naming_the_field(name: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(fixture(f"adl/v1_0_3-{name}.json"))
    assert caught.value.status == 400 and caught.value.reason.startswith(reason)


@pytest.mark.parametrize("path", sorted((FIXTURES / "spec").glob("*.json")), ids=lambda p: p.stem)
def test_the_spec_examples_are_accepted(path: Path) -> None:
    assert parse(path.read_bytes()).statements


@pytest.mark.parametrize(("change", "reason"), [
    (lambda s: s["verb"].update(id="attended"), "verb.id: not an IRI"),
    (lambda s: s.update(result={"score": {"scaled": 1.5}}), "result.score.scaled: Input should be less"),
    (lambda s: s.update(result={"score": {"scaled": -1.01}}), "result.score.scaled: Input should be greater"),
    (lambda s: s.update(result={"score": {"raw": 11, "max": 10}}), "result.score: raw lies outside"),
    (lambda s: s.update(timestamp="2026-11-30T10:00:00"), "timestamp: timestamp needs a zone"),
    (lambda s: s.update(id="not-a-uuid"), "id: not a UUID"),
    (lambda s: s.update(colour="red"), "colour: Extra inputs are not permitted"),
    (lambda s: s["actor"].update(mbox_sha1sum="ab" * 20), "actor: an agent needs exactly one"),
    (lambda s: s.update(result={"duration": "12 minutes"}), "result.duration: not an ISO 8601"),
    (lambda s: s["object"].update(objectType="Thing"), "object: objectType is not one"),
])
def test_bad_statements_are_400_naming_the_field(change: Any, reason: str) -> None:
    statement = fixture("adl/v1_0_3-default.json")
    change(statement)
    with pytest.raises(PayloadError) as caught:
        parse(statement)
    assert caught.value.status == 400 and caught.value.reason.startswith(reason), caught.value.reason


def test_2_0_context_agents_are_accepted_under_2_0_and_refused_under_1_0() -> None:
    statement = fixture("adl/v1_0_3-default.json") | {"context": fixture("fragments/v2_0-context_agents.json")}
    assert parse(statement, "2.0.0").statements
    with pytest.raises(PayloadError) as caught:
        parse(statement, "1.0.3")
    assert caught.value.reason.startswith("context.contextAgents: only in xAPI 2.0")


def test_one_invalid_statement_rejects_the_batch_naming_its_index() -> None:
    with pytest.raises(PayloadError) as caught:
        parse([fixture("adl/v1_0_3-default.json"), fixture("adl/v1_0_3-no_verb.json")])
    assert caught.value.reason == "statement[1].verb: Field required"


def test_two_statements_of_one_id_in_a_batch_are_400() -> None:
    one = fixture("adl/v1_0_3-default.json") | {"id": "5b0a3d4e-1c2f-4a5b-8c9d-0e1f2a3b4c5d"}
    with pytest.raises(PayloadError) as caught:
        parse([one, {**one, "id": one["id"].upper()}])
    assert caught.value.status == 400 and "appears twice" in caught.value.reason


def test_a_statement_without_id_gets_a_uuid_and_the_stored_body_carries_lrs_fields() -> None:
    statement = parse(fixture("adl/v1_0_3-default.json")).statements[0]
    assert len(statement.id) == 36 and statement.body["id"] == statement.id
    assert statement.body["stored"] == "2026-11-30T00:00:00Z" and statement.body["version"] == "1.0.3"
    assert statement.body["authority"]["account"]["name"] == "xapi"


# --- the mapping ---


def test_moodle_quiz_attempt_completed_with_success_is_an_assessment_passed() -> None:
    parsed = parse(fixture("moodle/quiz_attempt_passed.json"))
    [event] = parsed.events
    assert event.type == "lms.assessment.passed" and event.id == parsed.statements[0].id
    assert event.actor.system == "moodle" and event.actor.id == "42"
    assert event.data["actor"]["homePage"] == "https://moodle.example.com"
    assert event.time == datetime(2026, 11, 30, 8, 10, tzinfo=UTC)
    data = event.data
    assert (data["activity"], data["activity_type"], data["activity_name"]) == (
        "https://moodle.example.com/mod/quiz/view.php?id=12",
        "http://adlnet.gov/expapi/activities/assessment", "Security training quiz")
    assert (data["score"], data["score_raw"], data["score_max"], data["success"], data["completion"]) == (
        0.9, 9, 10, True, True)
    assert (data["duration"], data["duration_iso"]) == (750.0, "PT12M30S")


def test_moodle_quiz_attempt_failed_is_an_assessment_failed() -> None:
    statement = fixture("moodle/quiz_attempt_passed.json")
    statement["result"]["success"] = False
    assert [e.type for e in parse(statement).events] == ["lms.assessment.failed"]


def test_moodle_course_completed_is_a_course_completion() -> None:
    assert [e.type for e in parse(fixture("moodle/course_completed.json")).events] == ["lms.course.completed"]


@pytest.mark.parametrize(("verb", "activity_type", "expected"), [
    ("http://adlnet.gov/expapi/verbs/passed", None, "lms.assessment.passed"),
    ("http://adlnet.gov/expapi/verbs/failed", None, "lms.assessment.failed"),
    ("http://adlnet.gov/expapi/verbs/completed", None, "lms.activity.completed"),
    ("http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/activities/course", "lms.course.completed"),
    ("http://adlnet.gov/expapi/verbs/attempted", None, "lms.activity.attempted"),
    ("http://adlnet.gov/expapi/verbs/answered", None, "lms.activity.answered"),
    ("http://adlnet.gov/expapi/verbs/experienced", None, "lms.activity.experienced"),
    ("https://w3id.org/xapi/adl/verbs/satisfied", None, "lms.course.completed"),
])
def test_verbs_map_to_their_event_types(verb: str, activity_type: str | None, expected: str) -> None:
    statement = fixture("adl/v1_0_3-default.json")
    statement["verb"]["id"] = verb
    if activity_type:
        statement["object"]["definition"] = {"type": activity_type}
    assert [e.type for e in parse(statement).events] == [expected]


@pytest.mark.parametrize("verb", ["http://adlnet.gov/expapi/verbs/launched", "http://adlnet.gov/expapi/verbs/initialized",
                                  "http://adlnet.gov/expapi/verbs/terminated", "https://w3id.org/xapi/adl/verbs/abandoned",
                                  "https://w3id.org/xapi/adl/verbs/waived"])
def test_cmi5_session_verbs_are_dropped_as_ignored(verb: str) -> None:
    statement = fixture("adl/v1_0_3-default.json")
    statement["verb"]["id"] = verb
    [parsed] = parse(statement).statements
    assert parsed.events == [] and parsed.ignored is not None and parsed.ignored.startswith("cmi5 verb")


def test_completed_on_a_course_with_success_stays_a_course_completion() -> None:
    statement = fixture("moodle/course_completed.json") | {"result": {"success": True}}
    assert [e.type for e in parse(statement).events] == ["lms.course.completed"]


def _passed(actor: dict[str, Any]) -> dict[str, Any]:
    statement = fixture("moodle/quiz_attempt_passed.json")
    statement["actor"] = actor
    return statement


def test_learners_become_identities() -> None:
    sha = hashlib.sha1(b"mailto:ada@example.com").hexdigest()  # noqa: S324 - xAPI's identifier
    actors = [parse(_passed(a)).events[0].data["actor"] for a in (
        {"mbox": "mailto:Ada@Example.com"}, {"mbox_sha1sum": sha.upper()}, {"openid": "https://id.example.com/ada"},
        {"account": {"homePage": "https://moodle.example.com", "name": "42"}})]
    assert actors == [{"system": "email", "email": "ada@example.com"}, {"system": "mbox_sha1sum", "id": sha},
                      {"system": "openid", "id": "https://id.example.com/ada"},
                      {"system": "moodle", "id": "42", "homePage": "https://moodle.example.com"}]
    assert derived_keys(("email", "id", "ada@example.com")) == [("mbox_sha1sum", "id", sha)]


def test_a_group_actor_credits_each_member_with_stable_ids() -> None:
    members = [{"mbox": "mailto:b@example.com"}, {"account": {"homePage": "https://m.example.com", "name": "7"}}]
    group = {"objectType": "Group", "name": "Team", "member": members}
    statement = _passed(group) | {"id": "5b0a3d4e-1c2f-4a5b-8c9d-0e1f2a3b4c5d"}
    events = parse(statement).events
    reordered = parse(statement | {"actor": {**group, "member": members[::-1]}}).events
    assert [e.actor.system for e in events] == ["email", "moodle"]
    assert [e.id for e in events] == [f"{statement['id']}:member:{n}" for n in (0, 1)]
    assert [(e.id, e.actor) for e in events] == [(e.id, e.actor) for e in reordered]


def test_duration_in_seconds() -> None:
    assert (seconds_of("PT1H0M0S"), seconds_of("P1DT30M"), seconds_of("PT0.5S")) == (3600, 88200, 0.5)


# --- §2.3.1 sameness ---


def test_same_content_ignores_what_the_spec_says_to_ignore() -> None:
    one = fixture("moodle/quiz_attempt_passed.json") | {"id": "5b0a3d4e-1c2f-4a5b-8c9d-0e1f2a3b4c5d"}
    other = copy.deepcopy(one)
    other.update(id=one["id"].upper(), timestamp="2026-11-30T08:10:00Z", stored="2026-12-01T00:00:00Z",
                 version="1.0.3", authority={"mbox": "mailto:lrs@example.com"})
    other["verb"]["display"] = {"en-US": "finished"}
    other["object"]["definition"] = {"name": {"en": "renamed"}}
    assert content_digest(one) == content_digest(other)
    other["result"]["score"]["scaled"] = 0.5
    assert content_digest(one) != content_digest(other)


def test_group_member_order_and_mbox_case_are_not_content() -> None:
    members = [{"mbox": "mailto:A@example.com"}, {"mbox": "mailto:b@example.com"}]
    one = _passed({"objectType": "Group", "member": members})
    other = _passed({"objectType": "Group", "member": [{"mbox": "mailto:b@example.com"}, {"mbox": "mailto:a@EXAMPLE.com"}]})
    assert content_digest(one) == content_digest(other)

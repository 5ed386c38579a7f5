"""Okta event hooks over constructed deliveries around a real LogEvent (see fixtures/NOTICE.md)."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors import get_connector
from connectors.base import ParseResult, PayloadError, VerificationError, WebhookRequest
from connectors.okta import CONNECTOR, OktaSettings
from rules.events import CloudEvent

FIXTURES = Path(__file__).parent / "fixtures"
AUTH = "Bearer okta-hook-not-really-a-secret"
SETTINGS = OktaSettings(id="okta", vendor="okta", authorization=AUTH)
SOURCE = "/accolade/demo/okta"
JANE = {"system": "okta", "id": "00u1qw1mqitPHM8AJ0g7", "login": "jane.roe@example.com",
        "email": "jane.roe@example.com"}
JOHN = {"system": "okta", "id": "00uttidj01jqL21aM1d6", "login": "john.doe@example.com",
        "email": "john.doe@example.com"}


def headers(*, auth: str | None = AUTH, challenge: str | None = None) -> dict[str, str]:
    """What Okta sends: its user agent, the configured header, and the challenge on the GET."""
    found = {"Content-Type": "application/json", "User-Agent": "Okta Event Hook",
             "Authorization": auth, "X-Okta-Verification-Challenge": challenge}
    return {k: v for k, v in found.items() if v is not None}


def request(name: str, body: dict[str, Any] | bytes | None = None, **kwargs: Any) -> WebhookRequest:
    raw = (FIXTURES / name).read_bytes() if body is None else body if isinstance(body, bytes) else \
        json.dumps(body).encode()
    return WebhookRequest(body=raw, headers=headers(**kwargs))


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def parse(req: WebhookRequest) -> ParseResult:
    return CONNECTOR.parse(req, source=SOURCE)


def only_event(result: ParseResult) -> CloudEvent:
    assert result.ignored is None and len(result.events) == 1, result
    return result.events[0]


# --- settings and verification ---


def test_registered_as_okta_vendor_answering_get_and_post() -> None:
    assert get_connector("okta") is CONNECTOR and CONNECTOR.methods == {"GET", "POST"}
    with pytest.raises(ValidationError, match="is empty"):
        OktaSettings(id="okta", vendor="okta", authorization="")
    assert AUTH not in repr(SETTINGS)


def test_demo_default_is_a_reference_with_a_default_and_plain_values_are_refused() -> None:
    from config import ConfigError, parse_config

    text = """store: {url: "sqlite:///x.db"}
tenants:
  - id: demo
    api_keys: ["${K:-k}"]
    connectors:
      - {id: okta, vendor: okta, authorization: AUTH}
"""
    demo = text.replace("AUTH", '"${OKTA_HOOK_AUTHORIZATION:-demo-okta-auth}"')
    [settings] = parse_config(demo, file="a.yaml", env={}).tenants[0].connectors
    assert isinstance(settings, OktaSettings) and settings.authorization.get_secret_value() == "demo-okta-auth"
    with pytest.raises(ConfigError) as caught:
        parse_config(text.replace("AUTH", "plain"), file="a.yaml", env={})
    assert str(caught.value).startswith(
        "a.yaml:6: tenants[0].connectors[0].authorization: secrets may only be ${ENV} references")


def test_verify_accepts_the_configured_authorization() -> None:
    CONNECTOR.verify(request("user_session_start/01-sign-in-success.json"), SETTINGS)


@pytest.mark.parametrize(("auth", "reason"), [
    (None, "missing Authorization header"),
    ("wrong", "authorization mismatch"),
    ("", "authorization mismatch"),
    (AUTH + " ", "authorization mismatch"),
    (AUTH.lower(), "authorization mismatch"),
    ("clé-été-☃", "authorization mismatch"),  # not ASCII: refused, never a TypeError
])
def test_verify_refuses_a_missing_or_wrong_authorization_without_leaking_it(auth: str | None, reason: str) -> None:
    with pytest.raises(VerificationError) as caught:
        CONNECTOR.verify(request("user_session_start/01-sign-in-success.json", auth=auth), SETTINGS)
    assert caught.value.reason == reason and "okta-hook" not in str(caught.value)


def test_verify_compares_bytes_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("connectors.base.hmac.compare_digest", spy)  # verify_shared_secret
    with pytest.raises(VerificationError):
        CONNECTOR.verify(request("user_session_start/01-sign-in-success.json", auth="wrong"), SETTINGS)
    assert calls == [(b"wrong", AUTH.encode())]


def test_the_verification_get_echoes_the_challenge() -> None:
    get = WebhookRequest(body=b"", headers=headers(challenge="h3aDxRP5Wq9gM2xU"))
    CONNECTOR.verify(get, SETTINGS)
    assert CONNECTOR.answer_get(get, SETTINGS) == {"verification": "h3aDxRP5Wq9gM2xU"}
    with pytest.raises(PayloadError, match="missing X-Okta-Verification-Challenge") as caught:
        CONNECTOR.answer_get(WebhookRequest(body=b"", headers=headers()), SETTINGS)
    assert caught.value.status == 400


def test_delivery_id_is_the_envelopes_event_id() -> None:
    assert CONNECTOR.delivery_id(request("user_session_start/01-sign-in-success.json")) == \
        "b5a188b9-5ece-4636-b041-482ffda96311"
    for body in (b"", b"{not json", b"[]", b'{"eventId": 7}'):
        assert CONNECTOR.delivery_id(request("user_session_start/01-sign-in-success.json", body)) is None


# --- mapping ---


def test_a_successful_sign_in_is_signed_in_credited_to_the_actor() -> None:
    event = only_event(parse(request("user_session_start/01-sign-in-success.json")))
    assert (event.id, event.type, event.time.isoformat()) == (
        "dc9fd3c0-598c-11ef-8478-2b7584bf8d5a", "iam.user.signed_in", "2024-08-13T15:58:20.353000+00:00")
    assert event.data == {"actor": JOHN, "okta_event": "user.session.start", "outcome": "success"}
    assert event.accoladedelivery == "b5a188b9-5ece-4636-b041-482ffda96311"
    assert "John Doe" not in json.dumps(event.to_json_dict())  # display names are never copied


def test_a_failed_sign_in_is_dropped_and_counted() -> None:
    failed = parse(request("user_session_start/02-sign-in-failure.json"))
    assert (failed.events, failed.dropped) == ([], 1)
    assert failed.ignored == "1 sign-in(s) without outcome SUCCESS dropped"
    mixed = parse(request("user_session_start/03-failure-then-success.json"))
    assert ([e.id for e in mixed.events], mixed.dropped, mixed.ignored) == (
        ["dc9fd3c0-598c-11ef-8478-2b7584bf8d5a"], 1, None)


@pytest.mark.parametrize(("name", "kind", "change"), [
    ("user_lifecycle_create/01-create.json", "iam.user.provisioned", {"change": "created"}),
    ("user_lifecycle_activate/01-activate.json", "iam.user.updated", {"change": "activated"}),
    ("user_lifecycle_unsuspend/01-unsuspend.json", "iam.user.updated", {"change": "unsuspended"}),
    ("user_lifecycle_deactivate/01-deactivate.json", "iam.user.deprovisioned", {"reason": "deactivated"}),
    ("user_lifecycle_suspend/01-suspend.json", "iam.user.deprovisioned", {"reason": "suspended"}),
])
def test_lifecycle_events_credit_the_target_user_not_the_admin(name: str, kind: str, change: dict) -> None:
    event = only_event(parse(request(name)))
    okta_event = payload(name)["data"]["events"][0]
    assert (event.id, event.type, event.subject) == (okta_event["uuid"], kind, "users/00u1qw1mqitPHM8AJ0g7")
    assert event.data == {"actor": JANE, "okta_event": okta_event["eventType"], **change, "by": JOHN}


@pytest.mark.parametrize(("name", "kind"), [
    ("group_user_membership_add/01-add.json", "iam.group.member_added"),
    ("group_user_membership_remove/01-remove.json", "iam.group.member_removed"),  # group listed first
])
def test_membership_events_name_the_group_and_credit_the_user(name: str, kind: str) -> None:
    event = only_event(parse(request(name)))
    assert (event.type, event.subject) == (kind, "groups/00g1emaKYZTWRYYRRTSK/users/00u1qw1mqitPHM8AJ0g7")
    assert {k: event.data[k] for k in ("actor", "group_id", "group", "by")} == {
        "actor": JANE, "group_id": "00g1emaKYZTWRYYRRTSK", "group": "Platform team", "by": JOHN}


def test_one_delivery_with_several_events_gives_several_events() -> None:
    result = parse(request("user_lifecycle_create/02-create-and-activate.json"))
    assert [(e.type, e.data["change"]) for e in result.events] == [
        ("iam.user.provisioned", "created"), ("iam.user.updated", "activated")]
    assert result.event_name == "user.lifecycle.create,user.lifecycle.activate"


def test_the_uuid_is_the_id_so_a_redelivery_is_the_same_event() -> None:
    first = only_event(parse(request("user_lifecycle_create/01-create.json")))
    again = parse(request("user_lifecycle_create/02-create-and-activate.json")).events[0]
    assert first.id == again.id and first.accoladedelivery != again.accoladedelivery


@pytest.mark.parametrize("name", ["user_session_end/01-sign-out.json", "user_lifecycle_delete_initiated/01-delete.json"])
def test_ignored_event_types_are_acknowledged_with_a_reason(name: str) -> None:
    result = parse(request(name))
    okta_event = payload(name)["data"]["events"][0]["eventType"]
    assert (result.events, result.ignored) == ([], f"event {okta_event} is not mapped")


def test_an_unmapped_event_beside_a_mapped_one_does_not_hide_it() -> None:
    body = payload("user_lifecycle_create/01-create.json")
    body["data"]["events"].insert(0, {"eventType": "policy.lifecycle.update", "published": 12})
    result = parse(request("user_lifecycle_create/01-create.json", body))
    assert [e.type for e in result.events] == ["iam.user.provisioned"]
    assert result.event_name == "user.lifecycle.create,policy.lifecycle.update"


# --- bad input ---


def _edit(name: str, change: Any) -> dict[str, Any]:
    body = payload(name)
    change(body)
    return body


@pytest.mark.parametrize(("name", "change", "reason"), [
    ("user_lifecycle_create/01-create.json", lambda b: b.update(eventType="com.example.other"),
     "eventType is com.example.other, not com.okta.event_hook: not an Okta event hook"),
    ("user_lifecycle_create/01-create.json", lambda b: b.pop("data"), "data.events is missing"),
    ("user_lifecycle_create/01-create.json", lambda b: b["data"]["events"][0].update(target=[]),
     "data.events[0].target of type User is missing"),
    ("user_lifecycle_create/01-create.json", lambda b: b["data"]["events"][0].pop("uuid"),
     "data.events[0].uuid is missing"),
    ("group_user_membership_add/01-add.json", lambda b: b["data"]["events"][0]["target"].pop(),
     "data.events[0].target of type UserGroup is missing"),
    ("user_session_start/01-sign-in-success.json", lambda b: b["data"]["events"][0].pop("outcome"),
     "data.events[0].outcome is missing"),
    ("user_session_start/01-sign-in-success.json",
     lambda b: b["data"]["events"][0]["actor"].update(type="SystemPrincipal"),
     "data.events[0].actor.type is SystemPrincipal, not User"),
    ("user_session_start/01-sign-in-success.json", lambda b: b["data"]["events"][0].update(published="soon"),
     "data.events[0].published: Input should be a valid datetime"),
])
def test_a_mapped_event_missing_what_it_needs_is_422_naming_the_field(name: str, change: Any, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(request(name, _edit(name, change)))
    assert caught.value.status == 422 and caught.value.reason.startswith(reason)


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"{not json"])
def test_a_body_that_is_not_a_json_object_is_400(body: bytes) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(request("user_session_start/01-sign-in-success.json", body))
    assert caught.value.status == 400

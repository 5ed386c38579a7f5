"""Okta event hooks → canonical ``iam.*`` events.

Verification: an event hook is registered in Okta with an authentication header (field
``Authorization``, secret = this instance's ``authorization``); Okta sends it verbatim with the
one-time verification GET and with every delivery. There is no signature over the body: the
header is compared with the configured value in constant time, as bytes, so an odd header
never raises; a reason never contains either value.

The one-time verification is a ``GET`` carrying ``X-Okta-Verification-Challenge``: once the
header is verified, it is answered ``{"verification": <the challenge>}``.

A delivery is Okta's envelope (``eventType: com.okta.event_hook``, ``eventId``, ...) whose
``data.events[]`` are System Log ``LogEvent`` objects; one delivery may carry several, and
each one maps alone (DESIGN §8):

- ``user.lifecycle.create`` → ``iam.user.provisioned``: the account exists from here, so a
  "joined" rule counts this once per user.
- ``user.lifecycle.activate`` / ``unsuspend`` → ``iam.user.updated`` with ``change:
  activated`` / ``unsuspended``. Not ``provisioned``: Okta sends ``activate`` right after
  ``create`` for most users, and again when a deactivated user comes back, so a "joined" rule
  would otherwise count a return as joining; a rule that wants activation asks
  ``where: {change: activated}``.
- ``user.lifecycle.deactivate`` / ``suspend`` → ``iam.user.deprovisioned`` with ``reason:
  deactivated`` / ``suspended``.
- ``user.session.start`` → ``iam.user.signed_in`` only when ``outcome.result`` is
  ``SUCCESS``; any other result (FAILURE, DENY, CHALLENGE, ...) is dropped and counted in
  ``ParseResult.dropped``.
- ``group.user_membership.add`` / ``remove`` → ``iam.group.member_added`` / ``removed`` with
  ``group_id`` and ``group`` (the group's name) in data.

Who is credited: the ``User`` target for lifecycle and membership events (the ``actor`` is the
admin or the system that did it, kept as ``by``; the group is the ``UserGroup`` target); the
``actor`` for ``user.session.start``. Identities are ``okta`` ids: the user id ``00u…`` is the
key, ``alternateId`` (the login, usually an email) is ``login`` and, when it is an address,
``email``. Display names are never copied.

Ids: a LogEvent's ``uuid`` is the event id, so a redelivery (Okta retries once) and the same
event in two deliveries are one event; the envelope's ``eventId`` is the delivery id
(``accoladedelivery``). Okta sends no delivery header, so ``delivery_id`` reads ``eventId``
from the body (bounded by the JSON limits) and gives None when it cannot.

Event types in ``ignored_events`` are acknowledged with a reason, as is any type not mapped. A
delivery with a mapped event missing what it needs is a ``PayloadError`` (422) naming the
field as ``data.events[<n>].<field>``, and the whole delivery is quarantined (a retry after a
fix dedupes on the uuids); a body that is not a JSON object is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from connectors.base import (
    ConnectorSettings,
    ParseResult,
    PayloadError,
    RequiredSecret,
    WebhookConnector,
    WebhookRequest,
    verify_shared_secret,
)
from connectors.mapping import Draft, as_utc, first_error, short, to_event

__all__ = ["CONNECTOR", "IGNORED_EVENTS", "MAPPED_EVENTS", "SYSTEM", "OktaSettings", "OktaWebhook"]

SYSTEM = "okta"
HOOK_TYPE = "com.okta.event_hook"
_AUTH_HEADER = "Authorization"
_CHALLENGE_HEADER = "X-Okta-Verification-Challenge"
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
IGNORED_EVENTS = ("user.session.end", "user.lifecycle.delete.initiated")


class OktaSettings(ConnectorSettings):
    """`vendor: okta` (DESIGN §8): event hooks authenticated by their `Authorization` header."""

    vendor: Literal["okta"]
    authorization: RequiredSecret = Field(
        description="the Authorization header value the event hook sends, as an ${ENV} reference")



# --- vendor payload models: only the fields read, unknown fields ignored ---


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


_M = TypeVar("_M", bound=_Model)
Time = Annotated[datetime | None, AfterValidator(as_utc)]


class Party(_Model):
    """A LogEvent `actor` or `target` entry."""

    id: str | None = None
    type: str | None = None
    alternateId: str | None = None  # noqa: N815 - Okta's names
    displayName: str | None = None  # noqa: N815 - read for groups only: a person's name is never copied


class Outcome(_Model):
    result: str | None = None
    reason: str | None = None


class LogEvent(_Model):
    uuid: str | None = None
    eventType: str | None = None  # noqa: N815
    published: Time = None
    actor: Party | None = None
    target: list[Party] | None = None
    outcome: Outcome | None = None


class _Data(_Model):
    events: list[dict[str, Any]] | None = None


class Envelope(_Model):
    eventType: str | None = None  # noqa: N815
    eventId: str | None = None  # noqa: N815
    data: _Data | None = None


# --- identities and small helpers ---


def _need(field: str, value: Any) -> Any:
    if value is None or value == "":
        raise PayloadError(f"{field} is missing")
    return value


def identity(party: Party | None) -> dict[str, str] | None:
    """An Okta party as an identity dict: the id is the key, alternateId the login (and email)."""
    if party is None or not party.id:
        return None
    found = {"system": SYSTEM, "id": party.id}
    if party.alternateId and party.alternateId != "unknown":
        found["login"] = party.alternateId
        if _EMAIL_RE.fullmatch(party.alternateId):
            found["email"] = party.alternateId
    return found


def _target(event: LogEvent, kind: str) -> Party:
    """The first target of type `kind` (Okta: search by type, never by position)."""
    for party in event.target or []:
        if party.type == kind and party.id:
            return party
    raise PayloadError(f"target of type {kind} is missing")


def _base(event: LogEvent, kind: str, credited: Party, subject: str, data: dict[str, Any]) -> Draft:
    return Draft(
        type=kind,
        stable_id=_need("uuid", event.uuid),
        time=_need("published", event.published),
        actor=_need("the credited user's id", identity(credited)),  # callers checked the id
        subject=subject,
        data={"okta_event": event.eventType, **data},
    )


# --- one handler per mapped Okta event type ---


def _lifecycle(kind: str, word: str, key: str) -> Callable[[LogEvent], Draft | None]:
    def handle(event: LogEvent) -> Draft | None:
        user = _target(event, "User")
        return _base(event, kind, user, f"users/{user.id}", {key: word, "by": identity(event.actor)})
    return handle


def _membership(kind: str) -> Callable[[LogEvent], Draft | None]:
    def handle(event: LogEvent) -> Draft | None:
        user, group = _target(event, "User"), _target(event, "UserGroup")
        return _base(event, kind, user, f"groups/{group.id}/users/{user.id}",
                     {"group_id": group.id, "group": group.displayName, "by": identity(event.actor)})
    return handle


def _signed_in(event: LogEvent) -> Draft | None:
    """A successful sign-in, credited to the actor; None (dropped) for any other result."""
    outcome = _need("outcome", event.outcome)
    if str(_need("outcome.result", outcome.result)).upper() != "SUCCESS":
        return None
    actor = _need("actor", event.actor)
    _need("actor.id", actor.id)
    if actor.type != "User":
        raise PayloadError(f"actor.type is {short(actor.type)}, not User")
    return _base(event, "iam.user.signed_in", actor, f"users/{actor.id}/sessions", {"outcome": "success"})


_HANDLERS: dict[str, Callable[[LogEvent], Draft | None]] = {
    "user.lifecycle.create": _lifecycle("iam.user.provisioned", "created", "change"),
    "user.lifecycle.activate": _lifecycle("iam.user.updated", "activated", "change"),
    "user.lifecycle.unsuspend": _lifecycle("iam.user.updated", "unsuspended", "change"),
    "user.lifecycle.deactivate": _lifecycle("iam.user.deprovisioned", "deactivated", "reason"),
    "user.lifecycle.suspend": _lifecycle("iam.user.deprovisioned", "suspended", "reason"),
    "user.session.start": _signed_in,
    "group.user_membership.add": _membership("iam.group.member_added"),
    "group.user_membership.remove": _membership("iam.group.member_removed"),
}
MAPPED_EVENTS: tuple[str, ...] = tuple(_HANDLERS)


def _body(request: WebhookRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise PayloadError(f"invalid JSON: body must be an object, got {type(body).__name__}", status=400)
    return body


def _load(model: type[_M], raw: Any, where: str) -> _M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise PayloadError(f"{where}{first_error(exc)}") from None


def _envelope(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The LogEvents of a delivery; 422 unless the body is an Okta event hook."""
    hook = _load(Envelope, body, "")
    if hook.eventType != HOOK_TYPE:
        raise PayloadError(f"eventType is {short(hook.eventType)}, not {HOOK_TYPE}: not an Okta event hook")
    if hook.data is None or hook.data.events is None:
        raise PayloadError("data.events is missing")
    return hook.data.events


def _one(raw: dict[str, Any], n: int) -> tuple[str, Draft | None] | None:
    """(Okta event type, its draft or None when dropped) of `raw`, or None when not mapped."""
    where = f"data.events[{n}]."
    name = raw.get("eventType")
    if not isinstance(name, str) or not name:
        raise PayloadError(f"{where}eventType is missing")
    handler = _HANDLERS.get(name)
    if handler is None:
        return None
    event = _load(LogEvent, raw, where)
    try:
        return name, handler(event)
    except PayloadError as exc:
        raise PayloadError(where + exc.reason, status=exc.status) from None


class OktaWebhook(WebhookConnector):
    """The Okta event hook connector: the Authorization header, the challenge, the §8 mapping."""

    vendor = SYSTEM
    settings = OktaSettings
    methods = frozenset({"GET", "POST"})
    mapped_events = MAPPED_EVENTS
    ignored_events = IGNORED_EVENTS
    event_header = None  # the events are named in the body, `data.events[].eventType`

    def sample_headers(self, event: str) -> dict[str, str]:
        """Okta names its events in the body, so no header names one: only the content type."""
        return {"Content-Type": "application/json"}

    def delivery_id(self, request: WebhookRequest) -> str | None:
        """The envelope's ``eventId`` (Okta sends no delivery header), or None."""
        if not request.body:
            return None
        try:
            body = request.json()
        except PayloadError:
            return None
        found = body.get("eventId") if isinstance(body, dict) else None
        return found.strip() if isinstance(found, str) and found.strip() else None

    def verify(self, request: WebhookRequest, settings: OktaSettings) -> None:
        """Raise VerificationError unless ``Authorization`` is the configured value."""
        verify_shared_secret(request, settings.authorization.get_secret_value(), header=_AUTH_HEADER,
                             what="event hook authorization")

    def answer_get(self, request: WebhookRequest, settings: OktaSettings) -> dict[str, Any]:
        """Okta's one-time verification: echo ``X-Okta-Verification-Challenge``."""
        challenge = request.header(_CHALLENGE_HEADER)
        if not challenge:
            raise PayloadError(f"missing {_CHALLENGE_HEADER} header", status=400)
        return {"verification": challenge}

    def parse(self, request: WebhookRequest, *, source: str) -> ParseResult:
        """Map every LogEvent of one verified delivery; unmapped ones are acknowledged.

        Raises:
            PayloadError: 400 when the body is not a JSON object; 422 when it is no Okta event
                hook or a mapped event lacks a field it needs (named ``data.events[n].…``).
        """
        result, names, skipped = ParseResult(), [], []
        delivery = self.delivery_id(request)
        for n, raw in enumerate(_envelope(_body(request))):
            if not isinstance(raw, dict):
                raise PayloadError(f"data.events[{n}] is not an object")
            found = _one(raw, n)
            if found is None:
                skipped.append(short(raw.get("eventType"), 128))
                continue
            names.append(found[0])
            if found[1] is None:
                result.dropped += 1
            else:
                result.events.append(to_event(found[1], source=source, delivery_id=delivery))
        result.event_name = short(",".join(dict.fromkeys(names + skipped)), 128) or None
        if not result.events:
            result.ignored = _why_nothing(skipped, result.dropped)
        return result


def _why_nothing(skipped: list[str], dropped: int) -> str:
    if dropped:
        return f"{dropped} sign-in(s) without outcome SUCCESS dropped"
    if not skipped:
        return "the delivery carries no events"
    return f"event {', '.join(dict.fromkeys(skipped))} is not mapped"


CONNECTOR = OktaWebhook()

"""xAPI: the hub as a Learning Record Store (Statement API only) for LMSs and courseware.

Not a webhook connector: it is reached at `/xapi/statements` and `/xapi/about`
(`api.xapi`), authenticated with HTTP Basic `key` / `secret` per connector instance, and its
statements are written by `intake.statements`. This package is the pure part: settings,
the statement model (`model`), the mapping to canonical events (`mapping`), and
`XapiConnector.parse`, which turns one request body into validated statements and events
(the receiver and the conformance suite both call it; `connectors parse` is for webhook
vendors and says so for xapi).
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from connectors.base import ConnectorSettings, PayloadError, WebhookRequest
from connectors.xapi.mapping import map_statement
from connectors.xapi.model import (
    VOIDED,
    Activity,
    Statement,
    StatementRef,
    agent_key,
    content_digest,
    parse_statement,
    related,
)
from rules.events import CloudEvent
from rules.limits import problem_in

__all__ = ["CONNECTOR", "VERSIONS", "Parsed", "ParsedStatement", "XapiConnector", "XapiSettings",
           "negotiate_version"]

VERSIONS = {"1.0": "1.0.3", "2.0": "2.0.0"}  # accepted major.minor → the version we answer


class XapiSettings(ConnectorSettings):
    """`vendor: xapi` (DESIGN §8)."""

    vendor: Literal["xapi"]
    key: SecretStr = Field(description="HTTP Basic user name the LMS is configured with")
    secret: SecretStr = Field(description="HTTP Basic password")
    account_system: str = Field(default="moodle", pattern=r"^[a-z][a-z0-9_-]{0,31}$",
                                description="identity system of `account` actors, e.g. moodle")

    def accepts(self, key: str, secret: str) -> bool:
        """Both compared in constant time, as bytes (an odd header never raises)."""
        key_ok = hmac.compare_digest(self.key.get_secret_value().encode(), key.encode())
        secret_ok = hmac.compare_digest(self.secret.get_secret_value().encode(), secret.encode())
        return key_ok and secret_ok


def negotiate_version(header: str | None) -> str:
    """The version we answer for `X-Experience-API-Version`; a 400 naming the header otherwise."""
    if not header:
        raise PayloadError("missing X-Experience-API-Version header (send 1.0.3 or 2.0.0)", status=400)
    parts = header.strip().split(".")
    if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
        answer = VERSIONS.get(".".join(parts[:2]))
        if answer is not None:
            return answer
    raise PayloadError(f"X-Experience-API-Version {header[:20]!r} is not supported; "
                       "send 1.0.x or 2.0.x", status=400)


@dataclass
class ParsedStatement:
    """One statement as stored (`body`, with `id`, `stored`, `version`, `authority`), its §2.3.1
    digest, the events it maps to (or why none), and the statement it voids."""

    id: str
    body: dict[str, Any]
    digest: str
    events: list[CloudEvent]
    ignored: str | None
    voids: str | None
    columns: dict[str, str | None]  # what the list query matches (store.xapi.list_statements)


@dataclass
class Parsed:
    statements: list[ParsedStatement] = field(default_factory=list)

    @property
    def events(self) -> list[CloudEvent]:
        return [e for s in self.statements for e in s.events]


class XapiConnector:
    """The xAPI vendor: neither a webhook nor a polling connector (module docstring)."""

    vendor: ClassVar[str] = "xapi"
    settings: ClassVar[type[ConnectorSettings]] = XapiSettings

    def parse(self, request: WebhookRequest, *, source: str, settings: XapiSettings | None = None,
              statement_id: str | None = None, now: datetime | None = None) -> Parsed:
        """A POST/PUT body (one statement or an array) → statements and events; any invalid
        statement rejects the whole body (400 naming it). Two statements of one id → 400."""
        version = negotiate_version(request.header("x-experience-api-version"))
        raw = request.json()
        if (problem := problem_in(raw, request.limits)) is not None:  # the body is stored whole
            raise PayloadError(problem, status=400)
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise PayloadError("empty array of statements", status=400)
        if statement_id is not None and isinstance(raw, list):
            raise PayloadError("PUT takes one statement, not an array", status=400)
        if statement_id is not None and not _is_uuid(statement_id):
            raise PayloadError("statementId: not a UUID", status=400)
        indexed = isinstance(raw, list)
        moment = (now or datetime.now(UTC))
        system = settings.account_system if settings else "moodle"
        authority = {"objectType": "Agent", "account": {"homePage": "urn:accolade:xapi",
                                                        "name": settings.id if settings else "xapi"}}
        parsed = Parsed([self._one(item, i if indexed else None, version=version, source=source,
                                   system=system, stored=moment, authority=authority,
                                   put_id=statement_id) for i, item in enumerate(items)])
        _no_repeated_ids(parsed)
        return parsed

    def _one(self, raw: Any, index: int | None, *, version: str, source: str, system: str,
             stored: datetime, authority: dict[str, Any], put_id: str | None) -> ParsedStatement:
        statement = parse_statement(raw, version=version, index=index)
        given = statement.id
        if put_id is not None:
            if given is not None and given.lower() != put_id.lower():
                raise PayloadError("id: differs from the statementId parameter", status=400)
            given = put_id
        sid = (given or str(uuid.uuid4())).lower()
        statement = statement.model_copy(update={"id": sid})
        body = {**raw, "id": sid, "stored": stored.isoformat().replace("+00:00", "Z"),
                "authority": authority, "version": raw.get("version") or version}
        events, ignored = map_statement(statement, source=source, account_system=system, stored=stored)
        voids = statement.object.id.lower() if statement.verb.id == VOIDED and \
            isinstance(statement.object, StatementRef) else None
        columns = {"verb": statement.verb.id[:512], "agent": agent_key(statement.actor),
                   "activity": statement.object.id[:512] if isinstance(statement.object, Activity) else None,
                   "registration": statement.context.registration.lower()
                   if statement.context and statement.context.registration else None,
                   "voids": voids, **_related_columns(statement)}
        return ParsedStatement(sid, body, content_digest(raw), events, ignored, voids, columns)


def _related_columns(statement: Statement) -> dict[str, str]:
    """`related_agents` / `related_activities` as newline-framed lists: a LIKE on `\\n<key>\\n`
    finds a key exactly (store.xapi)."""
    agents, activities = related(statement)
    return {"related_agents": "\n" + "".join(f"{k}\n" for k in sorted(agents)),
            "related_activities": "\n" + "".join(f"{k}\n" for k in sorted(activities))}


def _is_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and bool(uuid.UUID(value))
    except ValueError:
        return False


def _no_repeated_ids(parsed: Parsed) -> None:
    seen: set[str] = set()
    for statement in parsed.statements:
        if statement.id in seen:
            raise PayloadError(f"statement id {statement.id} appears twice in one batch", status=400)
        seen.add(statement.id)


CONNECTOR = XapiConnector()

"""xAPI statements parsed at the edge, per xAPI 1.0.3 and 2.0 (IEEE 9274.1.1).

A statement becomes a `Statement` model or a `PayloadError` (400) naming the first field that
is wrong: unknown properties are refused (`extra="forbid"`), an agent needs exactly one
inverse functional identifier, IRIs need a scheme, UUIDs and ISO 8601 times must parse, a
scaled score lies in [-1, 1] and a raw score between `min` and `max`. The version the request
names decides what is allowed: `context.contextAgents` and `context.contextGroups` exist only
in 2.0, so they are refused under 1.0.x (`check_version`).

`same_content` is the comparison of xAPI Data §2.3.1 used for a re-posted id: it ignores `id`,
`authority`, `stored`, `version`, the timestamp's serialisation (the same instant in any zone),
verb `display`, activity definitions and group member order, and compares the case-insensitive
parts (UUIDs, `mbox`, `mbox_sha1sum`, language tags) case-insensitively. IRIs are otherwise
compared as sent: their scheme and host are case-insensitive by RFC 3987, but lower-casing a
whole IRI would make two different paths equal, so only the scheme and host are folded.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from connectors.errors import PayloadError

__all__ = [
    "VOIDED",
    "Agent",
    "agent_key",
    "parse_agent",
    "related",
    "Group",
    "Statement",
    "check_version",
    "content_digest",
    "parse_statement",
    "parse_timestamp",
]

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_DURATION = re.compile(
    r"^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _iri(value: str) -> str:
    if not _IRI.match(value):
        raise ValueError(f"not an IRI (needs a scheme, e.g. http://…): {value[:64]!r}")
    return value


def _uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"not a UUID: {value[:64]!r}") from None
    return value


def _language_map(value: dict[str, str]) -> dict[str, str]:
    for tag in value:
        if not _LANG.match(tag):
            raise ValueError(f"not a language tag: {tag[:32]!r}")
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"not an ISO 8601 duration: {value[:32]!r}")
    return value


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 time with a zone (`Z` or an offset); a zone-less time is refused."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a zone (Z or an offset)")
    return moment


def _timestamp(value: str) -> str:
    parse_timestamp(value)
    return value


Iri = Annotated[str, AfterValidator(_iri)]
Uuid = Annotated[str, AfterValidator(_uuid)]
LanguageMap = Annotated[dict[str, str], AfterValidator(_language_map)]
Timestamp = Annotated[str, AfterValidator(_timestamp)]
Extensions = dict[Iri, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Account(_Strict):
    homePage: Iri  # noqa: N815 - xAPI's names
    name: str = Field(min_length=1)


class Agent(_Strict):
    """An agent: exactly one of `mbox`, `mbox_sha1sum`, `openid`, `account`."""

    objectType: Literal["Agent"] | None = None  # noqa: N815
    name: str | None = None
    mbox: str | None = Field(default=None, pattern=r"^mailto:[^@\s]+@[^@\s]+$")
    mbox_sha1sum: str | None = Field(default=None, pattern=_SHA1.pattern)
    openid: Iri | None = None
    account: Account | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> Agent:
        found = [n for n in ("mbox", "mbox_sha1sum", "openid", "account") if getattr(self, n) is not None]
        if len(found) != 1:
            raise ValueError("an agent needs exactly one of mbox, mbox_sha1sum, openid, account"
                             f" (found {', '.join(found) or 'none'})")
        return self


class Group(_Strict):
    """A group: anonymous (members only) or identified (one identifier, members optional)."""

    objectType: Literal["Group"]  # noqa: N815
    name: str | None = None
    member: list[Agent] | None = None
    mbox: str | None = Field(default=None, pattern=r"^mailto:[^@\s]+@[^@\s]+$")
    mbox_sha1sum: str | None = Field(default=None, pattern=_SHA1.pattern)
    openid: Iri | None = None
    account: Account | None = None

    @model_validator(mode="after")
    def _identified_or_members(self) -> Group:
        found = [n for n in ("mbox", "mbox_sha1sum", "openid", "account") if getattr(self, n) is not None]
        if len(found) > 1:
            raise ValueError("a group has at most one identifier")
        if not found and not self.member:
            raise ValueError("an anonymous group needs member")
        return self


def _actor_kind(value: Any) -> str:
    kind = value.get("objectType") if isinstance(value, dict) else getattr(value, "objectType", None)
    return "Group" if kind == "Group" else "Agent"


def _object_kind(value: Any) -> str:
    kind = value.get("objectType") if isinstance(value, dict) else getattr(value, "objectType", None)
    return kind if isinstance(kind, str) else "Activity"


Actor = Annotated[Annotated[Agent, Tag("Agent")] | Annotated[Group, Tag("Group")], Discriminator(_actor_kind)]


class Verb(_Strict):
    id: Iri
    display: LanguageMap | None = None


class Definition(BaseModel):
    """Activity definitions are kept as sent (interaction properties vary); the typed parts are checked."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: LanguageMap | None = None
    description: LanguageMap | None = None
    type: Iri | None = None
    moreInfo: Iri | None = None  # noqa: N815
    extensions: Extensions | None = None


class Activity(_Strict):
    objectType: Literal["Activity"] | None = None  # noqa: N815
    id: Iri
    definition: Definition | None = None


class StatementRef(_Strict):
    objectType: Literal["StatementRef"]  # noqa: N815
    id: Uuid


class Score(_Strict):
    scaled: float | None = Field(default=None, ge=-1, le=1)
    raw: float | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Score:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.raw is not None and ((self.min is not None and self.raw < self.min)
                                     or (self.max is not None and self.raw > self.max)):
            raise ValueError("raw lies outside [min, max]")
        return self


class Result(_Strict):
    score: Score | None = None
    success: bool | None = None
    completion: bool | None = None
    response: str | None = None
    duration: Annotated[str, AfterValidator(_duration)] | None = None
    extensions: Extensions | None = None


class ContextActivities(_Strict):
    parent: Activity | list[Activity] | None = None
    grouping: Activity | list[Activity] | None = None
    category: Activity | list[Activity] | None = None
    other: Activity | list[Activity] | None = None


class ContextAgent(_Strict):
    objectType: Literal["contextAgent"]  # noqa: N815
    agent: Agent
    relevantTypes: list[Iri] | None = None  # noqa: N815


class ContextGroup(_Strict):
    objectType: Literal["contextGroup"]  # noqa: N815
    group: Group
    relevantTypes: list[Iri] | None = None  # noqa: N815


class Context(_Strict):
    registration: Uuid | None = None
    instructor: Actor | None = None
    team: Group | None = None
    contextActivities: ContextActivities | None = None  # noqa: N815
    contextAgents: list[ContextAgent] | None = None  # noqa: N815  (2.0 only)
    contextGroups: list[ContextGroup] | None = None  # noqa: N815  (2.0 only)
    revision: str | None = None
    platform: str | None = None
    language: str | None = None
    statement: StatementRef | None = None
    extensions: Extensions | None = None


class Attachment(_Strict):
    usageType: Iri  # noqa: N815
    display: LanguageMap
    description: LanguageMap | None = None
    contentType: str  # noqa: N815
    length: int = Field(ge=0)
    sha2: str
    fileUrl: Iri | None = None  # noqa: N815


_Target = (Annotated[Activity, Tag("Activity")] | Annotated[Agent, Tag("Agent")]
           | Annotated[Group, Tag("Group")] | Annotated[StatementRef, Tag("StatementRef")])


class SubStatement(_Strict):
    objectType: Literal["SubStatement"]  # noqa: N815
    actor: Actor
    verb: Verb
    object: Annotated[_Target, Discriminator(_object_kind)]
    result: Result | None = None
    context: Context | None = None
    timestamp: Timestamp | None = None
    attachments: list[Attachment] | None = None


class Statement(_Strict):
    id: Uuid | None = None
    actor: Actor
    verb: Verb
    object: Annotated[_Target | Annotated[SubStatement, Tag("SubStatement")], Discriminator(_object_kind)]
    result: Result | None = None
    context: Context | None = None
    timestamp: Timestamp | None = None
    stored: Timestamp | None = None
    authority: Actor | None = None
    version: str | None = Field(default=None, pattern=r"^[12]\.0(\.\d+)?$")
    attachments: list[Attachment] | None = None

    @model_validator(mode="after")
    def _voiding_names_a_statement(self) -> Statement:
        if self.verb.id == VOIDED and not isinstance(self.object, StatementRef):
            raise ValueError("a voiding statement's object must be a StatementRef")
        return self


def parse_statement(raw: Any, *, version: str, index: int | None = None) -> Statement:
    """`raw` as a `Statement` valid under `version` ("1.0" or "2.0"); else a 400 naming the field."""
    where = "" if index is None else f"statement[{index}]."
    if not isinstance(raw, dict):
        raise PayloadError(f"{where or 'statement '}must be a JSON object", status=400)
    try:
        statement = Statement.model_validate(raw)
    except ValidationError as exc:
        raise PayloadError(f"{where}{_first_error(exc)}", status=400) from None
    check_version(statement, version=version, where=where)
    return statement


def _first_error(exc: ValidationError) -> str:
    """The first problem as `field.path: message`, without pydantic's union and validator tags."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if isinstance(p, int) or not (p[:1].isupper() or "[" in p))
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "union_tag_invalid":
        message = "objectType is not one xAPI allows here"
    return f"{loc or 'statement'}: {message}"[:300]


def check_version(statement: Statement, *, version: str, where: str = "") -> None:
    """Refuse properties the named version does not have (2.0 additions under 1.0.x)."""
    if version.startswith("2."):
        return
    for context, path in _contexts(statement):
        for name in ("contextAgents", "contextGroups"):
            if context is not None and getattr(context, name) is not None:
                raise PayloadError(f"{where}{path}.{name}: only in xAPI 2.0, the request names "
                                   f"X-Experience-API-Version {version}", status=400)


def _contexts(statement: Statement) -> list[tuple[Context | None, str]]:
    found: list[tuple[Context | None, str]] = [(statement.context, "context")]
    if isinstance(statement.object, SubStatement):
        found.append((statement.object.context, "object.context"))
    return found


def agent_key(agent: Agent | Group) -> str | None:
    """An agent's (or identified group's) inverse functional identifier as one string, the
    case-insensitive ones lower-cased: what the list query's `agent` parameter matches."""
    if agent.mbox is not None:
        return "mbox:" + agent.mbox.lower()
    if agent.mbox_sha1sum is not None:
        return "mbox_sha1sum:" + agent.mbox_sha1sum.lower()
    if agent.openid is not None:
        return "openid:" + agent.openid
    if agent.account is not None:
        return f"account:{agent.account.homePage} {agent.account.name}"[:600]
    return None


def related(statement: Statement) -> tuple[set[str], set[str]]:
    """Every agent key and activity IRI the statement names anywhere (xAPI Communication
    §2.1.3 `related_agents` / `related_activities`): actor, object, authority, context
    instructor, team, context agents and groups, context activities, and the same inside a
    SubStatement. Group members count as agents of the statement."""
    agents: set[str] = set()
    activities: set[str] = set()
    _collect(statement, agents, activities)
    if statement.authority is not None:
        _add_agent(statement.authority, agents)
    return agents, activities


def _collect(statement: Statement | SubStatement, agents: set[str], activities: set[str]) -> None:
    _add_agent(statement.actor, agents)
    target = statement.object
    if isinstance(target, Activity):
        activities.add(target.id)
    elif isinstance(target, Agent | Group):
        _add_agent(target, agents)
    elif isinstance(target, SubStatement):
        _collect(target, agents, activities)
    context = statement.context
    if context is None:
        return
    for who in (context.instructor, context.team):
        if who is not None:
            _add_agent(who, agents)
    for agent in context.contextAgents or []:
        _add_agent(agent.agent, agents)
    for group in context.contextGroups or []:
        _add_agent(group.group, agents)
    lists = context.contextActivities
    for name in ("parent", "grouping", "category", "other"):
        found = getattr(lists, name) if lists is not None else None
        for activity in found if isinstance(found, list) else [found] if found else []:
            activities.add(activity.id)


def _add_agent(agent: Agent | Group, agents: set[str]) -> None:
    if (key := agent_key(agent)) is not None:
        agents.add(key)
    if isinstance(agent, Group):
        agents.update(k for m in agent.member or [] if (k := agent_key(m)) is not None)


def parse_agent(text: str) -> str:
    """The list query's `agent` parameter (JSON of an agent or identified group) as `agent_key`."""
    try:
        raw = json.loads(text)
        agent = Group.model_validate(raw) if isinstance(raw, dict) and raw.get("objectType") == "Group" \
            else Agent.model_validate(raw)
    except (ValueError, ValidationError):
        raise PayloadError("agent: not the JSON of an agent with one identifier", status=400) from None
    key = agent_key(agent)
    if key is None:
        raise PayloadError("agent: an anonymous group cannot be queried", status=400)
    return key


# --- §2.3.1 comparison ---

_IGNORED_TOP = ("id", "authority", "stored", "version")
_CASELESS = frozenset({"mbox", "mbox_sha1sum", "registration"})


def content_digest(raw: dict[str, Any]) -> str:
    """A digest equal for two statements exactly when §2.3.1 calls them the same."""
    canonical = _canonical({k: v for k, v in raw.items() if k not in _IGNORED_TOP}, key=None)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any, *, key: str | None) -> Any:
    if isinstance(value, dict):
        return _canonical_object(value, key=key)
    if isinstance(value, list):
        items = [_canonical(v, key=None) for v in value]
        if key == "member":  # member order is not meaningful
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    if isinstance(value, str):
        return _canonical_text(value, key=key)
    return value


def _canonical_object(value: dict[str, Any], *, key: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in value.items():
        if name == "definition" or (key == "verb" and name == "display"):
            continue
        if key in ("display", "name", "description") and isinstance(item, str):
            out[name.lower()] = item  # a language map: the tag is case-insensitive
            continue
        out[name] = _canonical(item, key=name)
    return out


def _canonical_text(value: str, *, key: str | None) -> str:
    if key in _CASELESS:
        return value.lower()
    if key == "timestamp":
        try:
            return parse_timestamp(value).astimezone(UTC).isoformat()
        except ValueError:
            return value
    if key == "id" and _looks_like_uuid(value):
        return value.lower()
    if key in ("id", "homePage", "openid") and "://" in value:
        scheme, _, rest = value.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return value


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36

"""GitLab webhooks (GitLab.com and self-managed) → canonical events.

Verification: GitLab sends the webhook's secret token verbatim in ``X-Gitlab-Token`` (no
signature over the body). It is compared with the configured ``token`` in constant time, as
bytes, so an odd header never raises; a reason never contains either value.

Parsing dispatches on the ``X-Gitlab-Event`` header (DESIGN §8):

- ``Pipeline Hook``, status success or failed → ``ci.pipeline.completed``; actor ``user``.
- ``Merge Request Hook``, action ``merge`` → ``code.change.merged``, credited to the author
  (``object_attributes.author_id``), never to ``user``, who pressed the button and is kept as
  ``merged_by``. The hook carries only the author's id: the login is added only when ``user``
  is the author.
- ``Deployment Hook``, status success, failed or canceled → ``deploy.completed``; created and
  running are acknowledged and ignored (the deployment has not finished).
- ``Issue Hook`` and ``Confidential Issue Hook``, action ``close`` → ``ticket.resolved``;
  actor ``user`` (who closed it), as GitHub's sender.

Other actions and states, and the events in ``ignored_events``, are acknowledged with a
reason; a mapped delivery missing what it needs is a ``PayloadError`` (422) naming the field,
a body that is not a JSON object is a 400.

Decisions: ``id`` is the fact (``pipeline:<id>:<status>``, ``merge_request:<id>:merged``,
``deployment:<id>:<status>``, ``issue:<id>:closed:<closed_at>``), never the delivery, so a
redelivery under a new ``X-Gitlab-Event-UUID`` is one event. The delivery id (``Idempotency-Key``,
stable across GitLab's retries, else ``X-Gitlab-Event-UUID``) is kept as ``accoladedelivery``.
``outcome`` uses the words GitHub's connector uses, so one rule serves both vendors
(success, failed → failure, canceled → cancelled); GitLab's own word stays in ``status``.
Identities are ``gitlab`` ids (numeric user id) with the username as ``login``; GitLab
redacts emails as ``[REDACTED]``, so only a value that looks like an address becomes
``email``. A merge's time is ``updated_at`` (the hook has no merge time). A deployment hook
from a GitLab too old to send ``deployment_id`` is a 422: its job id is another fact and never
stands in. GitLab times come as ``2016-08-12 15:23:28 UTC``, ``… +0200`` or ISO 8601; a time
without a zone is UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)

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

__all__ = ["CONNECTOR", "MAPPED_EVENTS", "SYSTEM", "GitLabSettings", "GitLabWebhook"]

SYSTEM = "gitlab"
_TOKEN_HEADER = "X-Gitlab-Token"
_EVENT_HEADER = "X-Gitlab-Event"
_OUTCOME = {"success": "success", "failed": "failure", "canceled": "cancelled"}
_PIPELINE_DONE = frozenset({"success", "failed"})
_DEPLOY_DONE = frozenset({"success", "failed", "canceled"})
_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(UTC|Z|[+-]\d{2}:?\d{2})?")
_EMAIL_RE = re.compile(r"[^@\s\[\]]+@[^@\s\[\]]+\.[^@\s\[\]]+")


class GitLabSettings(ConnectorSettings):
    """`vendor: gitlab` (DESIGN §8): webhooks authenticated by their secret `token`."""

    vendor: Literal["gitlab"]
    token: RequiredSecret = Field(description="the webhook's secret token, as an ${ENV} reference")



# --- vendor payload models: only the fields read, all optional, unknown fields ignored ---


def _gitlab_time(value: object) -> object:
    """GitLab's time formats as ISO 8601 with a zone; anything but a string is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a time must be a string")
    match = _TIME_RE.fullmatch(value.strip())
    if match is None:
        return value  # pydantic judges it (and names the field when it fails)
    date, clock, zone = match.groups()
    if zone in (None, "UTC", "Z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    return f"{date}T{clock}{zone}"


def _int_id(value: object) -> int | None:
    if value is None or type(value) is int:
        return value
    raise ValueError("an id must be an integer")


Time = Annotated[datetime | None, BeforeValidator(_gitlab_time), AfterValidator(as_utc)]
Id = Annotated[int | None, PlainValidator(_int_id)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class User(_Model):
    id: Id = None
    username: str | None = None
    email: str | None = None


class Project(_Model):
    path_with_namespace: str | None = None
    web_url: str | None = None


class Label(_Model):
    title: str | None = None


class _Hook(_Model):
    """What every mapped hook carries: who triggered it, and where."""

    user: User | None = None
    project: Project | None = None

    @property
    def path(self) -> str | None:
        return self.project.path_with_namespace if self.project else None


class PipelineAttributes(_Model):
    id: Id = None
    status: str | None = None
    ref: str | None = None
    source: str | None = None
    created_at: Time = None
    finished_at: Time = None


class MergeRequestAttributes(_Model):
    id: Id = None
    iid: Id = None
    action: str | None = None
    author_id: Id = None
    target_branch: str | None = None
    source_branch: str | None = None
    url: str | None = None
    updated_at: Time = None


class IssueAttributes(_Model):
    id: Id = None
    iid: Id = None
    action: str | None = None
    confidential: bool | None = None
    labels: list[Label] | None = None
    url: str | None = None
    updated_at: Time = None
    closed_at: Time = None


class PipelineHook(_Hook):
    object_attributes: PipelineAttributes | None = None


class MergeRequestHook(_Hook):
    object_attributes: MergeRequestAttributes | None = None


class IssueHook(_Hook):
    object_attributes: IssueAttributes | None = None
    assignees: list[User] | None = None


class DeploymentHook(_Hook):
    """A deployment's fields sit at the top level, not in `object_attributes`."""

    status: str | None = None
    status_changed_at: Time = None
    deployment_id: Id = None
    environment: str | None = None
    ref: str | None = None
    short_sha: str | None = None
    deployable_url: str | None = None


# --- small helpers ---


T = TypeVar("T")
H = TypeVar("H", bound=_Hook)


def _load(body: dict[str, Any], model: type[H]) -> H:
    """The body as the event's `model` (only the fields read); 422 naming a field of a bad type."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise PayloadError(first_error(exc)) from None


def _need(field: str, value: T | None) -> T:
    if value is None or value == "":
        raise PayloadError(f"{field} is missing")
    return value


def _word(value: str | None) -> str:
    return short(value.lower()) if value else "(none)"


def _identity(user: User | None) -> dict[str, str] | None:
    """A GitLab user as an identity dict, or None without id and username."""
    if user is None or (user.id is None and not user.username):
        return None
    found = {"id": None if user.id is None else str(user.id), "login": user.username}
    if user.email and _EMAIL_RE.fullmatch(user.email):  # never "[REDACTED]"
        found["email"] = user.email
    return {"system": SYSTEM, **{k: v for k, v in found.items() if v}}


def _actor(field: str, user: User | None) -> dict[str, str]:
    return _need(f"{field} (a user with id or username)", _identity(user))


def _subject(path: str | None, kind: str, number: object) -> str:
    return f"{path}/-/{kind}/{number}" if path else f"{kind}/{number}"


# --- one handler per mapped header event ---


def _pipeline(p: PipelineHook) -> Draft | ParseResult:
    attrs = _need("object_attributes", p.object_attributes)
    status = _word(_need("object_attributes.status", attrs.status))
    if status not in _PIPELINE_DONE:
        return ParseResult(ignored=f"pipeline status {status} is not mapped (success, failed)")
    pipeline_id = _need("object_attributes.id", attrs.id)
    return Draft(
        type="ci.pipeline.completed",
        stable_id=f"pipeline:{pipeline_id}:{status}",
        time=_need("object_attributes.finished_at", attrs.finished_at or attrs.created_at),
        actor=_actor("user", p.user),
        subject=_subject(p.path, "pipelines", pipeline_id),
        data={"outcome": _OUTCOME[status], "status": status, "project": p.path, "ref": attrs.ref,
              "pipeline_id": pipeline_id, "source": attrs.source},
    )


def _merge_request(p: MergeRequestHook) -> Draft | ParseResult:
    attrs = _need("object_attributes", p.object_attributes)
    if (action := _word(attrs.action)) != "merge":
        return ParseResult(ignored=f"merge_request action {action} is not mapped")
    mr_id = _need("object_attributes.id", attrs.id)
    author = _need("object_attributes.author_id", attrs.author_id)
    actor = {"system": SYSTEM, "id": str(author)}
    if p.user is not None and p.user.id == author and p.user.username:
        actor["login"] = p.user.username
    return Draft(
        type="code.change.merged",
        stable_id=f"merge_request:{mr_id}:merged",
        time=_need("object_attributes.updated_at", attrs.updated_at),
        actor=actor,
        subject=_subject(p.path, "merge_requests", attrs.iid or mr_id),
        data={"merged_by": _identity(p.user), "base_branch": attrs.target_branch,
              "head_branch": attrs.source_branch, "project": p.path, "number": attrs.iid,
              "url": attrs.url},
    )


def _deployment(p: DeploymentHook) -> Draft | ParseResult:
    status = _word(_need("status", p.status))
    if status not in _DEPLOY_DONE:
        return ParseResult(ignored=f"deployment status {status} is not mapped (success, failed, canceled)")
    deployment_id = _need("deployment_id", p.deployment_id)
    return Draft(
        type="deploy.completed",
        stable_id=f"deployment:{deployment_id}:{status}",
        time=_need("status_changed_at", p.status_changed_at),
        actor=_actor("user", p.user),
        subject=_subject(p.path, "deployments", deployment_id),
        data={"outcome": _OUTCOME[status], "status": status, "environment": p.environment,
              "project": p.path, "ref": p.ref, "deployment_id": deployment_id,
              "commit": p.short_sha, "url": p.deployable_url},
    )


def _issue(p: IssueHook) -> Draft | ParseResult:
    attrs = _need("object_attributes", p.object_attributes)
    if (action := _word(attrs.action)) != "close":
        return ParseResult(ignored=f"issue action {action} is not mapped")
    issue_id = _need("object_attributes.id", attrs.id)
    time = _need("object_attributes.closed_at", attrs.closed_at or attrs.updated_at)
    number = attrs.iid or issue_id
    ticket = f"{p.path}#{attrs.iid}" if p.path and attrs.iid else str(issue_id)
    return Draft(
        type="ticket.resolved",
        stable_id=f"issue:{issue_id}:closed:{time:%Y-%m-%dT%H:%M:%SZ}",
        time=time,
        actor=_actor("user", p.user),
        subject=_subject(p.path, "issues", number),
        data={"ticket": ticket, "project": p.path, "number": attrs.iid,
              "assignees": [a for a in map(_identity, p.assignees or []) if a is not None],
              "labels": [x.title for x in attrs.labels or [] if x.title],
              "confidential": attrs.confidential, "url": attrs.url},
    )


# header event → (handler, the payload model it reads)
_HANDLERS: dict[str, tuple[Callable[[Any], Draft | ParseResult], type[_Hook]]] = {
    "Pipeline Hook": (_pipeline, PipelineHook),
    "Merge Request Hook": (_merge_request, MergeRequestHook),
    "Deployment Hook": (_deployment, DeploymentHook),
    "Issue Hook": (_issue, IssueHook),
    "Confidential Issue Hook": (_issue, IssueHook),
}
MAPPED_EVENTS: tuple[str, ...] = tuple(_HANDLERS)


def _body(request: WebhookRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise PayloadError(f"invalid JSON: body must be an object, got {type(body).__name__}", status=400)
    return body


class GitLabWebhook(WebhookConnector):
    """The GitLab connector: secret-token verification and the DESIGN §8 mapping."""

    vendor = SYSTEM
    settings = GitLabSettings
    mapped_events = MAPPED_EVENTS
    # acknowledged with a reason and no event; any other event is reported as "not mapped"
    ignored_events = ("Push Hook", "Tag Push Hook", "Note Hook", "Job Hook", "Wiki Page Hook",
                      "Release Hook")
    event_header = _EVENT_HEADER

    def delivery_id(self, request: WebhookRequest) -> str | None:
        """``Idempotency-Key`` (unchanged across GitLab's retries), else ``X-Gitlab-Event-UUID``."""
        for name in ("Idempotency-Key", "X-Gitlab-Event-UUID"):
            value = request.header(name)
            if value and value.strip():
                return value
        return None

    def verify(self, request: WebhookRequest, settings: GitLabSettings) -> None:
        """Raise VerificationError unless ``X-Gitlab-Token`` is the configured token."""
        verify_shared_secret(request, settings.token.get_secret_value(), header=_TOKEN_HEADER,
                             what="webhook token")

    def parse(self, request: WebhookRequest, *, source: str) -> ParseResult:
        """Map one verified delivery to at most one event, or none with a reason.

        Raises:
            PayloadError: 400 without an event header or a JSON object body; 422 when a
                mapped event lacks a field it needs or has it with the wrong type.
        """
        event = (request.header(_EVENT_HEADER) or "").strip()
        if not event:
            raise PayloadError(f"missing {_EVENT_HEADER} header", status=400)
        body = _body(request)
        found = _HANDLERS.get(event)
        if found is None:
            result = ParseResult(ignored=f"event {short(event)} is not mapped")
        elif isinstance(mapped := found[0](_load(body, found[1])), Draft):
            made = to_event(mapped, source=source, delivery_id=self.delivery_id(request))
            result = ParseResult(events=[made])
        else:
            result = mapped
        result.event_name = event
        return result


CONNECTOR = GitLabWebhook()

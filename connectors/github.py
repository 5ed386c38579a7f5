"""GitHub webhooks (GitHub.com and Enterprise Server) → canonical events.

Verification: ``X-Hub-Signature-256: sha256=<hex>``, an HMAC-SHA256 of the raw body with the
webhook secret, compared in constant time. The legacy SHA-1 ``X-Hub-Signature`` is refused.

Parsing dispatches on the ``X-GitHub-Event`` header and the payload's state fields, as in the
"GitHub mapping" table of DESIGN §7: ``workflow_run`` → ``ci.pipeline.completed``,
``deployment_status`` → ``deploy.completed``, ``pull_request`` → ``code.change.merged``,
``pull_request_review`` → ``code.review.submitted``, ``issues`` → ``ticket.resolved``. A
completed run without a conclusion is dropped and counted; other actions and states, ``ping``
and unmapped events are acknowledged with a reason and no events; a mapped delivery missing
what it needs is a ``PayloadError`` (422) naming the field.

Decisions: ``id`` is built from the fact, object id and state (``workflow_run:<id>:<attempt>:
<conclusion>``, ``deployment_status:<id>:<state>``, ``pull_request:<id>:merged``,
``pull_request_review:<id>:submitted``, ``issues:<id>:closed:<closed_at>``), never from the
delivery: a redelivery, and a signed body replayed under a new ``X-GitHub-Delivery``, dedupe,
while a re-run or a re-close does not. The delivery id is kept verbatim in the CloudEvents
extension ``accoladedelivery`` (events stored before this rule have it as their ``id``: the
event log dedupes on both, see ``store.eventlog``).
``time`` comes from the payload with fallbacks to the same object's other timestamps (naive
means UTC; none is a 422, never the time of receipt). A merge is the PR author's: the sender,
who pressed the button, is no fallback there. Form-encoded bodies (GitHub's other content
type) are read from their ``payload`` field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs

from pydantic import (
    AfterValidator,
    BaseModel,
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
    verify_sha256_signature,
)
from connectors.mapping import Draft as _Draft
from connectors.mapping import as_utc as _as_utc
from connectors.mapping import first_error as _first_error
from connectors.mapping import short as _short
from connectors.mapping import to_event as _event

__all__ = ["CONNECTOR", "MAPPED_EVENTS", "SYSTEM", "GitHubSettings", "GitHubWebhook"]

SYSTEM = "github"
_SIGNATURE_HEADER = "X-Hub-Signature-256"
_DEPLOY_DONE = frozenset({"success", "failure", "error"})


class GitHubSettings(ConnectorSettings):
    """`vendor: github` (DESIGN §8): webhooks signed with `secret`."""

    vendor: Literal["github"]
    secret: RequiredSecret = Field(description="webhook signing secret, as an ${ENV} reference")



# --- vendor payload models: only the fields read, all optional, unknown fields ignored ---


def _object_id(value: object) -> object:
    if value is None or isinstance(value, str) or type(value) is int:
        return value
    raise ValueError("an id must be an integer or a string")


Time = Annotated[datetime | None, AfterValidator(_as_utc)]
ObjectId = Annotated[int | str | None, PlainValidator(_object_id)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class User(_Model):
    id: ObjectId = None
    login: str | None = None
    email: str | None = None


class Named(_Model):
    """A repository, workflow or branch ref: only its names are read."""

    name: str | None = None
    full_name: str | None = None
    ref: str | None = None


class WorkflowRun(_Model):
    id: ObjectId = None
    name: str | None = None
    head_branch: str | None = None
    run_attempt: int | None = None
    conclusion: str | None = None
    html_url: str | None = None
    actor: User | None = None
    updated_at: Time = None
    run_started_at: Time = None


class Deployment(_Model):
    id: ObjectId = None
    environment: str | None = None
    ref: str | None = None
    creator: User | None = None


class DeploymentStatus(_Model):
    id: ObjectId = None
    state: str | None = None
    environment: str | None = None
    updated_at: Time = None
    created_at: Time = None


class PullRequest(_Model):
    id: ObjectId = None
    number: int | None = None
    merged: bool | None = None
    merged_at: Time = None
    closed_at: Time = None
    user: User | None = None
    merged_by: User | None = None
    base: Named | None = None
    html_url: str | None = None


class Review(_Model):
    id: ObjectId = None
    state: str | None = None
    submitted_at: Time = None
    user: User | None = None
    html_url: str | None = None


class Issue(_Model):
    id: ObjectId = None
    number: int | None = None
    state_reason: str | None = None
    closed_at: Time = None
    updated_at: Time = None
    assignees: list[User] | None = None
    assignee: User | None = None
    html_url: str | None = None


class Payload(_Model):
    """The top level of any mapped delivery; each event fills its own object."""

    number: int | None = None
    sender: User | None = None
    repository: Named | None = None
    workflow: Named | None = None
    workflow_run: WorkflowRun | None = None
    deployment: Deployment | None = None
    deployment_status: DeploymentStatus | None = None
    pull_request: PullRequest | None = None
    review: Review | None = None
    issue: Issue | None = None

    @property
    def repo(self) -> str | None:
        return self.repository.full_name if self.repository else None


# --- small helpers ---

T = TypeVar("T")


def _load(body: dict[str, Any], *objects: str) -> Payload:
    """Validate the envelope and only the `objects` this event reads; 422 on a bad type."""
    keys = ("number", "sender", "repository", *objects)
    wanted = {k: body[k] for k in keys if k in body}
    try:
        return Payload.model_validate(wanted)
    except ValidationError as exc:
        raise PayloadError(_first_error(exc)) from None


def _need(field: str, *candidates: T | None) -> T:
    """The first present candidate; a 422 naming `field` when there is none."""
    for value in candidates:
        if value is not None and value != "":
            return value
    raise PayloadError(f"{field} is missing")


def _action(body: dict[str, Any]) -> str:
    action = body.get("action")
    return _short(action) if isinstance(action, str) and action else "(none)"


def _identity(user: User | None) -> dict[str, str] | None:
    """A GitHub user as an identity dict, or None when it has neither id nor login."""
    if user is None or (user.id in (None, "") and not user.login):
        return None
    user_id = None if user.id is None else str(user.id)
    found = {"id": user_id, "login": user.login, "email": user.email}
    return {"system": SYSTEM, **{k: v for k, v in found.items() if v}}


def _actor(field: str, *candidates: User | None) -> dict[str, str]:
    for user in candidates:
        if (found := _identity(user)) is not None:
            return found
    raise PayloadError(f"{field} is missing: no usable actor (a user with id or login)")


def _subject(repo: str | None, *parts: object) -> str:
    return "/".join(str(p) for p in (repo, *parts) if p is not None)


def _decode(request: WebhookRequest) -> dict[str, Any]:
    """The delivery body as a JSON object (JSON or form-encoded ``payload=``), else 400."""
    raw: bytes | str | None = None
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(request.body.decode("ascii"), errors="strict")
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise PayloadError(f"invalid form body: {_short(exc, 200)}", status=400) from None
        raw = (form.get("payload") or [""])[0]
        if not raw:
            raise PayloadError("invalid JSON: form body has no payload field", status=400)
    body = request.json(raw)
    if not isinstance(body, dict):
        kind = type(body).__name__
        raise PayloadError(f"invalid JSON: body must be an object, got {kind}", status=400)
    return body


# --- one handler per mapped header event ---


def _workflow_run(body: dict[str, Any]) -> _Draft | ParseResult:
    if (action := _action(body)) != "completed":
        return ParseResult(ignored=f"workflow_run action {action} is not mapped")
    p = _load(body, "workflow_run", "workflow")
    run = _need("workflow_run", p.workflow_run)
    if not run.conclusion:
        return ParseResult(ignored="workflow_run completed without a conclusion", dropped=1)
    run_id = _need("workflow_run.id", run.id)
    outcome = run.conclusion.lower()
    return _Draft(
        type="ci.pipeline.completed",
        stable_id=f"workflow_run:{run_id}:{run.run_attempt or 1}:{outcome}",
        time=_need("workflow_run.updated_at", run.updated_at, run.run_started_at),
        actor=_actor("workflow_run.actor", run.actor, p.sender),
        subject=_subject(p.repo, "actions/runs", run_id),
        data={
            "outcome": outcome,
            "repository": p.repo,
            "workflow": run.name or (p.workflow.name if p.workflow else None),
            "branch": run.head_branch,
            "run_id": run_id,
            "run_attempt": run.run_attempt,
            "html_url": run.html_url,
        },
    )


def _deployment_status(body: dict[str, Any]) -> _Draft | ParseResult:
    p = _load(body, "deployment_status", "deployment")
    status = _need("deployment_status", p.deployment_status)
    state = _need("deployment_status.state", status.state).lower()
    if state not in _DEPLOY_DONE:
        return ParseResult(ignored=f"deployment_status state {_short(state)} is not mapped")
    status_id = _need("deployment_status.id", status.id)
    deployment = p.deployment or Deployment()
    return _Draft(
        type="deploy.completed",
        stable_id=f"deployment_status:{status_id}:{state}",
        time=_need("deployment_status.updated_at", status.updated_at, status.created_at),
        actor=_actor("deployment.creator", deployment.creator, p.sender),
        subject=_subject(p.repo, "deployments", deployment.id or status_id),
        data={
            "outcome": state,
            "environment": status.environment or deployment.environment,
            "repository": p.repo,
            "ref": deployment.ref,
            "deployment_id": deployment.id,
        },
    )


def _pull_request(body: dict[str, Any]) -> _Draft | ParseResult:
    if (action := _action(body)) != "closed":
        return ParseResult(ignored=f"pull_request action {action} is not mapped")
    p = _load(body, "pull_request")
    pr = _need("pull_request", p.pull_request)
    if not (pr.merged if pr.merged is not None else pr.merged_at is not None):
        return ParseResult(ignored="pull_request closed without merge")
    pr_id = _need("pull_request.id", pr.id)
    number = p.number or pr.number
    return _Draft(
        type="code.change.merged",
        stable_id=f"pull_request:{pr_id}:merged",
        time=_need("pull_request.merged_at", pr.merged_at, pr.closed_at),
        actor=_actor("pull_request.user", pr.user),
        subject=_subject(p.repo, "pull", number or pr_id),
        data={
            "merged_by": _identity(pr.merged_by),
            "base_branch": pr.base.ref if pr.base else None,
            "repository": p.repo,
            "number": number,
            "html_url": pr.html_url,
        },
    )


def _pull_request_review(body: dict[str, Any]) -> _Draft | ParseResult:
    if (action := _action(body)) != "submitted":
        return ParseResult(ignored=f"pull_request_review action {action} is not mapped")
    p = _load(body, "review", "pull_request")
    review = _need("review", p.review)
    review_id = _need("review.id", review.id)
    number = p.pull_request.number if p.pull_request else None
    return _Draft(
        type="code.review.submitted",
        stable_id=f"pull_request_review:{review_id}:submitted",
        time=_need("review.submitted_at", review.submitted_at),
        actor=_actor("review.user", review.user, p.sender),
        subject=_subject(p.repo, "pull", number, "reviews", review_id),
        data={
            "state": review.state.lower() if review.state else None,
            "repository": p.repo,
            "number": number,
            "html_url": review.html_url,
        },
    )


def _issues(body: dict[str, Any]) -> _Draft | ParseResult:
    if (action := _action(body)) != "closed":
        return ParseResult(ignored=f"issues action {action} is not mapped")
    p = _load(body, "issue")
    issue = _need("issue", p.issue)
    issue_id = _need("issue.id", issue.id)
    time = _need("issue.closed_at", issue.closed_at, issue.updated_at)
    people = issue.assignees or [issue.assignee]
    return _Draft(
        type="ticket.resolved",
        stable_id=f"issues:{issue_id}:closed:{time.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        time=time,
        actor=_actor("sender", p.sender),
        subject=_subject(p.repo, "issues", issue.number or issue_id),
        data={
            "state_reason": issue.state_reason.lower() if issue.state_reason else None,
            "assignees": [a for a in map(_identity, people) if a is not None],
            "repository": p.repo,
            "number": issue.number,
            "html_url": issue.html_url,
        },
    )


def _ping(body: dict[str, Any]) -> ParseResult:
    reply: dict[str, Any] = {"msg": "pong"}
    for key in ("zen", "hook_id"):
        if isinstance(body.get(key), str | int) and not isinstance(body[key], bool):
            reply[key] = body[key]
    return ParseResult(ignored="ping", reply=reply)


_HANDLERS: dict[str, Callable[[dict[str, Any]], _Draft | ParseResult]] = {
    "workflow_run": _workflow_run,
    "deployment_status": _deployment_status,
    "pull_request": _pull_request,
    "pull_request_review": _pull_request_review,
    "issues": _issues,
    "ping": _ping,
}
MAPPED_EVENTS: tuple[str, ...] = tuple(name for name in _HANDLERS if name != "ping")


class GitHubWebhook(WebhookConnector):
    """The GitHub connector: HMAC-SHA256 verification and the DESIGN §7 mapping."""

    vendor = SYSTEM
    settings = GitHubSettings
    mapped_events = MAPPED_EVENTS
    # acknowledged with a reason and no event (ping is answered with a pong); any other unmapped
    # event is reported as "not mapped"
    ignored_events = ("ping", "push", "star", "workflow_job")
    event_header = "X-GitHub-Event"

    def delivery_id(self, request: WebhookRequest) -> str | None:
        """The ``X-GitHub-Delivery`` header verbatim, or None when absent or blank."""
        value = request.header("X-GitHub-Delivery")
        return value if value and value.strip() else None

    def verify(self, request: WebhookRequest, settings: GitHubSettings) -> None:
        """Raise VerificationError unless ``X-Hub-Signature-256`` signs the raw body.

        The reason never contains the secret or a digest.
        """
        legacy = bool(request.header("X-Hub-Signature"))
        hint = " (SHA-1 X-Hub-Signature is not accepted)" if legacy else ""
        verify_sha256_signature(request, settings.secret.get_secret_value(), header=_SIGNATURE_HEADER,
                                missing_hint=hint)

    def parse(self, request: WebhookRequest, *, source: str) -> ParseResult:
        """Map one verified delivery to at most one event, or none with a reason.

        Raises:
            PayloadError: 400 without an event header or a JSON object body; 422 when a
                mapped event lacks a field it needs.
        """
        event = (request.header("X-GitHub-Event") or "").strip()
        if not event:
            raise PayloadError("missing X-GitHub-Event header", status=400)
        body = _decode(request)
        handler = _HANDLERS.get(event)
        if handler is None:
            result = ParseResult(ignored=f"event {_short(event)} is not mapped")
        elif isinstance(mapped := handler(body), _Draft):
            found = _event(mapped, source=source, delivery_id=self.delivery_id(request))
            result = ParseResult(events=[found])
        else:
            result = mapped
        result.event_name = event
        return result


CONNECTOR = GitHubWebhook()

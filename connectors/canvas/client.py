"""The Canvas poller's I/O: an httpx client, one page per call, failures classified here.

Where a cycle is lives in the page token (`Position`, JSON): the courses of this batch (the
named `courses`, or one page of `GET /api/v1/accounts/:id/courses`), the course being read,
its phase and the `Link: rel="next"` URL within it. A retried attempt resumes at that page.
Per course, two phases:

1. `submissions`: `GET /api/v1/courses/:id/students/submissions?student_ids[]=all&
   graded_since=<lower bound>&include[]=assignment` (Submissions API, "List submissions for
   multiple assignments"). `graded_since` is a strict `>`; the cycle's overlap re-reads the
   boundary, and ids dedupe.
2. `students`: `GET /api/v1/courses/:id/users?enrollment_type[]=student&include[]=enrollments&
   include[]=email` (Users API, "List users in course"), then for each learner on the page
   `GET /api/v1/courses/:id/users/:user_id/progress` (Courses API, "Get user progress"): one
   call per learner per cycle, the price of Canvas having no "completed since" filter. A 404
   there (the learner left) reads as no progress.

Next links must stay on the configured origin: the token is never sent elsewhere.

Authentication: `Authorization: Bearer <token>`; or authlib's `OAuth2Client` with the refresh
token (`POST /login/oauth2/token`, grant `refresh_token`, the client id and secret in the
body), refreshed when the access token expires and once more on a 401.

Failures: 403 with `Rate Limit Exceeded` in the body (Canvas's throttle: no `Retry-After`,
only `X-Rate-Limit-Remaining`) → `Retryable` after `THROTTLE_BACKOFF`; any other 403 and a
401 → `Permanent` (an expired or revoked token turns the connector failing); 429/5xx →
`classify_http`; a connection error or a non-JSON answer → `Retryable`. Reasons name the call
and the status, never the token.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from connectors.base import Cursor, Page, Permanent, Retryable, classify_http
from connectors.canvas.records import progress_record, submission_record
from connectors.canvas.settings import CanvasSettings
from connectors.errors import Failure

__all__ = ["THROTTLE_BACKOFF", "CanvasClient", "Position", "build_client", "fetch_page"]

THROTTLE_BACKOFF = 10.0  # seconds; Canvas refills its bucket within seconds and names no delay
_TIMEOUT = 30.0
_THROTTLED = "rate limit exceeded"


@dataclass
class CanvasClient:
    """An httpx client (bearer, or authlib's refreshing one) and the origin it may talk to."""

    http: httpx.Client
    base: str
    refreshes: bool = False


def build_client(settings: CanvasSettings, *, transport: httpx.BaseTransport | None = None) -> CanvasClient:
    """The client of `settings`; no network call until the first page (nor a refresh)."""
    options: dict[str, Any] = {"timeout": _TIMEOUT, "follow_redirects": False,
                               "headers": {"Accept": "application/json"}}
    if transport is not None:
        options["transport"] = transport
    if not settings.uses_refresh:
        token = settings.token.get_secret_value() if settings.token else ""
        options["headers"]["Authorization"] = f"Bearer {token}"
        return CanvasClient(http=httpx.Client(**options), base=settings.url)
    from authlib.integrations.httpx_client import OAuth2Client

    assert settings.client_secret is not None and settings.refresh_token is not None
    http = OAuth2Client(
        client_id=settings.client_id, client_secret=settings.client_secret.get_secret_value(),
        token_endpoint=f"{settings.url}/login/oauth2/token", token_endpoint_auth_method="client_secret_post",
        token={"access_token": "", "token_type": "Bearer", "expires_at": 1,
               "refresh_token": settings.refresh_token.get_secret_value()}, **options)
    return CanvasClient(http=http, base=settings.url, refreshes=True)


@dataclass(frozen=True)
class Position:
    """Where a cycle is; `courses` None means "read the next page of the account's courses"."""

    courses: list[str] | None = None
    more: str | None = None  # the account's next course page (None at the start: the first)
    index: int = 0
    phase: Literal["submissions", "students"] = "submissions"
    url: str | None = None  # the next page within the phase; None: its first page

    @classmethod
    def first(cls, settings: CanvasSettings) -> Position:
        return cls() if settings.account_id is not None else cls(courses=[str(c) for c in settings.courses])

    @classmethod
    def load(cls, token: str) -> Position:
        try:
            return cls(**json.loads(token))
        except (TypeError, ValueError):
            raise Permanent("canvas poll: the page token of this cycle is unreadable") from None

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def after(self, next_url: str | None) -> Position | None:
        """The position after a page whose `Link` next was `next_url`; None: the cycle is done."""
        if next_url:
            return replace(self, url=next_url)
        if self.phase == "submissions":
            return replace(self, phase="students", url=None)
        if self.courses is not None and self.index + 1 < len(self.courses):
            return replace(self, index=self.index + 1, phase="submissions", url=None)
        return Position(courses=None, more=self.more) if self.more else None


def fetch_page(client: CanvasClient, settings: CanvasSettings, cursor: Cursor) -> Page:
    """One page from `cursor`: records of submissions or learners' progress, or none (a page
    of the account's course list)."""
    position = Position.load(cursor.token) if cursor.token else Position.first(settings)
    if position.courses is None:
        return _course_list(client, settings, position)
    if not position.courses:
        return Page(records=[])
    course = position.courses[position.index]
    if position.phase == "submissions":
        records, next_url = _submissions(client, settings, course, position.url, cursor.lower_bound)
    else:
        records, next_url = _students(client, settings, course, position.url, cursor.lower_bound)
    following = position.after(next_url)
    return Page(records=records, next_token=None if following is None else following.dump())


def _course_list(client: CanvasClient, settings: CanvasSettings, position: Position) -> Page:
    account = quote(str(settings.account_id), safe=":")
    url = position.more or f"{client.base}/api/v1/accounts/{account}/courses"
    params = None if position.more else {"per_page": settings.poll.page_size}
    body, next_url = _get(client, url, params, what="canvas list account courses")
    ids = [str(c["id"]) for c in _listed(body, "account courses") if isinstance(c, dict) and "id" in c]
    if ids:
        return Page(records=[], next_token=Position(courses=ids, more=next_url).dump())
    return Page(records=[], next_token=Position(more=next_url).dump() if next_url else None)


def _submissions(client: CanvasClient, settings: CanvasSettings, course: str, url: str | None,
                 since: datetime) -> tuple[list[Any], str | None]:
    params = None if url else {
        "student_ids[]": "all", "include[]": "assignment", "per_page": settings.poll.page_size,
        "graded_since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    body, next_url = _get(client, url or f"{client.base}/api/v1/courses/{quote(course, safe=':')}"
                          "/students/submissions", params, what=f"canvas list submissions of course {course}")
    return [submission_record(course, s) for s in _listed(body, "submissions")], next_url


def _students(client: CanvasClient, settings: CanvasSettings, course: str, url: str | None,
              since: datetime) -> tuple[list[Any], str | None]:
    path = f"{client.base}/api/v1/courses/{quote(course, safe=':')}/users"
    params = None if url else {"enrollment_type[]": "student", "include[]": ["enrollments", "email"],
                               "per_page": settings.poll.page_size}
    body, next_url = _get(client, url or path, params, what=f"canvas list students of course {course}")
    records = []
    for user in _listed(body, "users"):
        progress = _progress(client, path, user) if isinstance(user, dict) else None
        records.append(progress_record(course, user, progress, since))
    return records, next_url


def _progress(client: CanvasClient, path: str, user: dict[str, Any]) -> Any:
    user_id = user.get("id")
    if not isinstance(user_id, int | str) or isinstance(user_id, bool) or not str(user_id).isdigit():
        return None  # the record is quarantined for its user id; no call with a bad path
    body, _ = _get(client, f"{path}/{user_id}/progress", None, what="canvas get user progress",
                   missing={})
    return body


def _listed(body: Any, what: str) -> list[Any]:
    if not isinstance(body, list):
        raise Retryable(f"canvas list {what}: the answer is not a list")
    return body


def _get(client: CanvasClient, url: str, params: dict[str, Any] | None, *, what: str,
         missing: Any = None) -> tuple[Any, str | None]:
    """GET `url` → (JSON body, `Link` next URL); raises a classified failure. A 404 answers
    `missing` when one is given."""
    response = _send(client, url, params, what=what)
    if response.status_code == 401 and client.refreshes:
        client.http.token["expires_at"] = 1  # type: ignore[attr-defined]  # refresh once, then ask again
        response = _send(client, url, params, what=what)
    if response.status_code == 404 and missing is not None:
        return missing, None
    if response.status_code >= 400:
        raise _failure(response, what)
    try:
        body = response.json()
    except ValueError:
        raise Retryable(f"{what}: the answer is not JSON") from None
    next_url = response.links.get("next", {}).get("url")
    if next_url and not _same_origin(next_url, client.base):
        raise Permanent(f"{what}: the next page link points to another host; not followed")
    return body, next_url


def _send(client: CanvasClient, url: str, params: dict[str, Any] | None, *, what: str) -> httpx.Response:
    from authlib.integrations.base_client import OAuthError

    try:
        return client.http.get(url, params=params)
    except OAuthError as exc:  # the token endpoint refused the refresh token (invalid_grant, …)
        raise Permanent(f"canvas token refresh refused ({exc.error})") from None
    except httpx.HTTPStatusError as exc:  # the token endpoint failed, during a refresh
        raise classify_http(exc.response.status_code, exc.response.headers,
                            what="canvas token refresh") from None
    except httpx.TransportError as exc:
        raise Retryable(f"{what}: cannot reach the server ({type(exc).__name__})") from None


def _failure(response: httpx.Response, what: str) -> Failure:
    status = response.status_code
    if status == 403 and _THROTTLED in response.text.lower():
        remaining = response.headers.get("X-Rate-Limit-Remaining", "?")
        return Retryable(f"{what}: throttled by Canvas (403 Rate Limit Exceeded, remaining {remaining})",
                         retry_after=THROTTLE_BACKOFF)
    if status == 401:
        return Permanent(f"{what}: HTTP 401 (token expired or revoked)")
    return classify_http(status, response.headers, what=what)


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())

"""The poller's I/O: the `jira` client, one search page per call, failures classified here.

- `client(settings)` builds a `JiraClient` around `jira.JIRA` without a network call
  (`get_server_info=False`) and without the client's own retries (`max_retries=0`): the poll
  activity's retry policy, fed with the server's `Retry-After`, is the one retry loop.
- The first page asks `serverInfo` once per client: `deploymentType` "Cloud" pages with
  `GET /rest/api/3/search/jql` and `nextPageToken` (`enhanced_search_issues`); anything else
  (Server, Data Center) with `GET /rest/api/2/search` and `startAt` (`search_issues`). It also
  reads `GET /status` once, for the status → category map the done rule needs.
- The query is `(<jql>) AND updated >= <epoch ms> ORDER BY updated ASC`: a bare JQL datetime
  is read in the searching user's time zone and to the minute; epoch milliseconds are neither.
- Each issue comes with `expand=changelog` and the `comment` field. Comments are fetched
  again (`GET issue/{id}/comment`) only for an issue whose embedded list is cut short
  (`total` above the list's length); likewise its changelog (`GET issue/{id}?expand=changelog`).
- Offsets can skip an issue updated while the cycle pages (it moves to the end): the cursor
  never passes the cycle's start, so the next cycle reads it.

Failures: a `JIRAError` with a status → `classify_http` (401/403 permanent; 429/5xx retryable
after the server's delay); no status, a connection error or a timeout → `Retryable`. Reasons
name the call and the status, never the URL's credentials or the token.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from connectors.base import Cursor, Page, Permanent, Retryable, classify_http
from connectors.jira.records import record_of
from connectors.jira.settings import JiraSettings

__all__ = ["FIELDS", "JiraClient", "build_client", "fetch_page", "search_jql"]

FIELDS = ["project", "issuetype", "priority", "labels", "status", "resolution", "assignee",
          "reporter", "creator", "created", "updated", "comment"]
_TIMEOUT = 30.0
T = TypeVar("T")


@dataclass
class JiraClient:
    """A `jira.JIRA` and what is learned once per client: Cloud or not, status categories."""

    jira: Any
    cloud: bool | None = None
    categories: dict[str, str] | None = field(default=None)


_WRAPPED: weakref.WeakKeyDictionary[Any, JiraClient] = weakref.WeakKeyDictionary()


def build_client(settings: JiraSettings) -> JiraClient:
    try:
        from jira import JIRA
    except ImportError:  # pragma: no cover - a core dependency; kept lazy for import purity
        raise Permanent("jira polling needs the `jira` package: pip install 'jira>=3.8'") from None
    token = settings.token.get_secret_value() if settings.token else ""
    jira = JIRA(server=settings.url, basic_auth=(settings.user, token), get_server_info=False,
                max_retries=0, timeout=_TIMEOUT)
    return JiraClient(jira=jira)


def _session(client: Any) -> JiraClient:
    """A `JiraClient`, or one kept beside a bare `jira.JIRA` a caller injected."""
    if isinstance(client, JiraClient):
        return client
    if client not in _WRAPPED:
        _WRAPPED[client] = JiraClient(jira=client)
    return _WRAPPED[client]


def search_jql(settings: JiraSettings, lower_bound: datetime) -> str:
    millis = int(lower_bound.timestamp() * 1000)
    bound = f"updated >= {millis}"
    where = f"({settings.jql}) AND {bound}" if settings.jql else bound
    return f"{where} ORDER BY updated ASC"


def fetch_page(client: Any, settings: JiraSettings, cursor: Cursor) -> Page:
    """One page of issues changed at or after `cursor.lower_bound`, as self-contained records."""
    session = _session(client)
    return _classified("jira search", lambda: _fetch(session, settings, cursor))


def _fetch(session: JiraClient, settings: JiraSettings, cursor: Cursor) -> Page:
    _learn(session)
    assert session.categories is not None
    jql, size = search_jql(settings, cursor.lower_bound), settings.poll.page_size
    if session.cloud:
        found = session.jira.enhanced_search_issues(
            jql, nextPageToken=cursor.token, maxResults=size, fields=list(FIELDS),
            expand="changelog", json_result=True)
        token = None if found.get("isLast", True) else found.get("nextPageToken")
    else:
        start = int(cursor.token or 0)
        found = session.jira.search_issues(jql, startAt=start, maxResults=size, fields=list(FIELDS),
                                           expand="changelog", json_result=True)
        issues, total = found.get("issues") or [], found.get("total") or 0
        token = str(start + len(issues)) if issues and start + len(issues) < total else None
    issues = [_complete(session, issue) for issue in found.get("issues") or []]
    records = [record_of(issue, session.categories, cursor.lower_bound) for issue in issues]
    return Page(records=records, next_token=token)


def _learn(session: JiraClient) -> None:
    if session.cloud is None:
        info = session.jira.server_info() or {}
        session.cloud = info.get("deploymentType") == "Cloud"
        session.jira.deploymentType = info.get("deploymentType")
        if session.cloud:  # v3 is Cloud's current REST version; v2 stays for Data Center
            session.jira._options["rest_api_version"] = "3"
    if session.categories is None:
        session.categories = {str(s.raw.get("id")): str((s.raw.get("statusCategory") or {}).get("key"))
                              for s in session.jira.statuses() if isinstance(s.raw, dict)}


def _cut(part: Any, items: str) -> bool:
    return isinstance(part, dict) and isinstance(part.get(items), list) \
        and isinstance(part.get("total"), int) and part["total"] > len(part[items])


def _complete(session: JiraClient, issue: Any) -> Any:
    """`issue` with its comments and changelog whole, fetched only when the search cut them."""
    if not isinstance(issue, dict) or not isinstance(issue.get("id"), str):
        return issue
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    if _cut(fields.get("comment"), "comments"):
        comments = [c.raw for c in session.jira.comments(issue["id"])]
        fields["comment"] = {"comments": comments, "total": len(comments)}
    if _cut(issue.get("changelog"), "histories"):
        whole = session.jira.issue(issue["id"], fields="updated", expand="changelog")
        issue["changelog"] = whole.raw.get("changelog", issue["changelog"])
    return issue


def _classified(what: str, call: Callable[[], T]) -> T:
    from jira.exceptions import JIRAError
    from requests import RequestException

    try:
        return call()
    except JIRAError as exc:
        if exc.status_code is None:
            raise Retryable(f"{what}: no usable answer from the server") from None
        headers = dict(exc.response.headers) if exc.response is not None else {}
        raise classify_http(int(exc.status_code), headers, what=what) from None
    except RequestException as exc:
        raise Retryable(f"{what}: cannot reach the server ({type(exc).__name__})") from None

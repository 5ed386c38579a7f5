"""Jira Cloud polling at the HTTP level: the real `jira` client against a tiny local server that
answers with the response shapes Atlassian documents for Jira Cloud REST v3.

Shapes (developer.atlassian.com/cloud/jira/platform/rest/v3/):
- `GET /rest/api/2|3/serverInfo` ("Get Jira instance info"): `deploymentType: "Cloud"`,
  `versionNumbers`, `version: "1001.0.0-SNAPSHOT"`.
- `GET /rest/api/3/status` ("Get all statuses"): `[{id, name, statusCategory: {id, key, …}}]`.
- `GET /rest/api/3/field` ("Get fields"): `[{id, name, clauseNames, …}]`.
- `GET /rest/api/3/search/jql` ("Search for issues using JQL enhanced search (GET)"):
  `{issues: [...], nextPageToken, isLast}`; `expand=changelog` adds `changelog: {startAt,
  maxResults, total, histories: [{id, author, created, items}]}` (newest first).
- `GET /rest/api/3/issue/{id}/comment` ("Get comments"): `{startAt, maxResults, total, comments}`.
Cloud users carry `accountId` (no `name`/`key`, usually no email).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.base import Cursor, Permanent, Retryable
from connectors.jira import CONNECTOR, JiraSettings

TOKEN = "cloud-api-token-do-not-log"
SINCE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def user(account: str) -> dict[str, Any]:
    return {"self": f"https://acme.atlassian.net/rest/api/3/user?accountId={account}", "accountId": account,
            "displayName": f"Person {account}", "active": True, "timeZone": "Europe/Berlin",
            "accountType": "atlassian"}


def history(hid: str, when: str, author: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"id": hid, "author": user(author), "created": when, "items": list(items)}


def assignee(old: str | None, new: str | None) -> dict[str, Any]:
    return {"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": old,
            "fromString": old and f"Person {old}", "to": new, "toString": new and f"Person {new}",
            "tmpFromAccountId": old, "tmpToAccountId": new}


RESOLVE = ({"field": "resolution", "fieldtype": "jira", "fieldId": "resolution", "from": None,
            "fromString": None, "to": "10000", "toString": "Done"},
           {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "3",
            "fromString": "In Progress", "to": "10002", "toString": "Done"})


def issue(iid: str, key: str, *, histories: list[dict[str, Any]], comment: dict[str, Any],
          assigned: str | None, updated: str) -> dict[str, Any]:
    return {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": iid, "self": f"https://acme.atlassian.net/rest/api/3/issue/{iid}", "key": key,
            "changelog": {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                          "histories": histories},
            "fields": {"project": {"id": "10000", "key": "ACME", "name": "Acme", "projectTypeKey": "software"},
                       "issuetype": {"id": "10001", "name": "Task", "subtask": False},
                       "priority": {"id": "3", "name": "Medium"}, "labels": ["backend"],
                       "status": {"id": "10002", "name": "Done",
                                  "statusCategory": {"id": 3, "key": "done", "colorName": "green", "name": "Done"}},
                       "resolution": {"id": "10000", "name": "Done"},
                       "assignee": user(assigned) if assigned else None, "reporter": user("acc-rep"),
                       "creator": user("acc-rep"), "created": "2026-11-30T10:05:00.000+0100",
                       "updated": updated, "comment": comment}}


# Page 1: resolved by acc-B, then reassigned to acc-C (histories newest first, as Cloud sends
# them); its one comment is cut from the search result. Page 2: created in the window.
ISSUE_1 = issue("10101", "ACME-1", assigned="acc-C", updated="2026-11-30T12:00:00.000+0100", histories=[
    history("20003", "2026-11-30T12:00:00.000+0100", "acc-lead", assignee("acc-B", "acc-C")),
    history("20002", "2026-11-30T11:00:00.000+0100", "acc-lead", *RESOLVE),
    history("20001", "2026-11-30T10:00:00.000+0100", "acc-lead", assignee(None, "acc-B")),
], comment={"comments": [], "maxResults": 0, "total": 1, "startAt": 0})
ISSUE_2 = issue("10102", "ACME-2", assigned=None, updated="2026-11-30T10:30:00.000+0100", histories=[],
                comment={"comments": [], "maxResults": 0, "total": 0, "startAt": 0})
COMMENTS = {"startAt": 0, "maxResults": 1, "total": 1, "comments": [
    {"self": "https://acme.atlassian.net/rest/api/3/issue/10101/comment/30001", "id": "30001",
     "author": user("acc-B"), "updateAuthor": user("acc-B"),
     "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
         {"type": "text", "text": "Fixed in 1.2"}]}]},
     "created": "2026-11-30T10:45:00.000+0100", "updated": "2026-11-30T10:45:00.000+0100", "jsdPublic": True}]}
STATIC = {
    "/rest/api/3/serverInfo": {"baseUrl": "https://acme.atlassian.net", "version": "1001.0.0-SNAPSHOT",
                               "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100291,
                               "buildDate": "2026-11-27T07:54:31.000+0000", "serverTitle": "Jira",
                               "serverTime": "2026-11-30T12:01:00.000+0000"},
    "/rest/api/3/status": [{"self": "https://acme.atlassian.net/rest/api/3/status/3", "id": "3",
                            "name": "In Progress", "statusCategory": {"id": 4, "key": "indeterminate"}},
                           {"self": "https://acme.atlassian.net/rest/api/3/status/10002", "id": "10002",
                            "name": "Done", "statusCategory": {"id": 3, "key": "done"}}],
    "/rest/api/3/field": [{"id": "labels", "key": "labels", "name": "Labels", "custom": False,
                           "navigable": True, "searchable": True, "clauseNames": ["labels"]}],
    "/rest/api/3/issue/10101/comment": COMMENTS,
}
# The client asks serverInfo before it knows it talks to Cloud, on its default REST v2; Cloud
# serves v2 and v3 alike ("Version 2 and version 3 of the API offer the same collection of
# operations", Jira Cloud platform REST API v3 introduction).
STATIC["/rest/api/2/serverInfo"] = STATIC["/rest/api/3/serverInfo"]


@dataclass
class Cloud:
    url: str
    seen: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    fault: tuple[int, dict[str, str]] | None = None


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    state = Cloud(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.seen.append((parts.path, query))
            if parts.path == "/rest/api/3/search/jql":
                if state.fault:
                    return self._send(state.fault[0], {"errorMessages": ["refused"], "errors": {}}, state.fault[1])
                last = query.get("nextPageToken") == ["tok-2"]
                page = {"issues": [ISSUE_2], "isLast": True} if last else \
                    {"issues": [ISSUE_1], "nextPageToken": "tok-2", "isLast": False}
                return self._send(200, page)
            if parts.path in STATIC:
                return self._send(200, STATIC[parts.path])
            return self._send(404, {"errorMessages": ["not here"], "errors": {}})

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def settings(cloud: Cloud) -> JiraSettings:
    return JiraSettings(id="jira", vendor="jira", url=cloud.url, user="bot@acme.example", token=TOKEN,
                        jql="project = ACME", poll={"page_size": 1})


def cursor(token: str | None = None) -> Cursor:
    return Cursor(position=None, lower_bound=SINCE, started=datetime(2026, 11, 30, 12, 5, tzinfo=UTC), token=token)


def test_cloud_pages_with_next_page_token_on_v3_search(cloud: Cloud) -> None:
    cloud.seen.clear()
    cloud.fault = None
    config = settings(cloud)
    client = CONNECTOR.client(config)
    first = CONNECTOR.fetch_page(client, config, cursor())
    second = CONNECTOR.fetch_page(client, config, cursor(first.next_token))
    assert (first.next_token, second.next_token) == ("tok-2", None)
    searches = [q for path, q in cloud.seen if path == "/rest/api/3/search/jql"]
    assert [q.get("nextPageToken") for q in searches] == [None, ["tok-2"]]
    assert searches[0]["jql"] == ["(project = ACME) AND updated >= 1796029200000 ORDER BY updated ASC"]
    assert searches[0]["expand"] == ["changelog"] and searches[0]["maxResults"] == ["1"]
    paths = [path for path, _ in cloud.seen]
    assert paths.count("/rest/api/2/serverInfo") == 1 and paths.count("/rest/api/3/status") == 1  # once per client
    assert paths.count("/rest/api/3/issue/10101/comment") == 1  # only the issue whose comments were cut


def test_cloud_records_map_to_account_ids_and_the_assignee_at_the_moment(cloud: Cloud) -> None:
    cloud.fault = None
    config = settings(cloud)
    client = CONNECTOR.client(config)
    page = CONNECTOR.fetch_page(client, config, cursor())
    [record] = CONNECTOR.parse_page(page, source="/accolade/demo/jira")
    found = {e.id: (e.type, e.data["actor"]) for e in record.events}
    assert found == {
        "10101:created": ("ticket.created", {"system": "jira", "id": "acc-rep"}),
        "10101:20001": ("ticket.reassigned", {"system": "jira", "id": "acc-B"}),
        "10101:20002": ("ticket.resolved", {"system": "jira", "id": "acc-B"}),  # not acc-C, assigned later
        "10101:20003": ("ticket.reassigned", {"system": "jira", "id": "acc-C"}),
        "10101:comment:30001": ("ticket.commented", {"system": "jira", "id": "acc-B"}),
    }
    assert record.updated == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "headers", "kind", "reason", "delay"), [
    (401, {}, Permanent, "jira search: HTTP 401 (credentials refused or revoked)", None),
    (403, {}, Permanent, "jira search: HTTP 403 (credentials refused or revoked)", None),
    (429, {"Retry-After": "30"}, Retryable, "jira search: HTTP 429", 30.0),
    (503, {}, Retryable, "jira search: HTTP 503", None),
])
def test_http_failures_are_classified_without_the_token(
    cloud: Cloud, status: int, headers: dict[str, str], kind: type, reason: str, delay: float | None
) -> None:
    cloud.fault = (status, headers)
    config = settings(cloud)
    try:
        with pytest.raises(kind) as caught:
            CONNECTOR.fetch_page(CONNECTOR.client(config), config, cursor())
    finally:
        cloud.fault = None
    assert caught.value.reason == reason and TOKEN not in caught.value.reason
    assert getattr(caught.value, "retry_after", None) == delay

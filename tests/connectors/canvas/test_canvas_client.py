"""The Canvas poller's I/O against the local stand-in (tests/canvas_standin.py), over real HTTP:
pagination by `Link`, resuming from a page token, throttling, expired tokens, OAuth2 refresh."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import Cursor, Page, Permanent, Retryable
from connectors.canvas import CONNECTOR, CanvasSettings
from connectors.canvas.client import THROTTLE_BACKOFF, build_client, fetch_page
from tests.canvas_standin import (  # noqa: F401 - the fixture
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN,
    CanvasStandin,
    canvas_standin,
)


def settings(url: str, **extra: Any) -> CanvasSettings:
    auth = {} if "client_id" in extra else {"token": TOKEN}
    return CanvasSettings.model_validate({"id": "canvas", "vendor": "canvas", "url": url,
                                          "courses": [101], "poll": {"page_size": 2}, **auth, **extra})


def cursor(token: str | None = None, *, since: datetime | None = None) -> Cursor:
    now = datetime.now(UTC)
    return Cursor(position=None, lower_bound=since or now - timedelta(minutes=10), started=now, token=token)


def all_pages(client: Any, config: CanvasSettings, since: datetime | None = None) -> list[Page]:
    pages, token = [], None
    while True:
        page = fetch_page(client, config, cursor(token, since=since))
        pages.append(page)
        if (token := page.next_token) is None:
            return pages


def seed(standin: CanvasStandin) -> None:
    for user in (201, 202, 203):
        standin.state.grade(101, 301, user, 7.0)
    standin.state.complete(101, 202)


def test_a_cycle_pages_submissions_then_learners_by_link_and_maps_them(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    seed(canvas_standin)
    config = settings(canvas_standin.url)
    pages = all_pages(build_client(config), config)
    assert [len(p.records) for p in pages] == [2, 1, 2, 1]  # page_size 2: 3 submissions, 3 learners
    events = [e for p in pages for r in CONNECTOR.parse_page(p, source="/s") for e in r.events]
    assert sorted(e.type for e in events) == ["lms.assignment.graded"] * 3 + ["lms.course.completed"]
    [done] = [e for e in events if e.type == "lms.course.completed"]
    assert done.data["actor"] == {"system": "canvas", "id": "202", "login": "grace", "email": "grace@example.com"}


def test_a_retried_attempt_resumes_at_the_page_of_its_token(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    seed(canvas_standin)
    config = settings(canvas_standin.url)
    first = fetch_page(build_client(config), config, cursor())
    assert first.next_token is not None and json.loads(first.next_token)["url"].startswith(canvas_standin.url)
    resumed = fetch_page(build_client(config), config, cursor(first.next_token))  # a new client, as a retry
    ids = {r["submission"]["id"] for r in first.records} | {r["submission"]["id"] for r in resumed.records}
    assert len(ids) == 3


def test_graded_since_is_the_cycles_lower_bound(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    seed(canvas_standin)
    config = settings(canvas_standin.url)
    later = fetch_page(build_client(config), config, cursor(since=datetime.now(UTC) + timedelta(minutes=1)))
    assert later.records == []


def test_an_account_id_polls_every_course_of_the_account(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    canvas_standin.state.grade(102, 302, 203, 18.0)
    config = CanvasSettings.model_validate({"id": "canvas", "vendor": "canvas", "url": canvas_standin.url,
                                            "token": TOKEN, "account_id": 1})
    records = [r for p in all_pages(build_client(config), config) for r in p.records]
    assert {r["course"] for r in records} == {"101", "102"}
    assert [r["submission"]["id"] for r in records if r["kind"] == "submission"] == [5001]


def test_the_throttling_403_is_retryable_after_the_connectors_own_backoff(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    config = settings(canvas_standin.url)
    canvas_standin.state.throttled = 1
    with pytest.raises(Retryable) as caught:
        fetch_page(build_client(config), config, cursor())
    assert caught.value.retry_after == THROTTLE_BACKOFF and "Rate Limit Exceeded" in caught.value.reason
    assert fetch_page(build_client(config), config, cursor()).next_token is not None  # the bucket refilled


def test_another_403_is_permanent(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    config = settings(canvas_standin.url, courses=[999])
    with pytest.raises(Permanent) as caught:
        fetch_page(build_client(config), config, cursor())
    assert "HTTP 403" in caught.value.reason


def test_an_expired_token_is_permanent_and_never_named(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    config = settings(canvas_standin.url)
    canvas_standin.state.revoked = True
    with pytest.raises(Permanent) as caught:
        fetch_page(build_client(config), config, cursor())
    assert "401" in caught.value.reason and TOKEN not in caught.value.reason


def test_the_refresh_token_gets_an_access_token_from_the_token_endpoint(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    seed(canvas_standin)
    config = settings(canvas_standin.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      refresh_token=REFRESH_TOKEN)
    client = build_client(config)
    assert client.refreshes
    pages = all_pages(client, config)
    assert sum(len(p.records) for p in pages) == 6
    assert len(canvas_standin.state.issued) == 1  # one refresh served the whole cycle


def test_a_revoked_access_token_is_refreshed_once_and_the_page_read(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    config = settings(canvas_standin.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      refresh_token=REFRESH_TOKEN)
    client = build_client(config)
    fetch_page(client, config, cursor())
    canvas_standin.state.issued.clear()  # Canvas revoked the access token before it expired
    assert fetch_page(client, config, cursor()).next_token is not None
    assert len(canvas_standin.state.issued) == 1


def test_a_learner_gone_from_the_course_reads_as_no_progress() -> None:
    config = settings("https://canvas.example")
    user = {"id": 201, "login_id": "ada", "enrollments": []}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/progress"):
            return httpx.Response(404, json={"errors": [{"message": "The specified resource does not exist."}]})
        return httpx.Response(200, json=[user])

    position = json.dumps({"courses": ["101"], "phase": "students"})
    page = fetch_page(build_client(config, transport=httpx.MockTransport(answer)), config, cursor(position))
    assert [r["progress"] for r in page.records] == [{}] and page.next_token is None
    assert CONNECTOR.parse_page(page, source="/s")[0].events == []


def test_a_refused_refresh_token_is_permanent_and_never_named(canvas_standin: CanvasStandin) -> None:  # noqa: F811
    config = settings(canvas_standin.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      refresh_token="stale-refresh-token")
    with pytest.raises(Permanent) as caught:
        fetch_page(build_client(config), config, cursor())
    assert "invalid_grant" in caught.value.reason and "stale-refresh-token" not in caught.value.reason


@pytest.mark.parametrize(("status", "headers", "kind", "delay"), [
    (429, {"Retry-After": "7"}, Retryable, 7.0), (503, {}, Retryable, None), (404, {}, Permanent, None)])
def test_other_statuses_are_classified_like_every_connector(status: int, headers: dict[str, str],
                                                            kind: type, delay: float | None) -> None:
    config = settings("https://canvas.example")
    transport = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, json={}))
    with pytest.raises(kind) as caught:
        fetch_page(build_client(config, transport=transport), config, cursor())
    assert getattr(caught.value, "retry_after", None) == delay


def test_a_next_link_to_another_host_is_not_followed_with_the_token() -> None:
    config = settings("https://canvas.example")
    link = '<https://elsewhere.example/api/v1/courses/101/students/submissions?page=2>; rel="next"'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"Link": link}, json=[]))
    with pytest.raises(Permanent) as caught:
        fetch_page(build_client(config, transport=transport), config, cursor())
    assert "another host" in caught.value.reason


def test_an_unreachable_canvas_is_retryable() -> None:
    config = settings("http://127.0.0.1:9")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(Retryable):
        fetch_page(build_client(config, transport=httpx.MockTransport(refuse)), config, cursor())

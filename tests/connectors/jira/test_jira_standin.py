"""The stand-in (tests/jira_standin.py) closes jira820's five gaps, as a real Jira behaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.jira_standin import JiraStandin, jira_standin  # noqa: F401 - the session fixture


@pytest.fixture(scope="module")
def jira(jira_standin: JiraStandin) -> Any:  # noqa: F811
    from jira import JIRA

    return JIRA(server=jira_standin.url, basic_auth=(jira_standin.user, jira_standin.token))


def jira_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_writes_are_stamped_now_and_resolving_records_status_and_resolution(
    jira: Any, jira_standin: JiraStandin  # noqa: F811
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    issue = jira.create_issue(project=jira_standin.project_key, summary="gap check", issuetype={"name": "Bug"})
    [done] = [t for t in jira.transitions(issue.key) if t["to"]["name"] == "Done"]
    jira.transition_issue(issue.key, done["id"])
    raw = jira.issue(issue.key, expand="changelog").raw
    assert before <= jira_time(raw["fields"]["updated"]) <= datetime.now(UTC)
    [history] = raw["changelog"]["histories"]
    assert {i["field"] for i in history["items"]} == {"status", "resolution"}
    assert history["author"]["name"] == jira_standin.user  # who made the change, not "admin"


def test_assigning_through_the_latest_alias_records_a_history(jira: Any, jira_standin: JiraStandin) -> None:  # noqa: F811
    issue = jira.create_issue(project=jira_standin.project_key, summary="assign", issuetype={"name": "Task"})
    assert jira.assign_issue(issue.key, "u02")  # PUT /rest/api/latest/issue/{key}/assignee
    [history] = jira.issue(issue.key, expand="changelog").raw["changelog"]["histories"]
    assert [(i["field"], i["from"], i["to"]) for i in history["items"]] == [("assignee", None, "u02")]


def test_search_takes_epoch_milliseconds_and_expands_the_changelog(jira: Any, jira_standin: JiraStandin) -> None:  # noqa: F811
    since = datetime.now(UTC) - timedelta(milliseconds=5)
    issue = jira.create_issue(project=jira_standin.project_key, summary="search", issuetype={"name": "Task"})
    jira.assign_issue(issue.key, "u01")
    found = jira.search_issues(f"updated >= {int(since.timestamp() * 1000)} ORDER BY updated ASC",
                               expand="changelog", fields=["updated", "comment"], json_result=True)
    mine = [i for i in found["issues"] if i["id"] == issue.id]
    assert mine and mine[0]["changelog"]["total"] == 1 and "comment" in mine[0]["fields"]
    assert all(jira_time(i["fields"]["updated"]) >= since.replace(microsecond=since.microsecond // 1000 * 1000)
               for i in found["issues"])

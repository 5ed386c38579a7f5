"""Polled records mapped (pure): the rules a webhook cannot show on its own."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from connectors.jira.records import parse_record
from connectors.jira.webhook import parse_body

FIXTURES = Path(__file__).parent / "fixtures"
SOURCE = "/accolade/demo/jira"
CATEGORIES = {"1": "new", "3": "indeterminate", "10002": "done", "6": "done"}


def user(key: str) -> dict[str, Any]:
    return {"name": key, "key": key, "emailAddress": f"{key}@example.com", "displayName": f"Person {key}"}


def record(*histories: dict[str, Any], since: str = "2026-11-30T00:00:00+00:00") -> dict[str, Any]:
    issue = {"id": "42", "key": "ACME-42", "changelog": {"histories": list(histories), "total": len(histories)},
             "fields": {"project": {"key": "ACME"}, "issuetype": {"name": "Bug"}, "labels": [],
                        "status": {"id": "6", "statusCategory": {"key": "done"}}, "assignee": user("u02"),
                        "reporter": user("u01"), "created": "2026-11-29T08:00:00.000+0000",
                        "updated": "2026-11-30T11:00:00.000+0000"}}
    return {"issue": issue, "status_categories": CATEGORIES, "since": since}


def status(hid: str, when: str, old: str, new: str) -> dict[str, Any]:
    return {"id": hid, "author": user("u01"), "created": when,
            "items": [{"field": "status", "from": old, "to": new, "fromString": "x", "toString": "y"}]}


def test_only_a_move_into_done_resolves_not_a_move_within_done() -> None:
    result = parse_record(record(status("7", "2026-11-30T10:00:00.000+0000", "3", "10002"),
                                 status("8", "2026-11-30T11:00:00.000+0000", "10002", "6")), source=SOURCE)
    assert [(e.type, e.id) for e in result.events] == [("ticket.resolved", "42:7")]


def test_facts_before_the_lower_bound_are_left_to_the_cycle_that_read_them() -> None:
    result = parse_record(record(status("7", "2026-11-30T10:00:00.000+0000", "3", "10002"),
                                 since="2026-11-30T10:00:00.001+00:00"), source=SOURCE)
    assert result.error is None and result.events == []  # creation and the change are older
    assert result.updated is not None and result.updated.isoformat() == "2026-11-30T11:00:00+00:00"


def test_one_history_that_resolves_and_reassigns_gives_two_events_with_two_ids() -> None:
    body = json.loads((FIXTURES / "jira_issue_updated/02-server-resolved.json").read_text())
    body["changelog"]["items"].append({"field": "assignee", "fieldtype": "jira", "from": "admin",
                                       "fromString": "Test User", "to": "u02", "toString": "Person u02"})
    found = parse_body(copy.deepcopy(body), source=SOURCE, delivery_id=None).events
    assert [(e.type, e.id, e.data["actor"]["id"]) for e in found] == [
        ("ticket.resolved", "10300:10414", "u02"), ("ticket.reassigned", "10300:10414:reassigned", "u02")]

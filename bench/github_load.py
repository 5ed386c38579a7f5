"""Signed GitHub `workflow_run` deliveries for the webhook phase of `bench/throughput.py`.

Each request carries the real captured payload (tests/connectors/github/fixtures/workflow_run/
01-completed.json, ~20 KB) with two things varied, so that it measures the path of a new
event and spreads evaluation over persons:

- `workflow_run.id`: the event's id is the fact, `workflow_run:<id>:<attempt>:<conclusion>`
  (DESIGN §7), so a new run id per request is a new event, never the duplicate path;
- `workflow_run.actor.id`/`login`: one of the linked persons (`github:id=<n>`).

The payload is serialised once with placeholder values, and each request substitutes bytes:
a `json.dumps` of 20 KB per request would cost the load generator more than the receiver's
own parse. Each body is signed as GitHub does: `X-Hub-Signature-256: sha256=<HMAC-SHA256 of
the raw body with the webhook secret>`, with `X-GitHub-Event` and a fresh `X-GitHub-Delivery`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

__all__ = ["FIXTURE", "GitHubRuns", "run_index"]

FIXTURE = (Path(__file__).resolve().parent.parent / "tests" / "connectors" / "github" / "fixtures"
           / "workflow_run" / "01-completed.json")
_RUN_ID = 987_654_321_012_345  # placeholders, unique in the serialised fixture
_ACTOR_ID = 876_543_210_987_654
_LOGIN = "accolade-bench-login-placeholder"


class GitHubRuns:
    """Bodies and signed headers for `POST /webhooks/<connector>`, one new fact per call."""

    def __init__(self, secret: str) -> None:
        body = json.loads(FIXTURE.read_bytes())
        run = body["workflow_run"]
        run["id"] = _RUN_ID
        run["actor"].update(id=_ACTOR_ID, login=_LOGIN)
        template = json.dumps(body).encode()
        for placeholder in (_RUN_ID, _ACTOR_ID, _LOGIN):
            assert template.count(str(placeholder).encode()) == 1, placeholder
        self.template = template
        self.secret = secret.encode()
        self.conclusion = run["conclusion"]
        self.attempt = run.get("run_attempt", 1)

    def body(self, run_id: int, actor: int) -> bytes:
        return (self.template.replace(str(_RUN_ID).encode(), str(run_id).encode())
                .replace(str(_ACTOR_ID).encode(), str(actor).encode())
                .replace(_LOGIN.encode(), f"bench-user-{actor}".encode()))

    def headers(self, body: bytes, delivery: str) -> dict[str, str]:
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return {"content-type": "application/json", "x-github-event": "workflow_run",
                "x-github-delivery": delivery, "x-hub-signature-256": f"sha256={signature}"}


def run_index(completed_by: str, first_run_id: int) -> int:
    """`/accolade/bench/github#workflow_run:<id>:1:success` → <id> − `first_run_id`."""
    return int(completed_by.rsplit("#workflow_run:", 1)[1].split(":", 1)[0]) - first_run_id

"""Small builders for tests: canonical events and configs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rules.events import CloudEvent


def event(
    event_id: str = "e1",
    *,
    source: str = "/test/source",
    type: str = "ci.pipeline.completed",
    actor: dict[str, Any] | None = None,
    **data: Any,
) -> CloudEvent:
    return CloudEvent.model_validate(
        {
            "id": event_id,
            "source": source,
            "type": type,
            "time": datetime(2026, 11, 1, 12, 0, tzinfo=UTC).isoformat(),
            "data": {"actor": actor or {"system": "github", "id": "1", "login": "one"}, **data},
        }
    )


FIXTURES = __import__("pathlib").Path(__file__).parent / "connectors" / "github" / "fixtures"
SECRET = "test-secret"
API_KEY = "test-key"

CONFIG_TEXT = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    shards: 4
    api_keys: ["${TEST_API_KEY}"]
    connectors:
      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}
    channels:
      - {id: console, kind: console}
      - {id: feed, kind: feed}
    people:
      - {person: demo-1, identities: ["github:id=15669918", "github:login=Codertocat"]}
    achievements:
      - key: first-green-pipeline
        version: 1
        name: First green pipeline
        rule: {count: 1, of: ci.pipeline.completed, where: {outcome: success}}
        deliver_to: [console, feed]
  - id: other
    api_keys: ["${TEST_OTHER_KEY}"]
"""
ENV = {"TEST_API_KEY": API_KEY, "TEST_GITHUB_SECRET": SECRET, "TEST_OTHER_KEY": "other-key"}


def make_config(store_url: str, text: str = CONFIG_TEXT, *, extra_store: str = ""):  # noqa: ANN201 - Config
    """The test config on `store_url`; `extra_store` adds fields to `store:` (flow style)."""
    from config import parse_config

    url = f'"{store_url}"' + (f", {extra_store}" if extra_store else "")
    return parse_config(text.replace('"sqlite:///unused.db"', url), file="test.yaml", env=ENV)


def signed_headers(body: bytes, event_name: str, delivery: str, secret: str = SECRET) -> dict:
    from connectors.base import hmac_sha256_hex

    return {
        "content-type": "application/json",
        "x-github-event": event_name,
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + hmac_sha256_hex(secret, body),
    }

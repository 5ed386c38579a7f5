"""`accolade emit`: post one event to the running hub, for scripts and CI jobs."""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from config.models import Config, TenantSettings
from identity.refs import parse_identity_ref

__all__ = ["build_event", "ci_event_id", "post_event"]

# (variables that identify one CI job, name of the CI): a retried command, or a re-run attempt
# of the same job, reuses the id and so counts once.
_CI_CONTEXTS = (
    (("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_JOB"), "github-actions"),
    (("CI_PROJECT_ID", "CI_JOB_ID"), "gitlab-ci"),
    (("CIRCLE_PROJECT_REPONAME", "CIRCLE_WORKFLOW_JOB_ID"), "circleci"),
    (("BUILD_TAG",), "jenkins"),
    (("BUILDKITE_JOB_ID",), "buildkite"),
)


def ci_event_id(event_type: str, actor: str, env: dict[str, str]) -> str | None:
    """A stable id from the CI context, or None when no CI context is visible."""
    for names, ci in _CI_CONTEXTS:
        if all(env.get(name) for name in names):
            return ":".join([ci, *(env[name] for name in names), event_type, actor])
    return None


def _actor(text: str) -> dict[str, Any]:
    ref = parse_identity_ref(text)
    if ref.system == "email":
        return {"system": "email", "email": ref.value}
    kind = ref.kind or ("id" if ref.value.isdigit() or ref.system == "slack" else "login")
    return {"system": ref.system, kind: ref.value}


def _data(pairs: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--data {pair!r} must look like KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        data[key] = value
    return data


def build_event(
    event_type: str, actor: str, pairs: list[str], *, event_id: str | None, source: str,
    env: dict[str, str], time: datetime | None = None,
) -> dict[str, Any]:
    data = _data(pairs)
    data["actor"] = _actor(actor)
    if event_id is None:
        event_id = ci_event_id(event_type, actor, env)
    if event_id is None:
        event_id = str(uuid.uuid4())
        print("accolade: warning: no --id and no CI context (GITHUB_RUN_ID, CI_JOB_ID, …): "
              "using a random id, so a retry of this command counts twice", file=sys.stderr)
    return {
        "specversion": "1.0", "id": event_id, "source": source, "type": event_type,
        "time": (time or datetime.now(UTC)).isoformat(), "datacontenttype": "application/json",
        "data": data,
    }


def post_event(config: Config, tenant: TenantSettings, event: dict[str, Any],
               *, api_key: str | None, url: str | None) -> dict[str, Any]:
    key = api_key or os.environ.get("ACCOLADE_API_KEY") or _first_key(tenant)
    base = url or os.environ.get("ACCOLADE_URL") or f"http://{config.api.listen}"
    response = httpx.post(
        f"{base.rstrip('/')}/v1/events",
        content=json.dumps(event),
        headers={"content-type": "application/cloudevents+json", "authorization": f"Bearer {key}"},
        timeout=30,
    )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code >= 400:
        detail = body.get("detail") or body.get("results") or response.text[:200]
        raise RuntimeError(f"hub answered {response.status_code}: {detail}")
    return body


def _first_key(tenant: TenantSettings) -> str:
    if not tenant.api_keys:
        raise RuntimeError(f"tenant {tenant.id} has no api_keys; pass --api-key")
    return tenant.api_keys[0].get_secret_value()

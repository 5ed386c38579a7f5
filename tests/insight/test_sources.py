"""`insight.sources`: the table of which vendor emits which event types holds for every webhook
connector's real fixtures, so "no GitLab identity linked" is said for the right rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import parse_config
from connectors import CONNECTORS
from connectors.base import PayloadError, WebhookConnector, WebhookRequest, fixture_folder
from insight.sources import VENDOR_TYPES, source_systems, unlinked_sources

FIXTURES = Path(__file__).parents[1] / "connectors"
WEBHOOKS = [c for c in CONNECTORS if isinstance(c, WebhookConnector)]


@pytest.mark.parametrize("connector", WEBHOOKS, ids=lambda c: c.vendor)
def test_every_type_a_connectors_fixtures_map_to_is_in_the_table(connector: WebhookConnector) -> None:
    produced: set[str] = set()
    for event in connector.mapped_events:
        for path in sorted((FIXTURES / connector.vendor / "fixtures" / fixture_folder(event)).glob("*.json")):
            request = WebhookRequest(path.read_bytes(), connector.sample_headers(event))
            try:
                produced |= {e.type for e in connector.parse(request, source="/t").events}
            except PayloadError:
                continue  # a fixture kept to prove a refusal
    assert produced, "no fixture mapped to any event"
    assert produced <= VENDOR_TYPES[connector.vendor], produced - VENDOR_TYPES[connector.vendor]


TENANT = """\
tenants:
  - id: t
    connectors:
      - {id: gh, vendor: github, secret: "${S:-x}"}
      - {id: gl, vendor: gitlab, token: "${T:-y}"}
      - {id: lms, vendor: xapi, key: "${K:-k}", secret: "${X:-s}", account_system: moodle}
      - {id: old, vendor: jira, secret: "${J:-j}", enabled: false}
"""


def test_source_systems_follow_the_tenants_enabled_connectors() -> None:
    tenant = parse_config(TENANT, file="t.yaml", env={}).tenants[0]
    assert [s for s, _ in source_systems(tenant, ["ci.pipeline.completed"])] == ["github", "gitlab"]
    assert source_systems(tenant, ["ticket.reassigned"]) == []  # only the paused Jira sends it
    assert unlinked_sources(tenant, ["ci.pipeline.completed"], {"github"}) == ["GitLab"]
    assert unlinked_sources(tenant, ["lms.course.completed"], {"moodle"}) == []
    assert unlinked_sources(tenant, ["lms.course.completed"], {"email"}) == []  # xAPI mbox actors
    assert unlinked_sources(tenant, ["lms.course.completed"], {"github"}) == ["Moodle"]

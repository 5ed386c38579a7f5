"""Routing in config: channels per importance, channels the tenant forbids, `deliver_to` as the
override, and unknown channel ids reported with file, line and field."""

from __future__ import annotations

import pytest

from config import ConfigError, parse_config

TEXT = """\
tenants:
  - id: acme
    api_keys: ["${ACME_KEY}"]
    channels:
      - {id: console, kind: console}
      - {id: feed, kind: feed}
      - {id: mail, kind: email, smtp: "127.0.0.1:8025", from: a@example.com}
    routing:
      low: [feed]
      normal: [console, feed]
      high: [console, feed, mail]
      forbidden: [mail]
    achievements:
      - {key: small, version: 1, name: Small, importance: low, rule: {count: 1, of: a.b.c}}
      - {key: big, version: 1, name: Big, importance: high, rule: {count: 1, of: a.b.c}}
      - {key: plain, version: 1, name: Plain, rule: {count: 1, of: a.b.c}}
      - {key: own, version: 1, name: Own, importance: high, deliver_to: [mail, console], rule: {count: 1, of: a.b.c}}
"""


def _tenant(text: str = TEXT):  # noqa: ANN202 - TenantSettings
    return parse_config(text, file="acc.yaml", env={"ACME_KEY": "k"}).tenants[0]


def test_importance_picks_the_policy_list_and_deliver_to_overrides_it() -> None:
    tenant = _tenant()
    routes = {a.key: [(r.channel, r.forbidden) for r in tenant.routes(a)] for a in tenant.achievements}
    assert routes == {
        "small": [("feed", False)],
        "big": [("console", False), ("feed", False), ("mail", True)],  # forbidden: kept, to be suppressed
        "plain": [("console", False), ("feed", False)],  # importance defaults to normal
        "own": [("mail", True), ("console", False)],
    }


def test_without_a_policy_an_achievement_without_deliver_to_goes_nowhere() -> None:
    text = TEXT.split("    routing:")[0] + "    achievements:\n" + TEXT.split("    achievements:\n")[1]
    tenant = _tenant(text)
    assert [r.channel for r in tenant.routes(tenant.achievement("big"))] == []
    assert [r.channel for r in tenant.routes(tenant.achievement("own"))] == ["mail", "console"]


@pytest.mark.parametrize(("old", "new", "error"), [
    ("high: [console, feed, mail]", "high: [console, sms]",
     "acc.yaml:11: tenants[0].routing.high[1]: unknown channel 'sms' (channels: console, feed, mail)"),
    ("forbidden: [mail]", "forbidden: [slack]",
     "acc.yaml:12: tenants[0].routing.forbidden[0]: unknown channel 'slack' (channels: console, feed, mail)"),
    ("normal: [console, feed]", "urgent: [console]",
     "acc.yaml:10: tenants[0].routing.urgent: Extra inputs are not permitted"),
])
def test_policy_errors_name_file_line_and_field(old: str, new: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _tenant(TEXT.replace(old, new))
    assert caught.value.lines() == [error]

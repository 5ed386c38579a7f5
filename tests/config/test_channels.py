"""Channel settings in config: a union on `kind`, errors with file, line and the field as the
user wrote it, and secrets only as `${ENV}` references (DESIGN §8)."""

from __future__ import annotations

import base64

import pytest

from channels.email import EmailSettings
from channels.webhook import WebhookSettings
from config import ConfigError, parse_config

KEY = "whsec_" + base64.b64encode(b"accolade-config-test-key-01").decode()
BASE = """\
tenants:
  - id: acme
    api_keys: ["${ACME_KEY}"]
    channels:
      - {id: console, kind: console}
CHANNEL
"""


def _parse(channel: str, env: dict[str, str] | None = None):  # noqa: ANN202 - Config
    return parse_config(BASE.replace("CHANNEL", channel), file="acc.yaml", env={"ACME_KEY": "k", **(env or {})})


def _errors(channel: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _parse(channel, env)
    return caught.value.lines()


def test_each_kind_gets_its_own_settings_model() -> None:
    config = _parse(
        "      - {id: mail, kind: email, smtp: 'mail.example.com:587', from: accolade@example.com,\n"
        "         username: accolade, password: '${SMTP_PASSWORD}', starttls: true}\n"
        "      - id: hooks\n        kind: webhook\n        url: https://hr.example.com/hooks\n"
        "        secret: ['${HOOK_SECRET}', '${HOOK_NEXT_SECRET}']\n",
        env={"SMTP_PASSWORD": "pw", "HOOK_SECRET": KEY, "HOOK_NEXT_SECRET": KEY})
    mail, hooks = config.tenants[0].channel("mail"), config.tenants[0].channel("hooks")
    assert isinstance(mail, EmailSettings) and (mail.host, mail.port, mail.starttls) == ("mail.example.com", 587, True)
    assert isinstance(hooks, WebhookSettings) and len(hooks.keys()) == 2


def test_a_field_error_names_the_line_and_the_field_as_written() -> None:
    assert _errors("      - {id: mail, kind: email, smtp: 'mail.example.com', from: accolade@example.com}\n") == [
        "acc.yaml:6: tenants[0].channels[1].smtp: String should match pattern '^[^:\\s]+:\\d{1,5}$'"]
    assert _errors("      - {id: mail, kind: email, smtp: 'm:25', from: a@b.c, tls: true}\n") == [
        "acc.yaml:6: tenants[0].channels[1].tls: Extra inputs are not permitted"]


def test_an_unknown_kind_lists_the_known_ones() -> None:
    assert _errors("      - {id: sms, kind: sms}\n") == [
        "acc.yaml:6: tenants[0].channels[1].kind: unknown kind 'sms'; "
        "known: 'console', 'feed', 'slack', 'email', 'webhook'"]


@pytest.mark.parametrize("channel", [
    "      - {id: mail, kind: email, smtp: 'm:25', from: a@b.c, username: u, password: hunter2}\n",
    f"      - {{id: hooks, kind: webhook, url: 'https://h.example', secret: '{KEY}'}}\n",
    f"      - {{id: hooks, kind: webhook, url: 'https://h.example', secret: ['${{HOOK_SECRET}}', '{KEY}']}}\n",
])
def test_channel_secrets_must_be_env_references(channel: str) -> None:
    [line] = _errors(channel, env={"HOOK_SECRET": KEY})
    assert line.startswith("acc.yaml:6: tenants[0].channels[1].")
    assert line.endswith("secrets may only be ${ENV} references, e.g. ${GITHUB_WEBHOOK_SECRET}")
    assert "hunter2" not in line and KEY not in line


def test_a_webhook_secret_that_is_not_whsec_is_refused_without_showing_it() -> None:
    [line] = _errors("      - {id: hooks, kind: webhook, url: 'https://h.example', secret: '${HOOK_SECRET}'}\n",
                     env={"HOOK_SECRET": "plain-secret-value"})
    assert line == "acc.yaml:6: tenants[0].channels[1].secret: each secret must look like whsec_<base64>"

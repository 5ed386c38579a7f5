"""Config loading: references, line numbers in errors, and `accolade config check`."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, demo_default_warnings, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "accolade.yaml"

GOOD = """\
tenants:
  - id: acme
    api_keys: ["${ACME_KEY}"]
    connectors:
      - {id: gh, vendor: github, secret: "${GH_SECRET:-fallback}"}
    channels:
      - {id: console, kind: console}
    achievements:
      - key: green
        version: 1
        name: Green
        rule: {count: 3, of: ci.pipeline.completed, where: {outcome: success}}
        deliver_to: [console]
"""


def _errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="acc.yaml", env=env if env is not None else {"ACME_KEY": "k"})
    return caught.value.lines()


def test_example_config_loads_with_defaults() -> None:
    config = load_config(EXAMPLE, env={})
    tenant = config.tenants[0]
    assert tenant.connectors[0].secret.get_secret_value() == "demo-secret"
    assert tenant.achievements[0].rule.where == {"outcome": "success"}
    assert config.temporal.retention_days > 1


def test_exported_variable_wins_over_default() -> None:
    config = parse_config(GOOD, file="acc.yaml", env={"ACME_KEY": "k", "GH_SECRET": "s3"})
    assert config.tenants[0].connectors[0].secret.get_secret_value() == "s3"
    assert config.tenants[0].api_keys[0].get_secret_value() == "k"


def test_unset_variable_without_default_names_it_and_its_line() -> None:
    assert _errors(GOOD, env={}) == [
        "acc.yaml:3: tenants[0].api_keys[0]: environment variable ACME_KEY is not set and has no default"
    ]


def test_typo_in_rule_field_is_reported_on_its_line() -> None:
    text = GOOD.replace("count: 3", "cuont: 3")
    errors = _errors(text)
    assert errors == ["acc.yaml:12: tenants[0].achievements[0].rule.cuont: unknown rule field 'cuont'; "
                      "a rule takes count, of, where, distinct, window, without, streak, maintained, from, "
                      "broken_by, all, ordered"]


def test_every_error_is_reported_at_once() -> None:
    text = GOOD.replace("vendor: github", "vendor: githib").replace("version: 1", "version: 0")
    errors = _errors(text)
    assert errors[0].startswith("acc.yaml:5: tenants[0].connectors[0].vendor: unknown vendor 'githib'")
    assert errors[1].startswith("acc.yaml:10: tenants[0].achievements[0].version:")
    assert len(errors) == 2


def test_literal_secret_is_refused() -> None:
    text = GOOD.replace('"${GH_SECRET:-fallback}"', "hunter2")
    errors = _errors(text)
    assert errors == [
        "acc.yaml:5: tenants[0].connectors[0].secret: secrets may only be ${ENV} references, "
        "e.g. ${GITHUB_WEBHOOK_SECRET}"
    ]
    assert "hunter2" not in "".join(errors)


def test_unknown_channel_in_deliver_to() -> None:
    errors = _errors(GOOD.replace("deliver_to: [console]", "deliver_to: [slack]"))
    assert errors == [
        "acc.yaml:13: tenants[0].achievements[0].deliver_to[0]: unknown channel 'slack' "
        "(channels: console)"
    ]


def test_bad_operator_and_bad_yaml() -> None:
    errors = _errors(GOOD.replace("{outcome: success}", "{score: {gt: high}}"))
    assert errors[0].startswith("acc.yaml:12: tenants[0].achievements[0].rule.where: score: gt needs")
    assert _errors("tenants: [\n")[0].startswith("acc.yaml:2: (top): invalid YAML")


def _second_tenant(**replace: str) -> str:
    """GOOD's tenant again as `other`, on lines 14 and after, with `replace` applied."""
    text = GOOD.replace("id: acme", "id: other").split("\n", 1)[1]
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def test_duplicate_connector_id_is_reported_at_the_second_use() -> None:
    text = GOOD + _second_tenant(**{"${ACME_KEY}": "${OTHER_KEY}", "${GH_SECRET:-fallback}": "${O:-o}"})
    assert _errors(text, env={"ACME_KEY": "k", "OTHER_KEY": "k2"}) == [
        "acc.yaml:17: tenants[1].connectors[0].id: duplicate connector id 'gh': connector ids are "
        "unique in the file (first used at tenants[0].connectors[0].id (line 5))"
    ]


def test_duplicate_tenant_id_is_reported_at_the_second_use() -> None:
    text = GOOD + _second_tenant(**{"id: other": "id: acme", "${ACME_KEY}": "${OTHER_KEY}",
                                    "gh,": "gh2,", "${GH_SECRET:-fallback}": "${O:-o}"})
    assert _errors(text, env={"ACME_KEY": "k", "OTHER_KEY": "k2"}) == [
        "acc.yaml:14: tenants[1].id: duplicate tenant id 'acme' (first used at tenants[0].id (line 2))"
    ]


def test_api_key_of_two_tenants_is_an_error_even_through_two_variables() -> None:
    # The probe's finding: the demo's key line copied into a second tenant routed the first
    # tenant's events to the second. Values are compared after expansion.
    text = GOOD + _second_tenant(**{"${ACME_KEY}": "${OTHER_KEY:-demo-key}", "gh,": "gh2,",
                                    "${GH_SECRET:-fallback}": "${O:-o}"})
    errors = _errors(text, env={"ACME_KEY": "demo-key"})
    assert errors == [
        "acc.yaml:15: tenants[1].api_keys[0]: this API key is used twice; a key names exactly one "
        "tenant (first used at tenants[0].api_keys[0] (line 3))"
    ]
    assert "demo-key" not in "".join(errors)
    assert parse_config(text, file="acc.yaml", env={"ACME_KEY": "k", "OTHER_KEY": "k2"})


def test_api_key_listed_twice_in_one_tenant_is_an_error() -> None:
    text = GOOD.replace('api_keys: ["${ACME_KEY}"]', 'api_keys: ["${ACME_KEY}", "${SAME:-k}"]')
    assert _errors(text) == [
        "acc.yaml:3: tenants[0].api_keys[1]: this API key is used twice; a key names exactly one "
        "tenant (first used at tenants[0].api_keys[0] (line 3))"
    ]


def test_webhook_secret_shared_across_tenants_is_an_error_naming_the_second_use() -> None:
    text = GOOD + _second_tenant(**{"${ACME_KEY}": "${OTHER_KEY}", "gh,": "gh2,",
                                    "${GH_SECRET:-fallback}": "${OTHER_SECRET}"})
    errors = _errors(text, env={"ACME_KEY": "k", "OTHER_KEY": "k2", "OTHER_SECRET": "fallback"})
    assert errors == [
        "acc.yaml:17: tenants[1].connectors[0].secret: this secret is also used by another tenant "
        "(first used at tenants[0].connectors[0].secret (line 5))"
    ]
    assert "fallback" not in "".join(errors)


def test_another_tenants_api_key_is_no_webhook_secret() -> None:
    # Whoever configures tenant B's webhook would know tenant A's API key.
    text = GOOD + _second_tenant(**{"${ACME_KEY}": "${OTHER_KEY}", "gh,": "gh2,",
                                    "${GH_SECRET:-fallback}": "${ACME_KEY}"})
    assert _errors(text, env={"ACME_KEY": "k", "OTHER_KEY": "k2"}) == [
        "acc.yaml:17: tenants[1].connectors[0].secret: this secret is also used by another tenant "
        "(first used at tenants[0].api_keys[0] (line 3))"
    ]


def test_one_tenant_may_share_a_webhook_secret_between_its_connectors() -> None:
    text = GOOD.replace(
        '      - {id: gh, vendor: github, secret: "${GH_SECRET:-fallback}"}\n',
        '      - {id: gh, vendor: github, secret: "${GH_SECRET:-fallback}"}\n'
        '      - {id: gh-two, vendor: github, secret: "${GH_SECRET:-fallback}"}\n',
    )
    assert len(parse_config(text, file="acc.yaml", env={"ACME_KEY": "k"}).tenants[0].connectors) == 2


# every `${NAME:-demo-…}` of the demo config: a published default that must warn
# (the demo webhook secret is `whsec_<base64 of "demo-…">`: published too)
DEMO_VARIABLES = sorted(set(re.findall(r"\$\{(\w+):-(?:demo-|whsec_)", EXAMPLE.read_text())))


def _exported() -> dict[str, str]:
    """Every demo variable exported with an own value (valid as a `whsec_` secret too)."""
    return {v: "whsec_" + base64.b64encode(f"mine-{n}-own-secret".encode()).decode()
            for n, v in enumerate(DEMO_VARIABLES)}


def test_demo_default_warnings_name_line_field_and_variable_not_the_secret(tmp_path: Path) -> None:
    warnings = demo_default_warnings(EXAMPLE, env={})
    assert warnings[:2] == [
        f"{EXAMPLE}:16: tenants[0].api_keys[0]: warning: the demo default of ${{ACCOLADE_API_KEY}} "
        "is in effect; export ACCOLADE_API_KEY with your own secret",
        f"{EXAMPLE}:18: tenants[0].connectors[0].secret: warning: the demo default of "
        "${GITHUB_WEBHOOK_SECRET} is in effect; export GITHUB_WEBHOOK_SECRET with your own secret",
    ]
    assert len(warnings) == len(DEMO_VARIABLES)  # one per demo default, each naming its variable
    assert all(any(f"export {v} " in w for w in warnings) for v in DEMO_VARIABLES)
    assert "demo-key" not in "".join(warnings) and "demo-secret" not in "".join(warnings)
    assert "whsec_" not in "".join(warnings)
    assert demo_default_warnings(EXAMPLE, env=_exported()) == []


def test_only_demo_defaults_warn(tmp_path: Path) -> None:
    file = tmp_path / "acc.yaml"
    file.write_text(GOOD)  # ${GH_SECRET:-fallback} is a default, but no published demo secret
    assert demo_default_warnings(file, env={"ACME_KEY": "k"}) == []
    file.write_text(GOOD.replace("${GH_SECRET:-fallback}", "${GITLAB_WEBHOOK_TOKEN:-demo-gitlab-token}"))
    assert [w.split(": ", 2)[1] for w in demo_default_warnings(file, env={"ACME_KEY": "k"})] == [
        "tenants[0].connectors[0].secret"
    ]


def test_config_check_cli_prints_file_line_field_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "accolade.yaml"
    bad.write_text(GOOD.replace("kind: console", "kind: consol"))
    done = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(bad)],
        capture_output=True, text=True, env={"ACME_KEY": "k", "PATH": ""}, check=False,
    )
    assert done.returncode == 2
    assert done.stdout.startswith(f"{bad}:7: tenants[0].channels[0].kind: unknown kind 'consol'; known: 'console'")
    assert "Traceback" not in done.stderr


def _cli_env(**extra: str) -> dict[str, str]:
    """A clean environment: a developer's exported ACCOLADE_* must not change the outcome."""
    return {"PATH": os.environ.get("PATH", ""), **extra}


def test_config_check_cli_ok_on_example_warns_about_demo_defaults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(EXAMPLE)],
        capture_output=True, text=True, env=_cli_env(), check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"{EXAMPLE}: ok\n"
    assert f"{EXAMPLE}:16: tenants[0].api_keys[0]: warning:" in done.stderr
    assert "export GITHUB_WEBHOOK_SECRET" in done.stderr
    assert "demo-key" not in done.stderr and "demo-secret" not in done.stderr


def test_config_check_cli_is_quiet_when_the_secrets_are_exported() -> None:
    env = _cli_env(**_exported())
    done = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(EXAMPLE)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_up_warns_about_demo_defaults_and_keeps_its_run_folder_private(tmp_path: Path) -> None:
    from cli.up import prepare_store

    config = tmp_path / "accolade.yaml"
    config.write_text(f'store: {{url: "sqlite:///{tmp_path}/data/a.db"}}\n'
                      + GOOD.replace("${ACME_KEY}", "${ACCOLADE_API_KEY:-demo-key}"))
    assert prepare_store(load_config(config, env={})) == []  # publishes v1
    # A changed rule under the published version makes `up` stop before it starts anything.
    config.write_text(config.read_text().replace("count: 3", "count: 4"))
    done = subprocess.run(
        [sys.executable, "-m", "cli", "up", "--config", str(config)],
        capture_output=True, text=True, env=_cli_env(), cwd=tmp_path, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"accolade up: {config}:4: tenants[0].api_keys[0]: warning: the demo default of "
        "${ACCOLADE_API_KEY} is in effect; export ACCOLADE_API_KEY with your own secret\n"
    )
    assert "demo-key" not in done.stderr
    assert stat.S_IMODE((tmp_path / ".accolade").stat().st_mode) == 0o700


def test_metrics_default_on_can_be_moved_by_a_reference_or_turned_off() -> None:
    config = parse_config(GOOD, file="acc.yaml", env={"ACME_KEY": "k"})
    assert config.metrics.worker_address == ("127.0.0.1", 9464) and config.metrics.receiver
    second = 'metrics: {worker_listen: "${ACCOLADE_WORKER_METRICS:-127.0.0.1:9464}", receiver: false}\n'
    moved = parse_config(second + GOOD, file="acc.yaml",
                         env={"ACME_KEY": "k", "ACCOLADE_WORKER_METRICS": "0.0.0.0:9465"})
    assert moved.metrics.worker_address == ("0.0.0.0", 9465) and not moved.metrics.receiver
    off = parse_config('metrics: {worker_listen: ""}\n' + GOOD, file="acc.yaml", env={"ACME_KEY": "k"})
    assert off.metrics.worker_address is None


def test_metrics_address_without_a_port_is_reported_on_its_line() -> None:
    [line] = _errors("metrics:\n  worker_listen: localhost\n" + GOOD)
    assert line.startswith("acc.yaml:2: metrics.worker_listen: ")

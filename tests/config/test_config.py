"""Config loading: references, line numbers in errors, and `accolade config check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_config, parse_config

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
    assert "acc.yaml:12: tenants[0].achievements[0].rule.count: Field required" in errors
    assert "acc.yaml:12: tenants[0].achievements[0].rule.cuont: Extra inputs are not permitted" in errors


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


def test_duplicate_connector_ids_across_tenants() -> None:
    second = GOOD.replace("id: acme", "id: other").split("\n", 1)[1]
    errors = _errors(GOOD + second)
    assert any("duplicate connector id 'gh'" in e for e in errors)


def test_config_check_cli_prints_file_line_field_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "accolade.yaml"
    bad.write_text(GOOD.replace("kind: console", "kind: consol"))
    done = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(bad)],
        capture_output=True, text=True, env={"ACME_KEY": "k", "PATH": ""}, check=False,
    )
    assert done.returncode == 2
    assert done.stdout.startswith(f"{bad}:7: tenants[0].channels[0].kind: Input should be")
    assert "Traceback" not in done.stderr


def test_config_check_cli_ok_on_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(EXAMPLE)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

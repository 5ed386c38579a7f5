"""`vendor: canvas` in a config file: what polls, and clear errors with file and line."""

from __future__ import annotations

import pytest

from config import ConfigError, parse_config
from connectors.canvas import CONNECTOR

CONFIG = """\
store: {url: "sqlite:///unused.db"}
tenants:
  - id: demo
    api_keys: ["${K}"]
    connectors:
      - id: canvas
        vendor: canvas
CANVAS
"""


def _config(canvas: str, env: dict[str, str] | None = None):  # noqa: ANN202 - Config
    return parse_config(CONFIG.replace("CANVAS", canvas), file="acc.yaml",
                        env={"K": "k", "T": "t", "S": "s", **(env or {})})


def _errors(canvas: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _config(canvas)
    return caught.value.lines()


def test_the_demo_defaults_leave_canvas_off() -> None:
    config = _config('        url: "${CANVAS_URL:-}"\n        token: "${CANVAS_TOKEN:-}"\n        courses: [101]')
    settings = config.tenants[0].connectors[0]
    assert settings.vendor == "canvas" and not CONNECTOR.polls(settings)


def test_url_and_token_from_the_environment_turn_polling_on() -> None:
    config = _config('        url: "${CANVAS_URL:-}"\n        token: "${CANVAS_TOKEN:-}"\n        courses: [101]',
                     env={"CANVAS_URL": "https://acme.instructure.com/", "CANVAS_TOKEN": "t0k3n"})
    settings = config.tenants[0].connectors[0]
    assert CONNECTOR.polls(settings) and settings.url == "https://acme.instructure.com"
    assert settings.token.get_secret_value() == "t0k3n" and "t0k3n" not in repr(settings)


@pytest.mark.parametrize(("canvas", "message"), [
    ('        url: "https://c.example"\n        courses: [101]', "polling needs an access token"),
    ('        url: "https://c.example"\n        token: "${T}"', "neither courses nor account_id"),
    ('        url: "https://c.example"\n        client_id: "10"\n        client_secret: "${S}"\n        courses: [1]',
     "no client-credentials grant"),
    ('        url: "https://c.example"\n        token: "${T}"\n        courses: [1]\n        account_id: 1',
     "not both"),
    ('        url: "ftp://c.example"\n        token: "${T}"\n        courses: [1]', "http:// or https://"),
    ('        url: "https://c.example"\n        token: "${T}"\n        courses: ["a b"]', "no Canvas course id"),
])
def test_an_incomplete_canvas_is_refused_naming_the_file_line_and_what_is_missing(canvas: str, message: str) -> None:
    errors = _errors(canvas)
    assert len(errors) == 1 and errors[0].startswith("acc.yaml:") and message in errors[0], errors
    assert "tenants[0].connectors[0]" in errors[0]

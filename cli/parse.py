"""`accolade connectors parse`: a vendor payload file to canonical events, no server needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from connectors import PayloadError, WebhookRequest, get_connector
from connectors.base import parse_checked
from rules.events import connector_source

__all__ = ["parse_file"]


def parse_file(vendor: str, file: str, headers: list[str], *, source: str | None = None) -> int:
    """Print events as JSON lines; returns the exit status (0 ok or ignored, 2 unusable)."""
    try:
        connector = get_connector(vendor)
    except KeyError as exc:
        return _fail(str(exc.args[0]))
    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        return _fail(f"{file}: {exc.strerror}")
    try:
        parsed_headers = dict(_header(h) for h in headers)
    except ValueError as exc:
        return _fail(str(exc))
    request = WebhookRequest(body=body, headers=parsed_headers)
    try:
        result = parse_checked(connector, request, source=source or connector_source("local", vendor))
    except PayloadError as exc:
        return _fail(f"{file}: {exc.reason}")
    for event in result.events:
        print(json.dumps(event.to_json_dict(), sort_keys=True))
    if result.ignored:
        print(f"accolade: {file}: ignored: {result.ignored}", file=sys.stderr)
    if result.dropped:
        print(f"accolade: {file}: dropped {result.dropped} event(s)", file=sys.stderr)
    return 0


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"--header {text!r} must look like 'Name: value'")
    return name.strip(), value.strip()


def _fail(message: str) -> int:
    print(f"accolade: {message}", file=sys.stderr)
    return 2

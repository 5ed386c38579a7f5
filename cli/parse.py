"""`accolade connectors parse`: a vendor payload file to canonical events, no server needed.

The vendor event comes from `--event NAME` (the connector's own headers for it), or `-H`
headers as the vendor sends them; with neither, a file kept in a fixtures folder named after a
declared event (`pipeline_hook/…` → `Pipeline Hook`) is read as that event, and otherwise the
command asks for `--event` rather than guess.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from connectors import PayloadError, WebhookConnector, WebhookRequest, get_connector
from connectors.base import fixture_folder, parse_checked
from rules.events import connector_source

__all__ = ["parse_file"]


def parse_file(
    vendor: str, file: str, headers: list[str], *, event: str | None = None, source: str | None = None
) -> int:
    """Print events as JSON lines; returns the exit status (0 ok or ignored, 2 unusable)."""
    try:
        connector = get_connector(vendor)
    except KeyError as exc:
        return _fail(str(exc.args[0]))
    if not isinstance(connector, WebhookConnector):
        return _fail(f"{vendor} is not a webhook connector: there is no payload to parse")
    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        return _fail(f"{file}: {exc.strerror}")
    try:
        parsed_headers = dict(_header(h) for h in headers)
        named = _event_headers(connector, Path(file), event, parsed_headers)
    except ValueError as exc:
        return _fail(str(exc))
    request = WebhookRequest(body=body, headers={**named, **parsed_headers})
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


def _event_headers(
    connector: WebhookConnector, path: Path, event: str | None, given: dict[str, str]
) -> dict[str, str]:
    """The headers naming the vendor event: `--event`, else `-H`, else the file's folder name."""
    if event is not None:
        return connector.sample_headers(event)
    header = connector.event_header
    if header is None or header.lower() in {name.lower() for name in given}:
        return {}
    declared = (*connector.mapped_events, *connector.ignored_events)
    matches = [name for name in declared if fixture_folder(name) == path.parent.name]
    if len(matches) == 1:
        return connector.sample_headers(matches[0])
    examples = ", ".join(repr(name) for name in connector.mapped_events)
    raise ValueError(f"{path}: which {connector.vendor} event is this? pass --event NAME "
                     f"(e.g. {examples}) or -H '{header}: NAME'")


def _fail(message: str) -> int:
    print(f"accolade: {message}", file=sys.stderr)
    return 2

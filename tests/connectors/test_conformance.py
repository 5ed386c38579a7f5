"""One conformance suite over every registered connector (issue 9, item 5).

A new vendor gets these checks by being in `connectors.CONNECTORS` and keeping its fixtures in
`tests/connectors/<vendor>/fixtures/<fixture_folder(event)>/*.json`:

- every declared mapped and ignored event has real fixtures, and each fixture parses (through
  `sample_headers(event)`) to events, an ignore, or a `PayloadError`; a mapped event maps at
  least one of its fixtures and an ignored one maps none;
- parsing is total: bodies derived from the real fixtures (truncated, not an object, a field
  absent or of a wrong type at any depth, numbers too large) raise `PayloadError`, never
  anything else, and a polling connector turns junk records into per-record errors;
- parsing makes no network call: every socket connect raises while this module runs;
- settings models refuse unknown fields and keep their secrets in `SecretStr`;
- xAPI, reached at `/xapi/` rather than `/webhooks/<id>`, gets its own section: its statement
  fixtures (`tests/connectors/xapi/fixtures/*/`) map or are refused with 400, and parsing is total.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors import CONNECTORS
from connectors.base import (
    Page,
    ParseResult,
    PayloadError,
    PollingConnector,
    WebhookConnector,
    WebhookRequest,
    fixture_folder,
    parse_checked,
    secret_fields,
)
from connectors.xapi import XapiConnector

HERE = Path(__file__).parent
WEBHOOKS = [c for c in CONNECTORS if isinstance(c, WebhookConnector)]
POLLERS = [c for c in CONNECTORS if isinstance(c, PollingConnector)]
# wrong values put in place of a real field: every JSON type, and numbers the limits refuse
WRONG: tuple[tuple[str, Any], ...] = (
    ("null", None), ("string", "x"), ("int", 7), ("negative", -1), ("float", 1.5), ("bool", True),
    ("list", []), ("list-of-object", [{}]), ("object", {}), ("huge", 10**40), ("infinite", float("inf")),
)
_SECRET_NAME = re.compile(r"(secret|token|password|key|authorization|credential)s?$")


def _events(connector: WebhookConnector) -> list[str]:
    return [*connector.mapped_events, *connector.ignored_events]


def _fixtures(connector: WebhookConnector, event: str) -> list[Path]:
    return sorted((HERE / connector.vendor / "fixtures" / fixture_folder(event)).glob("*.json"))


def _declared() -> list[Any]:
    return [pytest.param(c, e, id=f"{c.vendor}-{fixture_folder(e)}") for c in WEBHOOKS for e in _events(c)]


def _every_fixture() -> list[Any]:
    return [pytest.param(c, e, p, id=f"{c.vendor}-{p.parent.name}-{p.name}")
            for c in WEBHOOKS for e in _events(c) for p in _fixtures(c, e)]


class NetworkCall(BaseException):  # noqa: N818 - a BaseException: no `except Exception` hides it
    """Raised by any socket connect while this module runs."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkCall(f"network call during parsing: {args[1:2]}")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)


def _parse(connector: WebhookConnector, event: str, body: bytes) -> ParseResult:
    request = WebhookRequest(body=body, headers=connector.sample_headers(event))
    return parse_checked(connector, request, source=f"/accolade/conformance/{connector.vendor}")


# --- (a) and (b): real fixtures for every declared event ---


def test_the_network_guard_holds() -> None:
    with pytest.raises(NetworkCall):
        socket.create_connection(("192.0.2.1", 9))
    with socket.socket() as sock, pytest.raises(NetworkCall):
        sock.connect(("192.0.2.1", 9))


@pytest.mark.parametrize(("connector", "event"), _declared())
def test_every_declared_event_has_fixtures_and_they_parse(connector: WebhookConnector, event: str) -> None:
    paths = _fixtures(connector, event)
    folder = f"tests/connectors/{connector.vendor}/fixtures/{fixture_folder(event)}/"
    assert paths, f"{folder} has no *.json fixture for declared event {event!r}"
    produced = 0
    for path in paths:
        try:
            produced += len(_parse(connector, event, path.read_bytes()).events)
        except PayloadError:
            pass
    if event in connector.mapped_events:
        assert produced, f"no fixture in {folder} maps to an event"
    else:
        assert produced == 0, f"ignored event {event!r} produced events"


# --- (c): parsing is total ---


def _paths(doc: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> Iterator[tuple[Any, ...]]:
    """Every object key (and the first item of every list) down to `depth`."""
    if depth == 0:
        return
    items = doc.items() if isinstance(doc, dict) else [(0, doc[0])] if isinstance(doc, list) and doc else []
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key), depth - 1)


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> bytes:
    """`doc` serialised with the field at `path` set to `value` (or removed when `value` is ...)."""
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key, old = path[-1], parent[path[-1]]
    if value is ... and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = None if value is ... else value
    try:
        return json.dumps(doc).encode()
    finally:
        parent[key] = old


def mutations(body: bytes) -> Iterator[tuple[str, bytes, bool]]:
    """(name, body, whether it must be refused) derived from one real fixture.

    Fields near the top get every wrong value; deeper ones one each, in turn, to keep it fast.
    """
    yield from [("truncated", body[: len(body) // 2], True), ("empty", b"", True),
                ("not-json", b"<html>", True), ("array", b"[" + body + b"]", True),
                ("string", b'"x"', True), ("number", b"1", True), ("null", b"null", True),
                ("huge-top", b"1" * 400, True), ("deep", b"[" * 100_000, True),
                ("empty-object", b"{}", False)]
    doc = json.loads(body)
    for n, path in enumerate(list(_paths(doc))):
        name = ".".join(map(str, path))
        wrong = WRONG if len(path) <= 2 else (WRONG[n % len(WRONG)],)
        for label, value in (*wrong, ("absent", ...)):
            yield f"{name}={label}", _replaced(doc, path, value), False


def test_mutations_cover_every_kind_of_damage() -> None:
    found = dict((name, body) for name, body, _ in mutations(b'{"a": {"b": [{"c": 1}]}}'))
    assert found["a=huge"] == b'{"a": 1' + b"0" * 40 + b"}"
    assert found["a.b=list"] == b'{"a": {"b": []}}' and found["a.b.0=absent"] == b'{"a": {"b": [null]}}'
    assert {name.split("=")[0] for name in found} >= {"a", "a.b", "a.b.0", "a.b.0.c"}
    assert found["a.b=absent"] == b'{"a": {}}' and found["a=infinite"] == b'{"a": Infinity}'


@pytest.mark.parametrize(("connector", "event", "path"), _every_fixture())
def test_parsing_is_total(connector: WebhookConnector, event: str, path: Path) -> None:
    for name, body, refused in mutations(path.read_bytes()):
        try:
            result = _parse(connector, event, body)
        except PayloadError as exc:
            assert exc.status in (400, 422) and exc.reason, name
            continue
        assert not refused, f"{path.name} {name}: accepted a body that is not a JSON object"
        for made in result.events:
            json.dumps(made.to_json_dict())  # what the store writes


# --- polling connectors: junk records are per-record errors ---


def _junk_records(connector: PollingConnector) -> list[Any]:
    records: list[Any] = [None, 0, "x", [], {}, {"id": 10**40}, [{}]]
    for path in sorted((HERE / connector.vendor / "fixtures").rglob("*.json"))[:6]:
        doc = json.loads(path.read_text())
        pieces = [doc, *(v for v in doc.values() if isinstance(v, dict))] if isinstance(doc, dict) else [doc]
        for piece in pieces:
            records.extend(json.loads(body) for _, body, refused in mutations(json.dumps(piece).encode())
                           if not refused and body.startswith(b"{"))
    return records


@pytest.mark.parametrize("connector", POLLERS, ids=lambda c: c.vendor)
def test_a_page_of_junk_records_gives_per_record_errors(connector: PollingConnector) -> None:
    records = _junk_records(connector)
    results = connector.parse_page(Page(records=records), source=f"/accolade/conformance/{connector.vendor}")
    assert len(results) == len(records)
    for record, result in zip(records, results, strict=True):
        assert result.error is None or isinstance(result.error, PayloadError)
        if not isinstance(record, dict) or not record:
            assert isinstance(result.error, PayloadError), f"junk record {record!r} was not refused"


# --- (e): settings ---


@pytest.mark.parametrize("connector", CONNECTORS, ids=lambda c: c.vendor)
def test_settings_refuse_unknown_fields_and_keep_secrets_secret(connector: Any) -> None:
    model = connector.settings
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"id": "x", "vendor": connector.vendor, "no_such_field": 1})
    assert any(e["type"] == "extra_forbidden" and e["loc"] == ("no_such_field",) for e in caught.value.errors())
    secrets = set(secret_fields(model))
    named = {name for name in model.model_fields if _SECRET_NAME.search(name)}
    assert named <= secrets, f"{connector.vendor}: not SecretStr: {sorted(named - secrets)}"
    if isinstance(connector, WebhookConnector):
        assert secrets, f"{connector.vendor}: nothing authenticates its webhooks"


# --- `accolade connectors parse` reads every webhook connector's payloads ---


def _first_mapped(connector: WebhookConnector) -> tuple[str, Path]:
    for event in connector.mapped_events:
        for path in _fixtures(connector, event):
            try:
                if _parse(connector, event, path.read_bytes()).events:
                    return event, path
            except PayloadError:
                continue
    raise AssertionError(f"{connector.vendor}: no fixture maps to an event")


@pytest.mark.parametrize("connector", WEBHOOKS, ids=lambda c: c.vendor)
def test_connectors_parse_prints_the_events_of_a_real_payload(connector: WebhookConnector) -> None:
    from typer.testing import CliRunner

    from cli import app

    event, path = _first_mapped(connector)
    expected = [e.to_json_dict() for e in _parse(connector, event, path.read_bytes()).events]
    for extra in (["--event", event], []):  # without --event: the fixture's folder names it
        done = CliRunner().invoke(app, ["connectors", "parse", connector.vendor, str(path), *extra])
        assert done.exit_code == 0, done.output
        printed = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(e["id"], e["type"]) for e in printed] == [(e["id"], e["type"]) for e in expected]
        assert all(e["source"] == f"/accolade/local/{connector.vendor}" for e in printed)


@pytest.mark.parametrize("connector", [c for c in WEBHOOKS if c.event_header], ids=lambda c: c.vendor)
def test_connectors_parse_asks_for_the_event_it_cannot_tell(connector: WebhookConnector, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    event, path = _first_mapped(connector)
    loose = tmp_path / "payload.json"
    loose.write_bytes(path.read_bytes())
    done = CliRunner().invoke(app, ["connectors", "parse", connector.vendor, str(loose)])
    assert done.exit_code == 2 and done.stdout == ""
    assert "--event" in done.stderr and "Traceback" not in done.stderr
    named = CliRunner().invoke(app, ["connectors", "parse", connector.vendor, str(loose),
                                     "-H", f"{connector.event_header}: {event}"])
    assert named.exit_code == 0 and named.stdout.strip()


# --- xAPI: not a webhook nor a poller (it is reached at /xapi/), so its own section ---

XAPI = [c for c in CONNECTORS if isinstance(c, XapiConnector)]
_XAPI_FIXTURES = sorted((HERE / "xapi" / "fixtures").glob("*/*.json"))


def _parse_statements(connector: XapiConnector, body: bytes) -> list[Any]:
    request = WebhookRequest(body=body, headers={"X-Experience-API-Version": "2.0.0"})
    return connector.parse(request, source="/accolade/conformance/xapi").events


def test_xapi_is_registered_and_has_fixtures() -> None:
    assert [c.vendor for c in XAPI] == ["xapi"]
    assert {p.parent.name for p in _XAPI_FIXTURES} >= {"adl", "spec", "moodle"}


@pytest.mark.parametrize("path", [p for p in _XAPI_FIXTURES if p.parent.name != "fragments"],
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_xapi_fixtures_parse_to_events_or_a_400(path: Path) -> None:
    [connector] = XAPI
    try:
        made = _parse_statements(connector, path.read_bytes())
    except PayloadError as exc:
        assert exc.status == 400 and exc.reason
        return
    if path.parent.name == "moodle":
        assert made, f"{path.name} maps to no event"


@pytest.mark.parametrize("path", [p for p in _XAPI_FIXTURES if p.parent.name in ("moodle", "spec")],
                         ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_xapi_parsing_is_total(path: Path) -> None:
    [connector] = XAPI
    for name, body, refused in mutations(path.read_bytes()):
        try:
            made = _parse_statements(connector, body)
        except PayloadError as exc:
            assert exc.status in (400, 422) and exc.reason, name
            continue
        assert not refused or name == "array", f"{path.name} {name}: accepted a body that is not a statement"
        for event in made:
            json.dumps(event.to_json_dict())

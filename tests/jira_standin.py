"""A local Jira Data Center for tests and the demo: jira820 0.12.0 with its gaps closed.

`jira820` (PyPI) serves Jira DC 8.20's REST v2 from a seeded, stateful store. Where it differs
from a real Jira in ways the Jira connector depends on, this module wraps its app, changing
nothing in the connector (Jira's documentation for each point is cited beside the fix):

1. JQL dates in epoch milliseconds (`updated >= 1764510000000`) make jira820 answer 500. Real
   Jira reads a bare number in a date clause as epoch milliseconds (JQL fields reference,
   "Updated": https://support.atlassian.com/jira-software-cloud/docs/jql-fields/#Updated and
   https://confluence.atlassian.com/jirasoftwareserver/advanced-searching-fields-reference-939938743.html).
   `_search` takes such clauses out of the query and compares the full timestamp.
2. Search ignores `expand=changelog` (and reads one `fields` value only). Real search honours
   `expand=changelog` and a `fields` list given as repeated parameters, and returns the
   `comment` field when asked for ("Search for issues using JQL (GET)",
   https://docs.atlassian.com/software/jira/docs/api/REST/8.20.8/#api/2/search-search).
3. Every write is stamped 09:00 of a base date. Real Jira stamps the time of the write
   (`updated`, changelog `created`; "Get issue",
   https://docs.atlassian.com/software/jira/docs/api/REST/8.20.8/#api/2/issue-getIssue).
   `_Store` stamps writes with the current UTC time, to the millisecond.
4. Resolving records only a `status` item. Real Jira records the `resolution` change in the same
   history as the status ("changelog ... histories[].items", same page; webhook payloads of a
   resolve carry both items, see tests/connectors/jira/fixtures/jira_issue_updated/).
5. An assignee change records no history, and `/rest/api/latest/` (used by the `jira` client's
   `assign_issue`) is 404. Real Jira records an `assignee` item (from/to the user key) and serves
   `latest` as an alias of the current version ("URI structure",
   https://developer.atlassian.com/server/jira/platform/rest-apis/).

Histories are authored by the user of the request's HTTP Basic credentials (real Jira records
who made the change); jira820 wrote "admin" for everyone. Authentication itself is not checked.

Use: `start_jira_standin(tmp_path)` runs it as a subprocess on a free port; the `jira_standin`
fixture (session scope) does that once per test session. For the demo:
`python tests/jira_standin.py --port 8089` serves it in the foreground.
"""

from __future__ import annotations

import argparse
import base64
import contextvars
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request

__all__ = ["JiraStandin", "jira_standin", "make_app", "start_jira_standin"]

PROJECT_KEY = "ACME"
USER = "u01"
TOKEN = "standin-token"  # jira820 checks no credentials; any value works
_EPOCH_CLAUSE = re.compile(r"(?i)(\s+AND\s+)?\bupdated\s*(>=|>|<=|<)\s*(\d{10,})(\s+AND\s+)?")
_ORDER_BY = re.compile(r"(?i)(?:^|\s+)order\s+by\s+(.*)$")
_acting_user: contextvars.ContextVar[str | None] = contextvars.ContextVar("acting_user", default=None)


def _now() -> datetime:
    return datetime.now(UTC)


def _clock() -> str:
    return _now().strftime("%H:%M:%S.%f")[:-3]


def _jira_time(day: Any, clock: str | None = None) -> str | None:
    """jira820's `serialize.dt`, to the millisecond as real Jira (`2026-11-30T19:50:01.123+0000`)."""
    if day is None or isinstance(day, str):
        return day
    clock = clock or "09:00"
    clock = clock if clock.count(":") == 2 else clock + ":00"
    return f"{day.isoformat()}T{clock if '.' in clock else clock + '.000'}+0000"


def _store_class() -> type:
    from jira820.store import Store

    class _Store(Store):
        """jira820's store, stamping writes at the current time and recording what real Jira records."""

        @property
        def now(self) -> date:
            return _now().date()

        def _author(self) -> str:
            return _acting_user.get() or getattr(self.config, "current_user", None) or "admin"

        def _stamp(self, key: str) -> None:
            it = self.issues[key]
            it["updated"], it["tupdated"] = self.now, _clock()

        def _history(self, key: str, items: list[dict[str, Any]]) -> None:
            self.issues[key]["changelog"].append(
                {"author": self._author(), "date": self.now, "time": _clock(), "items": items})

        def _assignee_item(self, old: str | None, new: str | None) -> dict[str, Any]:
            def shown(uid: str | None) -> str | None:
                return None if uid is None else self.users.get(uid, {}).get("displayName", uid)
            return {"field": "assignee", "fieldtype": "jira", "from": old, "fromString": shown(old),
                    "to": new, "toString": shown(new)}

        def create_issue(self, fields: dict) -> dict:
            made = super().create_issue(fields)
            it = self.issues[made["key"]]
            it["tcreated"] = it["tupdated"] = _clock()
            return made

        def update_issue(self, key: str, fields: dict) -> None:
            old = self.get_issue(key).get("assignee")
            super().update_issue(key, fields)
            self._stamp(key)
            if (new := self.issues[key].get("assignee")) != old:
                self._history(key, [self._assignee_item(old, new)])

        def set_assignee(self, key: str, name: Any) -> None:
            old = self.get_issue(key).get("assignee")
            super().set_assignee(key, name)
            self._stamp(key)
            if name != old:
                self._history(key, [self._assignee_item(old, name)])

        def transition_issue(self, key: str, transition_id: str, fields: Any = None, update: Any = None) -> None:
            it = self.get_issue(key)
            old_assignee, old_resolution = it.get("assignee"), it.get("resolution")
            super().transition_issue(key, transition_id, fields=fields, update=update)
            entry = it["changelog"][-1]
            entry["author"], entry["time"] = self._author(), _clock()
            if (resolution := it.get("resolution")) != old_resolution:
                entry["items"].append({"field": "resolution", "fieldtype": "jira",
                                       "from": "1" if old_resolution else None, "fromString": old_resolution,
                                       "to": "1" if resolution else None, "toString": resolution})
            if (assignee := it.get("assignee")) != old_assignee:
                entry["items"].append(self._assignee_item(old_assignee, assignee))
            self._stamp(key)
            if it.get("resolved") == self.now:
                it["tresolved"] = it["tupdated"]

        def add_comment(self, key: str, body: str, author: str = "admin") -> dict:
            super().add_comment(key, body, author=self._author())
            comment = self.issues[key]["comments"][-1]
            comment["tcreated"] = comment["tupdated"] = _clock()
            self._stamp(key)
            return self.serializer.comment_obj(key, len(self.issues[key]["comments"]) - 1, comment)

    return _Store


def _timestamp(it: dict[str, Any]) -> datetime:
    return datetime.strptime(str(_jira_time(it["updated"], it.get("tupdated"))), "%Y-%m-%dT%H:%M:%S.%f%z")


def _split_epoch(jql: str) -> tuple[str, list[tuple[str, datetime]]]:
    """The JQL without its `updated <op> <epoch ms>` clauses, and those clauses."""
    bounds = [(op, datetime.fromtimestamp(int(ms) / 1000, UTC)) for _, op, ms, _ in _EPOCH_CLAUSE.findall(jql)]
    rest = _EPOCH_CLAUSE.sub(lambda m: " AND " if m.group(1) and m.group(4) else " ", jql).strip()
    return rest, bounds


def _holds(when: datetime, op: str, bound: datetime) -> bool:
    return {">=": when >= bound, ">": when > bound, "<=": when <= bound, "<": when < bound}[op]


def _search_route(app: Any) -> None:
    from jira820 import jql as jqlmod

    async def search(request: Request) -> dict[str, Any]:
        store, query = request.app.state.store, request.query_params
        rest, bounds = _split_epoch(query.get("jql", ""))
        order = _ORDER_BY.search(rest)
        where = _ORDER_BY.sub("", rest).strip()
        keys = jqlmod.filter_keys(store, f"{where} ORDER BY {order.group(1)}" if order and where else where)
        issues = [store.issues[k] for k in keys]
        issues = [it for it in issues if all(_holds(_timestamp(it), op, b) for op, b in bounds)]
        by_updated = re.fullmatch(r"(?i)updated(\s+asc|\s+desc)?\s*", order.group(1)) if order else None
        if by_updated:  # to the millisecond, as real Jira orders
            issues.sort(key=_timestamp, reverse=(by_updated.group(1) or "").strip().lower() == "desc")
        start, size = int(query.get("startAt", 0)), int(query.get("maxResults", 50))
        fields = ",".join(query.getlist("fields"))
        expand = ",".join(query.getlist("expand"))
        base = str(request.base_url).rstrip("/")
        found = [_issue(store, it, base, fields, expand) for it in issues[start:start + size]]
        return {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(issues),
                "issues": found}

    app.router.add_api_route("/rest/api/2/search", search, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of jira820's own /search


def _issue(store: Any, it: dict[str, Any], base: str, fields: str, expand: str) -> dict[str, Any]:
    res = store.serializer.issue_res(it, base, fields, expand)
    wanted = {f.strip() for f in fields.split(",")}
    if not fields or wanted & {"comment", "*all"}:
        comments = [store.serializer.comment_obj(it["key"], i, c) for i, c in enumerate(it.get("comments", []))]
        res["fields"]["comment"] = {"comments": comments, "maxResults": len(comments),
                                    "total": len(comments), "startAt": 0}
    return res


class _Latest:
    """ASGI: `/rest/api/latest/…` is `/rest/api/2/…`; the Basic user acts for the request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            path = scope.get("path", "")
            if path.startswith("/rest/api/latest/"):
                path = "/rest/api/2/" + path.removeprefix("/rest/api/latest/")
                scope = {**scope, "path": path, "raw_path": path.encode()}
            _acting_user.set(_basic_user(dict(scope.get("headers") or [])))
        await self.app(scope, receive, send)


def _basic_user(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(b"authorization", b"").decode("latin-1")
    if not value.lower().startswith("basic "):
        return None
    try:
        user = base64.b64decode(value[6:]).decode("utf-8").partition(":")[0]
    except ValueError:
        return None
    return user or None


def make_app() -> Any:
    """jira820's app (config from JIRA820_* variables) with the five gaps closed."""
    from jira820 import serialize
    from jira820.config import load_config
    from jira820.server import make_app as jira820_app

    serialize.dt = _jira_time  # writes carry milliseconds now; jira820 formats HH:MM[:SS] only

    app = jira820_app(store=_store_class()(load_config()))
    _search_route(app)
    return _Latest(app)


# --- running it ---


@dataclass
class JiraStandin:
    """A running stand-in: point the connector's `url`, `user`, `token` at it."""

    url: str
    user: str
    token: str
    project_key: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _seed_date() -> str:
    """Yesterday: jira820 seeds its issues up to the end of its base date, so with today some
    would be "updated" later today, in the future; real Jira has no such issues."""
    return (_now() - timedelta(days=1)).date().isoformat()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jira stand-in exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/rest/api/2/serverInfo", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"jira stand-in did not answer within {timeout:.0f}s; see {log}")


def start_jira_standin(tmp_path: Path, *, project_key: str = PROJECT_KEY, timeout: float = 60) -> JiraStandin:
    """Start the wrapped jira820 on a free port as a subprocess; return once it answers."""
    port = _free_port()
    log = tmp_path / f"jira-standin-{port}.log"
    env = {**os.environ, "JIRA820_PORT": str(port), "JIRA820_HOST": "127.0.0.1",
           "JIRA820_PROJECT_KEY": project_key, "JIRA820_DATE": _seed_date()}
    env.pop("JIRA820_PERSIST", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, __file__, "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait(url, process, log, timeout)
    return JiraStandin(url=url, user=USER, token=TOKEN, project_key=project_key, process=process, log=log)


try:
    import pytest

    @pytest.fixture(scope="session")
    def jira_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JiraStandin]:
        """One stand-in per test session; import this fixture into a test module to use it."""
        standin = start_jira_standin(tmp_path_factory.mktemp("jira-standin"))
        try:
            yield standin
        finally:
            standin.stop()
except ImportError:  # run as a script outside the test environment
    pass


def main() -> None:
    """Serve the stand-in in the foreground (the README's demo)."""
    parser = argparse.ArgumentParser(prog="jira_standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("JIRA820_PORT", "8089")))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    os.environ.setdefault("JIRA820_PROJECT_KEY", PROJECT_KEY)
    os.environ.setdefault("JIRA820_DATE", _seed_date())
    os.environ["JIRA820_PORT"] = str(args.port)
    import uvicorn

    print(f"jira stand-in (jira820, gaps closed): http://{args.host}:{args.port}  "
          f"project={os.environ['JIRA820_PROJECT_KEY']}  user={USER}  token=<any>", flush=True)
    uvicorn.run(make_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

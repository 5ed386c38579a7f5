"""A local Canvas LMS for tests and the demo, at the HTTP level.

It answers the calls the Canvas connector makes with the response shapes of Canvas's REST API
documentation (https://canvas.instructure.com/doc/api/, now developerdocs.instructure.com):

- `GET /api/v1/accounts/:id/courses` (Accounts API, "List active courses in an account"):
  a list of Course objects `{id, name, course_code, account_id, workflow_state, …}`.
- `GET /api/v1/courses/:id/students/submissions` (Submissions API, "List submissions for
  multiple assignments"): Submission objects `{id, assignment_id, user_id, attempt, score,
  grade, graded_at, submitted_at, workflow_state, excused, late, missing, grader_id, …}`;
  `include[]=assignment` embeds the Assignment `{id, name, points_possible, course_id, …}`;
  `graded_since` keeps submissions graded strictly after it; `student_ids[]=all`.
- `GET /api/v1/courses/:id/users` (Users API, "List users in course"): User objects `{id,
  name, sortable_name, short_name, login_id}`, `email` with `include[]=email`, and
  `enrollments: [{id, course_id, type: "StudentEnrollment", enrollment_state, …}]` with
  `include[]=enrollments`; `enrollment_type[]=student` keeps learners.
- `GET /api/v1/courses/:id/users/:user_id/progress` (Courses API, "Get user progress"): a
  CourseProgress `{requirement_count, requirement_completed_count, next_requirement_url,
  completed_at}`.
- `POST /login/oauth2/token` (OAuth2 endpoints, grant_type=refresh_token): `{access_token,
  token_type: "Bearer", user: {id, name}, expires_in: 3600}`; no new refresh token; a wrong
  one answers 400 `{"error": "invalid_grant", …}`.
- Pagination ("Pagination"): `per_page` (default 10, at most 100) and a `Link` header with
  `rel="current"`, `"next"`, `"first"`, `"last"`; times are ISO 8601 in UTC ("…Z").
- Throttling ("Throttling"): `403 Forbidden (Rate Limit Exceeded)` as the body, with
  `X-Rate-Limit-Remaining` and `X-Request-Cost`, no `Retry-After`. An invalid or expired token
  answers 401 `{"errors": [{"message": "Invalid access token."}]}` with `WWW-Authenticate`;
  a course the token may not read answers 403 `{"status": "unauthorized", …}`.

Control (tests call the methods; the demo uses HTTP): `POST /standin/complete?course=&user=`
stamps a completion now, `POST /standin/grade?course=&assignment=&user=&score=` grades now,
`POST /standin/throttle?count=n` throttles the next n API calls, `POST /standin/revoke` makes
every token invalid (401). Use `start_canvas_standin()` (a thread on a free port) or the
`canvas_standin` fixture; for the demo, `python tests/canvas_standin.py --port 8090`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["ACCOUNT", "CLIENT_ID", "CLIENT_SECRET", "COURSES", "REFRESH_TOKEN", "TOKEN", "CanvasStandin",
           "start_canvas_standin"]

TOKEN = "standin-canvas-token"
CLIENT_ID = "10000000000001"
CLIENT_SECRET = "standin-developer-key-secret"
REFRESH_TOKEN = "standin-refresh-token"
ACCOUNT = 1
COURSES = {101: "Security Basics", 102: "Onboarding"}
FORBIDDEN_COURSE = 999
STUDENTS = {201: ("ada", "Ada Lovelace"), 202: ("grace", "Grace Hopper"), 203: ("linus", "Linus T")}
ASSIGNMENTS = {301: (101, "Phishing quiz", 10.0), 302: (102, "Handbook essay", 20.0)}


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class State:
    """What the stand-in knows; every change is stamped with the current time."""

    submissions: list[dict[str, Any]] = field(default_factory=list)
    completed: dict[tuple[int, int], str] = field(default_factory=dict)
    enrollment_state: dict[tuple[int, int], str] = field(default_factory=dict)
    throttled: int = 0
    revoked: bool = False
    issued: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grade(self, course: int, assignment: int, user: int, score: float, *, attempt: int = 1) -> dict[str, Any]:
        with self.lock:
            found = [s for s in self.submissions if s["assignment_id"] == assignment and s["user_id"] == user]
            sub = found[0] if found else {"id": 5000 + len(self.submissions) + 1, "assignment_id": assignment,
                                          "user_id": user, "course_id": course}
            if not found:
                self.submissions.append(sub)
            sub.update(attempt=attempt, score=score, grade=f"{score:g}", graded_at=stamp(datetime.now(UTC)),
                       submitted_at=stamp(datetime.now(UTC)), workflow_state="graded", excused=False,
                       late=False, missing=False, grader_id=1, grade_matches_current_submission=True)
            return dict(sub)

    def complete(self, course: int, user: int, *, when: datetime | None = None) -> str:
        with self.lock:
            self.completed[(course, user)] = stamp(when or datetime.now(UTC))
            return self.completed[(course, user)]


def _course(cid: int) -> dict[str, Any]:
    return {"id": cid, "name": COURSES[cid], "course_code": f"C{cid}", "account_id": ACCOUNT,
            "workflow_state": "available", "enrollment_term_id": 1, "uuid": f"course-uuid-{cid}"}


def _assignment(aid: int) -> dict[str, Any]:
    course, name, points = ASSIGNMENTS[aid]
    return {"id": aid, "name": name, "points_possible": points, "course_id": course,
            "grading_type": "points", "submission_types": ["online_quiz"], "published": True}


class _Handler(BaseHTTPRequestHandler):
    state: State  # set on the subclass per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        return

    # --- plumbing ---

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, bytes) else
                         "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _paged(self, path: str, query: dict[str, list[str]], items: list[Any]) -> None:
        per_page = max(1, min(100, int(query.get("per_page", ["10"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        base = f"http://{self.headers['Host']}{path}"

        def link(number: int, rel: str) -> str:
            params = {k: v for k, v in query.items() if k not in ("page", "per_page")}
            params.update(page=[str(number)], per_page=[str(per_page)])
            return f'<{base}?{urlencode(params, doseq=True)}>; rel="{rel}"'

        links = [link(page, "current"), link(1, "first"), link(last, "last")]
        if page < last:
            links.insert(1, link(page + 1, "next"))
        self._send(200, items[(page - 1) * per_page: page * per_page], {"Link": ",".join(links)})

    def _authorised(self) -> bool:
        value = self.headers.get("Authorization", "")
        token = value.removeprefix("Bearer ").strip() if value.startswith("Bearer ") else ""
        with self.state.lock:
            ok = not self.state.revoked and (token == TOKEN or token in self.state.issued)
            throttled = ok and self.state.throttled > 0
            if throttled:
                self.state.throttled -= 1
        if not ok:
            self._send(401, {"errors": [{"message": "Invalid access token."}]},
                       {"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
        elif throttled:
            self._send(403, b"403 Forbidden (Rate Limit Exceeded)\n",
                       {"X-Rate-Limit-Remaining": "-12.5", "X-Request-Cost": "14.2"})
        return ok and not throttled

    # --- API ---

    def do_GET(self) -> None:  # noqa: N802 - the base's name
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        segments = parts.path.strip("/").split("/")
        if segments[:2] != ["api", "v1"]:
            return self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})
        if not self._authorised():
            return None
        return self._route(parts.path, segments[2:], query)

    def _route(self, path: str, rest: list[str], query: dict[str, list[str]]) -> None:
        if rest[:1] == ["accounts"] and rest[2:] == ["courses"] and rest[1] == str(ACCOUNT):
            return self._paged(path, query, [_course(c) for c in COURSES])
        if rest[:1] != ["courses"] or len(rest) < 3:
            return self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})
        if rest[1] == str(FORBIDDEN_COURSE):
            return self._send(403, {"status": "unauthorized",
                                    "errors": [{"message": "user not authorized to perform that action"}]})
        if not rest[1].isdigit() or int(rest[1]) not in COURSES:
            return self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})
        course = int(rest[1])
        if rest[2:] == ["students", "submissions"]:
            return self._paged(path, query, self._submissions(course, query))
        if rest[2:] == ["users"]:
            return self._paged(path, query, [self._user(course, uid, query) for uid in STUDENTS])
        if len(rest) == 5 and rest[2] == "users" and rest[4] == "progress" and rest[3].isdigit():
            return self._progress(course, int(rest[3]))
        return self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})

    def _submissions(self, course: int, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        since = query.get("graded_since", [None])[0]
        bound = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        with self.state.lock:
            found = [dict(s) for s in self.state.submissions if s["course_id"] == course]
        out = []
        for sub in found:
            graded = datetime.fromisoformat(sub["graded_at"].replace("Z", "+00:00"))
            if bound is not None and not graded > bound:  # Canvas: graded strictly after
                continue
            sub.pop("course_id")
            if "assignment" in query.get("include[]", []):
                sub["assignment"] = _assignment(sub["assignment_id"])
            out.append(sub)
        return out

    def _user(self, course: int, uid: int, query: dict[str, list[str]]) -> dict[str, Any]:
        login, name = STUDENTS[uid]
        user: dict[str, Any] = {"id": uid, "name": name, "sortable_name": name, "short_name": name,
                                "login_id": login}
        includes = query.get("include[]", [])
        if "email" in includes:
            user["email"] = f"{login}@example.com"
        if "enrollments" in includes:
            with self.state.lock:
                state = self.state.enrollment_state.get((course, uid), "active")
            user["enrollments"] = [{"id": course * 1000 + uid, "course_id": course, "user_id": uid,
                                    "type": "StudentEnrollment", "role": "StudentEnrollment",
                                    "enrollment_state": state}]
        return user

    def _progress(self, course: int, uid: int) -> None:
        if uid not in STUDENTS:
            return self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})
        with self.state.lock:
            done = self.state.completed.get((course, uid))
        return self._send(200, {"requirement_count": 3, "requirement_completed_count": 3 if done else 1,
                                "next_requirement_url": None if done else
                                f"http://{self.headers['Host']}/courses/{course}/modules/items/7",
                                "completed_at": done})

    # --- OAuth2 and control ---

    def do_POST(self) -> None:  # noqa: N802 - the base's name
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/login/oauth2/token":
            return self._token({k: v[0] for k, v in form.items()})
        return self._control(parts.path, query)

    def _token(self, form: dict[str, str]) -> None:
        if form.get("grant_type") != "refresh_token":
            return self._send(400, {"error": "unsupported_grant_type",
                                    "error_description": "only refresh_token is served here"})
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return self._send(401, {"error": "invalid_client", "error_description": "unknown client"})
        if form.get("refresh_token") != REFRESH_TOKEN or self.state.revoked:
            return self._send(400, {"error": "invalid_grant", "error_description": "refresh_token not found"})
        access = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.issued.add(access)
        return self._send(200, {"access_token": access, "token_type": "Bearer",
                                "user": {"id": 1, "name": "Poller"}, "expires_in": 3600})

    def _control(self, path: str, query: dict[str, str]) -> None:
        state = self.state
        if path == "/standin/complete":
            return self._send(200, {"completed_at": state.complete(int(query["course"]), int(query["user"]))})
        if path == "/standin/grade":
            return self._send(200, state.grade(int(query["course"]), int(query["assignment"]),
                                               int(query["user"]), float(query["score"])))
        if path == "/standin/throttle":
            with state.lock:
                state.throttled = int(query.get("count", "1"))
            return self._send(200, {"throttled": state.throttled})
        if path == "/standin/revoke":
            with state.lock:
                state.revoked = True
            return self._send(200, {"revoked": True})
        return self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})


@dataclass
class CanvasStandin:
    url: str
    state: State
    server: ThreadingHTTPServer
    thread: threading.Thread
    token: str = TOKEN

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_canvas_standin(*, host: str = "127.0.0.1", port: int = 0) -> CanvasStandin:
    """Serve the stand-in in a daemon thread (port 0: a free one)."""
    state = State()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="canvas-standin",
                              daemon=True)
    thread.start()
    return CanvasStandin(url=f"http://{host}:{server.server_address[1]}", state=state, server=server,
                         thread=thread)


try:
    import pytest

    @pytest.fixture
    def canvas_standin() -> Iterator[CanvasStandin]:
        """A fresh stand-in per test (a thread: cheap); import this fixture to use it."""
        standin = start_canvas_standin()
        try:
            yield standin
        finally:
            standin.stop()
except ImportError:  # run as a script outside the test environment
    pass


def main() -> None:
    """Serve the stand-in in the foreground, seeded with a grade and a completion (README "Canvas")."""
    parser = argparse.ArgumentParser(prog="canvas_standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    standin = start_canvas_standin(host=args.host, port=args.port)
    standin.state.grade(101, 301, 201, 9.0)
    standin.state.complete(101, 201)
    print(f"canvas stand-in: {standin.url}  token={TOKEN}  account={ACCOUNT}  courses={list(COURSES)}  "
          f"learner canvas:id=201 completed course 101 now", flush=True)
    try:
        standin.thread.join()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()

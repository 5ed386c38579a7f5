"""A stable id seen beside a linked, verified email in a connector's payload is linked (origin
`payload`), releasing that id's parked events; an API client's event teaches nothing."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from identity import link_identity, parse_identity_ref
from intake.ingest import append_validated
from rules.events import CloudEvent
from store.schema import event_queue, identities, parked
from tests.identity.helpers import config


def _event(event_id: str, source: str, actor: dict[str, str]) -> CloudEvent:
    return CloudEvent.model_validate({"id": event_id, "source": source, "type": "lms.course.completed",
                                      "time": "2026-11-01T10:00:00Z", "data": {"actor": actor}})


def _append(engine: Engine, db_url: str, event: CloudEvent) -> None:
    with engine.begin() as conn:
        append_validated(conn, config(db_url).tenants[0], [(0, event)], set())


def _origin(engine: Engine, system: str, value: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(identities.c.origin).where(
            identities.c.system == system, identities.c.value == value)).scalar()


def test_an_lms_email_teaches_the_learner_id_and_releases_its_parked_events(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        link_identity(conn, "demo", "ada", parse_identity_ref("email:ada@example.com"), origin="config", shards=2)
    canvas = "/accolade/demo/canvas"
    _append(engine, db_url, _event("submission:1", canvas, {"system": "canvas", "id": "501"}))  # parked
    _append(engine, db_url, _event("api-1", "/lms", {"system": "canvas", "id": "501", "email": "ada@example.com"}))
    assert _origin(engine, "canvas", "501") is None  # an API client's payload is not verified
    _append(engine, db_url, _event("course_progress:1", canvas,
                                   {"system": "canvas", "id": "501", "email": "Ada@Example.com"}))
    assert _origin(engine, "canvas", "501") == "payload"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(parked)).scalar_one() == 0
        queued = conn.execute(select(event_queue.c.person_id)).scalars().all()
    assert queued == ["ada", "ada", "ada"]


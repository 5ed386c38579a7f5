"""`POST /v1/deliveries/{grant_id}/{channel}/retry` refuses what it must before reaching
Temporal: no such delivery (or another tenant's) is a 404, a delivery that is not failed a 409
naming its status, and a failed one without a reachable Temporal a 503 that started nothing.
(The re-drive itself runs against Temporal in tests/workflows/test_dead_letters.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from api.app import create_app
from store.schema import deliveries, grants
from tests.factories import make_config

GRANT = "00000000-0000-5000-8000-000000000001"
AUTH = {"Authorization": "Bearer test-key"}


def _seed(engine: Engine) -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(grants).values(
            grant_id=GRANT, tenant="demo", person_id="demo-1", achievement="first-green-pipeline", version=1,
            content_hash="0" * 64, shard=0, granted_at=now, evidence={"events": [], "count": 1}, created_at=now))
        for channel, status in (("console", "sent"), ("feed", "failed")):
            conn.execute(insert(deliveries).values(
                grant_id=GRANT, channel=channel, tenant="demo", person_id="demo-1", kind=channel,
                status=status, attempts=12, last_error="boom" if status == "failed" else None, updated_at=now))


async def _unreachable() -> object:
    raise RuntimeError("Failed client connect: connection refused")


def test_retry_refuses_unknown_not_failed_and_unreachable_with_the_reason(engine: Engine, db_url: str) -> None:
    _seed(engine)
    client = TestClient(create_app(make_config(db_url), engine, temporal=_unreachable))
    url = f"/v1/deliveries/{GRANT}/{{}}/retry"
    unknown = client.post(url.format("slack"), headers=AUTH)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, f"no delivery {GRANT}/slack in tenant demo")
    other_tenant = client.post(url.format("feed"), headers={"Authorization": "Bearer other-key"})
    assert other_tenant.status_code == 404
    sent = client.post(url.format("console"), headers=AUTH)
    assert (sent.status_code, sent.json()["detail"]) == (409, "not failed: it is sent")
    failed = client.post(url.format("feed"), headers=AUTH)
    assert failed.status_code == 503 and failed.json()["detail"].startswith("Temporal unreachable")
    with engine.connect() as conn:  # nothing was claimed or changed
        row = conn.execute(select(deliveries).where(deliveries.c.channel == "feed")).one()
    assert (row.status, row.last_error) == ("failed", "boom")
    assert client.post(url.format("feed"), headers={}).status_code == 401

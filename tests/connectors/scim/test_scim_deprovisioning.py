"""Deprovisioning through SCIM stops deliveries on every channel while evaluation goes on, and
reactivation resumes them (the delivery activity in a real activity context, both stores)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from temporalio.testing import ActivityEnvironment
from test_scim_users import AUTH, PATCH, okta_user, scim_config

from activities.contracts import DeliverInput, EvaluateShardInput
from activities.delivery import DeliveryActivities
from activities.evaluation import EvaluationActivities
from api import create_app
from channels import Clients
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.eventlog import shard_of
from store.schema import deliveries, feed, grants


def _deliver(activities: DeliveryActivities, grant_id: str, channel: str) -> tuple[str, str | None]:
    result = ActivityEnvironment().run(activities.deliver, DeliverInput(tenant="demo", grant_id=grant_id,
                                                                        channel=channel))
    return result.status, result.detail


def test_a_deprovisioned_person_is_granted_but_not_reached_until_reactivated(engine: Engine, db_url: str) -> None:
    config = scim_config(db_url)
    tenant = config.tenants[0]
    sync_people(engine, tenant)
    with TestClient(create_app(config, engine)) as client:
        user = client.post("/scim/v2/Users", headers=AUTH, json=okta_user()).json()  # joins demo-1
        off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
        assert client.patch(f"/scim/v2/Users/{user['id']}", headers=AUTH, json=off).status_code == 200

        ingest_batch(engine, tenant, [{
            "id": "run-1", "source": "/ci/scim", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": "15669918"}, "outcome": "success"}}])
        evaluation = EvaluationActivities(engine, config, client=None, task_queue="unused")
        ActivityEnvironment().run(evaluation.evaluate_shard, EvaluateShardInput(
            tenant="demo", shard=shard_of("demo-1", tenant.shards), batch_size=100, now=datetime.now(UTC)))
        with engine.connect() as conn:
            grant_id = conn.execute(select(grants.c.grant_id).where(grants.c.person_id == "demo-1")).scalar_one()

        console = io.StringIO()
        activities = DeliveryActivities(engine, config, clients=Clients(console=console))
        assert _deliver(activities, grant_id, "console") == ("suppressed", "deprovisioned")
        assert console.getvalue() == ""

        on = {"schemas": [PATCH], "Operations": [{"op": "Replace", "value": {"active": "True"}}]}
        assert client.patch(f"/scim/v2/Users/{user['id']}", headers=AUTH, json=on).status_code == 200
        assert _deliver(activities, grant_id, "feed") == ("sent", None)
    with engine.connect() as conn:
        rows = {r.channel: (r.status, r.detail) for r in conn.execute(select(deliveries)).all()}
        assert conn.execute(select(feed.c.person_id)).scalars().all() == ["demo-1"]
    assert rows["console"] == ("suppressed", {"reason": "deprovisioned"})

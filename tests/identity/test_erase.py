"""Erasure: SCIM DELETE with erase_on_delete (and `accolade identity erase`) leave no login,
email, name or message text of the person anywhere in the store; counts, grants and the audit
trail stay. The profile from SCIM (`timezone`, `locale`) is validated and stored."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from config import parse_config
from identity import link_identity, parse_identity_ref
from intake.ingest import ingest_batch
from store.profiles import load_profiles
from store.schema import events, grants, identity_audit, metadata, progress
from tests.factories import ENV
from tests.identity.helpers import TEXT, evaluate_all

TOKEN = "scim-test-token"
SCIM = {"authorization": f"Bearer {TOKEN}"}
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
SECRETS = ("ada.lovelace@example.com", "adalove", "Lovelace", "Augusta", "Countess of numbers")
CONFIG = TEXT.replace("    shared_mailboxes: [team@example.com]\n", "    erase_on_delete: true\n    connectors:\n"
                      '      - {id: scim, vendor: scim, token: "${TEST_SCIM_TOKEN}"}\n')


def _config(db_url: str) -> Any:
    return parse_config(CONFIG.replace("sqlite:///unused.db", db_url), file="test.yaml",
                        env={**ENV, "TEST_SCIM_TOKEN": TOKEN})


def _user(**extra: Any) -> dict[str, Any]:
    return {"schemas": [CORE], "userName": "ada.lovelace@example.com", "externalId": "00uADA",
            "name": {"givenName": "Augusta", "familyName": "Lovelace"}, "displayName": "Countess of numbers",
            "emails": [{"value": "ada.lovelace@example.com", "type": "work"}], "active": True,
            "timezone": "Europe/London", "locale": "en-GB", **extra}


def _dump(engine: Engine) -> str:
    """Every row of every table, as text: where personal data could hide."""
    with engine.connect() as conn:
        return json.dumps({t.name: [list(map(str, r)) for r in conn.execute(select(t))]
                           for t in metadata.sorted_tables}, default=str)


def _counts(engine: Engine) -> tuple[int, int, list[int]]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(events)).scalar_one(),
                conn.execute(select(func.count()).select_from(grants)).scalar_one(),
                sorted(conn.execute(select(progress.c.count)).scalars()))


def _events(person_login: str) -> list[dict[str, Any]]:
    mine = {"id": "pr-1", "source": "/ci", "type": "ci.pipeline.completed", "time": "2026-11-01T10:00:00Z",
            "data": {"actor": {"system": "github", "id": "77", "login": person_login}, "outcome": "success",
                     "message": "Countess of numbers fixed the build"}}
    theirs = {"id": "pr-2", "source": "/ci", "type": "code.change.merged", "time": "2026-11-01T11:00:00Z",
              "data": {"actor": {"system": "github", "id": "78"}, "merged_by": person_login,
                       "message": "reviewed with ada.lovelace@example.com"}}
    bad = {"id": "bad", "source": "/ci", "type": "Not A Type", "time": "2026-11-01T11:00:00Z",
           "data": {"actor": {"system": "github", "login": person_login}}}
    return [mine, theirs, bad]


def test_scim_delete_with_erase_on_delete_leaves_no_personal_data(engine: Engine, db_url: str) -> None:
    config = _config(db_url)
    with TestClient(create_app(config, engine)) as client:
        bad_zone = client.post("/scim/v2/Users", json=_user(timezone="Mars/Olympus"), headers=SCIM)
        assert bad_zone.status_code == 400 and "timezone" in bad_zone.json()["detail"]
        created = client.post("/scim/v2/Users", json=_user(), headers=SCIM)
        assert created.status_code == 201, created.text
        person = created.json()["id"]
        with engine.begin() as conn:
            link_identity(conn, "demo", person, parse_identity_ref("github:login=adalove"), origin="cli", shards=2)
        answer = client.post("/v1/events", json=_events("AdaLove"),
                             headers={"Authorization": f"Bearer {ENV['TEST_API_KEY']}"})
        assert answer.status_code == 200 and answer.json()["rejected"] == 1, answer.text
        evaluate_all(engine, config)
        with engine.connect() as conn:
            assert load_profiles(conn, "demo", [person])[person].time_zone == "Europe/London"
        dump = _dump(engine)
        assert all(secret.lower() in dump.lower() for secret in SECRETS)  # the test can fail
        before = _counts(engine)
        assert before[1] >= 1
        evidence = _evidence(engine)

        assert client.delete(f"/scim/v2/Users/{person}", headers=SCIM).status_code == 204
    dump = _dump(engine).lower()
    assert [s for s in SECRETS if s.lower() in dump] == []
    after = _counts(engine)  # counts and grants kept; the log only gained the deprovisioning
    assert (after[0], after[1:]) == (before[0] + 1, before[1:])
    with engine.connect() as conn:
        erased = conn.execute(select(identity_audit).where(identity_audit.c.action == "erase")).one()
    assert erased.actor == "scim" and erased.person_id == person
    assert _evidence(engine) == evidence  # event keys and digests still hold
    again = ingest_batch(engine, config.tenants[0], _events("AdaLove")[:2])  # dedupe keys still hold
    assert again.count("duplicate") == 2


def _evidence(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return sorted((g.grant_id, json.dumps(g.evidence, sort_keys=True)) for g in conn.execute(select(grants)))

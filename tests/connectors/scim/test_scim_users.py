"""SCIM Users against the real receiver on SQLite and PostgreSQL: what Okta's and Entra ID's
provisioning clients send (create, find by filter, patch in each dialect, deactivate, delete),
the RFC 7643/7644 examples, the error bodies, and the identity links that follow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api import create_app
from config import parse_config
from identity.sync import sync_people
from store.schema import events, identities, scim_changes, scim_users, suspended_persons
from tests.factories import CONFIG_TEXT, ENV

RFC = Path(__file__).parent / "fixtures" / "rfc"
TOKEN = "scim-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_CONFIG = CONFIG_TEXT.replace(
    '      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}\n',
    '      - {id: github, vendor: github, secret: "${TEST_GITHUB_SECRET}"}\n'
    '      - {id: scim, vendor: scim, token: "${TEST_SCIM_TOKEN}", external_system: okta}\n',
).replace('"github:login=Codertocat"]', '"github:login=Codertocat", "email:codertocat@example.com"]')


def scim_config(db_url: str) -> Any:
    text = SCIM_CONFIG.replace('"sqlite:///unused.db"', f'"{db_url}"')
    return parse_config(text, file="test.yaml", env={**ENV, "TEST_SCIM_TOKEN": TOKEN})


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = scim_config(db_url)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client


def okta_user(user_name: str = "codertocat@example.com", **extra: Any) -> dict[str, Any]:
    """The shape Okta's provisioning client POSTs (password sync on)."""
    return {"schemas": [CORE, ENTERPRISE], "userName": user_name, "externalId": "00u1a2b3c4D5e6F7g8h9",
            "name": {"givenName": "Mona", "familyName": "Octocat"}, "active": True,
            "password": "Sup3r-secret!", "emails": [{"primary": True, "value": user_name, "type": "work"}],
            ENTERPRISE: {"employeeNumber": "E-1042"}, **extra}


def links(engine: Engine, person: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(identities).where(identities.c.person_id == person)).all()
    return {f"{r.system}:{r.kind}={r.value}" for r in rows if r.origin == "scim"}


def event_types(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(events.c.type).where(events.c.type.like("iam.%")).order_by(events.c.seq))
                    .scalars())


def suspended(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(suspended_persons.c.person_id)).scalars())


def patch(client: TestClient, scim_id: str, *operations: dict[str, Any]) -> Any:
    response = client.patch(f"/scim/v2/Users/{scim_id}", headers=AUTH,
                            json={"schemas": [PATCH], "Operations": list(operations)})
    assert response.status_code == 200, response.text
    return response.json()


def test_okta_sequence_links_the_person_and_deprovisioning_follows(client: TestClient, engine: Engine) -> None:
    found = client.get("/scim/v2/Users", params={"filter": 'userName eq "codertocat@example.com"',
                                                 "startIndex": 1, "count": 100}, headers=AUTH)
    assert found.status_code == 200 and found.json()["totalResults"] == 0

    created = client.post("/scim/v2/Users", headers=AUTH, json=okta_user())
    assert created.status_code == 201, created.text
    user = created.json()
    assert "password" not in user and "Sup3r" not in created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    assert user["meta"]["resourceType"] == "User" and user["meta"]["version"] == 'W/"1"'
    assert created.headers["location"] == user["meta"]["location"].replace("http://testserver", "http://testserver")
    assert user["meta"]["location"].endswith(f"/scim/v2/Users/{user['id']}")
    assert user[ENTERPRISE]["employeeNumber"] == "E-1042"
    with engine.connect() as conn:
        stored = conn.execute(select(scim_users)).one()
    assert "Sup3r" not in json.dumps(stored.resource)
    # joined demo-1 through the config's email link; every identity value is a scim link
    assert stored.person_id == "demo-1"
    assert links(engine, "demo-1") == {
        f"scim:id={user['id']}", "okta:id=00u1a2b3c4D5e6F7g8h9", "employee:id=E-1042",
        "scim:login=codertocat@example.com"}  # email: was already declared by config, kept as config's

    for query in ('userName eq "CoderToCat@Example.com"', 'externalId eq "00u1a2b3c4D5e6F7g8h9"',
                  'emails[type eq "work"].value eq "codertocat@example.com"'):
        listed = client.get("/scim/v2/Users", params={"filter": query}, headers=AUTH).json()
        assert [r["id"] for r in listed["Resources"]] == [user["id"]], query

    # Okta deactivates: replace with path and value
    patched = patch(client, user["id"], {"op": "replace", "path": "active", "value": False})
    assert patched["active"] is False and suspended(engine) == {"demo-1"}
    patch(client, user["id"], {"op": "replace", "path": "active", "value": True})
    assert suspended(engine) == set()

    assert client.delete(f"/scim/v2/Users/{user['id']}", headers=AUTH).status_code == 204
    gone = client.get(f"/scim/v2/Users/{user['id']}", headers=AUTH)
    assert gone.status_code == 404 and gone.json()["schemas"] == [ERROR] and gone.json()["status"] == "404"
    assert suspended(engine) == {"demo-1"}
    assert event_types(engine) == ["iam.user.provisioned", "iam.user.deprovisioned", "iam.user.updated",
                                   "iam.user.deprovisioned"]


def test_entra_dialect_and_a_renamed_user_moves_its_links(client: TestClient, engine: Engine) -> None:
    user = client.post("/scim/v2/Users", headers=AUTH, json={
        "schemas": [CORE, ENTERPRISE], "externalId": "5e9f3c1a-0b7d-4a2e-9c8f-1d2e3f4a5b6c",
        "userName": "alex@contoso.example", "active": True, "displayName": "Alex",
        "emails": [{"primary": True, "type": "work", "value": "alex@contoso.example"}]}).json()
    person = user["id"]  # a new person whose id is the SCIM id
    assert "email:id=alex@contoso.example" in links(engine, person)

    patch(client, user["id"], {"op": "Replace", "path": "userName", "value": "alexandra@contoso.example"},
          {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "alexandra@contoso.example"})
    moved = links(engine, person)
    assert "email:id=alexandra@contoso.example" in moved and "scim:login=alexandra@contoso.example" in moved
    assert "email:id=alex@contoso.example" not in moved and "scim:login=alex@contoso.example" not in moved
    with engine.connect() as conn:
        change = conn.execute(select(scim_changes).where(scim_changes.c.action == "updated")).one()
    assert change.before["userName"] == "alex@contoso.example"  # the old value is kept
    assert change.after["userName"] == "alexandra@contoso.example"

    # Entra deactivates: capitalised op, no path, "False" as a string
    patched = patch(client, user["id"], {"op": "Replace", "value": {"active": "False"}})
    assert patched["active"] is False and suspended(engine) == {person}

    trimmed = client.get(f"/scim/v2/Users/{user['id']}", params={"attributes": "userName"}, headers=AUTH).json()
    assert trimmed["userName"] == "alexandra@contoso.example" and "emails" not in trimmed
    without = client.get(f"/scim/v2/Users/{user['id']}", params={"excludedAttributes": "emails"},
                         headers=AUTH).json()
    assert "emails" not in without and without["active"] is False


def test_user_name_is_unique_case_insensitively(client: TestClient) -> None:
    assert client.post("/scim/v2/Users", headers=AUTH, json=okta_user("sam@example.com")).status_code == 201
    clash = client.post("/scim/v2/Users", headers=AUTH, json=okta_user("SAM@example.com", externalId="00u2"))
    assert clash.status_code == 409
    assert clash.json() == {"schemas": [ERROR], "status": "409", "scimType": "uniqueness",
                            "detail": clash.json()["detail"]}


def test_put_replaces_and_drops_what_it_leaves_out(client: TestClient, engine: Engine) -> None:
    user = client.post("/scim/v2/Users", headers=AUTH, json=okta_user("pat@example.com")).json()
    replaced = client.put(f"/scim/v2/Users/{user['id']}", headers=AUTH, json={
        "schemas": [CORE], "userName": "pat@example.com", "externalId": "00u1a2b3c4D5e6F7g8h9", "active": True})
    assert replaced.status_code == 200 and replaced.json()["meta"]["version"] == 'W/"2"'
    assert "employee:id=E-1042" not in links(engine, user["id"])


@pytest.mark.parametrize(("params", "scim_type"), [
    ({"filter": 'userName xx "a"'}, "invalidFilter"),
    ({"filter": 'noSuchAttribute eq "a"'}, "invalidFilter"),
    ({"filter": "userName eq"}, "invalidFilter"),
])
def test_bad_filters_are_400_invalid_filter(client: TestClient, params: dict[str, str], scim_type: str) -> None:
    response = client.get("/scim/v2/Users", params=params, headers=AUTH)
    assert response.status_code == 400 and response.json()["scimType"] == scim_type


def test_bad_bodies_are_refused_with_scim_errors_and_store_nothing(client: TestClient, engine: Engine) -> None:
    syntax = client.post("/scim/v2/Users", headers=AUTH, content=b'{"userName": ')
    assert syntax.status_code == 400 and syntax.json()["scimType"] == "invalidSyntax"
    value = client.post("/scim/v2/Users", headers=AUTH, json={"schemas": [CORE], "userName": ["not", "a string"]})
    assert value.status_code == 400 and value.json()["scimType"] == "invalidValue"
    for header in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"},
                   {"authorization": f"Bearer {ENV['TEST_API_KEY']}"}):
        refused = client.post("/scim/v2/Users", headers=header, json=okta_user())
        assert refused.status_code == 401 and refused.json()["schemas"] == [ERROR]
        assert refused.json()["status"] == "401"
    with engine.connect() as conn:
        assert conn.execute(select(scim_users)).all() == []
    assert event_types(engine) == []


@pytest.mark.parametrize("sample", ["rfc7644-3.3-user-post_request.json", "rfc7643-8.1-user-minimal.json",
                                    "rfc7643-8.3-enterprise_user.json"])
def test_rfc_examples_are_provisioned(client: TestClient, engine: Engine, sample: str) -> None:
    body = json.loads((RFC / sample).read_text())
    body.pop("id", None), body.pop("meta", None)
    created = client.post("/scim/v2/Users", headers=AUTH, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["userName"] == body["userName"]
    assert f"scim:id={created.json()['id']}" in links(engine, created.json()["id"])


def test_rfc_patch_examples_apply(client: TestClient, engine: Engine) -> None:
    user = client.post("/scim/v2/Users", headers=AUTH, json=okta_user("babs@example.com")).json()
    for sample in ("rfc7644-3.5.2.3-patch_op-replace_all_email_values.json",
                   "rfc7644-3.5.2.1-patch_op-add_emails.json"):
        response = client.patch(f"/scim/v2/Users/{user['id']}", headers=AUTH,
                                json=json.loads((RFC / sample).read_text()))
        assert response.status_code == 200, (sample, response.text)
    assert "email:id=bjensen@example.com" in links(engine, user["id"])


def test_paging_with_start_index_and_count(client: TestClient) -> None:
    for n in range(5):
        client.post("/scim/v2/Users", headers=AUTH, json=okta_user(f"u{n}@example.com", externalId=f"00u{n}"))
    page = client.get("/scim/v2/Users", params={"startIndex": 3, "count": 2}, headers=AUTH).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 3, 2)
    assert [r["userName"] for r in page["Resources"]] == ["u2@example.com", "u3@example.com"]

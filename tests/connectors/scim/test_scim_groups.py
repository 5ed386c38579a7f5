"""SCIM Groups and the discovery endpoints, as Okta and Entra ID use them, on both stores:
membership changes become `iam.group.member_*` events credited to the member's person."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from test_scim_users import AUTH, ERROR, PATCH, okta_user, scim_config

from api import create_app
from identity.sync import sync_people
from store.schema import event_queue, events, scim_users

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    config = scim_config(db_url)
    sync_people(engine, config.tenants[0])
    with TestClient(create_app(config, engine)) as client:
        yield client


def membership_events(engine: Engine) -> list[tuple[str, str, str]]:
    """(type, person credited, group) of each membership event, in order."""
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.type, events.c.body, event_queue.c.person_id)
                            .join(event_queue, event_queue.c.seq == events.c.seq)
                            .where(events.c.type.like("iam.group.%")).order_by(events.c.seq)).all()
    return [(r.type, r.person_id, r.body["data"]["group"]) for r in rows]


def test_membership_in_both_dialects_becomes_events_for_the_person(client: TestClient, engine: Engine) -> None:
    mona = client.post("/scim/v2/Users", headers=AUTH, json=okta_user()).json()  # joins demo-1
    other = client.post("/scim/v2/Users", headers=AUTH, json=okta_user("kim@example.com", externalId="00u9")).json()
    none = client.get("/scim/v2/Groups", params={"filter": 'displayName eq "Platform"'}, headers=AUTH).json()
    assert none["totalResults"] == 0
    created = client.post("/scim/v2/Groups", headers=AUTH, json={"schemas": [GROUP], "displayName": "Platform",
                                                                 "members": [{"value": mona["id"]}]})
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["meta"]["resourceType"] == "Group" and [m["value"] for m in group["members"]] == [mona["id"]]
    found = client.get("/scim/v2/Groups", headers=AUTH,
                       params={"filter": 'displayName eq "platform"', "excludedAttributes": "members"}).json()
    assert [g["id"] for g in found["Resources"]] == [group["id"]] and "members" not in found["Resources"][0]

    # Entra ID: capitalised ops, add by value list, remove by a value filter
    url = f"/scim/v2/Groups/{group['id']}"
    add = {"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": other["id"]}]}]}
    assert client.patch(url, headers=AUTH, json=add).status_code == 200
    remove = {"schemas": [PATCH], "Operations": [{"op": "Remove", "path": f'members[value eq "{mona["id"]}"]'}]}
    assert client.patch(url, headers=AUTH, json=remove).status_code == 200
    # Okta renames with a path-less value that repeats the group's id
    rename = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"id": group["id"],
                                                                             "displayName": "Platform Team"}}]}
    renamed = client.patch(url, headers=AUTH, json=rename).json()
    assert renamed["displayName"] == "Platform Team" and [m["value"] for m in renamed["members"]] == [other["id"]]
    assert client.delete(url, headers=AUTH).status_code == 204
    assert client.get(url, headers=AUTH).status_code == 404

    assert membership_events(engine) == [
        ("iam.group.member_added", "demo-1", "Platform"),
        ("iam.group.member_added", other["id"], "Platform"),
        ("iam.group.member_removed", "demo-1", "Platform"),
        ("iam.group.member_removed", other["id"], "Platform Team"),
    ]


def test_a_member_that_is_not_a_provisioned_user_is_refused(client: TestClient, engine: Engine) -> None:
    refused = client.post("/scim/v2/Groups", headers=AUTH, json={"schemas": [GROUP], "displayName": "Ghosts",
                                                                 "members": [{"value": "no-such-user"}]})
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    assert client.get("/scim/v2/Groups", headers=AUTH).json()["totalResults"] == 0


def test_discovery_endpoints_describe_what_is_served(client: TestClient) -> None:
    config = client.get("/scim/v2/ServiceProviderConfig", headers=AUTH).json()
    assert config["patch"]["supported"] is True and config["bulk"]["supported"] is False
    assert config["filter"] == {"supported": True, "maxResults": 200}
    types = client.get("/scim/v2/ResourceTypes", headers=AUTH).json()
    assert {t["name"] for t in types["Resources"]} == {"User", "Group"}
    user_type = client.get("/scim/v2/ResourceTypes/User", headers=AUTH).json()
    assert user_type["schemaExtensions"][0]["schema"].endswith("enterprise:2.0:User")
    schemas = client.get("/scim/v2/Schemas", headers=AUTH).json()
    assert schemas["totalResults"] == 3
    group = client.get(f"/scim/v2/Schemas/{GROUP}", headers=AUTH).json()
    assert "displayName" in {a["name"] for a in group["attributes"]}
    missing = client.get("/scim/v2/Schemas/urn:nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["schemas"] == [ERROR]
    assert client.get("/scim/v2/ServiceProviderConfig").status_code == 401


def test_two_scim_users_sharing_an_employee_number_stay_two_persons(client: TestClient) -> None:
    first = client.post("/scim/v2/Users", headers=AUTH, json=okta_user("one@example.com", externalId="00u1")).json()
    second = client.post("/scim/v2/Users", headers=AUTH, json=okta_user("two@example.com", externalId="00u2"))
    assert second.status_code == 201 and second.json()["id"] != first["id"]
    with client.app.state.engine.connect() as conn:
        persons = dict(conn.execute(select(scim_users.c.id, scim_users.c.person_id)).all())
    assert persons[first["id"]] != persons[second.json()["id"]]

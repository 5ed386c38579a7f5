"""SCIM `Groups` with members: create, read, list (`displayName eq`), replace, patch, delete.

Membership is what matters to the hub: each member added or removed is an
`iam.group.member_added` / `iam.group.member_removed` event credited to that member's person,
with the group's `displayName` and id in its data, so "joined the platform team" is a rule.
Members must be users provisioned here (a group member that is itself a group, or an unknown
id, is a 400 invalidValue). `excludedAttributes=members` (Entra ID asks for it) leaves them out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from scim2_models import (
    Context,
    Group,
    InvalidValueException,
    ListResponse,
    Meta,
    NotFoundException,
    PatchOp,
    ResponseParameters,
    SCIMException,
    ScimFilter,
)
from sqlalchemy import Connection, delete, insert, select, update

from connectors.scim.provision import emit
from connectors.scim.users import MAX_COUNT, Scope, first_error, strip_read_only
from store.schema import scim_group_members, scim_groups, scim_users

__all__ = ["create_group", "delete_group", "get_group", "list_groups", "patch_group", "replace_group"]


def _parse(body: Any, ctx: Context) -> Group:
    try:
        return Group.model_validate(body, scim_ctx=ctx)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidValueException(detail=first_error(exc)) from None


def _row(conn: Connection, scope: Scope, group_id: str) -> Any:
    row = conn.execute(select(scim_groups).where(
        scim_groups.c.tenant == scope.tenant.id, scim_groups.c.id == group_id)).first()
    if row is None:
        raise NotFoundException(detail=f"no Group with id {group_id[:64]}")
    return row


def _members(conn: Connection, scope: Scope, group_id: str) -> list[str]:
    return list(conn.execute(select(scim_group_members.c.user_id).where(
        scim_group_members.c.tenant == scope.tenant.id, scim_group_members.c.group_id == group_id,
    ).order_by(scim_group_members.c.user_id)).scalars())


def _render(conn: Connection, scope: Scope, row: Any,
            params: ResponseParameters | None = None) -> dict[str, Any]:
    members = _members(conn, scope, row.id)
    names = dict(conn.execute(select(scim_users.c.id, scim_users.c.user_name).where(
        scim_users.c.tenant == scope.tenant.id, scim_users.c.id.in_(members))).all()) if members else {}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": row.id,
            "displayName": row.display_name, "externalId": row.external_id,
            "members": [{"value": m, "display": names.get(m), "type": "User",
                         "$ref": f"{scope.base_url}/Users/{m}"} for m in members],
            "meta": Meta(resource_type="Group", created=row.created_at, last_modified=row.updated_at,
                         location=f"{scope.base_url}/Groups/{row.id}", version=f'W/"{row.version}"',
                         ).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)}
    group = Group.model_validate(body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return group.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)


def _wanted_members(conn: Connection, scope: Scope, group: Group) -> set[str]:
    wanted = {str(m.value) for m in group.members or [] if m.value}
    query = select(scim_users.c.id).where(
        scim_users.c.tenant == scope.tenant.id, scim_users.c.id.in_(sorted(wanted)))
    known = set(conn.execute(query).scalars()) if wanted else set()
    if unknown := sorted(wanted - known):
        raise InvalidValueException(detail=f"members: no User with id {unknown[0][:64]}")
    return wanted


def _set_members(conn: Connection, scope: Scope, row: Any, wanted: set[str], version: int) -> None:
    """Make the stored members `wanted`, with one event per member added or removed."""
    current = set(_members(conn, scope, row.id))
    for user_id in sorted(wanted - current):
        conn.execute(insert(scim_group_members).values(
            tenant=scope.tenant.id, group_id=row.id, user_id=user_id))
        _event(conn, scope, row, user_id, "member_added", version)
    for user_id in sorted(current - wanted):
        conn.execute(delete(scim_group_members).where(
            scim_group_members.c.tenant == scope.tenant.id, scim_group_members.c.group_id == row.id,
            scim_group_members.c.user_id == user_id))
        _event(conn, scope, row, user_id, "member_removed", version)


def _event(conn: Connection, scope: Scope, row: Any, user_id: str, what: str, version: int) -> None:
    scope.dirty |= emit(conn, scope.tenant, scope.settings.id, type=f"iam.group.{what}",
                        fact=f"group:{row.id}:v{version}:{what}:{user_id}", scim_id=user_id,
                        data={"group": row.display_name, "group_id": row.id})


def create_group(conn: Connection, scope: Scope, body: Any) -> dict[str, Any]:
    group = _parse(body, Context.RESOURCE_CREATION_REQUEST)
    if not group.display_name:
        raise InvalidValueException(detail="displayName is required")
    wanted = _wanted_members(conn, scope, group)
    group_id, now = uuid.uuid4().hex, datetime.now(UTC)
    conn.execute(insert(scim_groups).values(
        tenant=scope.tenant.id, id=group_id, display_name=group.display_name, external_id=group.external_id,
        version=1, created_at=now, updated_at=now))
    row = _row(conn, scope, group_id)
    _set_members(conn, scope, row, wanted, 1)
    return _render(conn, scope, row)


def get_group(conn: Connection, scope: Scope, group_id: str,
              params: ResponseParameters | None = None) -> dict[str, Any]:
    return _render(conn, scope, _row(conn, scope, group_id), params)


def replace_group(conn: Connection, scope: Scope, group_id: str, body: Any) -> dict[str, Any]:
    row = _row(conn, scope, group_id)
    return _write(conn, scope, row, _parse(body, Context.RESOURCE_REPLACEMENT_REQUEST))


def patch_group(conn: Connection, scope: Scope, group_id: str, body: Any) -> dict[str, Any]:
    row = _row(conn, scope, group_id)
    try:
        patch = PatchOp[Group].model_validate(strip_read_only(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except ValueError as exc:
        raise InvalidValueException(detail=first_error(exc)) from None
    group = Group.model_validate({"displayName": row.display_name, "externalId": row.external_id,
                                  "members": [{"value": m} for m in _members(conn, scope, row.id)]})
    try:
        patch.patch(group)
    except SCIMException:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidValueException(detail=str(exc)[:300]) from None
    return _write(conn, scope, row, group)


def _write(conn: Connection, scope: Scope, row: Any, group: Group) -> dict[str, Any]:
    if not group.display_name:
        raise InvalidValueException(detail="displayName is required")
    wanted, version = _wanted_members(conn, scope, group), row.version + 1
    conn.execute(update(scim_groups).where(
        scim_groups.c.tenant == scope.tenant.id, scim_groups.c.id == row.id).values(
        display_name=group.display_name, external_id=group.external_id, version=version,
        updated_at=datetime.now(UTC)))
    row = _row(conn, scope, row.id)
    _set_members(conn, scope, row, wanted, version)
    return _render(conn, scope, row)


def delete_group(conn: Connection, scope: Scope, group_id: str) -> None:
    row = _row(conn, scope, group_id)
    _set_members(conn, scope, row, set(), row.version + 1)
    conn.execute(delete(scim_groups).where(
        scim_groups.c.tenant == scope.tenant.id, scim_groups.c.id == group_id))


def list_groups(conn: Connection, scope: Scope, *, filter: str | None, start_index: int, count: int,
                params: ResponseParameters | None = None) -> dict[str, Any]:
    rows = conn.execute(select(scim_groups).where(scim_groups.c.tenant == scope.tenant.id)
                        .order_by(scim_groups.c.created_at, scim_groups.c.id)).all()
    if filter:
        parsed = ScimFilter[Group](filter)
        parsed._validate_semantics(strict=True)  # an unknown attribute is a 400, not "no match"
        rows = [row for row in rows if parsed.match(Group.model_validate(
            {"displayName": row.display_name, "externalId": row.external_id}))]
    start, count = max(1, start_index), max(0, min(count, MAX_COUNT))
    page = rows[start - 1: start - 1 + count]
    return ListResponse[Group].model_validate({
        "totalResults": len(rows), "startIndex": start, "itemsPerPage": len(page),
        "Resources": [_render(conn, scope, row, params) for row in page],
    }, scim_ctx=Context.RESOURCE_QUERY_RESPONSE).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)

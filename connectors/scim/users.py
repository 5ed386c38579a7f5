"""SCIM `Users`: create, read, list with filter and paging, replace, patch, delete.

Each function runs in the caller's transaction and returns the resource as JSON (or raises a
`scim2_models.SCIMException`, which `api.scim` turns into an RFC 7644 error body). Every body is
validated by `scim2-models`; `PatchOp.patch` applies both Okta's and Entra ID's dialects.
`userName` is unique per tenant case-insensitively (a unique index on its lower-cased form).
Filters are parsed and checked by `ScimFilter`; `userName eq` and `externalId eq` are answered
from indexed columns, anything else by matching the tenant's users one by one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    Context,
    EnterpriseUser,
    InvalidFilterException,
    InvalidValueException,
    ListResponse,
    Meta,
    NotFoundException,
    PatchOp,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    UniquenessException,
    User,
)
from scim2_models.path.expressions import AttrPath, CompareOperator, Comparison
from sqlalchemy import Connection, delete, insert, select, update

from config.models import TenantSettings
from connectors.scim import ScimSettings
from connectors.scim.provision import (
    emit,
    identity_values,
    link_user,
    person_for,
    record_change,
    set_profile_from,
    set_suspended,
)
from identity.erase import erase_person
from store.schema import scim_group_members, scim_users

__all__ = ["MAX_COUNT", "Scope", "UserModel", "create_user", "delete_user", "first_error", "get_user",
           "list_users", "patch_user", "replace_user", "strip_read_only"]

UserModel = User[EnterpriseUser]
MAX_COUNT = 200


@dataclass
class Scope:
    """One request's tenant, connector and base URL, and the shards to notify after commit."""

    tenant: TenantSettings
    settings: ScimSettings
    base_url: str  # …/scim/v2
    dirty: set[int] = field(default_factory=set)


def parse_user(body: Any, ctx: Context) -> UserModel:
    try:
        return UserModel.model_validate(body, scim_ctx=ctx)
    except ValidationError as exc:
        raise InvalidValueException(detail=first_error(exc)) from None


def first_error(exc: ValueError) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc)[:300]
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"[:300]


def strip_read_only(body: Any) -> Any:
    """Drop `id` from path-less PATCH values: Okta sends the resource's own id back with a
    rename; RFC 7644 §3.5.2 lets a server ignore read-only attributes it did not change."""
    if not isinstance(body, dict) or not isinstance(body.get("Operations"), list):
        return body
    operations = [{**op, "value": {k: v for k, v in op["value"].items() if k != "id"}}
                  if isinstance(op, dict) and "path" not in op and isinstance(op.get("value"), dict) else op
                  for op in body["Operations"]]
    return {**body, "Operations": operations}


def _load(resource: dict[str, Any]) -> UserModel:
    """A stored body as a model (no request or response context: it carries no id or meta)."""
    return UserModel.model_validate(resource, scim_ctx=Context.DEFAULT)


def _stored(user: UserModel) -> dict[str, Any]:
    """The body kept in the store: no id, no meta, and never the password."""
    body = user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    for key in ("id", "meta", "password"):
        body.pop(key, None)
    return body


def _render(scope: Scope, row: Any, params: ResponseParameters | None = None) -> dict[str, Any]:
    user = UserModel.model_validate({**row.resource, "id": row.id, "meta": Meta(
        resource_type="User", created=row.created_at, last_modified=row.updated_at,
        location=f"{scope.base_url}/Users/{row.id}", version=f'W/"{row.version}"',
    ).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)}, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)


def _row(conn: Connection, scope: Scope, scim_id: str) -> Any:
    row = conn.execute(select(scim_users).where(
        scim_users.c.tenant == scope.tenant.id, scim_users.c.id == scim_id)).first()
    if row is None:
        raise NotFoundException(detail=f"no User with id {scim_id[:64]}")
    return row


def _check_unique(conn: Connection, scope: Scope, user_name: str, *, other_than: str | None = None) -> None:
    clash = conn.execute(select(scim_users.c.id).where(
        scim_users.c.tenant == scope.tenant.id, scim_users.c.user_name_key == user_name.lower())).scalar()
    if clash is not None and clash != other_than:
        raise UniquenessException(detail="userName is already taken (compared case-insensitively)")


def create_user(conn: Connection, scope: Scope, body: Any) -> dict[str, Any]:
    user = parse_user(body, Context.RESOURCE_CREATION_REQUEST)
    _check_unique(conn, scope, user.user_name or "")
    scim_id, now, stored = uuid.uuid4().hex, datetime.now(UTC), _stored(user)
    values = identity_values(stored)
    person = person_for(conn, scope.tenant.id, scim_id, values, scope.settings.external_system)
    conn.execute(insert(scim_users).values(
        tenant=scope.tenant.id, id=scim_id, person_id=person, user_name=user.user_name,
        user_name_key=(user.user_name or "").lower(), external_id=user.external_id,
        active=values["active"], resource=stored, version=1, created_at=now, updated_at=now))
    link_user(conn, scope.tenant, person, scim_id, before=None, after=values,
              external_system=scope.settings.external_system)
    set_profile_from(conn, scope.tenant.id, person, stored)
    record_change(conn, scope.tenant.id, scim_id, person, "provisioned", before=None, after=values)
    _emit(conn, scope, scim_id, "iam.user.provisioned", f"user:{scim_id}:provisioned", values)
    if not values["active"]:
        set_suspended(conn, scope.tenant.id, person, True)
    return _render(scope, _row(conn, scope, scim_id))


def get_user(conn: Connection, scope: Scope, scim_id: str,
             params: ResponseParameters | None = None) -> dict[str, Any]:
    return _render(scope, _row(conn, scope, scim_id), params)


def replace_user(conn: Connection, scope: Scope, scim_id: str, body: Any) -> dict[str, Any]:
    row = _row(conn, scope, scim_id)
    user = parse_user(body, Context.RESOURCE_REPLACEMENT_REQUEST)
    return _write(conn, scope, row, user)


def patch_user(conn: Connection, scope: Scope, scim_id: str, body: Any) -> dict[str, Any]:
    row = _row(conn, scope, scim_id)
    try:
        patch = PatchOp[UserModel].model_validate(
            strip_read_only(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except ValidationError as exc:
        raise InvalidValueException(detail=first_error(exc)) from None
    user = _load(row.resource)
    try:
        patch.patch(user)
    except SCIMException:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidValueException(detail=str(exc)[:300]) from None
    return _write(conn, scope, row, parse_user(_stored(user), Context.DEFAULT))


def _write(conn: Connection, scope: Scope, row: Any, user: UserModel) -> dict[str, Any]:
    """Store a replaced or patched user; move links, suspend or resume, and say what changed."""
    if not user.user_name:
        raise InvalidValueException(detail="userName is required")
    _check_unique(conn, scope, user.user_name, other_than=row.id)
    stored, now = _stored(user), datetime.now(UTC)
    before, after = identity_values(row.resource), identity_values(stored)
    version = row.version + 1
    conn.execute(update(scim_users).where(
        scim_users.c.tenant == scope.tenant.id, scim_users.c.id == row.id).values(
        user_name=user.user_name, user_name_key=user.user_name.lower(), external_id=user.external_id,
        active=after["active"], resource=stored, version=version, updated_at=now))
    set_profile_from(conn, scope.tenant.id, row.person_id, stored)
    if before != after:
        link_user(conn, scope.tenant, row.person_id, row.id, before=before, after=after,
                  external_system=scope.settings.external_system)
        _after_change(conn, scope, row, before, after, version)
    return _render(scope, _row(conn, scope, row.id))


def _after_change(conn: Connection, scope: Scope, row: Any, before: dict[str, Any],
                  after: dict[str, Any], version: int) -> None:
    deactivated = before["active"] and not after["active"]
    action = "deprovisioned" if deactivated else "updated"
    record_change(conn, scope.tenant.id, row.id, row.person_id, action, before=before, after=after)
    if before["active"] != after["active"]:
        set_suspended(conn, scope.tenant.id, row.person_id, not after["active"])
    _emit(conn, scope, row.id, f"iam.user.{action}", f"user:{row.id}:v{version}:{action}", after)


def delete_user(conn: Connection, scope: Scope, scim_id: str) -> None:
    """DELETE deprovisions: the person stays (history, grants) but no channel reaches them.
    With the tenant's `erase_on_delete`, their personal data is also pseudonymised
    (`identity.erase`), before the SCIM user's row (which holds their names) goes."""
    row = _row(conn, scope, scim_id)
    values = identity_values(row.resource)
    conn.execute(delete(scim_group_members).where(
        scim_group_members.c.tenant == scope.tenant.id, scim_group_members.c.user_id == scim_id))
    set_suspended(conn, scope.tenant.id, row.person_id, True)
    record_change(conn, scope.tenant.id, scim_id, row.person_id, "deleted", before=values, after=None)
    _emit(conn, scope, scim_id, "iam.user.deprovisioned", f"user:{scim_id}:deleted",
          {**values, "active": False})
    if scope.tenant.erase_on_delete:
        erase_person(conn, scope.tenant.id, row.person_id, actor="scim",
                     reason="SCIM DELETE with the tenant's erase_on_delete")
    conn.execute(delete(scim_users).where(scim_users.c.tenant == scope.tenant.id, scim_users.c.id == scim_id))


def _emit(conn: Connection, scope: Scope, scim_id: str, type: str, fact: str, values: dict[str, Any]) -> None:
    scope.dirty |= emit(conn, scope.tenant, scope.settings.id, type=type, fact=fact, scim_id=scim_id,
                        data={"active": values["active"]})


def list_users(conn: Connection, scope: Scope, *, filter: str | None, start_index: int, count: int,
               params: ResponseParameters | None = None) -> dict[str, Any]:
    """A ListResponse page: 1-based `startIndex`, at most MAX_COUNT per page."""
    rows = _filtered(conn, scope, _parse_filter(filter))
    start, count = max(1, start_index), max(0, min(count, MAX_COUNT))
    page = rows[start - 1: start - 1 + count]
    resources = [_render(scope, row, params) for row in page]
    return ListResponse[UserModel].model_validate({
        "totalResults": len(rows), "startIndex": start, "itemsPerPage": len(page), "Resources": resources,
    }, scim_ctx=Context.RESOURCE_QUERY_RESPONSE).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def _parse_filter(text: str | None) -> ScimFilter[UserModel] | None:
    if not text:
        return None
    parsed = ScimFilter[UserModel](text)  # raises InvalidFilterException on syntax
    parsed._validate_semantics(strict=True)  # an unknown attribute is a 400, not "no match"
    return parsed


def _filtered(conn: Connection, scope: Scope, parsed: ScimFilter[UserModel] | None) -> list[Any]:
    query = select(scim_users).where(scim_users.c.tenant == scope.tenant.id).order_by(
        scim_users.c.created_at, scim_users.c.id)
    indexed = _indexed(parsed)
    if indexed is not None:
        column, value = indexed
        query = query.where(column == value)
    rows = conn.execute(query).all()
    if parsed is None or indexed is not None:
        return rows
    return [row for row in rows if _matches(parsed, row)]


def _indexed(parsed: ScimFilter[UserModel] | None) -> tuple[Any, str] | None:
    """`userName eq "x"` and `externalId eq "x"` straight from their columns."""
    node = parsed.ast if parsed is not None else None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    attr: AttrPath = node.attr_path
    if attr.sub_attr is not None or attr.uri not in (None, "urn:ietf:params:scim:schemas:core:2.0:User"):
        return None
    if attr.attr.lower() == "username":
        return scim_users.c.user_name_key, node.value.lower()
    if attr.attr.lower() == "externalid":
        return scim_users.c.external_id, node.value
    return None


def _matches(parsed: ScimFilter[UserModel], row: Any) -> bool:
    try:
        return parsed.match(_load(row.resource))
    except InvalidFilterException:
        raise
    except (ValueError, TypeError):
        return False



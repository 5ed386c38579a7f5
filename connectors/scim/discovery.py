"""What the service provider says about itself (RFC 7644 §4): `ServiceProviderConfig`,
`ResourceTypes` and `Schemas`, generated from the same `scim2-models` classes that validate
requests, so what is advertised is what is accepted."""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    ListResponse,
    Meta,
    NotFoundException,
    Patch,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    User,
)

from connectors.scim.users import MAX_COUNT

__all__ = ["resource_types", "schemas", "service_provider_config"]

_RESPONSE = Context.RESOURCE_QUERY_RESPONSE


def service_provider_config(base_url: str) -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True), bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT), change_password=ChangePassword(supported=False),
        sort=Sort(supported=False), etag=ETag(supported=False),
        authentication_schemes=[AuthenticationScheme(
            type="oauthbearertoken", name="Bearer token",
            description="the scim connector's token (an ${ENV} reference in the config)", primary=True)],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base_url}/ServiceProviderConfig"))
    return config.model_dump(scim_ctx=_RESPONSE)


def _types(base_url: str) -> list[ResourceType]:
    out = []
    for model in (User[EnterpriseUser], Group):
        rt = ResourceType.from_resource(model)
        rt.meta = Meta(resource_type="ResourceType", location=f"{base_url}/ResourceTypes/{rt.id}")
        out.append(rt)
    return out


def _schemas(base_url: str) -> list[Schema]:
    out = []
    for model in (User, EnterpriseUser, Group):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
        out.append(schema)
    return out


def resource_types(base_url: str, name: str | None = None) -> dict[str, Any]:
    return _listed(_types(base_url), name, ResourceType)


def schemas(base_url: str, urn: str | None = None) -> dict[str, Any]:
    return _listed(_schemas(base_url), urn, Schema)


def _listed(items: list[Any], wanted: str | None, model: type) -> dict[str, Any]:
    if wanted is not None:
        for item in items:
            if item.id == wanted:
                return dict(item.model_dump(scim_ctx=_RESPONSE))
        raise NotFoundException(detail=f"no {model.__name__} {wanted[:200]}")
    return ListResponse[model].model_validate({  # type: ignore[valid-type]
        "totalResults": len(items), "startIndex": 1, "itemsPerPage": len(items),
        "Resources": [item.model_dump(scim_ctx=_RESPONSE) for item in items]},
        scim_ctx=_RESPONSE).model_dump(scim_ctx=_RESPONSE)
